//! The bytes synthesis and the switch's neighbour answers produce, pinned
//! by digest: moving the frame-building code must not change one byte.

use nsg_policy::LoadOptions;
use nsg_synth::{
    demo_traffic, Capture, Endpoint, FragSpec, IcmpError, Peers, PingSpec, SynSpec, Synth,
    TcpClose, TcpSpec, UdpSpec,
};
use std::net::IpAddr;
use std::path::Path;

/// FNV-1a over the times and bytes of every frame.
fn digest(cap: &Capture) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (t, f) in &cap.frames {
        for b in t.to_be_bytes().iter().chain(f) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn peers(v6: bool) -> Peers {
    let (c, s): (IpAddr, IpAddr) = if v6 {
        ("fd00:1::4".parse().unwrap(), "fd00:2::5".parse().unwrap())
    } else {
        ("10.0.1.4".parse().unwrap(), "10.0.2.5".parse().unwrap())
    };
    Peers::new(
        Endpoint::new([2, 0, 0, 0, 1, 4], c),
        Endpoint::new([2, 0, 0, 0, 2, 5], s),
    )
    .unwrap()
}

/// One of each builder, for one address family.
fn every_builder(v6: bool) -> Capture {
    let p = peers(v6);
    let mut s = Synth::new(7);
    let mut cap = Capture::new();
    let mut tcp = TcpSpec::new(443);
    tcp.exchanges = vec![(300, 5000), (0, 10)];
    tcp.close = TcpClose::Fin { client_first: true };
    s.tcp_connection(&mut cap, 1_000, &p, &tcp);
    let mut rst = TcpSpec::new(22);
    rst.close = TcpClose::Rst { from_client: false };
    s.tcp_connection(&mut cap, 2_000_000, &p, &rst);
    s.tcp_unanswered(&mut cap, 3_000_000, &p, &SynSpec::new(3389));
    let udp = UdpSpec {
        client_port: None,
        server_port: 53,
        request: vec![1; 33],
        response: Some(vec![2; 101]),
        delay_ns: 5_000,
    };
    s.udp_exchange(&mut cap, 4_000_000, &p, &udp);
    let frag = FragSpec {
        client_port: Some(40_000),
        server_port: 4789,
        payload_len: 3000,
        mtu: 1280,
        response: Some(vec![3; 17]),
        delay_ns: 9_000,
    };
    s.udp_fragments(&mut cap, 5_000_000, &p, &frag);
    s.ping(&mut cap, 6_000_000, &p, &PingSpec::new());
    let quoted = cap.frames[0].1.clone();
    let kinds = [
        IcmpError::PortUnreachable,
        IcmpError::HostUnreachable,
        IcmpError::AdminProhibited,
        IcmpError::PacketTooBig { mtu: 1400 },
        IcmpError::TimeExceeded,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        s.icmp_error(&mut cap, 7_000_000 + i as u64, p.server(), &quoted, kind)
            .unwrap();
    }
    cap
}

#[test]
fn synthesised_bytes_are_unchanged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml");
    let policy = nsg_policy::load(&path, &LoadOptions::default()).unwrap();
    let got = [
        digest(&demo_traffic(&policy, 1)),
        digest(&every_builder(false)),
        digest(&every_builder(true)),
    ];
    assert_eq!(
        got,
        [
            0x9388_6c4e_6d2c_69df,
            0x3a02_45c5_ca52_0d41,
            0xdace_210b_5327_f970
        ]
    );
}

#[test]
fn written_pcap_bytes_are_unchanged() {
    let cap = every_builder(true);
    let frames = cap.frames.iter().map(|(t, f)| (*t, f.as_slice()));
    let bytes = nsg_synth::write_pcap_to(Vec::new(), 1, frames).unwrap();
    let as_capture = Capture {
        frames: vec![(0, bytes)],
    };
    assert_eq!(digest(&as_capture), 0x5819_6d30_f193_4ea8);
}

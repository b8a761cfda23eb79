//! Property tests: any TCP connection or fragmented datagram the builders
//! make reads back as made; any flow tuple survives its text form.

mod common;

use common::{check_checksums, fragment_payload, meta, pseudo_checksum_ok, tcp};
use nsg_capture::flowlog::{Counters, FlowState, FlowTuple};
use nsg_packet::Transport;
use nsg_synth::{Capture, Endpoint, FragSpec, Peers, Synth, TcpClose, TcpSpec};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const T0: u64 = 1_714_564_800_000_000_000;

fn peers(v6: bool) -> Peers {
    let (c, s): (IpAddr, IpAddr) = if v6 {
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7).into(),
            Ipv6Addr::new(0xfd00, 0x10, 0, 1, 0, 0, 0, 4).into(),
        )
    } else {
        (
            Ipv4Addr::new(203, 0, 113, 7).into(),
            Ipv4Addr::new(10, 0, 1, 4).into(),
        )
    };
    Peers::new(
        Endpoint::new([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], c),
        Endpoint::new([0x02, 0, 0x0a, 0, 1, 4], s),
    )
    .unwrap()
}

fn close() -> impl Strategy<Value = TcpClose> {
    prop_oneof![
        any::<bool>().prop_map(|client_first| TcpClose::Fin { client_first }),
        any::<bool>().prop_map(|from_client| TcpClose::Rst { from_client }),
        Just(TcpClose::Open),
    ]
}

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn flow_tuple() -> impl Strategy<Value = FlowTuple> {
    let state = prop_oneof![
        Just(FlowState::Begin),
        Just(FlowState::Continuing),
        Just(FlowState::End)
    ];
    let counters = proptest::option::of(any::<[u64; 4]>().prop_map(|c| Counters {
        packets_sd: c[0],
        bytes_sd: c[1],
        packets_ds: c[2],
        bytes_ds: c[3],
    }));
    (
        any::<u64>(),
        ip_addr(),
        ip_addr(),
        any::<(u16, u16)>(),
        any::<(bool, bool, bool)>(),
        state,
        counters,
    )
        .prop_map(
            |(ts, src, dst, (src_port, dst_port), (tcp, inbound, allowed), state, counters)| {
                FlowTuple {
                    ts,
                    src,
                    dst,
                    src_port,
                    dst_port,
                    tcp,
                    inbound,
                    allowed,
                    state,
                    counters,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_connection_reads_back(
        seed in any::<u64>(),
        v6 in any::<bool>(),
        exchanges in proptest::collection::vec((0usize..20_000, 0usize..20_000), 0..4),
        mss in 100u16..=1460,
        close in close(),
    ) {
        let p = peers(v6);
        let spec = TcpSpec { exchanges: exchanges.clone(), close, mss: Some(mss), ..TcpSpec::new(443) };
        let mut cap = Capture::new();
        let ex = Synth::new(seed).tcp_connection(&mut cap, T0, &p, &spec);
        cap.sort_by_time();
        let fwd = meta(&cap.frames[0].1).tuple;
        prop_assert_eq!((fwd.src_port, fwd.dst_port), (ex.client_port, 443));
        let mut bytes = [0usize; 2];
        let mut next: [Option<u32>; 2] = [None, None];
        for (i, (_, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
            let m = meta(f);
            let is_tcp = matches!(m.transport, Transport::Tcp { .. });
            prop_assert!(is_tcp, "frame {} is TCP", i);
            let d = usize::from(m.tuple != fwd);
            prop_assert!(d == 0 || m.tuple == fwd.reversed());
            let t = tcp(f);
            prop_assert!(t.len <= usize::from(mss));
            if let Some(n) = next[d] {
                prop_assert_eq!(t.seq, n, "frame {} in sequence", i);
            }
            next[d] = Some(t.seq.wrapping_add(t.len as u32 + u32::from(t.syn) + u32::from(t.fin)));
            bytes[d] += t.len;
        }
        let want = exchanges.iter().fold([0, 0], |a, (q, r)| [a[0] + q, a[1] + r]);
        prop_assert_eq!(bytes, want);
    }

    #[test]
    fn any_fragmented_datagram_reassembles(
        seed in any::<u64>(),
        v6 in any::<bool>(),
        payload_len in 0usize..9_000,
        mtu in 68usize..=1500,
    ) {
        let p = peers(v6);
        let spec = FragSpec {
            client_port: Some(40_000),
            server_port: 5001,
            payload_len,
            mtu,
            response: None,
            delay_ns: 0,
        };
        let mut cap = Capture::new();
        Synth::new(seed).udp_fragments(&mut cap, T0, &p, &spec);
        let whole = cap.len() == 1 && meta(&cap.frames[0].1).fragment.is_none();
        let mut datagram = Vec::new();
        for (i, (_, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
            let m = meta(f);
            if whole {
                prop_assert_eq!(m.transport, Transport::Udp);
                continue;
            }
            let frag = m.fragment.unwrap();
            prop_assert_eq!(frag.is_first(), i == 0);
            prop_assert_eq!(frag.more, i + 1 < cap.len());
            let (offset, _, bytes) = fragment_payload(f);
            prop_assert_eq!(offset, datagram.len());
            datagram.extend_from_slice(&bytes);
        }
        if !whole {
            prop_assert_eq!(datagram.len(), 8 + payload_len);
            let (s, d) = match (p.client().ip, p.server().ip) {
                (IpAddr::V4(a), IpAddr::V4(b)) => (a.octets().to_vec(), b.octets().to_vec()),
                (IpAddr::V6(a), IpAddr::V6(b)) => (a.octets().to_vec(), b.octets().to_vec()),
                _ => unreachable!(),
            };
            prop_assert!(pseudo_checksum_ok(&s, &d, 17, &datagram));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_flow_tuple_survives_its_text(t in flow_tuple()) {
        let text = t.to_string();
        prop_assert_eq!(text.split(',').count(), 13);
        prop_assert_eq!(text.parse::<FlowTuple>(), Ok(t));
    }
}

//! `parse_link` reads Linux cooked, raw IP and loopback frames in place and
//! gives what the parser gives on the same frame behind a rebuilt Ethernet
//! header: the same frame or fault, the same counters, for every length the
//! frame could be cut to.

use nsg_packet::link::{link_payload, to_ethernet, Link};
use nsg_packet::wire::{icmp_message, ip_frame, udp_datagram, Endpoint, IpFields, TcpHeader};
use nsg_packet::{parse_counted, parse_link, proto, ParseStats, TcpFlags};
use std::net::IpAddr;

fn ep(ip: &str, last: u8) -> Endpoint {
    Endpoint::new([2, 0, 0, 0, 0, last], ip.parse::<IpAddr>().unwrap())
}

/// Ethernet frames of many kinds: TCP, UDP, ICMP errors and echoes, IPv6,
/// fragments, ARP, a VLAN tag.
fn ethernet_frames() -> Vec<Vec<u8>> {
    let (a4, b4) = (ep("10.0.1.4", 1), ep("10.0.2.5", 2));
    let (a6, b6) = (ep("fd00::4", 1), ep("fd00::5", 2));
    let syn = TcpHeader {
        src_port: 40000,
        dst_port: 443,
        seq: 1,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        mss: Some(1460),
    }
    .segment(&[]);
    let udp = udp_datagram(5353, 53, b"query");
    let echo = icmp_message(8, 0, [0, 7, 0, 1], b"ping");
    let plain = IpFields::new(64, 7, true);
    let frag = IpFields {
        frag: Some((1, false)),
        ..IpFields::new(64, 9, false)
    };
    let v4_tcp = ip_frame(&a4, &b4, proto::TCP, &syn, plain);
    let unreach = icmp_message(3, 3, [0; 4], &v4_tcp[14..]);
    let mut frames = vec![
        v4_tcp.clone(),
        ip_frame(&a4, &b4, proto::UDP, &udp, plain),
        ip_frame(&a4, &b4, proto::ICMP, &echo, plain),
        ip_frame(&b4, &a4, proto::ICMP, &unreach, plain),
        ip_frame(&a4, &b4, proto::UDP, &udp, frag),
        ip_frame(&a6, &b6, proto::TCP, &syn, plain),
        ip_frame(&a6, &b6, proto::UDP, &udp, frag),
        ip_frame(
            &a6,
            &b6,
            proto::ICMPV6,
            &icmp_message(128, 0, [0; 4], b"x"),
            plain,
        ),
    ];
    let mut arp = Vec::new();
    nsg_packet::wire::arp::request(
        &mut arp,
        a4.mac,
        "10.0.1.4".parse().unwrap(),
        "10.0.1.1".parse().unwrap(),
    );
    frames.push(arp);
    let mut tagged = v4_tcp[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    tagged.extend_from_slice(&v4_tcp[12..]);
    frames.push(tagged);
    frames
}

/// `eth` as a frame of `link`: its Ethernet header replaced by the link's.
fn as_link(link: Link, eth: &[u8]) -> Vec<u8> {
    let et = u16::from_be_bytes([eth[12], eth[13]]);
    let family = |v6: bool| if v6 { 24u32 } else { 2 };
    let mut out = match link {
        Link::Ethernet => return eth.to_vec(),
        Link::LinuxSll => {
            let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            h.extend_from_slice(&et.to_be_bytes());
            h
        }
        Link::RawIp => Vec::new(),
        Link::Null => family(et == 0x86dd).to_ne_bytes().to_vec(),
        Link::Loop => family(et == 0x86dd).to_be_bytes().to_vec(),
    };
    out.extend_from_slice(&eth[14..]);
    out
}

/// Both readings of `data` agree, fault, frame and counters.
fn assert_same(link: Link, data: &[u8]) {
    let (mut s_link, mut s_eth) = (ParseStats::default(), ParseStats::default());
    let mut scratch = Vec::new();
    let eth = to_ethernet(link, data, &mut scratch);
    let expect = parse_counted(eth, &mut s_eth);
    let got = parse_link(link, data, &mut s_link);
    assert_eq!(got, expect, "{link:?} {data:02x?}");
    assert_eq!(s_link, s_eth, "{link:?} {data:02x?}");
}

#[test]
fn every_link_and_every_cut_reads_as_behind_an_ethernet_header() {
    let links = [
        Link::Ethernet,
        Link::LinuxSll,
        Link::RawIp,
        Link::Null,
        Link::Loop,
    ];
    for (i, eth) in ethernet_frames().into_iter().enumerate() {
        for link in links {
            let data = as_link(link, &eth);
            let mut s = ParseStats::default();
            let r = parse_link(link, &data, &mut s);
            // The eight untagged IP frames are IP on every link.
            if i < 8 {
                assert!(
                    matches!(r, Ok(nsg_packet::Frame::Ip(_))),
                    "{link:?} {i}: {r:?}"
                );
            }
            for cut in 0..=data.len() {
                assert_same(link, &data[..cut]);
            }
        }
    }
}

#[test]
fn odd_link_headers_read_as_before() {
    let eth = &ethernet_frames()[0];
    let ip = &eth[14..];
    // Loopback families: IPv6 numbers of the BSDs, an unknown family, and a
    // family written in the other byte order.
    for fam in [10u32, 28, 30, 99, 2u32.swap_bytes()] {
        for link in [Link::Null, Link::Loop] {
            let mut d = fam.to_ne_bytes().to_vec();
            d.extend_from_slice(ip);
            assert_same(link, &d);
        }
    }
    // Linux cooked frames announcing a VLAN tag, ARP and an unknown protocol.
    for proto in [0x8100u16, 0x0806, 0x88cc, 0x0004] {
        let mut d = vec![0u8; 14];
        d.extend_from_slice(&proto.to_be_bytes());
        d.extend_from_slice(&[0, 0x2a, 0x08, 0x00]);
        d.extend_from_slice(ip);
        assert_same(Link::LinuxSll, &d);
    }
    // A raw frame whose first nibble is neither 4 nor 6.
    let mut d = ip.to_vec();
    d[0] = 0x55;
    assert_same(Link::RawIp, &d);
    assert_eq!(link_payload(Link::Ethernet, eth), None);
    assert_eq!(link_payload(Link::LinuxSll, &[0; 15]), None);
    assert_eq!(link_payload(Link::RawIp, &[]), Some((0x0800, &[][..])));
}

//! Round trips of every protocol the parser reads, and the drop reason of
//! every truncation.

mod common;

use common::*;
use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder};
use nsg_packet::{
    ether_type as et, parse, parse_counted, proto, slow, Addr, DropReason, Family, FiveTuple,
    Fragment, Frame, IcmpKind, Layer, PacketMeta, ParseError, ParseStats, TcpFlags, Transport,
    Vlans,
};

fn ip(frame: &[u8]) -> PacketMeta {
    match parse(frame) {
        Ok(Frame::Ip(m)) => m,
        other => panic!("not IP: {other:?}"),
    }
}

fn v4_tuple(proto: u8, sp: u16, dp: u16) -> FiveTuple {
    FiveTuple {
        src: Addr::from_v4(V4_A),
        dst: Addr::from_v4(V4_B),
        src_port: sp,
        dst_port: dp,
        proto,
        family: Family::V4,
    }
}

fn v6_tuple(proto: u8, sp: u16, dp: u16) -> FiveTuple {
    FiveTuple {
        src: Addr::from_v6(V6_A),
        dst: Addr::from_v6(V6_B),
        src_port: sp,
        dst_port: dp,
        proto,
        family: Family::V6,
    }
}

#[test]
fn tcp_over_ipv4() {
    let f = tcp4(50000, 80, b"hello");
    let m = ip(&f);
    assert_eq!(m.tuple, v4_tuple(proto::TCP, 50000, 80));
    let flags = m.tcp_flags().unwrap();
    assert!(flags.syn() && flags.ack() && !flags.fin() && !flags.rst());
    assert_eq!(m.fragment, None);
    assert_eq!(m.frame_len as usize, f.len());
    assert_eq!(m.vlans, Vlans::default());
    // The fast path reads it.
    assert_eq!(nsg_packet::fast::parse(&f), Some(Frame::Ip(m)));
}

#[test]
fn udp_over_ipv6() {
    let f = udp6(5353, 53, b"q");
    let m = ip(&f);
    assert_eq!(m.tuple, v6_tuple(proto::UDP, 5353, 53));
    assert_eq!(m.transport, Transport::Udp);
    assert_eq!(m.tuple.src_ip().to_string(), "fd00:1::4");
}

#[test]
fn tcp_over_ipv6_and_udp_over_ipv4() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(V6_A, V6_B, 64)
        .tcp(1, 2, 0, 100)
        .fin()
        .rst();
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    let m = ip(&f);
    assert_eq!(m.tuple, v6_tuple(proto::TCP, 1, 2));
    assert_eq!(m.tcp_flags(), Some(TcpFlags(TcpFlags::FIN | TcpFlags::RST)));

    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .udp(7, 9);
    let mut f = Vec::new();
    b.write(&mut f, &[1, 2, 3]).unwrap();
    assert_eq!(ip(&f).tuple, v4_tuple(proto::UDP, 7, 9));
}

#[test]
fn vlan_and_qinq() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(0x123.try_into().unwrap())
        .ipv4(V4_A, V4_B, 64)
        .udp(1, 2);
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    let m = ip(&f);
    assert_eq!(m.vlans.outer, Some(0x123));
    assert_eq!(m.vlans.inner, None);

    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(10.try_into().unwrap(), 20.try_into().unwrap())
        .ipv6(V6_A, V6_B, 64)
        .tcp(3, 4, 0, 0);
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    let m = ip(&f);
    assert_eq!(
        m.vlans,
        Vlans {
            outer: Some(10),
            inner: Some(20)
        }
    );
    assert_eq!(m.tuple, v6_tuple(proto::TCP, 3, 4));
    assert!(nsg_packet::fast::parse(&f).is_some());

    // 0x9100 outer tag too.
    let f = cat(&[
        &eth(et::QINQ_OLD),
        &vlan_tag(5, et::VLAN),
        &vlan_tag(6, et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 8),
    ]);
    assert_eq!(
        ip(&f).vlans,
        Vlans {
            outer: Some(5),
            inner: Some(6)
        }
    );

    // Three tags: refused, not misread.
    let f = cat(&[
        &eth(et::VLAN),
        &vlan_tag(1, et::VLAN),
        &vlan_tag(2, et::VLAN),
        &vlan_tag(3, et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 8),
    ]);
    assert_eq!(parse(&f), Err(ParseError::TooManyVlanTags));
}

#[test]
fn arp_and_other_ether_types_are_classified() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B).arp(
        etherparse::ArpPacket::new(
            etherparse::ArpHardwareId::ETHERNET,
            etherparse::EtherType::IPV4,
            etherparse::ArpOperation::REQUEST,
            &MAC_A,
            &V4_A,
            &[0; 6],
            &V4_B,
        )
        .unwrap(),
    );
    let mut f = Vec::new();
    b.write(&mut f).unwrap();
    assert_eq!(
        parse(&f),
        Ok(Frame::Arp {
            vlans: Vlans::default()
        })
    );
    // Truncated ARP is dropped.
    assert_eq!(
        parse(&f[..20]).map_err(|e| e.reason()),
        Err(DropReason::TruncatedArp)
    );

    let mut lldp = eth(0x88cc);
    lldp.extend_from_slice(&[0; 30]);
    assert_eq!(
        parse(&lldp),
        Ok(Frame::NonIp {
            ether_type: 0x88cc,
            vlans: Vlans::default()
        })
    );
    // An 802.3 length field: classified, not parsed.
    let mut llc = eth(0x0026);
    llc.extend_from_slice(&[0x42; 38]);
    assert!(matches!(
        parse(&llc),
        Ok(Frame::NonIp {
            ether_type: 0x0026,
            ..
        })
    ));
    // MACsec is not read.
    let mut macsec = eth(0x88e5);
    macsec.extend_from_slice(&[0; 40]);
    assert_eq!(
        parse(&macsec),
        Err(ParseError::UnsupportedLinkExtension { ether_type: 0x88e5 })
    );
}

#[test]
fn ipv4_options_take_the_slow_path() {
    let opts = [1, 1, 1, 0]; // NOP NOP NOP EOL
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::TCP, 20, 0, 0, &opts),
        &tcp(1000, 22, TcpFlags::ACK),
    ]);
    assert!(nsg_packet::fast::parse(&f).is_none());
    let m = ip(&f);
    assert_eq!(m.tuple, v4_tuple(proto::TCP, 1000, 22));
    assert_eq!(m.tcp_flags(), Some(TcpFlags(TcpFlags::ACK)));
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 8),
    ]);
    f.extend_from_slice(&[0; 18]);
    let m = ip(&f);
    assert_eq!(m.tuple, v4_tuple(proto::UDP, 1, 2));
    assert_eq!(nsg_packet::fast::parse(&f), Some(Frame::Ip(m)));
}

#[test]
fn ipv4_fragments() {
    // First fragment: MF set, offset 0: ports are read.
    let first = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 16, 0x1234, 0x2000, &[]),
        &udp(5000, 53, 1400),
        &[0; 8],
    ]);
    let m = ip(&first);
    assert_eq!(m.tuple, v4_tuple(proto::UDP, 5000, 53));
    assert_eq!(
        m.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 0,
            more: true
        })
    );
    assert!(!m.is_non_first_fragment());
    // A later fragment: no transport header.
    let later = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 16, 0x1234, 185, &[]),
        &[7; 16],
    ]);
    let m = ip(&later);
    assert_eq!(m.transport, Transport::Fragment);
    assert_eq!(m.tuple, v4_tuple(proto::UDP, 0, 0));
    assert_eq!(
        m.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 185,
            more: false
        })
    );
    assert!(m.is_non_first_fragment());
    // A first fragment too short for the TCP header is dropped.
    let tiny = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::TCP, 8, 1, 0x2000, &[]),
        &[0; 8],
    ]);
    assert_eq!(
        parse(&tiny).map_err(|e| e.reason()),
        Err(DropReason::TruncatedTcp)
    );
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    // Hop-by-hop (8 bytes), then a destination options header, then TCP.
    let hbh = [60u8, 0, 1, 4, 0, 0, 0, 0]; // next: dest opts
    let dst = [6u8, 0, 1, 4, 0, 0, 0, 0]; // next: TCP
    let t = tcp(443, 60000, TcpFlags::SYN);
    let f = cat(&[&eth(et::IPV6), &ipv6(0, 16 + t.len()), &hbh, &dst, &t]);
    assert!(nsg_packet::fast::parse(&f).is_none());
    let m = ip(&f);
    assert_eq!(m.tuple, v6_tuple(proto::TCP, 443, 60000));

    // Fragment header: first fragment, then a later one.
    let frag_first = [17u8, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]; // offset 0, M=1
    let u = udp(1, 2, 100);
    let f = cat(&[&eth(et::IPV6), &ipv6(44, 8 + u.len()), &frag_first, &u]);
    let m = ip(&f);
    assert_eq!(m.tuple, v6_tuple(proto::UDP, 1, 2));
    assert_eq!(
        m.fragment,
        Some(Fragment {
            id: 0xdeadbeef,
            offset: 0,
            more: true
        })
    );
    let frag_later = [17u8, 0, 0x00, 0x18, 0xde, 0xad, 0xbe, 0xef]; // offset 3, M=0
    let f = cat(&[&eth(et::IPV6), &ipv6(44, 8 + 24), &frag_later, &[9; 24]]);
    let m = ip(&f);
    assert_eq!(m.transport, Transport::Fragment);
    assert_eq!(
        m.fragment,
        Some(Fragment {
            id: 0xdeadbeef,
            offset: 3,
            more: false
        })
    );

    // Hop-by-hop not first: a malformed chain.
    let dst_to_hbh = [0u8, 0, 1, 4, 0, 0, 0, 0];
    let f = cat(&[&eth(et::IPV6), &ipv6(60, 16), &dst_to_hbh, &hbh]);
    assert_eq!(parse(&f), Err(ParseError::HopByHopNotFirst));
}

#[test]
fn esp_ah_and_other_protocols_have_no_ports() {
    let esp = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::ESP, 16, 0, 0, &[]),
        &[0xab; 16],
    ]);
    let m = ip(&esp);
    assert_eq!(m.tuple, v4_tuple(proto::ESP, 0, 0));
    assert_eq!(m.transport, Transport::Other);
    // AH carrying TCP: the protocol is AH.
    let ah = [
        6u8, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let t = tcp(1, 2, TcpFlags::SYN);
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::AH, ah.len() + t.len(), 0, 0, &[]),
        &ah,
        &t,
    ]);
    let m = ip(&f);
    assert_eq!(m.tuple, v4_tuple(proto::AH, 0, 0));
    let f6 = cat(&[
        &eth(et::IPV6),
        &ipv6(proto::AH, ah.len() + t.len()),
        &ah,
        &t,
    ]);
    assert_eq!(ip(&f6).tuple, v6_tuple(proto::AH, 0, 0));
    // GRE (47), by number.
    let gre = cat(&[&eth(et::IPV6), &ipv6(47, 4), &[0; 4]]);
    assert_eq!(ip(&gre).tuple, v6_tuple(47, 0, 0));
}

#[test]
fn icmp_echo_uses_the_identifier() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .icmpv4_echo_request(0x4242, 1);
    let mut f = Vec::new();
    b.write(&mut f, b"ping").unwrap();
    let m = ip(&f);
    assert_eq!(m.tuple, v4_tuple(proto::ICMP, 0x4242, 0x4242));
    assert!(
        matches!(m.transport, Transport::Icmp(i) if i.kind == IcmpKind::EchoRequest && i.ty == 8)
    );

    let b = PacketBuilder::ethernet2(MAC_B, MAC_A)
        .ipv6(V6_B, V6_A, 64)
        .icmpv6_echo_reply(7, 1);
    let mut f = Vec::new();
    b.write(&mut f, b"pong").unwrap();
    let m = ip(&f);
    assert_eq!(m.tuple, v6_tuple(proto::ICMPV6, 7, 7).reversed());
    assert!(
        matches!(m.transport, Transport::Icmp(i) if i.kind == IcmpKind::EchoReply && i.ty == 129)
    );
}

#[test]
fn icmp_errors_carry_the_quoted_tuple() {
    // Port unreachable quoting a UDP datagram 10.0.1.4:5000 -> 10.0.2.5:53.
    let quoted_pkt = cat(&[&ipv4(proto::UDP, 8, 0, 0, &[]), &udp(5000, 53, 8)]);
    let b = PacketBuilder::ethernet2(MAC_B, MAC_A)
        .ipv4(V4_B, V4_A, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ));
    let mut f = Vec::new();
    b.write(&mut f, &quoted_pkt).unwrap();
    let m = ip(&f);
    let Transport::Icmp(i) = m.transport else {
        panic!()
    };
    assert_eq!((i.ty, i.code), (3, 3));
    assert_eq!(
        i.kind,
        IcmpKind::Error {
            quoted: Some(v4_tuple(proto::UDP, 5000, 53))
        }
    );
    assert_eq!(
        m.tuple,
        FiveTuple {
            src_port: 0,
            dst_port: 0,
            ..v4_tuple(proto::ICMP, 0, 0).reversed()
        }
    );

    // ICMPv6 packet too big quoting a TCP segment.
    let quoted6 = cat(&[&ipv6(proto::TCP, 20), &tcp(40000, 443, TcpFlags::ACK)]);
    let b = PacketBuilder::ethernet2(MAC_B, MAC_A)
        .ipv6(V6_B, V6_A, 64)
        .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 });
    let mut f = Vec::new();
    b.write(&mut f, &quoted6).unwrap();
    let m = ip(&f);
    let Transport::Icmp(i) = m.transport else {
        panic!()
    };
    assert_eq!(
        i.kind,
        IcmpKind::Error {
            quoted: Some(v6_tuple(proto::TCP, 40000, 443))
        }
    );

    // Time exceeded quoting an echo request: the identifier is the port.
    let quoted_echo = cat(&[
        &ipv4(proto::ICMP, 8, 0, 0, &[]),
        &icmp(8, 0, [0x11, 0x22, 0, 1]),
    ]);
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::ICMP, 8 + quoted_echo.len(), 0, 0, &[]),
        &icmp(11, 0, [0; 4]),
        &quoted_echo,
    ]);
    let m = ip(&f);
    let Transport::Icmp(i) = m.transport else {
        panic!()
    };
    assert_eq!(
        i.kind,
        IcmpKind::Error {
            quoted: Some(v4_tuple(proto::ICMP, 0x1122, 0x1122))
        }
    );

    // A quote too short to name ports: no quoted tuple.
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::ICMP, 8 + 22, 0, 0, &[]),
        &icmp(3, 1, [0; 4]),
        &ipv4(proto::TCP, 2, 0, 0, &[]),
        &[0, 1],
    ]);
    let Transport::Icmp(i) = ip(&f).transport else {
        panic!()
    };
    assert_eq!(i.kind, IcmpKind::Error { quoted: None });
}

#[test]
fn neighbour_discovery_is_recognised() {
    let ns = cat(&[
        &eth(et::IPV6),
        &ipv6(proto::ICMPV6, 24),
        &icmp(135, 0, [0; 4]),
        &[0; 16],
    ]);
    let m = ip(&ns);
    assert!(m.is_neighbor_discovery());
    assert!(matches!(m.transport, Transport::Icmp(i) if i.kind == IcmpKind::Other));
    assert!(!ip(&tcp4(1, 2, &[])).is_neighbor_discovery());
}

#[test]
fn bad_fields_give_typed_errors() {
    // IPv4 version 5 under the IPv4 EtherType.
    let mut f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 8),
    ]);
    f[14] = 0x55;
    assert_eq!(
        parse(&f),
        Err(ParseError::BadVersion {
            layer: Layer::Ipv4,
            version: 5
        })
    );
    f[14] = 0x44;
    assert_eq!(parse(&f), Err(ParseError::Ipv4HeaderTooShort { ihl: 4 }));
    // Total length below the header.
    let mut f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 8),
    ]);
    f[16..18].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(
        parse(&f),
        Err(ParseError::LengthTooSmall {
            layer: Layer::Ipv4,
            value: 19,
            minimum: 20
        })
    );
    // IPv6 version 4 under the IPv6 EtherType.
    let mut f = cat(&[&eth(et::IPV6), &ipv6(proto::UDP, 8), &udp(1, 2, 8)]);
    f[14] = 0x40;
    assert_eq!(
        parse(&f),
        Err(ParseError::BadVersion {
            layer: Layer::Ipv6,
            version: 4
        })
    );
    // TCP data offset 4.
    let mut t = tcp(1, 2, 0);
    t[12] = 0x40;
    let f = cat(&[&eth(et::IPV4), &ipv4(proto::TCP, 20, 0, 0, &[]), &t]);
    assert_eq!(
        parse(&f),
        Err(ParseError::TcpDataOffsetTooSmall { data_offset: 4 })
    );
    // TCP data offset past the packet.
    let mut t = tcp(1, 2, 0);
    t[12] = 0x60;
    let f = cat(&[&eth(et::IPV4), &ipv4(proto::TCP, 20, 0, 0, &[]), &t]);
    assert_eq!(
        parse(&f).map_err(|e| e.reason()),
        Err(DropReason::TruncatedTcp)
    );
    // UDP length 5, and UDP length past the packet.
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 5),
    ]);
    assert_eq!(
        parse(&f).map_err(|e| e.reason()),
        Err(DropReason::BadUdpLength)
    );
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 9),
    ]);
    assert_eq!(
        parse(&f).map_err(|e| e.reason()),
        Err(DropReason::TruncatedUdp)
    );
    // UDP length 0 (jumbogram convention) is accepted, by the slow path.
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::UDP, 8, 0, 0, &[]),
        &udp(1, 2, 0),
    ]);
    assert!(nsg_packet::fast::parse(&f).is_none());
    assert_eq!(ip(&f).tuple, v4_tuple(proto::UDP, 1, 2));
    // ICMP header of 4 bytes.
    let f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::ICMP, 4, 0, 0, &[]),
        &[8, 0, 0, 0],
    ]);
    assert_eq!(
        parse(&f),
        Err(ParseError::Truncated {
            layer: Layer::Icmpv4,
            offset: 34,
            required: 8,
            available: 4
        })
    );
}

/// The reason expected for `frame` cut to `len` bytes, given the offset where
/// each layer starts.
fn expect_truncation(len: usize, layers: &[(usize, DropReason)]) -> DropReason {
    let mut r = DropReason::TruncatedEthernet;
    for &(start, reason) in layers {
        if len >= start {
            r = reason;
        }
    }
    r
}

fn check_every_truncation(frame: &[u8], layers: &[(usize, DropReason)]) {
    assert!(parse(frame).is_ok());
    for len in 0..frame.len() {
        let got = parse(&frame[..len]);
        let want = expect_truncation(len, layers);
        assert_eq!(
            got.map_err(|e| e.reason()),
            Err(want),
            "length {len} of {}",
            frame.len()
        );
        if let Err(e) = parse(&frame[..len]) {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn every_truncation_gives_the_right_reason() {
    use DropReason::*;
    // Ethernet / IPv4 / TCP: past the IPv4 header, the total length is short.
    check_every_truncation(&tcp4(1, 2, b"abcdef"), &[(14, TruncatedIpv4)]);
    // Ethernet / VLAN / VLAN / IPv6 / UDP.
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(1.try_into().unwrap(), 2.try_into().unwrap())
        .ipv6(V6_A, V6_B, 64)
        .udp(1, 2);
    let mut f = Vec::new();
    b.write(&mut f, b"xyz").unwrap();
    check_every_truncation(
        &f,
        &[
            (14, TruncatedVlan),
            (18, TruncatedVlan),
            (22, TruncatedIpv6),
        ],
    );
    // IPv6 with a hop-by-hop header whose payload length is 0 reads to the
    // end of the frame, so the extension header and TCP can be cut.
    let hbh = [6u8, 0, 1, 4, 0, 0, 0, 0];
    let f = cat(&[&eth(et::IPV6), &ipv6(0, 0), &hbh, &tcp(1, 2, TcpFlags::SYN)]);
    check_every_truncation(
        &f,
        &[
            (14, TruncatedIpv6),
            (54, TruncatedIpExt),
            (62, TruncatedTcp),
        ],
    );
    // ARP.
    let mut arp = eth(et::ARP);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0; 20]);
    check_every_truncation(&arp, &[(14, TruncatedArp)]);
}

#[test]
fn stats_count_exact_deltas() {
    let mut s = ParseStats::default();
    let good = tcp4(1, 2, &[]);
    let icmp_f = cat(&[
        &eth(et::IPV4),
        &ipv4(proto::ICMP, 8, 0, 0, &[]),
        &icmp(8, 0, [0; 4]),
    ]);
    let v6 = udp6(1, 2, &[]);
    let mut arp = eth(et::ARP);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0; 20]);
    let lldp = cat(&[&eth(0x88cc), &[0; 10]]);
    parse_counted(&good, &mut s).unwrap();
    parse_counted(&icmp_f, &mut s).unwrap();
    parse_counted(&v6, &mut s).unwrap();
    parse_counted(&arp, &mut s).unwrap();
    parse_counted(&lldp, &mut s).unwrap();
    parse_counted(&good[..10], &mut s).unwrap_err();
    parse_counted(&good[..20], &mut s).unwrap_err();
    let want = ParseStats {
        frames: 7,
        fast_path: 2,
        slow_path: 5,
        ipv4: 2,
        ipv6: 1,
        arp: 1,
        non_ip: 1,
        drop_truncated_ethernet: 1,
        drop_truncated_ipv4: 1,
        ..ParseStats::default()
    };
    assert_eq!(s, want);
    assert_eq!(s.drops(), 2);
    let mut m = ParseStats::default();
    m.merge(&s);
    m.merge(&s);
    assert_eq!(m.frames, 14);
    assert_eq!(m.drop_truncated_ipv4, 2);
}

#[test]
fn slow_path_agrees_on_a_fast_frame() {
    let f = tcp4(1, 2, &[]);
    assert_eq!(slow::parse(&f).ok(), nsg_packet::fast::parse(&f));
}

/// Regression (found by the capture test): an ICMPv6 error quoting an IPv6
/// packet whose fragment header is cut must not reach etherparse's unchecked
/// fragment header constructor.
#[test]
fn quoted_ipv6_with_a_cut_fragment_header() {
    let quoted = cat(&[&ipv6(44, 8), &[17, 0, 0]]);
    let f = cat(&[
        &eth(et::IPV6),
        &ipv6(proto::ICMPV6, 8 + quoted.len()),
        &icmp(1, 4, [0; 4]),
        &quoted,
    ]);
    let Transport::Icmp(i) = ip(&f).transport else {
        panic!()
    };
    assert_eq!(i.kind, IcmpKind::Error { quoted: None });
    // Whole fragment header, first fragment, UDP quoted: ports read.
    let quoted = cat(&[&ipv6(44, 16), &[17, 0, 0, 1, 0, 0, 0, 9], &udp(7, 8, 100)]);
    let f = cat(&[
        &eth(et::IPV6),
        &ipv6(proto::ICMPV6, 8 + quoted.len()),
        &icmp(1, 4, [0; 4]),
        &quoted,
    ]);
    let Transport::Icmp(i) = ip(&f).transport else {
        panic!()
    };
    assert_eq!(
        i.kind,
        IcmpKind::Error {
            quoted: Some(v6_tuple(proto::UDP, 7, 8))
        }
    );
}

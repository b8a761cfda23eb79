//! Property tests: no input panics the parser, and the fast path and the
//! slow path read every frame the fast path accepts identically.

mod common;

use common::*;
use nsg_packet::{ether_type as et, fast, parse, proto, slow, Frame};
use proptest::prelude::*;

/// A well-formed frame: 0 to 2 VLAN tags, IPv4 or IPv6, TCP, UDP, ICMP or
/// another protocol, some payload, maybe Ethernet padding.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..3,
        any::<bool>(),
        prop_oneof![
            Just(proto::TCP),
            Just(proto::UDP),
            Just(proto::ICMP),
            Just(proto::ICMPV6),
            Just(proto::ESP),
            Just(47u8)
        ],
        any::<(u16, u16, u8)>(),
        proptest::collection::vec(any::<u8>(), 0..24),
        0usize..8,
    )
        .prop_map(|(tags, v6, p, (sp, dp, flags), payload, pad)| {
            let l4 = match p {
                proto::TCP => [tcp(sp, dp, flags), payload].concat(),
                proto::UDP => [udp(sp, dp, (8 + payload.len()) as u16), payload].concat(),
                proto::ICMP | proto::ICMPV6 => {
                    [icmp(flags, 0, [sp as u8, dp as u8, 0, 1]), payload].concat()
                }
                _ => payload,
            };
            let (ethertype, ip) = if v6 {
                (et::IPV6, ipv6(p, l4.len()))
            } else {
                (et::IPV4, ipv4(p, l4.len(), sp, 0, &[]))
            };
            let mut f = match tags {
                0 => eth(ethertype),
                1 => [eth(et::VLAN), vlan_tag(sp & 0xfff, ethertype)].concat(),
                _ => [eth(et::QINQ), vlan_tag(1, et::VLAN), vlan_tag(2, ethertype)].concat(),
            };
            f.extend_from_slice(&ip);
            f.extend_from_slice(&l4);
            f.extend(std::iter::repeat_n(0, pad));
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
        let _ = slow::parse(&bytes);
        if let Some(f) = fast::parse(&bytes) {
            prop_assert_eq!(slow::parse(&bytes), Ok(f));
        }
    }

    #[test]
    fn fast_path_reads_well_formed_tcp_and_udp(f in frame()) {
        let slow_result = slow::parse(&f);
        prop_assert!(matches!(slow_result, Ok(Frame::Ip(_))), "{:?}", slow_result);
        let p = slow_result.unwrap().ip().unwrap().tuple.proto;
        if p == proto::TCP || p == proto::UDP {
            prop_assert_eq!(fast::parse(&f), Some(slow_result.unwrap()));
        } else {
            prop_assert_eq!(fast::parse(&f), None);
        }
    }

    #[test]
    fn fast_and_slow_agree_on_mutated_frames(
        f in frame(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut f = f;
        for (i, v) in edits {
            // Favour the headers: the first 80 bytes hold every field read.
            let n = f.len().min(80);
            let at = i.index(n);
            f[at] = v;
        }
        if do_cut {
            let n = cut.index(f.len() + 1);
            f.truncate(n);
        }
        let slow_result = slow::parse(&f);
        if let Some(x) = fast::parse(&f) {
            prop_assert_eq!(slow_result, Ok(x));
        }
        prop_assert_eq!(parse(&f), match fast::parse(&f) { Some(x) => Ok(x), None => slow_result });
    }

    #[test]
    fn both_directions_give_reversed_tuples(sp in any::<u16>(), dp in any::<u16>(), v6 in any::<bool>()) {
        let (fwd, rev) = if v6 {
            (udp6(sp, dp, b"x"), {
                let b = etherparse::PacketBuilder::ethernet2(MAC_B, MAC_A).ipv6(V6_B, V6_A, 64).udp(dp, sp);
                let mut v = Vec::new();
                b.write(&mut v, b"y").unwrap();
                v
            })
        } else {
            (tcp4(sp, dp, b""), {
                let b = etherparse::PacketBuilder::ethernet2(MAC_B, MAC_A).ipv4(V4_B, V4_A, 64).tcp(dp, sp, 0, 1).ack(1);
                let mut v = Vec::new();
                b.write(&mut v, b"").unwrap();
                v
            })
        };
        let a = parse(&fwd).unwrap().ip().unwrap().tuple;
        let b = parse(&rev).unwrap().ip().unwrap().tuple;
        prop_assert_eq!(a.reversed(), b);
    }
}

//! The synthesiser's builders: every frame parses as intended (nsg-packet
//! and etherparse), checksums verify, TCP numbers follow the bytes.

mod common;

use common::{check_checksums, fragment_payload, meta, pseudo_checksum_ok, tcp, udp_payload};
use nsg_packet::{IcmpKind, Transport};
use nsg_synth::{
    Capture, Endpoint, FragSpec, IcmpError, Peers, PingSpec, SplitMix64, SynSpec, Synth,
    SynthError, TcpClose, TcpSpec, UdpSpec,
};
use std::net::IpAddr;

const T0: u64 = 1_714_564_800_000_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peers(v6: bool) -> Peers {
    let (c, s) = if v6 {
        ("2001:db8::7", "fd00:10:0:1::4")
    } else {
        ("203.0.113.7", "10.0.1.4")
    };
    Peers::new(
        Endpoint::new([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], ip(c)),
        Endpoint::new([0x02, 0, 0x0a, 0, 1, 4], ip(s)),
    )
    .unwrap()
}

fn http(v6: bool, close: TcpClose) -> (Capture, Peers, u16) {
    let p = peers(v6);
    let mut cap = Capture::new();
    let spec = TcpSpec {
        exchanges: vec![(500, 5_000), (0, 100), (3_000, 0)],
        close,
        rtt_ns: 20_000_000,
        ..TcpSpec::new(80)
    };
    let ex = Synth::new(7).tcp_connection(&mut cap, T0, &p, &spec);
    assert_eq!(ex.frames, 0..cap.len());
    assert_eq!(ex.start_ns, T0);
    assert_eq!(ex.server_port, 80);
    cap.sort_by_time();
    assert_eq!(cap.frames.last().unwrap().0, ex.end_ns);
    (cap, p, ex.client_port)
}

#[test]
fn splitmix64_matches_the_reference_sequence() {
    // The first outputs of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
    let mut r = SplitMix64::new(0);
    assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    let mut r = SplitMix64::new(1);
    for _ in 0..1000 {
        assert!(r.below(10) < 10);
        let x = r.between(5, 7);
        assert!((5..=7).contains(&x));
    }
    assert_eq!(r.below(0), 0);
    assert_eq!(r.between(9, 3), 9);
    let _ = r.between(0, u64::MAX);
}

#[test]
fn peers_of_different_families_are_refused() {
    let a = Endpoint::new([2, 0, 0, 0, 0, 1], ip("10.0.0.1"));
    let b = Endpoint::new([2, 0, 0, 0, 0, 2], ip("fd00::2"));
    assert_eq!(
        Peers::new(a, b),
        Err(SynthError::FamilyMismatch {
            client: a.ip,
            server: b.ip
        })
    );
}

#[test]
fn a_tcp_connection_parses_as_a_connection() {
    for v6 in [false, true] {
        let (cap, p, cport) = http(v6, TcpClose::Fin { client_first: true });
        let fwd = meta(&cap.frames[0].1).tuple;
        assert_eq!(fwd.src_ip(), p.client().ip);
        assert_eq!(fwd.dst_ip(), p.server().ip);
        assert_eq!((fwd.src_port, fwd.dst_port), (cport, 80));
        let mut bytes = [0usize; 2]; // client to server, server to client
        let mut next_seq: [Option<u32>; 2] = [None, None];
        for (i, (_, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
            let m = meta(f);
            assert!(matches!(m.transport, Transport::Tcp { .. }));
            assert!(m.fragment.is_none());
            assert_eq!(m.frame_len as usize, f.len());
            let from_client = m.tuple == fwd;
            assert!(from_client || m.tuple == fwd.reversed(), "frame {i}");
            let d = usize::from(!from_client);
            let t = tcp(f);
            bytes[d] += t.len;
            // Segments of one direction follow each other in sequence.
            if let Some(n) = next_seq[d] {
                assert_eq!(t.seq, n, "frame {i} seq");
            }
            next_seq[d] = Some(
                t.seq
                    .wrapping_add(t.len as u32 + u32::from(t.syn) + u32::from(t.fin)),
            );
            // Acknowledgements never run ahead of what the other side sent.
            if t.ack_flag {
                let other = next_seq[1 - d].expect("ACK after the other side spoke");
                assert!(other.wrapping_sub(t.ack) < 1 << 30, "frame {i} ack");
            }
        }
        assert_eq!(bytes, [3_500, 5_100]);
        let flags: Vec<_> = cap.frames.iter().map(|(_, f)| tcp(f)).collect();
        assert!(flags[0].syn && !flags[0].ack_flag);
        assert!(flags[1].syn && flags[1].ack_flag);
        assert!(!flags[2].syn && flags[2].ack_flag && flags[2].len == 0);
        let n = flags.len();
        let tail: Vec<(bool, bool)> = flags[n - 4..].iter().map(|t| (t.fin, t.ack_flag)).collect();
        assert_eq!(
            tail,
            [(true, true), (false, true), (true, true), (false, true)]
        );
        // The final ACK acknowledges the other side's FIN.
        assert_eq!(flags[n - 1].ack, flags[n - 2].seq.wrapping_add(1));
        // Times never go back and the connection takes a few round trips.
        assert!(cap.frames.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(cap.frames[n - 1].0 - T0 > 4 * 18_000_000);
        // Frames fit an Ethernet MTU.
        assert!(cap.frames.iter().all(|(_, f)| f.len() <= 1514));
    }
}

#[test]
fn the_server_may_close_first_or_either_side_reset() {
    let (cap, p, _) = http(
        false,
        TcpClose::Fin {
            client_first: false,
        },
    );
    let n = cap.len();
    let first_fin = &cap.frames[n - 4].1;
    assert!(tcp(first_fin).fin);
    assert_eq!(meta(first_fin).tuple.src_ip(), p.server().ip);

    for from_client in [true, false] {
        let (cap, p, _) = http(true, TcpClose::Rst { from_client });
        let last = &cap.frames.last().unwrap().1;
        let t = tcp(last);
        assert!(t.rst && !t.fin);
        let sender = if from_client { p.client() } else { p.server() };
        assert_eq!(meta(last).tuple.src_ip(), sender.ip);
        assert_eq!(cap.frames.iter().filter(|(_, f)| tcp(f).fin).count(), 0);
    }

    let (cap, _, _) = http(false, TcpClose::Open);
    assert!(cap.frames.iter().all(|(_, f)| !tcp(f).fin && !tcp(f).rst));
}

#[test]
fn an_unanswered_syn_is_retransmitted_with_backoff() {
    for v6 in [false, true] {
        let p = peers(v6);
        let mut cap = Capture::new();
        let spec = SynSpec {
            client_port: Some(40_000),
            retransmissions: 3,
            ..SynSpec::new(443)
        };
        let ex = Synth::new(1).tcp_unanswered(&mut cap, T0, &p, &spec);
        assert_eq!(cap.len(), 4);
        assert_eq!(ex.client_port, 40_000);
        let first = tcp(&cap.frames[0].1);
        for (i, (t, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
            let m = meta(f);
            assert_eq!((m.tuple.src_port, m.tuple.dst_port), (40_000, 443));
            assert_eq!(m.tuple.src_ip(), p.client().ip);
            let s = tcp(f);
            assert!(s.syn && !s.ack_flag);
            assert_eq!(s.seq, first.seq, "a retransmission repeats the ISN");
            // 0 s, 1 s, 3 s, 7 s, each timeout late by at most 1 %.
            let expect = [0, 1, 3, 7][i] * 1_000_000_000u64;
            assert!(
                (*t - T0) >= expect && (*t - T0) <= expect + expect / 100 + 3,
                "{i}"
            );
        }
        assert_eq!(ex.end_ns, cap.frames[3].0);
    }
}

#[test]
fn a_udp_exchange_is_a_request_and_its_response() {
    for v6 in [false, true] {
        let p = peers(v6);
        let mut cap = Capture::new();
        let spec = UdpSpec {
            client_port: None,
            server_port: 53,
            request: b"query".to_vec(),
            response: Some(b"answer!".to_vec()),
            delay_ns: 1_000_000,
        };
        let ex = Synth::new(3).udp_exchange(&mut cap, T0, &p, &spec);
        assert_eq!(cap.len(), 2);
        for (i, (_, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
        }
        let q = meta(&cap.frames[0].1);
        let r = meta(&cap.frames[1].1);
        assert_eq!(q.transport, Transport::Udp);
        assert_eq!((q.tuple.src_port, q.tuple.dst_port), (ex.client_port, 53));
        assert_eq!(r.tuple, q.tuple.reversed());
        assert_eq!(udp_payload(&cap.frames[0].1), b"query");
        assert_eq!(udp_payload(&cap.frames[1].1), b"answer!");
        assert!(cap.frames[1].0 > cap.frames[0].0);

        let unanswered = UdpSpec {
            response: None,
            ..spec
        };
        let mut cap = Capture::new();
        Synth::new(3).udp_exchange(&mut cap, T0, &p, &unanswered);
        assert_eq!(cap.len(), 1);
    }
}

#[test]
fn pings_carry_their_identifier_both_ways() {
    for v6 in [false, true] {
        let p = peers(v6);
        let mut cap = Capture::new();
        let spec = PingSpec {
            id: Some(0x4242),
            count: 3,
            ..PingSpec::new()
        };
        let ex = Synth::new(5).ping(&mut cap, T0, &p, &spec);
        assert_eq!((ex.client_port, ex.server_port), (0x4242, 0x4242));
        assert_eq!(cap.len(), 6);
        cap.sort_by_time();
        for (i, (_, f)) in cap.frames.iter().enumerate() {
            check_checksums(i, f);
            let m = meta(f);
            let Transport::Icmp(icmp) = m.transport else {
                panic!("frame {i} is not ICMP");
            };
            let want = if i % 2 == 0 {
                IcmpKind::EchoRequest
            } else {
                IcmpKind::EchoReply
            };
            assert_eq!(icmp.kind, want, "frame {i}");
            assert_eq!((m.tuple.src_port, m.tuple.dst_port), (0x4242, 0x4242));
            assert_eq!(m.tuple.proto, if v6 { 58 } else { 1 });
        }
        let mut cap = Capture::new();
        let quiet = PingSpec {
            answered: false,
            ..spec
        };
        Synth::new(5).ping(&mut cap, T0, &p, &quiet);
        assert_eq!(cap.len(), 3);
    }
}

#[test]
fn an_icmp_error_quotes_the_packet_it_is_about() {
    for v6 in [false, true] {
        let (cap, p, _) = http(v6, TcpClose::Fin { client_first: true });
        // A server data segment: the fifth frame is the first response segment.
        let (ts, quoted) = cap
            .frames
            .iter()
            .find(|(_, f)| meta(f).tuple.src_ip() == p.server().ip && tcp(f).len > 0)
            .unwrap()
            .clone();
        let router_ip = if v6 {
            ip("2001:db8:ffff::1")
        } else {
            ip("198.51.100.1")
        };
        let router = Endpoint::new([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], router_ip);
        for kind in [
            IcmpError::PacketTooBig { mtu: 1280 },
            IcmpError::PortUnreachable,
            IcmpError::HostUnreachable,
            IcmpError::AdminProhibited,
            IcmpError::TimeExceeded,
        ] {
            let mut out = Capture::new();
            Synth::new(9)
                .icmp_error(&mut out, ts + 1, &router, &quoted, kind)
                .unwrap();
            let (_, err) = &out.frames[0];
            check_checksums(0, err);
            // It goes back to the quoted packet's sender, at its MAC.
            assert_eq!(&err[..6], &quoted[6..12]);
            let m = meta(err);
            assert_eq!(m.tuple.src_ip(), router_ip);
            assert_eq!(m.tuple.dst_ip(), p.server().ip);
            let Transport::Icmp(icmp) = m.transport else {
                panic!("not ICMP");
            };
            assert_eq!(
                icmp.kind,
                IcmpKind::Error {
                    quoted: Some(meta(&quoted).tuple)
                },
                "{kind:?}"
            );
            // Within the size limits of RFC 1812 and RFC 4443.
            let limit = if v6 { 1280 } else { 576 };
            assert!(err.len() - 14 <= limit);
        }
        let (ty, code) = {
            let mut out = Capture::new();
            let kind = IcmpError::PacketTooBig { mtu: 1400 };
            Synth::new(9)
                .icmp_error(&mut out, ts, &router, &quoted, kind)
                .unwrap();
            let Transport::Icmp(icmp) = meta(&out.frames[0].1).transport else {
                panic!("not ICMP");
            };
            (icmp.ty, icmp.code)
        };
        assert_eq!((ty, code), if v6 { (2, 0) } else { (3, 4) });
    }
}

#[test]
fn an_icmp_error_needs_an_ip_frame_of_the_reporters_family() {
    let (cap, _, _) = http(false, TcpClose::Open);
    let mut out = Capture::new();
    let v6_router = Endpoint::new([2, 0, 0, 0, 0, 1], ip("2001:db8::1"));
    let e = Synth::new(1)
        .icmp_error(
            &mut out,
            T0,
            &v6_router,
            &cap.frames[0].1,
            IcmpError::TimeExceeded,
        )
        .unwrap_err();
    assert!(matches!(e, SynthError::ReporterFamily { .. }));
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let e = Synth::new(1)
        .icmp_error(&mut out, T0, &v6_router, &arp, IcmpError::TimeExceeded)
        .unwrap_err();
    assert_eq!(e, SynthError::NotIp);
    assert!(out.is_empty());
}

#[test]
fn a_fragmented_datagram_reassembles() {
    for v6 in [false, true] {
        let p = peers(v6);
        let mut cap = Capture::new();
        let spec = FragSpec {
            client_port: Some(50_000),
            server_port: 5001,
            payload_len: 4_000,
            mtu: 1500,
            response: Some(b"ok".to_vec()),
            delay_ns: 100_000,
        };
        Synth::new(11).udp_fragments(&mut cap, T0, &p, &spec);
        let n = cap.len();
        assert_eq!(n, 4, "three fragments and the response");
        let mut datagram = Vec::new();
        let mut ids = Vec::new();
        for (i, (_, f)) in cap.frames[..n - 1].iter().enumerate() {
            check_checksums(i, f);
            assert!(f.len() <= 1514);
            let m = meta(f);
            let frag = m.fragment.expect("a fragment");
            ids.push(frag.id);
            assert_eq!(frag.more, i < n - 2);
            if i == 0 {
                assert!(frag.is_first());
                assert_eq!(m.transport, Transport::Udp);
                assert_eq!((m.tuple.src_port, m.tuple.dst_port), (50_000, 5001));
            } else {
                assert!(m.is_non_first_fragment());
                assert_eq!(m.transport, Transport::Fragment);
                assert_eq!((m.tuple.src_port, m.tuple.dst_port), (0, 0));
            }
            let (offset, more, bytes) = fragment_payload(f);
            assert_eq!(offset, datagram.len());
            assert_eq!(more, frag.more);
            assert_eq!(usize::from(frag.offset) * 8, offset);
            datagram.extend_from_slice(&bytes);
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(datagram.len(), 8 + 4_000);
        assert_eq!(
            usize::from(u16::from_be_bytes([datagram[4], datagram[5]])),
            datagram.len()
        );
        let (src, dst) = match (p.client().ip, p.server().ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (a.octets().to_vec(), b.octets().to_vec()),
            (IpAddr::V6(a), IpAddr::V6(b)) => (a.octets().to_vec(), b.octets().to_vec()),
            _ => unreachable!(),
        };
        assert!(pseudo_checksum_ok(&src, &dst, 17, &datagram));
        let resp = meta(&cap.frames[n - 1].1);
        assert!(resp.fragment.is_none());
        assert_eq!((resp.tuple.src_port, resp.tuple.dst_port), (5001, 50_000));
    }
}

#[test]
fn a_datagram_that_fits_is_sent_whole() {
    let mut cap = Capture::new();
    let spec = FragSpec {
        client_port: None,
        server_port: 7,
        payload_len: 100,
        mtu: 1500,
        response: None,
        delay_ns: 0,
    };
    Synth::new(1).udp_fragments(&mut cap, T0, &peers(false), &spec);
    assert_eq!(cap.len(), 1);
    assert!(meta(&cap.frames[0].1).fragment.is_none());
    check_checksums(0, &cap.frames[0].1);
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let run = |seed| {
        let mut cap = Capture::new();
        let mut s = Synth::new(seed);
        let spec = TcpSpec {
            exchanges: vec![(100, 10_000)],
            ..TcpSpec::new(8080)
        };
        s.tcp_connection(&mut cap, T0, &peers(false), &spec);
        s.ping(&mut cap, T0, &peers(true), &PingSpec::new());
        cap
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

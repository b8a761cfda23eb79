//! The demo traffic of `config/three-tier.toml`: deterministic, well
//! formed, and consistent with the policy: exactly the conversations the
//! reference evaluator allows are answered, and the scenarios the example
//! is about are all there.

mod common;

use common::{check_checksums, meta};
use nsg_packet::{FiveTuple, IcmpKind, PacketMeta, Transport};
use nsg_policy::{evaluate, Access, Direction, LoadOptions, Packet, Policy};
use nsg_synth::{demo_traffic, Capture, DEMO_START_NS};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn policy_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml")
}

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| nsg_policy::load(&policy_path(), &LoadOptions::default()).unwrap())
}

fn demo() -> &'static Capture {
    static C: OnceLock<Capture> = OnceLock::new();
    C.get_or_init(|| demo_traffic(policy(), 1))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether the reference evaluator lets the first packet of a conversation
/// through: outbound at the sender's NIC, inbound at the receiver's.
fn allowed(p: &Policy, t: &FiveTuple, ports: bool) -> bool {
    let pkt = Packet {
        protocol: t.proto,
        src: t.src_ip(),
        dst: t.dst_ip(),
        src_port: ports.then_some(t.src_port),
        dst_port: ports.then_some(t.dst_port),
    };
    let at = |ip: IpAddr, dir| {
        p.nic_of_ip(&ip)
            .is_none_or(|nic| evaluate(p, nic, dir, &pkt).access == Access::Allow)
    };
    at(pkt.src, Direction::Outbound) && at(pkt.dst, Direction::Inbound)
}

/// A conversation seen in the capture: its first packet's tuple and what
/// came back.
#[derive(Debug, Default)]
struct Conv {
    first: Option<FiveTuple>,
    forward: usize,
    replies: usize,
    syn_acks: usize,
    fins: usize,
    rsts: usize,
    start: u64,
    end: u64,
}

/// Conversations keyed by the tuple of their first packet.
fn conversations(cap: &Capture) -> BTreeMap<String, (FiveTuple, Conv)> {
    let mut by_key: BTreeMap<String, (FiveTuple, Conv)> = BTreeMap::new();
    let key = |t: &FiveTuple| format!("{:?}", t);
    for (ts, f) in &cap.frames {
        let m = meta(f);
        if m.is_non_first_fragment()
            || matches!(m.transport, Transport::Icmp(i) if matches!(i.kind, IcmpKind::Error { .. }))
        {
            continue;
        }
        let (k, reply) = if by_key.contains_key(&key(&m.tuple.reversed())) {
            (key(&m.tuple.reversed()), true)
        } else {
            (key(&m.tuple), false)
        };
        let (_, c) = by_key
            .entry(k)
            .or_insert_with(|| (m.tuple, Conv::default()));
        if c.first.is_none() {
            c.first = Some(m.tuple);
            c.start = *ts;
        }
        c.end = *ts;
        if reply {
            c.replies += 1;
        } else {
            c.forward += 1;
        }
        if let Some(fl) = m.tcp_flags() {
            c.syn_acks += usize::from(fl.syn() && fl.ack());
            c.fins += usize::from(fl.fin());
            c.rsts += usize::from(fl.rst());
        }
    }
    by_key
}

fn is_vnet(ip: &IpAddr) -> bool {
    policy().nic_of_ip(ip).is_some()
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let again = demo_traffic(policy(), 1);
    assert!(*demo() == again, "seed 1 twice differs");
    let other = demo_traffic(policy(), 2);
    assert!(*demo() != other, "seeds 1 and 2 give the same capture");
}

#[test]
fn a_few_seconds_of_thousands_of_frames_in_time_order() {
    let cap = demo();
    assert!(
        (5_000..=20_000).contains(&cap.len()),
        "{} frames",
        cap.len()
    );
    assert!(cap.frames.windows(2).all(|w| w[0].0 <= w[1].0));
    let (first, last) = (cap.frames[0].0, cap.frames[cap.len() - 1].0);
    assert!(first >= DEMO_START_NS);
    assert!(last - DEMO_START_NS < 10_000_000_000);
    // The traffic crosses a minute boundary (flow log records are per minute).
    assert_ne!(first / 60_000_000_000, last / 60_000_000_000);
}

#[test]
fn every_frame_parses_and_its_checksums_verify() {
    for (i, (_, f)) in demo().frames.iter().enumerate() {
        check_checksums(i, f);
        let m: PacketMeta = meta(f);
        assert_eq!(m.frame_len as usize, f.len());
        assert!(f.len() <= 1514, "frame {i} is {} bytes", f.len());
    }
}

#[test]
fn exactly_what_the_policy_allows_is_answered() {
    let p = policy();
    let convs = conversations(demo());
    let mut answered = 0;
    let mut refused = 0;
    for (t, c) in convs.values() {
        let ports = t.proto == 6 || t.proto == 17;
        let ok = allowed(p, t, ports);
        let got_reply = if t.proto == 6 {
            c.syn_acks > 0
        } else {
            c.replies > 0
        };
        assert_eq!(got_reply, ok, "{t:?} {c:?}");
        if ok {
            answered += 1;
        } else {
            refused += 1;
            if t.proto == 6 {
                assert_eq!(
                    (c.forward, c.replies),
                    (3, 0),
                    "a SYN and two retransmissions"
                );
            }
        }
    }
    assert!(
        answered > 400 && refused > 100,
        "{answered} answered, {refused} refused"
    );
}

/// The tier of an address: by NIC name, else the platform or the Internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Web,
    Logic,
    Db,
    Platform,
    Internet,
}

fn role(a: &IpAddr) -> Role {
    let p = policy();
    match p.nic_of_ip(a).map(|n| p.nics[n].name.as_str()) {
        Some("NIC1" | "NIC2") => Role::Web,
        Some("NIC3") => Role::Logic,
        Some("NIC4") => Role::Db,
        Some(other) => panic!("unexpected NIC {other}"),
        None if *a == ip("168.63.129.16") => Role::Platform,
        None => Role::Internet,
    }
}

/// Conversations whose first tuple matches `pred`, all answered (`true`)
/// or all refused (`false`), at least `min` of them.
fn expect(what: &str, answered: bool, min: usize, pred: impl Fn(&FiveTuple) -> bool) {
    let (mut yes, mut no) = (0, 0);
    for (t, c) in conversations(demo()).values().filter(|(t, _)| pred(t)) {
        if c.syn_acks > 0 || (t.proto != 6 && c.replies > 0) {
            yes += 1;
        } else {
            no += 1;
        }
    }
    let (right, wrong) = if answered { (yes, no) } else { (no, yes) };
    assert!(
        right >= min && wrong == 0,
        "{what}: {yes} answered, {no} refused"
    );
}

/// `pred`, for conversations of one family only.
fn family(v6: bool, pred: impl Fn(&FiveTuple) -> bool) -> impl Fn(&FiveTuple) -> bool {
    move |t| pred(t) && t.src_ip().is_ipv6() == v6
}

#[test]
fn the_scenarios_of_the_three_tier_example_are_there() {
    use Role::*;
    let conv = |proto: u8, from: Role, to: Role, port: Option<u16>| {
        move |t: &FiveTuple| {
            t.proto == proto
                && role(&t.src_ip()) == from
                && role(&t.dst_ip()) == to
                && port.is_none_or(|p| t.dst_port == p)
        }
    };
    let tcp = |from, to, port| conv(6, from, to, Some(port));
    for fam in [false, true] {
        // Rule 100: the Internet reaches the web tier on 80, with data.
        expect(
            "Internet HTTP",
            true,
            50,
            family(fam, tcp(Internet, Web, 80)),
        );
        // DenyAllInBound: 443 on the web tier, 22 on the database.
        expect(
            "Internet 443",
            false,
            2,
            family(fam, tcp(Internet, Web, 443)),
        );
        expect("Internet 22", false, 1, family(fam, tcp(Internet, Db, 22)));
        // Rule 120 denies 1433 to the database to all but the logic tier.
        expect(
            "Internet 1433",
            false,
            1,
            family(fam, tcp(Internet, Db, 1433)),
        );
        expect("web to db 1433", false, 2, family(fam, tcp(Web, Db, 1433)));
        // Rule 110 lets the logic tier in.
        expect(
            "logic to db 1433",
            true,
            5,
            family(fam, tcp(Logic, Db, 1433)),
        );
        // AllowVnetInBound: the web tier calls the logic tier.
        expect(
            "web to logic 8080",
            true,
            10,
            family(fam, tcp(Web, Logic, 8080)),
        );
        // AllowInternetOutBound: HTTPS to the Internet.
        expect("HTTPS out", true, 2, family(fam, tcp(Logic, Internet, 443)));
        expect("HTTPS out", true, 2, family(fam, tcp(Web, Internet, 443)));
        // DNS to an Internet resolver.
        for from in [Web, Logic, Db] {
            expect(
                "DNS",
                true,
                1,
                family(fam, conv(17, from, Internet, Some(53))),
            );
        }
        // Echo inside the VNet passes AllowVnetInBound; from the Internet,
        // DenyAllInBound.
        let icmp = if fam { 58 } else { 1 };
        expect("ping web to logic", true, 1, conv(icmp, Web, Logic, None));
        expect("ping logic to db", true, 1, conv(icmp, Logic, Db, None));
        expect(
            "ping from the Internet",
            false,
            4,
            conv(icmp, Internet, Web, None),
        );
        expect(
            "ping from the Internet",
            false,
            4,
            conv(icmp, Internet, Db, None),
        );
    }
    // The platform resolver, reached without rule evaluation.
    for from in [Web, Logic, Db] {
        expect("platform DNS", true, 8, conv(17, from, Platform, Some(53)));
    }
    // Both web servers serve HTTP.
    for w in ["10.0.1.4", "10.0.1.5"] {
        let to_w = |t: &FiveTuple| t.proto == 6 && t.dst_port == 80 && t.dst_ip() == ip(w);
        expect(w, true, 20, to_w);
    }
    // TCP connections end with FIN from both sides and with RST.
    let convs = conversations(demo());
    assert!(convs.values().any(|(_, c)| c.rsts > 0));
    assert!(convs.values().any(|(_, c)| c.fins == 2));
}

#[test]
fn fragments_of_both_families_follow_their_first_fragment() {
    let cap = demo();
    for v6 in [false, true] {
        let frags: Vec<PacketMeta> = cap
            .frames
            .iter()
            .map(|(_, f)| meta(f))
            .filter(|m| m.fragment.is_some() && m.tuple.src_ip().is_ipv6() == v6)
            .collect();
        let firsts: Vec<&PacketMeta> = frags
            .iter()
            .filter(|m| !m.is_non_first_fragment())
            .collect();
        assert!(firsts.len() >= 3, "IPv6 {v6}");
        assert!(frags.len() > 2 * firsts.len());
        // Allowed from the business-logic tier (AllowVnetInBound), denied
        // from the Internet (DenyAllInBound).
        assert!(firsts.iter().any(|m| is_vnet(&m.tuple.src_ip())));
        assert!(firsts.iter().any(|m| !is_vnet(&m.tuple.src_ip())));
        for first in firsts {
            let id = first.fragment.unwrap().id;
            let rest = frags
                .iter()
                .filter(|m| m.is_non_first_fragment() && m.fragment.unwrap().id == id)
                .filter(|m| m.tuple.src == first.tuple.src && m.tuple.dst == first.tuple.dst)
                .count();
            assert!(rest >= 2, "first fragment {id} has {rest} followers");
        }
    }
}

#[test]
fn icmp_errors_quote_live_flows() {
    let cap = demo();
    let convs = conversations(cap);
    let mut seen = [false, false];
    for (ts, f) in &cap.frames {
        let m = meta(f);
        let Transport::Icmp(icmp) = m.transport else {
            continue;
        };
        let IcmpKind::Error { quoted } = icmp.kind else {
            continue;
        };
        let q = quoted.expect("the error quotes a readable header");
        // The error goes to the quoted packet's source, from the Internet.
        assert_eq!(m.tuple.dst, q.src);
        assert!(!is_vnet(&m.tuple.src_ip()));
        let (_, c) = convs
            .values()
            .find(|(t, _)| *t == q || t.reversed() == q)
            .expect("the quoted packet belongs to a conversation of the capture");
        assert!(c.syn_acks > 0, "an established connection");
        assert!(c.start < *ts && *ts < c.end, "the flow is live");
        seen[usize::from(m.tuple.src_ip().is_ipv6())] = true;
    }
    assert_eq!(seen, [true, true], "one error per family");
}

#[test]
fn a_missing_nic_drops_its_scenarios() {
    let text = std::fs::read_to_string(policy_path()).unwrap();
    let start = text.find("# Database tier.").unwrap();
    let end = start + text[start..].find("[[nsg]]").unwrap();
    let without_db = format!("{}{}", &text[..start], &text[end..]);
    let p = nsg_policy::load_str(&without_db, &policy_path(), &LoadOptions::default()).unwrap();
    assert!(p.nic_by_name("NIC4").is_none());
    let cap = demo_traffic(&p, 1);
    assert!(cap.len() > 3_000);
    for (_, f) in &cap.frames {
        let t = meta(f).tuple;
        for a in [t.src_ip(), t.dst_ip()] {
            assert!(a != ip("10.0.2.5") && a != ip("fd00:10:0:2::5"));
        }
    }
}

#[test]
fn the_demo_writes_a_readable_pcap() {
    let path = std::env::temp_dir().join(format!("nsg-demo-{}.pcap", std::process::id()));
    demo().write_pcap(&path).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let (ts, f) = &demo().frames[n];
        assert_eq!(p.timestamp().as_nanos(), u128::from(*ts));
        assert_eq!(p.data(), &f[..]);
        n += 1;
    }
    assert_eq!(n, demo().len());
    std::fs::remove_file(&path).unwrap();
}

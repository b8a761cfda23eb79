//! The demo traffic of `config/three-tier.toml`: deterministic, well
//! formed, and consistent with the policy: exactly the conversations the
//! reference evaluator allows are answered, and the scenarios the example
//! is about are all there.

mod common;

use common::{check_checksums, meta};
use nsg_dataplane::synth::{demo_traffic, Capture, DEMO_START_NS};
use nsg_packet::{FiveTuple, IcmpKind, PacketMeta, Transport};
use nsg_policy::{evaluate, Access, Direction, LoadOptions, Packet, Policy};
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

/// Conversations matching a predicate on their first tuple.
fn count(pred: impl Fn(&FiveTuple) -> bool, answered: bool) -> usize {
    conversations(demo())
        .values()
        .filter(|(t, c)| pred(t) && (c.syn_acks > 0 || (t.proto != 6 && c.replies > 0)) == answered)
        .count()
}

#[test]
fn the_scenarios_of_the_three_tier_example_are_there() {
    let web = [
        ip("10.0.1.4"),
        ip("10.0.1.5"),
        ip("fd00:10:0:1::4"),
        ip("fd00:10:0:1::5"),
    ];
    let logic = [ip("10.0.2.4"), ip("fd00:10:0:2::4")];
    let db = [ip("10.0.2.5"), ip("fd00:10:0:2::5")];
    let internet = |a: &IpAddr| !is_vnet(a);
    let tcp_to = |port: u16| move |t: &FiveTuple| t.proto == 6 && t.dst_port == port;

    // Internet HTTP to the web tier, both families: allowed, with data.
    for v6 in [false, true] {
        let http = |t: &FiveTuple| {
            tcp_to(80)(t)
                && internet(&t.src_ip())
                && web.contains(&t.dst_ip())
                && t.src_ip().is_ipv6() == v6
        };
        assert!(count(http, true) > 50, "Internet HTTP, IPv6 {v6}");
        assert_eq!(count(http, false), 0);
    }
    // Both web servers get some.
    for w in &web[..2] {
        assert!(count(|t| tcp_to(80)(t) && t.dst_ip() == *w, true) > 20);
    }
    // Denied from the Internet: 443 on web, 1433 and 22 on the database.
    let from_internet = |port: u16, to: &'static [IpAddr]| {
        move |t: &FiveTuple| tcp_to(port)(t) && internet(&t.src_ip()) && to.contains(&t.dst_ip())
    };
    let web_s: &'static [IpAddr] = Box::leak(Box::new(web));
    let db_s: &'static [IpAddr] = Box::leak(Box::new(db));
    let logic_s: &'static [IpAddr] = Box::leak(Box::new(logic));
    for (port, to) in [(443, web_s), (1433, db_s), (22, db_s)] {
        assert!(count(from_internet(port, to), false) > 5, "port {port}");
        assert_eq!(count(from_internet(port, to), true), 0, "port {port}");
    }
    // Inside the VNet: web to db 1433 denied, logic to db allowed, web to
    // logic 8080 allowed.
    let between = |from: &'static [IpAddr], to: &'static [IpAddr], port: u16| {
        move |t: &FiveTuple| {
            tcp_to(port)(t) && from.contains(&t.src_ip()) && to.contains(&t.dst_ip())
        }
    };
    assert!(count(between(web_s, db_s, 1433), false) > 5);
    assert_eq!(count(between(web_s, db_s, 1433), true), 0);
    assert!(count(between(logic_s, db_s, 1433), true) > 20);
    assert_eq!(count(between(logic_s, db_s, 1433), false), 0);
    assert!(count(between(web_s, logic_s, 8080), true) > 50);
    assert_eq!(count(between(web_s, logic_s, 8080), false), 0);
    // Outbound HTTPS to the Internet.
    let https_out = |t: &FiveTuple| tcp_to(443)(t) && is_vnet(&t.src_ip()) && internet(&t.dst_ip());
    assert!(count(https_out, true) >= 6);
    // Pings: answered inside the VNet, not from the Internet; both families.
    for v6 in [false, true] {
        let proto = if v6 { 58 } else { 1 };
        let ping = |from_internet: bool| {
            move |t: &FiveTuple| t.proto == proto && internet(&t.src_ip()) == from_internet
        };
        assert!(count(ping(false), true) >= 3, "IPv6 {v6}");
        assert!(count(ping(true), false) >= 4, "IPv6 {v6}");
        assert_eq!(count(ping(true), true), 0);
    }
    // DNS to the platform resolver and to an Internet resolver, answered.
    let dns_to = |server: IpAddr| {
        move |t: &FiveTuple| t.proto == 17 && t.dst_port == 53 && t.dst_ip() == server
    };
    assert!(count(dns_to(ip("168.63.129.16")), true) >= 16);
    assert!(count(dns_to(ip("192.0.2.53")), true) >= 8);
    assert!(count(dns_to(ip("2001:db8:53::53")), true) >= 8);
    // TCP connections end with FIN and with RST.
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

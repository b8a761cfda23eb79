//! The vector path ([`Worker::process_batch`]) against the one-frame path
//! ([`Worker::process`]): the same frames, fed one by one to one worker and
//! in batches of random sizes to another, give the same result per frame
//! (outcome, deciding rule, generation, state), the same flow events, the
//! same counters and the same flow table.
//!
//! The traffic: TCP connections (handshakes, data both ways, FIN, RST,
//! reopening by SYN), UDP exchanges, ICMP errors quoting live flows, IPv4
//! fragments (first and later ones, orphans), garbage frames, time jumping
//! past the timeouts, reloads to a policy that flushes, and a table small
//! enough to fill (evictions and refusals). Two NICs, A and B, in one VNet:
//! some flows cross both (outbound at one, inbound at the other), some
//! rules deny.

use nsg_dataplane::pipeline::{FlowEvent, FrameResult, Outcome, Worker, WorkerOptions};
use nsg_dataplane::policy::Published;
use nsg_flow::{ConnState, FlowInfo, FlowTable, FlowTableConfig, NicId, Timeouts, Timestamp};
use nsg_packet::wire::{icmp_message, ip_frame, udp_datagram, Endpoint, IpFields, TcpHeader};
use nsg_packet::TcpFlags;
use nsg_policy::Policy;
use proptest::prelude::*;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// NIC A, NIC B, then two hosts outside the VNet.
const HOSTS: [[u8; 4]; 4] = [
    [10, 0, 1, 4],
    [10, 0, 2, 5],
    [198, 51, 100, 7],
    [203, 0, 113, 9],
];
/// The router that sends ICMP errors.
const ROUTER: [u8; 4] = [192, 0, 2, 1];
const SERVER_PORTS: [u16; 4] = [80, 22, 23, 53];
const CLIENT_PORTS: [u16; 2] = [1000, 1001];
const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
/// The flags a segment may carry.
const FLAGS: [u8; 6] = [SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK];

/// The policy: A's NSG allows web (`web`) and DNS in, denies SSH in and
/// telnet out; B's allows web and SSH in and denies DNS in; the default
/// rules allow the VNet to itself and everything out.
fn policy(flush: bool, web: u16) -> Arc<Policy> {
    let rule = |name: &str, prio: u32, dir: &str, access: &str, proto: &str, port: u16| {
        format!(
            "[[nsg.rule]]\nname = \"{name}\"\npriority = {prio}\ndirection = \"{dir}\"\n\
             access = \"{access}\"\nprotocol = \"{proto}\"\nsource = \"*\"\n\
             destination = \"*\"\ndestination_ports = {port}\n"
        )
    };
    let text = [
        "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n".to_string(),
        "[[subnet]]\nname = \"SA\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"GA\"\n"
            .to_string(),
        "[[subnet]]\nname = \"SB\"\nvnet = \"V1\"\nprefixes = [\"10.0.2.0/24\"]\nnsg = \"GB\"\n"
            .to_string(),
        "[[nic]]\nname = \"NicA\"\nsubnet = \"SA\"\nips = [\"10.0.1.4\"]\n".to_string(),
        "[[nic]]\nname = \"NicB\"\nsubnet = \"SB\"\nips = [\"10.0.2.5\"]\n".to_string(),
        format!("[[nsg]]\nname = \"GA\"\nflush_connections = {flush}\n"),
        rule("Web", 100, "inbound", "allow", "tcp", web),
        rule("Dns", 110, "inbound", "allow", "udp", 53),
        rule("NoSsh", 120, "inbound", "deny", "tcp", 22),
        rule("NoTelnetOut", 130, "outbound", "deny", "tcp", 23),
        "[[nsg]]\nname = \"GB\"\n".to_string(),
        rule("Web", 100, "inbound", "allow", "tcp", 80),
        rule("Ssh", 110, "inbound", "allow", "tcp", 22),
        rule("NoDns", 120, "inbound", "deny", "udp", 53),
    ]
    .concat();
    Arc::new(nsg_policy::load_str(&text, Path::new("p.toml"), &Default::default()).unwrap())
}

/// Generation `generation` of the policy: even ones flush at A and move
/// A's web rule to port 443.
fn published(generation: u64) -> Arc<Published> {
    let p = if generation.is_multiple_of(2) {
        policy(true, 443)
    } else {
        policy(false, 80)
    };
    Arc::new(Published::new(p, generation).unwrap())
}

/// A table of `capacity` flows with short timeouts. The two tables compared
/// hash with one seed, so they place flows alike: whether a cuckoo insert
/// into a nearly full table finds room depends on where entries sit. An
/// eviction pass takes every candidate (`evict_batch` = capacity).
fn table(capacity: usize) -> FlowTable {
    let cfg = FlowTableConfig {
        capacity,
        timeouts: Timeouts {
            idle: Duration::from_secs(20),
            tcp_half_open: Duration::from_secs(3),
            tcp_closing: Duration::from_secs(3),
            icmp: Duration::from_secs(3),
        },
        fragment_capacity: 4,
        fragment_timeout: Duration::from_secs(2),
        evict_batch: capacity,
        evict_retry: Duration::from_secs(1),
        hash_seed: Some(0x5eed),
        ..FlowTableConfig::default()
    };
    FlowTable::new(cfg).unwrap()
}

fn endpoint(ip: [u8; 4]) -> Endpoint {
    Endpoint::new([2, 0, ip[0], ip[1], ip[2], ip[3]], IpAddr::from(ip))
}

/// A connection: client and server host (indices into [`HOSTS`], never
/// equal) and ports.
#[derive(Debug, Clone, Copy)]
struct Conv {
    client: usize,
    server: usize,
    client_port: u16,
    server_port: u16,
}

impl Conv {
    /// Source and destination address and port of a packet going to the
    /// server, or back.
    fn ends(&self, to_server: bool) -> (Endpoint, u16, Endpoint, u16) {
        let c = (endpoint(HOSTS[self.client]), self.client_port);
        let s = (endpoint(HOSTS[self.server]), self.server_port);
        let ((a, ap), (b, bp)) = if to_server { (c, s) } else { (s, c) };
        (a, ap, b, bp)
    }
}

/// One step of the traffic.
#[derive(Debug, Clone)]
enum Op {
    /// A TCP segment with `flags`.
    Tcp(Conv, bool, u8),
    /// A handshake, then data both ways.
    Handshake(Conv),
    /// A close: FIN from both sides and the last ACK, or a RST (`true`).
    Close(Conv, bool),
    /// A UDP datagram.
    Udp(Conv, bool),
    /// A router's ICMP error about a TCP packet of the connection going that
    /// way, sent back to its sender.
    IcmpError(Conv, bool),
    /// A UDP datagram in two IPv4 fragments with identification `id`: the
    /// first and/or the later one.
    Fragments(Conv, bool, u16, bool, bool),
    /// Bytes that do not parse.
    Garbage(usize),
    /// Time goes by (nanoseconds).
    Wait(u64),
    /// The next policy generation is published.
    Reload,
}

fn tcp_l4(sp: u16, dp: u16, flags: u8) -> Vec<u8> {
    TcpHeader {
        src_port: sp,
        dst_port: dp,
        seq: 1,
        ack: u32::from(flags & ACK != 0),
        flags,
        window: 1000,
        mss: None,
    }
    .segment(&[])
}

fn ip_fields(id: u16, frag: Option<(u16, bool)>) -> IpFields {
    IpFields {
        frag,
        ..IpFields::new(64, u32::from(id), false)
    }
}

/// The frames of one op (none for `Wait` and `Reload`).
fn frames_of(op: &Op) -> Vec<Vec<u8>> {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    match *op {
        Op::Tcp(c, to_server, flags) => {
            let (s, sp, d, dp) = c.ends(to_server);
            vec![ip_frame(
                &s,
                &d,
                TCP,
                &tcp_l4(sp, dp, flags),
                ip_fields(1, None),
            )]
        }
        Op::Handshake(c) => [(true, SYN), (false, SYN | ACK), (true, ACK), (false, ACK)]
            .iter()
            .flat_map(|&(t, f)| frames_of(&Op::Tcp(c, t, f)))
            .collect(),
        Op::Close(c, rst) => {
            let steps: &[(bool, u8)] = if rst {
                &[(true, RST | ACK)]
            } else {
                &[(true, FIN | ACK), (false, FIN | ACK), (true, ACK)]
            };
            steps
                .iter()
                .flat_map(|&(t, f)| frames_of(&Op::Tcp(c, t, f)))
                .collect()
        }
        Op::Udp(c, to_server) => {
            let (s, sp, d, dp) = c.ends(to_server);
            let l4 = udp_datagram(sp, dp, &[7; 8]);
            vec![ip_frame(&s, &d, UDP, &l4, ip_fields(1, None))]
        }
        Op::IcmpError(c, to_server) => {
            let (s, sp, d, dp) = c.ends(to_server);
            let quoted = ip_frame(&s, &d, TCP, &tcp_l4(sp, dp, ACK), ip_fields(1, None));
            let body = &quoted[14..14 + 20 + 8];
            let msg = icmp_message(3, 1, [0; 4], body);
            vec![ip_frame(&endpoint(ROUTER), &s, 1, &msg, ip_fields(9, None))]
        }
        Op::Fragments(c, to_server, id, first, later) => {
            let (s, sp, d, dp) = c.ends(to_server);
            let l4 = udp_datagram(sp, dp, &[5; 16]);
            let mut out = Vec::new();
            if first {
                out.push(ip_frame(
                    &s,
                    &d,
                    UDP,
                    &l4[..16],
                    ip_fields(id, Some((0, true))),
                ));
            }
            if later {
                out.push(ip_frame(
                    &s,
                    &d,
                    UDP,
                    &l4[16..],
                    ip_fields(id, Some((2, false))),
                ));
            }
            out
        }
        Op::Garbage(len) => vec![vec![0x5a; len]],
        Op::Wait(_) | Op::Reload => Vec::new(),
    }
}

/// Frames judged under one policy generation, each with its time.
struct Segment {
    policy: Arc<Published>,
    frames: Vec<(Vec<u8>, Timestamp)>,
}

/// The ops as segments: a frame every millisecond, from 1 s.
fn segments(ops: &[Op]) -> Vec<Segment> {
    let mut generation = 1;
    let mut out = vec![Segment {
        policy: published(generation),
        frames: Vec::new(),
    }];
    let mut now = 1_000_000_000u64;
    for op in ops {
        match op {
            Op::Wait(ns) => now += ns,
            Op::Reload => {
                generation += 1;
                out.push(Segment {
                    policy: published(generation),
                    frames: Vec::new(),
                });
            }
            _ => {
                for f in frames_of(op) {
                    now += 1_000_000;
                    if let Some(s) = out.last_mut() {
                        s.frames.push((f, Timestamp(now)));
                    }
                }
            }
        }
    }
    out
}

/// What a run left: per-frame results, flow events with their frame's
/// index, the worker (counters) and the table's entries, sorted.
struct Run {
    results: Vec<FrameResult>,
    events: Vec<(usize, FlowEvent)>,
    worker: Worker,
    entries: Vec<String>,
}

impl Run {
    fn new(results: Vec<FrameResult>, events: Vec<(usize, FlowEvent)>, worker: Worker) -> Run {
        let entries = entries(worker.table());
        Run {
            results,
            events,
            worker,
            entries,
        }
    }
}

fn options() -> WorkerOptions {
    WorkerOptions {
        drop_unmanaged: false,
        flow_events: true,
    }
}

fn entries(t: &FlowTable) -> Vec<String> {
    let mut v = Vec::new();
    t.for_each(|nic: NicId, info: &FlowInfo| v.push(format!("{nic:?} {info:?}")));
    v.sort();
    v
}

/// Every frame through [`Worker::process`].
fn one_by_one(segs: &[Segment], capacity: usize) -> Run {
    let mut worker = Worker::new(table(capacity), options());
    let (mut results, mut events) = (Vec::new(), Vec::new());
    for s in segs {
        for (f, ts) in &s.frames {
            let index = results.len();
            results.push(worker.process(&s.policy, f, *ts));
            events.extend(worker.events.drain(..).map(|e| (index, e)));
        }
    }
    Run::new(results, events, worker)
}

/// Every frame through [`Worker::process_batch`], in batches of the sizes
/// of `cuts`, in turn (a segment's last batch may be shorter).
fn batched(segs: &[Segment], capacity: usize, cuts: &[usize]) -> Run {
    let mut worker = Worker::new(table(capacity), options());
    let (mut results, mut events, mut out) = (Vec::new(), Vec::new(), Vec::new());
    let mut cut = cuts.iter().copied().cycle();
    for s in segs {
        let frames: Vec<(&[u8], Timestamp)> =
            s.frames.iter().map(|(f, t)| (f.as_slice(), *t)).collect();
        let mut rest = &frames[..];
        while !rest.is_empty() {
            let n = cut.next().unwrap_or(64).clamp(1, rest.len());
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let base = results.len();
            worker.process_batch(&s.policy, batch, &mut out);
            assert_eq!(out.len(), batch.len());
            results.extend_from_slice(&out);
            events.extend(
                worker
                    .batch_events
                    .iter()
                    .map(|&(i, e)| (base + i as usize, e)),
            );
        }
    }
    Run::new(results, events, worker)
}

/// Runs both ways and checks they agree in everything; returns the
/// one-frame run.
fn agree(ops: &[Op], capacity: usize, cuts: &[usize]) -> Result<Run, TestCaseError> {
    let segs = segments(ops);
    let mut one = one_by_one(&segs, capacity);
    let mut vec = batched(&segs, capacity, cuts);
    prop_assert_eq!(one.results.len(), vec.results.len());
    for (i, (a, b)) in one.results.iter().zip(&vec.results).enumerate() {
        prop_assert_eq!(a, b, "frame {}", i);
    }
    prop_assert_eq!(&one.events, &vec.events);
    let (sa, sb) = (one.worker.stats().clone(), vec.worker.stats().clone());
    prop_assert_eq!(sa.parse, sb.parse);
    prop_assert_eq!(sa.flow, sb.flow);
    prop_assert_eq!(sa.verdict, sb.verdict);
    prop_assert_eq!(&one.entries, &vec.entries);
    Ok(one)
}

fn conv() -> impl Strategy<Value = Conv> {
    (0..4usize, 1..4usize, 0..2usize, 0..4usize).prop_map(|(client, d, cp, sp)| Conv {
        client,
        server: (client + d) % 4,
        client_port: CLIENT_PORTS[cp],
        server_port: SERVER_PORTS[sp],
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => (conv(), any::<bool>(), 0..FLAGS.len()).prop_map(|(c, t, f)| Op::Tcp(c, t, FLAGS[f])),
        8 => conv().prop_map(Op::Handshake),
        4 => (conv(), any::<bool>()).prop_map(|(c, rst)| Op::Close(c, rst)),
        6 => (conv(), any::<bool>()).prop_map(|(c, t)| Op::Udp(c, t)),
        4 => (conv(), any::<bool>()).prop_map(|(c, t)| Op::IcmpError(c, t)),
        4 => (conv(), any::<bool>(), 0..3u16, any::<bool>(), any::<bool>())
            .prop_map(|(c, t, id, a, b)| Op::Fragments(c, t, id, a, b)),
        2 => (0..40usize).prop_map(Op::Garbage),
        3 => prop_oneof![Just(10_000_000u64), Just(2_500_000_000), Just(4_000_000_000), Just(25_000_000_000)]
            .prop_map(Op::Wait),
        1 => Just(Op::Reload),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random traffic, random batch boundaries: both paths agree.
    #[test]
    fn batches_agree_with_one_frame_at_a_time(
        ops in prop::collection::vec(op(), 1..400),
        capacity in 3..24usize,
        cuts in prop::collection::vec(1..=64usize, 1..8),
    ) {
        agree(&ops, capacity, &cuts)?;
    }
}

/// Client E1 (outside) to server A, port `port`.
fn web(port: u16) -> Conv {
    Conv {
        client: 2,
        server: 0,
        client_port: 1000,
        server_port: port,
    }
}

fn allowed_by_state(r: &FrameResult) -> bool {
    matches!(r.outcome, Outcome::Allowed { by_state: true, .. })
}

#[test]
fn syn_and_syn_ack_in_one_batch() {
    let ops = [
        Op::Tcp(web(80), true, SYN),
        Op::Tcp(web(80), false, SYN | ACK),
    ];
    let run = agree(&ops, 16, &[64]).unwrap();
    assert!(matches!(
        run.results[0].outcome,
        Outcome::Allowed {
            by_state: false,
            ..
        }
    ));
    assert!(allowed_by_state(&run.results[1]));
    assert_eq!(run.results[1].state, Some(ConnState::SynReceived));
}

#[test]
fn a_fragment_after_its_first_fragment_in_one_batch() {
    let dns = Conv {
        server_port: 53,
        ..web(53)
    };
    let ops = [Op::Fragments(dns, true, 7, true, true)];
    let run = agree(&ops, 16, &[64]).unwrap();
    assert!(run.results.iter().all(|r| r.outcome.passes()));
    assert!(allowed_by_state(&run.results[1]));
}

#[test]
fn an_icmp_error_after_the_flows_first_packet_in_one_batch() {
    // The SYN creates the flow at A; the router's error about the SYN-ACK
    // going back to the client is RELATED to it.
    let ops = [Op::Tcp(web(80), true, SYN), Op::IcmpError(web(80), false)];
    let run = agree(&ops, 16, &[64]).unwrap();
    assert!(allowed_by_state(&run.results[1]));
}

#[test]
fn a_flow_across_both_nics_and_a_reopen_after_rst_in_one_batch() {
    // A to B: outbound at A, inbound at B, both created by the SYN.
    let ab = Conv {
        client: 0,
        server: 1,
        client_port: 1000,
        server_port: 22,
    };
    let ops = [
        Op::Tcp(ab, true, SYN),
        Op::Tcp(ab, false, SYN | ACK),
        Op::Tcp(ab, true, RST),
        Op::Tcp(ab, true, SYN),
    ];
    let run = agree(&ops, 16, &[64]).unwrap();
    assert!(allowed_by_state(&run.results[1]));
    assert!(matches!(
        run.results[3].outcome,
        Outcome::Allowed {
            by_state: false,
            ..
        }
    ));
    assert_eq!(run.results[3].state, Some(ConnState::SynSent));
}

/// The random traffic does reach every path the property is about: one
/// long run of it, checked to agree, counted.
#[test]
fn the_traffic_reaches_every_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ops = prop::collection::vec(op(), 3000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let mut run = agree(&ops, 8, &[64, 3, 17, 40]).unwrap();
    let s = run.worker.stats().clone();
    let f = &s.flow;
    for (what, n) in [
        ("RELATED ICMP errors", f.related),
        ("fragments following their first", f.fragment_hits),
        ("orphan fragments", f.fragment_misses),
        ("reopened flows", f.reopened),
        ("entries expired at lookup", f.expired_on_lookup),
        ("re-evaluations", f.reevaluations),
        (
            "evictions",
            f.evicted_closed + f.evicted_closing + f.evicted_half_open,
        ),
        ("refusals", f.refusals),
        ("denials", s.verdict.denied),
        ("flows created", s.verdict.flows_created),
        ("frames allowed by state", s.verdict.allowed_by_state),
        (
            "parse faults",
            s.verdict.dropped - s.verdict.orphan_fragments - s.verdict.table_full,
        ),
        ("flow events", run.events.len() as u64),
    ] {
        assert!(n > 0, "no {what}: {f:?}");
    }
}

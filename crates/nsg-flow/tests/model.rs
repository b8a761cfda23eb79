//! The flow table against a model: a `HashMap` keyed by (NIC, canonical
//! tuple) that applies the documented rules directly. Random sequences of
//! lookups, inserts, removals, sweeps, policy changes and clock steps give
//! the same answers (hit or miss, direction, verdict, rule, generation,
//! state), the same counters per flow and the same statistics.

use std::collections::HashMap;
use std::time::Duration;

use nsg_flow::{
    ConnState, Decision, Direction, Epoch, FlowKey, FlowStats, FlowTable, FlowTableConfig,
    InsertOutcome, Lookup, NicId, Reevaluate, RuleId, Timestamp, Verdict,
};
use nsg_packet::{proto, Addr, Family, FiveTuple, PacketMeta, TcpFlags, Transport, Vlans};
use proptest::prelude::*;

/// Flows the sequences draw from: TCP and UDP, IPv4 and IPv6, two NICs.
const FLOWS: u8 = 8;

fn tuple(flow: u8) -> FiveTuple {
    let (src, dst, family) = if flow % 4 == 3 {
        let v6 = |last: u8| {
            let mut a = [0u8; 16];
            a[0] = 0xfd;
            a[15] = last;
            Addr::from_v6(a)
        };
        (v6(1), v6(2), Family::V6)
    } else {
        (
            Addr::from_v4([10, 0, 0, 1]),
            Addr::from_v4([10, 0, 0, 2]),
            Family::V4,
        )
    };
    FiveTuple {
        src,
        dst,
        src_port: 1000 + u16::from(flow),
        dst_port: 80,
        proto: if flow.is_multiple_of(2) {
            proto::TCP
        } else {
            proto::UDP
        },
        family,
    }
}

fn nic(flow: u8) -> NicId {
    NicId(u16::from(flow / 4))
}

fn packet(flow: u8, reply: bool, flags: u8, len: u16) -> PacketMeta {
    let t = tuple(flow);
    PacketMeta {
        tuple: if reply { t.reversed() } else { t },
        transport: if t.proto == proto::TCP {
            Transport::Tcp {
                flags: TcpFlags(flags),
            }
        } else {
            Transport::Udp
        },
        fragment: None,
        vlans: Vlans::default(),
        frame_len: u32::from(len),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Lookup {
        flow: u8,
        reply: bool,
        flags: u8,
        len: u16,
    },
    Insert {
        flow: u8,
        reply: bool,
        flags: u8,
        len: u16,
        deny: bool,
        rule: u32,
        flush: bool,
    },
    Remove {
        flow: u8,
        reply: bool,
    },
    Sweep,
    Advance(u64),
    Policy {
        generation: u64,
        flush: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![
        TcpFlags::SYN,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::ACK,
        TcpFlags::ACK | 0x08,
        TcpFlags::FIN | TcpFlags::ACK,
        TcpFlags::RST,
    ]);
    prop_oneof![
        6 => (0..FLOWS, any::<bool>(), flags.clone(), 40u16..1500)
            .prop_map(|(flow, reply, flags, len)| Op::Lookup { flow, reply, flags, len }),
        3 => (0..FLOWS, any::<bool>(), flags, 40u16..1500, any::<bool>(), 0u32..4, any::<bool>())
            .prop_map(|(flow, reply, flags, len, deny, rule, flush)| Op::Insert {
                flow, reply, flags, len, deny, rule, flush,
            }),
        1 => (0..FLOWS, any::<bool>()).prop_map(|(flow, reply)| Op::Remove { flow, reply }),
        1 => Just(Op::Sweep),
        2 => prop::sample::select(vec![0u64, 1, 29, 31, 100, 241]).prop_map(Op::Advance),
        1 => (1u64..4, any::<bool>()).prop_map(|(generation, flush)| Op::Policy { generation, flush }),
    ]
}

/// What the model keeps per flow.
#[derive(Debug, Clone, Copy)]
struct Entry {
    orig_forward: bool,
    decision: Decision,
    state: ConnState,
    fins: u8,
    packets: [u64; 2],
    bytes: [u64; 2],
    created: u64,
    last_seen: u64,
}

/// The documented idle timeouts (Azure defaults), in seconds.
fn timeout(state: ConnState, p: u8) -> u64 {
    use ConnState::*;
    match state {
        SynSent | SynReceived | TimeWait | Closed => 30,
        Established | FinWait | CloseWait => 240,
        Unreplied | Replied if p == proto::ICMP => 30,
        Unreplied | Replied => 240,
    }
}

#[derive(Default)]
struct Model {
    flows: HashMap<(NicId, [u64; 4], [u16; 2], u8), Entry>,
    stats: FlowStats,
}

type Key = (NicId, [u64; 4], [u16; 2], u8);

fn key_of(flow: u8, m: &PacketMeta) -> (Key, bool) {
    let (k, forward) = FlowKey::new(nic(flow), &m.tuple);
    (
        (
            k.nic,
            [k.a.hi, k.a.lo, k.b.hi, k.b.lo],
            [k.a_port, k.b_port],
            k.proto,
        ),
        forward,
    )
}

impl Entry {
    fn direction(&self, forward: bool) -> Direction {
        if forward == self.orig_forward {
            Direction::Original
        } else {
            Direction::Reply
        }
    }

    fn account(&mut self, dir: Direction, m: &PacketMeta, now: u64) {
        let i = dir.index();
        self.packets[i] += 1;
        self.bytes[i] += u64::from(m.frame_len);
        self.last_seen = self.last_seen.max(now);
        (self.state, self.fins) = self.state.next(dir, m.tcp_flags(), self.fins);
    }

    fn expired(&self, now: u64, p: u8) -> bool {
        now - self.last_seen >= timeout(self.state, p) * 1_000_000_000
    }
}

impl Model {
    fn lookup(&mut self, flow: u8, m: &PacketMeta, now: u64, epoch: Epoch) -> Lookup {
        let (k, forward) = key_of(flow, m);
        self.stats.lookups += 1;
        let Some(e) = self.flows.get_mut(&k) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        let syn_only = m.tcp_flags().is_some_and(|f| f.syn() && !f.ack());
        if e.expired(now, k.3) || (syn_only && e.state.reopens_on_syn()) {
            if e.expired(now, k.3) {
                self.stats.expired_on_lookup += 1;
            } else {
                self.stats.reopened += 1;
            }
            self.flows.remove(&k);
            self.stats.misses += 1;
            return Lookup::Miss;
        }
        let dir = e.direction(forward);
        if e.decision.generation != epoch.generation && (epoch.flush || e.decision.flush_on_change)
        {
            self.stats.reevaluations += 1;
            let original = if dir == Direction::Original {
                m.tuple
            } else {
                m.tuple.reversed()
            };
            return Lookup::Reevaluate(Reevaluate {
                original,
                direction: dir,
                old_verdict: e.decision.verdict,
            });
        }
        e.account(dir, m, now);
        self.stats.hits += 1;
        Lookup::Hit(nsg_flow::Hit {
            verdict: e.decision.verdict,
            rule: e.decision.rule,
            generation: e.decision.generation,
            direction: dir,
            state: e.state,
        })
    }

    fn insert(&mut self, flow: u8, m: &PacketMeta, d: Decision, now: u64) -> InsertOutcome {
        let (k, forward) = key_of(flow, m);
        if let Some(e) = self.flows.get_mut(&k) {
            let dir = e.direction(forward);
            e.decision = d;
            e.account(dir, m, now);
            self.stats.updates += 1;
            return InsertOutcome::Updated;
        }
        let (state, fins) = ConnState::initial(m);
        self.flows.insert(
            k,
            Entry {
                orig_forward: forward,
                decision: d,
                state,
                fins,
                packets: [1, 0],
                bytes: [u64::from(m.frame_len), 0],
                created: now,
                last_seen: now,
            },
        );
        self.stats.inserts += 1;
        InsertOutcome::Inserted
    }

    fn sweep(&mut self, now: u64) -> usize {
        let before = self.flows.len();
        self.flows.retain(|k, e| !e.expired(now, k.3));
        let n = before - self.flows.len();
        self.stats.expired += n as u64;
        n
    }
}

/// Runs `ops` on a table and the model side by side, comparing every
/// answer, then every flow's copy and the statistics.
fn run(ops: &[Op]) {
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: 64,
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut model = Model::default();
    let mut stats = FlowStats::default();
    let mut now = 0u64;
    let mut epoch = Epoch::new(1, false);
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Lookup {
                flow,
                reply,
                flags,
                len,
            } => {
                let m = packet(flow, reply, flags, len);
                let got = t.lookup(nic(flow), &m, Timestamp(now), epoch, &mut stats);
                let want = model.lookup(flow, &m, now, epoch);
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Op::Insert {
                flow,
                reply,
                flags,
                len,
                deny,
                rule,
                flush,
            } => {
                let m = packet(flow, reply, flags, len);
                let d = Decision {
                    verdict: if deny { Verdict::Deny } else { Verdict::Allow },
                    rule: RuleId(rule),
                    generation: epoch.generation,
                    flush_on_change: flush,
                };
                let got = t.insert(nic(flow), &m, d, Timestamp(now), &mut stats);
                let want = model.insert(flow, &m, d, now);
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Op::Remove { flow, reply } => {
                let m = packet(flow, reply, 0, 0);
                let got = t.remove(nic(flow), &m.tuple, &mut stats);
                let want = model.flows.remove(&key_of(flow, &m).0).is_some();
                model.stats.removed += u64::from(want);
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Op::Sweep => {
                assert_eq!(t.sweep(Timestamp(now), &mut stats), model.sweep(now));
            }
            Op::Advance(s) => now += Duration::from_secs(s).as_nanos() as u64,
            Op::Policy { generation, flush } => epoch = Epoch::new(generation, flush),
        }
        assert_eq!(t.len(), model.flows.len(), "step {step}");
    }
    for flow in 0..FLOWS {
        let m = packet(flow, false, 0, 0);
        let got = t.get(nic(flow), &m.tuple);
        let want = model.flows.get(&key_of(flow, &m).0);
        assert_eq!(got.is_some(), want.is_some(), "flow {flow}");
        let (Some(got), Some(want)) = (got, want) else {
            continue;
        };
        let original = if want.orig_forward == key_of(flow, &m).1 {
            m.tuple
        } else {
            m.tuple.reversed()
        };
        assert_eq!(got.original, original, "flow {flow}");
        assert_eq!(got.verdict, want.decision.verdict);
        assert_eq!(got.rule, want.decision.rule);
        assert_eq!(got.generation, want.decision.generation);
        assert_eq!(got.flush_on_change, want.decision.flush_on_change);
        assert_eq!(got.state, want.state);
        assert_eq!((got.packets, got.bytes), (want.packets, want.bytes));
        assert_eq!(got.created, Timestamp(want.created));
        assert_eq!(got.last_seen, Timestamp(want.last_seen));
    }
    assert_eq!(stats, model.stats);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_table_agrees_with_a_map_of_flows(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops);
    }
}

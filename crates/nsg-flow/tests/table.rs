//! Flow table behaviour: both directions, connection tracking with time
//! driven by hand, RELATED ICMP errors, fragments, flush on generation
//! change, eviction and refusal, with exact counter deltas.

use std::time::Duration;

use nsg_flow::{
    Clock, ConnState, Decision, Direction, Epoch, FlowStats, FlowTable, FlowTableConfig,
    InsertOutcome, Lookup, ManualClock, NicId, RuleId, Timeouts, Timestamp, Verdict,
};
use nsg_packet::{
    proto, Addr, Family, FiveTuple, Fragment, Icmp, IcmpKind, PacketMeta, TcpFlags, Transport,
    Vlans,
};

const NIC: NicId = NicId(1);
const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;

fn tuple(p: u8, src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> FiveTuple {
    FiveTuple {
        src: Addr::from_v4(src),
        dst: Addr::from_v4(dst),
        src_port: sp,
        dst_port: dp,
        proto: p,
        family: Family::V4,
    }
}

fn meta(t: FiveTuple, transport: Transport) -> PacketMeta {
    PacketMeta {
        tuple: t,
        transport,
        fragment: None,
        vlans: Vlans::default(),
        frame_len: 100,
    }
}

const CLIENT: [u8; 4] = [10, 0, 1, 4];
const SERVER: [u8; 4] = [10, 0, 2, 5];

fn c2s(flags: u8) -> PacketMeta {
    meta(
        tuple(proto::TCP, CLIENT, 50000, SERVER, 80),
        Transport::Tcp {
            flags: TcpFlags(flags),
        },
    )
}

fn s2c(flags: u8) -> PacketMeta {
    meta(
        tuple(proto::TCP, SERVER, 80, CLIENT, 50000),
        Transport::Tcp {
            flags: TcpFlags(flags),
        },
    )
}

fn udp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> PacketMeta {
    meta(tuple(proto::UDP, src, sp, dst, dp), Transport::Udp)
}

fn allow(rule: u32, generation: u64) -> Decision {
    Decision {
        verdict: Verdict::Allow,
        rule: RuleId(rule),
        generation,
        flush_on_change: false,
    }
}

fn table(capacity: usize) -> FlowTable {
    FlowTable::new(FlowTableConfig {
        capacity,
        evict_batch: 1,
        ..FlowTableConfig::default()
    })
    .unwrap()
}

fn hit(l: Lookup) -> nsg_flow::Hit {
    match l {
        Lookup::Hit(h) => h,
        other => panic!("expected a hit, got {other:?}"),
    }
}

#[test]
fn both_directions_find_one_entry_with_exact_counters() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    assert_eq!(
        t.lookup(NIC, &c2s(SYN), clock.now(), 1, &mut s),
        Lookup::Miss
    );
    assert_eq!(
        t.insert(NIC, &c2s(SYN), allow(7, 1), clock.now(), &mut s),
        InsertOutcome::Inserted
    );
    clock.advance(Duration::from_millis(1));
    let h = hit(t.lookup(NIC, &s2c(SYN | ACK), clock.now(), 1, &mut s));
    assert_eq!(h.direction, Direction::Reply);
    assert_eq!(h.state, ConnState::SynReceived);
    assert_eq!(h.rule, RuleId(7));
    assert_eq!(h.verdict, Verdict::Allow);
    let h = hit(t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s));
    assert_eq!(h.direction, Direction::Original);
    assert_eq!(h.state, ConnState::Established);
    // Another NIC has its own entries.
    assert_eq!(
        t.lookup(NicId(2), &c2s(ACK), clock.now(), 1, &mut s),
        Lookup::Miss
    );

    let info = t.get(NIC, &s2c(0).tuple).unwrap();
    assert_eq!(info.original, c2s(0).tuple);
    assert_eq!(info.packets, [2, 1]);
    assert_eq!(info.bytes, [200, 100]);
    assert_eq!(info.created, Timestamp(0));
    assert_eq!(info.last_seen, Timestamp(1_000_000));
    assert_eq!(t.len(), 1);
    assert_eq!(
        s,
        FlowStats {
            lookups: 4,
            hits: 2,
            misses: 2,
            inserts: 1,
            ..FlowStats::default()
        }
    );
}

#[test]
fn half_open_tcp_expires_after_30_seconds() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    t.insert(NIC, &c2s(SYN), allow(1, 1), clock.now(), &mut s);
    clock.advance(Duration::from_secs(29));
    hit(t.lookup(NIC, &c2s(SYN), clock.now(), 1, &mut s));
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        t.lookup(NIC, &c2s(SYN), clock.now(), 1, &mut s),
        Lookup::Miss
    );
    assert_eq!(s.expired_on_lookup, 1);
    assert_eq!(t.len(), 0);
}

#[test]
fn established_tcp_idles_out_after_the_vnet_timeout() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    t.insert(NIC, &c2s(ACK), allow(1, 1), clock.now(), &mut s);
    assert_eq!(
        t.get(NIC, &c2s(0).tuple).unwrap().state,
        ConnState::Established
    );
    clock.advance(Duration::from_secs(239));
    hit(t.lookup(NIC, &s2c(ACK), clock.now(), 1, &mut s));
    clock.advance(Duration::from_secs(239));
    hit(t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s));
    clock.advance(Duration::from_secs(240));
    assert_eq!(
        t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s),
        Lookup::Miss
    );

    // A NIC in a VNet with flow_timeout_minutes = 30.
    let nic30 = NicId(9);
    t.set_timeouts(nic30, Timeouts::with_flow_timeout_minutes(30).unwrap())
        .unwrap();
    t.insert(nic30, &c2s(ACK), allow(1, 1), clock.now(), &mut s);
    clock.advance(Duration::from_secs(29 * 60));
    hit(t.lookup(nic30, &c2s(ACK), clock.now(), 1, &mut s));
    clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(
        t.lookup(nic30, &c2s(ACK), clock.now(), 1, &mut s),
        Lookup::Miss
    );
    assert_eq!(s.expired_on_lookup, 2);
}

#[test]
fn fin_from_both_sides_and_rst_shorten_the_timeout() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    t.insert(NIC, &c2s(ACK), allow(1, 1), clock.now(), &mut s);
    assert_eq!(
        hit(t.lookup(NIC, &c2s(FIN | ACK), clock.now(), 1, &mut s)).state,
        ConnState::FinWait
    );
    assert_eq!(
        hit(t.lookup(NIC, &s2c(ACK), clock.now(), 1, &mut s)).state,
        ConnState::CloseWait
    );
    // Half-closed: still the idle timeout.
    clock.advance(Duration::from_secs(200));
    assert_eq!(
        hit(t.lookup(NIC, &s2c(FIN | ACK), clock.now(), 1, &mut s)).state,
        ConnState::TimeWait
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s),
        Lookup::Miss
    );

    t.insert(NIC, &c2s(ACK), allow(1, 1), clock.now(), &mut s);
    assert_eq!(
        hit(t.lookup(NIC, &s2c(RST), clock.now(), 1, &mut s)).state,
        ConnState::Closed
    );
    clock.advance(Duration::from_secs(29));
    assert_eq!(
        hit(t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s)).state,
        ConnState::Closed
    );
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        t.lookup(NIC, &c2s(ACK), clock.now(), 1, &mut s),
        Lookup::Miss
    );
    assert_eq!(s.expired_on_lookup, 2);
}

#[test]
fn a_syn_on_a_closed_flow_is_a_new_connection() {
    let mut t = table(16);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    t.insert(NIC, &c2s(SYN), allow(1, 1), now, &mut s);
    hit(t.lookup(NIC, &s2c(RST | ACK), now, 1, &mut s));
    assert_eq!(t.lookup(NIC, &c2s(SYN), now, 1, &mut s), Lookup::Miss);
    assert_eq!(s.reopened, 1);
    assert!(t.is_empty());
}

#[test]
fn udp_and_icmp_echo() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    let q = udp(CLIENT, 5353, SERVER, 53);
    let r = udp(SERVER, 53, CLIENT, 5353);
    t.insert(NIC, &q, allow(1, 1), clock.now(), &mut s);
    assert_eq!(t.get(NIC, &q.tuple).unwrap().state, ConnState::Unreplied);
    assert_eq!(
        hit(t.lookup(NIC, &r, clock.now(), 1, &mut s)).state,
        ConnState::Replied
    );
    clock.advance(Duration::from_secs(200));
    hit(t.lookup(NIC, &q, clock.now(), 1, &mut s));

    let echo = |src, dst, kind, ty| {
        meta(
            tuple(proto::ICMP, src, 0x77, dst, 0x77),
            Transport::Icmp(Icmp { ty, code: 0, kind }),
        )
    };
    let req = echo(CLIENT, SERVER, IcmpKind::EchoRequest, 8);
    let rep = echo(SERVER, CLIENT, IcmpKind::EchoReply, 0);
    t.insert(NIC, &req, allow(2, 1), clock.now(), &mut s);
    assert_eq!(
        hit(t.lookup(NIC, &rep, clock.now(), 1, &mut s)).direction,
        Direction::Reply
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(t.lookup(NIC, &req, clock.now(), 1, &mut s), Lookup::Miss);
    // The UDP flow idles 4 minutes.
    hit(t.lookup(NIC, &r, clock.now(), 1, &mut s));
}

#[test]
fn icmp_errors_quoting_a_live_flow_are_related() {
    let mut t = table(16);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    let q = udp(CLIENT, 5353, SERVER, 53);
    t.insert(NIC, &q, allow(4, 1), now, &mut s);
    let router = [10, 0, 0, 1];
    let err = |quoted| {
        meta(
            tuple(proto::ICMP, router, 0, CLIENT, 0),
            Transport::Icmp(Icmp {
                ty: 3,
                code: 3,
                kind: IcmpKind::Error { quoted },
            }),
        )
    };
    match t.lookup(NIC, &err(Some(q.tuple)), now, 1, &mut s) {
        Lookup::Related(h) => {
            assert_eq!(h.rule, RuleId(4));
            assert_eq!(h.direction, Direction::Reply);
        }
        other => panic!("{other:?}"),
    }
    // Quoting an unknown flow, or quoting nothing: evaluated on its own.
    let other = udp(CLIENT, 1, SERVER, 2);
    assert_eq!(
        t.lookup(NIC, &err(Some(other.tuple)), now, 1, &mut s),
        Lookup::Miss
    );
    assert_eq!(t.lookup(NIC, &err(None), now, 1, &mut s), Lookup::Miss);
    assert_eq!(t.get(NIC, &q.tuple).unwrap().packets, [1, 1]);
    assert_eq!(s.related, 1);
    assert_eq!(s.misses, 2);
    assert_eq!(s.hits, 0);
}

#[test]
fn later_fragments_follow_the_first() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    let mut first = udp(CLIENT, 5000, SERVER, 53);
    first.fragment = Some(Fragment {
        id: 9,
        offset: 0,
        more: true,
    });
    let mut later = meta(tuple(proto::UDP, CLIENT, 0, SERVER, 0), Transport::Fragment);
    later.fragment = Some(Fragment {
        id: 9,
        offset: 185,
        more: false,
    });

    // Before any first fragment: dropped.
    assert_eq!(
        t.lookup(NIC, &later, clock.now(), 1, &mut s),
        Lookup::FragmentMiss
    );
    assert_eq!(t.lookup(NIC, &first, clock.now(), 1, &mut s), Lookup::Miss);
    t.insert(NIC, &first, allow(3, 1), clock.now(), &mut s);
    assert_eq!(t.fragments_tracked(), 1);
    let h = hit(t.lookup(NIC, &later, clock.now(), 1, &mut s));
    assert_eq!((h.rule, h.direction), (RuleId(3), Direction::Original));
    assert_eq!(t.get(NIC, &first.tuple).unwrap().packets, [2, 0]);
    // Another datagram id of the same pair: unknown.
    let mut stray = later;
    stray.fragment = Some(Fragment {
        id: 10,
        offset: 185,
        more: false,
    });
    assert_eq!(
        t.lookup(NIC, &stray, clock.now(), 1, &mut s),
        Lookup::FragmentMiss
    );
    // The record times out after 30 s.
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        t.lookup(NIC, &later, clock.now(), 1, &mut s),
        Lookup::FragmentMiss
    );
    assert_eq!(t.fragments_tracked(), 0);
    // A first fragment seen again on a live flow is recorded again.
    hit(t.lookup(NIC, &first, clock.now(), 1, &mut s));
    hit(t.lookup(NIC, &later, clock.now(), 1, &mut s));
    assert_eq!(s.fragments_recorded, 2);
    assert_eq!(s.fragment_hits, 2);
    assert_eq!(s.fragment_misses, 3);
    // Sweep drops expired records.
    clock.advance(Duration::from_secs(31));
    t.sweep(clock.now(), &mut s);
    assert_eq!(s.fragments_expired, 1);
}

#[test]
fn flush_reevaluates_as_the_first_packet_was() {
    let mut t = table(16);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    let flushing = Decision {
        flush_on_change: true,
        ..allow(1, 1)
    };
    t.insert(NIC, &c2s(ACK), flushing, now, &mut s);
    let q = udp(CLIENT, 1, SERVER, 2);
    t.insert(NIC, &q, allow(2, 1), now, &mut s);
    // Same generation: a hit.
    hit(t.lookup(NIC, &s2c(ACK), now, 1, &mut s));
    // New generation: the reply packet asks for re-evaluation of the
    // original tuple.
    match t.lookup(NIC, &s2c(ACK), now, 2, &mut s) {
        Lookup::Reevaluate(r) => {
            assert_eq!(r.original, c2s(0).tuple);
            assert_eq!(r.direction, Direction::Reply);
            assert_eq!(r.old_verdict, Verdict::Allow);
        }
        other => panic!("{other:?}"),
    }
    // Entries not marked to flush keep their verdict.
    assert_eq!(hit(t.lookup(NIC, &q, now, 2, &mut s)).rule, RuleId(2));
    // The pipeline decides again: still allowed, by another rule.
    let again = Decision {
        rule: RuleId(5),
        generation: 2,
        ..flushing
    };
    assert_eq!(
        t.insert(NIC, &s2c(ACK), again, now, &mut s),
        InsertOutcome::Updated
    );
    let h = hit(t.lookup(NIC, &c2s(ACK), now, 2, &mut s));
    assert_eq!(h.rule, RuleId(5));
    let info = t.get(NIC, &c2s(0).tuple).unwrap();
    assert_eq!(info.original, c2s(0).tuple);
    assert_eq!(info.packets, [2, 2]);
    // Generation 3 denies it: the pipeline removes the entry.
    assert!(matches!(
        t.lookup(NIC, &c2s(ACK), now, 3, &mut s),
        Lookup::Reevaluate(_)
    ));
    assert!(t.remove(NIC, &c2s(0).tuple, &mut s));
    assert_eq!(t.lookup(NIC, &c2s(ACK), now, 3, &mut s), Lookup::Miss);
    assert_eq!(s.reevaluations, 2);
    assert_eq!(s.updates, 1);
    assert_eq!(s.removed, 1);
}

#[test]
fn a_policy_that_turns_flush_on_reevaluates_flows_made_without_it() {
    let mut t = table(16);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    // Decided under generation 1, whose policy did not flush at NIC.
    t.insert(NIC, &c2s(SYN), allow(1, 1), now, &mut s);
    assert!(!t.get(NIC, &c2s(0).tuple).unwrap().flush_on_change);
    // Generation 2 does not flush either: the entry keeps its verdict.
    assert_eq!(
        hit(t.lookup(NIC, &s2c(SYN | ACK), now, 2, &mut s)).rule,
        RuleId(1)
    );
    // Generation 3 flushes at NIC: the entry is decided again, whichever
    // way the packet goes, and the packet is not counted on it.
    let flushing = Epoch::new(3, true);
    for m in [c2s(ACK), s2c(ACK)] {
        match t.lookup(NIC, &m, now, flushing, &mut s) {
            Lookup::Reevaluate(r) => {
                assert_eq!(r.original, c2s(0).tuple);
                assert_eq!(r.old_verdict, Verdict::Allow);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(t.get(NIC, &c2s(0).tuple).unwrap().packets, [1, 1]);
    // The burst path gives the same answer.
    let mut out = Vec::new();
    t.lookup_burst(NIC, &[c2s(ACK)], now, flushing, &mut s, &mut out);
    assert!(matches!(out[..], [Lookup::Reevaluate(_)]));
    // Once decided under the current generation, the entry hits again.
    let again = Decision {
        flush_on_change: true,
        ..allow(7, 3)
    };
    t.insert(NIC, &c2s(ACK), again, now, &mut s);
    assert_eq!(
        hit(t.lookup(NIC, &s2c(ACK), now, flushing, &mut s)).rule,
        RuleId(7)
    );
    // A flushing policy at the same generation as the entry re-evaluates nothing.
    t.insert(NIC, &udp(CLIENT, 1, SERVER, 2), allow(8, 3), now, &mut s);
    let u = udp(SERVER, 2, CLIENT, 1);
    assert_eq!(
        hit(t.lookup(NIC, &u, now, flushing, &mut s)).rule,
        RuleId(8)
    );
    assert_eq!(s.reevaluations, 3);
}

#[test]
fn deny_decisions_are_kept_as_given() {
    let mut t = table(4);
    let mut s = FlowStats::default();
    let d = Decision {
        verdict: Verdict::Deny,
        ..allow(9, 1)
    };
    t.insert(NIC, &c2s(SYN), d, Timestamp(0), &mut s);
    assert_eq!(
        hit(t.lookup(NIC, &s2c(SYN | ACK), Timestamp(0), 1, &mut s)).verdict,
        Verdict::Deny
    );
}

fn flow(i: u16, flags: u8) -> PacketMeta {
    meta(
        tuple(proto::TCP, CLIENT, 10000 + i, SERVER, 443),
        Transport::Tcp {
            flags: TcpFlags(flags),
        },
    )
}

#[test]
fn a_full_table_of_established_flows_refuses_new_ones() {
    let mut t = table(4);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    for i in 0..4 {
        assert_eq!(
            t.insert(NIC, &flow(i, ACK), allow(1, 1), now, &mut s),
            InsertOutcome::Inserted
        );
    }
    assert_eq!(
        t.insert(NIC, &flow(4, SYN), allow(1, 1), now, &mut s),
        InsertOutcome::Refused
    );
    assert_eq!(
        t.insert(NIC, &udp(CLIENT, 1, SERVER, 2), allow(1, 1), now, &mut s),
        InsertOutcome::Refused
    );
    // An existing flow still takes a new decision.
    assert_eq!(
        t.insert(NIC, &flow(2, ACK), allow(2, 2), now, &mut s),
        InsertOutcome::Updated
    );
    assert_eq!(t.len(), 4);
    assert_eq!(s.refusals, 2);
    assert_eq!(s.evictions(), 0);
    for i in 0..4 {
        hit(t.lookup(NIC, &flow(i, ACK), now, 1, &mut s));
    }
    // Once they idle out, an eviction pass (after the retry interval) frees them.
    let later = Timestamp(0).after(Duration::from_secs(241));
    assert_eq!(
        t.insert(NIC, &flow(4, SYN), allow(1, 1), later, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(s.expired, 4);
    assert_eq!(t.len(), 1);
}

#[test]
fn eviction_takes_closed_then_closing_then_half_open() {
    let mut t = table(4);
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    t.insert(NIC, &flow(0, ACK), allow(1, 1), now, &mut s); // established
    t.insert(NIC, &flow(1, SYN), allow(1, 1), now, &mut s); // half-open
    t.insert(NIC, &flow(2, FIN | ACK), allow(1, 1), now, &mut s); // closing
    t.insert(NIC, &flow(3, RST), allow(1, 1), now, &mut s); // closed
    assert_eq!(
        t.insert(NIC, &flow(4, SYN), allow(1, 1), now, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(
        (s.evicted_closed, s.evicted_closing, s.evicted_half_open),
        (1, 0, 0)
    );
    assert!(t.get(NIC, &flow(3, 0).tuple).is_none());
    assert_eq!(
        t.insert(NIC, &flow(5, SYN), allow(1, 1), now, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(
        (s.evicted_closed, s.evicted_closing, s.evicted_half_open),
        (1, 1, 0)
    );
    assert!(t.get(NIC, &flow(2, 0).tuple).is_none());
    assert_eq!(
        t.insert(NIC, &flow(6, SYN), allow(1, 1), now, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(
        (s.evicted_closed, s.evicted_closing, s.evicted_half_open),
        (1, 1, 1)
    );
    // The established flow survives everything.
    hit(t.lookup(NIC, &flow(0, ACK), now, 1, &mut s));
    assert_eq!(t.len(), 4);
    assert_eq!(s.inserts, 7);
    assert_eq!(s.refusals, 0);
}

#[test]
fn sweep_removes_idle_entries_only() {
    let mut t = table(16);
    let clock = ManualClock::default();
    let mut s = FlowStats::default();
    t.insert(NIC, &flow(0, SYN), allow(1, 1), clock.now(), &mut s);
    t.insert(NIC, &flow(1, ACK), allow(1, 1), clock.now(), &mut s);
    clock.advance(Duration::from_secs(60));
    assert_eq!(t.sweep(clock.now(), &mut s), 1);
    assert_eq!(t.len(), 1);
    clock.advance(Duration::from_secs(200));
    assert_eq!(t.sweep(clock.now(), &mut s), 1);
    assert!(t.is_empty());
    assert_eq!(s.expired, 2);
}

#[test]
fn bad_configurations_are_refused() {
    use nsg_flow::ConfigError;
    let c = |capacity| FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    };
    assert_eq!(FlowTable::new(c(0)).unwrap_err(), ConfigError::ZeroCapacity);
    assert_eq!(
        FlowTable::new(c(1 << 32)).unwrap_err(),
        ConfigError::TooLarge(1 << 32)
    );
    let frags = FlowTableConfig {
        fragment_capacity: usize::MAX,
        ..c(10)
    };
    assert_eq!(
        FlowTable::new(frags).unwrap_err(),
        ConfigError::FragmentCapacity(usize::MAX)
    );
    assert!(FlowTable::with_capacity(10).is_ok());
}

#[test]
fn workers_own_their_tables() {
    let workers: Vec<_> = (0..2u16)
        .map(|w| {
            let mut t = table(10_000);
            std::thread::spawn(move || {
                let mut s = FlowStats::default();
                for i in 0..2000u16 {
                    let m = meta(
                        tuple(proto::UDP, [10, 0, w as u8, 1], i, SERVER, 53),
                        Transport::Udp,
                    );
                    if t.lookup(NIC, &m, Timestamp(0), 1, &mut s) == Lookup::Miss {
                        t.insert(NIC, &m, allow(1, 1), Timestamp(0), &mut s);
                    }
                    hit(t.lookup(NIC, &m, Timestamp(0), 1, &mut s));
                }
                (s, t.len())
            })
        })
        .collect();
    let mut total = FlowStats::default();
    let mut len = 0;
    for w in workers {
        let (s, n) = w.join().unwrap();
        total.merge(&s);
        len += n;
    }
    assert_eq!(len, 4000);
    assert_eq!(total.inserts, 4000);
    assert_eq!(total.hits, 4000);
    assert_eq!(total.lookups, 8000);
}

#[test]
fn burst_lookups_agree_with_single_lookups() {
    let mut a = table(1000);
    let mut b = table(1000);
    let mut sa = FlowStats::default();
    let mut sb = FlowStats::default();
    let now = Timestamp(0);
    // 100 established flows, every third (34) marked to flush; flow 5 closed.
    for t in [&mut a, &mut b] {
        let mut s = FlowStats::default();
        for i in 0..100 {
            let d = Decision {
                flush_on_change: i % 3 == 0,
                ..allow(i.into(), 1)
            };
            t.insert(NIC, &flow(i, ACK), d, now, &mut s);
        }
        t.lookup(NIC, &flow(5, RST), now, 1, &mut s);
        let mut first = udp(CLIENT, 7, SERVER, 8);
        first.fragment = Some(Fragment {
            id: 1,
            offset: 0,
            more: true,
        });
        t.insert(NIC, &first, allow(77, 1), now, &mut s);
    }
    let mut later = meta(tuple(proto::UDP, CLIENT, 0, SERVER, 0), Transport::Fragment);
    later.fragment = Some(Fragment {
        id: 1,
        offset: 10,
        more: false,
    });
    let related = meta(
        tuple(proto::ICMP, SERVER, 0, CLIENT, 0),
        Transport::Icmp(Icmp {
            ty: 3,
            code: 1,
            kind: IcmpKind::Error {
                quoted: Some(flow(9, 0).tuple),
            },
        }),
    );
    // Replies of flows 0..150 (50 misses), a SYN on the closed flow, a
    // fragment, a related error; at generation 2 (flush entries reevaluate).
    let mut packets: Vec<PacketMeta> = (0..150u16)
        .map(|i| {
            let mut m = flow(i, ACK);
            m.tuple = m.tuple.reversed();
            m
        })
        .collect();
    packets.push(flow(5, SYN));
    packets.push(later);
    packets.push(related);
    let mut out = Vec::new();
    let mut got = Vec::new();
    for chunk in packets.chunks(70) {
        a.lookup_burst(NIC, chunk, Timestamp(5), 2, &mut sa, &mut out);
        got.extend_from_slice(&out);
    }
    let want: Vec<Lookup> = packets
        .iter()
        .map(|m| b.lookup(NIC, m, Timestamp(5), 2, &mut sb))
        .collect();
    assert_eq!(got, want);
    assert_eq!(sa, sb);
    assert_eq!(sa.lookups, 153);
    assert_eq!(sa.reevaluations, 34);
    assert_eq!(sa.reopened, 1);
    assert_eq!(sa.fragment_hits, 1);
    assert_eq!(sa.related, 1);
    assert_eq!(a.get(NIC, &flow(4, 0).tuple), b.get(NIC, &flow(4, 0).tuple));
    // An empty burst gives no results.
    a.lookup_burst(NIC, &[], now, 2, &mut sa, &mut out);
    assert!(out.is_empty());
}

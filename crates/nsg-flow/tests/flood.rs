//! A flood of new flows past capacity: eviction frees a large batch per
//! pass (so few passes run), takes closing flows first, then half-open ones,
//! never established ones, counts every eviction, refusal and expiry, and
//! tries again only after the retry interval. And the memory of a table of
//! 1M flows, per flow.

use std::time::Duration;

use nsg_flow::{
    Decision, FlowStats, FlowTable, FlowTableConfig, InsertOutcome, NicId, RuleId, Timestamp,
    Verdict,
};
use nsg_packet::{proto, Addr, Family, FiveTuple, PacketMeta, TcpFlags, Transport, Vlans};

const NIC: NicId = NicId(0);

/// Flow `i`: a distinct source to one server port, with TCP `flags`.
fn flow(i: u32, flags: u8) -> PacketMeta {
    let b = i.to_be_bytes();
    PacketMeta {
        tuple: FiveTuple {
            src: Addr::from_v4([100, b[1], b[2], b[3]]),
            dst: Addr::from_v4([10, 0, 1, 4]),
            src_port: 40000 + (i % 1000) as u16,
            dst_port: 443,
            proto: proto::TCP,
            family: Family::V4,
        },
        transport: Transport::Tcp {
            flags: TcpFlags(flags),
        },
        fragment: None,
        vlans: Vlans::default(),
        frame_len: 60,
    }
}

fn allow() -> Decision {
    Decision {
        verdict: Verdict::Allow,
        rule: RuleId(1),
        generation: 1,
        flush_on_change: false,
    }
}

#[test]
fn a_syn_flood_past_capacity_is_taken_in_large_batches() {
    const N: u32 = 1600;
    const K: u32 = 1000;
    let mut t = FlowTable::with_capacity(N as usize).unwrap();
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    for i in 0..N + K {
        assert_eq!(
            t.insert(NIC, &flow(i, TcpFlags::SYN), allow(), now, &mut s),
            InsertOutcome::Inserted,
            "flow {i}"
        );
    }
    // Default batch: capacity / 8 = 200 flows per pass.
    assert_eq!(s.evict_passes, 5);
    assert_eq!(s.evicted_half_open, 1000);
    assert_eq!((s.evicted_closed, s.evicted_closing), (0, 0));
    assert_eq!((s.refusals, s.expired), (0, 0));
    assert_eq!(s.inserts, u64::from(N + K));
    assert_eq!(t.len(), N as usize);
}

#[test]
fn established_flows_survive_a_flood_and_it_is_refused() {
    const N: u32 = 64;
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: N as usize,
        evict_retry: Duration::from_secs(1),
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    for i in 0..N / 2 {
        t.insert(NIC, &flow(i, TcpFlags::ACK), allow(), now, &mut s);
    }
    for i in N / 2..N + 100 {
        t.insert(NIC, &flow(i, TcpFlags::SYN), allow(), now, &mut s);
    }
    // Batch 8 (64 / 8): 13 passes for the 100 SYNs past capacity.
    assert_eq!(s.evicted_half_open, 104);
    assert_eq!(s.refusals, 0);
    for i in 0..N / 2 {
        assert!(t.get(NIC, &flow(i, 0).tuple).is_some(), "established {i}");
    }
    // All established: new flows are refused, one pass per retry interval.
    for i in 0..N / 2 {
        let o = t.insert(
            NIC,
            &flow(N + 1000 + i, TcpFlags::ACK),
            allow(),
            now,
            &mut s,
        );
        assert_eq!(o, InsertOutcome::Inserted);
    }
    assert_eq!(s.evicted_half_open, 132);
    let passes = s.evict_passes;
    let mut refused = 0;
    for i in 0..50 {
        let o = t.insert(
            NIC,
            &flow(N + 5000 + i, TcpFlags::SYN),
            allow(),
            now,
            &mut s,
        );
        refused += u32::from(o == InsertOutcome::Refused);
    }
    assert_eq!(t.len(), N as usize);
    assert_eq!((refused, s.refusals), (50, 50));
    assert_eq!(s.evict_passes, passes + 1);
    // After the SYNs idle out, a pass counts them as expired.
    let later = now.after(Duration::from_secs(300));
    assert_eq!(
        t.insert(NIC, &flow(9_999, TcpFlags::SYN), allow(), later, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(s.expired, 64);
    assert_eq!(t.len(), 1);
}

/// Inserts flows `flows` with `flags` at time 0, every one taken.
fn insert_all(t: &mut FlowTable, flows: std::ops::Range<u32>, flags: u8, s: &mut FlowStats) {
    for i in flows {
        assert_eq!(
            t.insert(NIC, &flow(i, flags), allow(), Timestamp(0), s),
            InsertOutcome::Inserted,
            "flow {i}"
        );
    }
}

fn present(t: &FlowTable, flows: std::ops::Range<u32>) -> usize {
    flows
        .filter(|&i| t.get(NIC, &flow(i, 0).tuple).is_some())
        .count()
}

#[test]
fn closing_then_half_open_are_evicted_never_established_and_refusals_wait() {
    const ACK: u8 = TcpFlags::ACK;
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: 32,
        evict_retry: Duration::from_secs(1),
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut s = FlowStats::default();
    let now = Timestamp(0);
    // 8 established (0..8), 8 closing (8..16), 16 half-open (16..32).
    for i in 0..32 {
        let flags = match i {
            0..8 => ACK,
            8..16 => TcpFlags::FIN | ACK,
            _ => TcpFlags::SYN,
        };
        assert_eq!(
            t.insert(NIC, &flow(i, flags), allow(), now, &mut s),
            InsertOutcome::Inserted
        );
    }
    assert_eq!(t.len(), 32);
    // New established flows: a pass frees a batch of 32 / 8 = 4, closing
    // flows first.
    insert_all(&mut t, 100..108, ACK, &mut s);
    assert_eq!((s.evicted_closing, s.evicted_half_open), (8, 0));
    assert_eq!(s.evict_passes, 2);
    assert_eq!(present(&t, 8..16), 0);
    assert_eq!(present(&t, 16..32), 16);
    // Then the half-open ones.
    insert_all(&mut t, 108..124, ACK, &mut s);
    assert_eq!((s.evicted_closing, s.evicted_half_open), (8, 16));
    assert_eq!(s.evict_passes, 6);
    assert_eq!(present(&t, 0..8), 8, "established flows are never evicted");
    // All established: refused and counted; one pass, then none until the
    // retry interval has passed.
    for _ in 0..3 {
        assert_eq!(
            t.insert(NIC, &flow(500, TcpFlags::SYN), allow(), now, &mut s),
            InsertOutcome::Refused
        );
    }
    assert_eq!((s.refusals, s.evict_passes), (3, 7));
    let almost = now.after(Duration::from_millis(999));
    assert_eq!(
        t.insert(NIC, &flow(500, TcpFlags::SYN), allow(), almost, &mut s),
        InsertOutcome::Refused
    );
    assert_eq!((s.refusals, s.evict_passes), (4, 7));
    let second = now.after(Duration::from_secs(1));
    assert_eq!(
        t.insert(NIC, &flow(500, TcpFlags::SYN), allow(), second, &mut s),
        InsertOutcome::Refused
    );
    assert_eq!((s.refusals, s.evict_passes), (5, 8));
    assert_eq!(s.evictions(), 24);
    assert_eq!(t.len(), 32);
    // Once idle past the 4-minute timeout, the next pass frees them all.
    let later = now.after(Duration::from_secs(241));
    assert_eq!(
        t.insert(NIC, &flow(500, TcpFlags::SYN), allow(), later, &mut s),
        InsertOutcome::Inserted
    );
    assert_eq!(s.expired, 32);
    assert_eq!(t.len(), 1);
}

#[test]
fn a_table_of_1m_ipv4_flows_holds_them_in_128_bytes_each() {
    const FLOWS: u32 = 1_000_000;
    let mut t = FlowTable::with_capacity(FLOWS as usize).unwrap();
    let at_start = t.memory_bytes();
    let mut s = FlowStats::default();
    for i in 0..FLOWS {
        t.insert(NIC, &flow(i, TcpFlags::ACK), allow(), Timestamp(0), &mut s);
    }
    assert_eq!((t.len(), s.refusals), (FLOWS as usize, 0));
    assert_eq!(
        t.memory_bytes(),
        at_start,
        "nothing allocated while filling"
    );
    let per_flow = t.memory_bytes() as f64 / f64::from(FLOWS);
    println!(
        "1M IPv4 flows: {} bytes in all ({} of them the fragment table), {per_flow:.1} bytes per flow, {}",
        t.memory_bytes(),
        t.fragment_memory_bytes(),
        t.backing()
    );
    assert!(per_flow <= 128.0, "{per_flow:.1} bytes per flow");
}

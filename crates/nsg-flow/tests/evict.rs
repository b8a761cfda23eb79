//! A small full table: eviction takes closing flows first, then half-open
//! ones, never established ones; what it cannot place it refuses and
//! counts, trying again only after the retry interval. And the memory of
//! a table of 1M flows, per flow.

use std::time::Duration;

use nsg_flow::{
    Decision, FlowStats, FlowTable, FlowTableConfig, InsertOutcome, NicId, RuleId, Timestamp,
    Verdict,
};
use nsg_packet::{proto, Addr, Family, FiveTuple, PacketMeta, TcpFlags, Transport, Vlans};

const NIC: NicId = NicId(2);

fn tcp(i: u32, flags: u8) -> PacketMeta {
    let b = i.to_be_bytes();
    PacketMeta {
        tuple: FiveTuple {
            src: Addr::from_v4([10, b[1], b[2], b[3]]),
            dst: Addr::from_v4([10, 200, 0, 1]),
            src_port: 1024 + (i % 50_000) as u16,
            dst_port: 443,
            proto: proto::TCP,
            family: Family::V4,
        },
        transport: Transport::Tcp {
            flags: TcpFlags(flags),
        },
        fragment: None,
        vlans: Vlans::default(),
        frame_len: 64,
    }
}

const ALLOW: Decision = Decision {
    verdict: Verdict::Allow,
    rule: RuleId(1),
    generation: 1,
    flush_on_change: false,
};

fn present(t: &FlowTable, flows: std::ops::Range<u32>) -> usize {
    flows
        .filter(|&i| t.get(NIC, &tcp(i, 0).tuple).is_some())
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
            t.insert(NIC, &tcp(i, flags), ALLOW, now, &mut s),
            InsertOutcome::Inserted
        );
    }
    assert_eq!(t.len(), 32);
    // New established flows: a pass frees a batch of 32 / 8 = 4, closing
    // flows first.
    for i in 100..108 {
        assert_eq!(
            t.insert(NIC, &tcp(i, ACK), ALLOW, now, &mut s),
            InsertOutcome::Inserted
        );
    }
    assert_eq!((s.evicted_closing, s.evicted_half_open), (8, 0));
    assert_eq!(s.evict_passes, 2);
    assert_eq!(present(&t, 8..16), 0);
    assert_eq!(present(&t, 16..32), 16);
    // Then the half-open ones.
    for i in 108..124 {
        assert_eq!(
            t.insert(NIC, &tcp(i, ACK), ALLOW, now, &mut s),
            InsertOutcome::Inserted
        );
    }
    assert_eq!((s.evicted_closing, s.evicted_half_open), (8, 16));
    assert_eq!(s.evict_passes, 6);
    assert_eq!(present(&t, 0..8), 8, "established flows are never evicted");
    // All established: refused and counted; one pass, then none until the
    // retry interval has passed.
    for _ in 0..3 {
        assert_eq!(
            t.insert(NIC, &tcp(500, TcpFlags::SYN), ALLOW, now, &mut s),
            InsertOutcome::Refused
        );
    }
    assert_eq!((s.refusals, s.evict_passes), (3, 7));
    let almost = now.after(Duration::from_millis(999));
    assert_eq!(
        t.insert(NIC, &tcp(500, TcpFlags::SYN), ALLOW, almost, &mut s),
        InsertOutcome::Refused
    );
    assert_eq!((s.refusals, s.evict_passes), (4, 7));
    let second = now.after(Duration::from_secs(1));
    assert_eq!(
        t.insert(NIC, &tcp(500, TcpFlags::SYN), ALLOW, second, &mut s),
        InsertOutcome::Refused
    );
    assert_eq!((s.refusals, s.evict_passes), (5, 8));
    assert_eq!(s.evictions(), 24);
    assert_eq!(t.len(), 32);
    // Once idle past the 4-minute timeout, the next pass frees them all.
    let later = now.after(Duration::from_secs(241));
    assert_eq!(
        t.insert(NIC, &tcp(500, TcpFlags::SYN), ALLOW, later, &mut s),
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
        t.insert(NIC, &tcp(i, TcpFlags::ACK), ALLOW, Timestamp(0), &mut s);
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

//! A flood of new flows past capacity: eviction frees a large batch per
//! pass (so few passes run), takes only flows that are not established, and
//! counts every eviction, refusal and expiry.

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

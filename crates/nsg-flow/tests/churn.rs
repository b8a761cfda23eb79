//! A full table under constant churn (evictions making room for new flows)
//! keeps the memory it allocated at start: nothing grows.

use nsg_flow::{
    Decision, FlowStats, FlowTable, FlowTableConfig, InsertOutcome, NicId, RuleId, Timestamp,
    Verdict,
};
use nsg_packet::{proto, Addr, Family, FiveTuple, PacketMeta, Transport, Vlans};

const NIC: NicId = NicId(0);

/// UDP flow `i`: a distinct source address and port pair, as a flood sends.
fn udp(i: u32) -> PacketMeta {
    let b = i.to_be_bytes();
    PacketMeta {
        tuple: FiveTuple {
            src: Addr::from_v4([10, 0, 1, 4]),
            dst: Addr::from_v4([10, 0, 2, 4]),
            src_port: u16::from_be_bytes([b[2], b[3]]),
            dst_port: 1024 + u16::from_be_bytes([b[0], b[1]]),
            proto: proto::UDP,
            family: Family::V4,
        },
        transport: Transport::Udp,
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

/// Insert `n` new flows from `first` on, every one taken.
fn flood(t: &mut FlowTable, first: u32, n: u32, s: &mut FlowStats) {
    for i in first..first + n {
        let out = t.insert(NIC, &udp(i), allow(), Timestamp(u64::from(i)), s);
        assert_eq!(out, InsertOutcome::Inserted, "flow {i}");
    }
}

fn churn(capacity: usize) {
    let mut t = FlowTable::new(FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut s = FlowStats::default();
    let at_start = t.memory_bytes();
    let n = u32::try_from(capacity).unwrap();
    flood(&mut t, 0, n, &mut s);
    assert_eq!(t.len(), capacity);
    assert_eq!(s.evict_passes, 0);
    assert_eq!(t.memory_bytes(), at_start, "filling the table allocated");
    // Ten times the capacity past full: every insert needs an eviction
    // pass's room.
    flood(&mut t, n, 10 * n, &mut s);
    // The last pass freed a batch (capacity / 8) that is not all used yet.
    let batch = (capacity / 8).max(1);
    assert!(
        t.len() > capacity - batch && t.len() <= capacity,
        "{}",
        t.len()
    );
    assert_eq!(s.evicted_half_open, s.evict_passes * batch as u64);
    assert_eq!(s.inserts, u64::from(11 * n));
    assert!(s.evict_passes >= 80, "{} passes", s.evict_passes);
    assert_eq!(s.refusals, 0);
    assert_eq!(
        t.memory_bytes(),
        at_start,
        "churn past capacity grew the table (capacity {capacity})"
    );
}

#[test]
fn churn_past_capacity_keeps_the_memory_allocated_at_start() {
    churn(20_000);
}

#[test]
fn churn_keeps_memory_with_small_tables() {
    churn(4_096);
    churn(1_000);
    churn(100);
}

/// The first fragment of datagram `id` of one UDP flow.
fn first_fragment(id: u32) -> PacketMeta {
    let mut m = udp(0);
    m.fragment = Some(nsg_packet::Fragment {
        id,
        offset: 0,
        more: true,
    });
    m
}

#[test]
fn fragment_churn_at_capacity_keeps_the_memory_allocated_at_start() {
    const CAP: u32 = 4_096;
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: 16,
        fragment_capacity: CAP as usize,
        // A record lives 3,700 steps of 1 ns: the table stays nearly full.
        fragment_timeout: std::time::Duration::from_nanos(3_700),
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut s = FlowStats::default();
    t.insert(NIC, &first_fragment(0), allow(), Timestamp(0), &mut s);
    let at_start = t.fragment_memory_bytes();
    for i in 1..20 * CAP {
        let l = t.lookup(NIC, &first_fragment(i), Timestamp(u64::from(i)), 1, &mut s);
        assert!(matches!(l, nsg_flow::Lookup::Hit(_)), "{l:?}");
        if i % 256 == 0 {
            t.sweep(Timestamp(u64::from(i)), &mut s);
        }
        if i % 256 == 0 && i > CAP {
            assert!(t.fragments_tracked() >= 3_400, "{}", t.fragments_tracked());
        }
    }
    assert_eq!(s.fragment_refusals, 0);
    assert_eq!(s.fragments_recorded, u64::from(20 * CAP));
    assert!(s.fragments_expired > u64::from(18 * CAP), "{s:?}");
    assert_eq!(
        t.fragment_memory_bytes(),
        at_start,
        "fragment churn grew the map"
    );
}

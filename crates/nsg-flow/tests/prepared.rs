//! The prepared API: one hash per packet and NIC, shared by both directions
//! of a flow, used by the prefetches, the lookup and the insert.

use nsg_flow::{
    Decision, Direction, FlowStats, FlowTable, InsertOutcome, Lookup, NicId, RuleId, Timestamp,
    Verdict,
};
use nsg_packet::{proto, Addr, Family, FiveTuple, PacketMeta, Transport, Vlans};

fn udp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> PacketMeta {
    PacketMeta {
        tuple: FiveTuple {
            src: Addr::from_v4(src),
            dst: Addr::from_v4(dst),
            src_port: sp,
            dst_port: dp,
            proto: proto::UDP,
            family: Family::V4,
        },
        transport: Transport::Udp,
        fragment: None,
        vlans: Vlans::default(),
        frame_len: 90,
    }
}

#[test]
fn both_directions_prepare_one_key_and_hash_and_a_miss_inserts_with_it() {
    let mut t = FlowTable::with_capacity(64).unwrap();
    let mut s = FlowStats::default();
    let q = udp([10, 0, 0, 1], 5353, [10, 0, 0, 2], 53);
    let r = udp([10, 0, 0, 2], 53, [10, 0, 0, 1], 5353);
    let nic = NicId(1);
    let (pq, pr) = (t.prepare(nic, &q), t.prepare(nic, &r));
    assert_eq!((pq.key, pq.hash), (pr.key, pr.hash));
    assert_ne!(pq.forward, pr.forward);
    assert_ne!(t.prepare(NicId(2), &q).key, pq.key);
    // Prefetching a key that is not there is harmless.
    t.prefetch(&pq);
    t.prefetch_entry(&pq);
    assert_eq!(
        t.lookup_prepared(&pq, &q, Timestamp(0), 1, &mut s),
        Lookup::Miss
    );
    let d = Decision {
        verdict: Verdict::Allow,
        rule: RuleId(4),
        generation: 1,
        flush_on_change: false,
    };
    assert_eq!(
        t.insert_prepared(&pq, &q, d, Timestamp(0), &mut s),
        InsertOutcome::Inserted
    );
    t.prefetch(&pr);
    t.prefetch_entry(&pr);
    match t.lookup_prepared(&pr, &r, Timestamp(1), 1, &mut s) {
        Lookup::Hit(h) => {
            assert_eq!(h.direction, Direction::Reply);
            assert_eq!(h.rule, RuleId(4));
        }
        other => panic!("{other:?}"),
    }
    // The one-frame API finds the same entry.
    assert!(matches!(
        t.lookup(nic, &q, Timestamp(2), 1, &mut s),
        Lookup::Hit(_)
    ));
    assert_eq!(t.get(nic, &q.tuple).unwrap().packets, [2, 1]);
    assert_eq!((s.lookups, s.hits, s.misses, s.inserts), (3, 2, 1, 1));
}

#[test]
fn the_same_tuples_at_eight_nics_fill_the_table_to_capacity() {
    const TUPLES: u16 = 4096;
    let mut t = FlowTable::with_capacity(8 * usize::from(TUPLES)).unwrap();
    let mut s = FlowStats::default();
    let d = Decision {
        verdict: Verdict::Allow,
        rule: RuleId(1),
        generation: 1,
        flush_on_change: false,
    };
    for i in 0..TUPLES {
        let m = udp([10, 1, (i >> 8) as u8, i as u8], 1024, [10, 200, 0, 1], 53);
        let p = t.prepare(NicId(0), &m);
        for nic in 0..8 {
            let p = t.prepare_at(NicId(nic), &p);
            assert_eq!(p, t.prepare(NicId(nic), &m));
            assert_eq!(
                t.insert_prepared(&p, &m, d, Timestamp(0), &mut s),
                InsertOutcome::Inserted
            );
        }
    }
    // Every flow placed in its buckets, none moved out by a pass.
    assert_eq!(t.len(), 8 * usize::from(TUPLES));
    assert_eq!((s.evict_passes, s.refusals), (0, 0));
}

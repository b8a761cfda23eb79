//! Lookups prepared ahead of use: a packet's flow key at one NIC, hashed
//! once, so a caller holding a batch of packets can hash them all, bring
//! their buckets into cache, and then look them up in order.
//!
//! Over the shared dashmap table the prefetch calls are hints that do
//! nothing and the `*_prepared` calls answer exactly as
//! [`FlowTable::lookup`] and [`FlowTable::insert`] do; callers written
//! against these names keep their results when the table underneath changes.

use nsg_packet::PacketMeta;

use crate::clock::Timestamp;
use crate::entry::Decision;
use crate::key::{FlowKey, NicId};
use crate::stats::FlowStats;
use crate::table::{Epoch, FlowTable, InsertOutcome, Lookup};

/// A packet's flow key at one NIC, hashed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The canonical key of the packet's flow at the NIC.
    pub key: FlowKey,
    /// Whether the packet runs from the key's `a` end to its `b` end.
    pub forward: bool,
    /// The table's hash of `key`.
    pub hash: u64,
}

impl FlowTable {
    /// The key of `meta`'s flow at `nic` and its hash in this table.
    #[inline]
    pub fn prepare(&self, nic: NicId, meta: &PacketMeta) -> Prepared {
        let (key, forward) = FlowKey::new(nic, &meta.tuple);
        let hash = self.map.hash_usize(&key) as u64;
        Prepared { key, forward, hash }
    }

    /// Bring the bucket(s) `p` may sit in into cache; a hint only.
    #[inline]
    pub fn prefetch(&self, p: &Prepared) {
        let _ = p;
    }

    /// Bring the entry `p` would find into cache; a hint only.
    #[inline]
    pub fn prefetch_entry(&self, p: &Prepared) {
        let _ = p;
    }

    /// [`FlowTable::lookup`] of the packet `p` was prepared from (`meta`),
    /// with the same result and counters.
    #[inline]
    pub fn lookup_prepared(
        &self,
        p: &Prepared,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
    ) -> Lookup {
        self.lookup(p.key.nic, meta, now, epoch, stats)
    }

    /// [`FlowTable::insert`] of the packet `p` was prepared from (`meta`),
    /// with the same result and counters.
    #[inline]
    pub fn insert_prepared(
        &self,
        p: &Prepared,
        meta: &PacketMeta,
        decision: Decision,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> InsertOutcome {
        self.insert(p.key.nic, meta, decision, now, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RuleId, Verdict};
    use nsg_packet::{Addr, Family, FiveTuple, Transport};

    /// A UDP packet from port 1000 of `src` to port 53 of `dst`, or back
    /// when `reply`.
    fn meta(src: u32, dst: u32, reply: bool) -> PacketMeta {
        let ports = if reply { (53, 1000) } else { (1000, 53) };
        let tuple = FiveTuple {
            src: Addr {
                hi: 0,
                lo: u64::from(src),
            },
            dst: Addr {
                hi: 0,
                lo: u64::from(dst),
            },
            src_port: ports.0,
            dst_port: ports.1,
            proto: 17,
            family: Family::V4,
        };
        PacketMeta {
            tuple,
            transport: Transport::Udp,
            fragment: None,
            vlans: Default::default(),
            frame_len: 60,
        }
    }

    #[test]
    fn both_directions_prepare_one_key_and_hash() {
        let t = FlowTable::with_capacity(16).unwrap();
        let a = t.prepare(NicId(3), &meta(1, 2, false));
        let b = t.prepare(NicId(3), &meta(2, 1, true));
        assert_eq!((a.key, a.hash), (b.key, b.hash));
        assert_ne!(a.forward, b.forward);
        assert_ne!(t.prepare(NicId(4), &meta(1, 2, false)).key, a.key);
    }

    #[test]
    fn prepared_calls_answer_as_the_one_frame_calls() {
        let t = FlowTable::with_capacity(16).unwrap();
        let mut stats = FlowStats::default();
        let m = meta(1, 2, false);
        let p = t.prepare(NicId(0), &m);
        t.prefetch(&p);
        t.prefetch_entry(&p);
        assert_eq!(
            t.lookup_prepared(&p, &m, Timestamp(1), 1, &mut stats),
            Lookup::Miss
        );
        let d = Decision {
            verdict: Verdict::Allow,
            rule: RuleId(7),
            generation: 1,
            flush_on_change: false,
        };
        let out = t.insert_prepared(&p, &m, d, Timestamp(1), &mut stats);
        assert_eq!(out, InsertOutcome::Inserted);
        let reply = meta(2, 1, true);
        let q = t.prepare(NicId(0), &reply);
        match t.lookup_prepared(&q, &reply, Timestamp(2), 1, &mut stats) {
            Lookup::Hit(h) => assert_eq!(h.rule, RuleId(7)),
            other => panic!("expected a hit, got {other:?}"),
        }
        assert_eq!(
            (stats.lookups, stats.hits, stats.misses, stats.inserts),
            (2, 1, 1, 1)
        );
    }
}

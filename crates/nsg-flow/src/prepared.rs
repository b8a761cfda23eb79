//! The per-packet path, in steps a batched caller can interleave over many
//! frames: [`FlowTable::prepare`] hashes a packet's key once,
//! [`FlowTable::prefetch`] asks for its candidate buckets,
//! [`FlowTable::prefetch_entry`] (once the buckets have arrived) for the
//! entry whose tag matches, then [`FlowTable::lookup_prepared`] and, on a
//! miss the policy allows, [`FlowTable::insert_prepared`] use the hash
//! without computing it again. [`FlowTable::lookup`] and
//! [`FlowTable::insert`] are `prepare` followed by these.

use nsg_packet::{FiveTuple, PacketMeta};

use crate::clock::Timestamp;
use crate::conntrack::{quoted_tuple, ConnState};
use crate::entry::{Decision, Verdict};
use crate::key::{FlowKey, NicId};
use crate::local::{ColdEntry, EntryIndex, HotEntry};
use crate::stats::FlowStats;
use crate::table::{hit_of, Epoch, FlowTable, Hit, InsertOutcome, Lookup, Reevaluate};

/// A packet's flow key at one NIC, hashed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The flow's key: the NIC and the packet's tuple in canonical order.
    pub key: FlowKey,
    /// Whether the packet runs from the key's `a` end to its `b` end.
    pub forward: bool,
    /// The key's hash under this table's seed: it picks the buckets and the
    /// tag, so it is only valid for the table that prepared it.
    pub hash: u64,
    /// Whether the key's addresses live on the cold side (IPv6), worked
    /// out once for the prefetches and the lookup.
    pub wide: bool,
}

/// What a NIC adds to its flows' hashes: the NIC id times an odd constant
/// with well-spread bits (the golden ratio's), so nearby ids move far apart.
#[inline]
fn nic_offset(nic: NicId) -> u64 {
    u64::from(nic.0).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl FlowTable {
    /// The key of `meta`'s flow at `nic` and its hash, computed once for
    /// the prefetches, the lookup and the insert that follow.
    #[inline]
    pub fn prepare(&self, nic: NicId, meta: &PacketMeta) -> Prepared {
        let (key, forward) = FlowKey::new(nic, &meta.tuple);
        Prepared {
            key,
            forward,
            hash: self.hash_key(&key),
            wide: crate::local::is_wide(&key),
        }
    }

    /// The packet of `p` prepared at `nic` instead, without hashing again:
    /// a frame looked up at both NICs of a path shares its tuple's hash.
    #[inline]
    pub fn prepare_at(&self, nic: NicId, p: &Prepared) -> Prepared {
        Prepared {
            key: FlowKey { nic, ..p.key },
            forward: p.forward,
            wide: p.wide,
            hash: p
                .hash
                .wrapping_sub(nic_offset(p.key.nic))
                .wrapping_add(nic_offset(nic)),
        }
    }

    /// The hash of `key`: ahash of its canonical tuple (the NIC left out),
    /// plus an offset of the NIC. The offset moves all of a NIC's flows to
    /// other buckets and tags by the same amount (the primary bucket comes
    /// from the low 32 bits by multiply and shift, so an added constant
    /// rotates the buckets), leaving each NIC's flows as evenly spread as
    /// the tuple hash is; and a tuple is hashed once for any number of
    /// NICs ([`FlowTable::prepare_at`]).
    #[inline]
    pub(crate) fn hash_key(&self, key: &FlowKey) -> u64 {
        let tuple = (
            key.a.hi,
            key.a.lo,
            key.b.hi,
            key.b.lo,
            u64::from(key.a_port)
                | u64::from(key.b_port) << 16
                | u64::from(key.proto) << 32
                | (key.family as u64) << 40,
        );
        self.hasher
            .hash_one(tuple)
            .wrapping_add(nic_offset(key.nic))
    }

    /// Asks the memory for both candidate buckets of `p`'s key, without
    /// waiting: issue it for a whole batch before its lookups.
    #[inline]
    pub fn prefetch(&self, p: &Prepared) {
        self.store.prefetch_buckets(p.hash);
    }

    /// Reads `p`'s buckets (best prefetched a while before) and asks for
    /// the hot line of the entry whose tag matches, and for an IPv6 key its
    /// cold side too; nothing when no tag matches (a miss).
    #[inline]
    pub fn prefetch_entry(&self, p: &Prepared) {
        self.store.prefetch_match(p.hash, p.wide);
    }

    /// [`FlowTable::lookup`] of a prepared packet: find the flow, and in
    /// the same entry access count the packet, move the connection state
    /// and stamp the time. `p` must come from [`FlowTable::prepare`] of
    /// this table with `meta`.
    #[inline]
    pub fn lookup_prepared(
        &mut self,
        p: &Prepared,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
    ) -> Lookup {
        let epoch = epoch.into();
        stats.lookups += 1;
        if meta.is_non_first_fragment() {
            return self.lookup_fragment(p.key.nic, meta, now, &epoch, stats);
        }
        if let Some(q) = quoted_tuple(meta) {
            if let Some(hit) = self.lookup_related(p.key.nic, &q, meta, now, &epoch) {
                stats.related += 1;
                return Lookup::Related(hit);
            }
        }
        let Some(i) = self.store.lookup_wide(p.hash, &p.key, p.wide) else {
            stats.misses += 1;
            return Lookup::Miss;
        };
        self.lookup_entry(i, p, meta, now, &epoch, stats)
    }

    /// The lookup of a packet whose own flow is entry `i`.
    #[inline]
    fn lookup_entry(
        &mut self,
        i: EntryIndex,
        p: &Prepared,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: &Epoch,
        stats: &mut FlowStats,
    ) -> Lookup {
        let flags = meta.tcp_flags();
        let syn_only = flags.is_some_and(|f| f.syn() && !f.ack());
        let Some(mut e) = self.store.hot_mut(i) else {
            stats.misses += 1;
            return Lookup::Miss;
        };
        if self.timeouts.expired(&e, now.0) || (syn_only && e.state().reopens_on_syn()) {
            let expired = self.timeouts.expired(&e, now.0);
            self.store.remove(i);
            stats.expired_on_lookup += u64::from(expired);
            stats.reopened += u64::from(!expired);
            stats.misses += 1;
            return Lookup::Miss;
        }
        let dir = e.direction(p.forward);
        if epoch.reevaluates(&e) {
            stats.reevaluations += 1;
            return Lookup::Reevaluate(Reevaluate {
                original: p.key.tuple(e.orig_forward()),
                direction: dir,
                old_verdict: e.verdict(),
            });
        }
        e.account(dir, meta.frame_len, now);
        let (state, fins) = e.state().next(dir, flags, e.fins());
        e.set_state(state, fins);
        let hit = hit_of(&e, dir, epoch);
        stats.hits += 1;
        if meta.fragment.is_some() && hit.verdict == Verdict::Allow {
            self.frags.record(p.key.nic, meta, now.0, stats);
        }
        Lookup::Hit(hit)
    }

    /// An ICMP error quoting `quoted`: the quoted flow's answer, the error
    /// counted on it against the quoted packet's direction (its last-seen
    /// time and state unchanged).
    #[cold]
    fn lookup_related(
        &mut self,
        nic: NicId,
        quoted: &FiveTuple,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: &Epoch,
    ) -> Option<Hit> {
        let (key, forward) = FlowKey::new(nic, quoted);
        let i = self.find(&key)?;
        if self.expired(self.store.hot(i)?, now.0) {
            return None;
        }
        let mut e = self.store.hot_mut(i)?;
        // The error travels against the packet it quotes.
        let dir = e.direction(!forward);
        e.count(dir, meta.frame_len);
        Some(hit_of(&e, dir, epoch))
    }

    /// A non-first fragment: the answer of the flow its first fragment
    /// recorded, the fragment counted on it.
    #[cold]
    fn lookup_fragment(
        &mut self,
        nic: NicId,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: &Epoch,
        stats: &mut FlowStats,
    ) -> Lookup {
        let Some(rec) = self.frags.find(nic, meta, now.0) else {
            stats.fragment_misses += 1;
            return Lookup::FragmentMiss;
        };
        let live = self
            .find(&rec.flow)
            .filter(|&i| self.store.hot(i).is_some_and(|e| !self.expired(e, now.0)));
        let Some(mut e) = live.and_then(|i| self.store.hot_mut(i)) else {
            stats.fragment_misses += 1;
            return Lookup::FragmentMiss;
        };
        let dir = e.direction(rec.forward);
        e.account(dir, meta.frame_len, now);
        stats.fragment_hits += 1;
        Lookup::Hit(hit_of(&e, dir, epoch))
    }

    /// [`FlowTable::insert`] of a prepared packet. `p` must come from
    /// [`FlowTable::prepare`] of this table with `meta`.
    pub fn insert_prepared(
        &mut self,
        p: &Prepared,
        meta: &PacketMeta,
        decision: Decision,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> InsertOutcome {
        self.latest_generation = decision.generation;
        let outcome = if let Some(i) = self.store.lookup_wide(p.hash, &p.key, p.wide) {
            // A full table still takes a new decision for an existing entry.
            if let Some(mut e) = self.store.hot_mut(i) {
                let dir = e.direction(p.forward);
                e.set_decision(&decision);
                e.account(dir, meta.frame_len, now);
                let (state, fins) = e.state().next(dir, meta.tcp_flags(), e.fins());
                e.set_state(state, fins);
            }
            stats.updates += 1;
            InsertOutcome::Updated
        } else if self.insert_new(p, meta, &decision, now, stats) {
            stats.inserts += 1;
            InsertOutcome::Inserted
        } else {
            stats.refusals += 1;
            return InsertOutcome::Refused;
        };
        if meta.fragment.is_some() && decision.verdict == Verdict::Allow {
            self.frags.record(p.key.nic, meta, now.0, stats);
        }
        outcome
    }

    /// Stores a new entry, making room by an eviction pass if there is
    /// none; answers whether it was stored.
    fn insert_new(
        &mut self,
        p: &Prepared,
        meta: &PacketMeta,
        decision: &Decision,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> bool {
        let (state, fins) = ConnState::initial(meta);
        let mut hot = HotEntry::new(decision, state, p.forward, now, meta.frame_len);
        hot.set_state(state, fins);
        let cold = ColdEntry::new(now);
        // The caller looked the key up and did not find it; an eviction pass
        // removes entries, never adds one.
        self.store.insert_absent(p.hash, &p.key, hot, cold).is_ok()
            || (self.make_room(now, stats)
                && self.store.insert_absent(p.hash, &p.key, hot, cold).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_packet::{Addr, Family};

    /// Tuple `i` of a run of similar flows (one client subnet, one server).
    fn key(i: u32, nic: u16) -> FlowKey {
        let b = i.to_be_bytes();
        FlowKey {
            a: Addr::from_v4([10, 1, b[2], b[3]]),
            b: Addr::from_v4([10, 200, 0, 1]),
            a_port: 1024 + (i % 7) as u16,
            b_port: 443,
            nic: NicId(nic),
            proto: 6,
            family: Family::V4,
        }
    }

    #[test]
    fn the_same_tuples_at_many_nics_spread_evenly_over_buckets_and_tags() {
        let t = FlowTable::with_capacity(16).expect("small table");
        const BUCKETS: usize = 1024;
        let (mut buckets, mut tags) = (vec![0u32; BUCKETS], vec![0u32; 256]);
        for nic in 0..8 {
            for i in 0..4096 {
                let h = t.hash_key(&key(i, nic));
                buckets[(((h & 0xffff_ffff) * BUCKETS as u64) >> 32) as usize] += 1;
                tags[(h >> 56) as usize] += 1;
            }
        }
        // 32,768 keys: 32 a bucket and 128 a tag byte on average; a uniform
        // hash stays within about six standard deviations of that.
        let (lo, hi) = (buckets.iter().min(), buckets.iter().max());
        assert!(lo >= Some(&4) && hi <= Some(&70), "buckets {lo:?}..{hi:?}");
        let (lo, hi) = (tags.iter().min(), tags.iter().max());
        assert!(lo >= Some(&60) && hi <= Some(&200), "tags {lo:?}..{hi:?}");
    }

    #[test]
    fn a_packet_prepared_at_another_nic_hashes_as_if_prepared_there() {
        let t = FlowTable::with_capacity(16).expect("small table");
        for nic in [0, 1, 7, u16::MAX] {
            let k = key(3, nic);
            let p = Prepared {
                key: k,
                forward: true,
                hash: t.hash_key(&k),
                wide: false,
            };
            for other in [0, 2, 9, u16::MAX] {
                let q = t.prepare_at(NicId(other), &p);
                assert_eq!(q.key, key(3, other));
                assert_eq!(q.hash, t.hash_key(&q.key));
                assert!(q.forward);
            }
        }
    }
}

//! The flow table's slow path: the periodic sweep of idle entries and the
//! eviction pass that makes room when the table is full.

use std::sync::atomic::Ordering;

use crate::clock::{nanos, Timestamp};
use crate::conntrack::EvictClass;
use crate::key::FlowKey;
use crate::stats::FlowStats;
use crate::table::FlowTable;

impl FlowTable {
    /// Remove every entry idle past its timeout, and every fragment record
    /// past its own; returns the entries removed. Call it periodically (every
    /// few seconds); lookups also expire the entries they find idle.
    pub fn sweep(&self, now: Timestamp, stats: &mut FlowStats) -> usize {
        let mut expired = 0usize;
        self.map.retain(|k, e| {
            let keep = !e.expired(now.0, k.proto, &self.timeouts_ns(k.nic));
            expired += usize::from(!keep);
            keep
        });
        self.len.fetch_sub(expired, Ordering::Relaxed);
        stats.expired += expired as u64;
        stats.fragments_expired += self.frags.sweep(now.0) as u64;
        expired
    }

    /// Free room for new flows when the table is full. One pass at a time,
    /// of at most two walks over the map:
    ///
    /// 1. remove every idle entry and every TCP flow after RST or FIN from
    ///    both sides (closed), counting the closing and half-open flows seen
    ///    in each shard;
    /// 2. if fewer than `evict_batch` were freed, remove closing flows (FIN
    ///    from one side), then half-open ones (unanswered SYN, UDP/ICMP
    ///    without a reply), up to the batch, closing ones first, each shard
    ///    giving its share in proportion to what it holds of each class.
    ///
    /// Taking from every shard in proportion keeps the shards level (new
    /// flows hash evenly over them): a walk in shard order that stopped at
    /// the batch would empty the first shards and let the last ones fill up
    /// until they outgrow the room reserved for them. Established flows are
    /// never evicted. The batch is large (by default capacity / 8), so the
    /// walks' cost spread over the new flows the pass makes room for is a few
    /// entry visits per flow: past capacity, new flows keep most of the rate
    /// they have below it. Returns whether anything was freed; after a pass
    /// that freed nothing, none is tried for `evict_retry`.
    pub(crate) fn make_room(&self, now: Timestamp, stats: &mut FlowStats) -> bool {
        let mut state = match self.evict.lock() {
            Ok(g) => g,
            // A pass panicked in another thread: the table is still sound
            // (entries are removed one by one), so carry on.
            Err(poisoned) => poisoned.into_inner(),
        };
        // Another worker may have made room while this one waited.
        if self.len() < self.cfg.capacity {
            return true;
        }
        if now.0 < state.retry_at {
            return false;
        }
        stats.evict_passes += 1;
        let (mut freed, census) = self.remove_closed(now, stats);
        state.first_extra = (state.first_extra + 1) % self.cfg.shards;
        freed += self.evict_open(&census, freed, state.first_extra, stats);
        self.len.fetch_sub(freed, Ordering::Relaxed);
        if freed == 0 {
            state.retry_at = now.0.saturating_add(nanos(self.cfg.evict_retry));
        }
        freed > 0
    }

    /// The shard that holds `key`.
    fn shard_of(&self, key: &FlowKey) -> usize {
        self.map.determine_shard(self.map.hash_usize(key))
    }

    /// Walk 1: remove idle entries and closed TCP flows; returns how many,
    /// and the closing and half-open flows seen in each shard.
    fn remove_closed(&self, now: Timestamp, stats: &mut FlowStats) -> (usize, Census) {
        let mut census = Census::new(self.cfg.shards);
        let (mut expired, mut closed) = (0u64, 0u64);
        self.map.retain(|k, e| {
            if e.expired(now.0, k.proto, &self.timeouts_ns(k.nic)) {
                expired += 1;
                return false;
            }
            match e.state.evict_class() {
                EvictClass::Closed => {
                    closed += 1;
                    return false;
                }
                EvictClass::Closing => census.count(CLOSING, self.shard_of(k)),
                EvictClass::HalfOpen => census.count(HALF_OPEN, self.shard_of(k)),
                EvictClass::Established => {}
            }
            true
        });
        stats.expired += expired;
        stats.evicted_closed += closed;
        ((expired + closed) as usize, census)
    }

    /// Walk 2: remove closing, then half-open flows, until `freed` reaches
    /// the batch, each shard its share; returns how many were removed.
    fn evict_open(
        &self,
        census: &Census,
        freed: usize,
        first_extra: usize,
        stats: &mut FlowStats,
    ) -> usize {
        let target = self.cfg.evict_batch;
        let closing = census.total(CLOSING).min(target.saturating_sub(freed));
        let half_open = census
            .total(HALF_OPEN)
            .min(target.saturating_sub(freed + closing));
        if closing + half_open == 0 {
            return 0;
        }
        let mut quota = [closing, half_open];
        let mut share = [
            census.shares(CLOSING, closing, first_extra),
            census.shares(HALF_OPEN, half_open, first_extra),
        ];
        let mut removed = [0u64; 2];
        self.map.retain(|k, e| {
            let class = match e.state.evict_class() {
                EvictClass::Closing => CLOSING,
                EvictClass::HalfOpen => HALF_OPEN,
                _ => return true,
            };
            if quota[class] == 0 {
                return true;
            }
            let slot = &mut share[class][self.shard_of(k)];
            if *slot == 0 {
                return true;
            }
            *slot -= 1;
            quota[class] -= 1;
            removed[class] += 1;
            false
        });
        stats.evicted_closing += removed[CLOSING];
        stats.evicted_half_open += removed[HALF_OPEN];
        (removed[CLOSING] + removed[HALF_OPEN]) as usize
    }
}

/// The eviction pass's state between passes.
#[derive(Debug, Default)]
pub(crate) struct EvictState {
    /// The time before which no pass is tried again.
    retry_at: u64,
    /// The shard that gets the first of the shares' remainders.
    first_extra: usize,
}

const CLOSING: usize = 0;
const HALF_OPEN: usize = 1;

/// Evictable flows seen in each shard, by class.
struct Census {
    seen: [Vec<usize>; 2],
}

impl Census {
    fn new(shards: usize) -> Census {
        Census {
            seen: [vec![0; shards], vec![0; shards]],
        }
    }

    fn count(&mut self, class: usize, shard: usize) {
        if let Some(n) = self.seen[class].get_mut(shard) {
            *n += 1;
        }
    }

    fn total(&self, class: usize) -> usize {
        self.seen[class].iter().sum()
    }

    /// Each shard's share of `quota` flows of `class`, in proportion to
    /// what it holds: rounded down, then the rest one more each to the
    /// shards left with a fraction, from `first` on (it turns with every
    /// pass, so that no shard gives less than its share pass after pass).
    /// The shares add up to the quota, and no shard gives more than it holds.
    fn shares(&self, class: usize, quota: usize, first: usize) -> Vec<usize> {
        let seen = &self.seen[class];
        let total = self.total(class).max(1);
        let mut share: Vec<usize> = seen.iter().map(|&n| n * quota / total).collect();
        let mut rest = quota.saturating_sub(share.iter().sum());
        let shards = seen.len();
        for i in (0..shards).map(|i| (first + i) % shards) {
            if rest == 0 {
                break;
            }
            // What rounding down left of this shard's exact share.
            if seen[i] * quota > share[i] * total {
                share[i] += 1;
                rest -= 1;
            }
        }
        share
    }
}

impl FlowTable {
    /// Visit every entry, live or idle: the NIC it belongs to and a copy of
    /// it (flow logs report the flows still open at the end of a capture).
    pub fn for_each(&self, mut f: impl FnMut(crate::key::NicId, &crate::entry::FlowInfo)) {
        for r in self.map.iter() {
            f(r.key().nic, &r.value().snapshot(r.key()));
        }
    }
}

//! The flow table's slow path: the periodic sweep of idle entries and the
//! eviction pass that makes room when the table is full.

use std::sync::atomic::Ordering;

use crate::clock::{nanos, Timestamp};
use crate::conntrack::EvictClass;
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

    /// Free room for new flows when the table is full. One pass at a time;
    /// it removes idle entries and TCP flows after RST or FIN from both sides,
    /// then, while fewer than `evict_batch` were freed, flows with a FIN from
    /// one side, then half-open ones. Established flows are never evicted.
    /// Returns whether anything was freed; after a pass that freed nothing,
    /// none is tried for `evict_retry`.
    pub(crate) fn make_room(&self, now: Timestamp, stats: &mut FlowStats) -> bool {
        let mut retry_at = match self.evict.lock() {
            Ok(g) => g,
            // A pass panicked in another thread: the table is still sound
            // (entries are removed one by one), so carry on.
            Err(poisoned) => poisoned.into_inner(),
        };
        // Another worker may have made room while this one waited.
        if self.len() < self.cfg.capacity {
            return true;
        }
        if now.0 < *retry_at {
            return false;
        }
        let target = self.cfg.evict_batch;
        let mut freed = 0usize;

        // Pass 1: idle entries and closed TCP flows.
        let (mut expired, mut closed) = (0u64, 0u64);
        self.map.retain(|k, e| {
            if e.expired(now.0, k.proto, &self.timeouts_ns(k.nic)) {
                expired += 1;
                false
            } else if e.state.evict_class() == EvictClass::Closed {
                closed += 1;
                false
            } else {
                true
            }
        });
        freed += (expired + closed) as usize;
        stats.expired += expired;
        stats.evicted_closed += closed;

        // Passes 2 and 3: closing, then half-open, up to the batch.
        for class in [EvictClass::Closing, EvictClass::HalfOpen] {
            if freed >= target {
                break;
            }
            let mut budget = target - freed;
            let mut n = 0u64;
            self.map.retain(|_, e| {
                if budget > 0 && e.state.evict_class() == class {
                    budget -= 1;
                    n += 1;
                    false
                } else {
                    true
                }
            });
            freed += n as usize;
            match class {
                EvictClass::Closing => stats.evicted_closing += n,
                _ => stats.evicted_half_open += n,
            }
        }
        self.len.fetch_sub(freed, Ordering::Relaxed);
        if freed == 0 {
            *retry_at = now.0.saturating_add(nanos(self.cfg.evict_retry));
        }
        freed > 0
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

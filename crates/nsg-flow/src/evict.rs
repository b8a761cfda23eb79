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

    /// Free room for new flows when the table is full. One pass at a time,
    /// of at most two walks over the map:
    ///
    /// 1. remove every idle entry and every TCP flow after RST or FIN from
    ///    both sides (closed), counting the closing and half-open flows seen;
    /// 2. if fewer than `evict_batch` were freed, remove closing flows (FIN
    ///    from one side), then half-open ones (unanswered SYN, UDP/ICMP
    ///    without a reply), up to the batch, closing ones first.
    ///
    /// Established flows are never evicted. The batch is large (by default
    /// capacity / 16), so the walks' cost spread over the new flows the pass
    /// makes room for is a few entry visits per flow: past capacity, new
    /// flows keep most of the rate they have below it. Returns whether
    /// anything was freed; after a pass that freed nothing, none is tried
    /// for `evict_retry`.
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
        stats.evict_passes += 1;

        // Walk 1: idle entries and closed TCP flows; a census of the rest.
        let (mut expired, mut closed) = (0u64, 0u64);
        let (mut closing_seen, mut half_open_seen) = (0usize, 0usize);
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
                EvictClass::Closing => closing_seen += 1,
                EvictClass::HalfOpen => half_open_seen += 1,
                EvictClass::Established => {}
            }
            true
        });
        let mut freed = (expired + closed) as usize;
        stats.expired += expired;
        stats.evicted_closed += closed;

        // Walk 2: closing, then half-open flows, up to the batch.
        let mut closing_quota = closing_seen.min(target.saturating_sub(freed));
        let mut half_open_quota = half_open_seen.min(target.saturating_sub(freed + closing_quota));
        if closing_quota + half_open_quota > 0 {
            let (mut closing, mut half_open) = (0u64, 0u64);
            self.map.retain(|_, e| match e.state.evict_class() {
                EvictClass::Closing if closing_quota > 0 => {
                    closing_quota -= 1;
                    closing += 1;
                    false
                }
                EvictClass::HalfOpen if half_open_quota > 0 => {
                    half_open_quota -= 1;
                    half_open += 1;
                    false
                }
                _ => true,
            });
            freed += (closing + half_open) as usize;
            stats.evicted_closing += closing;
            stats.evicted_half_open += half_open;
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

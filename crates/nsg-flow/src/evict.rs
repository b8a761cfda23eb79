//! The flow table's slow path: the periodic sweep of idle entries and the
//! eviction pass that makes room when the table is full.

use crate::clock::{nanos, Timestamp};
use crate::conntrack::EvictClass;
use crate::stats::FlowStats;
use crate::table::FlowTable;

impl FlowTable {
    /// Remove every entry idle past its timeout, and every fragment record
    /// past its own; returns the entries removed. Call it periodically (every
    /// few seconds); lookups also expire the entries they find idle.
    pub fn sweep(&mut self, now: Timestamp, stats: &mut FlowStats) -> usize {
        let t = &self.timeouts;
        let expired = self.store.retain(|e| !t.expired(e, now.0));
        stats.expired += expired as u64;
        stats.fragments_expired += self.frags.sweep(now.0) as u64;
        expired
    }

    /// Free room for new flows when the table is full. A pass is at most
    /// two walks over the live entries:
    ///
    /// 1. remove every idle entry and every TCP flow after RST or FIN from
    ///    both sides (closed), counting the closing and half-open flows seen;
    /// 2. if fewer than `evict_batch` were freed, remove closing flows (FIN
    ///    from one side), then half-open ones (unanswered SYN, UDP/ICMP
    ///    without a reply), up to the batch, closing ones first: of each
    ///    class, an even stride over the walk (every k-th flow of the class
    ///    for a share of 1/k), so the entries freed are spread over the
    ///    table rather than bunched at its start.
    ///
    /// Established flows are never evicted. The batch is large (by default
    /// capacity / 8), so the walks' cost spread over the new flows the pass
    /// makes room for is a few entry visits per flow: past capacity, new
    /// flows keep most of the rate they have below it. Returns whether
    /// anything was freed; after a pass that freed nothing, none is tried
    /// for `evict_retry`.
    pub(crate) fn make_room(&mut self, now: Timestamp, stats: &mut FlowStats) -> bool {
        if now.0 < self.evict_retry_at {
            return false;
        }
        stats.evict_passes += 1;
        let (mut freed, seen) = self.remove_closed(now, stats);
        freed += self.evict_open(seen, freed, stats);
        if freed == 0 {
            self.evict_retry_at = now.0.saturating_add(nanos(self.cfg.evict_retry));
        }
        freed > 0
    }

    /// Walk 1: remove idle entries and closed TCP flows; returns how many,
    /// and how many closing and half-open flows it saw.
    fn remove_closed(&mut self, now: Timestamp, stats: &mut FlowStats) -> (usize, [usize; 2]) {
        let mut seen = [0usize; 2];
        let (mut expired, mut closed) = (0u64, 0u64);
        let t = &self.timeouts;
        self.store.retain(|e| {
            if t.expired(e, now.0) {
                expired += 1;
                return false;
            }
            match e.state().evict_class() {
                EvictClass::Closed => {
                    closed += 1;
                    return false;
                }
                EvictClass::Closing => seen[CLOSING] += 1,
                EvictClass::HalfOpen => seen[HALF_OPEN] += 1,
                EvictClass::Established => {}
            }
            true
        });
        stats.expired += expired;
        stats.evicted_closed += closed;
        ((expired + closed) as usize, seen)
    }

    /// Walk 2: remove closing, then half-open flows, until `freed` reaches
    /// the batch, each class by an even stride; returns how many.
    fn evict_open(&mut self, seen: [usize; 2], freed: usize, stats: &mut FlowStats) -> usize {
        let target = self.cfg.evict_batch;
        let closing = seen[CLOSING].min(target.saturating_sub(freed));
        let half_open = seen[HALF_OPEN].min(target.saturating_sub(freed + closing));
        if closing + half_open == 0 {
            return 0;
        }
        let mut stride = [
            Stride::new(closing, seen[CLOSING]),
            Stride::new(half_open, seen[HALF_OPEN]),
        ];
        let mut removed = [0u64; 2];
        self.store.retain(|e| {
            let class = match e.state().evict_class() {
                EvictClass::Closing => CLOSING,
                EvictClass::HalfOpen => HALF_OPEN,
                _ => return true,
            };
            let take = stride[class].take();
            removed[class] += u64::from(take);
            !take
        });
        stats.evicted_closing += removed[CLOSING];
        stats.evicted_half_open += removed[HALF_OPEN];
        (removed[CLOSING] + removed[HALF_OPEN]) as usize
    }
}

const CLOSING: usize = 0;
const HALF_OPEN: usize = 1;

/// `quota` of `of` items taken evenly as they go by: each is taken when the
/// running share `quota / of` crosses a whole number (Bresenham's rule), and
/// never more than `quota` in all, should more go by than were counted.
struct Stride {
    quota: usize,
    of: usize,
    acc: usize,
    left: usize,
}

impl Stride {
    fn new(quota: usize, of: usize) -> Stride {
        Stride {
            quota,
            of: of.max(1),
            acc: 0,
            left: quota,
        }
    }

    /// Whether to take the next item.
    fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.acc += self.quota;
        if self.acc >= self.of {
            self.acc -= self.of;
            self.left -= 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::Stride;

    #[test]
    fn a_stride_takes_its_quota_evenly() {
        let mut s = Stride::new(3, 12);
        let taken: Vec<usize> = (0..12).filter(|_| s.take()).collect();
        assert_eq!(taken, vec![3, 7, 11]);
        // No more than the quota, whatever goes by after.
        let mut s = Stride::new(2, 2);
        assert_eq!((0..10).filter(|_| s.take()).count(), 2);
        let mut s = Stride::new(0, 5);
        assert!(!(0..5).any(|_| s.take()));
    }
}

//! Time as the flow table sees it: nanoseconds from an origin, read through a
//! small trait so tests drive time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A point in time: nanoseconds since the clock's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// This time plus `d` (saturating).
    #[inline]
    pub fn after(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos(d)))
    }

    /// Time elapsed from `earlier` to this (zero if `earlier` is later).
    #[inline]
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A source of [`Timestamp`]s that never go backwards.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's monotonic clock, counted from when this value was made.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Timestamp {
        Timestamp(nanos(self.origin.elapsed()))
    }
}

/// A clock that moves only when told to (for tests and replays).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: Timestamp) -> Self {
        ManualClock {
            now: AtomicU64::new(t.0),
        }
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.fetch_add(nanos(d), Ordering::Relaxed);
    }

    /// Set the clock to `t` (never backwards: an earlier `t` is ignored).
    pub fn set(&self, t: Timestamp) {
        self.now.fetch_max(t.0, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_only() {
        let c = ManualClock::at(Timestamp(5));
        c.advance(Duration::from_nanos(10));
        assert_eq!(c.now(), Timestamp(15));
        c.set(Timestamp(3));
        assert_eq!(c.now(), Timestamp(15));
        assert_eq!(c.now().since(Timestamp(20)), Duration::ZERO);
        assert_eq!(
            Timestamp(1).after(Duration::from_secs(1)),
            Timestamp(1_000_000_001)
        );
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let c = MonotonicClock::new();
        let a = c.now();
        assert!(c.now() >= a);
    }
}

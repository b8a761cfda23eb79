//! Idle timeouts per connection state, configured per NIC.

use std::time::Duration;

use thiserror::Error;

use crate::clock::nanos;
use crate::key::NicId;
use crate::local::HotEntry;

/// How long an entry may stay idle, by what its connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP, UDP and every other protocol: the VNet's
    /// `flow_timeout_minutes` (default 4 minutes).
    pub idle: Duration,
    /// TCP whose SYN is unanswered or handshake unfinished (default 30 s).
    pub tcp_half_open: Duration,
    /// TCP after a RST, or after FIN from both sides (default 30 s).
    pub tcp_closing: Duration,
    /// ICMP and ICMPv6 flows, echo included (default 30 s).
    pub icmp: Duration,
}

/// A timeout setting out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TimeoutError {
    /// `flow_timeout_minutes` outside Azure's 4..=30.
    #[error("flow_timeout_minutes {0} is outside 4..=30")]
    FlowTimeoutMinutes(u32),
    /// A zero duration.
    #[error("a timeout of zero")]
    Zero,
}

impl Timeouts {
    /// The least and greatest `flow_timeout_minutes` Azure accepts.
    pub const FLOW_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 4..=30;

    /// Azure's defaults: 4 minutes idle, 30 s for half-open and closing TCP
    /// and for ICMP.
    pub const fn azure_default() -> Timeouts {
        Timeouts {
            idle: Duration::from_secs(4 * 60),
            tcp_half_open: Duration::from_secs(30),
            tcp_closing: Duration::from_secs(30),
            icmp: Duration::from_secs(30),
        }
    }

    /// The defaults with the idle timeout of a VNet's `flow_timeout_minutes`.
    pub fn with_flow_timeout_minutes(minutes: u32) -> Result<Timeouts, TimeoutError> {
        if !Self::FLOW_TIMEOUT_MINUTES.contains(&minutes) {
            return Err(TimeoutError::FlowTimeoutMinutes(minutes));
        }
        Ok(Timeouts {
            idle: Duration::from_secs(u64::from(minutes) * 60),
            ..Self::azure_default()
        })
    }

    /// Check that no timeout is zero.
    pub fn validate(&self) -> Result<(), TimeoutError> {
        if [self.idle, self.tcp_half_open, self.tcp_closing, self.icmp].contains(&Duration::ZERO) {
            return Err(TimeoutError::Zero);
        }
        Ok(())
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::azure_default()
    }
}

/// Timeouts in nanoseconds, the form the table compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeoutsNs {
    pub idle: u64,
    pub half_open: u64,
    pub closing: u64,
    pub icmp: u64,
}

impl From<Timeouts> for TimeoutsNs {
    fn from(t: Timeouts) -> Self {
        TimeoutsNs {
            idle: nanos(t.idle),
            half_open: nanos(t.tcp_half_open),
            closing: nanos(t.tcp_closing),
            icmp: nanos(t.icmp),
        }
    }
}

/// The timeouts of every NIC: the defaults, and those of the NICs given
/// their own, by NIC id (ids at or past the table's `max_nics` keep the
/// defaults). Allocated once, at construction.
#[derive(Debug)]
pub(crate) struct NicTimeouts {
    default: TimeoutsNs,
    per_nic: Box<[Option<TimeoutsNs>]>,
}

impl NicTimeouts {
    /// `default` for every NIC, room for NIC ids below `max_nics`.
    pub fn new(default: TimeoutsNs, max_nics: usize) -> Self {
        NicTimeouts {
            default,
            per_nic: vec![None; max_nics].into_boxed_slice(),
        }
    }

    /// Give `nic` its own timeouts (ignored past `max_nics`).
    pub fn set(&mut self, nic: NicId, t: TimeoutsNs) {
        if let Some(slot) = self.per_nic.get_mut(usize::from(nic.0)) {
            *slot = Some(t);
        }
    }

    /// The timeouts of `nic`.
    #[inline]
    pub fn get(&self, nic: NicId) -> &TimeoutsNs {
        match self.per_nic.get(usize::from(nic.0)) {
            Some(Some(t)) => t,
            _ => &self.default,
        }
    }

    /// Whether `e` has been idle past its timeout at `now`.
    #[inline]
    pub fn expired(&self, e: &HotEntry, now: u64) -> bool {
        let t = self.get(e.nic());
        now.saturating_sub(e.last_seen().0) >= e.state().timeout(e.proto(), t)
    }

    /// Bytes of the per-NIC array.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.per_nic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_timeout_minutes_range() {
        assert_eq!(
            Timeouts::with_flow_timeout_minutes(3),
            Err(TimeoutError::FlowTimeoutMinutes(3))
        );
        assert_eq!(
            Timeouts::with_flow_timeout_minutes(31),
            Err(TimeoutError::FlowTimeoutMinutes(31))
        );
        let t = Timeouts::with_flow_timeout_minutes(30).unwrap();
        assert_eq!(t.idle, Duration::from_secs(1800));
        assert_eq!(t.tcp_half_open, Duration::from_secs(30));
        assert_eq!(Timeouts::default().idle, Duration::from_secs(240));
        let zero = Timeouts {
            icmp: Duration::ZERO,
            ..Timeouts::default()
        };
        assert_eq!(zero.validate(), Err(TimeoutError::Zero));
    }
}

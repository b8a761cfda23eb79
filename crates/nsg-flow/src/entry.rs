//! What the table stores per flow, and what the pipeline hands it on insert.

use nsg_packet::FiveTuple;

use crate::clock::Timestamp;
use crate::conntrack::ConnState;
use crate::key::{Direction, FlowKey};
use crate::timeouts::TimeoutsNs;

/// The outcome of evaluating a flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    /// Let the flow through.
    Allow,
    /// Drop the flow.
    Deny,
}

/// The rule that decided a flow: an opaque number the caller maps back to
/// its rule (the flow table never looks inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleId(pub u32);

/// A policy decision to store with a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The deciding rule.
    pub rule: RuleId,
    /// The policy generation the decision was made under.
    pub generation: u64,
    /// Re-evaluate the flow on its next packet once the policy generation
    /// changes (an NSG of the flow's path has `flush_connections = true`).
    pub flush_on_change: bool,
}

const ORIG_FORWARD: u8 = 1 << 0;
const FLUSH: u8 = 1 << 1;
const DENY: u8 = 1 << 2;
const FIN_SHIFT: u8 = 3;
const FIN_MASK: u8 = 0b11 << FIN_SHIFT;

/// A flow entry: 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEntry {
    pub(crate) created: u64,
    pub(crate) last_seen: u64,
    pub(crate) generation: u64,
    pub(crate) packets: [u64; 2],
    pub(crate) bytes: [u64; 2],
    pub(crate) rule: u32,
    pub(crate) state: ConnState,
    pub(crate) flags: u8,
}

impl FlowEntry {
    pub(crate) fn new(
        forward: bool,
        d: &Decision,
        state: ConnState,
        fins: u8,
        now: Timestamp,
        frame_len: u32,
    ) -> FlowEntry {
        let mut flags = (fins << FIN_SHIFT) & FIN_MASK;
        if forward {
            flags |= ORIG_FORWARD;
        }
        let mut e = FlowEntry {
            created: now.0,
            last_seen: now.0,
            generation: d.generation,
            packets: [1, 0],
            bytes: [u64::from(frame_len), 0],
            rule: d.rule.0,
            state,
            flags,
        };
        e.set_decision(d);
        e
    }

    #[inline]
    pub(crate) fn set_decision(&mut self, d: &Decision) {
        self.generation = d.generation;
        self.rule = d.rule.0;
        self.flags &= !(FLUSH | DENY);
        if d.flush_on_change {
            self.flags |= FLUSH;
        }
        if d.verdict == Verdict::Deny {
            self.flags |= DENY;
        }
    }

    /// Direction of a packet whose tuple runs `forward` (from key end `a`).
    #[inline]
    pub(crate) fn direction(&self, forward: bool) -> Direction {
        if forward == (self.flags & ORIG_FORWARD != 0) {
            Direction::Original
        } else {
            Direction::Reply
        }
    }

    #[inline]
    pub(crate) fn fins(&self) -> u8 {
        (self.flags & FIN_MASK) >> FIN_SHIFT
    }

    #[inline]
    pub(crate) fn set_fins(&mut self, fins: u8) {
        self.flags = (self.flags & !FIN_MASK) | ((fins << FIN_SHIFT) & FIN_MASK);
    }

    #[inline]
    pub(crate) fn verdict(&self) -> Verdict {
        if self.flags & DENY != 0 {
            Verdict::Deny
        } else {
            Verdict::Allow
        }
    }

    #[inline]
    pub(crate) fn flush(&self) -> bool {
        self.flags & FLUSH != 0
    }

    /// Whether the entry has been idle past its timeout at `now`.
    #[inline]
    pub(crate) fn expired(&self, now: u64, proto: u8, t: &TimeoutsNs) -> bool {
        now.saturating_sub(self.last_seen) >= self.state.timeout(proto, t)
    }

    /// Count a packet and move the state.
    #[inline]
    pub(crate) fn account(
        &mut self,
        dir: Direction,
        flags: Option<nsg_packet::TcpFlags>,
        frame_len: u32,
        now: u64,
    ) {
        let i = dir.index();
        self.packets[i] += 1;
        self.bytes[i] += u64::from(frame_len);
        if now > self.last_seen {
            self.last_seen = now;
        }
        let (state, fins) = self.state.next(dir, flags, self.fins());
        self.state = state;
        self.set_fins(fins);
    }

    /// The tuple of the flow's first packet.
    pub(crate) fn original(&self, key: &FlowKey) -> FiveTuple {
        key.tuple(self.flags & ORIG_FORWARD != 0)
    }

    pub(crate) fn snapshot(&self, key: &FlowKey) -> FlowInfo {
        FlowInfo {
            original: self.original(key),
            verdict: self.verdict(),
            rule: RuleId(self.rule),
            generation: self.generation,
            flush_on_change: self.flush(),
            state: self.state,
            packets: self.packets,
            bytes: self.bytes,
            created: Timestamp(self.created),
            last_seen: Timestamp(self.last_seen),
        }
    }
}

/// A copy of a flow entry, for inspection, flow logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// The tuple of the flow's first packet.
    pub original: FiveTuple,
    /// Allow or deny.
    pub verdict: Verdict,
    /// The deciding rule.
    pub rule: RuleId,
    /// Policy generation of the decision.
    pub generation: u64,
    /// Re-evaluated when the policy generation changes.
    pub flush_on_change: bool,
    /// Connection state.
    pub state: ConnState,
    /// Packets, original then reply direction.
    pub packets: [u64; 2],
    /// Bytes (whole frames), original then reply direction.
    pub bytes: [u64; 2],
    /// When the first packet was seen.
    pub created: Timestamp,
    /// When the last packet was seen.
    pub last_seen: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_64_bytes() {
        assert_eq!(std::mem::size_of::<FlowEntry>(), 64);
    }
}

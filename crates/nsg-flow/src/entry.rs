//! What the pipeline hands the table on insert, and what inspection gets
//! back. What the table stores per flow is in [`crate::local`]
//! ([`HotEntry`](crate::local::HotEntry) and
//! [`ColdEntry`](crate::local::ColdEntry)).

use nsg_packet::FiveTuple;

use crate::clock::Timestamp;
use crate::conntrack::ConnState;

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

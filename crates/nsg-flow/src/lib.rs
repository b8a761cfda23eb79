//! # nsg-flow
//!
//! The stateful half of the nsg dataplane: a bounded, concurrent flow table
//! (dashmap shards, ahash) keyed by (NIC, canonical 5-tuple), with TCP
//! connection tracking, UDP and ICMP pseudo-states, ICMP errors matched to
//! the flow they quote (RELATED), fragments that follow their first
//! fragment, idle timeouts per NIC, eviction when full, and policy
//! generations with flush-on-change.
//!
//! The pipeline uses it in three calls: [`FlowTable::lookup`] for every
//! parsed packet, under the current policy's [`Epoch`] (its generation and
//! whether it flushes at the NIC); one shard access counts the packet,
//! moves the state and stamps the time. On [`Lookup::Miss`] the pipeline
//! evaluates the policy and, if the whole path allows, calls
//! [`FlowTable::insert`] at each NIC evaluated; on [`Lookup::Reevaluate`]
//! (an entry of an older generation, marked to flush or at a NIC the
//! current policy flushes) it evaluates the flow's first packet again and
//! inserts (or removes) the result. [`FlowTable::sweep`] runs periodically.
//!
//! ## Guarantees
//! - Both directions of a connection find the same entry; the entry keeps the
//!   direction and tuple of its first packet.
//! - The table never holds more than its capacity; when full it evicts
//!   closing and half-open flows first and never an established one; a flow
//!   it cannot place is refused and counted ([`FlowStats::refusals`]).
//! - Memory is allocated once, at construction; lookups allocate nothing.
//! - Entries keep their verdict across policy changes unless marked to flush
//!   or looked up under an epoch that flushes at their NIC.
//! - No panics on any packet; no `unsafe` outside `local::alloc` (its maps
//!   and the prefetch hint).
//!
//! ## Not here
//! Policy: the table knows NIC ids, verdicts, an opaque deciding-rule id and
//! a generation number, not NSGs, ASGs or rules. Time comes from the caller
//! (a [`Clock`] reading per burst), so tests control it. Sequence numbers and
//! windows are not checked (conntrack's loose mode).

#![deny(unsafe_code)]

mod burst;
pub mod clock;
pub mod conntrack;
pub mod entry;
mod evict;
mod frag;
mod hash;
pub mod key;
pub mod local;
mod prepared;
pub mod stats;
pub mod table;
pub mod timeouts;

pub use clock::{Clock, ManualClock, MonotonicClock, Timestamp};
pub use conntrack::{ConnState, EvictClass};
pub use entry::{Decision, FlowInfo, RuleId, Verdict};
pub use hash::FLOW_HASH;
pub use key::{Direction, FlowKey, NicId, NicIdError};
pub use prepared::Prepared;
pub use stats::FlowStats;
pub use table::{
    ConfigError, Epoch, FlowTable, FlowTableConfig, Hit, InsertOutcome, Lookup, Reevaluate,
};
pub use timeouts::{TimeoutError, Timeouts};

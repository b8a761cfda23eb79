//! # nsg-flow
//!
//! The stateful half of the nsg dataplane: a bounded flow table keyed by
//! (NIC, canonical 5-tuple), with TCP connection tracking, UDP and ICMP
//! pseudo-states, ICMP errors matched to the flow they quote (RELATED),
//! fragments that follow their first fragment, idle timeouts per NIC,
//! eviction when full, and policy generations with flush-on-change.
//!
//! A [`FlowTable`] has one owner: each worker owns its table (every change
//! through `&mut self`, no lock, no atomic) and the frames of its flows
//! are steered to it. Its storage is a [`local::LocalTable`]: buckets of
//! one cache line of tagged slots, two candidate buckets per key (cuckoo),
//! a 64-byte hot line per flow holding all a hit touches, and a cold side
//! for the rest. The hash of a packet's canonical tuple is computed once
//! and serves every NIC it is looked up at ([`FlowTable::prepare_at`]).
//!
//! The pipeline uses it in three calls: [`FlowTable::lookup`] for every
//! parsed packet, under the current policy's [`Epoch`] (its generation and
//! whether it flushes at the NIC); one entry access counts the packet,
//! moves the state and stamps the time. A batched caller splits it into
//! steps over a whole batch ([`FlowTable::prepare`], [`FlowTable::prefetch`],
//! [`FlowTable::prefetch_entry`], [`FlowTable::lookup_prepared`]) so the
//! batch's memory misses overlap. On [`Lookup::Miss`] the pipeline
//! evaluates the policy and, if the whole path allows, calls
//! [`FlowTable::insert`] at each NIC evaluated; on [`Lookup::Reevaluate`]
//! (an entry of an older generation, marked to flush or at a NIC the
//! current policy flushes) it evaluates the flow's first packet again and
//! inserts (or removes) the result ([`FlowTable::insert_prepared`] takes the
//! prepared hash). [`FlowTable::sweep`] runs periodically.
//!
//! ## Guarantees
//! - Both directions of a connection find the same entry; the entry keeps the
//!   direction and tuple of its first packet.
//! - The table never holds more than its capacity; when full it evicts
//!   closing and half-open flows first and never an established one; a flow
//!   it cannot place is refused and counted ([`FlowStats::refusals`]); after
//!   an eviction pass that freed nothing, none is tried for
//!   [`FlowTableConfig::evict_retry`].
//! - Memory is allocated once, at construction (flows, fragments, per-NIC
//!   timeouts); lookups and inserts allocate nothing.
//! - Idle timeouts per connection state, configurable per NIC.
//! - Entries keep their verdict across policy changes unless marked to flush
//!   or looked up under an epoch that flushes at their NIC. An entry stores
//!   its generation's low 32 bits; [`Hit::generation`] widens them back to
//!   the full generation against the lookup's epoch.
//! - An ICMP error quoting a live flow gets that flow's verdict (RELATED);
//!   non-first fragments follow their first fragment's flow.
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

//! # nsg-dataplane
//!
//! The verdict pipeline: frames from a source (a capture file, a TAP or
//! AF_PACKET port, a benchmark generator) are parsed, looked up in the flow
//! table and, on a miss, judged by the compiled NSG matcher at every NIC of
//! their path (outbound at the sender's NIC, then inbound at the receiver's,
//! when those are NICs of the policy); an allowed path creates a flow entry at
//! each NIC evaluated. Workers each own a [`pipeline::Worker`] and share the
//! flow table and the published policy.
//!
//! ## Guarantees
//! - A malformed frame is counted and dropped with a typed reason; nothing in
//!   the pipeline panics on input.
//! - The policy is published RCU-style ([`policy::PolicyCell`]): a reload
//!   never blocks the fast path, and every flow remembers the generation that
//!   decided it.
//! - With several workers, frames are sharded by a symmetric flow hash, so
//!   both directions of a connection meet the same worker, and per-frame
//!   results come back in input order.
//!
//! ## Not here
//! Parsing rules live in `nsg-packet`, flow state in `nsg-flow`, policy in
//! `nsg-policy` and `nsg-classify`; this crate wires them together.

#![deny(unsafe_code)]

#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod bench;
#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod capture;
#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod flowlog;
mod flowlog_held;
#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod flowlog_stream;
mod flowlog_text;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod port;
#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod replay;
pub mod run;
pub mod stats;
pub mod switch;
#[allow(missing_docs)] // moving to nsg-capture / nsg-synth
pub mod synth;
pub mod workers;

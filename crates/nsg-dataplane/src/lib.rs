//! # nsg-dataplane
//!
//! The live path: frames from a port (TAP or AF_PACKET) are parsed, looked
//! up in the flow table and, on a miss, judged by the compiled NSG matcher
//! at every NIC of their path (outbound at the sender's NIC, then inbound
//! at the receiver's, when those are NICs of the policy); an allowed path
//! creates a flow entry at each NIC evaluated. Here are the pipeline
//! ([`pipeline::Worker`], one frame at a time, and [`batch`], frames in
//! vectors with the same results), the workers and their sharded dispatcher
//! ([`workers`], which replay also drives), the hand-off between `nsg run`'s
//! workers ([`handoff`]), policy publication
//! ([`policy`]), the flow-table setup for a policy ([`flow_setup`]), the
//! switch answering ARP/ND and forwarding between ports ([`switch`]), the
//! ports ([`port`]), metrics ([`metrics`]) and `nsg run` ([`run`]).
//!
//! ## Guarantees
//! - A malformed frame is counted and dropped with a typed reason; nothing in
//!   the pipeline panics on input.
//! - The policy is published RCU-style ([`policy::PolicyCell`]): a reload
//!   never blocks the fast path, and every flow remembers the generation that
//!   decided it.
//! - Each worker owns its flow table; no table is shared between threads.
//!   With several workers, frames are sharded by a symmetric hash of their
//!   addresses (an ICMP error's: those it quotes), so both directions of a
//!   connection, its fragments and the ICMP errors about it meet the worker
//!   that holds it: in a replay by the dispatcher, in `nsg run` by handing a
//!   frame read on another worker's queue to its owner ([`handoff`]).
//!   Replay results come back in input order.
//!
//! ## Not here
//! Parsing and frame building live in `nsg-packet`, flow state in
//! `nsg-flow`, policy in `nsg-policy` and `nsg-classify`; this crate wires
//! them together. The offline tools sit above it: capture files, replay and
//! flow logs in `nsg-capture`, traffic synthesis and the pipeline benchmark
//! in `nsg-synth`. Summaries and progress bars are the command line's.

#![deny(unsafe_code)]

pub mod batch;
pub mod flow_setup;
pub mod handoff;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod port;
pub mod run;
pub mod stats;
pub mod switch;
pub mod workers;

//! # nsg-classify
//!
//! The compiled NSG matcher. The core ([`Classifier`]) takes plain rules of
//! five fields (source and destination address, source and destination port,
//! protocol), each a set of ranges, any number of rules, first match wins; it
//! serves both NSG compilation ([`nsg`]) and ClassBench benchmarks
//! ([`classbench`]).
//!
//! ## Algorithm
//! Each field's domain is cut into equivalence classes of values matched by
//! the same rules (per-field bit vectors, as in Lakshman and Stiliadis'
//! bit-vector scheme); protocol and port classes are cross-producted ahead of
//! time (as RFC does for its phase tables) into one class. A lookup is three
//! class lookups (a 16-8-8 multibit table per IPv4 address, direct tables for
//! ports and protocol) and the AND of three bit vectors. Up to 1,024 rules
//! the vectors are ANDed whole, without a data-dependent branch (four words
//! per instruction on the AVX2 path), and the first non-zero word gives the
//! answer; larger sets scan aggregated vectors from the highest priority and
//! stop at the first match (see `blocks.rs`). One-key lookups on small sets
//! take the whole AND only where the build predicts that the scan would
//! read several candidate words. Batched lookups do the table lookups of a
//! whole chunk before the ANDs so independent memory accesses overlap.
//!
//! ## Guarantees
//! - A compiled classifier is immutable and answers exactly what a linear
//!   scan of its rules answers (tested differentially against the scan and,
//!   for NSGs, against `nsg_policy`'s reference evaluator).
//! - Lookups do not allocate. The only unsafe code is in [`simd`]: the calls
//!   of the lookup loops compiled with AVX2, made only when the CPU has it,
//!   and the 32-byte loads of the AVX2 AND, inside blocks whose length is
//!   checked first; both compiled variants answer alike (the differential
//!   tests and `every_kernel_agrees_with_linear_scan` run both).
//!
//! ## Not here
//! Flow state and packet parsing: a lookup takes header fields, not frames.

#![deny(unsafe_code)]

mod blocks;
pub mod classbench;
mod classifier;
mod field;
pub mod nsg;
#[allow(unsafe_code)] // The calls of the `target_feature` lookup variants.
pub mod simd;

pub use classifier::{Classifier, FieldRule, Key4, Key6, Width, NO_MATCH, NO_PORT};
pub use simd::SimdPath;

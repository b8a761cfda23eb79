//! Exact analysis of a policy over whole sets of packets, behind
//! `nsg lint`, `nsg diff` and `nsg reach`.
//!
//! # Representation
//! A set of packets is a union of disjoint cubes ([`space`]): per address
//! family, the cross product of one list of ranges for each of the five
//! header fields. An NSG rule, with its prefixes, tags and ASGs expanded
//! by the same code as the compiled matcher (`nsg_classify::nsg::field_rule`),
//! is exactly one cube per family, so walking an NSG's rules in priority
//! order and keeping what each rule takes ([`decide`]) gives every
//! packet's deciding rule without sampling, and the cubes are already the
//! boxes `nsg diff` prints.
//!
//! # Why cubes, not BDDs
//! Measured with `cargo bench -p nsg-analysis --bench representation`: the
//! first-match walk of one NSG (every rule's decided set) on the packets of
//! one NIC, IPv4, rules of the seeded benchmark policy, against the same
//! walk on BDDs (`biodivine-lib-bdd`, one variable per header bit, fields
//! in order, most significant bit first):
//!
//! | NSG | cubes | BDDs, rules prebuilt | BDDs, rules built |
//! |---|---|---|---|
//! | a subnet NSG of the 1,000-NIC policy (51 inbound rules) | 0.24 ms | 2.6 ms | 10.5 ms |
//! | the 1,000-rule NSG (696 inbound rules) | 0.81 ms | 9.9 ms | 62.5 ms |
//!
//! (Medians of criterion, release build, a quiet 2-core machine.)
//!
//! Cubes are ten times faster even when the rules' BDDs are built in
//! advance. NSG rules are products of few ranges per field, which cubes hold
//! as they are, while a BDD must spell every port range and address range
//! as a union of bit prefixes; and what the commands print (boxes of
//! prefixes, protocol and port ranges) is what cubes already are, where a
//! BDD's paths would have to be turned back into ranges. An equivalence
//! class encoding per field would shrink the numbers but not the cost of
//! the cuts, which is in the number of pieces, not in their width.

#![deny(unsafe_code)]

pub mod decide;
pub mod diff;
pub mod lint;
pub mod merge;
pub mod reach;
pub mod space;
pub mod synth;

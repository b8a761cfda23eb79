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

#![deny(unsafe_code)]

pub mod decide;
pub mod reach;
pub mod space;

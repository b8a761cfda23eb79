//! # nsg-policy
//!
//! The policy side of nsg: the model of VNets, subnets, NICs, application
//! security groups (ASGs) and network security groups (NSGs); the TOML policy
//! loader; validation of every constraint Azure enforces; service tags (the
//! built-in ones computed per VNet and those of Azure's ServiceTags JSON); and
//! the reference evaluator, which states NSG semantics as plain linear code.
//! [`toml_write`] writes a raw policy back as TOML. The `nsg-azure` crate
//! reads Azure's own JSON (`az ... list` output, API resources, ARM templates)
//! into the same [`raw::RawPolicy`] the TOML loader fills, so the same
//! validation ([`from_raw`]) applies, and writes effective rules and verdicts
//! in Azure's shape.
//!
//! ## Guarantees
//! - A [`Policy`] exists only if every constraint held: a broken file is
//!   refused whole with a [`PolicyError`] listing every fault, each naming the
//!   file, the item and the offending value. Loading never panics.
//! - Every file is read with a size limit ([`limits`]), so a huge file or
//!   `/dev/zero` is refused with an error naming it, never read until memory
//!   runs out.
//! - Every NSG carries Azure's six default rules, and each direction's rules
//!   are sorted by priority.
//! - [`eval::evaluate`] is the specification: the compiled matcher must agree
//!   with it on every input.
//!
//! ## Not here
//! Packet parsing, flow state and the fast path live in other crates; this
//! crate knows nothing of frames.

#![deny(unsafe_code)]

pub mod effective;
pub mod error;
pub mod eval;
pub mod limits;
pub mod model;
pub mod prefix;
pub mod query;
pub mod raw;
pub mod tags;
mod toml_load;
pub mod toml_write;
pub mod validate;

pub use error::{Fault, Item, ItemName, PolicyError};
pub use eval::{evaluate, Decider, Layer, Packet, Platform, RuleRef, Verdict};
pub use model::*;
pub use validate::names::GATEWAY_MAC;

use error::Faults;
use std::path::{Path, PathBuf};

/// How to load a policy.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Service tags files to add to the one the policy names (later files win
    /// on a name both define).
    pub service_tags: Vec<PathBuf>,
}

/// Load and validate a TOML policy file of at most
/// [`limits::MAX_POLICY_BYTES`].
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Policy, PolicyError> {
    let read = limits::read_bounded(path, limits::MAX_POLICY_BYTES, "a policy file");
    let mut f = Faults::new(path);
    match read.map(String::from_utf8) {
        Ok(Ok(text)) => return load_str(&text, path, opts),
        Ok(Err(e)) => f.push(
            &Item::File,
            format!("the policy file is not UTF-8 text: {e}"),
        ),
        Err(limits::ReadError::TooLarge { limit, .. }) => f.push(
            &Item::File,
            format!(
                "the policy file is larger than {}, the limit for a policy file",
                limits::Size(limit)
            ),
        ),
        Err(limits::ReadError::Io { source, .. }) => f.push(
            &Item::File,
            format!("cannot read the policy file: {source}"),
        ),
    }
    Err(f.into_error())
}

/// Load and validate TOML policy text; `path` names it in faults and anchors
/// relative paths.
pub fn load_str(text: &str, path: &Path, opts: &LoadOptions) -> Result<Policy, PolicyError> {
    let mut f = Faults::new(path);
    match toml_load::read(text, &mut f) {
        Some(raw) if f.is_empty() => from_raw(&raw, path, opts),
        Some(raw) => {
            // Report semantic faults too, so one pass shows everything.
            let mut g = Faults::new(path);
            let _ = validate::validate(&raw, path, &opts.service_tags, &mut g);
            f.list.extend(g.list);
            Err(f.into_error())
        }
        None => Err(f.into_error()),
    }
}

/// Read TOML policy text into a raw policy without validating it: faults only
/// for what does not parse (syntax, unknown keys, mistyped values). `path`
/// names the text in faults. Used to check that written TOML reads back as
/// the raw policy it was written from.
pub fn read_raw(text: &str, path: &Path) -> Result<raw::RawPolicy, PolicyError> {
    let mut f = Faults::new(path);
    match toml_load::read(text, &mut f) {
        Some(raw) if f.is_empty() => Ok(raw),
        _ => Err(f.into_error()),
    }
}

/// Validate a raw policy (from TOML or from Azure JSON).
pub fn from_raw(
    raw: &raw::RawPolicy,
    path: &Path,
    opts: &LoadOptions,
) -> Result<Policy, PolicyError> {
    let mut f = Faults::new(path);
    match validate::validate(raw, path, &opts.service_tags, &mut f) {
        Some(p) if f.is_empty() => Ok(p),
        _ => Err(f.into_error()),
    }
}

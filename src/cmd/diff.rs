//! `nsg diff OLD NEW`: which packets change verdict between two versions of
//! a policy, per NIC and direction, as boxes.

use super::{load_policy, CmdResult, Out};
use crate::out::Threshold;
use crate::PolicyArgs;
use nsg_analysis::diff::{diff, render, Diff};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The old policy: TOML, or Azure JSON (a .json file or a directory).
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The new policy, in either form.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// An Azure ServiceTags JSON file (ServiceTags_Public_*.json) for both policies; may repeat.
    #[arg(long = "service-tags", value_name = "FILE")]
    service_tags: Vec<PathBuf>,
    /// Compare only this NIC.
    #[arg(long, value_name = "N")]
    nic: Option<String>,
    /// Print the boxes as JSON.
    #[arg(long)]
    json: bool,
    /// Exit 3 when NEW allows a packet OLD denied or a NIC only in NEW
    /// allows anything (newly-allowed), or on any change (any).
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
}

/// What makes `nsg diff` exit 3.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FailOn {
    /// A box whose packets NEW allows, or a NIC only in NEW that allows anything.
    NewlyAllowed,
    /// Any box, or any NIC only in one policy.
    Any,
}

/// The threshold's message when `d` meets it.
fn threshold(fail_on: FailOn, d: &Diff) -> Option<String> {
    match fail_on {
        FailOn::NewlyAllowed if d.newly_allows() => {
            Some("nsg diff: NEW allows packets OLD did not".into())
        }
        FailOn::Any if !d.is_empty() => Some("nsg diff: the policies differ".into()),
        _ => None,
    }
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let load = |policy: &PathBuf| {
        load_policy(&PolicyArgs {
            policy: policy.clone(),
            service_tags: a.service_tags.clone(),
        })
    };
    let old = load(&a.old)?;
    let new = load(&a.new)?;
    let d = diff(&old, &new, a.nic.as_deref())?;
    if a.json {
        writeln!(out, "{}", render::to_json(&d))?;
    } else {
        out.text(&render::to_text(&d))?;
    }
    match a.fail_on.and_then(|f| threshold(f, &d)) {
        Some(msg) => Err(Box::new(Threshold(msg))),
        None => Ok(()),
    }
}

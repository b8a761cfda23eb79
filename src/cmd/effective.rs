//! `nsg effective POLICY --nic NIC [--json | --format text|json|azure]`.

use super::{load_policy, nic, CmdResult, Format, Out};
use crate::PolicyArgs;
use nsg_azure::export::effective_azure;
use nsg_policy::effective::{effective_json, effective_rules, effective_table};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The NIC whose rules to show.
    #[arg(long)]
    nic: String,
    /// Print JSON instead of a table (as --format json).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// text, json, or azure (the shape of `az network nic list-effective-nsg`).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let p = load_policy(&a.policy)?;
    let n = nic(&p, &a.nic)?;
    match Format::pick(a.format, a.json) {
        Format::Text => out.text(&effective_table(&p, n, &effective_rules(&p, n)))?,
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&effective_json(&p, n, &effective_rules(&p, n)))?
        )?,
        Format::Azure => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&effective_azure(&p, n))?
        )?,
    }
    Ok(())
}

//! `nsg effective POLICY --nic NIC [--json]`.

use super::{load_policy, nic, CmdResult};
use crate::PolicyArgs;
use nsg_policy::effective::{effective_json, effective_rules, effective_table};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The NIC whose rules to show.
    #[arg(long)]
    nic: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CmdResult {
    let p = load_policy(&a.policy)?;
    let n = nic(&p, &a.nic)?;
    let rules = effective_rules(&p, n);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&effective_json(&p, n, &rules))?
        );
    } else {
        print!("{}", effective_table(&p, n, &rules));
    }
    Ok(())
}

//! `nsg lint`: findings about a policy's rules (unmatchable, shadowed,
//! redundant, layer conflicts, exposed ports), as text, JSON or SARIF.

use super::{load_policy, nic, CmdResult, Out};
use crate::out::Threshold;
use crate::PolicyArgs;
use nsg_analysis::lint::{self, sarif, Severity};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Only the findings that concern this NIC (and the rules of the NSGs that apply there).
    #[arg(long, value_name = "NIC")]
    nic: Option<String>,
    /// Print `{"findings":[...]}`.
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Print a SARIF 2.1.0 log, each result at the rule's line of the policy file.
    #[arg(long)]
    sarif: bool,
    /// Exit with status 3 when a finding of this severity or above exists.
    #[arg(long, value_name = "SEVERITY", value_parser = ["error", "warning", "note"])]
    fail_on: Option<String>,
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let policy = load_policy(&a.policy)?;
    let mut findings = lint::lint(&policy);
    if let Some(name) = &a.nic {
        findings = lint::for_nic(&policy, findings, nic(&policy, name)?);
    }
    if a.json {
        writeln!(out, "{}", lint::to_json(&policy, &findings))?;
    } else if a.sarif {
        let path = &a.policy.policy;
        let text = std::fs::read_to_string(path).ok();
        let toml = !nsg_azure::is_azure_json(path);
        let log = sarif::sarif(
            &policy,
            &findings,
            &path.display().to_string(),
            text.as_deref(),
            toml,
        );
        writeln!(out, "{}", serde_json::to_string_pretty(&log)?)?;
    } else {
        out.text(&lint::to_text(&policy, &findings))?;
    }
    let Some(at) = a.fail_on.as_deref().and_then(Severity::parse) else {
        return Ok(());
    };
    let met = findings.iter().filter(|f| f.severity() >= at).count();
    if met > 0 {
        return Err(Box::new(Threshold(format!(
            "nsg lint: {met} finding(s) of severity {} or above",
            at.name()
        ))));
    }
    Ok(())
}

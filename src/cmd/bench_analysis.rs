//! `nsg bench analysis`: a seeded policy (subnet and NIC NSGs over many
//! NICs and ASGs) and a changed copy, and how long the analysis takes on
//! them: every NIC's packets cut by their deciding rules, lint, diff of
//! one large NSG, and reach by ASG.

use super::{CmdResult, Out};
use nsg_analysis::synth::{generate, SynthOptions};
use nsg_policy::{LoadOptions, Policy};
use std::path::Path;
use std::time::Instant;

/// Options of `nsg bench analysis`.
#[derive(clap::Args)]
pub struct Args {
    /// NICs of the generated policy (50 a subnet, one subnet NSG each, a
    /// NIC NSG for every 25 NICs, most NICs behind one).
    #[arg(long, default_value_t = 1_000)]
    nics: usize,
    /// ASGs; every NIC is in one or two.
    #[arg(long, default_value_t = 200)]
    asgs: usize,
    /// User rules over all NSGs.
    #[arg(long, default_value_t = 4_000)]
    rules: usize,
    /// Rules of the single NSG the diff timing compares two versions of.
    #[arg(long, default_value_t = 1_000)]
    diff_rules: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timed runs of each step; the fastest is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The fastest of `runs` timings of `f`, in seconds, and its last answer.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    (best, last.expect("at least one run"))
}

fn load(text: &str, name: &str) -> Result<Policy, nsg_policy::PolicyError> {
    nsg_policy::load_str(text, Path::new(name), &LoadOptions::default())
}

/// Every NIC's packets in both directions cut into decided pieces; the
/// number of pieces.
fn decide_all(p: &Policy) -> usize {
    use nsg_analysis::decide::{decide, nic_space, Compiled};
    use nsg_policy::model::Direction;
    let mut compiled = Compiled::new();
    let mut n = 0;
    for nic in 0..p.nics.len() {
        for dir in [Direction::Inbound, Direction::Outbound] {
            let space = nic_space(p, nic, dir);
            n += decide(p, &mut compiled, nic, dir, &space).len();
        }
    }
    n
}

/// The boxes of the diff of two policies (every NIC).
fn diff_boxes(old: &Policy, new: &Policy) -> usize {
    nsg_analysis::diff::diff(old, new, None).map_or(0, |d| d.changes.len())
}

/// Run the benchmark.
pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let s = generate(&SynthOptions {
        nics: a.nics,
        asgs: a.asgs,
        rules: a.rules,
        diff_rules: a.diff_rules,
        seed: a.seed,
    });
    let t = Instant::now();
    let policy = load(&s.policy, "bench-policy.toml")?;
    let load_s = t.elapsed().as_secs_f64();
    let (decide_s, pieces) = best(a.runs, || decide_all(&policy));
    let (lint_s, findings) = best(a.runs, || nsg_analysis::lint::lint(&policy).len());
    let (reach_s, cells) = best(a.runs, || {
        nsg_analysis::reach::reach(&policy, nsg_analysis::reach::By::Asg)
            .pairs
            .len()
    });
    let changed = load(&s.changed, "bench-policy-changed.toml")?;
    let (diff_all_s, all_boxes) = best(a.runs, || diff_boxes(&policy, &changed));
    let nsg = load(&s.nsg, "bench-nsg.toml")?;
    let nsg_changed = load(&s.nsg_changed, "bench-nsg-changed.toml")?;
    let (diff_s, boxes) = best(a.runs, || diff_boxes(&nsg, &nsg_changed));
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "nics": policy.nics.len(), "asgs": policy.asgs.len(),
                "rules": policy.user_rule_count(), "seed": a.seed,
                "load_seconds": load_s, "decide_seconds": decide_s, "pieces": pieces,
                "lint_seconds": lint_s, "lint_findings": findings,
                "reach_asg_seconds": reach_s, "reach_asg_pairs": cells,
                "diff_rules": a.diff_rules, "diff_seconds": diff_s, "diff_boxes": boxes,
                "diff_policy_seconds": diff_all_s, "diff_policy_boxes": all_boxes,
            })
        )?;
    } else {
        writeln!(
            out,
            "policy: {} NICs, {} ASGs, {} rules (seed {}), loaded in {:.3} s",
            policy.nics.len(),
            policy.asgs.len(),
            policy.user_rule_count(),
            a.seed,
            load_s
        )?;
        writeln!(
            out,
            "every NIC decided, both directions: {decide_s:.3} s ({pieces} pieces)"
        )?;
        writeln!(out, "lint: {lint_s:.3} s ({findings} findings)")?;
        writeln!(out, "reach --by asg: {reach_s:.3} s ({cells} pairs)")?;
        writeln!(
            out,
            "diff of two versions of a {}-rule NSG on one NIC: {:.1} ms ({boxes} boxes)",
            a.diff_rules,
            diff_s * 1e3
        )?;
        writeln!(
            out,
            "diff of the policy and its changed copy: {diff_all_s:.3} s ({all_boxes} boxes)"
        )?;
    }
    Ok(())
}

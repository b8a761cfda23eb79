//! `nsg`: the command line. Argument parsing and wiring only; the work is in
//! the crates under `crates/`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod cmd;
mod out;

#[derive(Parser)]
#[command(
    name = "nsg",
    version,
    about = "Userspace packet filter enforcing Azure Network Security Group semantics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A policy file and the service tags files to add to it.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArgs {
    /// The policy file: TOML (see docs/policy.md), or Azure JSON (a .json file or a directory).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// An Azure ServiceTags JSON file (ServiceTags_Public_*.json); may repeat.
    #[arg(long = "service-tags", value_name = "FILE")]
    pub service_tags: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on the built-in example: synthesised three-tier traffic through the pipeline.
    Demo(cmd::demo::Args),
    /// Validate a policy: print a summary, or every fault.
    Check(cmd::check::Args),
    /// Which rule decides a flow at a NIC (one query, or a JSON-lines batch).
    Verify(cmd::verify::Args),
    /// The rules that apply at a NIC, both layers in order, tags and ASGs expanded.
    Effective(cmd::effective::Args),
    /// Findings about a policy's rules: unmatchable, shadowed, redundant, layer conflicts, exposed ports.
    Lint(cmd::lint::Args),
    /// Which packets change verdict between two versions of a policy, per NIC and direction.
    ///
    /// The exact set, as disjoint boxes (source, destination, protocols, ports), each with its
    /// old and new verdict and deciding rule; NICs are matched by name, and at a NIC the packets
    /// to or from addresses it has in both versions are compared. "no change" and exit 0 when
    /// nothing changes; with --fail-on, exit 3 when the threshold is met.
    Diff(cmd::diff::Args),
    /// Who can open connections to whom: protocols and ports allowed end to end, as a matrix.
    Reach(cmd::reach::Args),
    /// Replay a capture through the pipeline: verdict per frame, summary per rule.
    Replay(cmd::replay::Args),
    /// Convert Azure JSON (az ... list output, API resources, ARM templates) to a TOML policy.
    Import(cmd::import::Args),
    /// Benchmarks: the matcher on ClassBench sets, the whole pipeline, the policy analysis.
    Bench(cmd::bench::Args),
    /// Switch live ports (TAP, AF_PACKET) under the policy, with reloads.
    Run(cmd::run::Args),
    /// Synthesise captures to measure with.
    Synth(cmd::synth::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let mut out = out::Out::stdout();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a, &mut out),
        Command::Check(a) => cmd::check::run(a, &mut out),
        Command::Verify(a) => cmd::verify::run(a, &mut out),
        Command::Diff(a) => cmd::diff::run(a, &mut out),
        Command::Effective(a) => cmd::effective::run(a, &mut out),
        Command::Import(a) => cmd::import::run(a, &mut out),
        Command::Bench(a) => cmd::bench::run(a, &mut out),
        Command::Lint(a) => cmd::lint::run(a, &mut out),
        Command::Replay(a) => cmd::replay::run(a, &mut out),
        Command::Run(a) => cmd::run::run(a, &mut out),
        Command::Synth(a) => cmd::synth::run(a, &mut out),
        Command::Reach(a) => cmd::reach::run(a, &mut out),
    };
    // What was written before a fault still goes out; the first fault wins.
    let flushed = out.flush();
    out::exit(result.and_then(|()| Ok(flushed?)))
}

/// Help, version, or a usage fault from clap, through the same rules: a
/// closed pipe is quiet, a write fault is reported.
fn usage(e: &clap::Error) -> ExitCode {
    match e.print() {
        Err(io) if !e.use_stderr() => out::exit(Err(Box::new(out::OutputError(io)))),
        // A usage fault that cannot reach stderr still fails with its status.
        _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
    }
}

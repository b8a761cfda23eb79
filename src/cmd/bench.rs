//! `nsg bench classify`: the compiled matcher on ClassBench rule sets and traces.

use super::{CmdResult, Out};
use nsg_classify::classbench;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Lookups per second of the compiled matcher on a ClassBench set, every
    /// answer checked against a linear scan.
    Classify(ClassifyArgs),
    /// Packets per second of the whole pipeline (parse, flow table, matcher over
    /// two layers) on synthetic 64-byte frames.
    Pipeline(PipelineArgs),
    /// How long lint, diff and reach take on a seeded policy and a changed
    /// copy (1,000 NICs, 200 ASGs, 4,000 rules by default).
    Analysis(super::bench_analysis::Args),
}

#[derive(clap::Args)]
struct PipelineArgs {
    /// Live flows.
    #[arg(long, default_value_t = 1_000_000)]
    flows: usize,
    /// Rules per NSG (two NSGs: subnet and NIC).
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Workers (default: the machine's cores).
    #[arg(long)]
    workers: Option<usize>,
    /// How long to time the established-flow phase.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Run exactly N established frames per worker instead of --seconds, so
    /// two runs differ only in N (for instruction counts under callgrind).
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    frames: Option<u64>,
    /// Measure new flows instead: a table of capacity --flows filled with
    /// SYNs from distinct sources, then twice as many (each past capacity
    /// evicts a half-open one); both rates and their ratio.
    #[arg(long)]
    flood: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ClassifyArgs {
    /// ClassBench rule file (line order is priority).
    #[arg(long, value_name = "RULES")]
    classbench: PathBuf,
    /// ClassBench trace file.
    #[arg(long, value_name = "TRACE")]
    trace: PathBuf,
    /// Keys per lookup call; 1 means one packet per call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// How long to time lookups.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    match a.what {
        What::Classify(c) => classify(c, out),
        What::Pipeline(p) => pipeline(p, out),
        What::Analysis(x) => super::bench_analysis::run(x, out),
    }
}

fn flood(a: &PipelineArgs, out: &mut Out, opts: nsg_synth::bench::BenchOptions) -> CmdResult {
    let r = nsg_synth::bench::run_flood(opts)?;
    let f = &r.flow;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "workers": r.workers,
                "capacity": r.capacity,
                "rules": r.rules,
                "new_flows_per_sec_below_capacity": r.below_per_sec.round(),
                "new_flows_per_sec_past_capacity": r.past_per_sec.round(),
                "ratio": (r.ratio() * 1000.0).round() / 1000.0,
                "evicted_half_open": f.evicted_half_open,
                "evicted_closing": f.evicted_closing,
                "evicted_closed": f.evicted_closed,
                "evict_passes": f.evict_passes,
                "refusals": f.refusals,
            })
        )?;
    } else {
        writeln!(out, "workers            {}", r.workers)?;
        writeln!(out, "capacity           {}", r.capacity)?;
        writeln!(out, "rules per NSG      {}", r.rules)?;
        writeln!(
            out,
            "below capacity     {:.3} M new flows/s",
            r.below_per_sec / 1e6
        )?;
        writeln!(
            out,
            "past capacity      {:.3} M new flows/s",
            r.past_per_sec / 1e6
        )?;
        writeln!(out, "ratio              {:.3}", r.ratio())?;
        writeln!(
            out,
            "evictions          {} half-open, {} closing, {} closed in {} passes; {} refused",
            f.evicted_half_open, f.evicted_closing, f.evicted_closed, f.evict_passes, f.refusals
        )?;
    }
    if r.not_allowed > 0 {
        return Err(format!("{} flood SYNs were not allowed", r.not_allowed).into());
    }
    Ok(())
}

/// Say on stderr which compiled lookup loops (and, for the pipeline, which
/// flow-table hash) run, so figures of two builds or runs can be told apart.
fn say_paths(flow_hash: bool) {
    eprintln!("classify: {}", nsg_classify::simd::selection());
    if flow_hash {
        eprintln!("flow hash: {}", nsg_flow::FLOW_HASH);
    }
}

fn pipeline(a: PipelineArgs, out: &mut Out) -> CmdResult {
    say_paths(true);
    let opts = nsg_synth::bench::BenchOptions {
        flows: a.flows,
        rules: a.rules,
        workers: a.workers.unwrap_or_else(super::replay::default_workers),
        seconds: a.seconds,
        frames: a.frames,
    };
    if a.flood {
        return flood(&a, out, opts);
    }
    let r = nsg_synth::bench::run(opts)?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "workers": r.workers,
                "flows": r.flows,
                "rules": r.rules,
                "established_pps": r.established_pps.round(),
                "new_flows_per_sec": r.new_flows_per_sec.round(),
                "bytes_per_flow": r.bytes_per_flow.round(),
                "established_frames": r.established_frames,
                "table_memory": r.table_memory.map(|b| b.to_string()),
            })
        )?;
    } else {
        writeln!(out, "workers            {}", r.workers)?;
        writeln!(out, "flows              {}", r.flows)?;
        writeln!(out, "rules per NSG      {}", r.rules)?;
        writeln!(
            out,
            "established        {:.2} Mpps",
            r.established_pps / 1e6
        )?;
        writeln!(
            out,
            "new flows          {:.2} M/s",
            r.new_flows_per_sec / 1e6
        )?;
        writeln!(out, "bytes per flow     {:.0}", r.bytes_per_flow)?;
        if let Some(b) = r.table_memory {
            writeln!(out, "table memory       {b}")?;
        }
    }
    if r.unexpected > 0 {
        return Err(format!(
            "{} established frames were not allowed by flow state",
            r.unexpected
        )
        .into());
    }
    Ok(())
}

fn classify(a: ClassifyArgs, out: &mut Out) -> CmdResult {
    say_paths(false);
    let rules = classbench::load_rules(&a.classbench)?;
    let trace = classbench::load_trace(&a.trace)?;
    let r = classbench::bench(&rules, &trace, a.batch, a.seconds);
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "rules": r.rules,
                "lookups": r.lookups,
                "lookups_per_sec": r.lookups_per_sec.round(),
                "build_ms": (r.build_ms * 1000.0).round() / 1000.0,
                "mismatches": r.mismatches,
                "batch": r.batch,
                "memory_bytes": r.memory_bytes,
                "bytes_per_rule": r.memory_bytes / r.rules.max(1),
            })
        )?;
    } else {
        writeln!(out, "rules          {}", r.rules)?;
        writeln!(out, "batch          {}", r.batch)?;
        writeln!(out, "build          {:.2} ms", r.build_ms)?;
        writeln!(
            out,
            "memory         {} bytes ({} per rule)",
            r.memory_bytes,
            r.memory_bytes / r.rules.max(1)
        )?;
        writeln!(out, "lookups        {}", r.lookups)?;
        writeln!(out, "lookups/s      {:.2} M", r.lookups_per_sec / 1e6)?;
        writeln!(out, "mismatches     {}", r.mismatches)?;
    }
    if r.mismatches > 0 {
        return Err(format!("{} lookups disagree with the linear scan", r.mismatches).into());
    }
    Ok(())
}

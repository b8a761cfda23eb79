//! `nsg bench classify`: the compiled matcher on ClassBench rule sets and traces.

use super::CmdResult;
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

pub fn run(a: Args) -> CmdResult {
    match a.what {
        What::Classify(c) => classify(c),
    }
}

fn classify(a: ClassifyArgs) -> CmdResult {
    let rules = classbench::load_rules(&a.classbench)?;
    let trace = classbench::load_trace(&a.trace)?;
    let r = classbench::bench(&rules, &trace, a.batch, a.seconds);
    if a.json {
        println!(
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
        );
    } else {
        println!("rules          {}", r.rules);
        println!("batch          {}", r.batch);
        println!("build          {:.2} ms", r.build_ms);
        println!(
            "memory         {} bytes ({} per rule)",
            r.memory_bytes,
            r.memory_bytes / r.rules.max(1)
        );
        println!("lookups        {}", r.lookups);
        println!("lookups/s      {:.2} M", r.lookups_per_sec / 1e6);
        println!("mismatches     {}", r.mismatches);
    }
    if r.mismatches > 0 {
        return Err(format!("{} lookups disagree with the linear scan", r.mismatches).into());
    }
    Ok(())
}

//! `nsg replay POLICY FILE`: a capture through the pipeline.

use super::{load_policy, CmdResult, Out};
use crate::PolicyArgs;
use nsg_capture::replay::{replay_with_progress, ReplayOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Unmanaged {
    /// Let traffic that touches no NIC of the policy through (counted).
    Pass,
    /// Drop it.
    Drop,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The capture (pcap or pcapng; Ethernet, Linux cooked, raw IP or BSD loopback).
    #[arg(value_name = "FILE")]
    capture: PathBuf,
    /// Write the frames that pass to this capture, as captured, in the input's format (pcap or pcapng).
    #[arg(long, value_name = "A.pcap")]
    allowed: Option<PathBuf>,
    /// Write the frames that are denied or dropped to this capture, in the input's format.
    #[arg(long, value_name = "D.pcap")]
    denied: Option<PathBuf>,
    /// One JSON line per frame: index, access, deciding rule or drop reason, flow state.
    #[arg(long, value_name = "V.jsonl")]
    verdicts: Option<PathBuf>,
    /// Write NSG flow logs (Azure's version 2 JSON) of the replay to this file.
    #[arg(long = "flow-log", value_name = "F.json")]
    flow_log: Option<PathBuf>,
    /// Workers (default: the machine's cores).
    #[arg(long)]
    workers: Option<usize>,
    /// What to do with IP traffic that touches no NIC of the policy.
    #[arg(long, value_enum, default_value_t = Unmanaged::Pass)]
    unmanaged: Unmanaged,
    /// Flow table capacity: the most flows held at once, over all workers.
    /// Past it, new flows evict half-open and closing ones, or are refused.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    flow_capacity: usize,
    /// Switch to another policy at a frame (0-based), as a reload would; may repeat.
    #[arg(long = "policy-at", value_name = "FRAME=POLICY2")]
    policy_at: Vec<String>,
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let policy = Arc::new(load_policy(&a.policy)?);
    let mut switches = Vec::new();
    for spec in &a.policy_at {
        let (frame, path) = spec
            .split_once('=')
            .ok_or_else(|| format!("--policy-at {spec}: expected FRAME=POLICY"))?;
        let frame: u64 = frame
            .trim()
            .parse()
            .map_err(|_| format!("--policy-at {spec}: '{frame}' is not a frame number"))?;
        let args = PolicyArgs {
            policy: PathBuf::from(path),
            service_tags: a.policy.service_tags.clone(),
        };
        switches.push((frame, Arc::new(load_policy(&args)?)));
    }
    switches.sort_by_key(|s| s.0);
    let opts = ReplayOptions {
        capture: a.capture.clone(),
        workers: a.workers.unwrap_or_else(default_workers),
        drop_unmanaged: a.unmanaged == Unmanaged::Drop,
        allowed: a.allowed,
        denied: a.denied,
        verdicts: a.verdicts,
        flow_log: a.flow_log.clone(),
        switches,
        capacity: Some(a.flow_capacity),
    };
    let mut bar = Progress::default();
    let report = replay_with_progress(policy, &opts, &mut |judged, elapsed| {
        bar.update(judged, elapsed)
    });
    bar.finish();
    let report = report?;
    writeln!(
        out,
        "{}: {} frames",
        a.capture.display(),
        report.stats.verdict.frames
    )?;
    out.text(&super::summary::replay(&report))?;
    if let Some(path) = &a.flow_log {
        writeln!(
            out,
            "  flow log                     {} ({} tuples)",
            path.display(),
            report.flow_log_tuples
        )?;
    }
    if let Some(e) = report.error {
        return Err(Box::new(e));
    }
    Ok(())
}

/// A spinner on stderr showing the frames judged, once a replay has taken
/// over a second.
#[derive(Default)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// `judged` frames so far, `elapsed` since the start.
    fn update(&mut self, judged: u64, elapsed: Duration) {
        if self.bar.is_none() && elapsed > Duration::from_secs(1) {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} frames  {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            self.bar = Some(b);
        }
        if let Some(b) = &self.bar {
            b.set_message(judged.to_string());
            b.tick();
        }
    }

    /// Clear the spinner, if it was shown.
    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

//! `nsg replay`: a capture file through the pipeline, with the frames
//! allowed and denied written to captures of their own, one verdict line per
//! frame, and a summary.

use crate::capture::{
    CaptureError, CaptureQuirks, CaptureReader, CaptureWriter, CapturedFrame, OutputFormat,
};
use crate::flowlog_stream::FlowLogWriter;
use crate::pipeline::{Outcome, WorkerOptions};
use crate::policy::{PolicyCell, RuleNames};
use crate::stats::PipelineStats;
use crate::workers::{run, Judged, PolicyChange};
use nsg_flow::{FlowTable, FlowTableConfig, NicId, Timeouts};
use nsg_policy::Policy;
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to replay and where to write.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub capture: PathBuf,
    pub workers: usize,
    pub drop_unmanaged: bool,
    pub allowed: Option<PathBuf>,
    pub denied: Option<PathBuf>,
    pub verdicts: Option<PathBuf>,
    /// Write NSG flow logs to this file as the capture's minutes close.
    pub flow_log: Option<PathBuf>,
    /// Policies to switch to at given frames.
    pub switches: Vec<(u64, Arc<Policy>)>,
    /// Flow table capacity, the total over all workers (default 1,000,000).
    pub capacity: Option<usize>,
    /// Show a progress bar on stderr when the replay takes over a second.
    pub progress: bool,
}

/// The outcome of a replay.
pub struct ReplayReport {
    pub stats: PipelineStats,
    pub elapsed: Duration,
    /// The flow table at the end.
    pub table: Arc<FlowTable>,
    /// Tuples written to the flow log (0 without one).
    pub flow_log_tuples: u64,
    /// The most flow log tuples held at once before their minute was
    /// written (0 without a flow log).
    pub flow_log_peak_held: u64,
    /// The policy in force at the end.
    pub policy: Arc<Policy>,
    /// The policies of the run by generation, to name rules.
    pub rule_names: RuleNames,
    /// A capture fault that stopped the replay after the frames before it.
    pub error: Option<CaptureError>,
    /// Capture timestamp of the last frame, in ns.
    pub last_ts_ns: u64,
    /// What the capture reader tolerated (none for frames not from a file).
    pub quirks: CaptureQuirks,
}

/// Everything that can stop a replay before it starts.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("flow table: {0}")]
    Table(String),
}

/// A flow table sized and timed for a policy: each NIC's idle timeout is
/// its VNet's `flow_timeout_minutes`.
pub fn flow_table_for(policy: &Policy, capacity: usize) -> Result<FlowTable, String> {
    let cfg = FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    };
    let table = FlowTable::new(cfg).map_err(|e| e.to_string())?;
    set_nic_timeouts(&table, policy)?;
    Ok(table)
}

/// Give each NIC of `policy` its VNet's idle timeout (NICs are keyed by
/// their index in the policy).
pub fn set_nic_timeouts(table: &FlowTable, policy: &Policy) -> Result<(), String> {
    for (i, _) in policy.nics.iter().enumerate() {
        let minutes = policy.vnets[policy.nic_vnet(i)].flow_timeout_minutes;
        let t = Timeouts::with_flow_timeout_minutes(minutes.into()).map_err(|e| e.to_string())?;
        table
            .set_timeouts(NicId::try_from(i).map_err(|e| e.to_string())?, t)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One verdict line; rules are named by the policy of the generation that
/// decided them.
pub fn verdict_json(cell: &PolicyCell, j: &Judged) -> serde_json::Value {
    let state = j.result.state.map(|s| format!("{s:?}"));
    let policy = |g: u64| {
        cell.policy_at(g)
            .unwrap_or_else(|| cell.load().compiled.policy.clone())
    };
    match j.result.outcome {
        Outcome::Allowed {
            decider,
            generation,
            by_state,
        } => json!({
            "frame": j.index, "access": "Allow",
            "rule": decider.name(&policy(generation)), "by_state": by_state, "state": state,
        }),
        Outcome::Denied {
            decider,
            generation,
        } => json!({
            "frame": j.index, "access": "Deny", "rule": decider.name(&policy(generation)),
        }),
        Outcome::Unmanaged { dropped } => json!({
            "frame": j.index, "access": if dropped { "Drop" } else { "Allow" }, "unmanaged": true,
        }),
        Outcome::NotIp => json!({ "frame": j.index, "access": "Allow", "not_ip": true }),
        Outcome::Dropped(c) => json!({ "frame": j.index, "access": "Drop", "reason": c.name() }),
    }
}

struct Outputs {
    allowed: Option<CaptureWriter>,
    denied: Option<CaptureWriter>,
    verdicts: Option<(PathBuf, BufWriter<File>)>,
    error: Option<ReplayError>,
}

impl Outputs {
    fn write(&mut self, cell: &PolicyCell, j: &Judged) {
        if self.error.is_some() {
            return;
        }
        let passes = j.result.outcome.passes();
        let w = if passes {
            self.allowed.as_mut()
        } else {
            self.denied.as_mut()
        };
        if let Some(w) = w {
            if let Err(e) = w.write(&j.frame) {
                self.error = Some(e.into());
                return;
            }
        }
        if let Some((path, v)) = self.verdicts.as_mut() {
            let line = verdict_json(cell, j);
            if let Err(e) = serde_json::to_writer(&mut *v, &line)
                .map_err(std::io::Error::from)
                .and_then(|_| v.write_all(b"\n"))
            {
                self.error = Some(ReplayError::Output {
                    path: path.clone(),
                    source: e,
                });
            }
        }
    }
}

/// Hand a judged frame's flow events to the flow log, first writing the
/// minutes the capture has moved past.
fn stream_flow_log(
    w: &mut FlowLogWriter,
    cell: &PolicyCell,
    j: &Judged,
    open_minute: &mut u64,
) -> std::io::Result<()> {
    let minute = j.frame.ts_ns / 60_000_000_000;
    if minute > *open_minute {
        *open_minute = minute;
        w.close_before(j.frame.ts_ns)?;
    }
    if !j.events.is_empty() {
        let policy = cell.load().compiled.policy.clone();
        for e in &j.events {
            w.event(&policy, e);
        }
    }
    Ok(())
}

/// Replay a capture file against `policy`.
pub fn replay(policy: Arc<Policy>, opts: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let mut reader = CaptureReader::open(&opts.capture)?;
    let format = reader.output_format();
    let frames = std::iter::from_fn(|| reader.next_frame());
    let mut report = replay_into(policy, frames, format, opts)?;
    report.quirks = reader.quirks();
    Ok(report)
}

/// Replay frames from any source (a capture file, synthesised traffic)
/// against `policy`; `opts.capture` only names the source.
pub fn replay_frames(
    policy: Arc<Policy>,
    frames: impl Iterator<Item = Result<CapturedFrame, CaptureError>>,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    replay_into(policy, frames, OutputFormat::PcapOfFirstFrame, opts)
}

/// Replay `frames`; `--allowed` and `--denied` are written in `format`.
#[allow(clippy::too_many_lines)] // split when moved
fn replay_into(
    policy: Arc<Policy>,
    frames: impl Iterator<Item = Result<CapturedFrame, CaptureError>>,
    format: OutputFormat,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let table = Arc::new(
        flow_table_for(&policy, opts.capacity.unwrap_or(1_000_000)).map_err(ReplayError::Table)?,
    );
    let cell =
        Arc::new(PolicyCell::new(policy.clone()).map_err(|e| ReplayError::Table(e.to_string()))?);
    let out_err = |path: &PathBuf, e: std::io::Error| ReplayError::Output {
        path: path.clone(),
        source: e,
    };
    let mut outputs = Outputs {
        allowed: opts
            .allowed
            .as_deref()
            .map(|p| CaptureWriter::create(p, format.clone()))
            .transpose()?,
        denied: opts
            .denied
            .as_deref()
            .map(|p| CaptureWriter::create(p, format.clone()))
            .transpose()?,
        verdicts: match &opts.verdicts {
            Some(p) => Some((
                p.clone(),
                BufWriter::new(File::create(p).map_err(|e| out_err(p, e))?),
            )),
            None => None,
        },
        error: None,
    };
    let mut flow_log = match &opts.flow_log {
        Some(p) => Some(FlowLogWriter::create(p).map_err(|e| out_err(p, e))?),
        None => None,
    };
    let mut flow_log_error: Option<std::io::Error> = None;
    let mut open_minute = 0u64;
    let switches: Vec<PolicyChange> = opts
        .switches
        .iter()
        .map(|(at, p)| PolicyChange {
            at_frame: *at,
            policy: p.clone(),
        })
        .collect();
    let wopts = WorkerOptions {
        drop_unmanaged: opts.drop_unmanaged,
        flow_events: opts.flow_log.is_some(),
    };
    let start = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut last_ts = 0u64;
    let mut judged = 0u64;
    let (totals, error) = run(
        &cell,
        &table,
        opts.workers.max(1),
        wopts,
        frames,
        &switches,
        |j: Judged| {
            last_ts = last_ts.max(j.frame.ts_ns);
            judged += 1;
            if opts.progress && judged.is_multiple_of(65_536) {
                if bar.is_none() && start.elapsed() > Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::new_spinner();
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {msg} frames  {elapsed_precise}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_message(judged.to_string());
                    b.tick();
                }
            }
            if let (Some(w), None) = (flow_log.as_mut(), flow_log_error.as_ref()) {
                if let Err(e) = stream_flow_log(w, &cell, &j, &mut open_minute) {
                    flow_log_error = Some(e);
                }
            }
            outputs.write(&cell, &j);
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let elapsed = start.elapsed();
    if let Some(e) = outputs.error.take() {
        return Err(e);
    }
    for w in [outputs.allowed.take(), outputs.denied.take()]
        .into_iter()
        .flatten()
    {
        w.finish()?;
    }
    if let Some((p, mut v)) = outputs.verdicts.take() {
        v.flush().map_err(|e| out_err(&p, e))?;
    }
    let final_policy = cell.load().compiled.policy.clone();
    let (mut flow_log_tuples, mut flow_log_peak_held) = (0, 0);
    if let Some(w) = flow_log {
        let path = w.path().to_path_buf();
        if let Some(e) = flow_log_error {
            return Err(out_err(&path, e));
        }
        flow_log_peak_held = w.peak_held();
        flow_log_tuples = w
            .finish(&final_policy, &table, last_ts)
            .map_err(|e| out_err(&path, e))?;
    }
    Ok(ReplayReport {
        stats: totals.stats,
        elapsed,
        table,
        flow_log_tuples,
        flow_log_peak_held,
        policy: final_policy,
        rule_names: cell.rule_names(),
        error,
        last_ts_ns: last_ts,
        quirks: CaptureQuirks::default(),
    })
}

impl ReplayReport {
    /// The summary table: frames, allowed, denied per deciding rule, parse
    /// drops per reason, unmanaged, flows created, elapsed, Mpps.
    pub fn summary(&self) -> String {
        let mut s = summary(&self.stats, &self.rule_names, self.elapsed);
        let at = s.find("  flow evictions").unwrap_or(s.len());
        s.insert_str(
            at,
            &format!(
                "  {:<28} {} of {} flows at the end\n",
                "flow table",
                self.table.len(),
                self.table.capacity()
            ),
        );
        let quirks = self.quirks.lines();
        if !quirks.is_empty() {
            s.push_str("\n  capture read as libpcap reads it\n");
            for (what, n) in quirks {
                s.push_str(&format!("    {what:<54} {n}\n"));
            }
        }
        s
    }

    /// Whether frames add up: frames = allowed + denied + dropped +
    /// unmanaged + not IP.
    pub fn adds_up(&self) -> bool {
        let v = &self.stats.verdict;
        v.frames == v.allowed + v.denied + v.dropped + v.unmanaged + v.not_ip
    }
}

/// The summary table of pipeline counters: frames, allowed, denied per
/// deciding rule, parse drops per reason, unmanaged, flows created, elapsed,
/// Mpps.
pub fn summary(stats: &PipelineStats, names: &RuleNames, elapsed: Duration) -> String {
    let v = &stats.verdict;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    let mut line = |k: &str, val: String| s.push_str(&format!("  {k:<28} {val}\n"));
    line("frames", v.frames.to_string());
    line(
        "allowed",
        format!("{} ({} by flow state)", v.allowed, v.allowed_by_state),
    );
    line("denied", v.denied.to_string());
    line("dropped", v.dropped.to_string());
    line(
        "unmanaged",
        format!("{} ({} dropped)", v.unmanaged, v.unmanaged_dropped),
    );
    line("not IP (ARP, ND, other)", v.not_ip.to_string());
    line("flows created", v.flows_created.to_string());
    let f = &stats.flow;
    line(
        "flow evictions",
        format!(
            "{} ({} closed, {} closing, {} half-open)",
            f.evictions(),
            f.evicted_closed,
            f.evicted_closing,
            f.evicted_half_open
        ),
    );
    line("flow refusals (table full)", f.refusals.to_string());
    line(
        "flows expired",
        (f.expired + f.expired_on_lookup).to_string(),
    );
    line("policy evaluations", v.evaluations.to_string());
    line("elapsed", format!("{:.3} s", secs));
    line("rate", format!("{:.2} Mpps", v.frames as f64 / secs / 1e6));
    let mut named: std::collections::BTreeMap<(String, bool), u64> = Default::default();
    for (k, n) in &v.by_rule {
        *named
            .entry((names.name(k.generation, k.rule), k.allowed))
            .or_default() += n;
    }
    let mut rules: Vec<(String, bool, u64)> =
        named.into_iter().map(|((r, a), n)| (r, a, n)).collect();
    rules.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    if !rules.is_empty() {
        s.push_str("\n  frames by deciding rule\n");
        for (name, allowed, n) in rules {
            s.push_str(&format!(
                "    {:<5} {:<48} {n}\n",
                if allowed { "allow" } else { "deny" },
                name
            ));
        }
    }
    let drops = stats.parse.drop_counts();
    if !drops.is_empty() || v.orphan_fragments > 0 || v.table_full > 0 {
        s.push_str("\n  drops by reason\n");
        for (reason, n) in drops {
            s.push_str(&format!("    {reason:<54} {n}\n"));
        }
        if v.orphan_fragments > 0 {
            s.push_str(&format!(
                "    {:<54} {}\n",
                "fragment without its first fragment", v.orphan_fragments
            ));
        }
        if v.table_full > 0 {
            s.push_str(&format!("    {:<54} {}\n", "flow table full", v.table_full));
        }
    }
    s
}

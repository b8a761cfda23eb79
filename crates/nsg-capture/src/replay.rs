//! `nsg replay`: a capture file through the live path's workers, with the
//! frames allowed and denied written to captures of their own, one verdict
//! line per frame, and flow logs. The counters come back in a
//! [`ReplayReport`]; the command line prints them.

use crate::capture::{
    CaptureError, CaptureQuirks, CaptureReader, CaptureWriter, CapturedFrame, FrameRef,
    OutputFormat, WRITE_BUFFER,
};
use crate::flowlog_stream::FlowLogWriter;
use nsg_dataplane::flow_setup::flow_tables_for;
use nsg_dataplane::pipeline::{Outcome, WorkerOptions};
use nsg_dataplane::policy::{PolicyCell, RuleNames};
use nsg_dataplane::stats::PipelineStats;
use nsg_dataplane::workers::{run, Judged, PolicyChange};
use nsg_flow::FlowTable;
use nsg_policy::Policy;
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A replay reports its progress every this many frames judged.
pub const PROGRESS_EVERY: u64 = 65_536;

/// What to replay and where to write.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// The capture file (for [`replay_frames`], only the source's name).
    pub capture: PathBuf,
    /// Worker threads (at least one runs).
    pub workers: usize,
    /// Drop IP traffic that touches no NIC of the policy instead of
    /// letting it through.
    pub drop_unmanaged: bool,
    /// Write the frames that pass to this capture.
    pub allowed: Option<PathBuf>,
    /// Write the frames denied or dropped to this capture.
    pub denied: Option<PathBuf>,
    /// Write one JSON verdict line per frame to this file.
    pub verdicts: Option<PathBuf>,
    /// Write NSG flow logs to this file as the capture's minutes close.
    pub flow_log: Option<PathBuf>,
    /// Policies to switch to at given frames.
    pub switches: Vec<(u64, Arc<Policy>)>,
    /// Flow table capacity, the total over all workers (default 1,000,000).
    pub capacity: Option<usize>,
}

/// The outcome of a replay.
pub struct ReplayReport {
    /// The pipeline's counters, summed over the workers.
    pub stats: PipelineStats,
    /// Wall-clock time of the judging (not of opening the outputs).
    pub elapsed: Duration,
    /// Every worker's flow table at the end, in worker order (each holds
    /// the flows of the frames its worker judged).
    pub tables: Vec<FlowTable>,
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

impl ReplayReport {
    /// Whether frames add up: frames = allowed + denied + dropped +
    /// unmanaged + not IP.
    pub fn adds_up(&self) -> bool {
        let v = &self.stats.verdict;
        v.frames == v.allowed + v.denied + v.dropped + v.unmanaged + v.not_ip
    }

    /// Live flows at the end, over all workers' tables.
    pub fn flows(&self) -> usize {
        self.tables.iter().map(FlowTable::len).sum()
    }

    /// The flow capacity, over all workers' tables.
    pub fn flow_capacity(&self) -> usize {
        self.tables.iter().map(FlowTable::capacity).sum()
    }
}

/// Everything that can stop a replay before it starts.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture cannot be opened, or an output capture not created or written.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The verdicts file or the flow log cannot be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The flow table cannot be set up for the policy.
    #[error("flow table: {0}")]
    Table(String),
}

/// A fault writing the file at `path`.
fn out_err(path: &Path, source: std::io::Error) -> ReplayError {
    ReplayError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// One verdict line; rules are named by the policy of the generation that
/// decided them.
pub fn verdict_json(cell: &PolicyCell, j: &Judged<'_>) -> serde_json::Value {
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

/// The files a replay writes as it judges, and the first fault writing them.
struct Outputs {
    allowed: Option<CaptureWriter>,
    denied: Option<CaptureWriter>,
    verdicts: Option<(PathBuf, BufWriter<File>)>,
    error: Option<ReplayError>,
}

impl Outputs {
    fn write(&mut self, cell: &PolicyCell, j: &Judged<'_>) {
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
            if let Err(e) = w.write_ref(j.frame) {
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
    j: &Judged<'_>,
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
    replay_with_progress(policy, opts, &mut |_, _| {})
}

/// [`replay`], calling `progress` with the frames judged so far and the
/// time since the start every [`PROGRESS_EVERY`] frames.
pub fn replay_with_progress(
    policy: Arc<Policy>,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(u64, Duration),
) -> Result<ReplayReport, ReplayError> {
    let mut reader = CaptureReader::open(&opts.capture)?;
    let format = reader.output_format();
    let mut report = replay_into(policy, reader.frames(), format, opts, progress)?;
    report.quirks = reader.quirks();
    Ok(report)
}

/// Replay frames from any source (synthesised traffic, frames read
/// elsewhere) against `policy`; `opts.capture` only names the source. The
/// frames are taken (up to a fault) before the replay starts.
pub fn replay_frames(
    policy: Arc<Policy>,
    frames: impl Iterator<Item = Result<CapturedFrame, CaptureError>>,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let mut fault = None;
    let owned: Vec<CapturedFrame> = frames
        .map_while(|f| f.map_err(|e| fault = Some(e)).ok())
        .collect();
    let refs = owned
        .iter()
        .map(|f| Ok(f.as_frame_ref()))
        .chain(fault.map(Err));
    replay_refs(policy, refs, opts)
}

/// [`replay_frames`] of borrowed frames, judged as they come.
pub fn replay_refs<'a>(
    policy: Arc<Policy>,
    frames: impl Iterator<Item = Result<FrameRef<'a>, CaptureError>>,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    replay_into(
        policy,
        frames,
        OutputFormat::PcapOfFirstFrame,
        opts,
        &mut |_, _| {},
    )
}

impl Outputs {
    /// Create the outputs `opts` asks for; captures in `format`.
    fn create(opts: &ReplayOptions, format: &OutputFormat) -> Result<Outputs, ReplayError> {
        let capture = |p: &Option<PathBuf>| {
            p.as_deref()
                .map(|p| CaptureWriter::create(p, format.clone()))
                .transpose()
        };
        let verdicts = match &opts.verdicts {
            Some(p) => Some((
                p.clone(),
                BufWriter::with_capacity(WRITE_BUFFER, File::create(p).map_err(|e| out_err(p, e))?),
            )),
            None => None,
        };
        Ok(Outputs {
            allowed: capture(&opts.allowed)?,
            denied: capture(&opts.denied)?,
            verdicts,
            error: None,
        })
    }

    /// Finish every output: the first write fault, or the first fault
    /// finishing one.
    fn finish(mut self) -> Result<(), ReplayError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for w in [self.allowed.take(), self.denied.take()]
            .into_iter()
            .flatten()
        {
            w.finish()?;
        }
        if let Some((p, mut v)) = self.verdicts.take() {
            v.flush().map_err(|e| out_err(&p, e))?;
        }
        Ok(())
    }
}

/// The flow log a replay streams to, and the first fault writing it.
struct FlowLogOut {
    writer: FlowLogWriter,
    error: Option<std::io::Error>,
    open_minute: u64,
}

impl FlowLogOut {
    /// Stream `j`'s events, unless a write already failed.
    fn judged(&mut self, cell: &PolicyCell, j: &Judged<'_>) {
        if self.error.is_none() {
            if let Err(e) = stream_flow_log(&mut self.writer, cell, j, &mut self.open_minute) {
                self.error = Some(e);
            }
        }
    }

    /// Write the rest of the log: `(tuples written, peak held)`.
    fn finish(
        self,
        policy: &Arc<Policy>,
        tables: &[FlowTable],
        last_ts: u64,
    ) -> Result<(u64, u64), ReplayError> {
        let path = self.writer.path().to_path_buf();
        if let Some(e) = self.error {
            return Err(out_err(&path, e));
        }
        let peak = self.writer.peak_held();
        let tuples = self
            .writer
            .finish(policy, tables, last_ts)
            .map_err(|e| out_err(&path, e))?;
        Ok((tuples, peak))
    }
}

/// What the judging loop keeps track of.
#[derive(Default)]
struct Judging {
    last_ts: u64,
    judged: u64,
}

/// Replay `frames`; `--allowed` and `--denied` are written in `format`.
fn replay_into<'a>(
    policy: Arc<Policy>,
    frames: impl Iterator<Item = Result<FrameRef<'a>, CaptureError>>,
    format: OutputFormat,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(u64, Duration),
) -> Result<ReplayReport, ReplayError> {
    let tables = flow_tables_for(
        &policy,
        opts.capacity.unwrap_or(1_000_000),
        opts.workers.max(1),
    )
    .map_err(ReplayError::Table)?;
    let cell = Arc::new(PolicyCell::new(policy).map_err(|e| ReplayError::Table(e.to_string()))?);
    let mut outputs = Outputs::create(opts, &format)?;
    let mut flow_log = match &opts.flow_log {
        Some(p) => Some(FlowLogOut {
            writer: FlowLogWriter::create(p).map_err(|e| out_err(p, e))?,
            error: None,
            open_minute: 0,
        }),
        None => None,
    };
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
    let mut seen = Judging::default();
    let (totals, error) = run(&cell, tables, wopts, frames, &switches, |j: Judged<'a>| {
        seen.last_ts = seen.last_ts.max(j.frame.ts_ns);
        seen.judged += 1;
        if seen.judged.is_multiple_of(PROGRESS_EVERY) {
            progress(seen.judged, start.elapsed());
        }
        if let Some(f) = flow_log.as_mut() {
            f.judged(&cell, &j);
        }
        outputs.write(&cell, &j);
    });
    let elapsed = start.elapsed();
    outputs.finish()?;
    let final_policy = cell.load().compiled.policy.clone();
    let (flow_log_tuples, flow_log_peak_held) = match flow_log {
        Some(f) => f.finish(&final_policy, &totals.tables, seen.last_ts)?,
        None => (0, 0),
    };
    Ok(ReplayReport {
        stats: totals.stats,
        elapsed,
        tables: totals.tables,
        flow_log_tuples,
        flow_log_peak_held,
        policy: final_policy,
        rule_names: cell.rule_names(),
        error,
        last_ts_ns: seen.last_ts,
        quirks: CaptureQuirks::default(),
    })
}

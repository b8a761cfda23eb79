//! Flow logs written as a replay goes: the tuples of each capture minute are
//! held until the capture moves past that minute, then written as that
//! minute's records (one per NSG) and dropped. The file is opened before the
//! first frame, so an unwritable path fails at once.
//!
//! ## Guarantees
//! - The file is `{"records": [...]}` exactly as [`FlowLog::write`] would
//!   write the same tuples (records by minute then NSG, indented the same),
//!   when the capture's timestamps never go back past a minute boundary. A
//!   tuple of a minute already written (a capture going back in time) is
//!   not lost: it is written in an extra record of its minute.
//! - Memory: the tuples of the minutes still open, and the denied attempts
//!   of those minutes (one record a minute for retransmissions); nothing
//!   per flow for the whole replay.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ahash::AHashSet;
use nsg_flow::{FlowInfo, FlowTable, NicId, RuleId};
use nsg_packet::FiveTuple;
use nsg_policy::eval::Decider;
use nsg_policy::Policy;

use crate::flowlog::{Counters, FlowLog, FlowState, FlowTuple, DEFAULT_RESOURCE_PREFIX};
use crate::pipeline::FlowEvent;

const MINUTE_NS: u64 = 60_000_000_000;

/// A flow log file being written minute by minute.
pub struct FlowLogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// Open minutes (Unix seconds of the minute's start) and their tuples.
    open: BTreeMap<u64, FlowLog>,
    /// Denied attempts logged, per open minute: retransmissions of one are
    /// logged once a minute.
    denied: BTreeMap<u64, AHashSet<(NicId, FiveTuple)>>,
    records: u64,
    tuples: u64,
}

impl FlowLogWriter {
    /// Create (truncate) the file at `path`.
    pub fn create(path: &Path) -> io::Result<FlowLogWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(b"{\n  \"records\": [")?;
        Ok(FlowLogWriter {
            path: path.to_path_buf(),
            out,
            open: BTreeMap::new(),
            denied: BTreeMap::new(),
            records: 0,
            tuples: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tuples written so far.
    pub fn tuples(&self) -> u64 {
        self.tuples
    }

    /// Log a flow event of the pipeline: B when a TCP or UDP flow began or
    /// was denied, E when it ended. Rules are named by `policy`.
    pub fn event(&mut self, policy: &Policy, e: &FlowEvent) {
        let minute = e.ts.0 / MINUTE_NS;
        if !e.allowed
            && !self
                .denied
                .entry(minute)
                .or_default()
                .insert((e.nic, e.tuple))
        {
            return;
        }
        let state = if e.end.is_some() {
            FlowState::End
        } else {
            FlowState::Begin
        };
        let t = Tuple {
            nic: e.nic,
            rule: e.rule,
            tuple: &e.tuple,
            ts_ns: e.ts.0,
            inbound: e.inbound,
            allowed: e.allowed,
            state,
            info: e.end.as_ref(),
        };
        self.record(policy, t);
    }

    /// Write and drop every minute before the one holding `ts_ns`.
    pub fn close_before(&mut self, ts_ns: u64) -> io::Result<()> {
        let keep_from = ts_ns / MINUTE_NS * 60;
        let still_open = self.open.split_off(&keep_from);
        let closed = std::mem::replace(&mut self.open, still_open);
        self.denied = self.denied.split_off(&(ts_ns / MINUTE_NS));
        for log in closed.values() {
            self.write_log(log)?;
        }
        Ok(())
    }

    /// Log a C tuple with its counters for every allowed TCP or UDP flow
    /// still open in `table` at `ts_ns`, then write everything and close
    /// the file; returns the tuples written.
    pub fn finish(mut self, policy: &Policy, table: &FlowTable, ts_ns: u64) -> io::Result<u64> {
        table.for_each(|nic, info| {
            let open = !matches!(
                info.state,
                nsg_flow::ConnState::Closed | nsg_flow::ConnState::TimeWait
            );
            if open
                && matches!(info.original.proto, 6 | 17)
                && info.verdict == nsg_flow::Verdict::Allow
            {
                let inbound = policy
                    .nics
                    .get(nic.0 as usize)
                    .is_some_and(|n| n.ips.contains(&info.original.dst_ip()));
                let t = Tuple {
                    nic,
                    rule: info.rule,
                    tuple: &info.original,
                    ts_ns,
                    inbound,
                    allowed: true,
                    state: FlowState::Continuing,
                    info: Some(info),
                };
                self.record(policy, t);
            }
        });
        self.close()
    }

    fn record(&mut self, policy: &Policy, t: Tuple<'_>) {
        let Decider::Rule(r) = crate::policy::decider(t.rule) else {
            return;
        };
        let Some(g) = policy.nsgs.get(r.nsg) else {
            return;
        };
        let Some(rule) = g.rules(r.direction).get(r.index) else {
            return;
        };
        let mac = policy.nics.get(t.nic.0 as usize).and_then(|n| n.mac);
        let ts = t.ts_ns / 1_000_000_000;
        self.record_tuple(
            &g.name,
            &rule.name,
            rule.is_default,
            mac,
            FlowTuple {
                ts,
                src: t.tuple.src_ip(),
                dst: t.tuple.dst_ip(),
                src_port: t.tuple.src_port,
                dst_port: t.tuple.dst_port,
                tcp: t.tuple.proto == 6,
                inbound: t.inbound,
                allowed: t.allowed,
                state: t.state,
                counters: t.info.map(|i| Counters {
                    packets_sd: i.packets[0],
                    bytes_sd: i.bytes[0],
                    packets_ds: i.packets[1],
                    bytes_ds: i.bytes[1],
                }),
            },
        );
    }

    /// Hold a tuple logged by NSG `nsg` under its rule `rule` (a default
    /// rule when `default_rule`) at the NIC with MAC `mac` until its minute
    /// is written (as [`FlowLog::record`]).
    pub fn record_tuple(
        &mut self,
        nsg: &str,
        rule: &str,
        default_rule: bool,
        mac: Option<[u8; 6]>,
        t: FlowTuple,
    ) {
        self.open
            .entry(t.ts / 60 * 60)
            .or_insert_with(|| FlowLog::new(DEFAULT_RESOURCE_PREFIX))
            .record(nsg, rule, default_rule, mac, t);
    }

    /// Write everything held and close the file; returns the tuples
    /// written.
    pub fn close(mut self) -> io::Result<u64> {
        self.close_before(u64::MAX)?;
        if self.records == 0 {
            self.out.write_all(b"]\n}\n")?;
        } else {
            self.out.write_all(b"\n  ]\n}\n")?;
        }
        self.out.flush()?;
        Ok(self.tuples)
    }

    /// Write one minute's records, indented as inside the whole file.
    fn write_log(&mut self, log: &FlowLog) -> io::Result<()> {
        let json = log.to_json();
        let records = json["records"].as_array().map_or(&[][..], Vec::as_slice);
        for rec in records {
            let text = serde_json::to_string_pretty(rec)?;
            self.out
                .write_all(if self.records == 0 { b"\n" } else { b",\n" })?;
            for (i, line) in text.lines().enumerate() {
                if i > 0 {
                    self.out.write_all(b"\n")?;
                }
                self.out.write_all(b"    ")?;
                self.out.write_all(line.as_bytes())?;
            }
            self.records += 1;
        }
        self.tuples += log.len() as u64;
        Ok(())
    }
}

/// One tuple to log, before rule and NIC are looked up.
struct Tuple<'a> {
    nic: NicId,
    rule: RuleId,
    tuple: &'a FiveTuple,
    ts_ns: u64,
    inbound: bool,
    allowed: bool,
    state: FlowState,
    info: Option<&'a FlowInfo>,
}

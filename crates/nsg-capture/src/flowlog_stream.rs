//! Flow logs written as a replay goes: the tuples of each capture minute are
//! held until the capture moves past that minute, then written as that
//! minute's records (one per NSG) and dropped. The file is opened before the
//! first frame, so an unwritable path fails at once.
//!
//! ## Guarantees
//! - The file is `{"records": [...]}` exactly as [`FlowLog::write`](crate::flowlog::FlowLog::write) would
//!   write the same tuples (records by minute then NSG, indented the same),
//!   when the capture's timestamps never go back past a minute boundary. A
//!   tuple of a minute already written (a capture going back in time) is
//!   not lost: it is written in an extra record of its minute. The C tuples
//!   of flows still open at the end follow the other tuples of their list,
//!   in the order the flow table is walked.
//! - Memory: a held tuple is a small fixed-size value (addresses, ports,
//!   second, flags; NSG, rule and MAC as the index of an interned name
//!   triple; counters only for C and E tuples), held only while its minute
//!   is open; the denied attempts of the open minutes (one record a minute
//!   for retransmissions). Minutes are written piece by piece, without a
//!   JSON tree. The C tuples at the end are written from the flow table as
//!   it is walked, nothing collected per flow. [`FlowLogWriter::held`] and
//!   [`FlowLogWriter::peak_held`] count the tuples held.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::{AHashMap, AHashSet};
use nsg_flow::{FlowInfo, FlowTable, NicId, RuleId};
use nsg_packet::FiveTuple;
use nsg_policy::eval::Decider;
use nsg_policy::Policy;

use crate::flowlog::{
    logged_rule_name, mac_string, Counters, FlowState, FlowTuple, DEFAULT_RESOURCE_PREFIX,
};
use crate::flowlog_held::Minute;
use crate::flowlog_text as text;
use nsg_dataplane::pipeline::FlowEvent;

const MINUTE_NS: u64 = 60_000_000_000;

/// What a tuple is logged under, as written: the NSG upper-cased, the rule
/// as logged, the MAC as 12 hex digits. Its derived order is the order of
/// records (after the minute), rules and MACs in the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Names {
    nsg: String,
    rule: String,
    mac: String,
}

/// A flow log file being written minute by minute.
pub struct FlowLogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    prefix: String,
    /// Interned name triples; a held tuple refers to one by index.
    names: Vec<Names>,
    by_names: AHashMap<Names, u32>,
    /// The policy `by_ids` refers to (kept so that it is never another
    /// policy at the same address).
    policy: Option<Arc<Policy>>,
    /// (rule id, NIC) of `policy` to its name triple (`None`: not a rule).
    by_ids: AHashMap<(u32, u16), Option<u32>>,
    /// Open minutes (Unix seconds of the minute's start) and their tuples.
    open: BTreeMap<u64, Minute>,
    /// Denied attempts logged, per open minute: retransmissions of one are
    /// logged once a minute.
    denied: BTreeMap<u64, AHashSet<(NicId, FiveTuple)>>,
    records: u64,
    tuples: u64,
    held: u64,
    peak_held: u64,
}

impl FlowLogWriter {
    /// Create (truncate) the file at `path`.
    pub fn create(path: &Path) -> io::Result<FlowLogWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(b"{\n  \"records\": [")?;
        Ok(FlowLogWriter {
            path: path.to_path_buf(),
            out,
            prefix: DEFAULT_RESOURCE_PREFIX.trim_end_matches('/').to_uppercase(),
            names: Vec::new(),
            by_names: AHashMap::new(),
            policy: None,
            by_ids: AHashMap::new(),
            open: BTreeMap::new(),
            denied: BTreeMap::new(),
            records: 0,
            tuples: 0,
            held: 0,
            peak_held: 0,
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

    /// Tuples held now (of the minutes not written yet).
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The most tuples held at once so far.
    pub fn peak_held(&self) -> u64 {
        self.peak_held
    }

    /// Log a flow event of the pipeline: B when a TCP or UDP flow began or
    /// was denied, E when it ended. Rules are named by `policy`.
    pub fn event(&mut self, policy: &Arc<Policy>, e: &FlowEvent) {
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
        let Some(group) = self.group(policy, e.rule, e.nic) else {
            return;
        };
        let state = if e.end.is_some() {
            FlowState::End
        } else {
            FlowState::Begin
        };
        let t = flow_tuple(
            &e.tuple,
            e.ts.0,
            e.inbound,
            e.allowed,
            state,
            e.end.as_ref(),
        );
        self.hold(group, t);
    }

    /// The name triple of rule `rule` at NIC `nic` of `policy`, or `None`
    /// when no NSG rule decided.
    fn group(&mut self, policy: &Arc<Policy>, rule: RuleId, nic: NicId) -> Option<u32> {
        if !self.policy.as_ref().is_some_and(|p| Arc::ptr_eq(p, policy)) {
            self.policy = Some(policy.clone());
            self.by_ids.clear();
        }
        if let Some(g) = self.by_ids.get(&(rule.0, nic.0)) {
            return *g;
        }
        let g = names_of(policy, rule, nic).map(|n| self.intern(n));
        self.by_ids.insert((rule.0, nic.0), g);
        g
    }

    fn intern(&mut self, n: Names) -> u32 {
        if let Some(&g) = self.by_names.get(&n) {
            return g;
        }
        let g = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(n.clone());
        self.by_names.insert(n, g);
        g
    }

    fn hold(&mut self, group: u32, t: FlowTuple) {
        self.open.entry(t.ts / 60 * 60).or_default().push(group, &t);
        self.held += 1;
        self.peak_held = self.peak_held.max(self.held);
    }

    /// Write and drop every minute before the one holding `ts_ns`.
    pub fn close_before(&mut self, ts_ns: u64) -> io::Result<()> {
        let keep_from = ts_ns / MINUTE_NS * 60;
        let still_open = self.open.split_off(&keep_from);
        let closed = std::mem::replace(&mut self.open, still_open);
        self.denied = self.denied.split_off(&(ts_ns / MINUTE_NS));
        for (minute, m) in closed {
            self.write_minute(minute, m, None)?;
        }
        Ok(())
    }

    /// Log a C tuple with its counters for every allowed TCP or UDP flow
    /// still open in `tables` (every worker's) at `ts_ns`, then write
    /// everything and close the file; returns the tuples written. The
    /// tables are walked once to find the C tuples' names, then once per
    /// name triple, whose tuples are written in order (as held ones are),
    /// in the records of the minute of `ts_ns`: the log does not depend on
    /// how the flows were spread over the tables.
    pub fn finish(
        mut self,
        policy: &Arc<Policy>,
        tables: &[FlowTable],
        ts_ns: u64,
    ) -> io::Result<u64> {
        self.close_before(ts_ns)?;
        let minute = ts_ns / MINUTE_NS * 60;
        let mut with_open: AHashSet<u32> = AHashSet::new();
        for table in tables {
            table.for_each(|nic, info| {
                if logged_open(info) {
                    if let Some(g) = self.group(policy, info.rule, nic) {
                        with_open.insert(g);
                    }
                }
            });
        }
        let m = self.open.remove(&minute).unwrap_or_default();
        let end = OpenFlows {
            policy,
            tables,
            ts_ns,
            groups: &with_open,
        };
        self.write_minute(minute, m, Some(&end))?;
        self.close()
    }

    /// Hold a tuple logged by NSG `nsg` under its rule `rule` (a default
    /// rule when `default_rule`) at the NIC with MAC `mac` until its minute
    /// is written (as [`FlowLog::record`](crate::flowlog::FlowLog::record)).
    pub fn record_tuple(
        &mut self,
        nsg: &str,
        rule: &str,
        default_rule: bool,
        mac: Option<[u8; 6]>,
        t: FlowTuple,
    ) {
        let g = self.intern(Names {
            nsg: nsg.to_uppercase(),
            rule: logged_rule_name(rule, default_rule),
            mac: mac_string(mac),
        });
        self.hold(g, t);
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

    /// Write one minute's records, and with `end` the C tuples of the flows
    /// open at the end (whose time is in this minute).
    fn write_minute(
        &mut self,
        minute: u64,
        mut m: Minute,
        end: Option<&OpenFlows<'_>>,
    ) -> io::Result<()> {
        let mut groups: Vec<u32> = m.groups().collect();
        if let Some(e) = end {
            groups.extend(e.groups.iter().filter(|g| !m.has(**g)));
        }
        groups.sort_unstable_by(|a, b| self.names[*a as usize].cmp(&self.names[*b as usize]));
        let held = m.len() as u64;
        let mut prev: Option<Names> = None;
        for &g in &groups {
            let n = self.names[g as usize].clone();
            let new_nsg = prev.as_ref().is_none_or(|p| p.nsg != n.nsg);
            let new_rule = new_nsg || prev.as_ref().is_some_and(|p| p.rule != n.rule);
            if let Some(p) = &prev {
                text::end_mac(&mut self.out, &p.mac)?;
                if new_rule {
                    text::end_rule(&mut self.out, &p.rule)?;
                }
                if new_nsg {
                    text::end_record(&mut self.out, &self.prefix, &p.nsg, minute)?;
                }
            }
            if new_nsg {
                text::begin_record(&mut self.out, self.records == 0)?;
                self.records += 1;
            }
            if new_rule {
                text::begin_rule(&mut self.out, new_nsg)?;
            }
            text::begin_mac(&mut self.out, new_rule)?;
            let mut first = true;
            for t in m.sorted(g, minute) {
                text::tuple(&mut self.out, first, &t)?;
                first = false;
                self.tuples += 1;
            }
            if let Some(e) = end.filter(|e| e.groups.contains(&g)) {
                self.write_open_flows(e, g, first)?;
            }
            prev = Some(n);
        }
        if let Some(p) = prev {
            text::end_mac(&mut self.out, &p.mac)?;
            text::end_rule(&mut self.out, &p.rule)?;
            text::end_record(&mut self.out, &self.prefix, &p.nsg, minute)?;
        }
        self.held -= held;
        Ok(())
    }

    /// Walk the tables and write, in order, a C tuple for each flow open
    /// at the end logged under name triple `g`.
    fn write_open_flows(&mut self, e: &OpenFlows<'_>, g: u32, mut first: bool) -> io::Result<()> {
        let mut open = Vec::new();
        for table in e.tables {
            table.for_each(|nic, info| {
                if !logged_open(info) || self.group(e.policy, info.rule, nic) != Some(g) {
                    return;
                }
                let inbound = e
                    .policy
                    .nics
                    .get(nic.0 as usize)
                    .is_some_and(|n| n.ips.contains(&info.original.dst_ip()));
                open.push(flow_tuple(
                    &info.original,
                    e.ts_ns,
                    inbound,
                    true,
                    FlowState::Continuing,
                    Some(info),
                ));
            });
        }
        open.sort_unstable();
        for t in &open {
            text::tuple(&mut self.out, first, t)?;
            first = false;
            self.tuples += 1;
        }
        Ok(())
    }
}

/// The flows open at the end, and the name triples they are logged under.
struct OpenFlows<'a> {
    policy: &'a Arc<Policy>,
    tables: &'a [FlowTable],
    ts_ns: u64,
    groups: &'a AHashSet<u32>,
}

/// Whether a flow of the table gets a C tuple at the end: an allowed TCP
/// or UDP flow not closed.
fn logged_open(info: &FlowInfo) -> bool {
    !matches!(
        info.state,
        nsg_flow::ConnState::Closed | nsg_flow::ConnState::TimeWait
    ) && info.original.has_ports()
        && info.verdict == nsg_flow::Verdict::Allow
}

/// The names a tuple of rule `rule` at NIC `nic` is logged under.
fn names_of(policy: &Policy, rule: RuleId, nic: NicId) -> Option<Names> {
    let Decider::Rule(r) = nsg_dataplane::policy::decider(rule) else {
        return None;
    };
    let g = policy.nsgs.get(r.nsg)?;
    let rule = g.rules(r.direction).get(r.index)?;
    let mac = policy.nics.get(nic.0 as usize).and_then(|n| n.mac);
    Some(Names {
        nsg: g.name.to_uppercase(),
        rule: logged_rule_name(&rule.name, rule.is_default),
        mac: mac_string(mac),
    })
}

/// The tuple of a flow at `ts_ns`.
fn flow_tuple(
    tuple: &FiveTuple,
    ts_ns: u64,
    inbound: bool,
    allowed: bool,
    state: FlowState,
    info: Option<&FlowInfo>,
) -> FlowTuple {
    FlowTuple {
        ts: ts_ns / 1_000_000_000,
        src: tuple.src_ip(),
        dst: tuple.dst_ip(),
        src_port: tuple.src_port,
        dst_port: tuple.dst_port,
        tcp: tuple.proto == nsg_packet::proto::TCP,
        inbound,
        allowed,
        state,
        counters: info.map(|i| Counters {
            packets_sd: i.packets[0],
            bytes_sd: i.bytes[0],
            packets_ds: i.packets[1],
            bytes_ds: i.bytes[1],
        }),
    }
}

//! `nsg run`: live ports, the switch between them, the pipeline judging
//! every IP packet, policy reloads while traffic flows.
//!
//! Threads: `workers` packet threads, each owning one queue of every port
//! (a TAP is multi-queue when there are several workers; an AF_PACKET port
//! has one socket per worker in a fanout group) and polling them, reading
//! a round of frames from a queue with one system call where the port
//! allows (io_uring on a TAP; none on an interface, read from its
//! TPACKET_V3 receive ring), switching each
//! in place where it was read and writing each output port's share of the
//! round with one call (io_uring, `sendmmsg`). Each
//! worker owns its flow table (the total capacity split evenly): it sweeps
//! its idle flows itself, between batches, and publishes its flow count
//! for the runner and the metrics when it sweeps or exports. Reloads
//! come from the caller's thread: the new policy is bound to the ports,
//! compiled and published there, off the packet path; workers pick it up
//! at their next batch and give their own table the new NIC timeouts
//! first. The flow tables outlive reloads.

use crate::flow_setup::{flow_tables_for, nic_timeouts};
use crate::handoff::Handoff;
use crate::metrics::{self as m, Exporter};
use crate::pipeline::{Worker, WorkerOptions};
use crate::policy::{PolicyCell, RuleNames};
use crate::port::batch::RxBatch;
use crate::port::{self, OpenPort, PortError, PortSpec, Queue};
use crate::stats::PipelineStats;
use crate::switch::stats::SwitchStats;
use crate::switch::{BindError, Role, Switch, SwitchWorker, Topology};
use crate::workers::follow_generation;
use io::{LostPorts, Ports};
use nsg_flow::{Clock, FlowStats, FlowTable, MonotonicClock};
use nsg_policy::Policy;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod io;

/// Frames read from one queue before the worker looks at the others.
pub const BATCH: usize = 64;
/// How often workers hand their counters to metrics.
const EXPORT_EVERY: Duration = Duration::from_millis(250);
/// How often each worker sweeps its idle flows.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a worker waits for input before looking at the stop flag.
const POLL_MS: i32 = 100;
/// Polls without waiting after the last frame before a worker sleeps: a
/// frame answering the last one often arrives within microseconds, and
/// sleeping and waking for it costs more than looking.
const SPIN_POLLS: u32 = 64;

/// One port of a run and what it stands for.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// The NIC the port stands for, or the uplink.
    pub role: Role,
    /// The device: a TAP nsg creates, or an interface.
    pub spec: PortSpec,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Packet threads (and queues per port).
    pub workers: usize,
    /// Flow table capacity, the total over all workers (each owns an even
    /// share).
    pub capacity: usize,
    /// Hand counters to the `metrics` facade.
    pub metrics: bool,
    /// Let TAPs offload segmentation and checksums (virtio-net headers): TCP
    /// moves in segments of up to 64 KiB. Off, nsg completes offloaded
    /// frames (from interfaces) in software before writing them to a TAP.
    pub offload: bool,
    /// How an interface's frames are spread over the workers' sockets.
    pub fanout: port::Fanout,
    /// Answer DHCPv4, DHCPv6 and router solicitations on NIC ports as the
    /// platform (off: `--no-dhcp`, they take the normal path).
    pub dhcp: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: 1,
            capacity: 1_000_000,
            metrics: false,
            offload: true,
            fanout: port::Fanout::Hash,
            dhcp: true,
        }
    }
}

/// What stops a run from starting, or a reload from being taken.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A port could not be opened: which NIC (or the uplink), which port,
    /// what failed and on which value.
    #[error("{role} (port {}): {}", .error.port, .error.fault)]
    Port {
        /// The NIC's name, or `uplink`.
        role: String,
        /// The port and what failed.
        error: PortError,
    },
    /// The policy does not bind to the ports.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The flow table cannot be made, or a NIC's timeouts are refused.
    #[error("flow table: {0}")]
    Table(String),
    /// The policy has more NICs than a flow key can number.
    #[error(transparent)]
    TooManyNics(#[from] nsg_flow::NicIdError),
    /// Two ports name the same device.
    #[error("port {0} is given twice")]
    DuplicatePort(String),
    /// A worker thread, or what wakes a worker when frames are handed to
    /// it, could not be set up.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// The counters of a run, when it stops.
pub struct RunReport {
    /// The pipeline counters of every worker, merged.
    pub pipeline: PipelineStats,
    /// The switch counters of every worker, merged.
    pub switch: SwitchStats,
    /// Flow table sweeps, summed over the workers.
    pub sweeps: FlowStats,
    /// Entries in the flow tables at the end, summed over the workers.
    pub flows: usize,
    /// From start to stop.
    pub elapsed: Duration,
    /// The policy in force at the end.
    pub policy: Arc<Policy>,
    /// The policies of the run by generation, to name rules.
    pub rule_names: RuleNames,
    /// The generation of the policy in force at the end.
    pub generation: u64,
    /// The ports' device names, in the order given.
    pub port_names: Vec<String>,
}

/// A running switch.
pub struct Runner {
    cell: Arc<PolicyCell>,
    /// Each worker's flow count as it last published it.
    flows: Arc<[AtomicUsize]>,
    switch: Arc<Switch>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<WorkerEnd>>,
    started: Instant,
}

/// What a worker hands back when it stops.
struct WorkerEnd {
    /// Its pipeline counters.
    pipeline: PipelineStats,
    /// Its switch counters.
    switch: SwitchStats,
    /// Its sweeps of its flow table.
    sweeps: FlowStats,
    /// Entries in its flow table at the end.
    flows: usize,
}

impl Runner {
    /// Open the ports, bind them to `policy` and start switching.
    pub fn start(
        policy: Arc<Policy>,
        ports: &[PortConfig],
        opts: &RunOptions,
    ) -> Result<Runner, RunError> {
        let roles: Vec<Role> = ports.iter().map(|p| p.role.clone()).collect();
        let names: Vec<String> = ports.iter().map(|p| p.spec.name().to_string()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(RunError::DuplicatePort(n.clone()));
            }
        }
        Topology::build(&policy, 1, &roles).map_err(|e| name_port(e, &names))?;
        let workers = opts.workers.max(1);
        let tables = flow_tables_for(&policy, opts.capacity, workers).map_err(RunError::Table)?;
        // Interfaces always carry virtio-net headers; TAPs take them unless
        // told not to (then what a header asks is completed in software).
        let offload = opts.offload;
        let mut opened: Vec<OpenPort> = Vec::with_capacity(ports.len());
        for pc in ports {
            let mac = match &pc.role {
                Role::Nic(n) => policy.nic_by_name(n).and_then(|i| policy.nics[i].mac),
                Role::Uplink => None,
            };
            let p = port::open(&pc.spec, workers, mac, offload, opts.fanout).map_err(|error| {
                RunError::Port {
                    role: role_name(&pc.role),
                    error,
                }
            })?;
            tracing::info!(
                port = %pc.spec,
                role = ?pc.role,
                queues = p.queues.len(),
                offload,
                "port open"
            );
            opened.push(p);
        }
        let peer_macs: Vec<Option<[u8; 6]>> = opened.iter().map(|p| p.peer_mac).collect();
        let switch = Arc::new(Switch::new(roles, names, &peer_macs).with_host_services(opts.dhcp));
        let cell = Arc::new(PolicyCell::new(policy)?);
        let stop = Arc::new(AtomicBool::new(false));
        let clock = MonotonicClock::new();
        // Worker w takes queue w of every port.
        let mut per_worker: Vec<Vec<Queue>> = (0..workers).map(|_| Vec::new()).collect();
        for p in opened {
            for (w, q) in p.queues.into_iter().enumerate() {
                per_worker[w].push(q);
            }
        }
        let lost = Arc::new(LostPorts::new(ports.len()));
        let flows: Arc<[AtomicUsize]> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        let mut handles = Vec::new();
        let handoffs = Handoff::group(workers).map_err(RunError::Thread)?;
        let per_worker = per_worker.into_iter().zip(tables).zip(handoffs);
        for (w, ((queues, table), handoff)) in per_worker.enumerate() {
            let ctx = WorkerCtx {
                index: w,
                cell: cell.clone(),
                flows: flows.clone(),
                switch: switch.clone(),
                stop: stop.clone(),
                clock,
                metrics: opts.metrics,
                lost: lost.clone(),
            };
            let h = std::thread::Builder::new()
                .name(format!("nsg-worker-{w}"))
                .spawn(move || ctx.run(queues, table, handoff))
                .map_err(RunError::Thread)?;
            handles.push(h);
        }
        if opts.metrics {
            m::generation(1);
        }
        Ok(Runner {
            cell,
            flows,
            switch,
            stop,
            workers: handles,
            started: Instant::now(),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.cell.load().compiled.policy.clone()
    }

    /// The generation of the policy in force.
    pub fn generation(&self) -> u64 {
        self.cell.load().generation
    }

    /// Entries in the flow tables, as the workers last published their
    /// counts (every few hundred milliseconds).
    pub fn flows(&self) -> usize {
        total_flows(&self.flows)
    }

    /// Bind, compile and publish a new policy; returns its generation. A
    /// policy that does not bind to the ports is refused and the old one
    /// keeps running.
    pub fn reload(&self, policy: Policy) -> Result<u64, RunError> {
        Topology::build(&policy, 0, &self.switch.roles)
            .map_err(|e| name_port(e, &self.switch.names))?;
        // Timeouts are keyed by NIC index: take them from the policy as
        // published, whose NICs keep the indices they had.
        // Each worker gives its own table these timeouts when it first sees
        // the new generation; they are checked here, before publishing.
        let aligned = crate::policy::align_nics(self.cell.load().policy(), &policy);
        nic_timeouts(&aligned).map_err(RunError::Table)?;
        let generation = self.cell.publish(Arc::new(aligned))?;
        Ok(generation)
    }

    /// Stop the workers and collect their counters.
    pub fn stop(mut self) -> RunReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut pipeline = PipelineStats::default();
        let mut switch = SwitchStats::new(self.switch.roles.len());
        let mut sweeps = FlowStats::default();
        let mut flows = 0;
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(end) => {
                    pipeline.merge(&end.pipeline);
                    switch.merge(&end.switch);
                    sweeps.merge(&end.sweeps);
                    flows += end.flows;
                }
                Err(_) => tracing::error!("a worker panicked; its counters are lost"),
            }
        }
        let published = self.cell.load();
        RunReport {
            pipeline,
            switch,
            sweeps,
            flows,
            elapsed: self.started.elapsed(),
            policy: published.compiled.policy.clone(),
            rule_names: self.cell.rule_names(),
            generation: published.generation,
            port_names: self.switch.names.clone(),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A port's role as messages name it: the NIC's name, or `uplink`.
fn role_name(role: &Role) -> String {
    match role {
        Role::Nic(n) => n.clone(),
        Role::Uplink => "uplink".to_string(),
    }
}

fn name_port(e: BindError, names: &[String]) -> BindError {
    match e {
        BindError::UnknownNic { port, nic } => {
            let i: Option<usize> = port.trim_start_matches('#').parse().ok();
            BindError::UnknownNic {
                port: i.and_then(|i| names.get(i).cloned()).unwrap_or(port),
                nic,
            }
        }
        e => e,
    }
}

/// The sum of the workers' published flow counts.
fn total_flows(flows: &[AtomicUsize]) -> usize {
    flows.iter().map(|f| f.load(Ordering::Relaxed)).sum()
}

/// What one packet thread shares with the runner and the other workers.
struct WorkerCtx {
    /// Which worker: its slot in `flows`.
    index: usize,
    cell: Arc<PolicyCell>,
    /// Every worker's published flow count.
    flows: Arc<[AtomicUsize]>,
    switch: Arc<Switch>,
    stop: Arc<AtomicBool>,
    clock: MonotonicClock,
    metrics: bool,
    lost: Arc<LostPorts>,
}

/// A worker's periodic chores between batches: sweeping its table,
/// publishing its flow count, exporting its counters.
struct Chores {
    exporter: Exporter,
    last_export: Instant,
    last_sweep: Instant,
    /// Its sweeps so far.
    sweeps: FlowStats,
    /// The policy generation whose NIC timeouts its table has.
    seen: Option<u64>,
}

impl Chores {
    fn new() -> Chores {
        Chores {
            exporter: Exporter::default(),
            last_export: Instant::now(),
            last_sweep: Instant::now(),
            sweeps: FlowStats::default(),
            seen: None,
        }
    }
}

impl WorkerCtx {
    fn run(self, queues: Vec<Queue>, table: FlowTable, mut handoff: Handoff) -> WorkerEnd {
        let pipeline = Worker::new(table, WorkerOptions::default());
        let mut sw = SwitchWorker::new(self.switch.clone(), pipeline);
        // The ports' queues, then the hand-off's eventfd.
        let mut poll = port::PollSet::new(queues.iter().map(|q| q.fd()).chain([handoff.fd()]));
        let inbox = queues.len();
        let mut ports = Ports::new(queues);
        let mut rx = RxBatch::new(BATCH);
        let mut chores = Chores::new();
        let mut idle = SPIN_POLLS;
        while !self.stop.load(Ordering::Relaxed) {
            let wait = if idle < SPIN_POLLS { 0 } else { POLL_MS };
            if let Err(e) = poll.wait(wait) {
                tracing::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
            let policy = self.cell.load();
            follow_generation(&mut sw.pipeline, &policy, &mut chores.seen);
            let now = self.clock.now();
            idle = idle.saturating_add(1);
            for i in 0..inbox {
                if poll.is_ready(i)
                    && self.read_port(
                        (i, (&policy, now)),
                        &mut sw,
                        &mut ports,
                        &mut poll,
                        &mut handoff,
                        &mut rx,
                    ) > 0
                {
                    idle = 0;
                }
            }
            handoff.flush();
            // The inbox is read only when its eventfd woke the poll: every
            // parcel is sent with a wake, and reading an idle eventfd would
            // cost a system call every round.
            if poll.is_ready(inbox) {
                let handed = handoff.drain(|port, run| {
                    self.switch_round(&mut sw, &mut ports, (&policy, now), port, run);
                });
                if handed > 0 {
                    idle = 0;
                }
            }
            if sw.has_pending() {
                self.release_held(&mut sw, &mut ports, &policy);
            }
            self.chores(&mut sw, &mut chores);
        }
        sw.stats.handoff = handoff.stats;
        let stats = sw.stats.clone();
        let (pipe, _, table) = sw.pipeline.into_parts();
        self.publish_flows(table.len());
        if self.metrics {
            let mut exporter = chores.exporter;
            exporter.export(&stats, &pipe, &self.cell, &self.switch.names);
        }
        WorkerEnd {
            pipeline: pipe,
            switch: stats,
            sweeps: chores.sweeps,
            flows: table.len(),
        }
    }

    /// Sweep this worker's table every [`SWEEP_EVERY`] (by its own clock
    /// reading) and export its counters every [`EXPORT_EVERY`]; publish its
    /// flow count whenever it does either. Never per frame.
    fn chores(&self, sw: &mut SwitchWorker, c: &mut Chores) {
        let mut changed = false;
        if c.last_sweep.elapsed() >= SWEEP_EVERY {
            c.last_sweep = Instant::now();
            let before = c.sweeps.expired;
            sw.pipeline
                .table_mut()
                .sweep(self.clock.now(), &mut c.sweeps);
            if self.metrics && c.sweeps.expired > before {
                metrics::counter!("nsg_flows_expired_total").increment(c.sweeps.expired - before);
            }
            changed = true;
        }
        if c.last_export.elapsed() >= EXPORT_EVERY {
            c.last_export = Instant::now();
            if self.metrics {
                c.exporter.export(
                    &sw.stats,
                    sw.pipeline.stats(),
                    &self.cell,
                    &self.switch.names,
                );
            }
            changed = true;
        }
        if changed {
            self.publish_flows(sw.pipeline.table().len());
        }
    }

    /// Publish this worker's flow count; with metrics, set the flows gauge
    /// to the sum over the workers.
    fn publish_flows(&self, entries: usize) {
        if let Some(slot) = self.flows.get(self.index) {
            slot.store(entries, Ordering::Relaxed);
        }
        if self.metrics {
            m::flows(total_flows(&self.flows));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_fault_names_the_nic_the_port_and_the_value() {
        let spec = PortSpec::Tap("nsg0".into());
        let error = PortError::io(
            &spec,
            "set MAC 02:00:0a:00:01:04 on nsg0",
            std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        );
        let e = RunError::Port {
            role: role_name(&Role::Nic("NIC1".into())),
            error,
        };
        assert_eq!(
            e.to_string(),
            format!(
                "NIC1 (port tap:nsg0): cannot set MAC 02:00:0a:00:01:04 on nsg0: {}",
                std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)
            )
        );
        assert_eq!(role_name(&Role::Uplink), "uplink");
    }
}

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
use crate::policy::{PolicyCell, Published, RuleNames};
use crate::port::batch::RxBatch;
use crate::port::{self, OpenPort, PortError, PortSpec, Queue};
use crate::stats::PipelineStats;
use crate::switch::stats::SwitchStats;
use crate::switch::{Action, BindError, Role, Switch, SwitchWorker, Topology};
use crate::workers::follow_generation;
use nsg_flow::{Clock, FlowStats, FlowTable, MonotonicClock, Timestamp};
use nsg_policy::Policy;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
                let handed = handoff.drain(|port, hdr, frame| {
                    self.switch_frame(&mut sw, &mut ports, (&policy, now), port, hdr, frame);
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

    /// Read a round of up to [`BATCH`] frames from this worker's queue of
    /// port `i` (one system call where the port allows): each is handed to
    /// the worker that owns its connection, or switched here in place under
    /// the round's policy and clock reading `at`; what goes out is written
    /// per output port once the round is switched ([`Self::flush`]).
    /// Answers how many frames were read.
    fn read_port(
        &self,
        (i, at): (usize, (&Published, Timestamp)),
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        poll: &mut port::PollSet,
        handoff: &mut Handoff,
        rx: &mut RxBatch,
    ) -> usize {
        let off = ports.queues[i].header_len();
        if let Err(e) = ports.queues[i].recv_batch(rx) {
            self.read_failed(sw, poll, i, &e);
            return 0;
        }
        let mut local: Vec<(&mut [u8], &mut [u8])> = Vec::with_capacity(BATCH);
        let mut read = 0;
        for (slot, got) in rx.frames() {
            let n = match got {
                Ok(Some(n)) if n > off && n <= slot.len() => n,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.bad_frame(sw, ports, i, &e);
                    continue;
                }
                Err(e) => {
                    self.read_failed(sw, poll, i, &e);
                    break;
                }
            };
            read += 1;
            let (hdr, frame) = slot[..n].split_at_mut(off);
            if let Err(e) = offload_ok(hdr, frame) {
                self.bad_frame(sw, ports, i, &e.into());
                continue;
            }
            sw.stats.ports[i].rx.add(frame.len());
            match handoff.owner(frame) {
                Some(owner) => handoff.push(owner, i, hdr, frame),
                None => local.push((hdr, frame)),
            }
        }
        self.switch_round(sw, ports, at, i, &mut local);
        read
    }

    /// Switch the frames of a round read from port `i` that this worker
    /// owns, in place, their IP packets judged together: what nsg answers
    /// itself (ARP, DHCP) is written at once, the frames to forward with
    /// the round, one batch per output port ([`Self::flush`]).
    fn switch_round(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        (policy, now): (&Published, Timestamp),
        i: usize,
        local: &mut [(&mut [u8], &mut [u8])],
    ) {
        let mut forward: Vec<(usize, usize)> = Vec::with_capacity(local.len());
        sw.handle_round(
            policy,
            i,
            local,
            now,
            |k, action, emitted, stats| match action {
                Action::Forward(o) => forward.push((o, k)),
                Action::Emit(o) => {
                    if self.send(ports, o, &[], emitted) {
                        stats.ports[o].tx.add(emitted.len());
                    } else {
                        stats.ports[o].tx_errors += 1;
                    }
                }
                Action::Drop => {}
            },
        );
        let out: Vec<Outgoing<'_>> = forward
            .iter()
            .map(|&(o, k)| (o, &*local[k].0, &*local[k].1))
            .collect();
        self.flush(sw, ports, &out);
    }

    /// A read from port `i` failed other than for a frame: the device went
    /// away (its namespace was deleted, the interface removed). Stop
    /// polling it rather than spin on its error.
    fn read_failed(
        &self,
        sw: &mut SwitchWorker,
        poll: &mut port::PollSet,
        i: usize,
        e: &std::io::Error,
    ) {
        sw.stats.ports[i].rx_errors += 1;
        poll.disable(i);
        self.port_gone(i, "read", e);
    }

    /// Write a round's outgoing frames, one batch per output port, and
    /// count each in the port's transmit counters or errors. Nothing is
    /// written to a port whose device is gone.
    fn flush(&self, sw: &mut SwitchWorker, ports: &mut Ports, out: &[Outgoing<'_>]) {
        let mut batch: Vec<(&[u8], &[u8])> = Vec::with_capacity(out.len());
        for p in 0..ports.queues.len() {
            batch.clear();
            batch.extend(out.iter().filter(|o| o.0 == p).map(|o| (o.1, o.2)));
            if batch.is_empty() {
                continue;
            }
            if self.lost.is_lost(p) {
                sw.stats.ports[p].tx_errors += batch.len() as u64;
                continue;
            }
            let mut failed = None;
            let stats = &mut sw.stats.ports[p];
            ports.queues[p].send_batch(&batch, |k, r| match r {
                Ok(()) => stats.tx.add(batch[k].1.len()),
                Err(e) => {
                    stats.tx_errors += 1;
                    failed.get_or_insert(e);
                }
            });
            if let Some(e) = failed {
                self.write_failed(ports, p, &e);
            }
        }
    }

    /// A frame read from port `i` that cannot be taken (cut by the read
    /// buffer, a virtio-net header that cannot be honoured): counted in the
    /// port's receive errors and dropped; the first one per port and worker
    /// is logged with its reason.
    fn bad_frame(&self, sw: &mut SwitchWorker, ports: &mut Ports, i: usize, e: &std::io::Error) {
        sw.stats.ports[i].rx_errors += 1;
        if !std::mem::replace(&mut ports.rx_error_logged[i], true) {
            tracing::warn!(port = %self.switch.names[i], "frame dropped: {e}");
        }
    }

    /// Switch a frame that came in on port `i` (handed over by the worker
    /// that read it) and write it where it goes.
    fn switch_frame(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        at: (&Published, Timestamp),
        i: usize,
        hdr: &mut [u8],
        frame: &mut [u8],
    ) {
        if let Some((out, hdr, bytes)) = self.route(sw, ports, at, i, hdr, frame) {
            let len = bytes.len();
            if self.send(ports, out, hdr, bytes) {
                sw.stats.ports[out].tx.add(len);
            } else {
                sw.stats.ports[out].tx_errors += 1;
            }
        }
    }

    /// Switch a frame that came in on port `i`, in place: a frame to
    /// forward is answered with its output port, to be written with the
    /// round; a frame nsg answers itself (ARP, DHCP) is written at once.
    fn route<'a>(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        (policy, now): (&Published, Timestamp),
        i: usize,
        hdr: &'a mut [u8],
        frame: &'a mut [u8],
    ) -> Option<Outgoing<'a>> {
        match sw.handle_offloaded(policy, i, hdr, frame, now) {
            Action::Forward(o) => Some((o, hdr, frame)),
            Action::Emit(o) => {
                let len = sw.emitted().len();
                if self.send(ports, o, &[], sw.emitted()) {
                    sw.stats.ports[o].tx.add(len);
                } else {
                    sw.stats.ports[o].tx_errors += 1;
                }
                None
            }
            Action::Drop => None,
        }
    }

    /// Write the held frames whose destination's address is now known.
    fn release_held(&self, sw: &mut SwitchWorker, ports: &mut Ports, policy: &Published) {
        let mut sent = Vec::new();
        sw.release(policy, self.clock.now(), |port, hdr, frame| {
            let r = ports.queues[port].send(hdr, frame);
            sent.push((port, frame.len(), r));
        });
        for (port, len, r) in sent {
            match r {
                Ok(()) => sw.stats.ports[port].tx.add(len),
                Err(e) => {
                    sw.stats.ports[port].tx_errors += 1;
                    if device_gone(&e) {
                        self.port_gone(port, "write", &e);
                    }
                }
            }
        }
    }

    /// Write a frame to this worker's queue of port `out`; false when it
    /// was not written. Nothing is written to a port whose device is gone.
    fn send(&self, ports: &mut Ports, out: usize, hdr: &[u8], frame: &[u8]) -> bool {
        if self.lost.is_lost(out) {
            return false;
        }
        match ports.queues[out].send(hdr, frame) {
            Ok(()) => true,
            Err(e) => {
                self.write_failed(ports, out, &e);
                false
            }
        }
    }

    /// A write to port `out` failed: a device that is gone is marked lost,
    /// any other error is logged once per port and worker.
    fn write_failed(&self, ports: &mut Ports, out: usize, e: &std::io::Error) {
        if device_gone(e) {
            self.port_gone(out, "write", e);
        } else if !std::mem::replace(&mut ports.tx_error_logged[out], true) {
            tracing::warn!(port = %self.switch.names[out], "write: {e}");
        }
    }

    /// Port `i`'s device is gone: the first worker to see it logs it and
    /// counts it, for all of them.
    fn port_gone(&self, i: usize, op: &str, e: &std::io::Error) {
        if !self.lost.mark(i) {
            return;
        }
        let name = &self.switch.names[i];
        tracing::warn!(
            port = %name,
            "{op}: {e}; the device is gone, the port is no longer read or written"
        );
        if self.metrics {
            m::port_lost(name);
        }
    }
}

/// A frame switched in a round and waiting to be written: its output port,
/// the virtio-net header it came with and the frame, where it was read.
type Outgoing<'a> = (usize, &'a [u8], &'a [u8]);

/// A worker's queue of every port, and the ports whose write errors and
/// dropped input it has already logged.
struct Ports {
    queues: Vec<Queue>,
    tx_error_logged: Vec<bool>,
    rx_error_logged: Vec<bool>,
}

impl Ports {
    fn new(queues: Vec<Queue>) -> Ports {
        let tx_error_logged = vec![false; queues.len()];
        Ports {
            rx_error_logged: tx_error_logged.clone(),
            queues,
            tx_error_logged,
        }
    }
}

/// Whether the virtio-net header a frame came with (if any) can be
/// honoured: a port without offloads will have to complete it.
fn offload_ok(hdr: &[u8], frame: &[u8]) -> Result<(), port::offload::Malformed> {
    if !port::needs_offload(hdr) {
        return Ok(());
    }
    let h = port::offload::VnetHdr::parse(hdr).ok_or(port::offload::Malformed::ShortHeader)?;
    port::offload::check(&h, frame)
}

/// The ports whose device went away, shared by the workers (each has its
/// own queue of every port and sees the loss on its own).
struct LostPorts(Vec<AtomicBool>);

impl LostPorts {
    fn new(ports: usize) -> Self {
        LostPorts((0..ports).map(|_| AtomicBool::new(false)).collect())
    }

    fn is_lost(&self, port: usize) -> bool {
        self.0.get(port).is_some_and(|l| l.load(Ordering::Relaxed))
    }

    /// Mark `port` lost; true only for the first call.
    fn mark(&self, port: usize) -> bool {
        self.0
            .get(port)
            .is_some_and(|l| !l.swap(true, Ordering::SeqCst))
    }
}

/// A write error that means the device is no longer there: a TAP whose
/// interface was deleted (EBADFD), an interface removed under a packet
/// socket (ENODEV, ENXIO).
fn device_gone(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD) | Some(libc::ENODEV) | Some(libc::ENXIO)
    )
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

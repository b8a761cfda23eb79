//! `nsg bench pipeline`: synthetic 64-byte TCP frames through the whole
//! in-memory pipeline (parse, flow table, matcher over two layers). Frames
//! are generated up front and sharded per worker, so the timed loops are the
//! pipeline alone; both phases judge them in batches of
//! [`VECTOR`](nsg_dataplane::batch::VECTOR) with
//! [`Worker::process_batch`].
//!
//! The policy: one VNet, one server NIC whose subnet NSG and NIC NSG each
//! hold `rules` user rules; all but the last deny traffic the benchmark never
//! sends, and the last allows TCP 80 from the Internet, so a new flow is
//! judged through both full layers. Clients are Internet addresses.

use nsg_dataplane::batch::VECTOR;
use nsg_dataplane::flow_setup::flow_table_for;
use nsg_dataplane::pipeline::{FrameResult, Outcome, Worker, WorkerOptions};
use nsg_dataplane::policy::{PolicyCell, Published};
use nsg_dataplane::workers::shard_hash;
use nsg_flow::Timestamp;
use nsg_packet::proto;
use nsg_packet::wire::{ip_frame, Endpoint, IpFields, TcpHeader};
use nsg_policy::Policy;
use std::fmt::Write;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Benchmark parameters.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Established flows (the flood: the flow table's capacity).
    pub flows: usize,
    /// User rules in each of the two NSGs a new flow crosses.
    pub rules: usize,
    /// Worker threads, each with its own shard of the frames.
    pub workers: usize,
    /// Seconds the established phase runs for, unless `frames` is set.
    pub seconds: f64,
    /// Established frames each worker processes (cycling over its flows),
    /// instead of running for `seconds`: two runs that differ only here do
    /// the same setup, so their instruction counts differ by these frames.
    pub frames: Option<u64>,
}

/// Measured figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Worker threads that ran.
    pub workers: usize,
    /// Established flows.
    pub flows: usize,
    /// User rules per NSG.
    pub rules: usize,
    /// Frames per second of established flows, over all workers.
    pub established_pps: f64,
    /// New flows per second (each judged through both NSGs), over all workers.
    pub new_flows_per_sec: f64,
    /// The memory of every worker's flow table, summed, divided by the
    /// flows they hold.
    pub bytes_per_flow: f64,
    /// Frames of the established phase that were not allowed by state (must be 0).
    pub unexpected: u64,
    /// Frames the established phase processed, over all workers.
    pub established_frames: u64,
    /// What backs the flow tables' memory (huge pages or not).
    pub table_memory: Option<nsg_flow::local::Backing>,
}

/// The benchmark policy as TOML.
pub fn policy_text(rules: usize) -> String {
    let mut t = String::from(
        "[[vnet]]\nname = \"BenchVNet\"\naddress_space = [\"10.0.0.0/16\"]\n\
         [[subnet]]\nname = \"Servers\"\nvnet = \"BenchVNet\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"SubnetNsg\"\n\
         [[nic]]\nname = \"Server\"\nsubnet = \"Servers\"\nips = [\"10.0.1.4\"]\nnsg = \"NicNsg\"\n",
    );
    for nsg in ["SubnetNsg", "NicNsg"] {
        let _ = write!(t, "[[nsg]]\nname = \"{nsg}\"\n");
        for i in 0..rules.saturating_sub(1) {
            // Sources in 198.18.0.0/15 (benchmarking space): never sent.
            let a = 18 + (i >> 16) as u32 % 2;
            let _ = write!(
                t,
                "[[nsg.rule]]\nname = \"Deny-{i}\"\npriority = {}\ndirection = \"inbound\"\naccess = \"deny\"\nprotocol = \"tcp\"\nsource = \"198.{a}.{}.{}\"\ndestination = \"*\"\ndestination_ports = {}\n",
                100 + i,
                (i >> 8) & 0xff,
                i & 0xff,
                1000 + i % 60000
            );
        }
        let _ = write!(
            t,
            "[[nsg.rule]]\nname = \"Allow-Web\"\npriority = {}\ndirection = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"Internet\"\ndestination = \"*\"\ndestination_ports = 80\n",
            100 + rules.saturating_sub(1)
        );
    }
    t
}

/// A 64-byte Ethernet/IPv4/TCP frame (a header-only segment, padded to
/// Ethernet's minimum), built by the wire module; the TCP checksum is left
/// zero, as the pipeline does not check it.
pub fn tcp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let end = |mac_last: u8, ip: [u8; 4]| Endpoint::new([0x02, 0, 0, 0, 0, mac_last], ip.into());
    let segment = TcpHeader {
        src_port: sport,
        dst_port: dport,
        seq: 0,
        ack: 0,
        flags,
        window: 65535,
        mss: None,
    }
    .segment(&[]);
    let ip = IpFields::new(64, 0, false);
    let mut f = ip_frame(&end(2, src), &end(1, dst), proto::TCP, &segment, ip);
    f.resize(64, 0);
    f
}

pub(crate) const SYN: u8 = 0x02;
pub(crate) const ACK: u8 = 0x10;
/// The benchmark policy's server NIC address.
pub(crate) const SERVER: [u8; 4] = [10, 0, 1, 4];

/// The client of flow `i`: an Internet address and port.
pub(crate) fn client(i: usize) -> ([u8; 4], u16) {
    let host = (i / 50_000) as u32;
    let port = 10_000 + (i % 50_000) as u16;
    let a = 0x1400_0000u32 + host; // 20.0.0.0/8
    (a.to_be_bytes(), port)
}

/// The benchmark's policy of `rules` rules per NSG, loaded and published.
fn bench_policy(rules: usize) -> Result<(Arc<Policy>, Arc<PolicyCell>), String> {
    let policy = nsg_policy::load_str(
        &policy_text(rules.max(1)),
        Path::new("bench-policy.toml"),
        &nsg_policy::LoadOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let policy = Arc::new(policy);
    let cell = Arc::new(PolicyCell::new(policy.clone()).map_err(|e| e.to_string())?);
    Ok((policy, cell))
}

/// Run the benchmark.
pub fn run(opts: BenchOptions) -> Result<BenchReport, String> {
    let workers = opts.workers.max(1);
    let (policy, cell) = bench_policy(opts.rules)?;
    let server = SERVER;
    // Frames per worker, by the same symmetric hash the runtime shards by.
    let mut syns: Vec<Vec<Vec<u8>>> = vec![Vec::new(); workers];
    let mut acks: Vec<Vec<Vec<u8>>> = vec![Vec::new(); workers];
    for i in 0..opts.flows {
        let (c, port) = client(i);
        let syn = tcp_frame(c, server, port, 80, SYN);
        let w = (shard_hash(&syn) % workers as u64) as usize;
        syns[w].push(syn);
        acks[w].push(tcp_frame(c, server, port, 80, ACK));
    }
    // Spread each worker's established frames uniformly over its flows.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for a in acks.iter_mut() {
        for i in (1..a.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            a.swap(i, (rng % (i as u64 + 1)) as usize);
        }
    }
    // Each worker owns a table of exactly its share of the flows, which
    // fill it (the shares are uneven: clients share addresses, and workers
    // shard by them): bytes per flow are those of a full table.
    let tables = syns
        .iter()
        .map(|s| flow_table_for(&policy, s.len().max(1)))
        .collect::<Result<Vec<_>, _>>()?;
    let table_memory = tables.first().map(|t| t.backing());
    let barrier = Barrier::new(workers);
    let now = Timestamp(1_000_000_000);
    let results: Vec<PipelineRun> = std::thread::scope(|s| {
        let handles: Vec<_> = tables
            .into_iter()
            .enumerate()
            .map(|(w, table)| {
                let (syn, ack) = (&syns[w], &acks[w]);
                let (cell, barrier) = (&cell, &barrier);
                s.spawn(move || {
                    let mut worker = Worker::new(table, WorkerOptions::default());
                    let policy = cell.load();
                    barrier.wait();
                    let new_time = new_flow_phase(&mut worker, &policy, syn, now);
                    barrier.wait();
                    let (time, frames, unexpected) =
                        established_phase(&mut worker, &policy, ack, &opts, now);
                    let table = worker.table();
                    PipelineRun {
                        new_time,
                        time,
                        frames,
                        unexpected,
                        new_flows: syn.len() as u64,
                        memory: table.memory_bytes(),
                        live: table.len(),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let new_secs = results
        .iter()
        .map(|r| r.new_time)
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    let new_flows: u64 = results.iter().map(|r| r.new_flows).sum();
    // Each worker's rate, summed: workers run concurrently.
    let established_pps: f64 = results
        .iter()
        .map(|r| r.frames as f64 / r.time.as_secs_f64().max(1e-9))
        .sum();
    let memory: usize = results.iter().map(|r| r.memory).sum();
    let live: usize = results.iter().map(|r| r.live).sum();
    Ok(BenchReport {
        workers,
        flows: opts.flows,
        rules: opts.rules,
        established_pps,
        new_flows_per_sec: new_flows as f64 / new_secs.max(1e-9),
        bytes_per_flow: memory as f64 / live.max(1) as f64,
        unexpected: results.iter().map(|r| r.unexpected).sum(),
        established_frames: results.iter().map(|r| r.frames).sum(),
        table_memory,
    })
}

/// What one worker of the pipeline benchmark measured, and its table.
#[derive(Debug, Clone, Copy, Default)]
struct PipelineRun {
    /// Time of its new-flow phase.
    new_time: Duration,
    /// Time of its established phase.
    time: Duration,
    /// Established frames it judged.
    frames: u64,
    /// Established frames not allowed by flow state.
    unexpected: u64,
    /// New flows it set up.
    new_flows: u64,
    /// Its table's memory, in bytes.
    memory: usize,
    /// Live flows in its table at the end.
    live: usize,
}

/// One worker's new flows: each SYN judged through both NSGs and inserted.
/// Never inlined, so a profiler can collect this phase alone
/// (`valgrind --tool=callgrind --toggle-collect='*new_flow_phase*'`).
#[inline(never)]
fn new_flow_phase(
    worker: &mut Worker,
    policy: &Published,
    syns: &[Vec<u8>],
    now: Timestamp,
) -> Duration {
    let t0 = Instant::now();
    judge_batches(worker, policy, syns.iter(), now);
    t0.elapsed()
}

/// Judge `frames`, all seen at `now`, in batches of [`VECTOR`] with
/// [`Worker::process_batch`]; returns how many were not allowed by flow
/// state.
fn judge_batches<'a>(
    worker: &mut Worker,
    policy: &Published,
    frames: impl Iterator<Item = &'a Vec<u8>>,
    now: Timestamp,
) -> u64 {
    let mut batch: [(&[u8], Timestamp); VECTOR] = [(&[], now); VECTOR];
    let mut out: Vec<FrameResult> = Vec::with_capacity(VECTOR);
    let mut unexpected = 0u64;
    let mut judge = |batch: &[(&[u8], Timestamp)]| {
        worker.process_batch(policy, batch, &mut out);
        let by_state =
            |r: &FrameResult| matches!(r.outcome, Outcome::Allowed { by_state: true, .. });
        unexpected += out.iter().filter(|r| !by_state(r)).count() as u64;
    };
    let mut n = 0;
    for f in frames {
        batch[n] = (f.as_slice(), now);
        n += 1;
        if n == VECTOR {
            judge(&batch);
            n = 0;
        }
    }
    judge(&batch[..n]);
    unexpected
}

/// One worker's established frames, cycling over its flows: exactly
/// `opts.frames` of them when set, else whole passes until `opts.seconds`
/// have gone by. Returns the time taken, the frames processed and those not
/// allowed by flow state. Never inlined, like [`new_flow_phase`].
#[inline(never)]
fn established_phase(
    worker: &mut Worker,
    policy: &Published,
    acks: &[Vec<u8>],
    opts: &BenchOptions,
    now: Timestamp,
) -> (Duration, u64, u64) {
    let mut frames = 0u64;
    let mut unexpected = 0u64;
    let t0 = Instant::now();
    if let Some(n) = opts.frames {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let cycle = acks.iter().cycle().take(n);
        unexpected += judge_batches(worker, policy, cycle, now);
        frames += if acks.is_empty() { 0 } else { n as u64 };
        return (t0.elapsed(), frames, unexpected);
    }
    let budget = Duration::from_secs_f64(opts.seconds.max(0.01));
    loop {
        unexpected += judge_batches(worker, policy, acks.iter(), now);
        frames += acks.len() as u64;
        if t0.elapsed() >= budget || acks.is_empty() {
            break;
        }
    }
    (t0.elapsed(), frames, unexpected)
}

/// Figures of the flood mode: new flows per second into an empty table up
/// to its capacity, then past it with half-open SYN flows only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodReport {
    /// Worker threads that ran.
    pub workers: usize,
    /// The capacity of the workers' tables together; the flood is twice as
    /// many flows.
    pub capacity: usize,
    /// User rules per NSG.
    pub rules: usize,
    /// New flows per second while the table fills up to its capacity.
    pub below_per_sec: f64,
    /// New flows per second past the capacity, each evicting another.
    pub past_per_sec: f64,
    /// The flow table's counters at the end (evictions, refusals).
    pub flow: nsg_flow::FlowStats,
    /// SYNs of the flood that were not allowed (refused: table full).
    pub not_allowed: u64,
}

impl FloodReport {
    /// The rate past capacity as a share of the rate below it.
    pub fn ratio(&self) -> f64 {
        self.past_per_sec / self.below_per_sec.max(1e-9)
    }
}

/// The flood mode: `2 × flows` SYNs from distinct sources to one allowed
/// port, into tables of capacity `flows` together (each worker's holds its
/// share of the first half); the first half fills them, the second half
/// each evicts. Each phase is timed over all workers.
pub fn run_flood(opts: BenchOptions) -> Result<FloodReport, String> {
    let workers = opts.workers.max(1);
    let capacity = opts.flows.max(1);
    let (policy, cell) = bench_policy(opts.rules)?;
    // Per worker: the SYNs below capacity, then those past it.
    let mut phases: Vec<[Vec<Vec<u8>>; 2]> = vec![[Vec::new(), Vec::new()]; workers];
    for i in 0..2 * capacity {
        let (c, port) = client(i);
        let syn = tcp_frame(c, SERVER, port, 80, SYN);
        let w = (shard_hash(&syn) % workers as u64) as usize;
        phases[w][usize::from(i >= capacity)].push(syn);
    }
    // Each worker's table holds exactly its share of the fill, so that its
    // share of the rest each evicts.
    let tables = phases
        .iter()
        .map(|p| flow_table_for(&policy, p[0].len().max(1)))
        .collect::<Result<Vec<_>, _>>()?;
    let barrier = Barrier::new(workers);
    let now = Timestamp(1_000_000_000);
    type Res = ([Duration; 2], nsg_flow::FlowStats, u64);
    let results: Vec<Res> = std::thread::scope(|s| {
        let handles: Vec<_> = phases
            .iter()
            .zip(tables)
            .map(|(frames, table)| {
                let (cell, barrier) = (&cell, &barrier);
                s.spawn(move || {
                    let mut worker = Worker::new(table, WorkerOptions::default());
                    let policy = cell.load();
                    let mut times = [Duration::ZERO; 2];
                    let mut not_allowed = 0u64;
                    for (phase, fs) in frames.iter().enumerate() {
                        barrier.wait();
                        let t0 = Instant::now();
                        for f in fs {
                            let r = worker.process(&policy, f, now);
                            not_allowed += u64::from(!matches!(r.outcome, Outcome::Allowed { .. }));
                        }
                        times[phase] = t0.elapsed();
                    }
                    (times, worker.stats().flow, not_allowed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let secs = |p: usize| {
        results
            .iter()
            .map(|r| r.0[p])
            .max()
            .unwrap_or_default()
            .as_secs_f64()
            .max(1e-9)
    };
    let mut flow = nsg_flow::FlowStats::default();
    for r in &results {
        flow.merge(&r.1);
    }
    Ok(FloodReport {
        workers,
        capacity,
        rules: opts.rules,
        below_per_sec: capacity as f64 / secs(0),
        past_per_sec: capacity as f64 / secs(1),
        flow,
        not_allowed: results.iter().map(|r| r.2).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_past_capacity_evicts_and_allows_every_syn() {
        let r = run_flood(BenchOptions {
            flows: 2_000,
            rules: 4,
            workers: 1,
            seconds: 0.0,
            frames: None,
        })
        .unwrap();
        assert_eq!(r.flow.inserts, 4_000);
        // Batch 250 (2,000 / 8): 8 passes free exactly the 2,000 needed.
        assert_eq!(r.flow.evict_passes, 8);
        assert_eq!(r.flow.evicted_half_open, 2_000);
        assert_eq!((r.flow.refusals, r.not_allowed), (0, 0));
        assert!(r.below_per_sec > 0.0 && r.past_per_sec > 0.0);
    }

    fn pipeline_with_frames(workers: usize, frames: Option<u64>) -> BenchReport {
        run(BenchOptions {
            flows: 300,
            rules: 4,
            workers,
            seconds: 0.0,
            frames,
        })
        .unwrap()
    }

    #[test]
    fn frames_sets_the_established_phase_exactly_per_worker() {
        // 1,000 frames cycle over each worker's share of the 300 flows.
        let one = pipeline_with_frames(1, Some(1_000));
        assert_eq!((one.established_frames, one.unexpected), (1_000, 0));
        // Workers shard by addresses: the 300 flows share one client address,
        // so one worker holds them all and the other, with none, runs none.
        let two = pipeline_with_frames(2, Some(1_000));
        assert_eq!((two.established_frames, two.unexpected), (1_000, 0));
        let none = pipeline_with_frames(1, Some(0));
        assert_eq!(none.established_frames, 0);
        assert!(one.new_flows_per_sec > 0.0 && one.established_pps > 0.0);
    }

    #[test]
    fn without_frames_the_established_phase_runs_whole_passes() {
        let r = pipeline_with_frames(1, None);
        assert!(r.established_frames >= 300);
        assert_eq!(r.established_frames % 300, 0);
        assert_eq!(r.unexpected, 0);
    }
}

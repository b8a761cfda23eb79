//! Running the pipeline over a stream of frames with N workers: frames are
//! sharded by a symmetric hash of their addresses (both directions of a
//! connection, and all fragments of a datagram, meet the same worker), sent
//! in batches over crossbeam channels, and their results come back in input
//! order. Frames are borrowed ([`FrameRef`], slices of a mapped capture):
//! they reach the workers within the scope the workers run in, and the
//! parser reads them in place after their link header. With one worker the
//! frames are judged on the calling thread.
//!
//! Each worker owns its flow table: no table is shared between threads. A
//! flow's frames all reach the worker that holds it, so a worker's table
//! holds exactly the flows of the frames it was given, and the tables come
//! back with the totals.
//!
//! Either way a worker judges each batch of up to [`BATCH`] frames with one
//! [`Worker::process_batch`], which gives the results of judging them one
//! by one.

use crate::flow_setup::set_nic_timeouts;
use crate::pipeline::{FlowEvent, FrameResult, Worker, WorkerOptions};
use crate::policy::{PolicyCell, Published};
use crate::stats::PipelineStats;
use crossbeam_channel::{bounded, Receiver, Sender};
use nsg_flow::{FlowTable, Timestamp};
use nsg_packet::link::{FrameRef, Link};
use nsg_policy::Policy;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Frames per channel message.
pub const BATCH: usize = 64;

/// The owner hash of an Ethernet frame (0 for frames without IP
/// addresses): a symmetric hash of its addresses, the quoted ones for an
/// ICMP error, so that every frame of a connection meets one worker
/// ([`nsg_packet::owner`]).
pub fn shard_hash(eth: &[u8]) -> u64 {
    nsg_packet::owner::owner_hash(eth).unwrap_or(0)
}

/// [`shard_hash`] of a frame of any link, read in place after its link
/// header.
pub fn shard_hash_link(link: Link, data: &[u8]) -> u64 {
    nsg_packet::owner::owner_hash_link(link, data).unwrap_or(0)
}

/// A frame and its verdict, in input order.
pub struct Judged<'a> {
    /// The frame's place in the input, from 0.
    pub index: u64,
    /// The frame as it was read.
    pub frame: FrameRef<'a>,
    /// Its verdict.
    pub result: FrameResult,
    /// The flow events of this frame (with `flow_events`), for flow logs
    /// written as the run goes.
    pub events: Vec<FlowEvent>,
}

/// What a run produced besides per-frame results.
#[derive(Default)]
pub struct RunTotals {
    /// Every worker's counters, merged.
    pub stats: PipelineStats,
    /// Every worker's flow table at the end, in worker order.
    pub tables: Vec<FlowTable>,
}

/// A policy to publish before a given frame (a reload in a replay).
pub struct PolicyChange {
    /// The index of the first frame judged under `policy` (frames before
    /// it are all judged under the previous one).
    pub at_frame: u64,
    /// The policy to publish.
    pub policy: Arc<Policy>,
}

/// What a worker hands back when its input ends: its place, its counters
/// and its flow table.
type WorkerDone = (usize, PipelineStats, FlowTable);

/// Run the pipeline over `frames` with one worker per table of `tables`
/// (each worker owns one), calling `sink` with every frame's result in
/// input order. A source error stops the run after every frame before it
/// was judged and reported; it is returned with the totals. With no table
/// no frame is read.
pub fn run<'a, E>(
    cell: &Arc<PolicyCell>,
    tables: Vec<FlowTable>,
    opts: WorkerOptions,
    frames: impl Iterator<Item = Result<FrameRef<'a>, E>>,
    changes: &[PolicyChange],
    mut sink: impl FnMut(Judged<'a>),
) -> (RunTotals, Option<E>) {
    let workers = tables.len();
    if workers <= 1 {
        let Some(table) = tables.into_iter().next() else {
            return (RunTotals::default(), None);
        };
        return run_inline(cell, table, opts, frames, changes, sink);
    }
    let mut senders: Vec<Sender<Vec<(u64, FrameRef<'a>)>>> = Vec::new();
    let (res_tx, res_rx) = bounded::<Vec<Judged<'a>>>(workers * 8);
    let (done_tx, done_rx) = bounded::<WorkerDone>(workers);
    let mut error = None;
    let mut totals = RunTotals::default();
    std::thread::scope(|s| {
        for (w, table) in tables.into_iter().enumerate() {
            let (tx, rx) = bounded::<Vec<(u64, FrameRef<'a>)>>(8);
            senders.push(tx);
            let res_tx = res_tx.clone();
            let done_tx = done_tx.clone();
            let cell = cell.clone();
            s.spawn(move || {
                let worker = Worker::new(table, opts);
                let (stats, table) = worker_loop(rx, res_tx, cell, worker);
                let _ = done_tx.send((w, stats, table));
            });
        }
        drop(res_tx);
        drop(done_tx);
        let mut pending: Vec<Vec<(u64, FrameRef<'a>)>> = (0..workers).map(|_| Vec::new()).collect();
        let mut reorder: BTreeMap<u64, Judged<'a>> = BTreeMap::new();
        let mut next_out = 0u64;
        let mut sent = 0u64;
        let mut emit = |batch: Vec<Judged<'a>>,
                        reorder: &mut BTreeMap<u64, Judged<'a>>,
                        next_out: &mut u64| {
            for j in batch {
                reorder.insert(j.index, j);
            }
            while let Some(j) = reorder.remove(next_out) {
                *next_out += 1;
                sink(j);
            }
        };
        let mut next_change = 0;
        for (index, f) in frames.enumerate() {
            let index = index as u64;
            if next_change < changes.len() && changes[next_change].at_frame == index {
                // Everything before the switch is judged under the old policy.
                for (w, p) in pending.iter_mut().enumerate() {
                    if !p.is_empty() {
                        let _ = senders[w].send(std::mem::take(p));
                    }
                }
                while next_out < sent {
                    match res_rx.recv() {
                        Ok(b) => emit(b, &mut reorder, &mut next_out),
                        Err(_) => break,
                    }
                }
                publish(cell, &changes[next_change]);
                next_change += 1;
            }
            let f = match f {
                Ok(f) => f,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let w = (shard_hash_link(f.link, f.data) % workers as u64) as usize;
            pending[w].push((index, f));
            sent += 1;
            if pending[w].len() >= BATCH {
                let _ = senders[w].send(std::mem::take(&mut pending[w]));
            }
            while let Ok(b) = res_rx.try_recv() {
                emit(b, &mut reorder, &mut next_out);
            }
        }
        for (w, p) in pending.into_iter().enumerate() {
            if !p.is_empty() {
                let _ = senders[w].send(p);
            }
        }
        senders.clear();
        while next_out < sent {
            match res_rx.recv() {
                Ok(b) => emit(b, &mut reorder, &mut next_out),
                Err(_) => break,
            }
        }
        let mut done: Vec<WorkerDone> = done_rx.iter().collect();
        done.sort_by_key(|d| d.0);
        for (_, stats, table) in done {
            totals.stats.merge(&stats);
            totals.tables.push(table);
        }
    });
    (totals, error)
}

/// Publish the policy of `change`. A policy the cell refuses (more NICs
/// than a flow key can number) is reported and the current one stays.
fn publish(cell: &PolicyCell, change: &PolicyChange) {
    if let Err(e) = cell.publish(change.policy.clone()) {
        tracing::error!(
            frame = change.at_frame,
            "policy change refused, the current policy stays: {e}"
        );
    }
}

/// Give the worker's own table the NIC timeouts of `policy` when its
/// generation is not the one last seen (`seen`): a policy change reaches
/// each table through the worker that owns it, before the worker judges a
/// frame under the new policy.
pub(crate) fn follow_generation(worker: &mut Worker, policy: &Published, seen: &mut Option<u64>) {
    if *seen == Some(policy.generation) {
        return;
    }
    *seen = Some(policy.generation);
    if let Err(e) = set_nic_timeouts(worker.table_mut(), policy.policy()) {
        tracing::error!(
            generation = policy.generation,
            "flow timeouts of the new policy refused, the previous ones stay: {e}"
        );
    }
}

/// Judge every batch `rx` brings, sending the results back; returns the
/// worker's counters and table when the input ends.
fn worker_loop<'a>(
    rx: Receiver<Vec<(u64, FrameRef<'a>)>>,
    res_tx: Sender<Vec<Judged<'a>>>,
    cell: Arc<PolicyCell>,
    mut worker: Worker,
) -> (PipelineStats, FlowTable) {
    let mut scratch = BatchScratch::default();
    let mut seen = None;
    for batch in rx.iter() {
        let policy = cell.load();
        follow_generation(&mut worker, &policy, &mut seen);
        let mut out = Vec::with_capacity(batch.len());
        judge_batch(&mut worker, &policy, &batch, &mut scratch, |j| out.push(j));
        if res_tx.send(out).is_err() {
            break;
        }
    }
    let (stats, _, table) = worker.into_parts();
    (stats, table)
}

/// Buffers a batch of captured frames is judged with, kept between
/// batches.
#[derive(Default)]
struct BatchScratch<'a> {
    /// The frames of a run of one link, with their times.
    frames: Vec<(&'a [u8], Timestamp)>,
    /// Their results.
    results: Vec<FrameResult>,
}

/// Judge a batch of captured frames (each with its place in the input),
/// each run of frames of one link (the whole batch, but for pcapng files
/// mixing link types) in one [`Worker::process_batch_link`], handing each
/// frame with its verdict and flow events to `emit`, in order.
fn judge_batch<'a>(
    worker: &mut Worker,
    policy: &Published,
    batch: &[(u64, FrameRef<'a>)],
    scratch: &mut BatchScratch<'a>,
    mut emit: impl FnMut(Judged<'a>),
) {
    let mut start = 0;
    while start < batch.len() {
        let link = batch[start].1.link;
        let end = start
            + batch[start..]
                .iter()
                .take_while(|(_, f)| f.link == link)
                .count();
        scratch.frames.clear();
        scratch.frames.extend(
            batch[start..end]
                .iter()
                .map(|(_, f)| (f.data, Timestamp(f.ts_ns))),
        );
        worker.process_batch_link(policy, link, &scratch.frames, &mut scratch.results);
        let mut events = worker.batch_events.drain(..).peekable();
        for (i, (&(index, frame), &result)) in
            batch[start..end].iter().zip(&scratch.results).enumerate()
        {
            let mut mine = Vec::new();
            while let Some((_, e)) = events.next_if(|&(j, _)| j as usize == i) {
                mine.push(e);
            }
            emit(Judged {
                index,
                frame,
                result,
                events: mine,
            });
        }
        start = end;
    }
}

/// One worker, on the calling thread.
fn run_inline<'a, E>(
    cell: &Arc<PolicyCell>,
    table: FlowTable,
    opts: WorkerOptions,
    frames: impl Iterator<Item = Result<FrameRef<'a>, E>>,
    changes: &[PolicyChange],
    mut sink: impl FnMut(Judged<'a>),
) -> (RunTotals, Option<E>) {
    let mut worker = Worker::new(table, opts);
    let mut scratch = BatchScratch::default();
    let mut policy = cell.load();
    let mut seen = None;
    follow_generation(&mut worker, &policy, &mut seen);
    let mut next_change = 0;
    let mut error = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut flush = |batch: &mut Vec<_>, worker: &mut Worker, policy: &Published| {
        judge_batch(worker, policy, batch, &mut scratch, &mut sink);
        batch.clear();
    };
    for (index, f) in frames.enumerate() {
        let index = index as u64;
        if next_change < changes.len() && changes[next_change].at_frame == index {
            // Everything before the switch is judged under the old policy.
            flush(&mut batch, &mut worker, &policy);
            publish(cell, &changes[next_change]);
            policy = cell.load();
            follow_generation(&mut worker, &policy, &mut seen);
            next_change += 1;
        }
        match f {
            Ok(frame) => batch.push((index, frame)),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        if batch.len() >= BATCH {
            flush(&mut batch, &mut worker, &policy);
        }
    }
    flush(&mut batch, &mut worker, &policy);
    let (stats, _, table) = worker.into_parts();
    let totals = RunTotals {
        stats,
        tables: vec![table],
    };
    (totals, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_hash_is_symmetric() {
        let mut a = vec![0u8; 14 + 20];
        a[12] = 0x08;
        a[13] = 0x00;
        a[14] = 0x45;
        a[14 + 12..14 + 16].copy_from_slice(&[10, 0, 1, 4]);
        a[14 + 16..14 + 20].copy_from_slice(&[8, 8, 8, 8]);
        let mut b = a.clone();
        b[14 + 12..14 + 16].copy_from_slice(&[8, 8, 8, 8]);
        b[14 + 16..14 + 20].copy_from_slice(&[10, 0, 1, 4]);
        assert_eq!(shard_hash(&a), shard_hash(&b));
        assert_ne!(shard_hash(&a), 0);
        assert_eq!(shard_hash(&a[..20]), 0);
    }

    #[test]
    fn shard_hash_link_is_the_hash_behind_ethernet() {
        let mut eth = vec![0u8; 14 + 20];
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        eth[14] = 0x45;
        eth[14 + 12..14 + 16].copy_from_slice(&[10, 0, 1, 4]);
        eth[14 + 16..14 + 20].copy_from_slice(&[8, 8, 8, 8]);
        let ip = &eth[14..];
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        let mut tagged_sll = vec![0u8; 14];
        tagged_sll.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
        tagged_sll.extend_from_slice(ip);
        let h = shard_hash(&eth);
        assert_ne!(h, 0);
        assert_eq!(shard_hash_link(Link::Ethernet, &eth), h);
        assert_eq!(shard_hash_link(Link::RawIp, ip), h);
        assert_eq!(shard_hash_link(Link::LinuxSll, &sll), h);
        assert_eq!(shard_hash_link(Link::LinuxSll, &tagged_sll), h);
        assert_eq!(shard_hash_link(Link::LinuxSll, &sll[..20]), 0);
        assert_eq!(shard_hash_link(Link::Null, &[2, 0]), shard_hash(&[2, 0]));
    }
}

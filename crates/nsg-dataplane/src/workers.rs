//! Running the pipeline over a stream of frames with N workers: frames are
//! sharded by a symmetric hash of their addresses (both directions of a
//! connection, and all fragments of a datagram, meet the same worker), sent
//! in batches over crossbeam channels, and their results come back in input
//! order. Frames are borrowed ([`FrameRef`], slices of a mapped capture):
//! they reach the workers within the scope the workers run in, and the
//! parser reads them in place after their link header. With one worker the
//! frames are judged on the calling thread.

use crate::pipeline::{FlowEvent, FrameResult, Worker, WorkerOptions};
use crate::policy::PolicyCell;
use crate::stats::PipelineStats;
use crossbeam_channel::{bounded, Receiver, Sender};
use nsg_flow::{FlowTable, Timestamp};
use nsg_packet::link::{link_payload, FrameRef, Link};
use nsg_policy::Policy;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Frames per channel message.
pub const BATCH: usize = 64;

/// A symmetric hash of a frame's IP addresses (0 for frames without them).
pub fn shard_hash(eth: &[u8]) -> u64 {
    let Some(e) = eth.get(12..14) else {
        return 0;
    };
    shard_hash_after(eth, [e[0], e[1]], 14)
}

/// [`shard_hash`] of a frame of any link, read in place: the hash of the
/// frame behind a rebuilt Ethernet header.
pub fn shard_hash_link(link: Link, data: &[u8]) -> u64 {
    match link_payload(link, data) {
        None => shard_hash(data),
        Some((et, payload)) => shard_hash_after(payload, et.to_be_bytes(), 0),
    }
}

/// The hash of the addresses in `eth` after EtherType `ether`, whose
/// network header (or first VLAN tag) starts at `ip`.
fn shard_hash_after(eth: &[u8], mut ether: [u8; 2], mut ip: usize) -> u64 {
    for _ in 0..2 {
        if ether != [0x81, 0x00] && ether != [0x88, 0xa8] {
            break;
        }
        let Some(e) = eth.get(ip + 2..ip + 4) else {
            return 0;
        };
        ether = [e[0], e[1]];
        ip += 4;
    }
    let (a, b) = match ether {
        [0x08, 0x00] => (eth.get(ip + 12..ip + 16), eth.get(ip + 16..ip + 20)),
        [0x86, 0xdd] => (eth.get(ip + 8..ip + 24), eth.get(ip + 24..ip + 40)),
        _ => return 0,
    };
    let (Some(a), Some(b)) = (a, b) else { return 0 };
    let fold = |s: &[u8]| {
        s.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
            (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
        })
    };
    let (x, y) = (fold(a), fold(b));
    // Order-independent, then mixed.
    let h = x.min(y).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ x.max(y);
    h ^ (h >> 29)
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
}

/// A policy to publish before a given frame (a reload in a replay).
pub struct PolicyChange {
    /// The index of the first frame judged under `policy` (frames before
    /// it are all judged under the previous one).
    pub at_frame: u64,
    /// The policy to publish.
    pub policy: Arc<Policy>,
}

/// Run the pipeline over `frames`, calling `sink` with every frame's result
/// in input order. A source error stops the run after every frame before it
/// was judged and reported; it is returned with the totals.
pub fn run<'a, E>(
    cell: &Arc<PolicyCell>,
    table: &Arc<FlowTable>,
    workers: usize,
    opts: WorkerOptions,
    frames: impl Iterator<Item = Result<FrameRef<'a>, E>>,
    changes: &[PolicyChange],
    mut sink: impl FnMut(Judged<'a>),
) -> (RunTotals, Option<E>) {
    if workers <= 1 {
        return run_inline(cell, table, opts, frames, changes, sink);
    }
    let mut senders: Vec<Sender<Vec<(u64, FrameRef<'a>)>>> = Vec::new();
    let (res_tx, res_rx) = bounded::<Vec<Judged<'a>>>(workers * 8);
    let (done_tx, done_rx) = bounded::<PipelineStats>(workers);
    let mut error = None;
    let mut totals = RunTotals::default();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (tx, rx) = bounded::<Vec<(u64, FrameRef<'a>)>>(8);
            senders.push(tx);
            let res_tx = res_tx.clone();
            let done_tx = done_tx.clone();
            let cell = cell.clone();
            let table = table.clone();
            s.spawn(move || worker_loop(rx, res_tx, done_tx, cell, table, opts));
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
        for stats in done_rx.iter() {
            totals.stats.merge(&stats);
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

fn worker_loop<'a>(
    rx: Receiver<Vec<(u64, FrameRef<'a>)>>,
    res_tx: Sender<Vec<Judged<'a>>>,
    done_tx: Sender<PipelineStats>,
    cell: Arc<PolicyCell>,
    table: Arc<FlowTable>,
    opts: WorkerOptions,
) {
    let mut worker = Worker::new(table, opts);
    for batch in rx.iter() {
        let policy = cell.load();
        let mut out = Vec::with_capacity(batch.len());
        for (index, frame) in batch {
            let result =
                worker.process_link(&policy, frame.link, frame.data, Timestamp(frame.ts_ns));
            out.push(Judged {
                index,
                frame,
                result,
                events: std::mem::take(&mut worker.events),
            });
        }
        if res_tx.send(out).is_err() {
            break;
        }
    }
    let _ = done_tx.send(worker.into_stats().0);
}

fn run_inline<'a, E>(
    cell: &Arc<PolicyCell>,
    table: &Arc<FlowTable>,
    opts: WorkerOptions,
    frames: impl Iterator<Item = Result<FrameRef<'a>, E>>,
    changes: &[PolicyChange],
    mut sink: impl FnMut(Judged<'a>),
) -> (RunTotals, Option<E>) {
    let mut worker = Worker::new(table.clone(), opts);
    let mut policy = cell.load();
    let mut next_change = 0;
    let mut error = None;
    for (index, f) in frames.enumerate() {
        let index = index as u64;
        if next_change < changes.len() && changes[next_change].at_frame == index {
            publish(cell, &changes[next_change]);
            policy = cell.load();
            next_change += 1;
        }
        let frame = match f {
            Ok(f) => f,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let result = worker.process_link(&policy, frame.link, frame.data, Timestamp(frame.ts_ns));
        sink(Judged {
            index,
            frame,
            result,
            events: std::mem::take(&mut worker.events),
        });
    }
    let totals = RunTotals {
        stats: worker.into_stats().0,
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

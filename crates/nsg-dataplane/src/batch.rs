//! The vector path: [`Worker::process_batch`] judges frames in vectors of up
//! to [`VECTOR`], each stage over the whole vector before the next, as VPP
//! does, so the memory reads of different frames overlap instead of
//! following one another:
//!
//! 1. parse every frame, find the NICs of each packet's path (outbound at
//!    the sender's NIC, inbound at the receiver's) and hash each lookup once
//!    ([`FlowTable::prepare`](nsg_flow::FlowTable::prepare));
//! 2. prefetch every lookup's bucket(s), then every entry whose tag matches;
//! 3. look the frames up in order, updating the hits; on a miss, judge it by
//!    the policy (the misses of the vector together, see below); insert the
//!    flows of every path the policy allowed; hand out the verdicts.
//!
//! ## The same results as one frame at a time
//! Results, deciding rules, states, counters, flow events and the final
//! table equal those of [`Worker::process`] on the same frames in the same
//! order, whatever the vector boundaries. The scheme that guarantees it:
//! every operation that reads or changes the flow table (lookup, insert,
//! remove on re-evaluation, eviction, the fragment records) runs in exactly
//! the order the one-frame path runs it: frame by frame, and within a frame
//! step by step, each insert before the next frame's lookup. Nothing the
//! table decides is reordered, so two frames of one new connection in a
//! vector (a SYN and its SYN-ACK, a first fragment and a later one, an ICMP
//! error quoting a flow the vector created, a SYN reopening a flow closed by
//! an RST) meet the table as they would one after the other, and so do
//! frames whose lookup expires or reopens an entry: a removal is never moved
//! across an insert, which would change where entries sit and so which ones
//! a later eviction pass takes.
//!
//! What moves is only what does not depend on the table: hashing (a pure
//! function of the key) and prefetching (hints) happen ahead for the whole
//! vector, and so does the policy's judgement of the misses. The policy
//! ([`CompiledPolicy::decide`](nsg_classify::nsg::CompiledPolicy::decide))
//! is a pure function of the NIC, the direction and the packet's header
//! fields, all known after parsing, so judging a step before its lookup
//! answers the same as judging it after. When a lookup misses while most of
//! the vector's lookups so far have missed (a burst of new connections),
//! that step and every step of the later frames are judged in one
//! [`evaluate_batch`](nsg_classify::nsg::CompiledPolicy::evaluate_batch)
//! call, and each judgement is used if and when its step misses (it is
//! counted as an evaluation then, as the one-frame path counts it);
//! judgements of steps that then hit are dropped. Otherwise the miss is
//! judged alone. Re-evaluations (an entry of an older generation under a
//! flushing policy) read the flow's first packet from the table, so they are
//! judged in place, as the one-frame path does.

use crate::pipeline::{allow_decision, eval_packet, FrameResult, Outcome, PathVerdict, Worker};
use crate::policy::Published;
use nsg_flow::{Epoch, Lookup, NicId, Prepared, Timestamp};
use nsg_packet::link::Link;
use nsg_packet::PacketMeta;
use nsg_policy::eval::{Decider, Packet};
use nsg_policy::{Access, Direction};

/// Frames judged together, stage by stage: a longer batch is cut into
/// vectors of this many.
pub const VECTOR: usize = 64;

/// The policy's judgement of a step: access and deciding rule.
type Judgement = (Access, Decider);

/// The direction of a packet at step `k` of its path: outbound at the
/// sender's NIC (step 0), inbound at the receiver's (step 1).
const STEP_DIRECTION: [Direction; 2] = [Direction::Outbound, Direction::Inbound];

/// One IP frame of a vector between its stages.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The frame's index in the batch.
    index: u32,
    /// When the frame was seen.
    now: Timestamp,
    /// The NIC of the sender's step, then the receiver's (either may be
    /// absent, not both).
    nics: [Option<NicId>; 2],
    /// The lookup at the path's first NIC, hashed; the other step's is
    /// derived from it without hashing again ([`FlowTable::prepare_at`]).
    ///
    /// [`FlowTable::prepare_at`]: nsg_flow::FlowTable::prepare_at
    prep: Prepared,
    /// The parsed packet.
    meta: PacketMeta,
}

impl Pending {
    /// The steps of the path: index, NIC and direction there.
    #[inline]
    fn steps(&self) -> impl Iterator<Item = (usize, NicId, Direction)> + '_ {
        self.nics
            .iter()
            .enumerate()
            .filter_map(|(k, n)| n.map(|nic| (k, nic, STEP_DIRECTION[k])))
    }

    /// The lookup at the path's other NIC, when it has two different ones
    /// (the first is `prep`).
    #[inline]
    fn second(&self, table: &nsg_flow::FlowTable) -> Option<Prepared> {
        match self.nics {
            [Some(_), Some(b)] if b != self.prep.key.nic => Some(table.prepare_at(b, &self.prep)),
            _ => None,
        }
    }

    /// The lookup at `nic`, one of the path's NICs: `prep` itself, or one
    /// derived from it and kept in `other`.
    #[inline]
    fn prepared_at<'a>(
        &'a self,
        table: &nsg_flow::FlowTable,
        nic: NicId,
        other: &'a mut Option<Prepared>,
    ) -> &'a Prepared {
        if nic == self.prep.key.nic {
            &self.prep
        } else {
            other.insert(table.prepare_at(nic, &self.prep))
        }
    }

    /// Whether the path has a single NIC of the policy.
    #[inline]
    fn single(&self) -> bool {
        self.nics[0].is_none() || self.nics[1].is_none()
    }
}

/// The per-frame state of a vector between its stages, kept in the worker
/// so that after the first batches nothing is allocated.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The vector's IP frames that touch a NIC of the policy, in order.
    pending: Vec<Pending>,
    /// The misses of the vector, and the judgements made ahead.
    ahead: Ahead,
}

impl Scratch {
    /// Forget the last vector's frames and judgements.
    fn reset(&mut self) {
        self.pending.clear();
        self.ahead.judged.clear();
        self.ahead.looked = 0;
        self.ahead.missed = 0;
    }
}

/// The policy's judgements of a vector's steps made ahead of their lookups,
/// and what decides whether to make them.
#[derive(Debug, Default)]
struct Ahead {
    /// Per frame of `pending` (when judgements were made ahead at all), the
    /// judgement of each step not yet used.
    judged: Vec<[Option<Judgement>; 2]>,
    /// Steps to judge ahead: policy NIC index, direction, header fields.
    queries: Vec<(usize, Direction, Packet)>,
    /// Where each query's judgement goes: index in `pending`, step.
    targets: Vec<(usize, usize)>,
    /// The judgements of `queries`.
    answers: Vec<Judgement>,
    /// Lookups of this vector so far.
    looked: u32,
    /// Of those, misses.
    missed: u32,
}

impl Worker {
    /// Judge `frames` (each with the time it was seen) under `policy`, in
    /// vectors of [`VECTOR`]: `out` receives one result per frame, in
    /// order, and [`Worker::batch_events`] the flow events, each with the
    /// index of its frame in `frames`, in frame order (both are cleared
    /// first). Everything equals what [`Worker::process`] gives for the
    /// same frames one by one: see the [module](self) for how.
    pub fn process_batch(
        &mut self,
        policy: &Published,
        frames: &[(&[u8], Timestamp)],
        out: &mut Vec<FrameResult>,
    ) {
        self.process_batch_link(policy, Link::Ethernet, frames, out);
    }

    /// [`Worker::process_batch`] for frames of link `link`, each read in
    /// place after its link header ([`nsg_packet::parse_link`]).
    pub fn process_batch_link(
        &mut self,
        policy: &Published,
        link: Link,
        frames: &[(&[u8], Timestamp)],
        out: &mut Vec<FrameResult>,
    ) {
        out.clear();
        self.batch_events.clear();
        let mut sc = std::mem::take(&mut self.scratch);
        for (v, vector) in frames.chunks(VECTOR).enumerate() {
            self.parse_vector(policy, (link, vector), v * VECTOR, &mut sc, out);
            self.judge_vector(policy, &mut sc, out);
        }
        self.scratch = sc;
    }

    /// Judge packets already parsed (and counted as parsed) by the caller,
    /// each with the time it was seen, as [`Worker::judge`] would one after
    /// the other: `out` receives one result per packet, in order, and
    /// [`Worker::batch_events`] the flow events with each packet's index.
    /// The live switch parses a round's frames itself (it must know ARP and
    /// DHCP from IP) and judges the round's IP packets here.
    pub fn judge_parsed(
        &mut self,
        policy: &Published,
        packets: &[(PacketMeta, Timestamp)],
        out: &mut Vec<FrameResult>,
    ) {
        out.clear();
        self.batch_events.clear();
        let mut sc = std::mem::take(&mut self.scratch);
        for (v, vector) in packets.chunks(VECTOR).enumerate() {
            sc.reset();
            for (j, &(meta, now)) in vector.iter().enumerate() {
                let result = self.pend(policy, &mut sc, (v * VECTOR + j) as u32, meta, now);
                out.push(result);
            }
            self.judge_vector(policy, &mut sc, out);
        }
        self.scratch = sc;
    }

    /// Stage 1 for a parsed packet: queue it in `sc.pending` with its
    /// lookup prepared (answering a placeholder until it is judged), or
    /// answer it now when it touches no NIC of the policy.
    #[inline(always)]
    fn pend(
        &mut self,
        p: &Published,
        sc: &mut Scratch,
        index: u32,
        meta: PacketMeta,
        now: Timestamp,
    ) -> FrameResult {
        let nics = [p.owner_addr(&meta.tuple.src), p.owner_addr(&meta.tuple.dst)];
        match nics[0].or(nics[1]) {
            Some(first) => {
                sc.pending.push(Pending {
                    index,
                    now,
                    nics,
                    prep: self.table.prepare(first, &meta),
                    meta,
                });
                PLACEHOLDER
            }
            None => {
                self.stats.verdict.frames += 1;
                self.unmanaged()
            }
        }
    }

    /// Stages 2 and 3 over the vector's frames waiting in `sc.pending`:
    /// prefetch, then judge each in order, its result to its place in
    /// `out` and its flow events to [`Worker::batch_events`].
    fn judge_vector(&mut self, p: &Published, sc: &mut Scratch, out: &mut [FrameResult]) {
        for f in &sc.pending {
            self.table.prefetch(&f.prep);
            if let Some(q) = f.second(&self.table) {
                self.table.prefetch(&q);
            }
        }
        for f in &sc.pending {
            self.table.prefetch_entry(&f.prep);
            if let Some(q) = f.second(&self.table) {
                self.table.prefetch_entry(&q);
            }
        }
        for i in 0..sc.pending.len() {
            let start = self.events.len();
            let index = sc.pending[i].index;
            let result = self.judge_pending(p, sc, i);
            if let Some(slot) = out.get_mut(index as usize) {
                *slot = result;
            }
            if self.events.len() > start {
                self.batch_events
                    .extend(self.events.drain(start..).map(|e| (index, e)));
            }
        }
    }

    /// Stage 1: parse every frame and count it; the result of a frame that
    /// is not judged (parse fault, not IP, no NIC of the policy) goes to
    /// `out` now, the others wait in `sc.pending` with their lookups
    /// prepared (their place in `out` holds a placeholder until judged).
    fn parse_vector(
        &mut self,
        p: &Published,
        (link, frames): (Link, &[(&[u8], Timestamp)]),
        base: usize,
        sc: &mut Scratch,
        out: &mut Vec<FrameResult>,
    ) {
        sc.reset();
        for (j, &(frame, now)) in frames.iter().enumerate() {
            let result = match self.filtered(link, frame) {
                Ok(meta) => self.pend(p, sc, (base + j) as u32, meta, now),
                Err(done) => done,
            };
            out.push(result);
        }
    }

    /// Stage 3 for frame `i` of the vector: look it up at each step of its
    /// path, in order, judge its misses, create its flows and give its
    /// verdict, as [`Worker::judge`] does. A frame of a single NIC whose
    /// live flow allows it (the established case) is answered as soon as
    /// its lookup returns, without the general bookkeeping of a path.
    #[inline(always)]
    fn judge_pending(&mut self, p: &Published, sc: &mut Scratch, i: usize) -> FrameResult {
        self.stats.verdict.frames += 1;
        let f = &sc.pending[i];
        let mut first = None;
        if f.single() {
            // The path's one NIC is the one `prep` was made at.
            let nic = f.prep.key.nic;
            let epoch = Epoch::new(p.generation, p.flush(nic));
            let found =
                self.table
                    .lookup_prepared(&f.prep, &f.meta, f.now, epoch, &mut self.stats.flow);
            if let Lookup::Hit(h) = found {
                if let Some(done) = self.established(&f.meta, &h) {
                    return done;
                }
            }
            first = Some(found);
        }
        self.judge_steps(p, sc, i, first)
    }

    /// The general stage 3 of frame `i`: every step of its path, the first
    /// with its lookup `first` when the caller already made it.
    #[inline(never)]
    fn judge_steps(
        &mut self,
        p: &Published,
        sc: &mut Scratch,
        i: usize,
        mut first: Option<Lookup>,
    ) -> FrameResult {
        let f = &sc.pending[i];
        let at = (&f.meta, f.now);
        let mut path = PathVerdict::new(p.generation);
        for (k, nic, dir) in f.steps() {
            let found = match first.take() {
                Some(found) => found,
                None => {
                    let epoch = Epoch::new(p.generation, p.flush(nic));
                    let mut other = None;
                    let prep = f.prepared_at(&self.table, nic, &mut other);
                    self.table
                        .lookup_prepared(prep, &f.meta, f.now, epoch, &mut self.stats.flow)
                }
            };
            let ahead = &mut sc.ahead;
            ahead.looked += 1;
            let decided = (found == Lookup::Miss).then(|| {
                ahead.missed += 1;
                judgement(p, &sc.pending, ahead, (i, k), (nic, dir))
            });
            if let Err(done) = self.step(p, (k, nic, dir), at, (found, decided), &mut path) {
                return done;
            }
        }
        for (nic, dir, rule) in path.pending.into_iter().flatten() {
            let mut other = None;
            let prep = f.prepared_at(&self.table, nic, &mut other);
            let d = allow_decision(p, nic, rule);
            let outcome = self
                .table
                .insert_prepared(prep, &f.meta, d, f.now, &mut self.stats.flow);
            if let Err(done) = self.created(outcome, (nic, dir, rule), &f.meta, f.now, &mut path) {
                return done;
            }
        }
        self.allow(path)
    }
}

/// What a frame's place in the results holds until the frame is judged.
const PLACEHOLDER: FrameResult = FrameResult {
    outcome: Outcome::NotIp,
    state: None,
};

/// The policy's judgement of step `k` of frame `i` of the vector (at `nic`,
/// in direction `dir`), which missed: made ahead, or made now. While most
/// lookups of the vector have missed, this step and every step of the
/// frames after it are judged together, each kept until its own lookup
/// misses.
fn judgement(
    p: &Published,
    pending: &[Pending],
    ahead: &mut Ahead,
    (i, k): (usize, usize),
    (nic, dir): (NicId, Direction),
) -> Judgement {
    if let Some(j) = ahead.take(i, k) {
        return j;
    }
    if 2 * ahead.missed > ahead.looked {
        judge_ahead(p, pending, ahead, i, k);
        if let Some(j) = ahead.take(i, k) {
            return j;
        }
    }
    let packet = eval_packet(&pending[i].meta);
    p.compiled.decide(usize::from(nic.0), dir, &packet)
}

impl Ahead {
    /// The judgement of step `k` of frame `i` made ahead, once.
    fn take(&mut self, i: usize, k: usize) -> Option<Judgement> {
        self.judged.get_mut(i).and_then(|j| j[k].take())
    }
}

/// Judge step `k` of frame `i` and every later step of the vector in one
/// batch, keeping each judgement with its step.
fn judge_ahead(p: &Published, pending: &[Pending], sc: &mut Ahead, i: usize, k: usize) {
    sc.queries.clear();
    sc.targets.clear();
    sc.judged.clear();
    sc.judged.resize(pending.len(), [None; 2]);
    for (j, f) in pending.iter().enumerate().skip(i) {
        let packet = eval_packet(&f.meta);
        for (s, nic, dir) in f.steps() {
            if j == i && s < k {
                continue;
            }
            sc.queries.push((usize::from(nic.0), dir, packet));
            sc.targets.push((j, s));
        }
    }
    p.compiled.evaluate_batch(&sc.queries, &mut sc.answers);
    for (&(j, s), &a) in sc.targets.iter().zip(&sc.answers) {
        sc.judged[j][s] = Some(a);
    }
}

//! The per-frame fast path of one worker: parse, flow lookup at each NIC of
//! the path, policy evaluation on a miss, flow creation when the whole path
//! allows.

use crate::policy::{decider, rule_id, Published};
use crate::stats::{PipelineStats, RuleKey};
use nsg_flow::{
    ConnState, Decision, Epoch, FlowInfo, FlowTable, Hit, InsertOutcome, Lookup, NicId, RuleId,
    Timestamp, Verdict,
};
use nsg_packet::link::Link;
use nsg_packet::{DropReason, Family, FiveTuple, Frame, PacketMeta, ParseError, Transport};
use nsg_policy::eval::{Decider, Packet};
use nsg_policy::{Access, Direction};

/// Why a frame was dropped before any rule could judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// The frame did not parse.
    Parse(DropReason),
    /// A non-first fragment whose first fragment was never allowed.
    OrphanFragment,
    /// The flow table was full and nothing could be evicted.
    TableFull,
}

impl DropCause {
    /// The cause as reports and logs print it: `parse: <reason>`, or a few
    /// words.
    pub fn name(&self) -> String {
        match self {
            DropCause::Parse(r) => format!("parse: {r:?}"),
            DropCause::OrphanFragment => "fragment without its first fragment".to_string(),
            DropCause::TableFull => "flow table full".to_string(),
        }
    }
}

/// What happened to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let through, by a rule (or platform / no NSG) or by a live flow;
    /// `generation` is the policy generation the deciding rule is of.
    Allowed {
        /// The rule (or platform rule, or the absence of an NSG) that
        /// allowed the frame at the last NIC of its path.
        decider: Decider,
        /// The policy generation `decider` belongs to.
        generation: u64,
        /// Whether live flows let the frame through at every NIC of its
        /// path, without evaluating a rule.
        by_state: bool,
    },
    /// Denied by a rule of policy generation `generation`.
    Denied {
        /// The rule that denied the frame.
        decider: Decider,
        /// The policy generation `decider` belongs to.
        generation: u64,
    },
    /// Touches no NIC of the policy; passed unless `dropped`.
    Unmanaged {
        /// Whether the worker drops such traffic
        /// ([`WorkerOptions::drop_unmanaged`]).
        dropped: bool,
    },
    /// Not filtered: ARP, IPv6 neighbour discovery, other EtherTypes.
    NotIp,
    /// Dropped before a verdict.
    Dropped(DropCause),
}

impl Outcome {
    /// Whether the frame is forwarded.
    pub fn passes(&self) -> bool {
        match self {
            Outcome::Allowed { .. } | Outcome::NotIp => true,
            Outcome::Unmanaged { dropped } => !dropped,
            Outcome::Denied { .. } | Outcome::Dropped(_) => false,
        }
    }
}

/// The verdict on one frame, with the flow state it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameResult {
    /// What happened to the frame.
    pub outcome: Outcome,
    /// The connection state of the frame's flow after it, when it passed
    /// through a flow entry (found or created); `None` otherwise.
    pub state: Option<ConnState>,
}

/// A flow event for flow logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEvent {
    /// When the frame that caused the event was seen.
    pub ts: Timestamp,
    /// The NIC whose flow began or ended (or whose rule denied).
    pub nic: NicId,
    /// The deciding rule at `nic` ([`crate::policy::decider`] decodes it).
    pub rule: RuleId,
    /// The tuple as the flow's first packet travelled.
    pub tuple: FiveTuple,
    /// Whether the flow's first packet entered `nic` (else it left it).
    pub inbound: bool,
    /// Whether the flow was allowed (a denial is logged once, when its
    /// first packet is denied).
    pub allowed: bool,
    /// `Some` when the flow ended (RST, or FIN from both sides), with its counters.
    pub end: Option<FlowInfo>,
}

/// Options of a worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerOptions {
    /// Drop IP traffic that touches no NIC of the policy.
    pub drop_unmanaged: bool,
    /// Collect [`FlowEvent`]s for flow logs.
    pub flow_events: bool,
}

/// One worker's pipeline state: its counters and its own flow table (the
/// flows whose frames it judges; no other thread touches it).
pub struct Worker {
    pub(crate) table: FlowTable,
    pub(crate) opts: WorkerOptions,
    pub(crate) stats: PipelineStats,
    /// Flow events since the caller last took them (with
    /// [`WorkerOptions::flow_events`]; the caller drains it).
    pub events: Vec<FlowEvent>,
    /// The flow events of the last [`Worker::process_batch`], each with the
    /// index of its frame in that batch, in frame order.
    pub batch_events: Vec<(u32, FlowEvent)>,
    /// Frames of the last deciding rule not yet added to `stats.by_rule`:
    /// consecutive frames mostly share a rule, so the map is touched rarely.
    run: Option<RuleRun>,
    /// The per-frame state of a batch between its stages, kept to be reused.
    pub(crate) scratch: crate::batch::Scratch,
}

/// Consecutive frames decided the same way, not yet in the per-rule tally.
#[derive(Debug, Clone, Copy)]
struct RuleRun {
    /// The rule, its generation and the access all of them got.
    key: RuleKey,
    /// How many frames in a row.
    frames: u64,
}

/// The header fields rules look at (a non-first fragment carries no ports).
pub fn eval_packet(m: &PacketMeta) -> Packet {
    let ports = matches!(m.transport, Transport::Tcp { .. } | Transport::Udp);
    tuple_packet(&m.tuple, ports)
}

/// The header fields of a tuple; `ports` says whether its ports are real.
fn tuple_packet(t: &FiveTuple, ports: bool) -> Packet {
    Packet {
        protocol: t.proto,
        src: t.src_ip(),
        dst: t.dst_ip(),
        src_port: ports.then_some(t.src_port),
        dst_port: ports.then_some(t.dst_port),
    }
}

fn nsg_dir(d: Direction) -> bool {
    d == Direction::Inbound
}

impl Worker {
    /// A worker with zeroed counters that owns `table`.
    pub fn new(table: FlowTable, opts: WorkerOptions) -> Worker {
        Worker {
            table,
            opts,
            stats: PipelineStats::default(),
            events: Vec::new(),
            batch_events: Vec::new(),
            run: None,
            scratch: crate::batch::Scratch::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&mut self) -> &PipelineStats {
        self.flush_run();
        &self.stats
    }

    /// The counters, ending the worker.
    pub fn into_stats(mut self) -> (PipelineStats, Vec<FlowEvent>) {
        self.flush_run();
        (self.stats, self.events)
    }

    /// The counters, the flow events not yet taken and the flow table,
    /// ending the worker.
    pub fn into_parts(mut self) -> (PipelineStats, Vec<FlowEvent>, FlowTable) {
        self.flush_run();
        (self.stats, self.events, self.table)
    }

    /// Add the frames of the current run to the per-rule tally.
    fn flush_run(&mut self) {
        if let Some(run) = self.run.take() {
            *self.stats.verdict.by_rule.entry(run.key).or_default() += run.frames;
        }
    }

    /// Count a frame decided by `rule` of policy `generation`.
    #[inline]
    fn count_rule(&mut self, generation: u64, rule: RuleId, allowed: bool) {
        let key = RuleKey {
            generation,
            rule,
            allowed,
        };
        match &mut self.run {
            Some(run) if run.key == key => run.frames += 1,
            _ => {
                self.flush_run();
                self.run = Some(RuleRun { key, frames: 1 });
            }
        }
    }

    /// The flow table this worker owns.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The flow table this worker owns, to change it between frames
    /// (timeouts after a policy change, sweeps).
    pub fn table_mut(&mut self) -> &mut FlowTable {
        &mut self.table
    }

    /// Judge one Ethernet frame under `policy` at time `now`.
    pub fn process(&mut self, policy: &Published, frame: &[u8], now: Timestamp) -> FrameResult {
        self.process_link(policy, Link::Ethernet, frame, now)
    }

    /// Judge one frame of link `link` under `policy` at time `now`, read in
    /// place after its link header ([`nsg_packet::parse_link`]).
    pub fn process_link(
        &mut self,
        policy: &Published,
        link: Link,
        frame: &[u8],
        now: Timestamp,
    ) -> FrameResult {
        match self.filtered(link, frame) {
            Ok(m) => self.judge(policy, &m, now),
            Err(done) => done,
        }
    }

    /// Parse a frame, counting it: the IP packet to judge, or the result of
    /// a frame that is not judged (it did not parse, or is not filtered).
    #[inline(always)]
    pub(crate) fn filtered(&mut self, link: Link, frame: &[u8]) -> Result<PacketMeta, FrameResult> {
        // The common case straight from the fast parser, counted as
        // `parse_link` counts it (it only answers TCP and UDP: never
        // neighbour discovery); everything else through `parse_link`.
        if let Some(m) = nsg_packet::fast::parse_link_packet(link, frame) {
            let s = &mut self.stats.parse;
            s.frames += 1;
            s.fast_path += 1;
            match m.tuple.family {
                Family::V4 => s.ipv4 += 1,
                Family::V6 => s.ipv6 += 1,
            }
            return Ok(m);
        }
        self.filtered_slow(link, frame)
    }

    /// [`Worker::filtered`] of a frame the fast parser left to `parse_link`.
    #[inline(never)]
    fn filtered_slow(&mut self, link: Link, frame: &[u8]) -> Result<PacketMeta, FrameResult> {
        match self.parse_link(link, frame) {
            Err(e) => Err(FrameResult {
                outcome: Outcome::Dropped(DropCause::Parse(e.reason())),
                state: None,
            }),
            Ok(Frame::Ip(m)) if !m.is_neighbor_discovery() => Ok(m),
            Ok(_) => {
                self.count_not_ip();
                Err(FrameResult {
                    outcome: Outcome::NotIp,
                    state: None,
                })
            }
        }
    }

    /// Parse a frame, counting it; a frame that does not parse is counted
    /// as entered and dropped. For callers that look at a frame before
    /// judging it (the switch): follow with [`Worker::judge`] or
    /// [`Worker::count_not_ip`].
    pub fn parse(&mut self, frame: &[u8]) -> Result<Frame, ParseError> {
        self.parse_link(Link::Ethernet, frame)
    }

    /// [`Worker::parse`] of a frame of link `link`.
    pub fn parse_link(&mut self, link: Link, frame: &[u8]) -> Result<Frame, ParseError> {
        let r = nsg_packet::parse_link(link, frame, &mut self.stats.parse);
        if r.is_err() {
            self.stats.verdict.frames += 1;
            self.stats.verdict.dropped += 1;
        }
        r
    }

    /// Count a frame that is not filtered (ARP, neighbour discovery, other
    /// EtherTypes).
    pub fn count_not_ip(&mut self) {
        self.stats.verdict.frames += 1;
        self.stats.verdict.not_ip += 1;
    }

    /// Judge a parsed IP packet (counted as a frame entering the pipeline).
    pub fn judge(&mut self, policy: &Published, m: &PacketMeta, now: Timestamp) -> FrameResult {
        self.stats.verdict.frames += 1;
        self.process_ip(policy, m, now)
    }

    /// A denial by `d`, a rule of policy generation `generation`.
    fn deny(&mut self, d: Decider, generation: u64) -> FrameResult {
        self.stats.verdict.denied += 1;
        self.count_rule(generation, rule_id(&d), false);
        FrameResult {
            outcome: Outcome::Denied {
                decider: d,
                generation,
            },
            state: None,
        }
    }

    fn drop(&mut self, c: DropCause) -> FrameResult {
        self.stats.verdict.dropped += 1;
        match c {
            DropCause::OrphanFragment => self.stats.verdict.orphan_fragments += 1,
            DropCause::TableFull => self.stats.verdict.table_full += 1,
            DropCause::Parse(_) => {}
        }
        FrameResult {
            outcome: Outcome::Dropped(c),
            state: None,
        }
    }

    fn event(&mut self, e: FlowEvent) {
        if self.opts.flow_events && e.tuple.has_ports() {
            self.events.push(e);
        }
    }

    /// Evaluate a flow's first packet (`original`) again under the current
    /// policy; keep the entry with the new decision, or remove it and deny.
    fn reevaluate(
        &mut self,
        p: &Published,
        nic: NicId,
        m: &PacketMeta,
        original: &FiveTuple,
        now: Timestamp,
    ) -> Result<Decider, Decider> {
        self.stats.verdict.evaluations += 1;
        let odir = if p.owner_addr(&original.src) == Some(nic) {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let v = p.compiled.evaluate(
            usize::from(nic.0),
            odir,
            &tuple_packet(original, original.has_ports()),
        );
        if v.access == Access::Deny {
            self.table.remove(nic, original, &mut self.stats.flow);
            return Err(v.decider);
        }
        let d = allow_decision(p, nic, rule_id(&v.decider));
        self.table.insert(nic, m, d, now, &mut self.stats.flow);
        Ok(v.decider)
    }

    /// Judge an IP packet: outbound at the sender's NIC, then inbound at the
    /// receiver's, each from its flow entry or, on a miss, by the policy;
    /// when every NIC allows, create the flows the policy decided.
    fn process_ip(&mut self, p: &Published, m: &PacketMeta, now: Timestamp) -> FrameResult {
        let steps = [
            p.owner_addr(&m.tuple.src).map(|n| (n, Direction::Outbound)),
            p.owner_addr(&m.tuple.dst).map(|n| (n, Direction::Inbound)),
        ];
        if steps[0].is_none() && steps[1].is_none() {
            return self.unmanaged();
        }
        let mut path = PathVerdict::new(p.generation);
        for (i, step) in steps.iter().enumerate() {
            let Some((nic, dir)) = *step else { continue };
            let epoch = Epoch::new(p.generation, p.flush(nic));
            let found = self.table.lookup(nic, m, now, epoch, &mut self.stats.flow);
            if let Err(done) = self.step(p, (i, nic, dir), (m, now), (found, None), &mut path) {
                return done;
            }
        }
        if let Err(done) = self.commit(p, m, now, &mut path) {
            return done;
        }
        self.allow(path)
    }

    /// Step `i` of a packet's path, at `nic` in direction `dir`, after its
    /// lookup `found`: the live flow's verdict, or the policy's on a miss
    /// (`decided` when the caller already evaluated it), or a re-evaluation.
    #[inline]
    pub(crate) fn step(
        &mut self,
        p: &Published,
        (i, nic, dir): (usize, NicId, Direction),
        (m, now): (&PacketMeta, Timestamp),
        (found, decided): (Lookup, Option<(Access, Decider)>),
        path: &mut PathVerdict,
    ) -> Result<(), FrameResult> {
        match found {
            Lookup::Hit(h) | Lookup::Related(h) => self.hit(p, nic, m, h, now, path),
            Lookup::FragmentMiss => Err(self.drop(DropCause::OrphanFragment)),
            Lookup::Miss => self.miss(p, (nic, dir), m, now, decided, path).map(|rule| {
                path.pending[i] = Some((nic, dir, rule));
            }),
            Lookup::Reevaluate(re) => {
                path.by_state = false;
                match self.reevaluate(p, nic, m, &re.original, now) {
                    Ok(d) => {
                        path.decided(d, p.generation);
                        Ok(())
                    }
                    Err(d) => Err(self.deny(d, p.generation)),
                }
            }
        }
    }

    /// A packet that touches no NIC of the policy: passed, or dropped with
    /// `drop_unmanaged`.
    pub(crate) fn unmanaged(&mut self) -> FrameResult {
        let dropped = self.opts.drop_unmanaged;
        self.stats.verdict.unmanaged += 1;
        self.stats.verdict.unmanaged_dropped += u64::from(dropped);
        FrameResult {
            outcome: Outcome::Unmanaged { dropped },
            state: None,
        }
    }

    /// The verdict of a frame whose path has one NIC, whose live flow `h`
    /// answered: what [`Worker::step`] then [`Worker::allow`] give it, without
    /// building a [`PathVerdict`]. `None`, having changed nothing, when the
    /// general steps must run: the flow denies, or it ended with this packet
    /// and flow events are collected.
    #[inline]
    pub(crate) fn established(&mut self, m: &PacketMeta, h: &Hit) -> Option<FrameResult> {
        if h.verdict == Verdict::Deny || (self.opts.flow_events && ends_flow(h, m)) {
            return None;
        }
        self.stats.verdict.allowed += 1;
        self.stats.verdict.allowed_by_state += 1;
        // `rule_id(&decider(r)) == r`: the rule counts as `allow` counts it.
        self.count_rule(h.generation, h.rule, true);
        Some(FrameResult {
            outcome: Outcome::Allowed {
                decider: decider(h.rule),
                generation: h.generation,
                by_state: true,
            },
            state: Some(h.state),
        })
    }

    /// The step of a NIC whose live flow answered (`h`): its verdict
    /// applies; a flow that ended with this packet is logged with its
    /// counters.
    fn hit(
        &mut self,
        p: &Published,
        nic: NicId,
        m: &PacketMeta,
        h: Hit,
        now: Timestamp,
        path: &mut PathVerdict,
    ) -> Result<(), FrameResult> {
        let d = decider(h.rule);
        if h.verdict == Verdict::Deny {
            return Err(self.deny(d, h.generation));
        }
        path.decided(d, h.generation);
        path.state = Some(h.state);
        if self.opts.flow_events && ends_flow(&h, m) {
            if let Some(info) = self.table.get(nic, &m.tuple) {
                let inbound = p.owner(&info.original.dst_ip()) == Some(nic);
                self.event(FlowEvent {
                    ts: now,
                    nic,
                    rule: h.rule,
                    tuple: info.original,
                    inbound,
                    allowed: true,
                    end: Some(info),
                });
            }
        }
        Ok(())
    }

    /// The step of a NIC without a live flow: the policy judges the packet
    /// in direction `dir` at `nic` (or `decided` is its judgement, made
    /// ahead). Allowed, it answers the deciding rule (its flow is created
    /// once the whole path allows); denied, the denial (logged).
    fn miss(
        &mut self,
        p: &Published,
        (nic, dir): (NicId, Direction),
        m: &PacketMeta,
        now: Timestamp,
        decided: Option<(Access, Decider)>,
        path: &mut PathVerdict,
    ) -> Result<RuleId, FrameResult> {
        path.by_state = false;
        self.stats.verdict.evaluations += 1;
        let (access, decider) = decided.unwrap_or_else(|| {
            let packet = *path.packet.get_or_insert_with(|| eval_packet(m));
            p.compiled.decide(usize::from(nic.0), dir, &packet)
        });
        if access == Access::Deny {
            self.event(FlowEvent {
                ts: now,
                nic,
                rule: rule_id(&decider),
                tuple: m.tuple,
                inbound: nsg_dir(dir),
                allowed: false,
                end: None,
            });
            return Err(self.deny(decider, p.generation));
        }
        path.decided(decider, p.generation);
        Ok(rule_id(&decider))
    }

    /// Create the flow entry of every NIC the policy judged on this path
    /// (the whole path allowed); a full table drops the packet.
    fn commit(
        &mut self,
        p: &Published,
        m: &PacketMeta,
        now: Timestamp,
        path: &mut PathVerdict,
    ) -> Result<(), FrameResult> {
        for (nic, dir, rule) in path.pending.into_iter().flatten() {
            let d = allow_decision(p, nic, rule);
            let outcome = self.table.insert(nic, m, d, now, &mut self.stats.flow);
            self.created(outcome, (nic, dir, rule), m, now, path)?;
        }
        Ok(())
    }

    /// What the insert of a flow the path allowed (`nic`, the packet's
    /// direction there, the deciding rule) did: a created flow is counted
    /// and logged; a full table drops the packet.
    pub(crate) fn created(
        &mut self,
        outcome: InsertOutcome,
        (nic, dir, rule): (NicId, Direction, RuleId),
        m: &PacketMeta,
        now: Timestamp,
        path: &mut PathVerdict,
    ) -> Result<(), FrameResult> {
        match outcome {
            InsertOutcome::Inserted => {
                self.stats.verdict.flows_created += 1;
                self.event(FlowEvent {
                    ts: now,
                    nic,
                    rule,
                    tuple: m.tuple,
                    inbound: nsg_dir(dir),
                    allowed: true,
                    end: None,
                });
            }
            InsertOutcome::Updated => {}
            InsertOutcome::Refused => return Err(self.drop(DropCause::TableFull)),
        }
        path.state = Some(ConnState::initial(m).0);
        Ok(())
    }

    /// The verdict of a packet every NIC of its path allowed.
    pub(crate) fn allow(&mut self, path: PathVerdict) -> FrameResult {
        self.stats.verdict.allowed += 1;
        self.stats.verdict.allowed_by_state += u64::from(path.by_state);
        self.count_rule(path.generation, rule_id(&path.decider), true);
        FrameResult {
            outcome: Outcome::Allowed {
                decider: path.decider,
                generation: path.generation,
                by_state: path.by_state,
            },
            state: path.state,
        }
    }
}

/// Whether packet `m`, answered by `h`, ended its flow: a FIN or RST that
/// left it closed.
#[inline]
fn ends_flow(h: &Hit, m: &PacketMeta) -> bool {
    matches!(h.state, ConnState::Closed | ConnState::TimeWait)
        && m.tcp_flags().is_some_and(|f| f.fin() || f.rst())
}

/// The decision of a flow the policy allowed at `nic` by `rule`.
pub(crate) fn allow_decision(p: &Published, nic: NicId, rule: RuleId) -> Decision {
    Decision {
        verdict: Verdict::Allow,
        rule,
        generation: p.generation,
        flush_on_change: p.flush(nic),
    }
}

/// What the NICs of a packet's path have decided so far, while each allows.
pub(crate) struct PathVerdict {
    /// The last deciding rule (the receiver's when both NICs are judged).
    decider: Decider,
    /// The policy generation `decider` is a rule of.
    generation: u64,
    /// Whether every NIC answered from a live flow, none from the policy.
    by_state: bool,
    /// The connection state the packet left (of the last NIC with a flow).
    state: Option<ConnState>,
    /// The header fields rules look at, built at the first miss.
    packet: Option<Packet>,
    /// Flows to create once the whole path allows: NIC, direction of the
    /// packet there, deciding rule; at most one per NIC (sender, receiver).
    pub(crate) pending: [Option<(NicId, Direction, RuleId)>; 2],
}

impl PathVerdict {
    pub(crate) fn new(generation: u64) -> PathVerdict {
        PathVerdict {
            decider: Decider::NoNsg,
            generation,
            by_state: true,
            state: None,
            packet: None,
            pending: [None, None],
        }
    }

    /// A NIC allowed the packet by `decider`, a rule of `generation`.
    fn decided(&mut self, decider: Decider, generation: u64) {
        self.decider = decider;
        self.generation = generation;
    }
}

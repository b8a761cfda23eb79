//! The flow table's fast path: configuration, lookup, insert, remove.
//! Sweeping and eviction (the slow path) are in [`crate::evict`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::hash::FlowHasher;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use nsg_packet::{FiveTuple, PacketMeta};
use thiserror::Error;

use crate::clock::{nanos, Timestamp};
use crate::conntrack::{quoted_tuple, ConnState};
use crate::entry::{Decision, FlowEntry, FlowInfo, RuleId, Verdict};
use crate::frag::FragmentTable;
use crate::key::{Direction, FlowKey, NicId};
use crate::stats::FlowStats;
use crate::timeouts::{NicTimeouts, TimeoutError, Timeouts, TimeoutsNs};

/// How a [`FlowTable`] is sized and timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// Most flows held at once (default 1,000,000). Memory for this many is
    /// allocated up front (twice the slots, see [`FlowTable::memory_bytes`]),
    /// so the table never grows under load, not even while evictions and
    /// inserts churn at capacity.
    pub capacity: usize,
    /// Lock shards, a power of two (default 64): more shards, less
    /// contention between workers.
    pub shards: usize,
    /// Timeouts of NICs that were given none of their own.
    pub timeouts: Timeouts,
    /// NIC ids below this can be given their own timeouts (default 4096).
    pub max_nics: usize,
    /// Most fragmented datagrams tracked at once (default 65,536).
    pub fragment_capacity: usize,
    /// How long a first fragment is remembered (default 30 s).
    pub fragment_timeout: Duration,
    /// Entries an eviction pass tries to free when the table is full
    /// (default: capacity / 8, at least 1): a pass walks the whole map, so
    /// it must make room for many new flows to keep its cost per flow small.
    pub evict_batch: usize,
    /// After a pass that found nothing to evict, new flows are refused
    /// without another pass for this long (default 1 s): a full table of
    /// established flows costs one pass per interval, not one per packet.
    pub evict_retry: Duration,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            capacity: 1_000_000,
            shards: 64,
            timeouts: Timeouts::azure_default(),
            max_nics: 4096,
            fragment_capacity: 65_536,
            fragment_timeout: Duration::from_secs(30),
            evict_batch: 0,
            evict_retry: Duration::from_secs(1),
        }
    }
}

/// A configuration the table cannot be built with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Capacity of zero.
    #[error("flow table capacity must be at least 1")]
    ZeroCapacity,
    /// Shard count not a power of two above 1.
    #[error("shard count {0} is not a power of two above 1")]
    Shards(usize),
    /// A bad timeout.
    #[error("timeouts: {0}")]
    Timeouts(#[from] TimeoutError),
}

/// Entries to reserve in each shard of a table of `capacity` flows, so that
/// churn at capacity never makes a shard allocate a larger table.
///
/// A shard holds `capacity / shards` flows on average, give or take a few
/// square roots of it (flows hash evenly and eviction takes from every shard
/// in proportion, see [`FlowTable::make_room`]); `slack` covers 4 of them
/// plus 16. Removals leave tombstones; when they use up the shard's free
/// slots, hashbrown rehashes in place only while the entries are at most
/// half its usable size, and otherwise allocates a table twice as large and
/// keeps it. Reserving twice the bound keeps every rehash in place.
pub(crate) fn shard_reserve(capacity: usize, shards: usize) -> usize {
    let mean = capacity.div_ceil(shards);
    let slack = 4 * mean.isqrt() + 16;
    2 * (mean + slack + 1)
}

/// The policy a lookup answers under: its generation, and whether the NIC
/// looked up has an NSG with `flush_connections` on its path in it.
///
/// An entry decided under another generation is handed back for
/// re-evaluation ([`Lookup::Reevaluate`]) when either the entry was marked
/// to flush when it was inserted ([`Decision::flush_on_change`]) or the
/// current policy flushes at the NIC (`flush`): a reload that turns
/// `flush_connections` on re-judges flows created while it was off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Epoch {
    /// The current policy generation (the pipeline's publication counter).
    pub generation: u64,
    /// Whether the current policy re-evaluates flows at this NIC after a
    /// change.
    pub flush: bool,
}

impl Epoch {
    /// Generation `generation` of a policy, flushing at the NIC or not.
    #[inline]
    pub const fn new(generation: u64, flush: bool) -> Epoch {
        Epoch { generation, flush }
    }

    /// Whether `e` must be decided again under this epoch: it was decided
    /// under another generation, and it or the current policy asks for a
    /// flush. The one place this rule is written.
    #[inline]
    pub(crate) fn reevaluates(&self, e: &FlowEntry) -> bool {
        e.generation != self.generation && (self.flush || e.flush())
    }
}

impl From<u64> for Epoch {
    /// Generation `generation` of a policy that does not flush at the NIC:
    /// only entries marked to flush at insert are re-evaluated.
    #[inline]
    fn from(generation: u64) -> Epoch {
        Epoch::new(generation, false)
    }
}

/// What a lookup found for a packet. Every variant but `Miss` and
/// `FragmentMiss` counted the packet on its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A live entry of the packet's flow: apply its verdict.
    Hit(Hit),
    /// An ICMP error quoting a live flow (RELATED): apply that flow's verdict.
    Related(Hit),
    /// The entry was decided under another policy generation, and it was
    /// marked to flush or the current policy flushes at the NIC (see
    /// [`Epoch`]): evaluate `original` (the first packet, as it travelled) under
    /// the current policy, then [`FlowTable::insert`] the new decision
    /// (keeping state and counters) or [`FlowTable::remove`] the entry. The
    /// packet was not counted.
    Reevaluate(Reevaluate),
    /// No live entry: evaluate the policy, insert on allow.
    Miss,
    /// A non-first fragment whose first fragment is unknown: drop it.
    FragmentMiss,
}

/// A live entry's answer for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The flow's verdict.
    pub verdict: Verdict,
    /// The rule that decided it.
    pub rule: RuleId,
    /// The policy generation that decided it (names `rule`).
    pub generation: u64,
    /// The packet's direction relative to the flow's first packet.
    pub direction: Direction,
    /// The connection state after this packet.
    pub state: ConnState,
}

/// A flow to decide again under the current policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reevaluate {
    /// The tuple of the flow's first packet.
    pub original: FiveTuple,
    /// The direction of the packet that found the entry.
    pub direction: Direction,
    /// The verdict under the old policy.
    pub old_verdict: Verdict,
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new entry was created.
    Inserted,
    /// The entry existed; its decision was replaced, state and counters kept.
    Updated,
    /// The table is full and nothing could be evicted: the flow is denied.
    Refused,
}

/// The bounded, concurrent flow table. Share it between workers by
/// reference (`Arc<FlowTable>`); each worker keeps its own [`FlowStats`].
pub struct FlowTable {
    pub(crate) map: DashMap<FlowKey, FlowEntry, FlowHasher>,
    pub(crate) len: AtomicUsize,
    pub(crate) cfg: FlowTableConfig,
    pub(crate) default_timeouts: TimeoutsNs,
    pub(crate) nic_timeouts: Box<[NicTimeouts]>,
    pub(crate) frags: FragmentTable,
    /// Held by the one worker running an eviction pass.
    pub(crate) evict: Mutex<crate::evict::EvictState>,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("len", &self.len())
            .field("capacity", &self.cfg.capacity)
            .finish()
    }
}

impl FlowTable {
    /// A table with `cfg`, its memory allocated up front.
    pub fn new(cfg: FlowTableConfig) -> Result<FlowTable, ConfigError> {
        if cfg.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if cfg.shards < 2 || !cfg.shards.is_power_of_two() {
            return Err(ConfigError::Shards(cfg.shards));
        }
        cfg.timeouts.validate()?;
        let mut cfg = cfg;
        if cfg.evict_batch == 0 {
            cfg.evict_batch = (cfg.capacity / 8).max(1);
        }
        let map = DashMap::with_capacity_and_hasher_and_shard_amount(
            shard_reserve(cfg.capacity, cfg.shards) * cfg.shards,
            FlowHasher::new(),
            cfg.shards,
        );
        let nic_timeouts = (0..cfg.max_nics).map(|_| NicTimeouts::default()).collect();
        let frags = FragmentTable::new(
            cfg.fragment_capacity,
            nanos(cfg.fragment_timeout),
            cfg.shards,
        );
        Ok(FlowTable {
            map,
            len: AtomicUsize::new(0),
            default_timeouts: cfg.timeouts.into(),
            nic_timeouts,
            frags,
            evict: Mutex::new(crate::evict::EvictState::default()),
            cfg,
        })
    }

    /// A table with the default configuration (1,000,000 flows).
    pub fn with_capacity(capacity: usize) -> Result<FlowTable, ConfigError> {
        FlowTable::new(FlowTableConfig {
            capacity,
            ..FlowTableConfig::default()
        })
    }

    /// Give `nic` its own timeouts (its VNet's `flow_timeout_minutes`).
    /// Existing entries use them from their next packet or sweep.
    pub fn set_timeouts(&self, nic: NicId, t: Timeouts) -> Result<(), TimeoutError> {
        t.validate()?;
        if let Some(slot) = self.nic_timeouts.get(usize::from(nic.0)) {
            slot.store(t.into());
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn timeouts_ns(&self, nic: NicId) -> TimeoutsNs {
        match self.nic_timeouts.get(usize::from(nic.0)) {
            Some(slot) => slot.load(self.default_timeouts),
            None => self.default_timeouts,
        }
    }

    /// Live entries (including idle ones not yet swept).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.cfg.capacity
    }

    /// Fragmented datagrams being tracked.
    pub fn fragments_tracked(&self) -> usize {
        self.frags.len()
    }

    /// Bytes the flow map has allocated: buckets of key, entry and control
    /// byte, in every shard. All of it is allocated up front: each shard
    /// reserves about twice its share of the capacity, so that removals'
    /// tombstones are cleared by rehashing in place, never by growing.
    pub fn memory_bytes(&self) -> usize {
        let buckets: usize = self.map.shards().iter().map(|s| s.read().buckets()).sum();
        let slot = std::mem::size_of::<(FlowKey, FlowEntry)>() + 1;
        buckets * slot
    }

    /// Bytes the fragment map has allocated (up front, as the flow map's).
    pub fn fragment_memory_bytes(&self) -> usize {
        self.frags.memory_bytes()
    }

    /// Look up the flow of `meta` at `nic` and, in the same shard access,
    /// count the packet, move the connection state and stamp the time.
    ///
    /// `now` is the caller's clock reading (read once per burst); `epoch`
    /// the current policy generation and whether it flushes at `nic` (a bare
    /// generation number means it does not).
    #[inline]
    pub fn lookup(
        &self,
        nic: NicId,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
    ) -> Lookup {
        let epoch = epoch.into();
        stats.lookups += 1;
        if meta.is_non_first_fragment() {
            return self.lookup_fragment(nic, meta, now, stats);
        }
        if let Some(q) = quoted_tuple(meta) {
            if let Some(hit) = self.lookup_related(nic, &q, meta, now) {
                stats.related += 1;
                return Lookup::Related(hit);
            }
        }
        let (key, forward) = FlowKey::new(nic, &meta.tuple);
        let Some(mut guard) = self.map.get_mut(&key) else {
            stats.misses += 1;
            return Lookup::Miss;
        };
        let e = guard.value_mut();
        let t = self.timeouts_ns(nic);
        let dir = e.direction(forward);
        let flags = meta.tcp_flags();
        let syn_only = flags.is_some_and(|f| f.syn() && !f.ack());
        if e.expired(now.0, key.proto, &t) {
            drop(guard);
            self.remove_if_expired(&key, now.0);
            stats.expired_on_lookup += 1;
            stats.misses += 1;
            return Lookup::Miss;
        }
        if syn_only && e.state.reopens_on_syn() {
            drop(guard);
            if self.map.remove(&key).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
            stats.reopened += 1;
            stats.misses += 1;
            return Lookup::Miss;
        }
        if epoch.reevaluates(e) {
            stats.reevaluations += 1;
            return Lookup::Reevaluate(Reevaluate {
                original: e.original(&key),
                direction: dir,
                old_verdict: e.verdict(),
            });
        }
        e.account(dir, flags, meta.frame_len, now.0);
        let hit = Hit {
            verdict: e.verdict(),
            rule: RuleId(e.rule),
            generation: e.generation,
            direction: dir,
            state: e.state,
        };
        drop(guard);
        stats.hits += 1;
        if meta.fragment.is_some() && hit.verdict == Verdict::Allow {
            self.frags.record(nic, meta, key, forward, now.0, stats);
        }
        Lookup::Hit(hit)
    }

    #[cold]
    fn lookup_related(
        &self,
        nic: NicId,
        quoted: &FiveTuple,
        meta: &PacketMeta,
        now: Timestamp,
    ) -> Option<Hit> {
        let (key, forward) = FlowKey::new(nic, quoted);
        let mut guard = self.map.get_mut(&key)?;
        let e = guard.value_mut();
        if e.expired(now.0, key.proto, &self.timeouts_ns(nic)) {
            return None;
        }
        // The error travels against the packet it quotes.
        let dir = e.direction(!forward);
        let i = dir.index();
        e.packets[i] += 1;
        e.bytes[i] += u64::from(meta.frame_len);
        Some(Hit {
            verdict: e.verdict(),
            rule: RuleId(e.rule),
            generation: e.generation,
            direction: dir,
            state: e.state,
        })
    }

    #[cold]
    fn lookup_fragment(
        &self,
        nic: NicId,
        meta: &PacketMeta,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> Lookup {
        let Some(rec) = self.frags.find(nic, meta, now.0) else {
            stats.fragment_misses += 1;
            return Lookup::FragmentMiss;
        };
        let Some(mut guard) = self.map.get_mut(&rec.flow) else {
            stats.fragment_misses += 1;
            return Lookup::FragmentMiss;
        };
        let e = guard.value_mut();
        if e.expired(now.0, rec.flow.proto, &self.timeouts_ns(nic)) {
            stats.fragment_misses += 1;
            return Lookup::FragmentMiss;
        }
        let dir = e.direction(rec.forward);
        let i = dir.index();
        e.packets[i] += 1;
        e.bytes[i] += u64::from(meta.frame_len);
        e.last_seen = e.last_seen.max(now.0);
        stats.fragment_hits += 1;
        Lookup::Hit(Hit {
            verdict: e.verdict(),
            rule: RuleId(e.rule),
            generation: e.generation,
            direction: dir,
            state: e.state,
        })
    }

    /// Create the entry of `meta`'s flow at `nic` with `decision`, starting in
    /// the state the packet's flags imply, the packet counted. If the entry
    /// exists (a re-evaluation, or another worker was first), its decision is
    /// replaced and the packet counted on it. When the table is full, closing
    /// and half-open flows are evicted first; established flows never are:
    /// with nothing to evict the flow is refused and counted.
    pub fn insert(
        &self,
        nic: NicId,
        meta: &PacketMeta,
        decision: Decision,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> InsertOutcome {
        let (key, forward) = FlowKey::new(nic, &meta.tuple);
        if !self.reserve() {
            // A full table still takes a new decision for an existing entry.
            if let Some(mut e) = self.map.get_mut(&key) {
                let dir = e.direction(forward);
                e.set_decision(&decision);
                e.account(dir, meta.tcp_flags(), meta.frame_len, now.0);
                stats.updates += 1;
                return InsertOutcome::Updated;
            }
            if !(self.make_room(now, stats) && self.reserve()) {
                stats.refusals += 1;
                return InsertOutcome::Refused;
            }
        }
        let outcome = match self.map.entry(key) {
            Entry::Occupied(mut o) => {
                self.len.fetch_sub(1, Ordering::Relaxed);
                let e = o.get_mut();
                let dir = e.direction(forward);
                e.set_decision(&decision);
                e.account(dir, meta.tcp_flags(), meta.frame_len, now.0);
                stats.updates += 1;
                InsertOutcome::Updated
            }
            Entry::Vacant(v) => {
                let (state, fins) = ConnState::initial(meta);
                v.insert(FlowEntry::new(
                    forward,
                    &decision,
                    state,
                    fins,
                    now,
                    meta.frame_len,
                ));
                stats.inserts += 1;
                InsertOutcome::Inserted
            }
        };
        if meta.fragment.is_some() && decision.verdict == Verdict::Allow {
            self.frags.record(nic, meta, key, forward, now.0, stats);
        }
        outcome
    }

    /// Take a slot of the capacity; false when full.
    #[inline]
    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.cfg.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    /// Remove the entry of `tuple`'s flow at `nic` (either direction).
    pub fn remove(&self, nic: NicId, tuple: &FiveTuple, stats: &mut FlowStats) -> bool {
        let (key, _) = FlowKey::new(nic, tuple);
        let removed = self.map.remove(&key).is_some();
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
            stats.removed += 1;
        }
        removed
    }

    /// A copy of the entry of `tuple`'s flow at `nic`, live or idle.
    pub fn get(&self, nic: NicId, tuple: &FiveTuple) -> Option<FlowInfo> {
        let (key, _) = FlowKey::new(nic, tuple);
        self.map.get(&key).map(|e| e.snapshot(&key))
    }

    pub(crate) fn remove_if_expired(&self, key: &FlowKey, now: u64) {
        let t = self.timeouts_ns(key.nic);
        if self
            .map
            .remove_if(key, |k, e| e.expired(now, k.proto, &t))
            .is_some()
        {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

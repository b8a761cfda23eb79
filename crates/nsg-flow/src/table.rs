//! The flow table: configuration, construction, the answers of a lookup,
//! removal and inspection. The per-packet path (prepare, prefetch, lookup,
//! insert) is in `prepared.rs`; sweeping and eviction (the slow path) in
//! `evict.rs`.

use std::time::Duration;

use nsg_packet::{FiveTuple, PacketMeta};
use thiserror::Error;

use crate::clock::{nanos, Timestamp};
use crate::conntrack::ConnState;
use crate::entry::{Decision, FlowInfo, RuleId, Verdict};
use crate::frag::FragmentTable;
use crate::hash::{hasher, FlowHasher};
use crate::key::{Direction, FlowKey, NicId};
use crate::local::{self, AllocError, Backing, EntryIndex, HotEntry, LocalTable};
use crate::stats::FlowStats;
use crate::timeouts::{NicTimeouts, TimeoutError, Timeouts};

/// How a [`FlowTable`] is sized and timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// Most flows held at once (default 1,000,000). Memory for this many is
    /// allocated up front (see [`FlowTable::memory_bytes`]), so the table
    /// never grows under load, not even while evictions and inserts churn
    /// at capacity.
    pub capacity: usize,
    /// Timeouts of NICs that were given none of their own.
    pub timeouts: Timeouts,
    /// NIC ids below this can be given their own timeouts (default 4096).
    pub max_nics: usize,
    /// Most fragmented datagrams tracked at once (default: capacity / 32,
    /// at least 1,024: 32,768 for a table of 1M flows, which keeps all of a
    /// full table's state, fragments included, within 128 bytes per IPv4
    /// flow).
    pub fragment_capacity: usize,
    /// How long a first fragment is remembered (default 30 s).
    pub fragment_timeout: Duration,
    /// Entries an eviction pass tries to free when the table is full
    /// (default: capacity / 8, at least 1): a pass walks the whole table,
    /// so it must make room for many new flows to keep its cost per flow
    /// small.
    pub evict_batch: usize,
    /// After a pass that found nothing to evict, new flows are refused
    /// without another pass for this long (default 1 s): a full table of
    /// established flows costs one pass per interval, not one per packet.
    pub evict_retry: Duration,
    /// The seed of the table's hash (default `None`: a random one per
    /// table, so that nobody outside can aim flows at one bucket). Two
    /// tables of one seed and capacity place the same flows alike, which
    /// tests comparing two paths through two tables rely on.
    pub hash_seed: Option<u64>,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            capacity: 1_000_000,
            timeouts: Timeouts::azure_default(),
            max_nics: 4096,
            fragment_capacity: 0,
            fragment_timeout: Duration::from_secs(30),
            evict_batch: 0,
            evict_retry: Duration::from_secs(1),
            hash_seed: None,
        }
    }
}

/// A configuration the table cannot be built with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Capacity of zero.
    #[error("flow table capacity must be at least 1")]
    ZeroCapacity,
    /// More flows than an entry index can number (2^32 - 2).
    #[error("flow table capacity {0} is past the 4294967294 flows a table can index")]
    TooLarge(usize),
    /// More fragment records than the table will reserve room for (2^30).
    #[error("fragment capacity {0} is past the 1073741824 records a table can track")]
    FragmentCapacity(usize),
    /// The table's memory could not be mapped.
    #[error("flow table memory: {0}")]
    Alloc(#[from] AllocError),
    /// A bad timeout.
    #[error("timeouts: {0}")]
    Timeouts(#[from] TimeoutError),
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
    ///
    /// Entries keep the low 32 bits of their generation, so "another
    /// generation" means another low 32 bits: an entry left untouched for
    /// exactly a multiple of 2^32 policy changes would pass as current.
    #[inline]
    pub(crate) fn reevaluates(&self, e: &HotEntry) -> bool {
        e.generation() != self.generation as u32 && (self.flush || e.flush_on_change())
    }

    /// The full generation of an entry decided under a generation whose low
    /// 32 bits are `low`, seen from this epoch.
    #[inline]
    pub(crate) fn widen(&self, low: u32) -> u64 {
        widen(low, self.generation)
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

/// Most fragment records a table tracks: its array (two slots a record, a
/// power of two) stays addressable and below 128 GiB.
const MAX_FRAGMENTS: usize = 1 << 30;

/// The full generation whose low 32 bits are `low`, nearest to `near`.
///
/// Entries store a generation's low 32 bits; the table widens them back
/// against a full generation it knows: a lookup's epoch, or for inspection
/// the generation of the latest decision inserted. With `current` that full
/// generation, an entry no newer than it was decided at
/// `current - (current as u32).wrapping_sub(low)`; taken as a signed
/// distance, the same rule also answers entries up to 2^31 generations
/// newer (a decision inserted under a newer policy than the looking-up
/// packet's). Exact whenever the entry's generation is within 2^31 of
/// `near`, either way.
#[inline]
pub(crate) fn widen(low: u32, near: u64) -> u64 {
    let distance = low.wrapping_sub(near as u32) as i32;
    near.wrapping_add_signed(i64::from(distance))
}

/// The bounded flow table of one worker: single-owner (every change through
/// `&mut self`, no lock, no atomic), `Send` to move it to its worker's
/// thread. Each worker owns its table and keeps its own [`FlowStats`].
///
/// Storage is a [`LocalTable`]: cache-line buckets of tagged slots, a
/// 64-byte hot line per flow (all a hit reads and writes) and a cold side,
/// all mapped once at construction, on huge pages where the host gives them.
pub struct FlowTable {
    pub(crate) store: LocalTable,
    pub(crate) hasher: FlowHasher,
    pub(crate) cfg: FlowTableConfig,
    pub(crate) timeouts: NicTimeouts,
    pub(crate) frags: FragmentTable,
    /// The generation of the latest decision inserted: what entries'
    /// stored low 32 bits are widened against for inspection.
    pub(crate) latest_generation: u64,
    /// The time before which no eviction pass is tried again.
    pub(crate) evict_retry_at: u64,
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
        cfg.timeouts.validate()?;
        let mut cfg = cfg;
        if cfg.evict_batch == 0 {
            cfg.evict_batch = (cfg.capacity / 8).max(1);
        }
        if cfg.fragment_capacity == 0 {
            cfg.fragment_capacity = (cfg.capacity / 32).max(1024);
        }
        if cfg.fragment_capacity > MAX_FRAGMENTS {
            return Err(ConfigError::FragmentCapacity(cfg.fragment_capacity));
        }
        let store = LocalTable::with_capacity(cfg.capacity).map_err(|e| match e {
            local::Error::Capacity(n) => ConfigError::TooLarge(n),
            local::Error::Alloc(a) => ConfigError::Alloc(a),
        })?;
        let frags = FragmentTable::new(
            cfg.fragment_capacity,
            nanos(cfg.fragment_timeout),
            hasher(cfg.hash_seed),
        );
        Ok(FlowTable {
            store,
            hasher: hasher(cfg.hash_seed),
            timeouts: NicTimeouts::new(cfg.timeouts.into(), cfg.max_nics),
            frags,
            latest_generation: 0,
            evict_retry_at: 0,
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
    /// Existing entries use them from their next packet or sweep. A NIC id
    /// at or past `max_nics` keeps the default timeouts.
    pub fn set_timeouts(&mut self, nic: NicId, t: Timeouts) -> Result<(), TimeoutError> {
        t.validate()?;
        self.timeouts.set(nic, t.into());
        Ok(())
    }

    /// Whether `e` has been idle past its timeout at `now`.
    #[inline]
    pub(crate) fn expired(&self, e: &HotEntry, now: u64) -> bool {
        self.timeouts.expired(e, now)
    }

    /// Live entries (including idle ones not yet swept).
    pub fn len(&self) -> usize {
        self.store.len()
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

    /// Every byte of flow state, all allocated at construction: the
    /// buckets, hot and cold entries (whole pages), the fragment table and
    /// the per-NIC timeouts.
    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes() + self.frags.memory_bytes() + self.timeouts.memory_bytes()
    }

    /// Bytes of the fragment table (allocated up front, as the flows').
    pub fn fragment_memory_bytes(&self) -> usize {
        self.frags.memory_bytes()
    }

    /// How the flow memory is backed: huge pages from the pool, transparent
    /// huge pages, or base pages (for the startup log and the bench).
    pub fn backing(&self) -> Backing {
        self.store.backing()
    }

    /// Look up the flow of `meta` at `nic` and, in the same entry access,
    /// count the packet, move the connection state and stamp the time:
    /// [`FlowTable::prepare`] then [`FlowTable::lookup_prepared`].
    ///
    /// `now` is the caller's clock reading (read once per burst); `epoch`
    /// the current policy generation and whether it flushes at `nic` (a bare
    /// generation number means it does not).
    #[inline]
    pub fn lookup(
        &mut self,
        nic: NicId,
        meta: &PacketMeta,
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
    ) -> Lookup {
        let p = self.prepare(nic, meta);
        self.lookup_prepared(&p, meta, now, epoch, stats)
    }

    /// Create the entry of `meta`'s flow at `nic` with `decision`, starting in
    /// the state the packet's flags imply, the packet counted. If the entry
    /// exists (a re-evaluation), its decision is replaced and the packet
    /// counted on it. When the table is full, closing and half-open flows
    /// are evicted first; established flows never are: with nothing to
    /// evict the flow is refused and counted. [`FlowTable::prepare`] then
    /// [`FlowTable::insert_prepared`].
    #[inline]
    pub fn insert(
        &mut self,
        nic: NicId,
        meta: &PacketMeta,
        decision: Decision,
        now: Timestamp,
        stats: &mut FlowStats,
    ) -> InsertOutcome {
        let p = self.prepare(nic, meta);
        self.insert_prepared(&p, meta, decision, now, stats)
    }

    /// The entry of `key`, if live or idle.
    #[inline]
    pub(crate) fn find(&self, key: &FlowKey) -> Option<EntryIndex> {
        self.store.lookup(self.hash_key(key), key)
    }

    /// Remove the entry of `tuple`'s flow at `nic` (either direction).
    pub fn remove(&mut self, nic: NicId, tuple: &FiveTuple, stats: &mut FlowStats) -> bool {
        let (key, _) = FlowKey::new(nic, tuple);
        let removed = self.find(&key).is_some_and(|i| self.store.remove(i));
        stats.removed += u64::from(removed);
        removed
    }

    /// A copy of the entry of `tuple`'s flow at `nic`, live or idle.
    pub fn get(&self, nic: NicId, tuple: &FiveTuple) -> Option<FlowInfo> {
        let (key, _) = FlowKey::new(nic, tuple);
        self.info(self.find(&key)?)
    }

    /// Visit every entry, live or idle: the NIC it belongs to and a copy of
    /// it (flow logs report the flows still open at the end of a capture).
    pub fn for_each(&self, mut f: impl FnMut(NicId, &FlowInfo)) {
        for i in self.store.live() {
            if let (Some(e), Some(info)) = (self.store.hot(i), self.info(i)) {
                f(e.nic(), &info);
            }
        }
    }

    /// A copy of entry `i`, its generation widened against the latest
    /// decision's.
    fn info(&self, i: EntryIndex) -> Option<FlowInfo> {
        let e = self.store.hot(i)?;
        Some(FlowInfo {
            original: self.store.original(i)?,
            verdict: e.verdict(),
            rule: e.rule(),
            generation: widen(e.generation(), self.latest_generation),
            flush_on_change: e.flush_on_change(),
            state: e.state(),
            packets: e.packets(),
            bytes: e.bytes(),
            created: self.store.cold(i)?.created(),
            last_seen: e.last_seen(),
        })
    }
}

/// What a hit answers for entry `e` and a packet in `direction`.
#[inline]
pub(crate) fn hit_of(e: &HotEntry, direction: Direction, epoch: &Epoch) -> Hit {
    Hit {
        verdict: e.verdict(),
        rule: e.rule(),
        generation: epoch.widen(e.generation()),
        direction,
        state: e.state(),
    }
}

#[cfg(test)]
mod tests {
    use super::widen;

    #[test]
    fn generations_widen_back_from_their_low_bits() {
        assert_eq!(widen(1, 2), 1);
        assert_eq!(widen(3, 2), 3);
        assert_eq!(widen(7, 7), 7);
        // Across a 2^32 boundary, older and newer.
        let g = (5u64 << 32) + 3;
        assert_eq!(widen(u32::MAX, g), (5u64 << 32) - 1);
        assert_eq!(widen(10, (5u64 << 32) - 2), (5u64 << 32) + 10);
        // As far as 2^31 - 1 older.
        let old = g - ((1 << 31) - 1);
        assert_eq!(widen(old as u32, g), old);
    }
}

//! Flow table statistics: one counter per event, kept per worker (plain
//! integers, no atomics on the packet path) and merged when reported.

/// Counters of the flow stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Lookups made (every packet handed to [`crate::FlowTable::lookup`]).
    pub lookups: u64,
    /// Lookups that found a live entry of the packet's own tuple.
    pub hits: u64,
    /// Lookups that found no live entry (the pipeline evaluates the policy).
    pub misses: u64,
    /// ICMP errors allowed because they quote a live flow (RELATED).
    pub related: u64,
    /// Entries decided under an older policy generation with flush set,
    /// handed back for re-evaluation.
    pub reevaluations: u64,
    /// Closed or time-wait entries removed because a SYN opened a new
    /// connection on the same tuple (the lookup then misses).
    pub reopened: u64,
    /// Entries found idle past their timeout at lookup and removed.
    pub expired_on_lookup: u64,
    /// Entries created.
    pub inserts: u64,
    /// Inserts that found the entry already there and replaced its decision
    /// (a re-evaluation, or a decision for a flow already there).
    pub updates: u64,
    /// New flows refused: the table was full and nothing could be evicted.
    pub refusals: u64,
    /// Entries evicted for room: TCP after RST or FIN from both sides.
    pub evicted_closed: u64,
    /// Entries evicted for room: TCP with a FIN from one side.
    pub evicted_closing: u64,
    /// Entries evicted for room: half-open TCP, unanswered UDP/ICMP/other.
    pub evicted_half_open: u64,
    /// Eviction passes run (each walks the map at most twice): with a large
    /// batch, far fewer than the flows that were given room.
    pub evict_passes: u64,
    /// Entries removed by a sweep or an eviction pass for being idle past
    /// their timeout.
    pub expired: u64,
    /// Entries removed on request ([`crate::FlowTable::remove`]).
    pub removed: u64,
    /// First fragments recorded so later fragments can follow them.
    pub fragments_recorded: u64,
    /// Non-first fragments that followed their first fragment's verdict.
    pub fragment_hits: u64,
    /// Non-first fragments whose first fragment is unknown or timed out.
    pub fragment_misses: u64,
    /// First fragments not recorded: the fragment table was full.
    pub fragment_refusals: u64,
    /// Fragment records removed for being past their timeout.
    pub fragments_expired: u64,
}

impl FlowStats {
    /// Add another worker's counters to these.
    pub fn merge(&mut self, o: &FlowStats) {
        self.lookups += o.lookups;
        self.hits += o.hits;
        self.misses += o.misses;
        self.related += o.related;
        self.reevaluations += o.reevaluations;
        self.reopened += o.reopened;
        self.expired_on_lookup += o.expired_on_lookup;
        self.inserts += o.inserts;
        self.updates += o.updates;
        self.refusals += o.refusals;
        self.evicted_closed += o.evicted_closed;
        self.evicted_closing += o.evicted_closing;
        self.evicted_half_open += o.evicted_half_open;
        self.evict_passes += o.evict_passes;
        self.expired += o.expired;
        self.removed += o.removed;
        self.fragments_recorded += o.fragments_recorded;
        self.fragment_hits += o.fragment_hits;
        self.fragment_misses += o.fragment_misses;
        self.fragment_refusals += o.fragment_refusals;
        self.fragments_expired += o.fragments_expired;
    }

    /// Evictions of every class together.
    pub fn evictions(&self) -> u64 {
        self.evicted_closed + self.evicted_closing + self.evicted_half_open
    }
}

//! Counters of the pipeline stages. Each worker keeps its own and they are
//! merged for reports, so the fast path never shares a cache line.

use ahash::AHashMap;
use nsg_flow::{FlowStats, RuleId};
use nsg_packet::ParseStats;

/// The key of the per-rule tally ([`VerdictStats::by_rule`]): which rule
/// of which policy generation decided a frame, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleKey {
    /// The policy generation the deciding rule is of.
    pub generation: u64,
    /// The deciding rule, as [`crate::policy::rule_id`] numbers it in that
    /// generation.
    pub rule: RuleId,
    /// Whether the rule allowed the frame (else it denied it).
    pub allowed: bool,
}

/// What the verdict stage counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerdictStats {
    /// Frames that entered the pipeline.
    pub frames: u64,
    /// IP frames allowed (by a rule or by a live flow).
    pub allowed: u64,
    /// IP frames denied by a rule.
    pub denied: u64,
    /// Allowed frames that a live flow let through without rule evaluation.
    pub allowed_by_state: u64,
    /// Frames dropped before a verdict (parse faults, orphan fragments,
    /// a full flow table).
    pub dropped: u64,
    /// IP frames touching no NIC of the policy.
    pub unmanaged: u64,
    /// Of those, dropped because `--unmanaged drop` was asked.
    pub unmanaged_dropped: u64,
    /// Frames that are not filtered: ARP, IPv6 neighbour discovery, other
    /// EtherTypes.
    pub not_ip: u64,
    /// Non-first fragments whose first fragment was never seen.
    pub orphan_fragments: u64,
    /// New flows refused because the flow table was full.
    pub table_full: u64,
    /// Policy evaluations (flow-table misses and re-evaluations).
    pub evaluations: u64,
    /// Flow entries created.
    pub flows_created: u64,
    /// Frames per deciding rule and access. Rule ids index a generation's
    /// rule lists, so a reload may give one id another rule: name them with
    /// the policy of their generation
    /// ([`crate::policy::PolicyCell::policy_at`]).
    pub by_rule: AHashMap<RuleKey, u64>,
}

impl VerdictStats {
    /// Add `o`'s counts to these (workers' counters merged for a report).
    pub fn merge(&mut self, o: &VerdictStats) {
        self.frames += o.frames;
        self.allowed += o.allowed;
        self.denied += o.denied;
        self.allowed_by_state += o.allowed_by_state;
        self.dropped += o.dropped;
        self.unmanaged += o.unmanaged;
        self.unmanaged_dropped += o.unmanaged_dropped;
        self.not_ip += o.not_ip;
        self.orphan_fragments += o.orphan_fragments;
        self.table_full += o.table_full;
        self.evaluations += o.evaluations;
        self.flows_created += o.flows_created;
        for (k, v) in &o.by_rule {
            *self.by_rule.entry(*k).or_default() += v;
        }
    }
}

/// Every counter of one worker, or of all merged.
#[derive(Debug, Clone, Default)]
pub struct PipelineStats {
    /// Frames parsed, and parse faults by reason.
    pub parse: ParseStats,
    /// Flow table lookups, inserts, evictions, re-evaluations.
    pub flow: FlowStats,
    /// Verdicts: allowed, denied, dropped, per rule.
    pub verdict: VerdictStats,
}

impl PipelineStats {
    /// Add `o`'s counts to these (workers' counters merged for a report).
    pub fn merge(&mut self, o: &PipelineStats) {
        self.parse.merge(&o.parse);
        self.flow.merge(&o.flow);
        self.verdict.merge(&o.verdict);
    }
}

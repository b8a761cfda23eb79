//! NSG compilation: every (NSG, direction, VNet context) that a NIC's path
//! uses becomes a pair of classifiers (IPv4, IPv6) over the NSG's rules in
//! priority order, default rules included, with tags and ASGs expanded to
//! address ranges as seen from that VNet.
//!
//! The NSG rule that ports count only for TCP and UDP lives here: rule port
//! lists of `*` are compiled as `0..=NO_PORT`, and a packet without ports (or
//! of another protocol) is looked up with [`NO_PORT`], so only rules whose
//! both port lists are `*` can match it.

use crate::classifier::{Classifier, FieldRule, Key4, Key6, Width, NO_MATCH, NO_PORT};
use crate::simd::SimdPath;
use ahash::AHashMap;
use nsg_policy::eval::{platform_bypass, Decider, Layer, Packet, Platform, RuleRef, Verdict};
use nsg_policy::model::{
    has_ports, Access, Direction, NicId, NsgId, Policy, Ports, Protocol, Rule, Scope, VNetId,
};
use nsg_policy::prefix::Family;
use std::net::IpAddr;
use std::sync::Arc;

/// The two classifiers of one (NSG, direction, VNet).
#[derive(Debug, Clone)]
pub struct NsgMatcher {
    /// The NSG whose rules are compiled.
    pub nsg: NsgId,
    /// The direction of the rules compiled.
    pub direction: Direction,
    v4: Classifier,
    v6: Classifier,
    /// Access of each rule, by index.
    access: Vec<Access>,
}

fn proto_ranges(p: Protocol) -> Vec<(u8, u8)> {
    use nsg_policy::model::ipproto::*;
    match p {
        Protocol::Tcp => vec![(TCP, TCP)],
        Protocol::Udp => vec![(UDP, UDP)],
        Protocol::Icmp => vec![(ICMP, ICMP), (ICMPV6, ICMPV6)],
        Protocol::Esp => vec![(ESP, ESP)],
        Protocol::Ah => vec![(AH, AH)],
        Protocol::Any => vec![(0, 255)],
    }
}

fn port_ranges(p: &Ports) -> Vec<(u32, u32)> {
    if p.is_any() {
        vec![(0, NO_PORT)]
    } else {
        p.ranges()
            .iter()
            .map(|&(lo, hi)| (lo as u32, hi as u32))
            .collect()
    }
}

/// A rule as the core sees it, for one address family at a NIC in `vnet`.
pub fn field_rule(policy: &Policy, rule: &Rule, vnet: VNetId, fam: Family) -> FieldRule {
    FieldRule {
        src: policy.side_set(&rule.source, vnet).ranges(fam).to_vec(),
        dst: policy
            .side_set(&rule.destination, vnet)
            .ranges(fam)
            .to_vec(),
        sport: port_ranges(&rule.source_ports),
        dport: port_ranges(&rule.destination_ports),
        proto: proto_ranges(rule.protocol),
    }
}

impl NsgMatcher {
    /// Compile `nsg`'s rules of `direction` (default rules included, in
    /// priority order) with tags and ASGs resolved as seen from `vnet`.
    pub fn build(policy: &Policy, nsg: NsgId, direction: Direction, vnet: VNetId) -> NsgMatcher {
        let rules = policy.nsgs[nsg].rules(direction);
        let fam = |f: Family| -> Vec<FieldRule> {
            rules
                .iter()
                .map(|r| field_rule(policy, r, vnet, f))
                .collect()
        };
        NsgMatcher {
            nsg,
            direction,
            v4: Classifier::build(Width::V4, &fam(Family::V4)),
            v6: Classifier::build(Width::V6, &fam(Family::V6)),
            access: rules.iter().map(|r| r.access).collect(),
        }
    }

    /// Index of the first matching rule.
    #[inline]
    pub fn lookup(&self, pkt: &Packet) -> usize {
        let (sport, dport) = match (has_ports(pkt.protocol), pkt.src_port, pkt.dst_port) {
            (true, Some(s), Some(d)) => (s as u32, d as u32),
            _ => (NO_PORT, NO_PORT),
        };
        let i = match (pkt.src, pkt.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.lookup4(&Key4 {
                src: s.into(),
                dst: d.into(),
                sport,
                dport,
                proto: pkt.protocol,
            }),
            (s, d) => self.v6.lookup6(&Key6 {
                src: v6_value(s),
                dst: v6_value(d),
                sport,
                dport,
                proto: pkt.protocol,
            }),
        };
        // The default DenyAll rule matches every packet of either family; a
        // miss can only come from mixed families, which queries refuse.
        if i == NO_MATCH {
            self.access.len() - 1
        } else {
            i as usize
        }
    }

    /// The same matcher running the lookup loops compiled for `path` (see
    /// [`Classifier::with_simd`]).
    pub fn with_simd(self, path: SimdPath) -> NsgMatcher {
        NsgMatcher {
            v4: self.v4.with_simd(path),
            v6: self.v6.with_simd(path),
            ..self
        }
    }

    /// Allow or deny: the access of the rule at `index` (as [`NsgMatcher::lookup`]
    /// answers it).
    pub fn access(&self, index: usize) -> Access {
        self.access[index]
    }

    /// Heap bytes of both classifiers' tables.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

fn v6_value(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V6(a) => u128::from(a),
        // Mixed families: an IPv4 address mapped so it matches no IPv6 prefix
        // it would not match as IPv4-mapped.
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
    }
}

/// One NIC's compiled path.
#[derive(Debug, Clone)]
struct NicPath {
    /// Layers of each direction: (scope, matcher index), in evaluation order.
    inbound: Vec<(Scope, usize)>,
    outbound: Vec<(Scope, usize)>,
}

/// A policy with every NSG a NIC uses compiled. Immutable.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// The policy compiled (platform bypass and names are read from it).
    pub policy: Arc<Policy>,
    matchers: Vec<NsgMatcher>,
    nics: Vec<NicPath>,
}

impl CompiledPolicy {
    /// Compile every NSG that some NIC's inbound or outbound path uses, one
    /// matcher per (NSG, direction, VNet) however many NICs share it.
    pub fn build(policy: Arc<Policy>) -> CompiledPolicy {
        let mut index: AHashMap<(NsgId, Direction, VNetId), usize> = AHashMap::new();
        let mut matchers = Vec::new();
        let mut nics = Vec::with_capacity(policy.nics.len());
        for nic in 0..policy.nics.len() {
            let vnet = policy.nic_vnet(nic);
            let mut path = |dir: Direction| -> Vec<(Scope, usize)> {
                policy
                    .layers(nic, dir)
                    .into_iter()
                    .map(|(scope, g)| {
                        let m = *index.entry((g, dir, vnet)).or_insert_with(|| {
                            matchers.push(NsgMatcher::build(&policy, g, dir, vnet));
                            matchers.len() - 1
                        });
                        (scope, m)
                    })
                    .collect()
            };
            let inbound = path(Direction::Inbound);
            let outbound = path(Direction::Outbound);
            nics.push(NicPath { inbound, outbound });
        }
        CompiledPolicy {
            policy,
            matchers,
            nics,
        }
    }

    /// The same policy with every matcher running the lookup loops compiled
    /// for `path` (see [`Classifier::with_simd`]).
    pub fn with_simd(self, path: SimdPath) -> CompiledPolicy {
        CompiledPolicy {
            matchers: self
                .matchers
                .into_iter()
                .map(|m| m.with_simd(path))
                .collect(),
            ..self
        }
    }

    /// Distinct (NSG, direction, VNet) matchers compiled.
    pub fn matcher_count(&self) -> usize {
        self.matchers.len()
    }

    /// Heap bytes of every matcher's tables.
    pub fn memory_bytes(&self) -> usize {
        self.matchers.iter().map(|m| m.memory_bytes()).sum()
    }

    /// The platform service reached without evaluation, if any.
    pub fn platform(&self, nic: NicId, dir: Direction, pkt: &Packet) -> Option<Platform> {
        platform_bypass(&self.policy, nic, dir, pkt)
    }

    /// Evaluate a packet at a NIC, as [`nsg_policy::evaluate`] does.
    pub fn evaluate(&self, nic: NicId, dir: Direction, pkt: &Packet) -> Verdict {
        if let Some(p) = self.platform(nic, dir, pkt) {
            return Verdict {
                access: Access::Allow,
                decider: Decider::Platform(p),
                layers: Vec::new(),
            };
        }
        let path = match dir {
            Direction::Inbound => &self.nics[nic].inbound,
            Direction::Outbound => &self.nics[nic].outbound,
        };
        let mut layers = Vec::with_capacity(path.len());
        for &(scope, m) in path {
            let m = &self.matchers[m];
            let index = m.lookup(pkt);
            let access = m.access(index);
            layers.push(Layer {
                scope,
                rule: RuleRef {
                    nsg: m.nsg,
                    direction: dir,
                    index,
                },
                access,
            });
            if access == Access::Deny {
                break;
            }
        }
        Verdict::from_layers(layers)
    }
}

impl CompiledPolicy {
    /// The access and deciding rule [`CompiledPolicy::evaluate`] answers,
    /// without collecting the layers (nothing is allocated): what a flow
    /// table needs to create a flow.
    pub fn decide(&self, nic: NicId, dir: Direction, pkt: &Packet) -> (Access, Decider) {
        if let Some(p) = self.platform(nic, dir, pkt) {
            return (Access::Allow, Decider::Platform(p));
        }
        let path = match dir {
            Direction::Inbound => &self.nics[nic].inbound,
            Direction::Outbound => &self.nics[nic].outbound,
        };
        let mut last = (Access::Allow, Decider::NoNsg);
        for &(_, m) in path {
            let m = &self.matchers[m];
            let index = m.lookup(pkt);
            let access = m.access(index);
            let rule = RuleRef {
                nsg: m.nsg,
                direction: dir,
                index,
            };
            last = (access, Decider::Rule(rule));
            if access == Access::Deny {
                break;
            }
        }
        last
    }

    /// [`CompiledPolicy::decide`] for each query (NIC, direction, packet),
    /// answers in `out` in the same order (`out` is cleared first).
    pub fn evaluate_batch(
        &self,
        queries: &[(NicId, Direction, Packet)],
        out: &mut Vec<(Access, Decider)>,
    ) {
        out.clear();
        out.extend(
            queries
                .iter()
                .map(|(nic, dir, p)| self.decide(*nic, *dir, p)),
        );
    }
}

//! Findings per NIC: `layer-conflict` (an allow rule whose packets the
//! other layer always denies) and `exposed` (a management or database port
//! open to the Internet end to end).

use super::context::{dir_key, dir_of, Class};
use super::witness::witness;
use super::{rule_name, Code, Finding};
use crate::decide::{decide, point, rule_cubes, Compiled, NsgCubes};
use crate::space::{Cube, Ranges, Region, DPORT, PROTO};
use nsg_policy::eval::Decider;
use nsg_policy::model::{
    Access, Direction, NicId, NsgId, Policy, Ports, Protocol, Rule, Side, Tag, VNetId,
};
use nsg_policy::tags::BuiltinTag;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one allow rule meets at one NIC: whether some of its packets pass
/// the other layer, the other layer's rules that deny the rest, and a
/// cube of denied packets at the NIC.
#[derive(Default)]
struct Seen {
    passes: bool,
    deniers: BTreeSet<(NsgId, usize)>,
    denied: Option<Cube>,
}

/// NSG cubes built once per (NSG, direction, VNet).
#[derive(Default)]
struct Cache(HashMap<(NsgId, Direction, VNetId), NsgCubes>);

impl Cache {
    fn get(&mut self, policy: &Policy, g: NsgId, dir: Direction, vnet: VNetId) -> &NsgCubes {
        self.0
            .entry((g, dir, vnet))
            .or_insert_with(|| NsgCubes::build(policy, g, dir, vnet))
    }
}

/// Index of the first rule of `cubes` that matches `pkt`.
fn first_match(cubes: &NsgCubes, pkt: &nsg_policy::eval::Packet) -> Option<usize> {
    let (fam, p) = point(pkt);
    (0..cubes.rules.len()).find(|&i| cubes.cube(i, fam).is_some_and(|c| c.contains(fam, &p)))
}

/// Every `layer-conflict` finding: per NIC with two different NSG layers,
/// each user allow rule of one layer that is the first match of its NSG
/// for some packets there, all of which the other layer denies; NICs with
/// the same rule and the same denying rules share a finding.
pub fn layer_conflicts(policy: &Policy, classes: &[Class]) -> Vec<Finding> {
    let mut cache = Cache::default();
    // (dir, position, NSG, rule, NIC) -> what the rule meets there.
    let mut seen: BTreeMap<(u8, usize, NsgId, usize, NicId), Seen> = BTreeMap::new();
    for class in classes {
        let [(_, g1), (_, g2)] = class.layers[..] else {
            continue;
        };
        if g1 == g2 {
            continue;
        }
        let (dir, vnet) = (class.dir, class.vnet);
        let c1 = cache.get(policy, g1, dir, vnet).clone();
        let c2 = cache.get(policy, g2, dir, vnet);
        let first = c1.first_matches(
            class
                .user_space
                .cubes
                .iter()
                .map(|c| (c.clone(), ()))
                .collect(),
        );
        let both = c2.first_matches(first.into_iter().map(|(c, (), r1)| (c, r1)).collect());
        for (cube, r1, r2) in both {
            let pair = [(g1, r1, c1.access[r1]), (g2, r2, c2.access[r2])];
            for pos in 0..2 {
                let (g, r, access) = pair[pos];
                let (h, k, other) = pair[1 - pos];
                if access != Access::Allow || policy.nsgs[g].rules(dir)[r].is_default {
                    continue;
                }
                for n in class.nics_in(&cube) {
                    let s = seen.entry((dir_key(dir), pos, g, r, n)).or_default();
                    if other == Access::Allow {
                        s.passes = true;
                    } else {
                        s.deniers.insert((h, k));
                        if s.denied.is_none() {
                            s.denied = class.at_nic(policy, &cube, n);
                        }
                    }
                }
            }
        }
    }
    conflict_findings(policy, &mut cache, seen)
}

/// Group the conflicts (rules no packet of which passes) by rule and
/// denying rules, with a witness from the first NIC.
fn conflict_findings(
    policy: &Policy,
    cache: &mut Cache,
    seen: BTreeMap<(u8, usize, NsgId, usize, NicId), Seen>,
) -> Vec<Finding> {
    type Key = (u8, usize, NsgId, usize, BTreeSet<(NsgId, usize)>);
    let mut groups: BTreeMap<Key, (Vec<NicId>, Option<serde_json::Value>)> = BTreeMap::new();
    for ((d, pos, g, r, n), s) in seen {
        let dir = dir_of(d);
        if s.passes || s.deniers.is_empty() {
            continue;
        }
        let e = groups.entry((d, pos, g, r, s.deniers.clone())).or_default();
        e.0.push(n);
        if e.1.is_none() {
            let cubes = cache.get(policy, g, dir, policy.nic_vnet(n));
            e.1 = s.denied.as_ref().and_then(|c| {
                witness(policy, n, dir, c, |pkt, v| {
                    let denier = v.layers.last().map(|l| (l.rule.nsg, l.rule.index));
                    v.access == Access::Deny
                        && denier.is_some_and(|d| s.deniers.contains(&d))
                        && first_match(cubes, pkt) == Some(r)
                })
            });
        }
    }
    groups
        .into_iter()
        .map(|((d, pos, g, r, deniers), (nics, witness))| {
            let dir = dir_of(d);
            let denied_by: Vec<String> = deniers
                .iter()
                .map(|&(h, k)| rule_name(policy, h, dir, k))
                .collect();
            let name = rule_name(policy, g, dir, r);
            let how = if pos == 0 {
                "then denies"
            } else {
                "denies first"
            };
            let names: Vec<&str> = nics.iter().map(|&n| policy.nics[n].name.as_str()).collect();
            Finding {
                code: Code::LayerConflict,
                nsg: Some(g),
                rule: Some(r),
                direction: dir,
                message: format!(
                    "{name} allows packets at {} that the other layer {how} ({})",
                    names.join(", "),
                    denied_by.join(", ")
                ),
                nics,
                covered_by: Vec::new(),
                fix: format!("allow the same packets in the other layer's NSG, or delete {name}"),
                denied_by,
                decided_by: Vec::new(),
                witness,
            }
        })
        .collect()
}

/// Destination ports of management and database services.
const EXPOSED_PORTS: [(u128, u128); 9] = [
    (22, 22),
    (3389, 3389),
    (5985, 5986),
    (1433, 1433),
    (3306, 3306),
    (5432, 5432),
    (6379, 6379),
    (27017, 27017),
    (9200, 9200),
];

/// The packets from an `Internet` address (as seen from `vnet`) to TCP or
/// UDP on an exposed port, one cube per family.
fn internet_probe(policy: &Policy, vnet: VNetId) -> Vec<Cube> {
    let probe = Rule {
        name: "internet-probe".into(),
        priority: 0,
        direction: Direction::Inbound,
        access: Access::Allow,
        protocol: Protocol::Any,
        source: Side::Tag(Tag::Builtin(BuiltinTag::Internet)),
        source_ports: Ports::any(),
        destination: Side::Any,
        destination_ports: Ports::any(),
        description: None,
        is_default: false,
    };
    rule_cubes(policy, &probe, vnet)
        .into_iter()
        .flatten()
        .filter_map(|mut c| {
            c.f[PROTO] = Ranges::new(vec![(6, 6), (17, 17)]);
            c.f[DPORT] = Ranges::new(EXPOSED_PORTS.to_vec());
            (!c.is_empty()).then_some(c)
        })
        .collect()
}

/// One group of exposed packets: the NICs, the protocols and ports, and
/// a witness.
#[derive(Default)]
struct Exposure {
    nics: BTreeSet<NicId>,
    protos: Ranges,
    ports: Ranges,
    witness: Option<serde_json::Value>,
}

/// The deciding rule (none without an NSG) and every layer's rule.
type ExposureKey = (Option<(NsgId, usize)>, Vec<(NsgId, usize)>);

/// Every `exposed` finding, one per deciding rule (or per "no NSG") and
/// layers, with the NICs where Internet packets to those ports pass.
pub fn exposed(policy: &Policy, classes: &[Class]) -> Vec<Finding> {
    let mut compiled = Compiled::new();
    let mut groups: BTreeMap<ExposureKey, Exposure> = BTreeMap::new();
    for class in classes.iter().filter(|c| c.dir == Direction::Inbound) {
        let mut region = Region::empty();
        for c in internet_probe(policy, class.vnet) {
            region.extend_disjoint(class.user_space.intersect_cube(&c));
        }
        if region.is_empty() {
            continue;
        }
        let pieces = decide(
            policy,
            &mut compiled,
            class.nics[0],
            Direction::Inbound,
            &region,
        );
        for p in pieces.into_iter().filter(|p| p.access == Access::Allow) {
            let decider = match p.decider {
                Decider::Rule(r) => Some((r.nsg, r.index)),
                _ => None,
            };
            let layers: Vec<(NsgId, usize)> = p
                .layers
                .iter()
                .map(|l| (l.rule.nsg, l.rule.index))
                .collect();
            let e = groups.entry((decider, layers)).or_default();
            e.protos = e.protos.union(&p.cube.f[PROTO]);
            e.ports = e.ports.union(&p.cube.f[DPORT]);
            for n in class.nics_in(&p.cube) {
                e.nics.insert(n);
                if e.witness.is_none() {
                    e.witness = class.at_nic(policy, &p.cube, n).and_then(|c| {
                        witness(policy, n, Direction::Inbound, &c, |_, v| {
                            v.access == Access::Allow && v.decider == p.decider
                        })
                    });
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|((decider, layers), e)| exposure_finding(policy, decider, &layers, e))
        .collect()
}

/// `22, 5985-5986` from a list of ranges.
fn ranges_text(r: &Ranges) -> String {
    let parts: Vec<String> = r
        .ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    parts.join(", ")
}

fn exposure_finding(
    policy: &Policy,
    decider: Option<(NsgId, usize)>,
    layers: &[(NsgId, usize)],
    e: Exposure,
) -> Finding {
    let dir = Direction::Inbound;
    let protos = match (e.protos.contains(6), e.protos.contains(17)) {
        (true, true) => "TCP/UDP",
        (true, false) => "TCP",
        _ => "UDP",
    };
    let nics: Vec<NicId> = e.nics.into_iter().collect();
    let names: Vec<&str> = nics.iter().map(|&n| policy.nics[n].name.as_str()).collect();
    let decided_by: Vec<String> = layers
        .iter()
        .map(|&(g, i)| rule_name(policy, g, dir, i))
        .collect();
    let (by, fix) = match decider {
        Some((g, r)) => (
            format!("allowed by {}", decided_by.join(" then ")),
            format!(
                "narrow the source of {} to known addresses, or deny these ports from the Internet above it",
                rule_name(policy, g, dir, r)
            ),
        ),
        None => (
            "no NSG on the path".to_string(),
            "attach an NSG to the NIC or its subnet".to_string(),
        ),
    };
    Finding {
        code: Code::Exposed,
        nsg: decider.map(|d| d.0),
        rule: decider.map(|d| d.1),
        direction: dir,
        message: format!(
            "{protos} {} open to the Internet at {} ({by})",
            ranges_text(&e.ports),
            names.join(", ")
        ),
        nics,
        covered_by: Vec::new(),
        denied_by: Vec::new(),
        decided_by,
        witness: e.witness,
        fix,
    }
}

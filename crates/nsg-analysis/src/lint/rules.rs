//! Findings about single rules: `unmatchable`, `shadowed`, `redundant`, in
//! that precedence, computed per (NSG, direction, VNet) over the union of
//! the packets of the NICs the NSG applies to.

use super::context::{nic_of_point, nics_of, Class, Context, Contexts};
use super::witness::witness;
use super::{rule_name, Code, Finding};
use crate::decide::{point, rule_cubes, NsgCubes, FAMILIES};
use crate::space::{Cube, Region};
use nsg_policy::eval::{Packet, Verdict};
use nsg_policy::model::{Access, Direction, NicId, NsgId, Policy, Side, Tag, VNetId};
use nsg_policy::tags::BuiltinTag;

/// One NSG direction being linted: the policy, the classes, the NSG's
/// contexts and the NICs it applies to.
struct Scope<'a> {
    policy: &'a Policy,
    classes: &'a [Class],
    all: &'a Contexts,
    cs: &'a [Context],
    g: NsgId,
    dir: Direction,
    nics: Vec<NicId>,
}

/// Every rule finding of the policy, and one `unmatchable` finding per NSG
/// attached to nothing.
pub fn rule_findings(policy: &Policy, classes: &[Class], all: &Contexts) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in 0..policy.nsgs.len() {
        let vnets = attached_vnets(policy, g);
        if vnets.is_empty() {
            out.push(unattached(policy, g));
            continue;
        }
        for dir in [Direction::Inbound, Direction::Outbound] {
            let cs = all.get(&(g, dir)).map(Vec::as_slice).unwrap_or(&[]);
            let s = Scope {
                policy,
                classes,
                all,
                cs,
                g,
                dir,
                nics: nics_of(classes, cs),
            };
            for (i, rule) in policy.nsgs[g].rules(dir).iter().enumerate() {
                if rule.is_default {
                    continue;
                }
                if vnets
                    .iter()
                    .all(|&v| rule_cubes(policy, rule, v) == [None, None])
                {
                    out.push(s.unmatchable(i));
                } else if cs.is_empty() {
                    continue;
                } else if let Some(f) = s.shadowed(i) {
                    out.push(f);
                } else if let Some(f) = s.redundant(i) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// The VNets an NSG is seen from: those of the subnets and NICs it is
/// attached to.
fn attached_vnets(policy: &Policy, g: NsgId) -> Vec<VNetId> {
    let mut v: Vec<VNetId> = policy
        .subnets
        .iter()
        .filter(|s| s.nsg == Some(g))
        .map(|s| s.vnet)
        .chain(
            (0..policy.nics.len())
                .filter(|&n| policy.nics[n].nsg == Some(g))
                .map(|n| policy.nic_vnet(n)),
        )
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The finding about an NSG attached to no subnet and no NIC.
fn unattached(policy: &Policy, g: NsgId) -> Finding {
    let name = &policy.nsgs[g].name;
    Finding {
        code: Code::Unmatchable,
        nsg: Some(g),
        rule: None,
        direction: Direction::Inbound,
        nics: Vec::new(),
        message: format!(
            "NSG {name} is attached to no subnet and no NIC, so none of its rules applies"
        ),
        covered_by: Vec::new(),
        denied_by: Vec::new(),
        decided_by: Vec::new(),
        witness: None,
        fix: format!("attach {name} to a subnet or a NIC, or delete it"),
    }
}

/// The packets of `r` inside rule `i`'s cubes.
fn within_rule(cubes: &NsgCubes, i: usize, r: &Region) -> Region {
    let mut out = Region::empty();
    for fam in FAMILIES {
        if let Some(c) = cubes.cube(i, fam) {
            out.extend_disjoint(r.intersect_cube(c));
        }
    }
    out
}

/// Whether rule `i` of `cubes` matches a packet.
fn rule_has(cubes: &NsgCubes, i: usize, pkt: &Packet) -> bool {
    let (fam, p) = point(pkt);
    cubes.cube(i, fam).is_some_and(|c| c.contains(fam, &p))
}

/// The rules of `cubes` after `after`, by first match, on the packets of
/// `r`: each piece with the rule that takes it.
fn next_matches(cubes: &NsgCubes, after: usize, r: &Region) -> Vec<(Cube, usize)> {
    let mut out = Vec::new();
    let mut rest = r.clone();
    for k in after + 1..cubes.rules.len() {
        if rest.is_empty() {
            break;
        }
        for fam in FAMILIES {
            if let Some(c) = cubes.cube(k, fam) {
                out.extend(rest.intersect_cube(c).cubes.into_iter().map(|x| (x, k)));
                rest = rest.subtract_cube(c);
            }
        }
    }
    out
}

/// Whether an outbound rule names a platform service's tag, which turns
/// that service's bypass off: removing it changes verdicts even where it
/// decides nothing.
fn names_platform(rule: &nsg_policy::model::Rule) -> bool {
    matches!(
        rule.destination,
        Side::Tag(Tag::Builtin(
            BuiltinTag::AzurePlatformDns | BuiltinTag::AzurePlatformImds
        ))
    ) && rule.direction == Direction::Outbound
}

impl Scope<'_> {
    fn rule(&self, i: usize) -> &nsg_policy::model::Rule {
        &self.policy.nsgs[self.g].rules(self.dir)[i]
    }

    fn finding(&self, code: Code, i: usize, message: String, fix: String) -> Finding {
        Finding {
            code,
            nsg: Some(self.g),
            rule: Some(i),
            direction: self.dir,
            nics: self.nics.clone(),
            message,
            covered_by: Vec::new(),
            denied_by: Vec::new(),
            decided_by: Vec::new(),
            witness: None,
            fix,
        }
    }

    fn unmatchable(&self, i: usize) -> Finding {
        let r = self.rule(i);
        self.finding(
            Code::Unmatchable,
            i,
            format!(
                "{} matches no packet: a side expands to no address, or source and destination share no address family",
                r.name
            ),
            "correct the rule's source or destination (empty ASG, service tag without prefixes, mixed families), or delete it".into(),
        )
    }

    /// A witness from the cubes of `r` (one context's packets): the first
    /// that the evaluator confirms with `claim`.
    fn witness_in(
        &self,
        c: &Context,
        r: &Region,
        claim: impl Fn(&Packet, &Verdict) -> bool,
    ) -> Option<serde_json::Value> {
        for cube in r.cubes.iter().take(8) {
            let Some(p) = cube.sample() else { continue };
            let Some((ci, nic)) = nic_of_point(self.classes, &c.classes, cube.fam, &p) else {
                continue;
            };
            let Some(at) = self.classes[ci].at_nic(self.policy, cube, nic) else {
                continue;
            };
            if let Some(w) = witness(self.policy, nic, self.dir, &at, &claim) {
                return Some(w);
            }
        }
        None
    }

    /// `shadowed` if rule `i` is the first match of its NSG for no packet
    /// at any NIC it applies to.
    fn shadowed(&self, i: usize) -> Option<Finding> {
        if self.cs.iter().any(|c| !c.regions[i].is_empty()) {
            return None;
        }
        let own: Vec<Region> = self
            .cs
            .iter()
            .map(|c| within_rule(&c.cubes, i, &c.space))
            .collect();
        let covers = |set: &[usize]| {
            self.cs.iter().zip(&own).all(|(c, r)| {
                let mut rest = r.clone();
                for &j in set {
                    for fam in FAMILIES {
                        if let Some(x) = c.cubes.cube(j, fam) {
                            rest = rest.subtract_cube(x);
                        }
                    }
                }
                rest.is_empty()
            })
        };
        let mut cover: Vec<usize> = (0..i)
            .filter(|&j| {
                self.cs.iter().zip(&own).any(|(c, r)| {
                    FAMILIES
                        .iter()
                        .any(|&f| c.cubes.cube(j, f).is_some_and(|x| r.meets_cube(x)))
                })
            })
            .collect();
        for j in cover.clone().into_iter().rev() {
            let without: Vec<usize> = cover.iter().copied().filter(|&x| x != j).collect();
            if covers(&without) {
                cover = without;
            }
        }
        Some(self.shadow_finding(i, &own, cover))
    }

    fn shadow_finding(&self, i: usize, own: &[Region], cover: Vec<usize>) -> Finding {
        let names: Vec<String> = cover
            .iter()
            .map(|&j| rule_name(self.policy, self.g, self.dir, j))
            .collect();
        let name = &self.rule(i).name;
        let (message, fix) = if cover.is_empty() {
            (
                format!("{name} matches no packet at the NICs its NSG applies to"),
                "correct the rule's addresses to those of the NICs, or delete it".to_string(),
            )
        } else {
            (
                format!(
                    "{name} is never the first match: {} take every packet it matches",
                    names.join(", ")
                ),
                format!("delete {name}, or give it a priority above {}", names[0]),
            )
        };
        let mut f = self.finding(Code::Shadowed, i, message, fix);
        f.covered_by = names;
        let (g, dir) = (self.g, self.dir);
        f.witness = self.cs.iter().zip(own).find_map(|(c, r)| {
            let taken = cover.iter().fold(Region::empty(), |mut acc, &j| {
                acc.extend_disjoint(r.intersect(&c.regions[j]));
                acc
            });
            self.witness_in(c, &taken, |pkt, v| {
                rule_has(&c.cubes, i, pkt)
                    && v.layers.iter().any(|l| {
                        l.rule.nsg == g && l.rule.direction == dir && cover.contains(&l.rule.index)
                    })
            })
        });
        f
    }

    /// `redundant` if removing rule `i` changes no verdict at any NIC.
    fn redundant(&self, i: usize) -> Option<Finding> {
        if names_platform(self.rule(i)) {
            return None;
        }
        for c in self.cs {
            let changed: Vec<Cube> = next_matches(&c.cubes, i, &c.regions[i])
                .into_iter()
                .filter(|&(_, k)| c.cubes.access[k] != c.cubes.access[i])
                .map(|(x, _)| x)
                .collect();
            if changed.is_empty() {
                continue;
            }
            let changed = Region { cubes: changed };
            if c.classes
                .iter()
                .any(|&ci| self.changes_at(&self.classes[ci], &changed))
            {
                return None;
            }
        }
        let name = &self.rule(i).name;
        let mut f = self.finding(
            Code::Redundant,
            i,
            format!("removing {name} changes no verdict: the rules after it, or the other layer, give its packets the same answer"),
            format!("delete {name}"),
        );
        let (g, dir) = (self.g, self.dir);
        f.witness = self.cs.iter().find_map(|c| {
            self.witness_in(c, &c.regions[i], |_, v| {
                v.layers
                    .iter()
                    .any(|l| l.rule.nsg == g && l.rule.direction == dir && l.rule.index == i)
            })
        });
        Some(f)
    }

    /// Whether packets of `changed` (whose answer from this NSG changes
    /// with the rule removed) change verdict at the NICs of `class`: they
    /// do unless the other layer denies them (as the first layer, it
    /// denies them anyway; as the second, it is never reached).
    fn changes_at(&self, class: &Class, changed: &Region) -> bool {
        let x = changed.intersect(&class.space);
        if x.is_empty() {
            return false;
        }
        let Some(h) = class.layers.iter().map(|l| l.1).find(|&h| h != self.g) else {
            return true;
        };
        let Some(other) = self.all[&(h, self.dir)]
            .iter()
            .find(|c| c.vnet == class.vnet)
        else {
            return true;
        };
        let pieces = x.cubes.into_iter().map(|c| (c, ())).collect();
        other
            .cubes
            .first_matches(pieces)
            .iter()
            .any(|&(_, (), k)| other.cubes.access[k] == Access::Allow)
    }
}

//! `diff` against the reference evaluator, packet by packet, on random
//! small policy pairs: every packet whose verdict changes lies in exactly
//! one box with the evaluator's verdicts and rules, no other packet lies in
//! a box, and the boxes of a NIC and direction never overlap.

mod common;

use common::*;
use nsg_analysis::decide::{packet, Compiled, FAMILIES};
use nsg_analysis::diff::{diff, Change, Diff};
use nsg_analysis::space::{DPORT, DST, PROTO, SPORT, SRC};
use nsg_policy::model::{Direction, Policy};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{AZURE_HOST_IP, AZURE_IMDS_IP};
use std::collections::BTreeSet;

/// The values of each field worth trying, per family: every boundary of
/// every rule's ranges in either policy (lo, hi, lo-1, hi+1), every NIC
/// address, the platform's addresses and the common test addresses.
struct Points {
    addrs: [BTreeSet<u128>; 2],
    protos: BTreeSet<u128>,
    ports: [BTreeSet<u128>; 2],
}

fn fam_max(fam: usize) -> u128 {
    FAMILIES[fam].max()
}

impl Points {
    fn of(policies: &[&Policy]) -> Points {
        let mut p = Points {
            addrs: Default::default(),
            protos: [0u128, 1, 6, 17, 58, 255].into_iter().collect(),
            ports: [
                [0u128, 65535].into_iter().collect(),
                [0u128, 65535].into_iter().collect(),
            ],
        };
        for ip in addresses()
            .into_iter()
            .chain([AZURE_HOST_IP, AZURE_IMDS_IP])
        {
            p.addrs[usize::from(ip.is_ipv6())].insert(addr_value(&ip));
        }
        for policy in policies {
            for nic in &policy.nics {
                for ip in &nic.ips {
                    p.addrs[usize::from(ip.is_ipv6())].insert(addr_value(ip));
                }
            }
            p.add_rules(policy);
        }
        p
    }

    /// The boundaries of every rule cube of every NSG, both directions,
    /// as seen from every VNet.
    fn add_rules(&mut self, policy: &Policy) {
        let mut compiled = Compiled::new();
        for g in 0..policy.nsgs.len() {
            for dir in [Direction::Inbound, Direction::Outbound] {
                for vnet in 0..policy.vnets.len() {
                    let cubes = compiled.nsg(policy, g, dir, vnet).clone();
                    for (fam, c) in cubes.rules.iter().flat_map(|r| r.iter().enumerate()) {
                        let Some(c) = c else { continue };
                        let max = fam_max(fam);
                        edges(&mut self.addrs[fam], &c.f[SRC], max);
                        edges(&mut self.addrs[fam], &c.f[DST], max);
                        edges(&mut self.protos, &c.f[PROTO], 255);
                        edges(&mut self.ports[0], &c.f[SPORT], 65535);
                        edges(&mut self.ports[1], &c.f[DPORT], 65535);
                    }
                }
            }
        }
    }
}

/// Each range's lo, hi, lo-1 and hi+1 that lie within 0..=max.
fn edges(set: &mut BTreeSet<u128>, r: &nsg_analysis::space::Ranges, max: u128) {
    for &(lo, hi) in r.ranges() {
        for v in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
            .into_iter()
            .flatten()
        {
            if v <= max {
                set.insert(v);
            }
        }
    }
}

/// Every packet at a NIC with local address `local` of family `fam`.
fn packets_at(pts: &Points, fam: usize, local: u128, dir: Direction) -> Vec<(Family, [u128; 5])> {
    let f = FAMILIES[fam];
    let mut out = Vec::new();
    for &remote in &pts.addrs[fam] {
        let (src, dst) = match dir {
            Direction::Inbound => (remote, local),
            Direction::Outbound => (local, remote),
        };
        for &proto in &pts.protos {
            if proto == 6 || proto == 17 {
                for &sp in &pts.ports[0] {
                    for &dp in &pts.ports[1] {
                        out.push((f, [src, dst, proto, sp, dp]));
                    }
                }
            } else {
                let np = nsg_analysis::space::NO_PORT;
                out.push((f, [src, dst, proto, np, np]));
            }
        }
    }
    out
}

/// Check one NIC and direction of a diff packet by packet; answers how
/// many packets changed verdict.
fn check_nic(
    old: &Policy,
    new: &Policy,
    d: &Diff,
    name: &str,
    dir: Direction,
    pts: &Points,
    ctx: &str,
) -> usize {
    let oi = old.nic_by_name(name).expect("nic in old");
    let ni = new.nic_by_name(name).expect("nic in new");
    let boxes: Vec<&Change> = d
        .changes
        .iter()
        .filter(|c| c.nic == name && c.direction == dir)
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(
                !a.cube.meets(&b.cube),
                "{ctx}: {name} {dir:?}: overlapping boxes {a:?} {b:?}"
            );
        }
    }
    let mut changed = 0;
    let locals: BTreeSet<(usize, u128)> = old.nics[oi]
        .ips
        .iter()
        .chain(&new.nics[ni].ips)
        .map(|ip| (usize::from(ip.is_ipv6()), addr_value(ip)))
        .collect();
    for (fam, local) in locals {
        let common = |p: &Policy, n: usize| {
            p.nics[n]
                .ips
                .iter()
                .any(|ip| addr_value(ip) == local && usize::from(ip.is_ipv6()) == fam)
        };
        let both = common(old, oi) && common(new, ni);
        for (f, p) in packets_at(pts, fam, local, dir) {
            let inside: Vec<&&Change> = boxes.iter().filter(|c| c.cube.contains(f, &p)).collect();
            if !both {
                assert!(
                    inside.is_empty(),
                    "{ctx}: {name} {dir:?}: {p:?} not compared but in a box"
                );
                continue;
            }
            let pkt = packet(f, &p);
            let was = nsg_policy::evaluate(old, oi, dir, &pkt);
            let now = nsg_policy::evaluate(new, ni, dir, &pkt);
            if was.access == now.access {
                assert!(
                    inside.is_empty(),
                    "{ctx}: {name} {dir:?}: unchanged {pkt:?} in a box {:?}",
                    inside[0]
                );
                continue;
            }
            changed += 1;
            assert_eq!(
                inside.len(),
                1,
                "{ctx}: {name} {dir:?}: changed {pkt:?} in {} boxes",
                inside.len()
            );
            let c = inside[0];
            assert_eq!(
                (c.from, c.to, c.old_rule.clone(), c.new_rule.clone()),
                (
                    was.access,
                    now.access,
                    was.decider.name(old),
                    now.decider.name(new)
                ),
                "{ctx}: {name} {dir:?}: {pkt:?}"
            );
        }
    }
    changed
}

/// Check a whole diff of `old` and `new`; answers how many packets changed.
fn check_pair(old_text: &str, new_text: &str, ctx: &str) -> usize {
    let old = load(old_text, &format!("{ctx}-old")).expect("old policy loads");
    let new = load(new_text, &format!("{ctx}-new")).expect("new policy loads");
    let d = diff(&old, &new, None).expect("diff without a nic filter");
    let pts = Points::of(&[&old, &new]);
    let mut changed = 0;
    for n in &old.nics {
        match new.nic_by_name(&n.name) {
            None => assert!(
                d.nics_only_in_old.contains(&n.name),
                "{ctx}: {} only in old",
                n.name
            ),
            Some(_) => {
                for dir in [Direction::Inbound, Direction::Outbound] {
                    changed += check_nic(&old, &new, &d, &n.name, dir, &pts, ctx);
                }
            }
        }
    }
    let only_new: Vec<String> = new
        .nics
        .iter()
        .filter(|n| old.nic_by_name(&n.name).is_none())
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(d.nics_only_in_new, only_new, "{ctx}");
    assert!(d
        .changes
        .iter()
        .all(|c| old.nic_by_name(&c.nic).is_some() && new.nic_by_name(&c.nic).is_some()));
    changed
}

/// The text with the `k`-th rule's access flipped (`None` when it has
/// fewer rules).
fn flip_rule(text: &str, k: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("access = "))
        .nth(k)?
        .0;
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[at] = if lines[at].contains("allow") {
        "access = \"deny\"".into()
    } else {
        "access = \"allow\"".into()
    };
    Some(out.join("\n") + "\n")
}

/// The text without its `k`-th rule (`None` when it has fewer rules).
fn remove_rule(text: &str, k: usize) -> Option<String> {
    let blocks: Vec<&str> = text.split("\n\n").collect();
    let at = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.starts_with("[[nsg.rule]]"))
        .nth(k)?
        .0;
    let kept: Vec<&str> = blocks
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != at)
        .map(|(_, b)| *b)
        .collect();
    Some(kept.join("\n\n"))
}

fn policy_text(seed: u64) -> String {
    random_policy_toml(&mut Rng::new(seed))
}

#[test]
fn random_pairs_change_exactly_the_packets_in_the_boxes() {
    let mut changed = 0;
    for seed in 0..40u64 {
        changed += check_pair(
            &policy_text(seed),
            &policy_text(seed + 1000),
            &format!("pair{seed}"),
        );
    }
    assert!(changed > 1000, "only {changed} packets changed");
}

#[test]
fn one_rule_flipped_changes_exactly_the_packets_in_the_boxes() {
    let mut pairs = 0;
    let mut changed = 0;
    for seed in 0..60u64 {
        let old = policy_text(seed);
        let mut rng = Rng::new(seed ^ 0x5eed);
        let rules = old.matches("[[nsg.rule]]").count();
        if rules == 0 {
            continue;
        }
        let k = rng.below(rules);
        let new = flip_rule(&old, k).expect("rule k exists");
        changed += check_pair(&old, &new, &format!("flip{seed}"));
        let new = remove_rule(&old, k).expect("rule k exists");
        changed += check_pair(&old, &new, &format!("remove{seed}"));
        pairs += 2;
    }
    assert!(pairs >= 60, "only {pairs} pairs");
    assert!(changed > 100, "only {changed} packets changed");
}

#[test]
fn identical_policies_have_no_change() {
    for seed in 0..10u64 {
        let text = policy_text(seed);
        let p = load(&text, &format!("same{seed}")).expect("policy loads");
        let d = diff(&p, &p, None).expect("diff");
        assert!(d.is_empty(), "seed {seed}: {d:?}");
        assert!(!d.newly_allows());
    }
}

#[test]
fn an_unknown_nic_is_an_error_and_a_known_one_filters() {
    let old = load(&policy_text(3), "filter-old").expect("loads");
    let new = load(
        &flip_rule(&policy_text(3), 0).unwrap_or_else(|| policy_text(4)),
        "filter-new",
    )
    .expect("loads");
    let e = diff(&old, &new, Some("NoSuchNic")).expect_err("unknown nic");
    assert!(e.contains("NoSuchNic") && e.contains("N1"), "{e}");
    let all = diff(&old, &new, None).expect("diff");
    let one = diff(&old, &new, Some("n1")).expect("diff at N1");
    assert!(one.changes.iter().all(|c| c.nic == "N1"));
    let want: Vec<&Change> = all.changes.iter().filter(|c| c.nic == "N1").collect();
    assert_eq!(one.changes.iter().collect::<Vec<_>>(), want);
}

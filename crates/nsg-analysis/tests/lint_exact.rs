//! `nsg lint`'s findings against the reference evaluator, packet by packet,
//! on random small policies, over a packet space that holds both sides of
//! every boundary the generated rules can draw (prefix edges, ASG member
//! addresses and their neighbours, tag edges, port range ends, protocol
//! numbers around the named ones).

mod common;

use common::*;
use nsg_analysis::lint::{lint, Code, Finding};
use nsg_policy::eval::{first_match, platform_bypass, rule_matches, Packet, Verdict};
use nsg_policy::model::{Access, Direction, NicId, NsgId, Policy};
use nsg_policy::query::Query;
use nsg_policy::tags::BuiltinTag;
use std::net::IpAddr;

const DIRS: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

/// Remote addresses: NIC addresses and their neighbours, both sides of
/// every prefix edge, the platform's, one of several special-use ranges.
const REMOTES: &[&str] = &[
    "10.0.1.4",
    "10.0.1.5",
    "10.0.2.4",
    "10.0.2.5",
    "10.0.1.3",
    "10.0.1.6",
    "10.0.2.3",
    "10.0.2.6",
    "10.0.1.0",
    "10.0.1.255",
    "10.0.0.255",
    "10.0.2.0",
    "10.0.2.255",
    "10.0.3.0",
    "10.0.0.0",
    "10.0.255.255",
    "9.255.255.255",
    "10.1.0.0",
    "203.0.113.0",
    "203.0.113.6",
    "203.0.113.7",
    "203.0.113.8",
    "203.0.113.255",
    "203.0.112.255",
    "203.0.114.0",
    "168.63.129.15",
    "168.63.129.16",
    "168.63.129.17",
    "169.254.169.254",
    "0.0.0.0",
    "255.255.255.255",
    "1.0.0.0",
    "192.168.0.1",
    "100.64.0.1",
    "fd00:0:0:1::4",
    "fd00:0:0:1::3",
    "fd00:0:0:1::5",
    "fd00:0:0:1::",
    "fd00:0:0:1:ffff:ffff:ffff:ffff",
    "fd00:0:0:0:ffff:ffff:ffff:ffff",
    "fd00:0:0:2::",
    "fd00::",
    "fd00:0:0:ffff:ffff:ffff:ffff:ffff",
    "fd00:1::",
    "2001:db8::1",
    "::",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::1",
];
/// Both ends and both neighbours of every port range the generator writes.
const SPORTS: &[u16] = &[
    0, 19, 20, 21, 22, 23, 24, 79, 80, 81, 82, 3388, 3389, 3390, 65535,
];
/// The same, and a database port only `*` rules reach.
const DPORTS: &[u16] = &[
    0, 19, 20, 21, 22, 23, 24, 79, 80, 81, 82, 1433, 3388, 3389, 3390, 65535,
];
/// Both neighbours of every protocol number rules name.
const PROTOS: &[u8] = &[
    0, 1, 2, 5, 6, 7, 16, 17, 18, 49, 50, 51, 52, 57, 58, 59, 255,
];

/// Every packet at `nic` in `dir` of the boundary space.
fn packets_at(policy: &Policy, nic: NicId, dir: Direction) -> Vec<Packet> {
    let mut out = Vec::new();
    for local in &policy.nics[nic].ips {
        for r in REMOTES {
            let remote: IpAddr = r.parse().unwrap();
            if remote.is_ipv4() != local.is_ipv4() {
                continue;
            }
            let (src, dst) = match dir {
                Direction::Inbound => (remote, *local),
                Direction::Outbound => (*local, remote),
            };
            for &protocol in PROTOS {
                let mk = |sp, dp| Packet {
                    protocol,
                    src,
                    dst,
                    src_port: sp,
                    dst_port: dp,
                };
                if protocol == 6 || protocol == 17 {
                    for &sp in SPORTS {
                        out.extend(DPORTS.iter().map(|&dp| mk(Some(sp), Some(dp))));
                    }
                } else {
                    out.push(mk(None, None));
                }
            }
        }
    }
    out
}

/// One NIC and direction: its packets (platform-bypassed ones left out)
/// and the evaluator's verdict on each.
struct At {
    nic: NicId,
    dir: Direction,
    pkts: Vec<Packet>,
    verdicts: Vec<Verdict>,
}

fn all_at(policy: &Policy) -> Vec<At> {
    let mut out = Vec::new();
    for nic in 0..policy.nics.len() {
        for dir in DIRS {
            let pkts: Vec<Packet> = packets_at(policy, nic, dir)
                .into_iter()
                .filter(|p| platform_bypass(policy, nic, dir, p).is_none())
                .collect();
            let verdicts = pkts
                .iter()
                .map(|p| nsg_policy::evaluate(policy, nic, dir, p))
                .collect();
            out.push(At {
                nic,
                dir,
                pkts,
                verdicts,
            });
        }
    }
    out
}

fn applies(policy: &Policy, nic: NicId, dir: Direction, g: NsgId) -> bool {
    policy.layers(nic, dir).iter().any(|&(_, x)| x == g)
}

/// Whether rule `i` of `g` is the first match of `g` for some packet at a
/// NIC where `g` applies.
fn ever_first(policy: &Policy, ats: &[At], g: NsgId, dir: Direction, i: usize) -> bool {
    ats.iter()
        .filter(|a| a.dir == dir && applies(policy, a.nic, dir, g))
        .any(|a| {
            let vnet = policy.nic_vnet(a.nic);
            a.pkts
                .iter()
                .any(|p| first_match(policy, g, dir, p, vnet).index == i)
        })
}

/// Whether removing rule `i` of `g` changes no verdict at any NIC.
fn removal_changes_nothing(policy: &Policy, g: NsgId, dir: Direction, i: usize) -> bool {
    let mut cut = policy.clone();
    match dir {
        Direction::Inbound => cut.nsgs[g].inbound.remove(i),
        Direction::Outbound => cut.nsgs[g].outbound.remove(i),
    };
    // Packets the old policy bypassed may be judged now: check every packet.
    (0..policy.nics.len()).all(|nic| {
        packets_at(policy, nic, dir).iter().all(|p| {
            nsg_policy::evaluate(policy, nic, dir, p).access
                == nsg_policy::evaluate(&cut, nic, dir, p).access
        })
    })
}

fn is_platform_remote(p: &Packet, dir: Direction) -> bool {
    let remote = match dir {
        Direction::Inbound => p.src,
        Direction::Outbound => p.dst,
    };
    ["168.63.129.16", "169.254.169.254"]
        .iter()
        .any(|s| remote == s.parse::<IpAddr>().unwrap())
}

fn rule_ref_name(policy: &Policy, g: NsgId, dir: Direction, i: usize) -> String {
    format!(
        "{}/{}",
        policy.nsgs[g].name,
        policy.nsgs[g].rules(dir)[i].name
    )
}

/// The other layer's first match on a packet at a NIC with layers g1, g2.
fn layer_conflict_holds(policy: &Policy, ats: &[At], f: &Finding) -> bool {
    let (g, r, dir) = (f.nsg.unwrap(), f.rule.unwrap(), f.direction);
    f.nics.iter().all(|&nic| {
        let layers = policy.layers(nic, dir);
        let Some(&(_, h)) = layers.iter().find(|l| l.1 != g) else {
            return false;
        };
        let vnet = policy.nic_vnet(nic);
        let a = ats.iter().find(|a| a.nic == nic && a.dir == dir).unwrap();
        let mine: Vec<&Packet> = a
            .pkts
            .iter()
            .filter(|p| !is_platform_remote(p, dir))
            .filter(|p| first_match(policy, g, dir, p, vnet).index == r)
            .collect();
        !mine.is_empty()
            && mine.iter().all(|p| {
                let k = first_match(policy, h, dir, p, vnet).index;
                policy.nsgs[h].rules(dir)[k].access == Access::Deny
                    && f.denied_by.contains(&rule_ref_name(policy, h, dir, k))
            })
    })
}

/// Whether an `exposed` finding's NICs each take some Internet packet to
/// a listed port, allowed, decided by the finding's rule.
fn exposed_holds(policy: &Policy, ats: &[At], f: &Finding) -> bool {
    let decider = f
        .nsg
        .map(|g| rule_ref_name(policy, g, Direction::Inbound, f.rule.unwrap()));
    f.nics.iter().all(|&nic| {
        let a = ats
            .iter()
            .find(|a| a.nic == nic && a.dir == Direction::Inbound)
            .unwrap();
        a.pkts.iter().zip(&a.verdicts).any(|(p, v)| {
            is_exposure(policy, nic, p)
                && v.access == Access::Allow
                && v.decider.name(policy) == decider
        })
    })
}

/// An inbound packet from an Internet address (the platform's host left
/// out) to TCP/UDP 22, 3389 or 1433 of the boundary space.
fn is_exposure(policy: &Policy, nic: NicId, p: &Packet) -> bool {
    let vnet = policy.nic_vnet(nic);
    let internet = policy
        .builtin_set(BuiltinTag::Internet, vnet)
        .contains(&p.src);
    internet
        && !is_platform_remote(p, Direction::Inbound)
        && matches!(p.protocol, 6 | 17)
        && matches!(p.dst_port, Some(22 | 3389 | 1433))
}

/// The witness read back as a query and re-evaluated agrees with its
/// finding.
fn witness_holds(policy: &Policy, f: &Finding) -> bool {
    let Some(w) = &f.witness else { return true };
    let q = Query::from_json_line(policy, &w.to_string()).expect("a witness is a valid query");
    assert!(
        f.nics.contains(&q.nic),
        "witness at a NIC the finding does not name"
    );
    let v = nsg_policy::evaluate(policy, q.nic, q.direction, &q.packet);
    let names: Vec<String> = v
        .layers
        .iter()
        .map(|l| rule_ref_name(policy, l.rule.nsg, l.rule.direction, l.rule.index))
        .collect();
    let (g, dir) = (f.nsg, f.direction);
    let vnet = policy.nic_vnet(q.nic);
    match f.code {
        Code::Shadowed => {
            let (g, i) = (g.unwrap(), f.rule.unwrap());
            rule_matches(policy, &policy.nsgs[g].rules(dir)[i], &q.packet, vnet)
                && names.iter().any(|n| f.covered_by.contains(n))
        }
        Code::Redundant => names.contains(&rule_ref_name(policy, g.unwrap(), dir, f.rule.unwrap())),
        Code::LayerConflict => {
            v.access == Access::Deny && names.last().is_some_and(|n| f.denied_by.contains(n))
        }
        Code::Exposed => {
            v.access == Access::Allow
                && v.decider.name(policy)
                    == g.map(|g| rule_ref_name(policy, g, dir, f.rule.unwrap()))
        }
        Code::Unmatchable => false,
    }
}

/// Check every finding of one policy; answers how many were checked.
fn check_policy(policy: &Policy, text: &str, seed: u64) -> usize {
    let ats = all_at(policy);
    let findings = lint(policy);
    for f in &findings {
        let ctx = || format!("seed {seed}: {f:?}\n{text}");
        assert!(witness_holds(policy, f), "witness disagrees: {}", ctx());
        match (f.code, f.rule) {
            (Code::Unmatchable, None) => {
                let g = f.nsg.unwrap();
                assert!(policy.subnets.iter().all(|s| s.nsg != Some(g)), "{}", ctx());
                assert!(policy.nics.iter().all(|n| n.nsg != Some(g)), "{}", ctx());
            }
            (Code::Unmatchable, Some(i)) => {
                let rule = &policy.nsgs[f.nsg.unwrap()].rules(f.direction)[i];
                for a in ats.iter().filter(|a| a.dir == f.direction) {
                    let vnet = policy.nic_vnet(a.nic);
                    assert!(
                        a.pkts.iter().all(|p| !rule_matches(policy, rule, p, vnet)),
                        "unmatchable rule matches: {}",
                        ctx()
                    );
                }
            }
            (Code::Shadowed, Some(i)) => assert!(
                !ever_first(policy, &ats, f.nsg.unwrap(), f.direction, i),
                "shadowed rule is a first match: {}",
                ctx()
            ),
            (Code::Redundant, Some(i)) => assert!(
                removal_changes_nothing(policy, f.nsg.unwrap(), f.direction, i),
                "removing a redundant rule changes a verdict: {}",
                ctx()
            ),
            (Code::LayerConflict, Some(_)) => {
                assert!(layer_conflict_holds(policy, &ats, f), "{}", ctx())
            }
            (Code::Exposed, _) => assert!(exposed_holds(policy, &ats, f), "{}", ctx()),
            _ => panic!("finding of an unexpected shape: {}", ctx()),
        }
    }
    check_converse(policy, &ats, &findings, text, seed);
    findings.len()
}

/// The converse where it is cheap: a user rule that is never the first
/// match of its NSG at the NICs it applies to is reported shadowed or
/// unmatchable; a NIC taking an exposed packet is named by an `exposed`
/// finding; a rule a NIC's other layer always overrides is reported.
fn check_converse(policy: &Policy, ats: &[At], findings: &[Finding], text: &str, seed: u64) {
    let reported = |code: Code, g: NsgId, dir: Direction, i: usize| {
        findings
            .iter()
            .any(|f| f.code == code && f.nsg == Some(g) && f.direction == dir && f.rule == Some(i))
    };
    for g in 0..policy.nsgs.len() {
        for dir in DIRS {
            if !(0..policy.nics.len()).any(|n| applies(policy, n, dir, g)) {
                continue;
            }
            for (i, rule) in policy.nsgs[g].rules(dir).iter().enumerate() {
                if rule.is_default || ever_first(policy, ats, g, dir, i) {
                    continue;
                }
                assert!(
                    reported(Code::Shadowed, g, dir, i) || reported(Code::Unmatchable, g, dir, i),
                    "seed {seed}: {}/{} decides nothing but is not reported\n{text}",
                    policy.nsgs[g].name,
                    rule.name
                );
            }
        }
    }
    for a in ats {
        check_conflicts_reported(policy, a, findings, text, seed);
    }
    for a in ats.iter().filter(|a| a.dir == Direction::Inbound) {
        let open = a
            .pkts
            .iter()
            .zip(&a.verdicts)
            .any(|(p, v)| is_exposure(policy, a.nic, p) && v.access == Access::Allow);
        let named = findings
            .iter()
            .any(|f| f.code == Code::Exposed && f.nics.contains(&a.nic));
        assert_eq!(open, named, "seed {seed}: NIC {} exposure\n{text}", a.nic);
    }
}

/// At a NIC with two different NSG layers, every user allow rule that is
/// the first match of its NSG for some packets (the platform's host left
/// out), all denied by the other layer, is reported there.
fn check_conflicts_reported(policy: &Policy, a: &At, findings: &[Finding], text: &str, seed: u64) {
    let layers = policy.layers(a.nic, a.dir);
    let [(_, g1), (_, g2)] = layers[..] else {
        return;
    };
    if g1 == g2 {
        return;
    }
    let vnet = policy.nic_vnet(a.nic);
    for (g, h) in [(g1, g2), (g2, g1)] {
        for (r, rule) in policy.nsgs[g].rules(a.dir).iter().enumerate() {
            if rule.is_default || rule.access != Access::Allow {
                continue;
            }
            let mine: Vec<&Packet> = a
                .pkts
                .iter()
                .filter(|p| !is_platform_remote(p, a.dir))
                .filter(|p| first_match(policy, g, a.dir, p, vnet).index == r)
                .collect();
            let denied = mine.iter().all(|p| {
                let k = first_match(policy, h, a.dir, p, vnet).index;
                policy.nsgs[h].rules(a.dir)[k].access == Access::Deny
            });
            if mine.is_empty() || !denied {
                continue;
            }
            assert!(
                findings.iter().any(|f| f.code == Code::LayerConflict
                    && f.nsg == Some(g)
                    && f.rule == Some(r)
                    && f.direction == a.dir
                    && f.nics.contains(&a.nic)),
                "seed {seed}: {} at NIC {} is overridden but not reported\n{text}",
                rule.name,
                a.nic
            );
        }
    }
}

#[test]
fn findings_hold_packet_by_packet_on_random_policies() {
    let mut total = 0;
    let mut codes = std::collections::BTreeSet::new();
    for seed in 0..100u64 {
        let mut rng = Rng::new(seed + 1000);
        let text = random_policy_toml(&mut rng);
        let policy = load(&text, &format!("lint{seed}"))
            .unwrap_or_else(|e| panic!("seed {seed}: refused: {e}\n{text}"));
        total += check_policy(&policy, &text, seed);
        for f in lint(&policy) {
            codes.insert(f.code.name());
        }
    }
    assert!(total > 100, "only {total} findings checked");
    for c in [
        "unmatchable",
        "shadowed",
        "redundant",
        "layer-conflict",
        "exposed",
    ] {
        assert!(
            codes.contains(c),
            "no {c} finding in 100 policies: {codes:?}"
        );
    }
}

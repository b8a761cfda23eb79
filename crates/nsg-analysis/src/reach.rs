//! Who can open connections to whom (`nsg reach`): for each pair of a
//! source (a NIC, ASG or subnet, or `Internet`) and a destination (a NIC,
//! ASG or subnet), the protocols and destination ports on which some
//! member NIC of the source can open a connection to some member NIC of
//! the destination, allowed end to end.
//!
//! A packet connects NIC `s` to NIC `d` when `s` allows it outbound (its
//! source one of `s`'s addresses, its destination one of `d`'s) and `d`
//! allows the same packet inbound. Source ports are ignored: a (protocol,
//! destination port) is listed when some source port works. A NIC to
//! itself is not a pair. `Internet` sends from any address of the
//! `Internet` tag as the receiver's VNet sees it, and is judged inbound at
//! the receiver only.
//!
//! Exact without computing every pair ([`index`]): a sender's outbound
//! verdicts depend on the receiver's address only through its membership
//! in the sender's rule lists, and the receiver's inbound verdicts on the
//! sender's likewise, so each side is computed once per distinct key and
//! pattern, and a pair of sides is intersected (on protocol, source port
//! and destination port together) before the protocol and destination
//! port are kept, once per distinct pair of sides.
//!
//! Every cell is present: a pair with nothing allowed has an empty
//! `allowed` list.

pub mod allowed;
mod atoms;
pub mod index;
pub mod svg;

pub use allowed::{Allowed, Group, Level};
use index::Index;
use nsg_policy::model::{NicId, Policy};
use serde::Serialize;

/// The name of the `Internet` source.
pub const INTERNET: &str = "Internet";

/// What the sources and destinations are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// Each NIC.
    #[default]
    Nic,
    /// Each ASG (its member NICs).
    Asg,
    /// Each subnet (the NICs in it).
    Subnet,
}

impl By {
    /// `nic`, `asg` or `subnet`.
    pub fn name(self) -> &'static str {
        match self {
            By::Nic => "nic",
            By::Asg => "asg",
            By::Subnet => "subnet",
        }
    }
}

/// One cell: what `from` can open to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The source's name (`Internet` for the Internet).
    pub from: String,
    /// The destination's name.
    pub to: String,
    /// The (protocol, destination port) points allowed end to end.
    pub allowed: Allowed,
}

/// The reach matrix of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// What the sources and destinations are.
    pub by: By,
    /// The sources, in policy order, `Internet` last.
    pub sources: Vec<String>,
    /// The destinations, in policy order.
    pub destinations: Vec<String>,
    /// Every (source, destination) pair, row by row; with [`By::Nic`] a
    /// NIC to itself is left out.
    pub pairs: Vec<Pair>,
}

impl Reach {
    /// The cell of `from` to `to`, if it is a pair.
    pub fn cell(&self, from: &str, to: &str) -> Option<&Allowed> {
        self.pairs
            .iter()
            .find(|p| p.from == from && p.to == to)
            .map(|p| &p.allowed)
    }

    /// The JSON answer, pretty-printed, keys in the documented order:
    /// `{"pairs":[{"from","to","allowed":[{"protocols",
    /// "destination_ports"}]}]}`.
    pub fn to_json(&self) -> String {
        let pairs: Vec<PairJson> = self
            .pairs
            .iter()
            .map(|p| PairJson {
                from: &p.from,
                to: &p.to,
                allowed: groups_json(&p.allowed),
            })
            .collect();
        serde_json::to_string_pretty(&ReachJson { pairs })
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// The JSON answer's shape.
#[derive(Serialize)]
struct ReachJson<'a> {
    pairs: Vec<PairJson<'a>>,
}

/// One pair in JSON.
#[derive(Serialize)]
struct PairJson<'a> {
    from: &'a str,
    to: &'a str,
    allowed: Vec<GroupJson>,
}

/// One group in JSON: protocols and destination ports as strings of
/// numbers or ranges, `null` ports for protocols without ports.
#[derive(Serialize)]
struct GroupJson {
    protocols: Vec<String>,
    destination_ports: Option<Vec<String>>,
}

/// A cell's groups in JSON.
fn groups_json(a: &Allowed) -> Vec<GroupJson> {
    a.groups()
        .iter()
        .map(|g| GroupJson {
            protocols: allowed::strings(&g.protocols),
            destination_ports: g.destination_ports.as_ref().map(allowed::strings),
        })
        .collect()
}

/// The sources or destinations of `by`: each one's name and member NICs.
pub fn entities(policy: &Policy, by: By) -> Vec<(String, Vec<NicId>)> {
    match by {
        By::Nic => policy
            .nics
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), vec![i]))
            .collect(),
        By::Asg => policy
            .asgs
            .iter()
            .map(|a| (a.name.clone(), a.members.clone()))
            .collect(),
        By::Subnet => policy
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let m = (0..policy.nics.len())
                    .filter(|&n| policy.nics[n].subnet == i)
                    .collect();
                (s.name.clone(), m)
            })
            .collect(),
    }
}

/// Who can open connections to whom in `policy`, by `by`.
pub fn reach(policy: &Policy, by: By) -> Reach {
    let mut index = Index::build(policy);

    let ents = entities(policy, by);
    let mut pairs = Vec::new();
    let mut cells = Vec::new();
    for (si, (sname, sm)) in ents.iter().enumerate() {
        for (di, (dname, dm)) in ents.iter().enumerate() {
            if by == By::Nic && si == di {
                continue;
            }
            cells.clear();
            for &s in sm {
                for &d in dm {
                    if s != d {
                        index.pair_cells(s, d, &mut cells);
                    }
                }
            }
            let allowed = index.union(&cells);
            pairs.push(Pair {
                from: sname.clone(),
                to: dname.clone(),
                allowed,
            });
        }
    }

    for (dname, dm) in &ents {
        let allowed = dm
            .iter()
            .fold(Allowed::none(), |acc, &d| acc.union(&index.internet_to(d)));
        pairs.push(Pair {
            from: INTERNET.to_string(),
            to: dname.clone(),
            allowed,
        });
    }
    let names: Vec<String> = ents.into_iter().map(|(n, _)| n).collect();
    let mut sources = names.clone();
    sources.push(INTERNET.to_string());
    Reach {
        by,
        sources,
        destinations: names,
        pairs,
    }
}

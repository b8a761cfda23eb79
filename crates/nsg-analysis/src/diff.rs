//! `nsg diff`: the exact set of packets whose verdict changes between two
//! versions of a policy, per NIC (matched by name, case-insensitively) and
//! direction, as disjoint boxes.
//!
//! At a NIC the packets compared are those whose local address is one of
//! the NIC's addresses in both policies; an address only one version gives
//! the NIC is reported in [`Diff::address_notes`], not as boxes.
//!
//! The packets of a NIC and direction are cut by OLD into pieces with one
//! verdict and deciding rule each ([`decide`]); each piece, labelled with
//! them, is cut further by NEW's platform services and layers
//! ([`crate::decide::decide_labelled`]), so every part knows both verdicts
//! without pairing every piece of OLD with every piece of NEW. Parts whose
//! access differs are the changes; boxes with the same verdicts and rules
//! that differ in one field only are merged until none do.

pub mod render;

use crate::decide::{
    decide, decide_labelled, local_field, nic_space, universe, Compiled, FAMILIES,
};
use crate::space::{Cube, Ranges, Region};
use nsg_policy::model::{Access, Direction, NicId, Policy};
use nsg_policy::prefix::{addr_value, Family};
use std::net::IpAddr;

/// Both directions, inbound first.
const DIRECTIONS: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

/// One box of packets whose verdict changes: every packet in it has the
/// same verdicts and deciding rules in both versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The NIC's name (as OLD spells it).
    pub nic: String,
    /// The direction.
    pub direction: Direction,
    /// The verdict in OLD.
    pub from: Access,
    /// The verdict in NEW.
    pub to: Access,
    /// OLD's deciding rule as `nsg verify` names it (`NSG/RULE`,
    /// `platform/…`, or `None` when no NSG is on the path).
    pub old_rule: Option<String>,
    /// NEW's deciding rule, named the same way.
    pub new_rule: Option<String>,
    /// The packets: one family, one list of ranges per field.
    pub cube: Cube,
}

/// Addresses of a NIC that only one version gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressNote {
    /// The NIC's name (as OLD spells it).
    pub nic: String,
    /// Addresses only OLD gives it.
    pub only_in_old: Vec<IpAddr>,
    /// Addresses only NEW gives it.
    pub only_in_new: Vec<IpAddr>,
}

/// What changes between two versions of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// The boxes, by NIC (OLD's order), direction, then label.
    pub changes: Vec<Change>,
    /// NICs only OLD has.
    pub nics_only_in_old: Vec<String>,
    /// NICs only NEW has.
    pub nics_only_in_new: Vec<String>,
    /// The NICs only NEW has that allow some packet in some direction.
    pub new_nics_allowing: Vec<String>,
    /// NICs in both whose addresses differ.
    pub address_notes: Vec<AddressNote>,
}

impl Diff {
    /// Whether no verdict changes and both versions have the same NICs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.nics_only_in_old.is_empty()
            && self.nics_only_in_new.is_empty()
    }

    /// Whether NEW allows a packet OLD did not: a box to `Allow`, or a NIC
    /// only NEW has that allows anything.
    pub fn newly_allows(&self) -> bool {
        self.changes.iter().any(|c| c.to == Access::Allow) || !self.new_nics_allowing.is_empty()
    }
}

/// The packets whose verdict changes from `old` to `new`, at every NIC
/// both have (or only at `nic`; an error when neither has it).
pub fn diff(old: &Policy, new: &Policy, nic: Option<&str>) -> Result<Diff, String> {
    let wanted = |name: &str| nic.is_none_or(|n| n.eq_ignore_ascii_case(name));
    if let Some(n) = nic {
        if old.nic_by_name(n).is_none() && new.nic_by_name(n).is_none() {
            return Err(unknown_nic(old, new, n));
        }
    }
    let mut d = Diff::default();
    let mut o = Version::new(old);
    let mut n = Version::new(new);
    for (oi, x) in old.nics.iter().enumerate() {
        if !wanted(&x.name) {
            continue;
        }
        let Some(ni) = new.nic_by_name(&x.name) else {
            d.nics_only_in_old.push(x.name.clone());
            continue;
        };
        if let Some(note) = address_note(old, oi, new, ni) {
            d.address_notes.push(note);
        }
        for dir in DIRECTIONS {
            d.changes.extend(diff_nic(&mut o, oi, &mut n, ni, dir));
        }
    }
    for (ni, x) in new.nics.iter().enumerate() {
        if !wanted(&x.name) || old.nic_by_name(&x.name).is_some() {
            continue;
        }
        d.nics_only_in_new.push(x.name.clone());
        if allows_anything(&mut n, ni) {
            d.new_nics_allowing.push(x.name.clone());
        }
    }
    Ok(d)
}

/// The error for a NIC neither version has, listing the NICs they have.
fn unknown_nic(old: &Policy, new: &Policy, name: &str) -> String {
    let mut names: Vec<&str> = old.nics.iter().map(|n| n.name.as_str()).collect();
    for n in &new.nics {
        if old.nic_by_name(&n.name).is_none() {
            names.push(&n.name);
        }
    }
    format!(
        "unknown nic '{name}' (the policies have: {})",
        names.join(", ")
    )
}

/// One version of the policy with the NSG cubes built for it so far.
struct Version<'p> {
    policy: &'p Policy,
    compiled: Compiled,
}

impl<'p> Version<'p> {
    fn new(policy: &'p Policy) -> Version<'p> {
        Version {
            policy,
            compiled: Compiled::new(),
        }
    }
}

/// The boxes of one NIC (`oi` in OLD, `ni` in NEW) and direction.
fn diff_nic(o: &mut Version, oi: NicId, n: &mut Version, ni: NicId, dir: Direction) -> Vec<Change> {
    let (old, new) = (o.policy, n.policy);
    let space = common_space(old, oi, new, ni, dir);
    let pieces = decide(old, &mut o.compiled, oi, dir, &space)
        .into_iter()
        .map(|p| (p.cube, (p.access, p.decider)))
        .collect();
    let boxes = decide_labelled(new, &mut n.compiled, ni, dir, pieces)
        .into_iter()
        .filter(|(p, (from, _))| *from != p.access)
        .map(|(p, (from, od))| {
            let label = (from, p.access, od.name(old), p.decider.name(new));
            (label, p.cube)
        })
        .collect();
    let mut changes: Vec<Change> = crate::merge::merge(boxes)
        .into_iter()
        .map(|((from, to, old_rule, new_rule), cube)| Change {
            nic: old.nics[oi].name.clone(),
            direction: dir,
            from,
            to,
            old_rule,
            new_rule,
            cube,
        })
        .collect();
    changes.sort_by_cached_key(sort_key);
    changes
}

/// The order boxes are listed in: by verdicts, rules, family, then fields.
fn sort_key(c: &Change) -> impl Ord {
    (
        c.from.name(),
        c.to.name(),
        c.old_rule.clone(),
        c.new_rule.clone(),
        crate::decide::fam_index(c.cube.fam),
        c.cube.f.clone().map(|r| r.ranges().to_vec()),
    )
}

/// The packets at a NIC in `dir` whose local address is one of its
/// addresses in both versions.
fn common_space(old: &Policy, oi: NicId, new: &Policy, ni: NicId, dir: Direction) -> Region {
    let mut out = Region::empty();
    for fam in FAMILIES {
        let ips = |p: &Policy, n: NicId| {
            Ranges::new(
                p.nics[n]
                    .ips
                    .iter()
                    .filter(|ip| Family::of(ip) == fam)
                    .map(|ip| (addr_value(ip), addr_value(ip)))
                    .collect(),
            )
        };
        let both = ips(old, oi).intersect(&ips(new, ni));
        if both.is_empty() {
            continue;
        }
        for mut c in universe(fam).cubes {
            c.f[local_field(dir)] = both.clone();
            out.cubes.push(c);
        }
    }
    out
}

/// The addresses only one version gives a NIC, if any.
fn address_note(old: &Policy, oi: NicId, new: &Policy, ni: NicId) -> Option<AddressNote> {
    let (a, b) = (&old.nics[oi].ips, &new.nics[ni].ips);
    let only_in_old: Vec<IpAddr> = a.iter().filter(|ip| !b.contains(ip)).copied().collect();
    let only_in_new: Vec<IpAddr> = b.iter().filter(|ip| !a.contains(ip)).copied().collect();
    (!only_in_old.is_empty() || !only_in_new.is_empty()).then(|| AddressNote {
        nic: old.nics[oi].name.clone(),
        only_in_old,
        only_in_new,
    })
}

/// Whether the version allows some packet at `nic` in some direction.
fn allows_anything(v: &mut Version, nic: NicId) -> bool {
    DIRECTIONS.into_iter().any(|dir| {
        let space = nic_space(v.policy, nic, dir);
        decide(v.policy, &mut v.compiled, nic, dir, &space)
            .iter()
            .any(|p| p.access == Access::Allow)
    })
}

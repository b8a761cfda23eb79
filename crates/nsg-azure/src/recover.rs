//! Import's recovery from validation faults: the items the faults name are
//! left out of the raw policy, each with a note, so the rest still imports.
//!
//! The decision rests on the fault's typed [`Item`] alone: how a message is
//! worded never changes what is left out.

use super::resources::{Origin, Origins};
use super::{Note, NoteKind};
use nsg_policy::error::{Fault, Item, ItemName};
use nsg_policy::raw::RawPolicy;

/// What leaving one item out did: where the item came from (if known) and
/// the note's words for it.
type Dropped = (Option<Origin>, &'static str);

/// Remove the items faults name, noting each; false when a fault names no
/// removable item (the whole file, the service tags), so the import must be
/// refused.
pub(crate) fn drop_faulty(
    raw: &mut RawPolicy,
    faults: &[Fault],
    origins: &Origins,
    notes: &mut Vec<Note>,
) -> bool {
    let mut removed_any = false;
    for f in faults {
        let dropped = match &f.item {
            Item::Rule {
                nsg: ItemName::Named(nsg),
                rule: ItemName::Named(rule),
            } => drop_rule(raw, nsg, rule, origins),
            Item::Nic(ItemName::Named(name)) => drop_nic(raw, name, origins),
            Item::Subnet(ItemName::Named(name)) => drop_subnet(raw, name, origins),
            Item::VNet(ItemName::Named(name)) => drop_vnet(raw, name, origins),
            Item::Asg(ItemName::Named(name)) => drop_asg(raw, name, origins),
            Item::Nsg(ItemName::Named(name)) => drop_nsg(raw, name, origins),
            // An item without a name cannot be found again; another fault
            // or the next round names what is removable.
            Item::Rule { .. }
            | Item::Nic(_)
            | Item::Subnet(_)
            | Item::VNet(_)
            | Item::Asg(_)
            | Item::Nsg(_) => None,
            Item::File | Item::Policy | Item::ServiceTags | Item::Other(_) => return false,
        };
        if let Some((origin, what)) = dropped {
            note(notes, f, origin, what);
            removed_any = true;
        }
    }
    removed_any
}

/// Note that the item of fault `f` was left out, citing the fault.
fn note(notes: &mut Vec<Note>, f: &Fault, origin: Option<Origin>, what: &str) {
    let o = origin.unwrap_or_else(|| Origin {
        file: f.file.clone(),
        what: f.item.to_string(),
    });
    notes.push(Note {
        kind: NoteKind::Skipped,
        file: o.file,
        item: o.what,
        message: format!("{}: {what}", f.message),
    });
}

/// Whether an optional name is `name`, ignoring case as Azure does.
fn is(x: &Option<String>, name: &str) -> bool {
    x.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(name))
}

/// The origin recorded for an item of one kind.
fn origin(map: &std::collections::HashMap<String, Origin>, name: &str) -> Option<Origin> {
    map.get(&name.to_ascii_lowercase()).cloned()
}

/// Remove rule `rule` of the first NSG named exactly `nsg` that has it.
fn drop_rule(raw: &mut RawPolicy, nsg: &str, rule: &str, origins: &Origins) -> Option<Dropped> {
    let (gi, ri) = raw.nsgs.iter().enumerate().find_map(|(gi, g)| {
        if g.name.as_deref() != Some(nsg) {
            return None;
        }
        let ri = g.rules.iter().position(|r| is(&r.name, rule))?;
        Some((gi, ri))
    })?;
    let g = &mut raw.nsgs[gi];
    let r = g.rules.remove(ri);
    let o = origins.rule(
        g.name.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
    );
    Some((o, "rule skipped"))
}

/// Remove a NIC.
fn drop_nic(raw: &mut RawPolicy, name: &str, origins: &Origins) -> Option<Dropped> {
    let i = raw.nics.iter().position(|n| is(&n.name, name))?;
    raw.nics.remove(i);
    Some((origin(&origins.nics, name), "NIC left out"))
}

/// Remove a subnet and the NICs in it.
fn drop_subnet(raw: &mut RawPolicy, name: &str, origins: &Origins) -> Option<Dropped> {
    let i = raw.subnets.iter().position(|s| is(&s.name, name))?;
    raw.subnets.remove(i);
    raw.nics.retain(|n| !is(&n.subnet, name));
    Some((
        origin(&origins.subnets, name),
        "subnet left out, with its NICs",
    ))
}

/// Remove a VNet, the peerings to it, its subnets and their NICs.
fn drop_vnet(raw: &mut RawPolicy, name: &str, origins: &Origins) -> Option<Dropped> {
    let i = raw.vnets.iter().position(|v| is(&v.name, name))?;
    raw.vnets.remove(i);
    for v in &mut raw.vnets {
        v.peerings.retain(|p| !p.eq_ignore_ascii_case(name));
    }
    let gone: Vec<String> = raw
        .subnets
        .iter()
        .filter(|s| is(&s.vnet, name))
        .filter_map(|s| s.name.clone())
        .collect();
    raw.subnets.retain(|s| !is(&s.vnet, name));
    raw.nics.retain(|n| !gone.iter().any(|g| is(&n.subnet, g)));
    Some((
        origin(&origins.vnets, name),
        "VNet left out, with its subnets and NICs",
    ))
}

/// Remove an ASG and the NICs' membership of it.
fn drop_asg(raw: &mut RawPolicy, name: &str, origins: &Origins) -> Option<Dropped> {
    let i = raw.asgs.iter().position(|a| is(&a.name, name))?;
    raw.asgs.remove(i);
    for n in &mut raw.nics {
        n.asgs.retain(|a| !a.eq_ignore_ascii_case(name));
    }
    Some((
        origin(&origins.asgs, name),
        "ASG left out (rules naming it are skipped)",
    ))
}

/// Remove an NSG; the subnets and NICs it applied to stay, without it.
fn drop_nsg(raw: &mut RawPolicy, name: &str, origins: &Origins) -> Option<Dropped> {
    let i = raw.nsgs.iter().position(|g| is(&g.name, name))?;
    raw.nsgs.remove(i);
    for s in &mut raw.subnets {
        if is(&s.nsg, name) {
            s.nsg = None;
        }
    }
    for n in &mut raw.nics {
        if is(&n.nsg, name) {
            n.nsg = None;
        }
    }
    Some((
        origin(&origins.nsgs, name),
        "NSG left out; its subnets and NICs are imported without it",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_policy::raw::{RawNic, RawNsg, RawRule, RawSubnet};
    use std::path::PathBuf;

    fn named(name: &str) -> Option<String> {
        Some(name.to_string())
    }

    fn rule(name: &str) -> RawRule {
        RawRule {
            name: named(name),
            ..RawRule::default()
        }
    }

    /// Two NSGs with two rules each, a subnet and two NICs using the first.
    fn policy() -> RawPolicy {
        let nsg = |n: &str| RawNsg {
            name: named(n),
            flush_connections: false,
            rules: vec![rule("R1"), rule("R2")],
        };
        let nic = |n: &str| RawNic {
            name: named(n),
            subnet: named("S1"),
            nsg: named("G1"),
            ..RawNic::default()
        };
        RawPolicy {
            subnets: vec![RawSubnet {
                name: named("S1"),
                nsg: named("G1"),
                ..RawSubnet::default()
            }],
            nics: vec![nic("N1"), nic("N2")],
            nsgs: vec![nsg("G1"), nsg("G2")],
            ..RawPolicy::default()
        }
    }

    /// A fault of `item` whose message mentions other items, to show that
    /// the text plays no part.
    fn fault(item: Item) -> Fault {
        Fault {
            file: PathBuf::from("x.json"),
            position: None,
            item,
            message: "nsg G1 rule R1 and nic N1 and nsg G2 are mentioned here".into(),
        }
    }

    fn rules_of(raw: &RawPolicy, nsg: usize) -> Vec<&str> {
        raw.nsgs[nsg]
            .rules
            .iter()
            .filter_map(|r| r.name.as_deref())
            .collect()
    }

    fn drop_one(raw: &mut RawPolicy, item: Item) -> (bool, Vec<Note>) {
        let mut notes = Vec::new();
        let removed = drop_faulty(raw, &[fault(item)], &Origins::default(), &mut notes);
        (removed, notes)
    }

    #[test]
    fn a_rule_fault_removes_exactly_that_rule() {
        let mut raw = policy();
        let item = Item::Rule {
            nsg: ItemName::Named("G2".into()),
            rule: ItemName::Named("r1".into()),
        };
        let (removed, notes) = drop_one(&mut raw, item);
        assert!(removed);
        assert_eq!(rules_of(&raw, 0), ["R1", "R2"]);
        assert_eq!(rules_of(&raw, 1), ["R2"]);
        assert_eq!(raw.nics.len(), 2);
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].item, "nsg G2 rule r1");
        assert!(notes[0].message.ends_with(": rule skipped"), "{}", notes[0]);
    }

    #[test]
    fn a_nic_fault_removes_exactly_that_nic() {
        let mut raw = policy();
        let (removed, _) = drop_one(&mut raw, Item::Nic(ItemName::Named("N2".into())));
        assert!(removed);
        let nics: Vec<_> = raw.nics.iter().filter_map(|n| n.name.as_deref()).collect();
        assert_eq!(nics, ["N1"]);
        assert_eq!(raw.nsgs.len(), 2);
        assert_eq!(rules_of(&raw, 0), ["R1", "R2"]);
    }

    #[test]
    fn an_nsg_fault_removes_the_nsg_and_its_uses() {
        let mut raw = policy();
        let (removed, _) = drop_one(&mut raw, Item::Nsg(ItemName::Named("g1".into())));
        assert!(removed);
        let nsgs: Vec<_> = raw.nsgs.iter().filter_map(|g| g.name.as_deref()).collect();
        assert_eq!(nsgs, ["G2"]);
        assert_eq!(raw.subnets[0].nsg, None);
        assert!(raw.nics.iter().all(|n| n.nsg.is_none()));
        assert_eq!(raw.nics.len(), 2);
    }

    #[test]
    fn unnamed_items_remove_nothing_and_file_faults_refuse() {
        let mut raw = policy();
        let unnamed = Item::Rule {
            nsg: ItemName::Named("G1".into()),
            rule: ItemName::Missing(1),
        };
        assert_eq!(drop_one(&mut raw, unnamed), (false, Vec::new()));
        assert_eq!(raw, policy());
        for item in [Item::File, Item::ServiceTags, Item::Policy] {
            assert!(!drop_one(&mut raw, item).0);
        }
        assert_eq!(raw, policy());
    }
}

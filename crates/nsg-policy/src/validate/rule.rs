//! Validation of one security rule: its fields, its two sides (addresses,
//! tags, ASGs) and its ports.

use super::{is_any, looks_like_address, parse_net, parse_ports, Ctx, MAX_ASGS_PER_SIDE};
use crate::error::Item;
use crate::model::*;
use crate::prefix::Family;
use crate::raw::RawRule;
use crate::tags::BuiltinTag;
use ipnet::IpNet;
use std::collections::HashMap;

/// What rules are checked against: the ASGs by name, the ASGs, the VNet of
/// each ASG's members (where known) and the VNets.
pub(super) struct RuleContext<'c> {
    pub(super) asg_idx: &'c HashMap<String, usize>,
    pub(super) asgs: &'c [Asg],
    pub(super) asg_vnets: &'c [Option<VNetId>],
    pub(super) vnets: &'c [VNet],
}

impl Ctx<'_> {
    /// Rule `r` (named `name`) of an NSG, or none, with faults of `item`,
    /// when a field is missing or wrong.
    pub(super) fn rule(
        &mut self,
        r: &RawRule,
        name: String,
        item: &Item,
        cx: &RuleContext,
    ) -> Option<Rule> {
        let asg_idx = cx.asg_idx;
        let before = self.f.list.len();
        let priority = r.priority.and_then(|p| {
            if (100..=4096).contains(&p) {
                Some(p as u32)
            } else {
                self.f
                    .push(item, format!("priority {p} is outside 100..=4096"));
                None
            }
        });
        let direction = r.direction.as_ref().and_then(|d| {
            let v = Direction::parse(d);
            if v.is_none() {
                self.f
                    .push(item, format!("direction '{d}' is not inbound or outbound"));
            }
            v
        });
        let access = r.access.as_ref().and_then(|a| {
            let v = Access::parse(a);
            if v.is_none() {
                self.f
                    .push(item, format!("access '{a}' is not allow or deny"));
            }
            v
        });
        let protocol = r.protocol.as_ref().and_then(|p| {
            let v = Protocol::parse(p);
            if v.is_none() {
                self.f.push(
                    item,
                    format!("protocol '{p}' is not tcp, udp, icmp, esp, ah or any"),
                );
            }
            v
        });
        let source = r
            .source
            .as_ref()
            .and_then(|s| self.side(s, "source", item, asg_idx));
        let destination = r
            .destination
            .as_ref()
            .and_then(|s| self.side(s, "destination", item, asg_idx));
        let source_ports = self.ports(r.source_ports.as_ref(), "source_ports", item);
        let destination_ports = self.ports(r.destination_ports.as_ref(), "destination_ports", item);
        if let (Some(p), Some(sp), Some(dp)) = (protocol, &source_ports, &destination_ports) {
            if p.portless() && !(sp.is_any() && dp.is_any()) {
                self.f.push(
                    item,
                    format!(
                        "protocol {} has no ports: source_ports and destination_ports must be `*` (found {sp} and {dp})",
                        p.name()
                    ),
                );
            }
        }
        self.check_one_family(&source, &destination, item);
        self.check_asg_vnets(&source, &destination, item, cx);
        if self.f.list.len() != before {
            return None;
        }
        Some(Rule {
            name,
            priority: priority?,
            direction: direction?,
            access: access?,
            protocol: protocol?,
            source: source?,
            source_ports: source_ports?,
            destination: destination?,
            destination_ports: destination_ports?,
            description: r.description.clone(),
            is_default: false,
        })
    }

    /// A rule's ports (`*` when not given); a fault of `item` when they do
    /// not parse.
    fn ports(&mut self, items: Option<&Vec<String>>, what: &str, item: &Item) -> Option<Ports> {
        match items {
            None => Some(Ports::any()),
            Some(list) => match parse_ports(list) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.f.push(item, format!("{what}: {e}"));
                    None
                }
            },
        }
    }

    /// A fault when a rule's IP/CIDR items (both sides) mix address
    /// families.
    fn check_one_family(&mut self, source: &Option<Side>, destination: &Option<Side>, item: &Item) {
        // One address family over the IP/CIDR items of both sides.
        let mut fams: Vec<(Family, IpNet)> = Vec::new();
        for side in [source, destination].into_iter().flatten() {
            if let Side::Prefixes(p) = side {
                for n in p {
                    let fam = Family::of_net(n);
                    if !fams.iter().any(|(f, _)| *f == fam) {
                        fams.push((fam, *n));
                    }
                }
            }
        }
        if fams.len() > 1 {
            self.f.push(
                item,
                format!(
                    "mixes IPv4 and IPv6 addresses ({} and {}); a rule is of one address family",
                    fams[0].1, fams[1].1
                ),
            );
        }
    }

    /// A fault when a rule has ASGs on both sides in different VNets and
    /// the policy does not allow it (`allow_cross_vnet_asg`).
    fn check_asg_vnets(
        &mut self,
        source: &Option<Side>,
        destination: &Option<Side>,
        item: &Item,
        cx: &RuleContext,
    ) {
        let (asgs, asg_vnets, vnets) = (cx.asgs, cx.asg_vnets, cx.vnets);
        if let (Some(Side::Asgs(s)), Some(Side::Asgs(d))) = (source, destination) {
            if !self.raw.allow_cross_vnet_asg {
                let located: Vec<(AsgId, VNetId)> = s
                    .iter()
                    .chain(d.iter())
                    .filter_map(|&a| asg_vnets.get(a).copied().flatten().map(|v| (a, v)))
                    .collect();
                if let Some(&(a0, v0)) = located.first() {
                    if let Some(&(a1, v1)) = located.iter().find(|(_, v)| *v != v0) {
                        self.f.push(
                            item,
                            format!(
                                "ASGs on both sides must be in one VNet: asg {} is in vnet {}, asg {} in vnet {} (set allow_cross_vnet_asg = true to allow)",
                                asgs[a0].name, vnets[v0].name, asgs[a1].name, vnets[v1].name
                            ),
                        );
                    }
                }
            }
        }
    }

    fn side(
        &mut self,
        items: &[String],
        what: &str,
        item: &Item,
        asg_idx: &HashMap<String, usize>,
    ) -> Option<Side> {
        let mut any = false;
        let mut tags: Vec<Tag> = Vec::new();
        let mut asgs: Vec<AsgId> = Vec::new();
        let mut prefixes: Vec<IpNet> = Vec::new();
        let mut ok = true;
        for raw in items {
            let s = raw.trim();
            if is_any(s) {
                any = true;
            } else if let Ok(n) = parse_net(s) {
                prefixes.push(n);
            } else if looks_like_address(s) {
                // Reuse the parser's message for what is wrong with it.
                let e = parse_net(s).err().unwrap_or_default();
                self.f.push(item, format!("{what}: {e}"));
                ok = false;
            } else if let Some(b) = BuiltinTag::parse(s) {
                tags.push(Tag::Builtin(b));
            } else if let Some(&a) = asg_idx.get(&s.to_ascii_lowercase()) {
                if !asgs.contains(&a) {
                    asgs.push(a);
                }
            } else if let Some(t) = self.file_tag(s).cloned() {
                if t.usable_in_nsg() {
                    tags.push(Tag::Service(t));
                } else {
                    self.f.push(
                        item,
                        format!(
                            "{what}: service tag '{}' cannot be used in NSG rules (its networkFeatures {:?} lack NSG)",
                            t.name,
                            t.network_features.as_deref().unwrap_or_default()
                        ),
                    );
                    ok = false;
                }
            } else {
                let hint = if self.tags.is_empty() {
                    " (no service tags file is loaded: set service_tags or pass --service-tags)"
                } else {
                    ""
                };
                self.f.push(
                    item,
                    format!("{what}: unknown service tag or ASG '{s}'{hint}"),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let kinds = usize::from(any)
            + usize::from(!tags.is_empty())
            + usize::from(!asgs.is_empty())
            + usize::from(!prefixes.is_empty());
        if kinds > 1 {
            self.f.push(
                item,
                format!(
                    "{what} {items:?} mixes kinds: a side is `*`, one service tag, 1 to {MAX_ASGS_PER_SIDE} ASGs, or IPs/CIDRs"
                ),
            );
            return None;
        }
        if any {
            return Some(Side::Any);
        }
        if !tags.is_empty() {
            if tags.len() > 1 {
                self.f.push(
                    item,
                    format!("{what} {items:?} names several service tags; a side takes one"),
                );
                return None;
            }
            return tags.pop().map(Side::Tag);
        }
        if !asgs.is_empty() {
            if asgs.len() > MAX_ASGS_PER_SIDE {
                self.f.push(
                    item,
                    format!(
                        "{what} names {} ASGs; a side takes 1 to {MAX_ASGS_PER_SIDE}",
                        asgs.len()
                    ),
                );
                return None;
            }
            return Some(Side::Asgs(asgs));
        }
        if prefixes.is_empty() {
            self.f.push(item, format!("{what} is empty"));
            return None;
        }
        Some(Side::Prefixes(prefixes))
    }
}

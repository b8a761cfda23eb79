//! Validation: a [`RawPolicy`] becomes a [`Policy`] only when every constraint
//! of `docs/policy.md` ("What is checked") holds. Every fault is collected,
//! none stops the others from being found.

pub mod names;
mod rule;

use rule::RuleContext;

use crate::error::{Faults, Item, ItemName};
use crate::model::*;
use crate::prefix::overlaps;
use crate::raw::*;
use crate::tags::{BuiltinTag, ServiceTagsFile};
use ipnet::IpNet;
use names::{check_mac, check_name, index_names, name_or, quoted, shown, NameKind};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Most ASGs one rule side may name (Azure's limit).
pub const MAX_ASGS_PER_SIDE: usize = 10;

/// Parse an IP or CIDR; a CIDR must not have host bits set.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if s.contains('/') {
        let net: IpNet = s
            .parse()
            .map_err(|_| format!("'{s}' is not a valid CIDR prefix"))?;
        if net.trunc() != net {
            return Err(format!(
                "'{s}' has host bits set (the prefix is {})",
                net.trunc()
            ));
        }
        Ok(net)
    } else {
        s.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("'{s}' is not a valid IP address"))
    }
}

/// Parse a port list: `*`, `80`, `1000-2000`.
pub fn parse_ports(items: &[String]) -> Result<Ports, String> {
    if items.is_empty() {
        return Err("the port list is empty".to_string());
    }
    let mut ranges = Vec::with_capacity(items.len());
    for raw in items {
        let s = raw.trim();
        if s == "*" || s.eq_ignore_ascii_case("any") {
            ranges.push((0, u16::MAX));
            continue;
        }
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s, s),
        };
        let num = |x: &str| -> Result<u16, String> {
            let v: u64 = x
                .parse()
                .map_err(|_| format!("port '{s}' is not a number, a range or `*`"))?;
            u16::try_from(v).map_err(|_| format!("port '{s}' is outside 0..=65535"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!(
                "port range '{s}' has its low end above its high end"
            ));
        }
        ranges.push((lo, hi));
    }
    Ok(Ports::from_ranges(ranges))
}

/// Whether a string looks like an address (so a failed parse is a bad address,
/// not an unknown tag).
fn looks_like_address(s: &str) -> bool {
    s.contains('/')
        || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.'))
        || (s.contains(':')
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'))
}

fn is_any(s: &str) -> bool {
    let s = s.trim();
    s == "*" || s.eq_ignore_ascii_case("any")
}

struct Ctx<'a> {
    raw: &'a RawPolicy,
    f: &'a mut Faults,
    tags: Vec<ServiceTagsFile>,
    /// The VNet of each subnet, where it resolved.
    subnet_vnet: Vec<Option<VNetId>>,
    /// The VNet of each NIC, where its subnet and that subnet's VNet resolved.
    nic_vnet: Vec<Option<VNetId>>,
}

fn resolve(
    map: &HashMap<String, usize>,
    name: &str,
    kind: &str,
    item: &Item,
    f: &mut Faults,
) -> Option<usize> {
    let r = map.get(&name.to_ascii_lowercase()).copied();
    if r.is_none() {
        f.push(item, format!("unknown {kind} {}", quoted(name)));
    }
    r
}

fn nets(items: &[String], what: &str, item: &Item, f: &mut Faults) -> Vec<IpNet> {
    let mut out = Vec::with_capacity(items.len());
    for s in items {
        match parse_net(s) {
            Ok(n) => out.push(n),
            Err(e) => f.push(item, format!("{what}: {e}")),
        }
    }
    out
}

/// Validate a raw policy. `file` names the policy in faults and anchors the
/// relative path of its service tags file; `extra_tags` are more tags files.
pub(crate) fn validate(
    raw: &RawPolicy,
    file: &Path,
    extra_tags: &[PathBuf],
    f: &mut Faults,
) -> Option<Policy> {
    let mut cx = Ctx {
        raw,
        f,
        tags: Vec::new(),
        subnet_vnet: Vec::new(),
        nic_vnet: Vec::new(),
    };
    cx.load_tags(file, extra_tags);
    let policy = cx.build(file);
    if cx.f.is_empty() {
        Some(policy)
    } else {
        None
    }
}

impl Ctx<'_> {
    fn load_tags(&mut self, file: &Path, extra: &[PathBuf]) {
        let mut paths = Vec::new();
        if let Some(p) = &self.raw.service_tags {
            let base = file.parent().unwrap_or(Path::new("."));
            paths.push(base.join(p));
        }
        paths.extend(extra.iter().cloned());
        for p in paths {
            match ServiceTagsFile::load(&p) {
                Ok(t) => self.tags.push(t),
                Err(e) => self.f.push(&Item::ServiceTags, e.to_string()),
            }
        }
    }

    /// A tag from the loaded files, the later file winning.
    fn file_tag(&self, name: &str) -> Option<&std::sync::Arc<crate::tags::ServiceTag>> {
        self.tags.iter().rev().find_map(|t| t.get(name))
    }

    fn build(&mut self, file: &Path) -> Policy {
        let raw = self.raw;
        let names = |k| match k {
            NameKind::VNet => raw
                .vnets
                .iter()
                .map(|v| v.name.as_ref())
                .collect::<Vec<_>>(),
            NameKind::Subnet => raw.subnets.iter().map(|v| v.name.as_ref()).collect(),
            NameKind::Asg => raw.asgs.iter().map(|v| v.name.as_ref()).collect(),
            NameKind::Nic => raw.nics.iter().map(|v| v.name.as_ref()).collect(),
            NameKind::Nsg | NameKind::Rule => raw.nsgs.iter().map(|v| v.name.as_ref()).collect(),
        };
        let mut index = |k, item| index_names(names(k).into_iter(), k, item, self.f);
        let vnet_idx = index(NameKind::VNet, Item::VNet);
        let subnet_idx = index(NameKind::Subnet, Item::Subnet);
        let asg_idx = index(NameKind::Asg, Item::Asg);
        // NICs are never referenced by name in a policy; names are still checked.
        let _ = index(NameKind::Nic, Item::Nic);
        let nsg_idx = index(NameKind::Nsg, Item::Nsg);

        let vnets = self.vnets(&vnet_idx);
        let subnets = self.subnets(&vnets, &vnet_idx, &nsg_idx);
        let nics = self.nics(&subnets, &subnet_idx, &asg_idx, &nsg_idx);
        let asgs = self.asgs(&nics, &vnets);
        let asg_vnets: Vec<Option<VNetId>> = asgs
            .iter()
            .map(|a| a.members.iter().find_map(|&n| self.nic_vnet[n]))
            .collect();
        let nsgs = self.nsgs(&RuleContext {
            asg_idx: &asg_idx,
            asgs: &asgs,
            asg_vnets: &asg_vnets,
            vnets: &vnets,
        });
        Policy {
            file: file.to_path_buf(),
            allow_cross_vnet_asg: raw.allow_cross_vnet_asg,
            vnets,
            subnets,
            nics,
            asgs,
            nsgs,
            tag_files: self
                .tags
                .iter()
                .map(|t| (t.path.clone(), t.len()))
                .collect(),
        }
    }

    fn vnets(&mut self, idx: &HashMap<String, usize>) -> Vec<VNet> {
        let mut out = Vec::new();
        for (i, v) in self.raw.vnets.iter().enumerate() {
            let (name, item) = name_or(&v.name, i);
            let item = Item::VNet(item);
            let address_space = nets(&v.address_space, "address_space", &item, self.f);
            let on_premises = nets(&v.on_premises, "on_premises", &item, self.f);
            let timeout = match v.flow_timeout_minutes {
                None => DEFAULT_FLOW_TIMEOUT_MINUTES,
                Some(t) if (4..=30).contains(&t) => t as u8,
                Some(t) => {
                    self.f
                        .push(&item, format!("flow_timeout_minutes {t} is outside 4..=30"));
                    DEFAULT_FLOW_TIMEOUT_MINUTES
                }
            };
            let mut peerings = Vec::new();
            for p in &v.peerings {
                if let Some(j) = resolve(idx, p, "peering vnet", &item, self.f) {
                    if j == i {
                        self.f.push(
                            &item,
                            format!("peering {} names the VNet itself", quoted(p)),
                        );
                    } else if !peerings.contains(&j) {
                        peerings.push(j);
                    }
                }
            }
            out.push(VNet {
                name,
                address_space,
                peerings,
                on_premises,
                flow_timeout_minutes: timeout,
            });
        }
        for (i, v) in out.iter().enumerate() {
            for &p in &v.peerings {
                let other = &out[p];
                if !other.peerings.contains(&i) {
                    self.f.push(
                        &Item::VNet(ItemName::Named(v.name.clone())),
                        format!(
                            "peering to {} is not listed on vnet {} (peerings are listed on both VNets)",
                            quoted(&other.name),
                            shown(&other.name)
                        ),
                    );
                }
                if i < p {
                    for a in &v.address_space {
                        for b in &other.address_space {
                            if overlaps(a, b) {
                                self.f.push(
                                    &Item::VNet(ItemName::Named(v.name.clone())),
                                    format!(
                                        "address space {a} overlaps {b} of peered vnet {}",
                                        other.name
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn subnets(
        &mut self,
        vnets: &[VNet],
        vnet_idx: &HashMap<String, usize>,
        nsg_idx: &HashMap<String, usize>,
    ) -> Vec<Subnet> {
        let mut out: Vec<Subnet> = Vec::new();
        for (i, s) in self.raw.subnets.iter().enumerate() {
            let (name, item) = name_or(&s.name, i);
            let item = Item::Subnet(item);
            let vnet = s
                .vnet
                .as_ref()
                .and_then(|v| resolve(vnet_idx, v, "vnet", &item, self.f));
            let prefixes = nets(&s.prefixes, "prefixes", &item, self.f);
            if let Some(vn) = vnet {
                let space = &vnets[vn].address_space;
                for p in &prefixes {
                    if !space.iter().any(|a| a.contains(p)) {
                        self.f.push(
                            &item,
                            format!(
                                "prefix {p} is outside the address space of vnet {}",
                                vnets[vn].name
                            ),
                        );
                    }
                }
                let same_vnet = out
                    .iter()
                    .zip(&self.subnet_vnet)
                    .filter(|(_, v)| **v == Some(vn));
                for (other, _) in same_vnet {
                    for p in &prefixes {
                        for q in &other.prefixes {
                            if overlaps(p, q) {
                                self.f.push(
                                    &item,
                                    format!("prefix {p} overlaps {q} of subnet {}", other.name),
                                );
                            }
                        }
                    }
                }
            }
            let nsg = s
                .nsg
                .as_ref()
                .and_then(|n| resolve(nsg_idx, n, "nsg", &item, self.f));
            self.subnet_vnet.push(vnet);
            out.push(Subnet {
                name,
                // An unresolved VNet is a fault already; 0 keeps indices valid.
                vnet: vnet.unwrap_or(0),
                prefixes,
                nsg,
            });
        }
        out
    }

    fn nics(
        &mut self,
        subnets: &[Subnet],
        subnet_idx: &HashMap<String, usize>,
        asg_idx: &HashMap<String, usize>,
        nsg_idx: &HashMap<String, usize>,
    ) -> Vec<Nic> {
        let mut owners: HashMap<IpAddr, String> = HashMap::new();
        let mut macs: HashMap<[u8; 6], String> = HashMap::new();
        let mut out = Vec::new();
        for (i, n) in self.raw.nics.iter().enumerate() {
            let (name, item) = name_or(&n.name, i);
            let item = Item::Nic(item);
            let subnet = n
                .subnet
                .as_ref()
                .and_then(|s| resolve(subnet_idx, s, "subnet", &item, self.f));
            let mut ips = Vec::new();
            for s in &n.ips {
                match s.trim().parse::<IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => self
                        .f
                        .push(&item, format!("ips: '{s}' is not a valid IP address")),
                }
            }
            for ip in &ips {
                if let Some(sn) = subnet {
                    if !subnets[sn].prefixes.iter().any(|p| p.contains(ip)) {
                        self.f.push(
                            &item,
                            format!("ip {ip} is outside subnet {}", subnets[sn].name),
                        );
                    }
                }
                if let Some(prev) = owners.get(ip) {
                    self.f.push(
                        &item,
                        format!("ip {ip} is already used by nic {}", shown(prev)),
                    );
                } else {
                    owners.insert(*ip, name.clone());
                }
            }
            let mut asgs = Vec::new();
            for a in &n.asgs {
                if let Some(g) = resolve(asg_idx, a, "asg", &item, self.f) {
                    if !asgs.contains(&g) {
                        asgs.push(g);
                    }
                }
            }
            let nsg = n
                .nsg
                .as_ref()
                .and_then(|g| resolve(nsg_idx, g, "nsg", &item, self.f));
            let mac = n
                .mac
                .as_ref()
                .and_then(|m| check_mac(m, &name, &item, &mut macs, self.f));
            self.nic_vnet
                .push(subnet.and_then(|sn| self.subnet_vnet.get(sn).copied().flatten()));
            out.push(Nic {
                name,
                subnet: subnet.unwrap_or(0),
                ips,
                asgs,
                nsg,
                mac,
            });
        }
        out
    }

    fn asgs(&mut self, nics: &[Nic], vnets: &[VNet]) -> Vec<Asg> {
        let mut out = Vec::new();
        for (i, a) in self.raw.asgs.iter().enumerate() {
            let (name, item) = name_or(&a.name, i);
            let item = Item::Asg(item);
            if a.name.is_some() {
                if BuiltinTag::parse(&name).is_some() || self.file_tag(&name).is_some() {
                    self.f
                        .push(&item, format!("ASG name '{name}' is a service tag name"));
                }
                if is_any(&name) || looks_like_address(&name) || parse_net(&name).is_ok() {
                    self.f.push(
                        &item,
                        format!("ASG name '{name}' is `*`, `any` or an address"),
                    );
                }
            }
            let members: Vec<NicId> = (0..nics.len())
                .filter(|&n| nics[n].asgs.contains(&i))
                .collect();
            if !self.raw.allow_cross_vnet_asg {
                let located: Vec<(NicId, VNetId)> = members
                    .iter()
                    .filter_map(|&n| self.nic_vnet[n].map(|v| (n, v)))
                    .collect();
                if let Some(&(first, a)) = located.first() {
                    for &(m, b) in &located[1..] {
                        {
                            if a != b {
                                self.f.push(
                                    &item,
                                    format!(
                                        "NICs of one ASG must be in one VNet: nic {} is in vnet {}, nic {} in vnet {} (set allow_cross_vnet_asg = true to allow)",
                                        nics[first].name, vnets[a].name, nics[m].name, vnets[b].name
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            out.push(Asg { name, members });
        }
        out
    }

    fn nsgs(&mut self, cx: &RuleContext) -> Vec<Nsg> {
        let mut out = Vec::new();
        for (i, g) in self.raw.nsgs.iter().enumerate() {
            let (name, nsg_name) = name_or(&g.name, i);
            let mut names: HashMap<String, ()> = HashMap::new();
            let mut prios: HashMap<(Direction, u32), String> = HashMap::new();
            let mut inbound = Vec::new();
            let mut outbound = Vec::new();
            for (j, r) in g.rules.iter().enumerate() {
                let (rname, rule_name) = name_or(&r.name, j);
                let ritem = Item::Rule {
                    nsg: nsg_name.clone(),
                    rule: rule_name,
                };
                if r.name.is_some() {
                    check_name(&rname, NameKind::Rule, &ritem, self.f);
                    if names.insert(rname.to_ascii_lowercase(), ()).is_some() {
                        self.f.push(
                            &ritem,
                            format!(
                                "duplicate rule name {} in nsg {}",
                                quoted(&rname),
                                shown(&name)
                            ),
                        );
                    }
                }
                if let Some(rule) = self.rule(r, rname, &ritem, cx) {
                    if let Some(prev) = prios.get(&(rule.direction, rule.priority)) {
                        self.f.push(
                            &ritem,
                            format!(
                                "priority {} is already used by {} rule {prev}",
                                rule.priority,
                                rule.direction.name()
                            ),
                        );
                    } else {
                        prios.insert((rule.direction, rule.priority), rule.name.clone());
                    }
                    match rule.direction {
                        Direction::Inbound => inbound.push(rule),
                        Direction::Outbound => outbound.push(rule),
                    }
                }
            }
            for d in default_rules() {
                match d.direction {
                    Direction::Inbound => inbound.push(d),
                    Direction::Outbound => outbound.push(d),
                }
            }
            inbound.sort_by_key(|r| r.priority);
            outbound.sort_by_key(|r| r.priority);
            out.push(Nsg {
                name,
                flush_connections: g.flush_connections,
                inbound,
                outbound,
            });
        }
        out
    }
}

//! The builder's last step: references resolved, every item named uniquely,
//! the policy built.
//!
//! [`Builder::finish`] runs named steps in a fixed order (the notes come out
//! in that order): loose rules joined to their NSGs, names assigned, ASGs
//! collected, then VNets (with peerings), subnets, NICs, ASGs and NSGs
//! emitted into the raw policy.

use super::*;

/// The names NSGs, VNets and NICs have in the policy, by builder index.
struct Names {
    nsgs: Vec<String>,
    vnets: Vec<String>,
    nics: Vec<String>,
}

/// Every ASG the policy holds: those defined and those only referenced by a
/// rule or a NIC, with the names they have in the policy.
struct Asgs {
    /// Key, name as written and the index of its definition, if any.
    keys: Vec<(Key, String, Option<usize>)>,
    /// Index into `keys`.
    idx: Index,
    /// Policy names, by index into `keys`.
    names: Vec<String>,
}

impl Asgs {
    /// The index of the ASG of `k`, adding it as referenced only if new.
    fn refer(&mut self, k: &Key, name: &str) -> usize {
        match self.idx.find(k) {
            Some(i) => i,
            None => {
                let i = self.keys.len();
                let _ = self.idx.insert(k, i);
                self.keys.push((k.clone(), name.to_string(), None));
                i
            }
        }
    }

    /// The policy name of the ASG of `k`.
    fn name(&self, k: &Key) -> Option<String> {
        self.idx.find(k).map(|i| self.names[i].clone())
    }
}

/// NSG associations named on the NSG side (as `az network nsg list` gives
/// them): subnet and NIC index to NSG index.
#[derive(Default)]
struct BackRefs {
    subnets: HashMap<usize, usize>,
    nics: HashMap<usize, usize>,
}

/// What is emitted so far.
#[derive(Default)]
struct Emitted {
    raw: RawPolicy,
    origins: Origins,
    notes: Vec<Note>,
    /// NSGs some subnet or NIC of the policy uses.
    used_nsgs: HashSet<usize>,
    /// ASGs (index into [`Asgs::keys`]) some imported NIC is a member of.
    asg_members: HashSet<usize>,
}

impl Emitted {
    fn missing(&mut self, o: &Origin, message: impl Into<String>) {
        self.notes.push(note(NoteKind::Missing, o, message));
    }

    /// Note that an item got another name than its own.
    fn renamed(&mut self, o: &Origin, from: &str, to: &str) {
        if from != to {
            self.notes.push(note(
                NoteKind::Renamed,
                o,
                format!("named '{to}' in the policy ('{from}' is taken by another resource of that kind)"),
            ));
        }
    }
}

/// The addresses and ASGs a NIC's configurations in its primary subnet give.
#[derive(Default)]
struct NicAddresses {
    ips: Vec<String>,
    asgs: Vec<String>,
    /// Configurations without a private address, described.
    dynamic: Vec<String>,
}

/// Unique names for items of one kind, in order.
fn unique_names<'a>(items: impl Iterator<Item = (&'a str, &'a str, &'a Key)>) -> Vec<String> {
    let mut namer = Namer::default();
    items
        .map(|(name, id_name, key)| namer.take(&candidates(name, id_name, key)))
        .collect()
}

impl Builder {
    /// Resolve references, name everything uniquely and build the policy.
    pub fn finish(mut self) -> Built {
        self.note_ignored_types();
        self.join_loose_rules();
        let names = self.assign_names();
        let mut out = Emitted {
            notes: std::mem::take(&mut self.notes),
            ..Emitted::default()
        };
        self.note_renames(&names, &mut out);
        let asgs = self.collect_asgs();
        let vnet_ok = self.emit_vnets(&names, &mut out);
        self.emit_peerings(&names, &vnet_ok, &mut out);
        let back = self.back_refs();
        let subnet_names = self.emit_subnets(&names, &vnet_ok, &back, &mut out);
        for ni in 0..self.nics.len() {
            self.emit_nic(ni, &names, &asgs, &subnet_names, &back, &mut out);
        }
        self.emit_asgs(&asgs, &mut out);
        self.emit_nsgs(&names, &asgs, &mut out);
        Built {
            raw: out.raw,
            origins: out.origins,
            notes: out.notes,
        }
    }

    /// One note per resource type the import does not read.
    fn note_ignored_types(&mut self) {
        for (f, t, n) in std::mem::take(&mut self.ignored_types) {
            self.notes.push(Note {
                kind: NoteKind::Ignored,
                file: f,
                item: String::new(),
                message: format!(
                    "{n} resource(s) of type {t}: not network security resources, ignored"
                ),
            });
        }
    }

    /// Rules given as resources of their own join their NSG; an NSG the
    /// input lacks is made for them.
    fn join_loose_rules(&mut self) {
        for (nk, r) in std::mem::take(&mut self.loose_rules) {
            let i = match self.nsg_idx.find(&nk) {
                Some(i) => i,
                None => self.nsg_of_loose_rules(nk, &r.origin.file),
            };
            self.nsgs[i].rules.push(r);
        }
    }

    /// An NSG known only from rules of it, noted as missing.
    fn nsg_of_loose_rules(&mut self, nk: Key, file: &Path) -> usize {
        let id_name = nk.path.rsplit('/').next().unwrap_or_default().to_string();
        let o = Origin {
            file: file.to_path_buf(),
            what: format!("nsg '{id_name}'"),
        };
        self.push(
            NoteKind::Missing,
            &o,
            "the NSG itself is not in the input, only rules of it: imported with those rules",
        );
        let i = self.nsgs.len();
        let _ = self.nsg_idx.insert(&nk, i);
        self.nsgs.push(NsgResource {
            key: nk,
            name: id_name.clone(),
            id_name,
            origin: o,
            rules: Vec::new(),
            subnet_refs: Vec::new(),
            nic_refs: Vec::new(),
        });
        i
    }

    /// Unique policy names for NSGs, VNets and NICs.
    fn assign_names(&self) -> Names {
        Names {
            nsgs: unique_names(self.nsgs.iter().map(|g| (&*g.name, &*g.id_name, &g.key))),
            vnets: unique_names(self.vnets.iter().map(|g| (&*g.name, &*g.id_name, &g.key))),
            nics: unique_names(self.nics.iter().map(|g| (&*g.name, &*g.id_name, &g.key))),
        }
    }

    fn note_renames(&self, names: &Names, out: &mut Emitted) {
        for (g, n) in self.nsgs.iter().zip(&names.nsgs) {
            out.renamed(&g.origin, &g.name, n);
        }
        for (g, n) in self.vnets.iter().zip(&names.vnets) {
            out.renamed(&g.origin, &g.name, n);
        }
        for (g, n) in self.nics.iter().zip(&names.nics) {
            out.renamed(&g.origin, &g.name, n);
        }
    }

    /// ASGs: those defined, then those referenced by rules or NICs, each
    /// given a unique name.
    fn collect_asgs(&self) -> Asgs {
        let mut asgs = Asgs {
            keys: self
                .asgs
                .iter()
                .enumerate()
                .map(|(i, a)| (a.key.clone(), a.name.clone(), Some(i)))
                .collect(),
            idx: Index::default(),
            names: Vec::new(),
        };
        for (i, (k, _, _)) in asgs.keys.iter().enumerate() {
            let _ = asgs.idx.insert(k, i);
        }
        for g in &self.nsgs {
            for r in &g.rules {
                for s in r.source.iter().chain(&r.destination) {
                    if let SideItem::Asg(k, n) = s {
                        asgs.refer(k, n);
                    }
                }
            }
        }
        for n in &self.nics {
            for c in n.ipconfigs.as_deref().unwrap_or_default() {
                for id in c.asgs.as_deref().unwrap_or_default() {
                    if let Some(k) = Key::parse(id) {
                        asgs.refer(&k, &Key::last_name(id));
                    }
                }
            }
        }
        let mut namer = Namer::default();
        asgs.names = asgs
            .keys
            .iter()
            .map(|(k, n, def)| {
                let id_name = def.map_or(n.as_str(), |d| self.asgs[d].id_name.as_str());
                namer.take(&candidates(n, id_name, k))
            })
            .collect();
        asgs
    }

    /// VNets with an address space; which ones were emitted, by index.
    fn emit_vnets(&self, names: &Names, out: &mut Emitted) -> Vec<bool> {
        let mut vnet_ok: Vec<bool> = Vec::new();
        for (v, name) in self.vnets.iter().zip(&names.vnets) {
            match &v.address_space {
                Ok(a) if !a.is_empty() => {
                    vnet_ok.push(true);
                    out.origins
                        .vnets
                        .insert(name.to_ascii_lowercase(), v.origin.clone());
                    out.raw.vnets.push(RawVNet {
                        name: Some(name.clone()),
                        address_space: a.clone(),
                        ..RawVNet::default()
                    });
                }
                Ok(_) => {
                    vnet_ok.push(false);
                    out.missing(
                        &v.origin,
                        "no address space: VNet left out, with its subnets and NICs",
                    );
                }
                Err(p) => {
                    vnet_ok.push(false);
                    out.missing(
                        &v.origin,
                        format!("{p}: VNet left out, with its subnets and NICs"),
                    );
                }
            }
        }
        vnet_ok
    }

    /// Peerings, where both VNets are here and list each other.
    fn emit_peerings(&self, names: &Names, vnet_ok: &[bool], out: &mut Emitted) {
        for (i, v) in self.vnets.iter().enumerate() {
            if !vnet_ok[i] {
                continue;
            }
            for (pk, pid) in &v.peers {
                let j = self.vnet_idx.find(pk).filter(|&j| vnet_ok[j]);
                match j {
                    Some(j)
                        if self.vnets[j]
                            .peers
                            .iter()
                            .any(|(k, _)| self.vnet_idx.find(k) == Some(i)) =>
                    {
                        let vnets = &mut out.raw.vnets;
                        let pos = vnets
                            .iter()
                            .position(|x| x.name.as_deref() == Some(&names.vnets[i]));
                        if let Some(pos) = pos {
                            if !vnets[pos].peerings.contains(&names.vnets[j]) {
                                vnets[pos].peerings.push(names.vnets[j].clone());
                            }
                        }
                    }
                    Some(j) => out.missing(
                        &v.origin,
                        format!(
                            "peering to vnet {} is not listed on that VNet: not imported",
                            names.vnets[j]
                        ),
                    ),
                    None => out.missing(
                        &v.origin,
                        format!("peering to '{pid}': that VNet is not in the input: not imported"),
                    ),
                }
            }
        }
    }

    fn back_refs(&self) -> BackRefs {
        let mut back = BackRefs::default();
        for (gi, g) in self.nsgs.iter().enumerate() {
            for k in &g.subnet_refs {
                if let Some(s) = self.subnet_idx.find(k) {
                    back.subnets.insert(s, gi);
                }
            }
            for k in &g.nic_refs {
                if let Some(n) = self.nic_idx.find(k) {
                    back.nics.insert(n, gi);
                }
            }
        }
        back
    }

    /// The policy name of the NSG a subnet or NIC names (or, naming none,
    /// the NSG that names it), marking it used; none, noted, when it is not
    /// in the input or cannot be read.
    fn resolve_nsg(
        &self,
        names: &Names,
        r: &FieldResult<Option<String>>,
        back: Option<usize>,
        o: &Origin,
        out: &mut Emitted,
    ) -> Option<String> {
        match r {
            Ok(Some(id)) => match Key::parse(id).and_then(|k| self.nsg_idx.find(&k)) {
                Some(g) => {
                    out.used_nsgs.insert(g);
                    Some(names.nsgs[g].clone())
                }
                None => {
                    out.missing(
                        o,
                        format!("its NSG '{id}' is not in the input: imported without an NSG, so this layer allows everything until that NSG is imported too"),
                    );
                    None
                }
            },
            Ok(None) => back.map(|g| {
                out.used_nsgs.insert(g);
                names.nsgs[g].clone()
            }),
            Err(p) => {
                out.missing(
                    o,
                    format!("{p}: its NSG is unknown: imported without an NSG"),
                );
                None
            }
        }
    }

    /// Subnets of emitted VNets that have prefixes; their policy names, by
    /// index (none for those left out).
    fn emit_subnets(
        &self,
        names: &Names,
        vnet_ok: &[bool],
        back: &BackRefs,
        out: &mut Emitted,
    ) -> Vec<Option<String>> {
        let mut namer = Namer::default();
        let mut subnet_names: Vec<Option<String>> = Vec::new();
        for (si, s) in self.subnets.iter().enumerate() {
            let Some((vi, prefixes)) = self.subnet_parts(s, vnet_ok, out) else {
                subnet_names.push(None);
                continue;
            };
            let vname = &names.vnets[vi];
            let mut cands = candidates(&s.name, &s.id_name, &s.key);
            cands.insert(1, format!("{vname}-{}", s.name));
            let name = namer.take(&cands);
            out.renamed(&s.origin, &s.name, &name);
            let back = back.subnets.get(&si).copied();
            let nsg = self.resolve_nsg(names, &s.nsg, back, &s.origin, out);
            out.origins
                .subnets
                .insert(name.to_ascii_lowercase(), s.origin.clone());
            out.raw.subnets.push(RawSubnet {
                name: Some(name.clone()),
                vnet: Some(vname.clone()),
                prefixes,
                nsg,
            });
            subnet_names.push(Some(name));
        }
        subnet_names
    }

    /// A subnet's VNet (index) and prefixes; none, noted, when the VNet is
    /// not in the input or the subnet has no prefix.
    fn subnet_parts(
        &self,
        s: &SubnetResource,
        vnet_ok: &[bool],
        out: &mut Emitted,
    ) -> Option<(usize, Vec<String>)> {
        let vi = self.vnet_idx.find(&s.vnet);
        let Some(vi) = vi.filter(|&v| vnet_ok[v]) else {
            if vi.is_none() {
                out.missing(
                    &s.origin,
                    format!(
                        "its VNet '{}' is not in the input: subnet left out",
                        s.vnet.path.rsplit('/').next().unwrap_or_default()
                    ),
                );
            }
            return None;
        };
        match &s.prefixes {
            Ok(p) if !p.is_empty() => Some((vi, p.clone())),
            Ok(_) => {
                out.missing(&s.origin, "no address prefix: subnet left out");
                None
            }
            Err(p) => {
                out.missing(&s.origin, format!("{p}: subnet left out"));
                None
            }
        }
    }

    /// The NIC at `ni`, when its primary configuration's subnet was emitted
    /// and it has a private address; noted when left out.
    fn emit_nic(
        &self,
        ni: usize,
        names: &Names,
        asgs: &Asgs,
        subnet_names: &[Option<String>],
        back: &BackRefs,
        out: &mut Emitted,
    ) {
        let n = &self.nics[ni];
        let Some((cs, si, sname)) = self.nic_subnet(n, subnet_names, out) else {
            return;
        };
        let a = self.nic_addresses(n, cs, si, asgs, out);
        if a.ips.is_empty() {
            out.missing(
                &n.origin,
                format!(
                    "no private IP address in the input (ip configuration {}): NIC left out; its NSG and ASGs are imported without it",
                    a.dynamic.join(", ")
                ),
            );
            // Its ASGs have no member through it after all.
            for c in cs {
                for id in c.asgs.as_deref().unwrap_or_default() {
                    if let Some(i) = Key::parse(id).and_then(|k| asgs.idx.find(&k)) {
                        out.asg_members.remove(&i);
                    }
                }
            }
            return;
        } else if !a.dynamic.is_empty() {
            out.missing(
                &n.origin,
                format!(
                    "no private IP address for ip configuration {}: left out",
                    a.dynamic.join(", ")
                ),
            );
        }
        let back = back.nics.get(&ni).copied();
        let nsg = self.resolve_nsg(names, &n.nsg, back, &n.origin, out);
        let name = &names.nics[ni];
        out.origins
            .nics
            .insert(name.to_ascii_lowercase(), n.origin.clone());
        out.raw.nics.push(RawNic {
            name: Some(name.clone()),
            subnet: Some(sname),
            ips: a.ips,
            asgs: a.asgs,
            nsg,
            mac: None,
        });
    }

    /// A NIC's IP configurations, and the index and policy name of its
    /// primary configuration's subnet; none, noted, when it has no
    /// configuration or that subnet is not in the policy.
    fn nic_subnet<'n>(
        &self,
        n: &'n NicResource,
        subnet_names: &[Option<String>],
        out: &mut Emitted,
    ) -> Option<(&'n [IpConfigResource], Option<usize>, String)> {
        let cs = match &n.ipconfigs {
            Ok(cs) if !cs.is_empty() => cs,
            Ok(_) => {
                out.missing(&n.origin, "no IP configuration: NIC left out");
                return None;
            }
            Err(p) => {
                out.missing(&n.origin, format!("{p}: NIC left out"));
                return None;
            }
        };
        let primary = cs.iter().position(|c| c.primary).unwrap_or(0);
        let subnet_id = match &cs[primary].subnet {
            Ok(Some(id)) => id.clone(),
            Ok(None) => {
                out.missing(
                    &n.origin,
                    format!(
                        "ip configuration {} names no subnet: NIC left out",
                        cs[primary].name
                    ),
                );
                return None;
            }
            Err(p) => {
                out.missing(&n.origin, format!("{p}: NIC left out"));
                return None;
            }
        };
        let sk = Key::parse(&subnet_id);
        let si = sk.as_ref().and_then(|k| self.subnet_idx.find(k));
        let Some(sname) = si.and_then(|i| subnet_names[i].clone()) else {
            let why = if si.is_some() {
                "was left out"
            } else if sk.is_none() {
                "is not a resource ID"
            } else {
                "is not in the input"
            };
            out.missing(
                &n.origin,
                format!("its subnet '{subnet_id}' {why}: NIC left out"),
            );
            return None;
        };
        Some((cs, si, sname))
    }

    /// The addresses and ASGs of a NIC's configurations in subnet `si`,
    /// marking those ASGs as having a member.
    fn nic_addresses(
        &self,
        n: &NicResource,
        cs: &[IpConfigResource],
        si: Option<usize>,
        asgs: &Asgs,
        out: &mut Emitted,
    ) -> NicAddresses {
        let mut a = NicAddresses::default();
        for c in cs {
            let same_subnet = match &c.subnet {
                Ok(Some(id)) => Key::parse(id).and_then(|k| self.subnet_idx.find(&k)) == si,
                _ => false,
            };
            if !same_subnet {
                out.missing(
                    &n.origin,
                    format!("ip configuration {} is not in the primary configuration's subnet: its address is left out", c.name),
                );
                continue;
            }
            match &c.ip {
                Ok(Some(ip)) => a.ips.push(ip.clone()),
                Ok(None) => a.dynamic.push(format!(
                    "{} ({})",
                    c.name,
                    c.allocation.as_deref().unwrap_or("no address")
                )),
                Err(p) => a.dynamic.push(format!("{} ({p})", c.name)),
            }
            match &c.asgs {
                Ok(ids) => {
                    for id in ids {
                        if let Some(name) = Key::parse(id).and_then(|k| asgs.name(&k)) {
                            if !a.asgs.contains(&name) {
                                a.asgs.push(name);
                            }
                            if let Some(i) = Key::parse(id).and_then(|k| asgs.idx.find(&k)) {
                                out.asg_members.insert(i);
                            }
                        }
                    }
                }
                Err(p) => out.missing(&n.origin, format!("{p}: its ASGs are unknown")),
            }
        }
        a
    }

    /// Every ASG, noting those no imported NIC is a member of.
    fn emit_asgs(&self, asgs: &Asgs, out: &mut Emitted) {
        for (i, ((k, n, def), name)) in asgs.keys.iter().zip(&asgs.names).enumerate() {
            let o = match def {
                Some(d) => self.asgs[*d].origin.clone(),
                None => Origin {
                    file: self.referrer_file(k),
                    what: format!("asg '{n}'"),
                },
            };
            if def.is_some() {
                out.renamed(&o, n, name);
            }
            if !out.asg_members.contains(&i) {
                let defined = if def.is_some() {
                    ""
                } else {
                    "referenced but not defined in the input; "
                };
                out.missing(
                    &o,
                    format!("{defined}no NIC in the input is a member: the ASG stands for no address until its NICs are imported"),
                );
            }
            out.origins.asgs.insert(name.to_ascii_lowercase(), o);
            out.raw.asgs.push(RawAsg {
                name: Some(name.clone()),
            });
        }
    }

    /// NSGs and their rules; each NSG's records are freed once converted.
    fn emit_nsgs(&mut self, names: &Names, asgs: &Asgs, out: &mut Emitted) {
        for (gi, g) in std::mem::take(&mut self.nsgs).into_iter().enumerate() {
            let gname = &names.nsgs[gi];
            if !out.used_nsgs.contains(&gi) {
                out.missing(
                    &g.origin,
                    "applied to no subnet or NIC of the imported policy: imported with its rules, enforced nowhere until its subnets or NICs are imported",
                );
            }
            let mut rules = Vec::with_capacity(g.rules.len());
            let mut seen: HashSet<String> = HashSet::new();
            for r in g.rules {
                if !seen.insert(r.name.to_ascii_lowercase()) {
                    out.notes.push(note(
                        NoteKind::Skipped,
                        &r.origin,
                        format!("a second rule named '{}' in this NSG: skipped", r.name),
                    ));
                    continue;
                }
                // Only an origin that `Origins::rule` cannot derive is kept.
                if r.origin != g.origin.child(&format!("rule '{}'", r.name)) {
                    out.origins.rules.insert(
                        (gname.to_ascii_lowercase(), r.name.to_ascii_lowercase()),
                        r.origin.clone(),
                    );
                }
                rules.push(raw_rule(r, asgs));
            }
            out.origins
                .nsgs
                .insert(gname.to_ascii_lowercase(), g.origin);
            out.raw.nsgs.push(RawNsg {
                name: Some(gname.clone()),
                flush_connections: false,
                rules,
            });
        }
    }

    /// The file of the first rule or NIC that names an ASG.
    pub(super) fn referrer_file(&self, k: &Key) -> PathBuf {
        for g in &self.nsgs {
            for r in &g.rules {
                if r.source
                    .iter()
                    .chain(&r.destination)
                    .any(|s| matches!(s, SideItem::Asg(x, _) if x.path == k.path))
                {
                    return r.origin.file.clone();
                }
            }
        }
        self.nics
            .first()
            .map(|n| n.origin.file.clone())
            .unwrap_or_default()
    }
}

/// A rule as the policy writes it, ASGs by their policy names.
fn raw_rule(r: RuleResource, asgs: &Asgs) -> RawRule {
    // A new list of the exact length: collecting in place would keep the
    // larger allocation of the `SideItem`s.
    let side = |items: Vec<SideItem>| -> Vec<String> {
        let mut out = Vec::with_capacity(items.len());
        out.extend(items.into_iter().map(|s| match s {
            SideItem::Text(t) => t,
            SideItem::Asg(k, n) => asgs.name(&k).unwrap_or(n),
        }));
        out
    };
    RawRule {
        name: Some(r.name),
        priority: Some(r.priority),
        direction: Some(r.direction),
        access: Some(r.access),
        protocol: Some(r.protocol),
        source: Some(side(r.source)),
        source_ports: r.source_ports,
        destination: Some(side(r.destination)),
        destination_ports: Some(r.destination_ports),
        description: r.description,
    }
}

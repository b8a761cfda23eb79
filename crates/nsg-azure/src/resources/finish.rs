//! The builder's last step: references resolved, every item named uniquely,
//! the policy built.

use super::*;

impl Builder {
    /// Resolve references, name everything uniquely and build the policy.
    pub fn finish(mut self) -> Built {
        let mut origins = Origins::default();
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
        // Rules given as resources of their own join their NSG.
        for (nk, r) in std::mem::take(&mut self.loose_rules) {
            let i = match self.nsg_idx.find(&nk) {
                Some(i) => i,
                None => {
                    let id_name = nk.path.rsplit('/').next().unwrap_or_default().to_string();
                    let o = Origin {
                        file: r.origin.file.clone(),
                        what: format!("nsg '{id_name}'"),
                    };
                    self.push(
                        NoteKind::Missing,
                        &o,
                        "the NSG itself is not in the input, only rules of it: imported with those rules",
                    );
                    let i = self.nsgs.len();
                    let _ = self.nsg_idx.insert(&nk, i);
                    self.nsgs.push(NsgE {
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
            };
            self.nsgs[i].rules.push(r);
        }

        // Names.
        let mut namer = Namer::default();
        let nsg_names: Vec<String> = self
            .nsgs
            .iter()
            .map(|g| namer.take(&candidates(&g.name, &g.id_name, &g.key)))
            .collect();
        let mut namer = Namer::default();
        let vnet_names: Vec<String> = self
            .vnets
            .iter()
            .map(|g| namer.take(&candidates(&g.name, &g.id_name, &g.key)))
            .collect();
        let mut namer = Namer::default();
        let nic_names: Vec<String> = self
            .nics
            .iter()
            .map(|g| namer.take(&candidates(&g.name, &g.id_name, &g.key)))
            .collect();
        let mut notes = std::mem::take(&mut self.notes);
        let renamed = |notes: &mut Vec<Note>, o: &Origin, from: &str, to: &str| {
            if from != to {
                notes.push(note(
                    NoteKind::Renamed,
                    o,
                    format!("named '{to}' in the policy ('{from}' is taken by another resource of that kind)"),
                ));
            }
        };
        for (g, n) in self.nsgs.iter().zip(&nsg_names) {
            renamed(&mut notes, &g.origin, &g.name, n);
        }
        for (g, n) in self.vnets.iter().zip(&vnet_names) {
            renamed(&mut notes, &g.origin, &g.name, n);
        }
        for (g, n) in self.nics.iter().zip(&nic_names) {
            renamed(&mut notes, &g.origin, &g.name, n);
        }

        // ASGs: defined, and referenced by rules or NICs.
        let mut asg_keys: Vec<(Key, String, Option<usize>)> = self
            .asgs
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key.clone(), a.name.clone(), Some(i)))
            .collect();
        let mut asg_idx = Index::default();
        for (i, (k, _, _)) in asg_keys.iter().enumerate() {
            let _ = asg_idx.insert(k, i);
        }
        let mut refer =
            |k: &Key, name: &str, keys: &mut Vec<(Key, String, Option<usize>)>| -> usize {
                match asg_idx.find(k) {
                    Some(i) => i,
                    None => {
                        let i = keys.len();
                        let _ = asg_idx.insert(k, i);
                        keys.push((k.clone(), name.to_string(), None));
                        i
                    }
                }
            };
        for g in &self.nsgs {
            for r in &g.rules {
                for s in r.source.iter().chain(&r.destination) {
                    if let SideItem::Asg(k, n) = s {
                        refer(k, n, &mut asg_keys);
                    }
                }
            }
        }
        for n in &self.nics {
            if let Ok(cs) = &n.ipconfigs {
                for c in cs {
                    for id in c.asgs.as_ref().map(|v| v.as_slice()).unwrap_or_default() {
                        if let Some(k) = Key::parse(id) {
                            refer(&k, &Key::last_name(id), &mut asg_keys);
                        }
                    }
                }
            }
        }
        let mut namer = Namer::default();
        let asg_names: Vec<String> = asg_keys
            .iter()
            .map(|(k, n, def)| {
                let id_name = def.map_or(n.as_str(), |d| self.asgs[d].id_name.as_str());
                namer.take(&candidates(n, id_name, k))
            })
            .collect();
        let asg_name = |k: &Key| asg_idx.find(k).map(|i| asg_names[i].clone());

        let mut raw = RawPolicy::default();

        // VNets.
        let mut vnet_ok: Vec<bool> = Vec::new();
        for (v, name) in self.vnets.iter().zip(&vnet_names) {
            match &v.address_space {
                Ok(a) if !a.is_empty() => {
                    vnet_ok.push(true);
                    origins
                        .vnets
                        .insert(name.to_ascii_lowercase(), v.origin.clone());
                    raw.vnets.push(RawVNet {
                        name: Some(name.clone()),
                        address_space: a.clone(),
                        ..RawVNet::default()
                    });
                }
                Ok(_) => {
                    vnet_ok.push(false);
                    notes.push(note(
                        NoteKind::Missing,
                        &v.origin,
                        "no address space: VNet left out, with its subnets and NICs",
                    ));
                }
                Err(p) => {
                    vnet_ok.push(false);
                    notes.push(note(
                        NoteKind::Missing,
                        &v.origin,
                        format!("{p}: VNet left out, with its subnets and NICs"),
                    ));
                }
            }
        }
        // Peerings, where both VNets are here and list each other.
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
                        let pos = raw
                            .vnets
                            .iter()
                            .position(|x| x.name.as_deref() == Some(&vnet_names[i]));
                        if let Some(pos) = pos {
                            if !raw.vnets[pos].peerings.contains(&vnet_names[j]) {
                                raw.vnets[pos].peerings.push(vnet_names[j].clone());
                            }
                        }
                    }
                    Some(j) => notes.push(note(
                        NoteKind::Missing,
                        &v.origin,
                        format!(
                            "peering to vnet {} is not listed on that VNet: not imported",
                            vnet_names[j]
                        ),
                    )),
                    None => notes.push(note(
                        NoteKind::Missing,
                        &v.origin,
                        format!("peering to '{pid}': that VNet is not in the input: not imported"),
                    )),
                }
            }
        }

        // NSG associations named on the NSG side (az nsg list gives them).
        let mut subnet_nsg_back: HashMap<usize, usize> = HashMap::new();
        let mut nic_nsg_back: HashMap<usize, usize> = HashMap::new();
        for (gi, g) in self.nsgs.iter().enumerate() {
            for k in &g.subnet_refs {
                if let Some(s) = self.subnet_idx.find(k) {
                    subnet_nsg_back.insert(s, gi);
                }
            }
            for k in &g.nic_refs {
                if let Some(n) = self.nic_idx.find(k) {
                    nic_nsg_back.insert(n, gi);
                }
            }
        }
        let mut used_nsgs: HashSet<usize> = HashSet::new();
        let resolve_nsg = |r: &Pr<Option<String>>,
                           back: Option<usize>,
                           o: &Origin,
                           notes: &mut Vec<Note>,
                           used: &mut HashSet<usize>|
         -> Option<String> {
            match r {
                Ok(Some(id)) => match Key::parse(id).and_then(|k| self.nsg_idx.find(&k)) {
                    Some(g) => {
                        used.insert(g);
                        Some(nsg_names[g].clone())
                    }
                    None => {
                        notes.push(note(
                            NoteKind::Missing,
                            o,
                            format!("its NSG '{id}' is not in the input: imported without an NSG, so this layer allows everything until that NSG is imported too"),
                        ));
                        None
                    }
                },
                Ok(None) => back.map(|g| {
                    used.insert(g);
                    nsg_names[g].clone()
                }),
                Err(p) => {
                    notes.push(note(
                        NoteKind::Missing,
                        o,
                        format!("{p}: its NSG is unknown: imported without an NSG"),
                    ));
                    None
                }
            }
        };

        // Subnets.
        let mut namer = Namer::default();
        let mut subnet_names: Vec<Option<String>> = Vec::new();
        for (si, s) in self.subnets.iter().enumerate() {
            let vi = self.vnet_idx.find(&s.vnet);
            let Some(vi) = vi.filter(|&v| vnet_ok[v]) else {
                if vi.is_none() {
                    notes.push(note(
                        NoteKind::Missing,
                        &s.origin,
                        format!(
                            "its VNet '{}' is not in the input: subnet left out",
                            s.vnet.path.rsplit('/').next().unwrap_or_default()
                        ),
                    ));
                }
                subnet_names.push(None);
                continue;
            };
            let prefixes = match &s.prefixes {
                Ok(p) if !p.is_empty() => p.clone(),
                Ok(_) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &s.origin,
                        "no address prefix: subnet left out",
                    ));
                    subnet_names.push(None);
                    continue;
                }
                Err(p) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &s.origin,
                        format!("{p}: subnet left out"),
                    ));
                    subnet_names.push(None);
                    continue;
                }
            };
            let vname = &vnet_names[vi];
            let mut cands = candidates(&s.name, &s.id_name, &s.key);
            cands.insert(1, format!("{vname}-{}", s.name));
            let name = namer.take(&cands);
            renamed(&mut notes, &s.origin, &s.name, &name);
            let nsg = resolve_nsg(
                &s.nsg,
                subnet_nsg_back.get(&si).copied(),
                &s.origin,
                &mut notes,
                &mut used_nsgs,
            );
            origins
                .subnets
                .insert(name.to_ascii_lowercase(), s.origin.clone());
            raw.subnets.push(RawSubnet {
                name: Some(name.clone()),
                vnet: Some(vname.clone()),
                prefixes,
                nsg,
            });
            subnet_names.push(Some(name));
        }

        // NICs.
        let mut asg_members: HashSet<usize> = HashSet::new();
        for (ni, n) in self.nics.iter().enumerate() {
            let name = &nic_names[ni];
            let cs = match &n.ipconfigs {
                Ok(cs) if !cs.is_empty() => cs,
                Ok(_) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        "no IP configuration: NIC left out",
                    ));
                    continue;
                }
                Err(p) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        format!("{p}: NIC left out"),
                    ));
                    continue;
                }
            };
            let primary = cs.iter().position(|c| c.primary).unwrap_or(0);
            let subnet_id = match &cs[primary].subnet {
                Ok(Some(id)) => id.clone(),
                Ok(None) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        format!(
                            "ip configuration {} names no subnet: NIC left out",
                            cs[primary].name
                        ),
                    ));
                    continue;
                }
                Err(p) => {
                    notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        format!("{p}: NIC left out"),
                    ));
                    continue;
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
                notes.push(note(
                    NoteKind::Missing,
                    &n.origin,
                    format!("its subnet '{subnet_id}' {why}: NIC left out"),
                ));
                continue;
            };
            let mut ips = Vec::new();
            let mut asgs = Vec::new();
            let mut dynamic = Vec::new();
            for c in cs {
                let same_subnet = match &c.subnet {
                    Ok(Some(id)) => Key::parse(id).and_then(|k| self.subnet_idx.find(&k)) == si,
                    _ => false,
                };
                if !same_subnet {
                    notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        format!("ip configuration {} is not in the primary configuration's subnet: its address is left out", c.name),
                    ));
                    continue;
                }
                match &c.ip {
                    Ok(Some(ip)) => ips.push(ip.clone()),
                    Ok(None) => dynamic.push(format!(
                        "{} ({})",
                        c.name,
                        c.allocation.as_deref().unwrap_or("no address")
                    )),
                    Err(p) => dynamic.push(format!("{} ({p})", c.name)),
                }
                match &c.asgs {
                    Ok(ids) => {
                        for id in ids {
                            if let Some(a) = Key::parse(id).and_then(|k| asg_name(&k)) {
                                if !asgs.contains(&a) {
                                    asgs.push(a);
                                }
                                if let Some(i) = Key::parse(id).and_then(|k| asg_idx.find(&k)) {
                                    asg_members.insert(i);
                                }
                            }
                        }
                    }
                    Err(p) => notes.push(note(
                        NoteKind::Missing,
                        &n.origin,
                        format!("{p}: its ASGs are unknown"),
                    )),
                }
            }
            if ips.is_empty() {
                notes.push(note(
                    NoteKind::Missing,
                    &n.origin,
                    format!(
                        "no private IP address in the input (ip configuration {}): NIC left out; its NSG and ASGs are imported without it",
                        dynamic.join(", ")
                    ),
                ));
                // Its ASGs have no member through it after all.
                for c in cs {
                    for id in c.asgs.as_ref().map(|v| v.as_slice()).unwrap_or_default() {
                        if let Some(i) = Key::parse(id).and_then(|k| asg_idx.find(&k)) {
                            asg_members.remove(&i);
                        }
                    }
                }
                continue;
            } else if !dynamic.is_empty() {
                notes.push(note(
                    NoteKind::Missing,
                    &n.origin,
                    format!(
                        "no private IP address for ip configuration {}: left out",
                        dynamic.join(", ")
                    ),
                ));
            }
            let nsg = resolve_nsg(
                &n.nsg,
                nic_nsg_back.get(&ni).copied(),
                &n.origin,
                &mut notes,
                &mut used_nsgs,
            );
            origins
                .nics
                .insert(name.to_ascii_lowercase(), n.origin.clone());
            raw.nics.push(RawNic {
                name: Some(name.clone()),
                subnet: Some(sname),
                ips,
                asgs,
                nsg,
                mac: None,
            });
        }

        // ASGs.
        for (i, ((k, n, def), name)) in asg_keys.iter().zip(&asg_names).enumerate() {
            let o = match def {
                Some(d) => self.asgs[*d].origin.clone(),
                None => Origin {
                    file: self.referrer_file(k),
                    what: format!("asg '{n}'"),
                },
            };
            if def.is_some() {
                renamed(&mut notes, &o, n, name);
            }
            if !asg_members.contains(&i) {
                let defined = if def.is_some() {
                    ""
                } else {
                    "referenced but not defined in the input; "
                };
                notes.push(note(
                    NoteKind::Missing,
                    &o,
                    format!("{defined}no NIC in the input is a member: the ASG stands for no address until its NICs are imported"),
                ));
            }
            origins.asgs.insert(name.to_ascii_lowercase(), o);
            raw.asgs.push(RawAsg {
                name: Some(name.clone()),
            });
        }

        // NSGs and their rules; each NSG's records are freed once converted.
        for (gi, g) in std::mem::take(&mut self.nsgs).into_iter().enumerate() {
            let gname = &nsg_names[gi];
            if !used_nsgs.contains(&gi) {
                notes.push(note(
                    NoteKind::Missing,
                    &g.origin,
                    "applied to no subnet or NIC of the imported policy: imported with its rules, enforced nowhere until its subnets or NICs are imported",
                ));
            }
            let mut rules = Vec::with_capacity(g.rules.len());
            let mut seen: HashSet<String> = HashSet::new();
            for r in g.rules {
                if !seen.insert(r.name.to_ascii_lowercase()) {
                    notes.push(note(
                        NoteKind::Skipped,
                        &r.origin,
                        format!("a second rule named '{}' in this NSG: skipped", r.name),
                    ));
                    continue;
                }
                // A new list of the exact length: collecting in place would
                // keep the larger allocation of the `SideItem`s.
                let side = |items: Vec<SideItem>| -> Vec<String> {
                    let mut out = Vec::with_capacity(items.len());
                    out.extend(items.into_iter().map(|s| match s {
                        SideItem::Text(t) => t,
                        SideItem::Asg(k, n) => asg_name(&k).unwrap_or(n),
                    }));
                    out
                };
                // Only an origin that `Origins::rule` cannot derive is kept.
                if r.origin != g.origin.child(&format!("rule '{}'", r.name)) {
                    origins.rules.insert(
                        (gname.to_ascii_lowercase(), r.name.to_ascii_lowercase()),
                        r.origin,
                    );
                }
                rules.push(RawRule {
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
                });
            }
            origins.nsgs.insert(gname.to_ascii_lowercase(), g.origin);
            raw.nsgs.push(RawNsg {
                name: Some(gname.clone()),
                flush_connections: false,
                rules,
            });
        }
        Built {
            raw,
            origins,
            notes,
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

//! Reading resources into the builder: one method per resource kind, each
//! noting what it cannot read.

use super::*;

impl Builder {
    /// A builder with no resources yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The notes so far, for the importer to add its own.
    pub fn notes_mut(&mut self) -> &mut Vec<Note> {
        &mut self.notes
    }

    pub(super) fn push(&mut self, kind: NoteKind, o: &Origin, message: impl Into<String>) {
        self.notes.push(note(kind, o, message));
    }

    /// The key of a resource: from its ID, else from its type and name.
    pub(super) fn key(v: &Value, ty: &str, name: &str) -> Key {
        v.get("id")
            .and_then(Value::as_str)
            .and_then(Key::parse)
            .unwrap_or_else(|| {
                // Built from the type: Ns/type[/child] and name[/child].
                let mut segs = ty.split('/');
                let mut path = segs.next().unwrap_or_default().to_string();
                let names: Vec<&str> = name.split('/').collect();
                for (t, n) in segs.zip(names.iter().chain(std::iter::repeat(&name))) {
                    path.push_str(&format!("/{t}/{n}"));
                }
                Key {
                    rg: None,
                    path: path.to_ascii_lowercase(),
                }
            })
    }

    /// Add one resource object.
    pub fn add(&mut self, file: &Path, origin: Option<String>, v: &Value) {
        let ty = type_of(v).unwrap_or_default();
        let name = match name_of(v) {
            Ok(n) => n,
            Err(p) => {
                let o = Origin {
                    file: file.to_path_buf(),
                    what: origin.unwrap_or_else(|| format!("resource {ty}")),
                };
                self.push(NoteKind::Skipped, &o, p.to_string());
                return;
            }
        };
        let short = ty.rsplit('/').next().unwrap_or_default().to_string();
        let label = origin.unwrap_or_else(|| {
            format!(
                "{} '{}'",
                friendly(&ty).unwrap_or(&short),
                name.as_deref().unwrap_or("?")
            )
        });
        let o = Origin {
            file: file.to_path_buf(),
            what: label,
        };
        let Some(name) = name else {
            self.push(NoteKind::Skipped, &o, "the resource has no name");
            return;
        };
        let key = Self::key(v, &ty, &name);
        let id_name = v
            .get("id")
            .and_then(Value::as_str)
            .map(Key::last_name)
            .unwrap_or_else(|| name.clone());
        match ty.as_str() {
            "microsoft.network/networksecuritygroups" => self.nsg(v, key, name, id_name, o),
            "microsoft.network/networksecuritygroups/securityrules" => {
                let Some(parent) = key.parent() else { return };
                match read_rule(v, &o) {
                    Ok(r) => self.loose_rules.push((parent, r)),
                    Err(p) => self.push(NoteKind::Skipped, &o, format!("{p}: rule skipped")),
                }
            }
            "microsoft.network/networksecuritygroups/defaultsecurityrules" => {}
            "microsoft.network/applicationsecuritygroups" => {
                if let Err(j) = self.asg_idx.insert(&key, self.asgs.len()) {
                    let first = self.asgs[j].origin.clone();
                    self.duplicate(&o, &first);
                    return;
                }
                self.asgs.push(AsgResource {
                    key,
                    name,
                    id_name,
                    origin: o,
                });
            }
            "microsoft.network/virtualnetworks" => self.vnet(v, key, name, id_name, o),
            "microsoft.network/virtualnetworks/subnets" => {
                let Some(parent) = key.parent() else { return };
                self.subnet(v, key, parent, name, id_name, o);
            }
            "microsoft.network/virtualnetworks/virtualnetworkpeerings" => {
                let Some(parent) = key.parent() else { return };
                self.peering(v, &parent, &o);
            }
            "microsoft.network/networkinterfaces" => self.nic(v, key, name, id_name, o),
            other => {
                let t = if other.is_empty() { "unknown" } else { other };
                match self
                    .ignored_types
                    .iter_mut()
                    .find(|(f, x, _)| f == file && x == t)
                {
                    Some(e) => e.2 += 1,
                    None => self
                        .ignored_types
                        .push((file.to_path_buf(), t.to_string(), 1)),
                }
            }
        }
    }

    pub(super) fn duplicate(&mut self, o: &Origin, first: &Origin) {
        self.push(
            NoteKind::Ignored,
            o,
            format!(
                "the same resource is already read from {} ({}): this copy is ignored",
                first.file.display(),
                first.what
            ),
        );
    }

    pub(super) fn nsg(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
        if let Err(j) = self.nsg_idx.insert(&key, self.nsgs.len()) {
            let first = self.nsgs[j].origin.clone();
            self.duplicate(&o, &first);
            return;
        }
        let mut rules = Vec::new();
        match field(v, "securityRules") {
            None => {}
            Some((list, f)) => match evaluated(list, &f) {
                Err(p) => self.push(
                    NoteKind::Skipped,
                    &o,
                    format!("{p}: every rule of this NSG is skipped"),
                ),
                Ok(Value::Array(a)) => {
                    for (i, r) in a.iter().enumerate() {
                        let rname = r
                            .get("name")
                            .and_then(Value::as_str)
                            .map(|n| format!("rule '{n}'"))
                            .unwrap_or_else(|| format!("rule #{}", i + 1));
                        let ro = o.child(&rname);
                        match read_rule(r, &ro) {
                            Ok(rule) => rules.push(rule),
                            Err(p) => {
                                self.push(NoteKind::Skipped, &ro, format!("{p}: rule skipped"))
                            }
                        }
                    }
                }
                Ok(other) => self.push(
                    NoteKind::Skipped,
                    &o,
                    format!("field {f} is not a list ({other}): every rule of this NSG is skipped"),
                ),
            },
        }
        let back = |k: &str| -> Vec<Key> {
            id_list(v, k)
                .unwrap_or_default()
                .iter()
                .filter_map(|id| Key::parse(id))
                .collect()
        };
        let subnet_refs = back("subnets");
        let nic_refs = back("networkInterfaces");
        self.nsgs.push(NsgResource {
            key,
            name,
            id_name,
            origin: o,
            rules,
            subnet_refs,
            nic_refs,
        });
    }

    pub(super) fn vnet(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
        if let Err(j) = self.vnet_idx.insert(&key, self.vnets.len()) {
            let first = self.vnets[j].origin.clone();
            self.duplicate(&o, &first);
            return;
        }
        let address_space = match field(v, "addressSpace") {
            None => Ok(Vec::new()),
            Some((a, f)) => evaluated(a, &f).and_then(|a| {
                list_field(a, "addressPrefixes").map_err(|p| match p {
                    FieldProblem::Unevaluated {
                        field,
                        expression,
                        error,
                    } => FieldProblem::Unevaluated {
                        field: format!("{f}.{field}"),
                        expression,
                        error,
                    },
                    other => other,
                })
            }),
        };
        if let Some((subs, f)) = field(v, "subnets") {
            match evaluated(subs, &f) {
                Ok(Value::Array(a)) => {
                    for (i, s) in a.iter().enumerate() {
                        let sname = match name_of(s) {
                            Ok(Some(n)) => n,
                            Ok(None) => {
                                self.push(
                                    NoteKind::Missing,
                                    &o,
                                    format!("{f}[{i}] has no name: left out"),
                                );
                                continue;
                            }
                            Err(p) => {
                                self.push(
                                    NoteKind::Missing,
                                    &o,
                                    format!("{f}[{i}]: {p}: subnet left out"),
                                );
                                continue;
                            }
                        };
                        let skey = s
                            .get("id")
                            .and_then(Value::as_str)
                            .and_then(Key::parse)
                            .unwrap_or_else(|| key.child("subnets", &sname));
                        let id_name = s
                            .get("id")
                            .and_then(Value::as_str)
                            .map(Key::last_name)
                            .unwrap_or_else(|| sname.clone());
                        let so = o.child(&format!("subnet '{sname}'"));
                        self.subnet(s, skey, key.clone(), sname, id_name, so);
                    }
                }
                Ok(_) => {}
                Err(p) => self.push(
                    NoteKind::Missing,
                    &o,
                    format!("{p}: its subnets are left out"),
                ),
            }
        }
        let vkey = key.clone();
        self.vnets.push(VnetResource {
            key,
            name,
            id_name,
            origin: o.clone(),
            address_space,
            peers: Vec::new(),
        });
        if let Some((ps, f)) = field(v, "virtualNetworkPeerings") {
            if let Ok(Value::Array(a)) = evaluated(ps, &f) {
                for p in a {
                    self.peering(p, &vkey, &o);
                }
            }
        }
    }

    pub(super) fn peering(&mut self, p: &Value, vnet: &Key, o: &Origin) {
        let pname = name_of(p).ok().flatten().unwrap_or_else(|| "?".into());
        let po = o.child(&format!("peering '{pname}'"));
        let state = str_field(p, "peeringState").ok().flatten();
        if let Some(s) = &state {
            if !s.eq_ignore_ascii_case("connected") {
                self.push(
                    NoteKind::Ignored,
                    &po,
                    format!("peering state is {s}, not Connected: no traffic flows, not imported"),
                );
                return;
            }
        }
        match id_field(p, "remoteVirtualNetwork") {
            Ok(Some(id)) => match Key::parse(&id) {
                Some(k) => {
                    if let Some(i) = self.vnet_idx.find(vnet) {
                        self.vnets[i].peers.push((k, id));
                    }
                }
                None => self.push(
                    NoteKind::Missing,
                    &po,
                    format!("remote VNet ID '{id}' is not a resource ID"),
                ),
            },
            Ok(None) => self.push(
                NoteKind::Missing,
                &po,
                "no remoteVirtualNetwork: not imported",
            ),
            Err(pr) => self.push(NoteKind::Missing, &po, format!("{pr}: not imported")),
        }
    }

    pub(super) fn subnet(
        &mut self,
        v: &Value,
        key: Key,
        vnet: Key,
        name: String,
        id_name: String,
        o: Origin,
    ) {
        if let Err(j) = self.subnet_idx.insert(&key, self.subnets.len()) {
            // A VNet's inline subnet and a subnet resource of its own: merge,
            // the later filling what the earlier lacks.
            let prefixes = read_prefixes(v);
            let nsg = id_field(v, "networkSecurityGroup");
            let s = &mut self.subnets[j];
            let have = matches!(&s.prefixes, Ok(p) if !p.is_empty());
            if !have && matches!(&prefixes, Ok(p) if !p.is_empty()) {
                s.prefixes = prefixes;
            }
            if matches!(s.nsg, Ok(None)) {
                s.nsg = nsg;
            }
            return;
        }
        let prefixes = read_prefixes(v);
        let nsg = id_field(v, "networkSecurityGroup");
        self.subnets.push(SubnetResource {
            key,
            vnet,
            name,
            id_name,
            origin: o,
            prefixes,
            nsg,
        });
    }

    pub(super) fn nic(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
        if let Err(j) = self.nic_idx.insert(&key, self.nics.len()) {
            let first = self.nics[j].origin.clone();
            self.duplicate(&o, &first);
            return;
        }
        let ipconfigs = match field(v, "ipConfigurations") {
            None => Ok(Vec::new()),
            Some((a, f)) => evaluated(a, &f).map(|a| {
                a.as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c)| IpConfigResource {
                        name: name_of(c)
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| format!("#{}", i + 1)),
                        ip: str_field(c, "privateIPAddress"),
                        allocation: str_field(c, "privateIPAllocationMethod").ok().flatten(),
                        subnet: id_field(c, "subnet"),
                        asgs: id_list(c, "applicationSecurityGroups"),
                        primary: field(c, "primary")
                            .and_then(|(p, _)| p.as_bool())
                            .unwrap_or(false),
                    })
                    .collect()
            }),
        };
        let nsg = id_field(v, "networkSecurityGroup");
        self.nics.push(NicResource {
            key,
            name,
            id_name,
            origin: o,
            ipconfigs,
            nsg,
        });
    }
}

//! Azure's network resources as its API, `az network {vnet,nic,nsg,asg} list`
//! and ARM templates (once expanded) write them, read into a [`RawPolicy`].
//!
//! Fields are looked up under `properties` and at the top level (the CLI
//! flattens `properties`), case-insensitively (`privateIPAddress` and
//! `privateIpAddress`); singular and plural fields are merged
//! (`sourceAddressPrefix` / `sourceAddressPrefixes`); values are trimmed.
//! References between resources go by resource ID. Whatever cannot be read
//! is left out and noted, never guessed.

use super::arm::{as_unevaluated, get_ci};
pub use super::origin::{Origin, Origins};
use super::{Note, NoteKind};
use crate::raw::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a field could not be read.
#[derive(Debug, Clone)]
enum Problem {
    Unevaluated {
        field: String,
        expression: String,
        error: String,
    },
    Bad {
        field: String,
        message: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unevaluated {
                field,
                expression,
                error,
            } => write!(
                f,
                "field {field} `{expression}` cannot be evaluated: {error}"
            ),
            Problem::Bad { field, message } => write!(f, "field {field}: {message}"),
        }
    }
}

type Pr<T> = Result<T, Problem>;

/// A resource's identity: resource group (if the ID names one) and the path
/// from `providers/` on, both lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    rg: Option<String>,
    path: String,
}

impl Key {
    fn parse(id: &str) -> Option<Key> {
        let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
        let p = segs
            .iter()
            .position(|s| s.eq_ignore_ascii_case("providers"))?;
        let rg = segs
            .iter()
            .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
            .and_then(|i| segs.get(i + 1))
            .map(|s| s.to_ascii_lowercase());
        let rest = &segs[p + 1..];
        // Namespace, then type/name pairs.
        if rest.len() < 3 || rest.len() & 1 == 0 {
            return None;
        }
        Some(Key {
            rg,
            path: rest.join("/").to_ascii_lowercase(),
        })
    }

    /// The resource type: namespace and every type segment.
    fn type_name(&self) -> String {
        let segs: Vec<&str> = self.path.split('/').collect();
        let mut t = segs[0].to_string();
        for s in segs[1..].iter().step_by(2) {
            t.push('/');
            t.push_str(s);
        }
        t
    }

    fn parent(&self) -> Option<Key> {
        let segs: Vec<&str> = self.path.split('/').collect();
        (segs.len() >= 5).then(|| Key {
            rg: self.rg.clone(),
            path: segs[..segs.len() - 2].join("/"),
        })
    }

    fn child(&self, ty: &str, name: &str) -> Key {
        Key {
            rg: self.rg.clone(),
            path: format!("{}/{}/{}", self.path, ty, name.to_ascii_lowercase()),
        }
    }

    /// The last name segment, as written in `id`.
    fn last_name(id: &str) -> String {
        id.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// Resources of one kind by key; a key without a resource group matches
/// any resource group.
#[derive(Debug, Default)]
struct Index {
    map: HashMap<String, Vec<(Option<String>, usize)>>,
}

impl Index {
    fn find(&self, k: &Key) -> Option<usize> {
        let c = self.map.get(&k.path)?;
        c.iter()
            .find(|(rg, _)| rg.is_none() || k.rg.is_none() || *rg == k.rg)
            .map(|(_, i)| *i)
    }

    /// Insert, or give the index of the resource already there.
    fn insert(&mut self, k: &Key, i: usize) -> Result<(), usize> {
        if let Some(j) = self.find(k) {
            return Err(j);
        }
        self.map
            .entry(k.path.clone())
            .or_default()
            .push((k.rg.clone(), i));
        Ok(())
    }
}

// ---- field access -----------------------------------------------------------

/// A field under `properties` or at the top level; `null` is absent.
fn field<'a>(obj: &'a Value, key: &str) -> Option<(&'a Value, String)> {
    let o = obj.as_object()?;
    if let Some(v) = o
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|p| get_ci(p, key))
        .filter(|v| !v.is_null())
    {
        return Some((v, format!("properties.{key}")));
    }
    get_ci(o, key)
        .filter(|v| !v.is_null())
        .map(|v| (v, key.to_string()))
}

/// A value that must have been evaluated.
fn evaluated<'a>(v: &'a Value, field: &str) -> Pr<&'a Value> {
    match as_unevaluated(v) {
        Some((e, why)) => Err(Problem::Unevaluated {
            field: field.to_string(),
            expression: e.to_string(),
            error: why.to_string(),
        }),
        None => Ok(v),
    }
}

fn scalar(v: &Value, field: &str) -> Pr<Option<String>> {
    match evaluated(v, field)? {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Null => Ok(None),
        other => Err(Problem::Bad {
            field: field.to_string(),
            message: format!("expected a string, found {other}"),
        }),
    }
}

fn str_field(obj: &Value, key: &str) -> Pr<Option<String>> {
    match field(obj, key) {
        None => Ok(None),
        Some((v, f)) => scalar(v, &f),
    }
}

/// The items of an array field, each read by `read`, empty ones dropped; a
/// lone value (not an array) is one item when `lone` is true, none otherwise.
fn items(
    obj: &Value,
    key: &str,
    read: fn(&Value, &str) -> Pr<Option<String>>,
    lone: bool,
) -> Pr<Vec<String>> {
    let Some((v, f)) = field(obj, key) else {
        return Ok(Vec::new());
    };
    match evaluated(v, &f)? {
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, x) in a.iter().enumerate() {
                if let Some(s) = read(x, &format!("{f}[{i}]"))? {
                    out.push(s);
                }
            }
            Ok(out)
        }
        other if lone => Ok(read(other, &f)?.into_iter().collect()),
        _ => Ok(Vec::new()),
    }
}

/// A string or a list of strings (numbers allowed), empty items dropped.
fn list_field(obj: &Value, key: &str) -> Pr<Vec<String>> {
    items(obj, key, scalar, true)
}

fn int_field(obj: &Value, key: &str) -> Pr<Option<i64>> {
    let Some((v, f)) = field(obj, key) else {
        return Ok(None);
    };
    match evaluated(v, &f)? {
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        other => Err(Problem::Bad {
            field: f,
            message: format!("expected an integer, found {other}"),
        }),
    }
}

/// `{"id": ...}`.
fn id_of(v: &Value, field: &str) -> Pr<Option<String>> {
    match evaluated(v, field)? {
        Value::Object(o) => match get_ci(o, "id") {
            Some(id) => scalar(id, &format!("{field}.id")),
            None => Ok(None),
        },
        Value::String(s) => Ok(Some(s.clone())),
        _ => Ok(None),
    }
}

fn id_field(obj: &Value, key: &str) -> Pr<Option<String>> {
    match field(obj, key) {
        None => Ok(None),
        Some((v, f)) => id_of(v, &f),
    }
}

/// `[{"id": ...}, ...]`.
fn id_list(obj: &Value, key: &str) -> Pr<Vec<String>> {
    items(obj, key, id_of, false)
}

fn name_of(obj: &Value) -> Pr<Option<String>> {
    match obj.get("name") {
        Some(v) => scalar(v, "name"),
        None => Ok(None),
    }
}

/// The resource type of an object: its `type`, else its ID's, else its shape.
pub fn type_of(v: &Value) -> Option<String> {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        return Some(t.to_ascii_lowercase());
    }
    if let Some(k) = v.get("id").and_then(Value::as_str).and_then(Key::parse) {
        return Some(k.type_name());
    }
    let has = |k: &str| field(v, k).is_some();
    let t = if has("securityRules") || has("defaultSecurityRules") {
        "microsoft.network/networksecuritygroups"
    } else if has("ipConfigurations") {
        "microsoft.network/networkinterfaces"
    } else if has("addressSpace") {
        "microsoft.network/virtualnetworks"
    } else {
        return None;
    };
    Some(t.to_string())
}

// ---- entities ------------------------------------------------------------------

#[derive(Debug, Clone)]
enum SideItem {
    Text(String),
    /// An ASG by ID.
    Asg(Key, String),
}

#[derive(Debug, Clone)]
struct RuleE {
    name: String,
    origin: Origin,
    priority: i64,
    direction: String,
    access: String,
    protocol: String,
    source: Vec<SideItem>,
    destination: Vec<SideItem>,
    source_ports: Option<Vec<String>>,
    destination_ports: Vec<String>,
    description: Option<String>,
}

#[derive(Debug)]
struct NsgE {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    rules: Vec<RuleE>,
    subnet_refs: Vec<Key>,
    nic_refs: Vec<Key>,
}

#[derive(Debug)]
struct VnetE {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    address_space: Pr<Vec<String>>,
    peers: Vec<(Key, String)>,
}

#[derive(Debug)]
struct SubnetE {
    key: Key,
    vnet: Key,
    name: String,
    id_name: String,
    origin: Origin,
    prefixes: Pr<Vec<String>>,
    nsg: Pr<Option<String>>,
}

#[derive(Debug)]
struct IpConfE {
    name: String,
    ip: Pr<Option<String>>,
    allocation: Option<String>,
    subnet: Pr<Option<String>>,
    asgs: Pr<Vec<String>>,
    primary: bool,
}

#[derive(Debug)]
struct NicE {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    ipconfigs: Pr<Vec<IpConfE>>,
    nsg: Pr<Option<String>>,
}

#[derive(Debug)]
struct AsgE {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
}

/// Collects resources, then builds the policy.
#[derive(Debug, Default)]
pub struct Builder {
    notes: Vec<Note>,
    nsgs: Vec<NsgE>,
    nsg_idx: Index,
    vnets: Vec<VnetE>,
    vnet_idx: Index,
    subnets: Vec<SubnetE>,
    subnet_idx: Index,
    nics: Vec<NicE>,
    nic_idx: Index,
    asgs: Vec<AsgE>,
    asg_idx: Index,
    /// Rules given as resources of their own, with their NSG's key.
    loose_rules: Vec<(Key, RuleE)>,
    ignored_types: Vec<(PathBuf, String, usize)>,
}

fn note(kind: NoteKind, o: &Origin, message: impl Into<String>) -> Note {
    Note {
        kind,
        file: o.file.clone(),
        item: o.what.clone(),
        message: message.into(),
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn notes_mut(&mut self) -> &mut Vec<Note> {
        &mut self.notes
    }

    fn push(&mut self, kind: NoteKind, o: &Origin, message: impl Into<String>) {
        self.notes.push(note(kind, o, message));
    }

    /// The key of a resource: from its ID, else from its type and name.
    fn key(v: &Value, ty: &str, name: &str) -> Key {
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
                self.asgs.push(AsgE {
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

    fn duplicate(&mut self, o: &Origin, first: &Origin) {
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

    fn nsg(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
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
        self.nsgs.push(NsgE {
            key,
            name,
            id_name,
            origin: o,
            rules,
            subnet_refs,
            nic_refs,
        });
    }

    fn vnet(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
        if let Err(j) = self.vnet_idx.insert(&key, self.vnets.len()) {
            let first = self.vnets[j].origin.clone();
            self.duplicate(&o, &first);
            return;
        }
        let address_space = match field(v, "addressSpace") {
            None => Ok(Vec::new()),
            Some((a, f)) => evaluated(a, &f).and_then(|a| {
                list_field(a, "addressPrefixes").map_err(|p| match p {
                    Problem::Unevaluated {
                        field,
                        expression,
                        error,
                    } => Problem::Unevaluated {
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
        self.vnets.push(VnetE {
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

    fn peering(&mut self, p: &Value, vnet: &Key, o: &Origin) {
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

    fn subnet(&mut self, v: &Value, key: Key, vnet: Key, name: String, id_name: String, o: Origin) {
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
        self.subnets.push(SubnetE {
            key,
            vnet,
            name,
            id_name,
            origin: o,
            prefixes,
            nsg,
        });
    }

    fn nic(&mut self, v: &Value, key: Key, name: String, id_name: String, o: Origin) {
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
                    .map(|(i, c)| IpConfE {
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
        self.nics.push(NicE {
            key,
            name,
            id_name,
            origin: o,
            ipconfigs,
            nsg,
        });
    }
}

fn read_prefixes(v: &Value) -> Pr<Vec<String>> {
    let mut p = list_field(v, "addressPrefixes")?;
    for x in list_field(v, "addressPrefix")? {
        if !p.contains(&x) {
            p.push(x);
        }
    }
    Ok(p)
}

fn friendly(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "microsoft.network/networksecuritygroups" => "nsg",
        "microsoft.network/networksecuritygroups/securityrules" => "security rule",
        "microsoft.network/applicationsecuritygroups" => "asg",
        "microsoft.network/virtualnetworks" => "vnet",
        "microsoft.network/virtualnetworks/subnets" => "subnet",
        "microsoft.network/virtualnetworks/virtualnetworkpeerings" => "peering",
        "microsoft.network/networkinterfaces" => "nic",
        _ => return None,
    })
}

/// One side of a rule: address prefixes (singular and plural) and ASGs.
fn read_side(v: &Value, which: &str) -> Pr<Vec<SideItem>> {
    let mut items: Vec<SideItem> = Vec::new();
    let mut texts = list_field(v, &format!("{which}AddressPrefixes"))?;
    for x in list_field(v, &format!("{which}AddressPrefix"))? {
        if !texts.contains(&x) {
            texts.push(x);
        }
    }
    items.extend(texts.into_iter().map(SideItem::Text));
    let f = format!("{which}ApplicationSecurityGroups");
    for id in id_list(v, &f)? {
        match Key::parse(&id) {
            Some(k) => items.push(SideItem::Asg(k, Key::last_name(&id))),
            None => {
                return Err(Problem::Bad {
                    field: f,
                    message: format!("'{id}' is not an ASG resource ID"),
                })
            }
        }
    }
    // Lists grow to at least 4 items: a rule's lists are kept, so at their length.
    items.shrink_to_fit();
    Ok(items)
}

fn read_rule(v: &Value, o: &Origin) -> Pr<RuleE> {
    let missing = |f: &str| Problem::Bad {
        field: f.to_string(),
        message: "missing".to_string(),
    };
    let name = name_of(v)?.ok_or_else(|| missing("name"))?;
    let priority = int_field(v, "priority")?.ok_or_else(|| missing("properties.priority"))?;
    let direction = str_field(v, "direction")?.ok_or_else(|| missing("properties.direction"))?;
    let access = str_field(v, "access")?.ok_or_else(|| missing("properties.access"))?;
    let protocol = str_field(v, "protocol")?.ok_or_else(|| missing("properties.protocol"))?;
    let source = read_side(v, "source")?;
    if source.is_empty() {
        return Err(missing("properties.sourceAddressPrefix"));
    }
    let destination = read_side(v, "destination")?;
    if destination.is_empty() {
        return Err(missing("properties.destinationAddressPrefix"));
    }
    let mut sp = list_field(v, "sourcePortRanges")?;
    sp.extend(list_field(v, "sourcePortRange")?);
    let mut dp = list_field(v, "destinationPortRanges")?;
    dp.extend(list_field(v, "destinationPortRange")?);
    if dp.is_empty() {
        return Err(missing("properties.destinationPortRange"));
    }
    sp.shrink_to_fit();
    dp.shrink_to_fit();
    Ok(RuleE {
        origin: o.clone(),
        name,
        priority,
        direction,
        access,
        protocol,
        source,
        destination,
        source_ports: (!sp.is_empty()).then_some(sp),
        destination_ports: dp,
        description: str_field(v, "description").ok().flatten(),
    })
}

/// Unique names per kind, case-insensitively, as the policy requires.
#[derive(Default)]
struct Namer {
    used: HashSet<String>,
}

impl Namer {
    /// The first free candidate; numbered if none is free.
    fn take(&mut self, candidates: &[String]) -> String {
        for c in candidates {
            if !c.is_empty() && self.used.insert(c.to_ascii_lowercase()) {
                return c.clone();
            }
        }
        let base = candidates.first().cloned().unwrap_or_default();
        for n in 2.. {
            let c = format!("{base}-{n}");
            if self.used.insert(c.to_ascii_lowercase()) {
                return c;
            }
        }
        unreachable!("an unbounded range yields a free name")
    }
}

fn candidates(name: &str, id_name: &str, key: &Key) -> Vec<String> {
    let mut c = vec![name.to_string(), id_name.to_string()];
    if let Some(rg) = &key.rg {
        c.push(format!("{name}-{rg}"));
    }
    c
}

/// The policy built from the resources read, and where each item came from.
pub struct Built {
    pub raw: RawPolicy,
    pub origins: Origins,
    pub notes: Vec<Note>,
}

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
    fn referrer_file(&self, k: &Key) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_ids() {
        let k = Key::parse("/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/V1/subnets/S1").unwrap();
        assert_eq!(k.rg.as_deref(), Some("rg1"));
        assert_eq!(k.path, "microsoft.network/virtualnetworks/v1/subnets/s1");
        assert_eq!(k.type_name(), "microsoft.network/virtualnetworks/subnets");
        assert_eq!(
            k.parent().unwrap().path,
            "microsoft.network/virtualnetworks/v1"
        );
        // Batfish's IDs lack the leading slash and subscription.
        let k = Key::parse(
            "resourceGroups/test/providers/Microsoft.Network/networkSecurityGroups/NSG-VM",
        )
        .unwrap();
        assert_eq!(k.path, "microsoft.network/networksecuritygroups/nsg-vm");
        assert!(Key::parse("/subscriptions/s").is_none());
        // A template's resourceId() (no resource group) matches any group.
        let mut idx = Index::default();
        idx.insert(&k, 0).unwrap();
        let t = Key::parse("/providers/Microsoft.Network/networkSecurityGroups/nsg-vm").unwrap();
        assert_eq!(idx.find(&t), Some(0));
        let other = Key::parse(
            "/resourceGroups/prod/providers/Microsoft.Network/networkSecurityGroups/nsg-vm",
        )
        .unwrap();
        assert_eq!(idx.find(&other), None);
    }

    #[test]
    fn fields_under_properties_or_flattened() {
        let nested = serde_json::json!({"properties": {"privateIPAddress": " 10.0.0.4 "}});
        let flat = serde_json::json!({"privateIpAddress": "10.0.0.4"});
        assert_eq!(
            str_field(&nested, "privateIPAddress").unwrap().as_deref(),
            Some("10.0.0.4")
        );
        assert_eq!(
            str_field(&flat, "privateIPAddress").unwrap().as_deref(),
            Some("10.0.0.4")
        );
        let both = serde_json::json!({"properties": {"destinationPortRange": "", "destinationPortRanges": ["22-23", 80]}});
        assert_eq!(
            list_field(&both, "destinationPortRanges").unwrap(),
            ["22-23", "80"]
        );
        assert!(list_field(&both, "destinationPortRange")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn namer_keeps_names_unique() {
        let mut n = Namer::default();
        assert_eq!(n.take(&["a".into()]), "a");
        assert_eq!(n.take(&["A".into(), "b".into()]), "b");
        assert_eq!(n.take(&["a".into(), "B".into()]), "a-2");
    }
}

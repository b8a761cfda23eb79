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
use nsg_policy::raw::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

mod collect;
mod finish;

/// Why a field of a resource could not be read.
#[derive(Debug, Clone)]
enum FieldProblem {
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

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Unevaluated {
                field,
                expression,
                error,
            } => write!(
                f,
                "field {field} `{expression}` cannot be evaluated: {error}"
            ),
            FieldProblem::Bad { field, message } => write!(f, "field {field}: {message}"),
        }
    }
}

/// A field of a resource as read: its value, or why it could not be read.
type FieldResult<T> = Result<T, FieldProblem>;

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
fn evaluated<'a>(v: &'a Value, field: &str) -> FieldResult<&'a Value> {
    match as_unevaluated(v) {
        Some((e, why)) => Err(FieldProblem::Unevaluated {
            field: field.to_string(),
            expression: e.to_string(),
            error: why.to_string(),
        }),
        None => Ok(v),
    }
}

fn scalar(v: &Value, field: &str) -> FieldResult<Option<String>> {
    match evaluated(v, field)? {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Null => Ok(None),
        other => Err(FieldProblem::Bad {
            field: field.to_string(),
            message: format!("expected a string, found {other}"),
        }),
    }
}

fn str_field(obj: &Value, key: &str) -> FieldResult<Option<String>> {
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
    read: fn(&Value, &str) -> FieldResult<Option<String>>,
    lone: bool,
) -> FieldResult<Vec<String>> {
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
fn list_field(obj: &Value, key: &str) -> FieldResult<Vec<String>> {
    items(obj, key, scalar, true)
}

fn int_field(obj: &Value, key: &str) -> FieldResult<Option<i64>> {
    let Some((v, f)) = field(obj, key) else {
        return Ok(None);
    };
    match evaluated(v, &f)? {
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        other => Err(FieldProblem::Bad {
            field: f,
            message: format!("expected an integer, found {other}"),
        }),
    }
}

/// `{"id": ...}`.
fn id_of(v: &Value, field: &str) -> FieldResult<Option<String>> {
    match evaluated(v, field)? {
        Value::Object(o) => match get_ci(o, "id") {
            Some(id) => scalar(id, &format!("{field}.id")),
            None => Ok(None),
        },
        Value::String(s) => Ok(Some(s.clone())),
        _ => Ok(None),
    }
}

fn id_field(obj: &Value, key: &str) -> FieldResult<Option<String>> {
    match field(obj, key) {
        None => Ok(None),
        Some((v, f)) => id_of(v, &f),
    }
}

/// `[{"id": ...}, ...]`.
fn id_list(obj: &Value, key: &str) -> FieldResult<Vec<String>> {
    items(obj, key, id_of, false)
}

fn name_of(obj: &Value) -> FieldResult<Option<String>> {
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

/// A security rule as read from an NSG or a rule resource.
#[derive(Debug, Clone)]
struct RuleResource {
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

/// An NSG as read, with its rules and the subnets and NICs it names.
#[derive(Debug)]
struct NsgResource {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    rules: Vec<RuleResource>,
    subnet_refs: Vec<Key>,
    nic_refs: Vec<Key>,
}

/// A VNet as read, with its peerings.
#[derive(Debug)]
struct VnetResource {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    address_space: FieldResult<Vec<String>>,
    peers: Vec<(Key, String)>,
}

/// A subnet as read.
#[derive(Debug)]
struct SubnetResource {
    key: Key,
    vnet: Key,
    name: String,
    id_name: String,
    origin: Origin,
    prefixes: FieldResult<Vec<String>>,
    nsg: FieldResult<Option<String>>,
}

/// One IP configuration of a NIC as read.
#[derive(Debug)]
struct IpConfigResource {
    name: String,
    ip: FieldResult<Option<String>>,
    allocation: Option<String>,
    subnet: FieldResult<Option<String>>,
    asgs: FieldResult<Vec<String>>,
    primary: bool,
}

/// A NIC as read.
#[derive(Debug)]
struct NicResource {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
    ipconfigs: FieldResult<Vec<IpConfigResource>>,
    nsg: FieldResult<Option<String>>,
}

/// An ASG as read.
#[derive(Debug)]
struct AsgResource {
    key: Key,
    name: String,
    id_name: String,
    origin: Origin,
}

/// Collects resources, then builds the policy.
#[derive(Debug, Default)]
pub struct Builder {
    notes: Vec<Note>,
    nsgs: Vec<NsgResource>,
    nsg_idx: Index,
    vnets: Vec<VnetResource>,
    vnet_idx: Index,
    subnets: Vec<SubnetResource>,
    subnet_idx: Index,
    nics: Vec<NicResource>,
    nic_idx: Index,
    asgs: Vec<AsgResource>,
    asg_idx: Index,
    /// Rules given as resources of their own, with their NSG's key.
    loose_rules: Vec<(Key, RuleResource)>,
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

fn read_prefixes(v: &Value) -> FieldResult<Vec<String>> {
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
fn read_side(v: &Value, which: &str) -> FieldResult<Vec<SideItem>> {
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
                return Err(FieldProblem::Bad {
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

fn read_rule(v: &Value, o: &Origin) -> FieldResult<RuleResource> {
    let missing = |f: &str| FieldProblem::Bad {
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
    Ok(RuleResource {
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
    /// The policy as read, before validation.
    pub raw: RawPolicy,
    /// Where each item of the policy came from.
    pub origins: Origins,
    /// What was left out, renamed or ignored while reading and building.
    pub notes: Vec<Note>,
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

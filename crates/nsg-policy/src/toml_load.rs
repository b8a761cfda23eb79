//! Reading the TOML policy format of `docs/policy.md` into a [`RawPolicy`].
//!
//! The file is first parsed as TOML (a syntax error is reported with its line
//! and column), then walked by hand so that every unknown key, missing key and
//! mistyped value is reported, not only the first one serde would meet.

use crate::error::{Faults, Item, ItemName};
use crate::raw::*;
use toml::{Table, Value};

/// Parse TOML text into a raw policy, recording faults.
pub(crate) fn read(text: &str, faults: &mut Faults) -> Option<RawPolicy> {
    let table: Table = match text.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            let pos = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            faults.push_at(pos, format!("TOML syntax error: {}", e.message().trim()));
            return None;
        }
    };
    let mut r = Reader { faults };
    Some(r.policy(&table))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

struct Reader<'f> {
    faults: &'f mut Faults,
}

impl Reader<'_> {
    fn keys(&mut self, t: &Table, allowed: &[&str], item: &Item) {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                self.faults.push(
                    item,
                    format!("unknown key `{k}` (allowed: {})", allowed.join(", ")),
                );
            }
        }
    }

    fn required<T>(&mut self, v: Option<T>, t: &Table, key: &str, item: &Item) -> Option<T> {
        if v.is_none() && !t.contains_key(key) {
            self.faults
                .push(item, format!("missing required key `{key}`"));
        }
        v
    }

    fn string(&mut self, t: &Table, key: &str, item: &Item) -> Option<String> {
        match t.get(key)? {
            Value::String(s) => Some(s.clone()),
            v => {
                self.faults.push(
                    item,
                    format!("`{key}` must be a string, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, t: &Table, key: &str, item: &Item) -> bool {
        match t.get(key) {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(v) => {
                self.faults.push(
                    item,
                    format!("`{key}` must be true or false, found {}", type_name(v)),
                );
                false
            }
        }
    }

    fn integer(&mut self, t: &Table, key: &str, item: &Item) -> Option<i64> {
        match t.get(key)? {
            Value::Integer(i) => Some(*i),
            // Azure writes priorities as strings in some exports.
            Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            v => {
                self.faults.push(
                    item,
                    format!("`{key}` must be an integer, found {}", type_name(v)),
                );
                None
            }
        }
    }

    /// A string or a list of strings; with `ints`, integers too (ports).
    fn list(&mut self, t: &Table, key: &str, item: &Item, ints: bool) -> Option<Vec<String>> {
        let what = if ints {
            "a string, an integer or a list of them"
        } else {
            "a string or a list of strings"
        };
        let one = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) if ints => Some(i.to_string()),
            _ => None,
        };
        match t.get(key)? {
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for v in a {
                    match one(v) {
                        Some(s) => out.push(s),
                        None => {
                            self.faults.push(
                                item,
                                format!(
                                    "`{key}` must be {what}, found {} in the list",
                                    type_name(v)
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            v => match one(v) {
                Some(s) => Some(vec![s]),
                None => {
                    self.faults.push(
                        item,
                        format!("`{key}` must be {what}, found {}", type_name(v)),
                    );
                    None
                }
            },
        }
    }

    /// A required string-or-list key that must not be empty.
    fn req_list(&mut self, t: &Table, key: &str, item: &Item, ints: bool) -> Option<Vec<String>> {
        let v = self.list(t, key, item, ints);
        let v = self.required(v, t, key, item)?;
        if v.is_empty() {
            self.faults.push(item, format!("`{key}` is an empty list"));
            return None;
        }
        Some(v)
    }

    /// An array of tables such as `[[vnet]]`.
    /// `parent` is the item holding the array (none at the top level);
    /// `element` makes the item of a member from how faults name it.
    fn tables<'t>(
        &mut self,
        t: &'t Table,
        key: &str,
        parent: Option<&Item>,
        element: impl Fn(ItemName) -> Item,
    ) -> Vec<&'t Table> {
        let (item, header) = match parent {
            None => (Item::Other(key.to_string()), key.to_string()),
            Some(parent) => {
                let parent = parent.to_string();
                (
                    Item::Other(format!("{parent} {key}")),
                    format!("{}.{key}", parent.split(' ').next().unwrap_or(&parent)),
                )
            }
        };
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    match v {
                        Value::Table(t) => out.push(t),
                        v => self.faults.push(
                            &element(ItemName::Missing(i + 1)),
                            format!("must be a table ([[{header}]]), found {}", type_name(v)),
                        ),
                    }
                }
                out
            }
            Some(v) => {
                self.faults.push(
                    &item,
                    format!(
                        "`{key}` must be an array of tables ([[{header}]]), found {}",
                        type_name(v)
                    ),
                );
                Vec::new()
            }
        }
    }

    /// The name of the `index`th table of a list and the item faults name
    /// it by, made by `item` from how faults name a list member.
    fn item_name(
        &mut self,
        t: &Table,
        index: usize,
        item: impl Fn(ItemName) -> Item,
    ) -> (Option<String>, Item) {
        let fallback = item(ItemName::Missing(index + 1));
        let name = self.string(t, "name", &fallback);
        let item = item(ItemName::of(name.as_deref(), index));
        let name = self.required(name, t, "name", &item);
        (name, item)
    }

    fn policy(&mut self, t: &Table) -> RawPolicy {
        self.keys(
            t,
            &[
                "service_tags",
                "allow_cross_vnet_asg",
                "vnet",
                "subnet",
                "asg",
                "nic",
                "nsg",
            ],
            &Item::Policy,
        );
        let mut p = RawPolicy {
            service_tags: self.string(t, "service_tags", &Item::Policy),
            allow_cross_vnet_asg: self.boolean(t, "allow_cross_vnet_asg", &Item::Policy),
            ..RawPolicy::default()
        };
        let tables = self.tables(t, "vnet", None, Item::VNet);
        for (i, v) in tables.into_iter().enumerate() {
            p.vnets.push(self.vnet(v, i));
        }
        let tables = self.tables(t, "subnet", None, Item::Subnet);
        for (i, v) in tables.into_iter().enumerate() {
            p.subnets.push(self.subnet(v, i));
        }
        let tables = self.tables(t, "asg", None, Item::Asg);
        for (i, v) in tables.into_iter().enumerate() {
            let (name, item) = self.item_name(v, i, Item::Asg);
            self.keys(v, &["name"], &item);
            p.asgs.push(RawAsg { name });
        }
        let tables = self.tables(t, "nic", None, Item::Nic);
        for (i, v) in tables.into_iter().enumerate() {
            p.nics.push(self.nic(v, i));
        }
        let tables = self.tables(t, "nsg", None, Item::Nsg);
        for (i, v) in tables.into_iter().enumerate() {
            p.nsgs.push(self.nsg(v, i));
        }
        p
    }

    /// The `i`th `[[vnet]]` table.
    fn vnet(&mut self, v: &Table, i: usize) -> RawVNet {
        let (name, item) = self.item_name(v, i, Item::VNet);
        self.keys(
            v,
            &[
                "name",
                "address_space",
                "peerings",
                "on_premises",
                "flow_timeout_minutes",
            ],
            &item,
        );
        let address_space = self.req_list(v, "address_space", &item, false);
        RawVNet {
            name,
            address_space: address_space.unwrap_or_default(),
            peerings: self.list(v, "peerings", &item, false).unwrap_or_default(),
            on_premises: self
                .list(v, "on_premises", &item, false)
                .unwrap_or_default(),
            flow_timeout_minutes: self.integer(v, "flow_timeout_minutes", &item),
        }
    }

    /// The `i`th `[[subnet]]` table.
    fn subnet(&mut self, v: &Table, i: usize) -> RawSubnet {
        let (name, item) = self.item_name(v, i, Item::Subnet);
        self.keys(v, &["name", "vnet", "prefixes", "nsg"], &item);
        let vnet = self.string(v, "vnet", &item);
        let prefixes = self.req_list(v, "prefixes", &item, false);
        RawSubnet {
            name,
            vnet: self.required(vnet, v, "vnet", &item),
            prefixes: prefixes.unwrap_or_default(),
            nsg: self.string(v, "nsg", &item),
        }
    }

    /// The `i`th `[[nic]]` table.
    fn nic(&mut self, v: &Table, i: usize) -> RawNic {
        let (name, item) = self.item_name(v, i, Item::Nic);
        self.keys(v, &["name", "subnet", "ips", "asgs", "nsg", "mac"], &item);
        let subnet = self.string(v, "subnet", &item);
        let ips = self.req_list(v, "ips", &item, false);
        RawNic {
            name,
            subnet: self.required(subnet, v, "subnet", &item),
            ips: ips.unwrap_or_default(),
            asgs: self.list(v, "asgs", &item, false).unwrap_or_default(),
            nsg: self.string(v, "nsg", &item),
            mac: self.string(v, "mac", &item),
        }
    }

    /// The `i`th `[[nsg]]` table, with its `[[nsg.rule]]` tables.
    fn nsg(&mut self, v: &Table, i: usize) -> RawNsg {
        let (name, item) = self.item_name(v, i, Item::Nsg);
        let nsg_name = ItemName::of(name.as_deref(), i);
        self.keys(v, &["name", "flush_connections", "rule"], &item);
        let mut nsg = RawNsg {
            name,
            flush_connections: self.boolean(v, "flush_connections", &item),
            rules: Vec::new(),
        };
        let rule_item = |rule| Item::Rule {
            nsg: nsg_name.clone(),
            rule,
        };
        let tables = self.tables(v, "rule", Some(&item), rule_item);
        for (j, r) in tables.into_iter().enumerate() {
            nsg.rules.push(self.rule(r, j, rule_item));
        }
        nsg
    }

    /// The `j`th `[[nsg.rule]]` table of an NSG; `rule_item` makes the
    /// item faults name it by.
    fn rule(&mut self, r: &Table, j: usize, rule_item: impl Fn(ItemName) -> Item) -> RawRule {
        let (rname, ritem) = self.item_name(r, j, rule_item);
        self.keys(
            r,
            &[
                "name",
                "priority",
                "direction",
                "access",
                "protocol",
                "source",
                "source_ports",
                "destination",
                "destination_ports",
                "description",
            ],
            &ritem,
        );
        let priority = self.integer(r, "priority", &ritem);
        let direction = self.string(r, "direction", &ritem);
        let access = self.string(r, "access", &ritem);
        let protocol = self.string(r, "protocol", &ritem);
        let source = self.req_list(r, "source", &ritem, false);
        let destination = self.req_list(r, "destination", &ritem, false);
        let destination_ports = self.req_list(r, "destination_ports", &ritem, true);
        RawRule {
            name: rname,
            priority: self.required(priority, r, "priority", &ritem),
            direction: self.required(direction, r, "direction", &ritem),
            access: self.required(access, r, "access", &ritem),
            protocol: self.required(protocol, r, "protocol", &ritem),
            source,
            source_ports: self.list(r, "source_ports", &ritem, true),
            destination,
            destination_ports,
            description: self.string(r, "description", &ritem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn syntax_error_has_line_and_column() {
        let mut f = Faults::new(Path::new("p.toml"));
        assert!(read("[[vnet]]\nname = \"a\"\nname = = 3\n", &mut f).is_none());
        let fault = &f.list[0];
        assert_eq!(fault.position.map(|p| p.0), Some(3), "{fault}");
        assert!(fault.to_string().starts_with("p.toml:3:"), "{fault}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}

//! Writing a [`RawPolicy`] as the TOML policy format of `docs/policy.md`, so
//! that reading it back gives the same raw policy.

use crate::raw::*;
use std::fmt::Write;

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

/// The policy as TOML. `header` lines are written first as comments.
pub fn to_toml(raw: &RawPolicy, header: &[String]) -> String {
    let mut s = String::new();
    for h in header {
        for line in h.lines() {
            let _ = writeln!(s, "# {line}");
        }
    }
    if !header.is_empty() {
        s.push('\n');
    }
    let name = |n: &Option<String>| quote(n.as_deref().unwrap_or_default());
    if let Some(t) = &raw.service_tags {
        let _ = writeln!(s, "service_tags = {}", quote(t));
    }
    if raw.allow_cross_vnet_asg {
        s.push_str("allow_cross_vnet_asg = true\n");
    }
    for v in &raw.vnets {
        let _ = write!(
            s,
            "\n[[vnet]]\nname = {}\naddress_space = {}\n",
            name(&v.name),
            list(&v.address_space)
        );
        if !v.peerings.is_empty() {
            let _ = writeln!(s, "peerings = {}", list(&v.peerings));
        }
        if !v.on_premises.is_empty() {
            let _ = writeln!(s, "on_premises = {}", list(&v.on_premises));
        }
        if let Some(t) = v.flow_timeout_minutes {
            let _ = writeln!(s, "flow_timeout_minutes = {t}");
        }
    }
    for n in &raw.subnets {
        let _ = write!(
            s,
            "\n[[subnet]]\nname = {}\nvnet = {}\nprefixes = {}\n",
            name(&n.name),
            name(&n.vnet),
            list(&n.prefixes)
        );
        if let Some(g) = &n.nsg {
            let _ = writeln!(s, "nsg = {}", quote(g));
        }
    }
    for a in &raw.asgs {
        let _ = write!(s, "\n[[asg]]\nname = {}\n", name(&a.name));
    }
    for n in &raw.nics {
        let _ = write!(
            s,
            "\n[[nic]]\nname = {}\nsubnet = {}\nips = {}\n",
            name(&n.name),
            name(&n.subnet),
            list(&n.ips)
        );
        if !n.asgs.is_empty() {
            let _ = writeln!(s, "asgs = {}", list(&n.asgs));
        }
        if let Some(g) = &n.nsg {
            let _ = writeln!(s, "nsg = {}", quote(g));
        }
        if let Some(m) = &n.mac {
            let _ = writeln!(s, "mac = {}", quote(m));
        }
    }
    for g in &raw.nsgs {
        let _ = write!(s, "\n[[nsg]]\nname = {}\n", name(&g.name));
        if g.flush_connections {
            s.push_str("flush_connections = true\n");
        }
        for r in &g.rules {
            write_rule(&mut s, r);
        }
    }
    s
}

/// One `[[nsg.rule]]` table, with the keys the rule has.
fn write_rule(s: &mut String, r: &RawRule) {
    let _ = write!(
        s,
        "\n[[nsg.rule]]\nname = {}\n",
        quote(r.name.as_deref().unwrap_or_default())
    );
    if let Some(p) = r.priority {
        let _ = writeln!(s, "priority = {p}");
    }
    for (k, v) in [
        ("direction", &r.direction),
        ("access", &r.access),
        ("protocol", &r.protocol),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "{k} = {}", quote(v));
        }
    }
    for (k, v) in [
        ("source", &r.source),
        ("source_ports", &r.source_ports),
        ("destination", &r.destination),
        ("destination_ports", &r.destination_ports),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "{k} = {}", list(v));
        }
    }
    if let Some(d) = &r.description {
        let _ = writeln!(s, "description = {}", quote(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Faults;
    use std::path::Path;

    #[test]
    fn round_trips_through_the_loader() {
        let raw = RawPolicy {
            service_tags: Some("../tags \"x\".json".into()),
            allow_cross_vnet_asg: true,
            vnets: vec![RawVNet {
                name: Some("V1".into()),
                address_space: vec!["10.0.0.0/16".into()],
                peerings: vec!["V2".into()],
                on_premises: vec!["192.168.0.0/16".into()],
                flow_timeout_minutes: Some(10),
            }],
            subnets: vec![RawSubnet {
                name: Some("S".into()),
                vnet: Some("V1".into()),
                prefixes: vec!["10.0.1.0/24".into()],
                nsg: Some("G".into()),
            }],
            asgs: vec![RawAsg {
                name: Some("A\\B".into()),
            }],
            nics: vec![RawNic {
                name: Some("N".into()),
                subnet: Some("S".into()),
                ips: vec!["10.0.1.4".into()],
                asgs: vec!["A\\B".into()],
                nsg: None,
                mac: Some("02:00:00:00:00:01".into()),
            }],
            nsgs: vec![RawNsg {
                name: Some("G".into()),
                flush_connections: true,
                rules: vec![RawRule {
                    name: Some("r\u{1}\n\"q\"".into()),
                    priority: Some(100),
                    direction: Some("Inbound".into()),
                    access: Some("Allow".into()),
                    protocol: Some("Tcp".into()),
                    source: Some(vec!["Internet".into()]),
                    source_ports: None,
                    destination: Some(vec!["*".into()]),
                    destination_ports: Some(vec!["80".into(), "1000-2000".into()]),
                    description: Some("tab\there".into()),
                }],
            }],
        };
        let text = to_toml(&raw, &["imported\nfrom x".into()]);
        let mut f = Faults::new(Path::new("p.toml"));
        let back = crate::toml_load::read(&text, &mut f).expect("parses");
        assert!(f.is_empty(), "{:?}\n{text}", f.list);
        assert_eq!(back, raw, "{text}");
    }
}

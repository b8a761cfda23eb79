//! Names as Azure validates them, in Azure JSON: an import leaves an item
//! whose name Azure would refuse out with a note, so the TOML `nsg import`
//! writes always loads back.

use nsg_azure::{import, ImportOptions, Imported, NoteKind};
use nsg_policy::toml_write::to_toml;
use nsg_policy::{load_str, LoadOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[path = "../../nsg-policy/tests/shared/bad_names.rs"]
mod bad_names;
use bad_names::{BAD, SHOWN};

const SUB: &str = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-names-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rule(name: &str, priority: u32) -> Value {
    json!({"name": name, "priority": priority, "direction": "Inbound", "access": "Allow",
           "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*",
           "destinationAddressPrefix": "*", "destinationPortRange": "80"})
}

fn nsg(name: &str, rules: Vec<Value>) -> Value {
    json!({"id": format!("{SUB}/networkSecurityGroups/{name}"), "name": name,
           "type": "Microsoft.Network/networkSecurityGroups", "securityRules": rules})
}

fn nic(name: &str, ip: &str, subnet: &str, asg: Option<&str>) -> Value {
    let mut cfg = json!({"name": "ipconfig1", "privateIpAddress": ip,
                         "privateIpAllocationMethod": "Static",
                         "subnet": {"id": format!("{SUB}/virtualNetworks/VNet1/subnets/{subnet}")}});
    if let Some(a) = asg {
        cfg["applicationSecurityGroups"] =
            json!([{"id": format!("{SUB}/applicationSecurityGroups/{a}")}]);
    }
    json!({"id": format!("{SUB}/networkInterfaces/{name}"), "name": name,
           "type": "Microsoft.Network/networkInterfaces", "ipConfigurations": [cfg]})
}

/// `az ... list` output with every bad name on NSGs, rules, NICs, ASGs, a
/// subnet and a VNet, beside good items that must still import.
fn inputs() -> Vec<Value> {
    let mut nsgs: Vec<Value> = BAD.iter().map(|n| nsg(n, vec![rule("R1", 100)])).collect();
    let mut rules = vec![rule("Good-Rule", 100)];
    rules.extend(BAD.iter().zip(200..).map(|(n, p)| rule(n, p)));
    nsgs.push(nsg("Good", rules));
    let vnet = |name: &str, space: &str, subnets: Value| {
        json!({"id": format!("{SUB}/virtualNetworks/{name}"), "name": name,
               "type": "Microsoft.Network/virtualNetworks",
               "addressSpace": {"addressPrefixes": [space]}, "subnets": subnets})
    };
    let subnet = |name: &str, prefix: &str| {
        json!({"id": format!("{SUB}/virtualNetworks/VNet1/subnets/{name}"), "name": name,
               "addressPrefix": prefix})
    };
    let vnets = json!([
        vnet(
            "VNet1",
            "10.0.0.0/16",
            json!([
                subnet("default", "10.0.1.0/24"),
                subnet("bad\u{1}", "10.0.2.0/24")
            ])
        ),
        vnet("\u{202e}v", "10.9.0.0/16", json!([])),
    ]);
    let mut nics = vec![nic("web1", "10.0.1.4", "default", Some("AsgWeb"))];
    nics.extend(
        BAD.iter()
            .zip(10..)
            .map(|(n, i)| nic(n, &format!("10.0.1.{i}"), "default", None)),
    );
    nics.push(nic("in-bad-subnet", "10.0.2.4", "bad\u{1}", None));
    nics.push(nic("web2", "10.0.1.5", "default", Some("\u{0}")));
    let asgs = json!([
        {"id": format!("{SUB}/applicationSecurityGroups/AsgWeb"), "name": "AsgWeb",
         "type": "Microsoft.Network/applicationSecurityGroups"},
        {"id": format!("{SUB}/applicationSecurityGroups/\u{0}"), "name": "\u{0}",
         "type": "Microsoft.Network/applicationSecurityGroups"},
    ]);
    vec![Value::Array(nsgs), vnets, Value::Array(nics), asgs]
}

fn notes(i: &Imported) -> String {
    let n: Vec<String> = i.report.notes.iter().map(|n| n.to_string()).collect();
    n.join("\n")
}

#[test]
fn import_leaves_badly_named_items_out_and_its_toml_loads_back() {
    let d = dir("import");
    let paths: Vec<PathBuf> = inputs()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = d.join(format!("{i}.json"));
            std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
            p
        })
        .collect();
    let i = match import(&paths, &ImportOptions::default()) {
        Ok(i) => i,
        Err(e) => panic!("import refused:\n{e}"),
    };
    let all = notes(&i);
    let r = &i.raw;
    let names =
        |v: Vec<Option<&String>>| -> Vec<String> { v.into_iter().flatten().cloned().collect() };
    assert_eq!(
        names(r.nsgs.iter().map(|g| g.name.as_ref()).collect()),
        ["Good"],
        "{all}"
    );
    let good = &r.nsgs[0];
    let rules: Vec<_> = good.rules.iter().filter_map(|x| x.name.clone()).collect();
    assert_eq!(rules, ["Good-Rule"], "{all}");
    assert_eq!(
        names(r.vnets.iter().map(|v| v.name.as_ref()).collect()),
        ["VNet1"],
        "{all}"
    );
    assert_eq!(
        names(r.subnets.iter().map(|v| v.name.as_ref()).collect()),
        ["default"],
        "{all}"
    );
    assert_eq!(
        names(r.asgs.iter().map(|v| v.name.as_ref()).collect()),
        ["AsgWeb"],
        "{all}"
    );
    assert_eq!(
        names(r.nics.iter().map(|v| v.name.as_ref()).collect()),
        ["web1", "web2"],
        "{all}"
    );
    // web2 keeps its place, without the ASG that was left out.
    assert!(r.nics[1].asgs.is_empty(), "{:?}", r.nics[1].asgs);
    // Every bad name is in a skipped note, escaped, with what is wrong.
    let skipped: Vec<String> = i.report.lines(Some(NoteKind::Skipped));
    // A name of white space only is no name to the reader of Azure's JSON:
    // those items are skipped before validation, with a note.
    for gone in ["the resource has no name", "field name: missing"] {
        assert!(
            skipped.iter().any(|n| n.contains(gone)),
            "no note says {gone}:\n{all}"
        );
    }
    for s in [SHOWN[0], SHOWN[3], SHOWN[4]] {
        for what in ["NSG left out", "NIC left out", "rule skipped"] {
            let name = format!("name {s} has");
            assert!(
                skipped.iter().any(|n| n.contains(&name)
                    && n.contains("names take only ASCII")
                    && n.contains(what)),
                "no note says {what} for {s}:\n{all}"
            );
        }
    }
    for (what, s) in [
        ("ASG left out", r#""\0""#),
        ("subnet left out", r#""bad\u{1}""#),
        ("VNet left out", r#""\u{202e}v""#),
    ] {
        let name = format!("name {s} has");
        assert!(
            skipped
                .iter()
                .any(|n| n.contains(&name) && n.contains(what)),
            "no note says {what} for {s}:\n{all}"
        );
    }
    // Notes show no raw control or override character.
    for n in &i.report.notes {
        let text = n.to_string();
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
    }
    // What `nsg import` writes loads back, to the same policy.
    let text = to_toml(&i.raw, &[i.summary()]);
    let back = match load_str(&text, Path::new("back.toml"), &LoadOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("the written TOML does not load back:\n{e}\n{text}"),
    };
    assert_eq!(back.nsgs.len(), i.policy.nsgs.len());
    assert_eq!(back.nics.len(), i.policy.nics.len());
    assert_eq!(back.user_rule_count(), i.policy.user_rule_count());
    std::fs::remove_dir_all(&d).unwrap();
}

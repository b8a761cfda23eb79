//! Names as Azure validates them, in TOML and in Azure JSON: a name Azure
//! would refuse is a fault naming the item with its characters escaped, and
//! an import leaves the item out with a note, so the TOML `nsg import` writes
//! always loads back.

use nsg_policy::azure::{import, ImportOptions, Imported, NoteKind};
use nsg_policy::toml_write::to_toml;
use nsg_policy::{load_str, LoadOptions, PolicyError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Names Azure refuses that the policy once accepted: a control character, a
/// tab, a space, a NUL, a right-to-left override first.
const BAD: [&str; 5] = ["n\u{1}x", "\t", " ", "\0", "\u{202e}abc"];
/// How each shows in faults and notes.
const SHOWN: [&str; 5] = [
    r#""n\u{1}x""#,
    r#""\t""#,
    r#"" ""#,
    r#""\0""#,
    r#""\u{202e}abc""#,
];

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
    let skipped: Vec<String> = i
        .report
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Skipped)
        .map(|n| n.to_string())
        .collect();
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

const BASE: &str = r#"
[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16"]

[[subnet]]
name = "Subnet1"
vnet = "VNet1"
prefixes = ["10.0.1.0/24"]

[[nic]]
name = "NIC1"
subnet = "Subnet1"
ips = ["10.0.1.4"]
mac = "02:00:00:00:01:04"

[[nsg]]
name = "NSG1"

[[nsg.rule]]
name = "R1"
priority = 100
direction = "inbound"
access = "allow"
protocol = "tcp"
source = "*"
destination = "*"
destination_ports = "80"
"#;

fn refused(text: &str) -> PolicyError {
    match load_str(text, Path::new("t.toml"), &LoadOptions::default()) {
        Ok(_) => panic!("expected a refusal:\n{text}"),
        Err(e) => e,
    }
}

/// Some fault is of `item` and holds every one of `parts`.
#[track_caller]
fn has(e: &PolicyError, item: &str, parts: &[&str]) {
    assert!(
        e.faults
            .iter()
            .any(|f| f.item == item && parts.iter().all(|p| f.message.contains(p))),
        "no fault of item {item:?} holds {parts:?}:\n{e}"
    );
}

/// A TOML basic string for a name.
fn toml_str(s: &str) -> String {
    nsg_policy::toml_write::quote(s)
}

#[test]
fn toml_names_azure_refuses_are_faults_naming_the_item_escaped() {
    for (bad, shown) in BAD.iter().zip(SHOWN) {
        let q = toml_str(bad);
        let e = refused(&BASE.replace("\"NSG1\"", &q));
        has(
            &e,
            &format!("nsg {shown}"),
            &[shown, "names take only ASCII"],
        );
        let e = refused(&BASE.replace("\"R1\"", &q));
        has(
            &e,
            &format!("nsg NSG1 rule {shown}"),
            &["names take only ASCII"],
        );
        let e = refused(&BASE.replace("\"NIC1\"", &q));
        has(&e, &format!("nic {shown}"), &["names take only ASCII"]);
        let e = refused(&BASE.replace("\"Subnet1\"", &q));
        has(&e, &format!("subnet {shown}"), &["names take only ASCII"]);
        let e = refused(&BASE.replace("\"VNet1\"", &q));
        has(&e, &format!("vnet {shown}"), &["names take only ASCII"]);
        // The whole refusal shows no raw control character.
        let text = e.to_string().replace('\n', "");
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
    }
}

#[test]
fn toml_name_lengths_and_ends_per_kind() {
    // A VNet name is 2 to 64 characters, the others 1 to 80.
    let e = refused(&BASE.replace("\"VNet1\"", "\"V\""));
    has(&e, "vnet V", &["must be 2 to 64 characters, has 1"]);
    let v65 = "V".repeat(65);
    let e = refused(&BASE.replace("\"VNet1\"", &format!("\"{v65}\"")));
    has(
        &e,
        &format!("vnet {v65}"),
        &["must be 2 to 64 characters, has 65"],
    );
    let v64 = "V".repeat(64);
    load_str(
        &BASE.replace("\"VNet1\"", &format!("\"{v64}\"")),
        Path::new("t.toml"),
        &LoadOptions::default(),
    )
    .unwrap();
    for (kind, from) in [
        ("subnet", "\"Subnet1\""),
        ("nic", "\"NIC1\""),
        ("nsg", "\"NSG1\""),
    ] {
        let ok = BASE.replace(from, "\"S\"");
        load_str(&ok, Path::new("t.toml"), &LoadOptions::default()).unwrap();
        let n81 = "n".repeat(81);
        let e = refused(&BASE.replace(from, &format!("\"{n81}\"")));
        has(
            &e,
            &format!("{kind} {n81}"),
            &["must be 1 to 80 characters, has 81"],
        );
    }
    // Starts with a letter or digit; ends with a letter, digit or `_`.
    let e = refused(&BASE.replace("\"R1\"", "\"-R1\""));
    has(&e, "nsg NSG1 rule -R1", &["starts with '-'"]);
    let e = refused(&BASE.replace("\"NSG1\"", "\"NSG1.\""));
    has(&e, "nsg NSG1.", &["ends with '.'"]);
    let ok = BASE.replace("\"NSG1\"", "\"1.nsg_-x_\"");
    load_str(&ok, Path::new("t.toml"), &LoadOptions::default()).unwrap();
}

//! Names as Azure validates them, in TOML: a name Azure would refuse is a
//! fault naming the item with its characters escaped. (The same names in Azure
//! JSON: nsg-azure's tests/names.rs.)

use nsg_policy::{load_str, LoadOptions, PolicyError};
use std::path::Path;

#[path = "shared/bad_names.rs"]
mod bad_names;
use bad_names::{BAD, SHOWN};

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

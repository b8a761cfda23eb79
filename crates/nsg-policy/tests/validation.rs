//! One test per validation rule of `docs/policy.md` ("What is checked") and
//! validate.rs: each loads a small broken policy and checks that it is
//! refused with a fault naming the item and what is wrong. A proptest at the
//! end mutates a valid policy at random and checks that loading never
//! panics.

use nsg_policy::{load_str, Fault, LoadOptions, Policy, PolicyError, Ports, Protocol, Side};
use proptest::prelude::*;
use std::path::Path;

/// A small valid policy: one dual-stack VNet, one subnet with NSG1, one ASG,
/// one NIC and one rule. The last table is NSG1's rule R1, so text appended
/// after it with `[[nsg.rule]]` adds rules to NSG1.
const BASE: &str = r#"
[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16", "fd00:1::/48"]

[[subnet]]
name = "Subnet1"
vnet = "VNet1"
prefixes = ["10.0.1.0/24", "fd00:1:0:1::/64"]
nsg = "NSG1"

[[asg]]
name = "AsgWeb"

[[nic]]
name = "NIC1"
subnet = "Subnet1"
ips = ["10.0.1.4", "fd00:1:0:1::4"]
asgs = ["AsgWeb"]
mac = "02:00:00:00:01:04"

[[nsg]]
name = "NSG1"

[[nsg.rule]]
name = "R1"
priority = 100
direction = "inbound"
access = "allow"
protocol = "tcp"
source = "Internet"
destination = "AsgWeb"
destination_ports = ["80", "443"]
"#;

fn load(text: &str) -> Result<Policy, PolicyError> {
    load_str(text, Path::new("t.toml"), &LoadOptions::default())
}

/// The policy must load.
#[track_caller]
fn ok(text: &str) -> Policy {
    match load(text) {
        Ok(p) => p,
        Err(e) => panic!("expected the policy to load, got:\n{e}\n--- policy ---\n{text}"),
    }
}

/// The policy must be refused; returns its faults, each checked to name the file.
#[track_caller]
fn refused(text: &str) -> Vec<Fault> {
    match load(text) {
        Ok(_) => panic!("expected the policy to be refused:\n{text}"),
        Err(e) => {
            assert!(!e.faults.is_empty(), "an error without faults");
            for f in &e.faults {
                assert_eq!(f.file, Path::new("t.toml"), "{f}");
                assert!(f.to_string().starts_with("t.toml"), "{f}");
            }
            e.faults
        }
    }
}

/// The policy must be refused with a fault whose text (file, item and
/// message) contains every needle.
#[track_caller]
fn fault(text: &str, needles: &[&str]) {
    let faults = refused(text);
    let shown: Vec<String> = faults.iter().map(|f| f.to_string()).collect();
    assert!(
        shown.iter().any(|f| needles.iter().all(|n| f.contains(n))),
        "no fault contains all of {needles:?}; faults:\n{}\n--- policy ---\n{text}",
        shown.join("\n")
    );
}

/// The policy must be refused with a fault of exactly this item whose message
/// contains every needle.
#[track_caller]
fn fault_at(text: &str, item: &str, needles: &[&str]) {
    let faults = refused(text);
    assert!(
        faults
            .iter()
            .any(|f| f.item == item && needles.iter().all(|n| f.message.contains(n))),
        "no fault of item {item:?} contains all of {needles:?}; faults:\n{}\n--- policy ---\n{text}",
        faults
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// BASE with one more rule in NSG1.
fn with_rule(rule: &str) -> String {
    format!("{BASE}\n[[nsg.rule]]\n{rule}\n")
}

/// The TOML of a rule named R2 at priority 200, with the given fields.
fn rule2(protocol: &str, source: &str, destination: &str, ports: &str) -> String {
    with_rule(&format!(
        r#"name = "R2"
priority = 200
direction = "inbound"
access = "allow"
protocol = "{protocol}"
source = {source}
destination = {destination}
destination_ports = {ports}"#
    ))
}

fn rule_by_name<'p>(p: &'p Policy, nsg: &str, name: &str) -> &'p nsg_policy::Rule {
    let g = &p.nsgs[p.nsg_by_name(nsg).expect("nsg")];
    g.inbound
        .iter()
        .chain(g.outbound.iter())
        .find(|r| r.name == name)
        .expect("rule")
}

#[test]
fn base_policy_loads() {
    let p = ok(BASE);
    assert_eq!(p.nics.len(), 1);
    // Three inbound defaults plus R1; three outbound defaults.
    assert_eq!(p.nsgs[0].inbound.len(), 4);
    assert_eq!(p.nsgs[0].outbound.len(), 3);
}

// --- names ------------------------------------------------------------------

#[test]
fn name_of_zero_characters() {
    fault(
        &BASE
            .replace("name = \"VNet1\"", "name = \"\"")
            .replace("vnet = \"VNet1\"", "vnet = \"\""),
        &["vnet", "must be 2 to 64 characters, has 0"],
    );
    fault_at(
        &BASE.replace("name = \"R1\"", "name = \"\""),
        "nsg NSG1 rule \"\" (#1)",
        &["must be 1 to 80 characters, has 0"],
    );
}

#[test]
fn name_of_81_characters() {
    let long = "N".repeat(81);
    let text = BASE.replace("\"NSG1\"", &format!("\"{long}\""));
    fault_at(
        &text,
        &format!("nsg {long}"),
        &["1 to 80 characters, has 81"],
    );
    let text = BASE.replace("name = \"R1\"", &format!("name = \"{long}\""));
    fault_at(
        &text,
        &format!("nsg NSG1 rule {long}"),
        &["1 to 80 characters, has 81"],
    );
    // 80 characters are fine.
    let max = "N".repeat(80);
    ok(&BASE.replace("\"NSG1\"", &format!("\"{max}\"")));
    // Names are ASCII: a letter outside ASCII is refused, named.
    fault_at(
        &BASE.replace("\"AsgWeb\"", "\"Asgé\""),
        "asg \"Asgé\"",
        &["'é' at character 4", "ASCII letters"],
    );
}

#[test]
fn name_with_slash() {
    fault_at(
        &BASE.replace("\"Subnet1\"", "\"Sub/net1\""),
        "subnet Sub/net1",
        &["name 'Sub/net1' has '/' at character 4"],
    );
    fault_at(
        &BASE.replace("name = \"R1\"", "name = \"Allow/HTTP\""),
        "nsg NSG1 rule Allow/HTTP",
        &["has '/' at character 6"],
    );
    fault_at(
        &BASE.replace("\"NIC1\"", "\"NIC/1\""),
        "nic NIC/1",
        &["has '/' at character 4"],
    );
    // Spaces and other punctuation are refused as Azure refuses them; the
    // item quotes a name with a space.
    fault_at(
        &BASE.replace("name = \"R1\"", "name = \"ALLOW AzureMngmt (mgmt)\""),
        "nsg NSG1 rule \"ALLOW AzureMngmt (mgmt)\"",
        &["has ' ' at character 6"],
    );
}

#[test]
fn duplicate_names_per_kind_are_case_insensitive() {
    let vnet = format!("{BASE}\n[[vnet]]\nname = \"vnet1\"\naddress_space = [\"10.9.0.0/16\"]\n");
    fault_at(&vnet, "vnet vnet1", &["duplicate vnet name 'vnet1'"]);
    let subnet = format!(
        "{BASE}\n[[subnet]]\nname = \"SUBNET1\"\nvnet = \"VNet1\"\nprefixes = [\"10.0.2.0/24\"]\n"
    );
    fault_at(
        &subnet,
        "subnet SUBNET1",
        &["duplicate subnet name 'SUBNET1'"],
    );
    let asg = format!("{BASE}\n[[asg]]\nname = \"asgweb\"\n");
    fault_at(&asg, "asg asgweb", &["duplicate asg name 'asgweb'"]);
    let nic =
        format!("{BASE}\n[[nic]]\nname = \"nic1\"\nsubnet = \"Subnet1\"\nips = [\"10.0.1.5\"]\n");
    fault_at(&nic, "nic nic1", &["duplicate nic name 'nic1'"]);
    let nsg = format!("{BASE}\n[[nsg]]\nname = \"Nsg1\"\n");
    fault_at(&nsg, "nsg Nsg1", &["duplicate nsg name 'Nsg1'"]);
    // The same name for items of different kinds is fine.
    ok(&format!(
        "{BASE}\n[[asg]]\nname = \"Subnet1\"\n[[nsg]]\nname = \"VNet1\"\n"
    ));
}

#[test]
fn duplicate_rule_names_in_an_nsg() {
    let text = with_rule(
        r#"name = "r1"
priority = 200
direction = "outbound"
access = "deny"
protocol = "udp"
source = "*"
destination = "*"
destination_ports = "53""#,
    );
    fault_at(
        &text,
        "nsg NSG1 rule r1",
        &["duplicate rule name 'r1' in nsg NSG1"],
    );
    // The same rule name in another NSG is fine.
    ok(&format!(
        "{BASE}\n[[nsg]]\nname = \"NSG2\"\n[[nsg.rule]]\nname = \"R1\"\npriority = 100\ndirection = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\ndestination = \"*\"\ndestination_ports = 22\n"
    ));
}

#[test]
fn asg_named_like_a_service_tag() {
    for tag in [
        "Internet",
        "virtualnetwork",
        "AZURE_LOADBALANCER",
        "VIRTUAL_NETWORK",
        "AzurePlatformDNS",
    ] {
        let text = BASE.replace("\"AsgWeb\"", &format!("\"{tag}\""));
        fault_at(&text, &format!("asg {tag}"), &["is a service tag name"]);
    }
}

#[test]
fn asg_named_star_any_or_an_address() {
    for name in ["*", "any", "ANY", "10.0.0.1", "fd00::1", "10.0.0.0/8"] {
        let text = BASE.replace("\"AsgWeb\"", &format!("\"{name}\""));
        fault_at(&text, &format!("asg {name}"), &["`*`, `any` or an address"]);
    }
    // Names that merely contain digits or dots are fine.
    ok(&BASE.replace("\"AsgWeb\"", "\"Web.v2-10\""));
}

// --- priorities ---------------------------------------------------------------

#[test]
fn priority_out_of_range() {
    for p in [99, 4097, 0, -1, 65000] {
        let text = BASE.replace("priority = 100", &format!("priority = {p}"));
        fault_at(
            &text,
            "nsg NSG1 rule R1",
            &[&format!("priority {p}"), "outside 100..=4096"],
        );
    }
    for p in [100, 4096] {
        ok(&BASE.replace("priority = 100", &format!("priority = {p}")));
    }
}

#[test]
fn duplicate_priority_in_one_direction() {
    let text = with_rule(
        r#"name = "R2"
priority = 100
direction = "Inbound"
access = "deny"
protocol = "udp"
source = "*"
destination = "*"
destination_ports = "53""#,
    );
    fault_at(
        &text,
        "nsg NSG1 rule R2",
        &["priority 100 is already used by inbound rule R1"],
    );
    // The same priority in the other direction is fine.
    let p = ok(&text.replace("direction = \"Inbound\"", "direction = \"outbound\""));
    assert_eq!(rule_by_name(&p, "NSG1", "R2").priority, 100);
    // The same priority in another NSG is fine.
    ok(&format!(
        "{BASE}\n[[nsg]]\nname = \"NSG2\"\n[[nsg.rule]]\nname = \"R2\"\npriority = 100\ndirection = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\ndestination = \"*\"\ndestination_ports = 22\n"
    ));
}

// --- ports ------------------------------------------------------------------

#[test]
fn port_above_65535() {
    fault_at(
        &BASE.replace("[\"80\", \"443\"]", "[\"80\", \"65536\"]"),
        "nsg NSG1 rule R1",
        &["destination_ports", "'65536'", "outside 0..=65535"],
    );
    fault_at(
        &BASE.replace("[\"80\", \"443\"]", "70000"),
        "nsg NSG1 rule R1",
        &["destination_ports", "70000", "outside 0..=65535"],
    );
    fault_at(
        &BASE.replace("[\"80\", \"443\"]", "\"1000-99999\""),
        "nsg NSG1 rule R1",
        &["destination_ports", "1000-99999", "outside 0..=65535"],
    );
    let text = BASE.replace(
        "destination_ports = [\"80\", \"443\"]",
        "destination_ports = 80\nsource_ports = 100000",
    );
    fault_at(&text, "nsg NSG1 rule R1", &["source_ports", "100000"]);
    // 0 and 65535 are ports.
    ok(&BASE.replace("[\"80\", \"443\"]", "[0, 65535]"));
}

#[test]
fn port_range_low_above_high() {
    fault_at(
        &BASE.replace("[\"80\", \"443\"]", "\"2000-1000\""),
        "nsg NSG1 rule R1",
        &[
            "destination_ports",
            "'2000-1000'",
            "low end above its high end",
        ],
    );
    // A range of one port is fine.
    ok(&BASE.replace("[\"80\", \"443\"]", "\"443-443\""));
}

#[test]
fn port_not_a_number() {
    for bad in ["http", "80-x", "", "80,443", "1-2-3", "-1", "8 0"] {
        let text = BASE.replace("[\"80\", \"443\"]", &format!("[\"{bad}\"]"));
        fault_at(
            &text,
            "nsg NSG1 rule R1",
            &["destination_ports", "is not a number, a range or `*`"],
        );
    }
    // Negative integers are not ports either.
    fault(
        &BASE.replace("[\"80\", \"443\"]", "-5"),
        &["nsg NSG1 rule R1", "destination_ports"],
    );
    // An empty port list.
    fault(
        &BASE.replace("[\"80\", \"443\"]", "[]"),
        &["nsg NSG1 rule R1", "destination_ports", "empty"],
    );
}

#[test]
fn portless_protocols_take_no_ports() {
    for proto in ["icmp", "esp", "ah", "ICMP", "Esp"] {
        let text = rule2(proto, "\"*\"", "\"*\"", "\"22\"");
        fault_at(
            &text,
            "nsg NSG1 rule R2",
            &[
                &format!("protocol {}", proto.to_ascii_lowercase()),
                "no ports",
            ],
        );
        let text = rule2(proto, "\"*\"", "\"*\"", "\"*\"").replace(
            "destination_ports = \"*\"",
            "destination_ports = \"*\"\nsource_ports = 1024",
        );
        fault_at(&text, "nsg NSG1 rule R2", &["no ports"]);
        // `*` ports are fine, and so is a list covering every port.
        ok(&rule2(proto, "\"*\"", "\"*\"", "\"*\""));
        ok(&rule2(proto, "\"*\"", "\"*\"", "\"0-65535\""));
    }
    // tcp, udp and any take ports.
    for proto in ["tcp", "udp", "any", "*"] {
        ok(&rule2(proto, "\"*\"", "\"*\"", "\"22\""));
    }
}

#[test]
fn ports_as_integers_and_strings() {
    let p = ok(&rule2(
        "tcp",
        "\"*\"",
        "\"*\"",
        "[80, \"443\", \"1000-2000\", 8080]",
    )
    .replace(
        "destination_ports = [",
        "source_ports = 1024\ndestination_ports = [",
    ));
    let r = rule_by_name(&p, "NSG1", "R2");
    assert_eq!(
        r.destination_ports,
        Ports::from_ranges(vec![(80, 80), (443, 443), (1000, 2000), (8080, 8080)])
    );
    assert_eq!(r.source_ports, Ports::from_ranges(vec![(1024, 1024)]));
    let p = ok(&rule2("udp", "\"*\"", "\"*\"", "53"));
    assert_eq!(
        rule_by_name(&p, "NSG1", "R2").destination_ports,
        Ports::from_ranges(vec![(53, 53)])
    );
    let p = ok(&rule2("udp", "\"*\"", "\"*\"", "\"*\""));
    let r = rule_by_name(&p, "NSG1", "R2");
    assert!(r.destination_ports.is_any() && r.source_ports.is_any());
    // A float is not a port.
    fault(
        &rule2("udp", "\"*\"", "\"*\"", "53.0"),
        &["nsg NSG1 rule R2", "destination_ports", "float"],
    );
}

// --- addresses ----------------------------------------------------------------

#[test]
fn invalid_ip_or_cidr() {
    for bad in [
        "10.0.0.300",
        "10.0.0.0/33",
        "10.0.0",
        "fd00:::1",
        "fd00::/129",
        "1.2.3.4/x",
    ] {
        let text = rule2("tcp", &format!("\"{bad}\""), "\"*\"", "22");
        fault_at(&text, "nsg NSG1 rule R2", &["source", bad]);
    }
    fault_at(
        &BASE.replace("\"10.0.0.0/16\"", "\"10.0.0.0/40\""),
        "vnet VNet1",
        &["address_space", "10.0.0.0/40", "not a valid CIDR"],
    );
    fault_at(
        &BASE.replace("\"10.0.1.0/24\"", "\"10.0.1/24\""),
        "subnet Subnet1",
        &["prefixes", "10.0.1/24"],
    );
    fault_at(
        &BASE.replace("\"10.0.1.4\"", "\"10.0.1.400\""),
        "nic NIC1",
        &["ips", "10.0.1.400", "not a valid IP address"],
    );
    fault_at(
        &BASE.replace("\"10.0.1.4\"", "\"10.0.1.4/32\""),
        "nic NIC1",
        &["ips", "10.0.1.4/32"],
    );
}

#[test]
fn cidr_with_host_bits() {
    fault_at(
        &rule2("tcp", "\"10.0.0.1/24\"", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &["source", "10.0.0.1/24", "host bits", "10.0.0.0/24"],
    );
    fault_at(
        &rule2("tcp", "\"*\"", "\"fd00::1/64\"", "22"),
        "nsg NSG1 rule R2",
        &["destination", "fd00::1/64", "host bits"],
    );
    fault_at(
        &BASE.replace("\"10.0.0.0/16\"", "\"10.0.0.1/16\""),
        "vnet VNet1",
        &["address_space", "host bits"],
    );
    fault_at(
        &BASE.replace("\"10.0.1.0/24\"", "\"10.0.1.5/24\""),
        "subnet Subnet1",
        &["prefixes", "host bits"],
    );
    // 0.0.0.0/0 and ::/0 are prefixes; a bare IP is a /32 or /128.
    ok(&rule2("tcp", "\"0.0.0.0/0\"", "\"10.0.1.4\"", "22"));
    ok(&rule2("tcp", "[\"::/0\"]", "\"fd00:1:0:1::4\"", "22"));
}

#[test]
fn mixed_ipv4_and_ipv6_in_one_rule() {
    fault_at(
        &rule2("tcp", "\"10.0.0.0/8\"", "\"fd00::/8\"", "22"),
        "nsg NSG1 rule R2",
        &["mixes IPv4 and IPv6", "10.0.0.0/8", "fd00::/8"],
    );
    fault_at(
        &rule2("tcp", "[\"10.0.0.0/8\", \"2603:1000::/32\"]", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &["mixes IPv4 and IPv6"],
    );
    // A tag or ASG on the other side does not count.
    ok(&rule2("tcp", "\"2603:1000::/32\"", "\"AsgWeb\"", "22"));
    ok(&rule2("tcp", "\"Internet\"", "\"fd00:1:0:1::4\"", "22"));
}

// --- rule sides -----------------------------------------------------------------

#[test]
fn side_mixing_star_with_others() {
    for side in [
        "[\"*\", \"10.0.0.1\"]",
        "[\"*\", \"Internet\"]",
        "[\"any\", \"AsgWeb\"]",
    ] {
        fault_at(
            &rule2("tcp", side, "\"*\"", "22"),
            "nsg NSG1 rule R2",
            &["source", "mixes kinds"],
        );
    }
}

#[test]
fn two_service_tags_on_one_side() {
    fault_at(
        &rule2("tcp", "\"*\"", "[\"Internet\", \"VirtualNetwork\"]", "22"),
        "nsg NSG1 rule R2",
        &["destination", "several service tags"],
    );
}

#[test]
fn service_tag_with_asg_or_ip() {
    fault_at(
        &rule2("tcp", "[\"Internet\", \"AsgWeb\"]", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &["source", "mixes kinds"],
    );
    fault_at(
        &rule2("tcp", "[\"AsgWeb\", \"10.0.0.1\"]", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &["source", "mixes kinds"],
    );
    fault_at(
        &rule2("tcp", "[\"VirtualNetwork\", \"10.0.0.0/8\"]", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &["source", "mixes kinds"],
    );
}

/// BASE with `n` more ASGs, Asg1..AsgN, all with NIC1 as member.
fn with_asgs(n: usize) -> (String, String) {
    let mut text = BASE.replace("asgs = [\"AsgWeb\"]", "asgs = [ASGS]");
    let names: Vec<String> = (1..=n).map(|i| format!("Asg{i}")).collect();
    let quoted: Vec<String> = names.iter().map(|a| format!("\"{a}\"")).collect();
    text = text.replace("ASGS", &format!("\"AsgWeb\", {}", quoted.join(", ")));
    for a in &names {
        text.push_str(&format!("\n[[asg]]\nname = \"{a}\"\n"));
    }
    (text, format!("[{}]", quoted.join(", ")))
}

#[test]
fn eleven_asgs_on_one_side() {
    let (text, list) = with_asgs(11);
    let t = text.replace("destination = \"AsgWeb\"", &format!("destination = {list}"));
    fault_at(
        &t,
        "nsg NSG1 rule R1",
        &["destination names 11 ASGs", "1 to 10"],
    );
    let (text, list) = with_asgs(10);
    let p = ok(&text.replace("destination = \"AsgWeb\"", &format!("destination = {list}")));
    match &rule_by_name(&p, "NSG1", "R1").destination {
        Side::Asgs(a) => assert_eq!(a.len(), 10),
        other => panic!("destination is {other:?}"),
    }
    // The same ASG twice counts once.
    let (text, _) = with_asgs(10);
    let dup: Vec<String> = (1..=10).map(|i| format!("\"Asg{i}\"")).collect();
    let list = format!("[{}, \"asg1\"]", dup.join(", "));
    ok(&text.replace("destination = \"AsgWeb\"", &format!("destination = {list}")));
}

/// Two unpeered VNets, one NIC in each; ASGs as given per NIC.
fn two_vnets(asgs1: &str, asgs2: &str, rule_src: &str, rule_dst: &str) -> String {
    format!(
        r#"
[[vnet]]
name = "VNet1"
address_space = ["10.1.0.0/16"]

[[vnet]]
name = "VNet2"
address_space = ["10.2.0.0/16"]

[[subnet]]
name = "S1"
vnet = "VNet1"
prefixes = ["10.1.1.0/24"]
nsg = "NSG1"

[[subnet]]
name = "S2"
vnet = "VNet2"
prefixes = ["10.2.1.0/24"]
nsg = "NSG1"

[[asg]]
name = "AsgA"

[[asg]]
name = "AsgB"

[[nic]]
name = "NIC1"
subnet = "S1"
ips = ["10.1.1.4"]
asgs = {asgs1}

[[nic]]
name = "NIC2"
subnet = "S2"
ips = ["10.2.1.4"]
asgs = {asgs2}

[[nsg]]
name = "NSG1"

[[nsg.rule]]
name = "R1"
priority = 100
direction = "inbound"
access = "allow"
protocol = "tcp"
source = {rule_src}
destination = {rule_dst}
destination_ports = 1433
"#
    )
}

#[test]
fn asg_with_nics_in_two_vnets() {
    let text = two_vnets("[\"AsgA\"]", "[\"AsgA\"]", "\"*\"", "\"AsgA\"");
    fault_at(
        &text,
        "asg AsgA",
        &[
            "NICs of one ASG must be in one VNet",
            "NIC1",
            "VNet1",
            "NIC2",
            "VNet2",
            "allow_cross_vnet_asg",
        ],
    );
    let p = ok(&format!("allow_cross_vnet_asg = true\n{text}"));
    assert!(p.allow_cross_vnet_asg);
    assert_eq!(p.asgs[p.asg_by_name("AsgA").unwrap()].members.len(), 2);
}

#[test]
fn asgs_on_both_sides_in_different_vnets() {
    let text = two_vnets("[\"AsgA\"]", "[\"AsgB\"]", "\"AsgA\"", "\"AsgB\"");
    fault_at(
        &text,
        "nsg NSG1 rule R1",
        &[
            "ASGs on both sides must be in one VNet",
            "AsgA",
            "VNet1",
            "AsgB",
            "VNet2",
            "allow_cross_vnet_asg",
        ],
    );
    // Several ASGs on one side, one of them elsewhere.
    let text2 = two_vnets(
        "[\"AsgA\"]",
        "[\"AsgB\"]",
        "\"AsgA\"",
        "[\"AsgA\", \"AsgB\"]",
    );
    fault_at(
        &text2,
        "nsg NSG1 rule R1",
        &["ASGs on both sides must be in one VNet"],
    );
    ok(&format!("allow_cross_vnet_asg = true\n{text}"));
    ok(&format!("allow_cross_vnet_asg = true\n{text2}"));
    // An ASG on one side only, whatever its VNet, is fine.
    ok(&two_vnets("[\"AsgA\"]", "[\"AsgB\"]", "\"*\"", "\"AsgB\""));
    ok(&two_vnets(
        "[\"AsgA\"]",
        "[\"AsgB\"]",
        "\"AsgA\"",
        "\"10.2.1.4\"",
    ));
}

// --- VNets, subnets, NICs ---------------------------------------------------------

#[test]
fn subnet_outside_its_vnet() {
    fault_at(
        &BASE.replace("\"10.0.1.0/24\"", "\"10.1.1.0/24\""),
        "subnet Subnet1",
        &["prefix 10.1.1.0/24 is outside the address space of vnet VNet1"],
    );
    // Partly outside: larger than the address space.
    fault_at(
        &BASE.replace("\"10.0.1.0/24\"", "\"10.0.0.0/15\""),
        "subnet Subnet1",
        &["10.0.0.0/15", "outside the address space"],
    );
    fault_at(
        &BASE.replace("\"fd00:1:0:1::/64\"", "\"fd00:2:0:1::/64\""),
        "subnet Subnet1",
        &["fd00:2:0:1::/64", "outside the address space"],
    );
}

#[test]
fn overlapping_subnets() {
    let text = format!(
        "{BASE}\n[[subnet]]\nname = \"Subnet2\"\nvnet = \"VNet1\"\nprefixes = [\"10.0.1.128/25\"]\n"
    );
    fault_at(
        &text,
        "subnet Subnet2",
        &["10.0.1.128/25", "overlaps", "10.0.1.0/24", "Subnet1"],
    );
    // Adjacent subnets, and the same prefix in another (unpeered) VNet, are fine.
    ok(&format!(
        "{BASE}\n[[subnet]]\nname = \"Subnet2\"\nvnet = \"VNet1\"\nprefixes = [\"10.0.2.0/24\"]\n"
    ));
    ok(&format!(
        "{BASE}\n[[vnet]]\nname = \"VNet2\"\naddress_space = [\"10.0.0.0/16\"]\n[[subnet]]\nname = \"Subnet2\"\nvnet = \"VNet2\"\nprefixes = [\"10.0.1.0/24\"]\n"
    ));
}

#[test]
fn nic_ip_outside_its_subnet() {
    fault_at(
        &BASE.replace("\"10.0.1.4\"", "\"10.0.2.4\""),
        "nic NIC1",
        &["ip 10.0.2.4 is outside subnet Subnet1"],
    );
    fault_at(
        &BASE.replace("\"fd00:1:0:1::4\"", "\"fd00:1:0:2::4\""),
        "nic NIC1",
        &["fd00:1:0:2::4", "outside subnet Subnet1"],
    );
}

#[test]
fn duplicate_nic_ips() {
    let text = format!(
        "{BASE}\n[[nic]]\nname = \"NIC2\"\nsubnet = \"Subnet1\"\nips = [\"10.0.1.5\", \"10.0.1.4\"]\n"
    );
    fault_at(
        &text,
        "nic NIC2",
        &["ip 10.0.1.4 is already used by nic NIC1"],
    );
    // The same IPv6 address written another way.
    let text = format!(
        "{BASE}\n[[nic]]\nname = \"NIC2\"\nsubnet = \"Subnet1\"\nips = [\"fd00:1:0:1:0:0:0:4\"]\n"
    );
    fault_at(
        &text,
        "nic NIC2",
        &["fd00:1:0:1::4", "already used by nic NIC1"],
    );
}

const TWO_PEERED: &str = r#"
[[vnet]]
name = "VNet1"
address_space = ["10.1.0.0/16"]
peerings = ["VNet2"]

[[vnet]]
name = "VNet2"
address_space = ["10.2.0.0/16"]
peerings = ["VNet1"]
"#;

#[test]
fn peering_listed_on_one_side_only() {
    ok(TWO_PEERED);
    let text = TWO_PEERED.replace("peerings = [\"VNet1\"]\n", "");
    fault_at(
        &text,
        "vnet VNet1",
        &["peering to 'VNet2' is not listed on vnet VNet2"],
    );
    // Peering names are case-insensitive.
    ok(&TWO_PEERED.replace("peerings = [\"VNet1\"]", "peerings = [\"vnet1\"]"));
    fault_at(
        &TWO_PEERED.replace("peerings = [\"VNet2\"]", "peerings = [\"VNet1\"]"),
        "vnet VNet1",
        &["names the VNet itself"],
    );
}

#[test]
fn overlapping_peered_vnets() {
    let text = TWO_PEERED.replace("\"10.2.0.0/16\"", "\"10.1.128.0/17\"");
    fault(&text, &["vnet", "10.1.0.0/16", "overlaps", "10.1.128.0/17"]);
    // Overlapping but not peered is fine.
    ok(&text
        .replace("peerings = [\"VNet2\"]\n", "")
        .replace("peerings = [\"VNet1\"]\n", ""));
}

// --- references -------------------------------------------------------------------

#[test]
fn unknown_references() {
    fault_at(
        &BASE.replace("vnet = \"VNet1\"", "vnet = \"VNetX\""),
        "subnet Subnet1",
        &["unknown vnet 'VNetX'"],
    );
    fault_at(
        &BASE.replace("subnet = \"Subnet1\"", "subnet = \"SubnetX\""),
        "nic NIC1",
        &["unknown subnet 'SubnetX'"],
    );
    fault_at(
        &BASE.replace("nsg = \"NSG1\"", "nsg = \"NSGX\""),
        "subnet Subnet1",
        &["unknown nsg 'NSGX'"],
    );
    fault_at(
        &BASE.replace("mac = ", "nsg = \"NSGY\"\nmac = "),
        "nic NIC1",
        &["unknown nsg 'NSGY'"],
    );
    fault_at(
        &BASE.replace("asgs = [\"AsgWeb\"]", "asgs = [\"AsgWeb\", \"AsgX\"]"),
        "nic NIC1",
        &["unknown asg 'AsgX'"],
    );
    fault_at(
        &BASE.replace(
            "address_space = ",
            "peerings = [\"VNetP\"]\naddress_space = ",
        ),
        "vnet VNet1",
        &["unknown peering vnet 'VNetP'"],
    );
    // A rule naming neither a known tag nor an ASG.
    fault_at(
        &rule2("tcp", "\"Storage\"", "\"*\"", "22"),
        "nsg NSG1 rule R2",
        &[
            "source: unknown service tag or ASG 'Storage'",
            "no service tags file",
        ],
    );
    fault_at(
        &rule2("tcp", "\"*\"", "\"AsgDb\"", "22"),
        "nsg NSG1 rule R2",
        &["destination: unknown service tag or ASG 'AsgDb'"],
    );
    // References are case-insensitive.
    ok(&BASE
        .replace("vnet = \"VNet1\"", "vnet = \"vnet1\"")
        .replace("subnet = \"Subnet1\"", "subnet = \"SUBNET1\"")
        .replace("nsg = \"NSG1\"", "nsg = \"nsg1\"")
        .replace("asgs = [\"AsgWeb\"]", "asgs = [\"asgweb\"]")
        .replace("destination = \"AsgWeb\"", "destination = \"ASGWEB\""));
}

#[test]
fn service_tags_file_problems() {
    let dir = std::env::temp_dir().join(format!("nsg-validation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tags = dir.join("tags.json");
    std::fs::write(
        &tags,
        r#"{"values": [
          {"name": "Storage.WestUS", "properties": {"addressPrefixes": ["20.60.0.0/16"], "networkFeatures": null}},
          {"name": "OnlyApi", "properties": {"addressPrefixes": ["1.2.3.0/24"], "networkFeatures": ["API"]}}
        ]}"#,
    )
    .unwrap();
    let policy = dir.join("p.toml");
    let opts = LoadOptions::default();
    let text = format!(
        "service_tags = \"tags.json\"\n{}",
        rule2("tcp", "\"storage.westus\"", "\"*\"", "22")
    );
    load_str(&text, &policy, &opts).expect("a tag of the file loads, case-insensitively");
    let text = format!(
        "service_tags = \"tags.json\"\n{}",
        rule2("tcp", "\"OnlyApi\"", "\"*\"", "22")
    );
    let e = load_str(&text, &policy, &opts).unwrap_err();
    assert!(
        e.faults.iter().any(|f| f.item == "nsg NSG1 rule R2"
            && f.message.contains("OnlyApi")
            && f.message.contains("NSG")),
        "{e}"
    );
    // An ASG named like a tag of the file.
    let text = format!(
        "service_tags = \"tags.json\"\n{}",
        BASE.replace("\"AsgWeb\"", "\"Storage.WestUS\"")
    );
    let e = load_str(&text, &policy, &opts).unwrap_err();
    assert!(
        e.faults
            .iter()
            .any(|f| f.message.contains("service tag name")),
        "{e}"
    );
    // A missing file.
    let text = format!("service_tags = \"nope.json\"\n{BASE}");
    let e = load_str(&text, &policy, &opts).unwrap_err();
    assert!(
        e.faults
            .iter()
            .any(|f| f.item == "service_tags" && f.message.contains("nope.json")),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

// --- VNet options, NIC options ----------------------------------------------------

#[test]
fn flow_timeout_out_of_range() {
    for t in [3, 31, 0, -4] {
        let text = BASE.replace(
            "address_space = ",
            &format!("flow_timeout_minutes = {t}\naddress_space = "),
        );
        fault_at(
            &text,
            "vnet VNet1",
            &[&format!("flow_timeout_minutes {t} is outside 4..=30")],
        );
    }
    for t in [4, 30] {
        let text = BASE.replace(
            "address_space = ",
            &format!("flow_timeout_minutes = {t}\naddress_space = "),
        );
        assert_eq!(ok(&text).vnets[0].flow_timeout_minutes, t as u8);
    }
    assert_eq!(ok(BASE).vnets[0].flow_timeout_minutes, 4);
}

#[test]
fn bad_mac() {
    for bad in [
        "02:00:00:00:01",
        "02:00:00:00:01:04:05",
        "zz:00:00:00:01:04",
        "0200.0000.0104",
        "2:0:0:0:1:4",
        "",
    ] {
        let text = BASE.replace("\"02:00:00:00:01:04\"", &format!("\"{bad}\""));
        fault_at(
            &text,
            "nic NIC1",
            &[&format!("mac '{bad}' is not a MAC address")],
        );
    }
    let p = ok(&BASE.replace("\"02:00:00:00:01:04\"", "\"02-AB-cd-00-01-04\""));
    assert_eq!(p.nics[0].mac, Some([0x02, 0xab, 0xcd, 0x00, 0x01, 0x04]));
}

/// MACs `run` cannot give a TAP device, or that the switch answers for the
/// gateway with, are refused by `check` naming the NIC and the MAC.
#[test]
fn macs_run_cannot_use() {
    for (bad, why) in [
        ("ff:ff:ff:ff:ff:ff", "is the broadcast address"),
        ("FF-FF-FF-FF-FF-FF", "is the broadcast address"),
        ("01:00:5e:00:00:01", "is a multicast address (the I/G bit"),
        ("33:33:00:00:00:01", "is a multicast address (the I/G bit"),
        ("03:00:00:00:00:01", "is a multicast address (the I/G bit"),
        ("00:00:00:00:00:00", "is the all-zero address"),
        ("12:34:56:78:9a:bc", "is the gateway's address"),
        ("12:34:56:78:9A:BC", "is the gateway's address"),
    ] {
        let text = BASE.replace("\"02:00:00:00:01:04\"", &format!("\"{bad}\""));
        let shown = bad.to_ascii_lowercase().replace('-', ":");
        fault_at(&text, "nic NIC1", &[&format!("mac {shown} {why}")]);
    }
    assert_eq!(
        nsg_policy::GATEWAY_MAC,
        [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]
    );
    // Unicast MACs load, locally administered or not.
    for good in [
        "02:00:00:00:01:04",
        "00:0d:3a:00:00:01",
        "fe:ff:ff:ff:ff:ff",
    ] {
        ok(&BASE.replace("\"02:00:00:00:01:04\"", &format!("\"{good}\"")));
    }
}

#[test]
fn two_nics_with_one_mac() {
    let nic2 = "[[nic]]\nname = \"NIC2\"\nsubnet = \"Subnet1\"\nips = [\"10.0.1.5\"]\nmac = \"02:00:00:00:01:04\"\n\n[[nsg]]";
    let text = BASE.replacen("[[nsg]]", nic2, 1);
    fault_at(
        &text,
        "nic NIC2",
        &["mac 02:00:00:00:01:04 is already used by nic NIC1"],
    );
    ok(&BASE.replacen("[[nsg]]", &nic2.replace(":04\"", ":05\""), 1));
}

// --- the TOML itself ----------------------------------------------------------------

#[test]
fn unknown_keys_are_refused() {
    fault_at(
        &format!("allow_cross_vnet_asgs = true\n{BASE}"),
        "policy",
        &["unknown key `allow_cross_vnet_asgs`"],
    );
    fault_at(
        &BASE.replace(
            "address_space = ",
            "location = \"westus\"\naddress_space = ",
        ),
        "vnet VNet1",
        &["unknown key `location`"],
    );
    fault_at(
        &BASE.replace(
            "destination_ports = ",
            "sourceports = \"*\"\ndestination_ports = ",
        ),
        "nsg NSG1 rule R1",
        &["unknown key `sourceports`"],
    );
    fault_at(
        &BASE.replace("prefixes = [\"10", "route_table = \"rt\"\nprefixes = [\"10"),
        "subnet Subnet1",
        &["unknown key `route_table`"],
    );
    fault_at(
        &BASE.replace("mac = ", "ip = \"10.0.1.9\"\nmac = "),
        "nic NIC1",
        &["unknown key `ip`"],
    );
    fault_at(
        &BASE.replace("name = \"NSG1\"", "name = \"NSG1\"\nlocation = \"westus\""),
        "nsg NSG1",
        &["unknown key `location`"],
    );
    fault_at(
        &BASE.replace("name = \"AsgWeb\"", "name = \"AsgWeb\"\nmembers = []"),
        "asg AsgWeb",
        &["unknown key `members`"],
    );
}

#[test]
fn missing_required_keys() {
    for key in [
        "priority",
        "direction",
        "access",
        "protocol",
        "source",
        "destination",
        "destination_ports",
    ] {
        let line = BASE
            .lines()
            .skip_while(|l| !l.starts_with("name = \"R1\""))
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("BASE has {key}"));
        let text = BASE.replace(&format!("{line}\n"), "");
        fault_at(
            &text,
            "nsg NSG1 rule R1",
            &[&format!("missing required key `{key}`")],
        );
    }
    // Optional rule keys may be left out: BASE has no source_ports or description.
    fault_at(
        &BASE.replace("name = \"R1\"\n", ""),
        "nsg NSG1 rule #1",
        &["missing required key `name`"],
    );
    fault_at(
        &BASE.replace("address_space = [\"10.0.0.0/16\", \"fd00:1::/48\"]\n", ""),
        "vnet VNet1",
        &["missing required key `address_space`"],
    );
    fault_at(
        &BASE.replace("vnet = \"VNet1\"\n", ""),
        "subnet Subnet1",
        &["missing required key `vnet`"],
    );
    fault_at(
        &BASE.replace("prefixes = [\"10.0.1.0/24\", \"fd00:1:0:1::/64\"]\n", ""),
        "subnet Subnet1",
        &["missing required key `prefixes`"],
    );
    fault_at(
        &BASE.replace("subnet = \"Subnet1\"\n", ""),
        "nic NIC1",
        &["missing required key `subnet`"],
    );
    fault_at(
        &BASE.replace("ips = [\"10.0.1.4\", \"fd00:1:0:1::4\"]\n", ""),
        "nic NIC1",
        &["missing required key `ips`"],
    );
    fault_at(
        &BASE.replace("name = \"AsgWeb\"\n", ""),
        "asg #1",
        &["missing required key `name`"],
    );
    fault_at(
        &BASE.replace("name = \"NSG1\"\n", ""),
        "nsg #1",
        &["missing required key `name`"],
    );
    // An empty required list is missing too.
    fault(
        &BASE.replace("source = \"Internet\"", "source = []"),
        &["nsg NSG1 rule R1", "`source` is an empty list"],
    );
    fault(
        &BASE.replace("ips = [\"10.0.1.4\", \"fd00:1:0:1::4\"]", "ips = []"),
        &["nic NIC1", "`ips` is an empty list"],
    );
}

#[test]
fn wrong_types() {
    let cases: &[(String, &str, &str)] = &[
        (BASE.replace("priority = 100", "priority = \"high\""), "nsg NSG1 rule R1", "`priority` must be an integer, found a string"),
        (BASE.replace("priority = 100", "priority = 100.5"), "nsg NSG1 rule R1", "`priority` must be an integer, found a float"),
        (BASE.replace("access = \"allow\"", "access = true"), "nsg NSG1 rule R1", "`access` must be a string, found a boolean"),
        (BASE.replace("source = \"Internet\"", "source = 10"), "nsg NSG1 rule R1", "`source` must be a string or a list of strings, found an integer"),
        (BASE.replace("destination_ports = [\"80\", \"443\"]", "destination_ports = [80, true]"), "nsg NSG1 rule R1", "`destination_ports` must be a string, an integer or a list of them, found a boolean in the list"),
        (BASE.replace("address_space = [\"10.0.0.0/16\", \"fd00:1::/48\"]", "address_space = 10"), "vnet VNet1", "`address_space` must be a string or a list of strings, found an integer"),
        (BASE.replace("name = \"NIC1\"", "name = 1"), "nic #1", "`name` must be a string, found an integer"),
        (BASE.replace("mac = \"02:00:00:00:01:04\"", "mac = 0x020000000104"), "nic NIC1", "`mac` must be a string, found an integer"),
        (BASE.replace("name = \"NSG1\"", "name = \"NSG1\"\nflush_connections = \"yes\""), "nsg NSG1", "`flush_connections` must be true or false, found a string"),
        (format!("allow_cross_vnet_asg = 1\n{BASE}"), "policy", "`allow_cross_vnet_asg` must be true or false, found an integer"),
        (format!("service_tags = [\"a.json\"]\n{BASE}"), "policy", "`service_tags` must be a string, found an array"),
        (BASE.replace("address_space = ", "flow_timeout_minutes = \"four\"\naddress_space = "), "vnet VNet1", "`flow_timeout_minutes` must be an integer, found a string"),
        (format!("{BASE}\n[subnet2]\nname = \"x\"\n"), "policy", "unknown key `subnet2`"),
        ("vnet = \"VNet1\"\n".to_string(), "vnet", "`vnet` must be an array of tables ([[vnet]]), found a string"),
        ("vnet = [1]\n".to_string(), "vnet #1", "must be a table ([[vnet]]), found an integer"),
    ];
    for (text, item, message) in cases {
        fault_at(text, item, &[message]);
    }
    // A priority given as a numeric string is accepted, as Azure exports write it.
    let p = ok(&BASE.replace("priority = 100", "priority = \"150\""));
    assert_eq!(rule_by_name(&p, "NSG1", "R1").priority, 150);
}

#[test]
fn faults_in_nested_rule_tables_name_their_nsg() {
    let has = |text: &str, needles: &[&str]| {
        refused(text)
            .iter()
            .any(|f| needles.iter().all(|n| f.to_string().contains(n)))
    };
    // `[nsg.rule]` (a table) where `[[nsg.rule]]` (an array of tables) is meant.
    let table = BASE.replace("[[nsg.rule]]", "[nsg.rule]");
    fault(
        &table,
        &["`rule` must be an array of tables ([[nsg.rule]]), found a table"],
    );
    // An element of the rule list that is not a table.
    let head = &BASE[..BASE.find("[[nsg.rule]]").expect("BASE has a rule")];
    let element = format!("{head}rule = [1]\n");
    fault(
        &element,
        &["must be a table ([[nsg.rule]]), found an integer"],
    );
    // With several NSGs, each fault must say which NSG's rules are wrong.
    let table_named = has(&table, &["nsg NSG1", "`rule` must be an array of tables"]);
    let element_named = has(&element, &["nsg NSG1", "must be a table ([[nsg.rule]])"]);
    assert!(
        table_named && element_named,
        "faults in an NSG's rule list do not name the NSG: [nsg.rule] named: {table_named}, rule = [1] named: {element_named}"
    );
}

#[test]
fn enum_values_are_case_insensitive() {
    let p = ok(&BASE
        .replace("direction = \"inbound\"", "direction = \"Inbound\"")
        .replace("access = \"allow\"", "access = \"Allow\"")
        .replace("protocol = \"tcp\"", "protocol = \"Tcp\""));
    let r = rule_by_name(&p, "NSG1", "R1");
    assert_eq!(r.direction, nsg_policy::Direction::Inbound);
    assert_eq!(r.access, nsg_policy::Access::Allow);
    assert_eq!(r.protocol, Protocol::Tcp);
    for (proto, want) in [
        ("TCP", Protocol::Tcp),
        ("Udp", Protocol::Udp),
        ("ANY", Protocol::Any),
        ("*", Protocol::Any),
        ("Icmp", Protocol::Icmp),
        ("ESP", Protocol::Esp),
        ("Ah", Protocol::Ah),
    ] {
        let ports = if want.portless() { "\"*\"" } else { "22" };
        let text = rule2(proto, "\"*\"", "\"*\"", ports).replace(
            "direction = \"inbound\"\naccess = \"allow\"",
            "direction = \"OUTBOUND\"\naccess = \"DENY\"",
        );
        let p = ok(&text);
        let r = rule_by_name(&p, "NSG1", "R2");
        assert_eq!(r.protocol, want, "{proto}");
        assert_eq!(r.direction, nsg_policy::Direction::Outbound);
        assert_eq!(r.access, nsg_policy::Access::Deny);
    }
    // Tag names and aliases are case-insensitive.
    for tag in [
        "INTERNET",
        "internet",
        "VirtualNetwork",
        "VIRTUAL_NETWORK",
        "azureloadbalancer",
        "AZURE_LOADBALANCER",
    ] {
        ok(&rule2("tcp", &format!("\"{tag}\""), "\"*\"", "22"));
    }
    // Misspelt values are refused, naming the value.
    fault_at(
        &BASE.replace("direction = \"inbound\"", "direction = \"in\""),
        "nsg NSG1 rule R1",
        &["direction 'in' is not inbound or outbound"],
    );
    fault_at(
        &BASE.replace("access = \"allow\"", "access = \"permit\""),
        "nsg NSG1 rule R1",
        &["access 'permit' is not allow or deny"],
    );
    fault_at(
        &BASE.replace("protocol = \"tcp\"", "protocol = \"sctp\""),
        "nsg NSG1 rule R1",
        &["protocol 'sctp' is not tcp, udp, icmp, esp, ah or any"],
    );
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    // Line 6 of BASE is `[[subnet]]`; break `vnet = "VNet1"` on line 8.
    assert_eq!(BASE.lines().nth(7), Some("vnet = \"VNet1\""));
    let text = BASE.replace("vnet = \"VNet1\"", "vnet = = \"VNet1\"");
    let faults = refused(&text);
    assert_eq!(faults.len(), 1, "{faults:?}");
    let f = &faults[0];
    assert_eq!(f.position, Some((8, 8)), "{f}");
    assert!(f.message.contains("TOML syntax error"), "{f}");
    assert!(f.to_string().starts_with("t.toml:8:8: "), "{f}");

    // An unclosed string on the first line.
    let f = &refused("a = \"x\nb = 1\n")[0];
    assert_eq!(f.position.map(|p| p.0), Some(1), "{f}");
    // A duplicate key is a TOML error too, at the repeated key.
    let text = BASE.replace("name = \"R1\"", "name = \"R1\"\nname = \"R2\"");
    let f = &refused(&text)[0];
    let line = BASE.lines().position(|l| l == "name = \"R1\"").unwrap() + 2;
    assert_eq!(f.position, Some((line, 1)), "{f}");
    // Columns count characters, not bytes.
    let f = &refused("# é\ndescription = \"é\" x\n")[0];
    assert_eq!(f.position, Some((2, 19)), "{f}");
}

#[test]
fn several_faults_are_reported_at_once() {
    let text = BASE
        .replace("priority = 100", "priority = 5000")
        .replace("vnet = \"VNet1\"", "vnet = \"VNetX\"")
        .replace("\"02:00:00:00:01:04\"", "\"nope\"")
        .replace(
            "destination_ports = [\"80\", \"443\"]",
            "destination_ports = [\"80\", \"99999\"]",
        )
        .replace("address_space = ", "colour = \"blue\"\naddress_space = ");
    let faults = refused(&text);
    let shown: Vec<String> = faults.iter().map(|f| f.to_string()).collect();
    for needles in [
        &["nsg NSG1 rule R1", "priority 5000"][..],
        &["subnet Subnet1", "unknown vnet 'VNetX'"],
        &["nic NIC1", "mac 'nope'"],
        &["nsg NSG1 rule R1", "99999"],
        &["vnet VNet1", "unknown key `colour`"],
    ] {
        assert!(
            shown.iter().any(|f| needles.iter().all(|n| f.contains(n))),
            "no fault contains {needles:?}:\n{}",
            shown.join("\n")
        );
    }
    // The whole report lists them all, one per line.
    let e = load(&text).unwrap_err();
    let report = e.to_string();
    assert!(
        report.starts_with(&format!("policy refused: {} faults", faults.len())),
        "{report}"
    );
    assert_eq!(report.lines().count(), faults.len() + 1, "{report}");
}

// --- robustness ---------------------------------------------------------------------

/// A valid policy using most of the format, for the mutation test.
const RICH: &str = r#"service_tags = "nope.json"
allow_cross_vnet_asg = false

[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16", "fd00:10::/48"]
peerings = ["VNet2"]
on_premises = ["192.168.0.0/16"]
flow_timeout_minutes = 10

[[vnet]]
name = "VNet2"
address_space = ["10.1.0.0/16"]
peerings = ["VNet1"]

[[subnet]]
name = "Web"
vnet = "VNet1"
prefixes = ["10.0.1.0/24", "fd00:10:0:1::/64"]
nsg = "NSG1"

[[subnet]]
name = "Db"
vnet = "VNet2"
prefixes = ["10.1.2.0/24"]

[[asg]]
name = "AsgWeb"

[[asg]]
name = "AsgDb"

[[nic]]
name = "NIC1"
subnet = "Web"
ips = ["10.0.1.4", "fd00:10:0:1::4"]
asgs = ["AsgWeb"]
nsg = "NSG2"
mac = "02:00:00:00:01:04"

[[nic]]
name = "NIC2"
subnet = "Db"
ips = ["10.1.2.4"]
asgs = ["AsgDb"]

[[nsg]]
name = "NSG1"
flush_connections = true

[[nsg.rule]]
name = "Allow-HTTP"
priority = 100
direction = "Inbound"
access = "Allow"
protocol = "Tcp"
source = ["Internet"]
source_ports = ["*"]
destination = ["AsgWeb"]
destination_ports = [80, "443", "8000-8080"]
description = "web"

[[nsg.rule]]
name = "Deny-Db"
priority = 120
direction = "inbound"
access = "deny"
protocol = "*"
source = "*"
destination = "AsgDb"
destination_ports = 1433

[[nsg.rule]]
name = "Ping"
priority = 130
direction = "outbound"
access = "allow"
protocol = "icmp"
source = "10.0.1.0/24"
destination = ["10.1.2.4", "10.1.2.5"]
destination_ports = "*"

[[nsg]]
name = "NSG2"

[[nsg.rule]]
name = "V6"
priority = 4096
direction = "inbound"
access = "allow"
protocol = "udp"
source = "2603:1000::/32"
destination = "fd00:10:0:1::4"
destination_ports = "53"
"#;

#[test]
fn rich_policy_loads_without_its_tags_file() {
    // RICH names a missing tags file so that mutations exercise that path; with
    // it removed, it loads.
    let p = ok(&RICH.replace("service_tags = \"nope.json\"\n", ""));
    assert_eq!(p.nics.len(), 2);
    assert_eq!(p.user_rule_count(), 4);
    fault_at(RICH, "service_tags", &["nope.json"]);
}

/// One random edit of a policy text.
#[derive(Debug, Clone)]
enum Edit {
    DeleteByte(usize),
    InsertByte(usize, u8),
    ReplaceByte(usize, u8),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceLine(usize, usize),
    ReplaceToken(usize, &'static str),
}

/// Bytes likely to matter to TOML and to the policy grammar.
const INTERESTING: &[u8] = b"[]{}=\"'#\n,.:/-*0123456789abcdefxAz \t\\";

/// TOML values that look valid but are often wrong where they land.
const TOKENS: &[&str] = &[
    "\"*\"",
    "\"any\"",
    "65536",
    "-1",
    "0",
    "4097",
    "99",
    "100",
    "\"Internet\"",
    "\"AsgWeb\"",
    "\"asgdb\"",
    "\"10.0.0.1/8\"",
    "\"10.0.1.4\"",
    "\"::/0\"",
    "\"fd00::1\"",
    "[]",
    "[\"AsgWeb\", \"Internet\"]",
    "[\"10.0.0.0/8\", \"fd00::/8\"]",
    "true",
    "\"icmp\"",
    "\"outbound\"",
    "\"1-0\"",
    "\"VNet1\"",
    "\"VNet2\"",
    "\"Web\"",
    "\"NSG2\"",
    "\"nope\"",
    "1e9",
    "\"\"",
    "{ a = 1 }",
];

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![prop::sample::select(INTERESTING.to_vec()), any::<u8>()];
    // Weighted towards edits that keep the TOML readable, so that most cases
    // reach validation rather than stopping at the parser.
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::DeleteByte),
        1 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::InsertByte(i, b)),
        1 => (any::<usize>(), byte).prop_map(|(i, b)| Edit::ReplaceByte(i, b)),
        3 => any::<usize>().prop_map(Edit::DeleteLine),
        2 => any::<usize>().prop_map(Edit::DuplicateLine),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::ReplaceLine(a, b)),
        8 => (any::<usize>(), prop::sample::select(TOKENS.to_vec()))
            .prop_map(|(i, t)| Edit::ReplaceToken(i, t)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let nl = lines.len();
        match *e {
            Edit::DeleteByte(i) if !bytes.is_empty() => {
                bytes.remove(i % bytes.len());
                continue;
            }
            Edit::InsertByte(i, b) => {
                bytes.insert(i % (bytes.len() + 1), b);
                continue;
            }
            Edit::ReplaceByte(i, b) if !bytes.is_empty() => {
                let n = bytes.len();
                bytes[i % n] = b;
                continue;
            }
            Edit::DeleteLine(i) => {
                lines.remove(i % nl);
            }
            Edit::DuplicateLine(i) => {
                let l = lines[i % nl].clone();
                lines.insert(i % nl, l);
            }
            Edit::SwapLines(a, b) => lines.swap(a % nl, b % nl),
            Edit::ReplaceLine(a, b) => lines[a % nl] = lines[b % nl].clone(),
            Edit::ReplaceToken(i, t) => {
                // Replace the value of one of the `key = value` lines.
                let keyed: Vec<usize> = (0..nl).filter(|&k| lines[k].contains(&b'=')).collect();
                if keyed.is_empty() {
                    continue;
                }
                let l = &mut lines[keyed[i % keyed.len()]];
                let eq = l.iter().position(|&b| b == b'=').unwrap_or(0);
                l.truncate(eq + 1);
                l.push(b' ');
                l.extend_from_slice(t.as_bytes());
            }
            _ => continue,
        }
        bytes = lines.join(&b'\n');
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the damage, loading returns Ok or Err with faults; it never panics.
    #[test]
    fn mutated_policies_never_panic(
        base in prop::sample::select(vec![BASE, RICH, TWO_PEERED]),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let text = apply(base, &edits);
        match load(&text) {
            Ok(p) => {
                for g in &p.nsgs {
                    prop_assert!(g.inbound.iter().filter(|r| r.is_default).count() == 3);
                    prop_assert!(g.outbound.iter().filter(|r| r.is_default).count() == 3);
                    prop_assert!(g.inbound.windows(2).all(|w| w[0].priority <= w[1].priority));
                    prop_assert!(g.outbound.windows(2).all(|w| w[0].priority <= w[1].priority));
                }
            }
            Err(e) => {
                prop_assert!(!e.faults.is_empty());
                for f in &e.faults {
                    prop_assert_eq!(f.file.as_path(), Path::new("t.toml"));
                    prop_assert!(!f.message.is_empty());
                }
            }
        }
    }

    /// Arbitrary text, not only edits of a policy.
    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = load(&text);
    }
}

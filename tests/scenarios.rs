//! The scenarios of the reference documents, as policies in `config/`, checked
//! verdict by verdict against the reference evaluator: the access, the deciding
//! rule and the evaluated layers (scope, NSG, rule, access) in order.
//!
//! - `three-tier.toml`: reference 001, application security groups
//!   (AsgWeb/AsgLogic/AsgDb), IPv4 and IPv6.
//! - `layering.toml`: reference 001, "How traffic is evaluated" (VM1..VM4).
//! - `layered-backend.toml`: reference 003, App Service Environment back end.
//! - `payroll.toml`: reference 002, Payroll Logic -> ERP SAP across VNets.

use nsg_policy::query::{verdict_json, Query};
use nsg_policy::{evaluate, LoadOptions, Policy, Verdict};
use std::path::{Path, PathBuf};

/// One expected layer: scope, NSG, rule, access.
type L<'a> = (&'a str, &'a str, &'a str, &'a str);

fn config_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(file)
}

#[track_caller]
fn load(file: &str) -> Policy {
    match nsg_policy::load(&config_path(file), &LoadOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("config/{file} does not load:\n{e}"),
    }
}

/// Evaluate one `nsg verify`-style query.
#[track_caller]
fn verdict(p: &Policy, nic: &str, dir: &str, proto: &str, local: &str, remote: &str) -> Verdict {
    let q = Query::parse(p, nic, dir, proto, local, remote)
        .unwrap_or_else(|e| panic!("query {nic} {dir} {proto} {local} {remote}: {e}"));
    evaluate(p, q.nic, q.direction, &q.packet)
}

/// Check a query's access, deciding rule and layers; the verdict JSON must say
/// the same.
#[allow(clippy::too_many_arguments)]
#[track_caller]
fn check(
    p: &Policy,
    nic: &str,
    dir: &str,
    proto: &str,
    local: &str,
    remote: &str,
    access: &str,
    rule: Option<&str>,
    layers: &[L<'_>],
) {
    let what = format!("{nic} {dir} {proto} local {local} remote {remote}");
    let v = verdict(p, nic, dir, proto, local, remote);
    let got_layers: Vec<(String, String, String, String)> = v
        .layers
        .iter()
        .map(|l| {
            (
                l.scope.name().to_string(),
                p.nsgs[l.rule.nsg].name.clone(),
                l.rule.rule(p).name.clone(),
                l.access.name().to_string(),
            )
        })
        .collect();
    let want_layers: Vec<(String, String, String, String)> = layers
        .iter()
        .map(|&(s, n, r, a)| (s.to_string(), n.to_string(), r.to_string(), a.to_string()))
        .collect();
    assert_eq!(v.access.name(), access, "access of {what}");
    assert_eq!(
        v.decider.name(p).as_deref(),
        rule,
        "deciding rule of {what}"
    );
    assert_eq!(got_layers, want_layers, "layers of {what}");

    let json = verdict_json(p, &v);
    assert_eq!(json["access"], access, "JSON access of {what}: {json}");
    match rule {
        Some(r) => assert_eq!(json["rule"], r, "JSON rule of {what}: {json}"),
        None => assert!(json["rule"].is_null(), "JSON rule of {what}: {json}"),
    }
    let json_layers = json["layers"].as_array().expect("layers is an array");
    assert_eq!(
        json_layers.len(),
        layers.len(),
        "JSON layers of {what}: {json}"
    );
    for (j, &(s, n, r, a)) in json_layers.iter().zip(layers) {
        assert_eq!(
            (
                j["scope"].as_str(),
                j["nsg"].as_str(),
                j["rule"].as_str(),
                j["access"].as_str()
            ),
            (Some(s), Some(n), Some(r), Some(a)),
            "JSON layer of {what}: {json}"
        );
    }
}

// ---------------------------------------------------------------------------
// three-tier.toml: reference 001, application security groups
// ---------------------------------------------------------------------------

const HTTP_RULE: &str = "NSG1/Allow-HTTP-Inbound-Internet";
const DB_ALLOW: &str = "NSG1/Allow-Database-BusinessLogic";
const DB_DENY: &str = "NSG1/Deny-Database-All";

fn sub(rule: &'static str, access: &'static str) -> L<'static> {
    ("subnet", "NSG1", rule, access)
}

#[test]
fn three_tier_structure_matches_the_reference() {
    let p = load("three-tier.toml");
    assert_eq!(p.vnets.len(), 1);
    assert_eq!(p.subnets.len(), 2);
    assert_eq!(p.nics.len(), 4);
    assert!(!p.allow_cross_vnet_asg);
    let nsg1 = p.nsg_by_name("NSG1").expect("NSG1");
    // NSG1 on both subnets, no NIC NSG.
    for s in &p.subnets {
        assert_eq!(s.nsg, Some(nsg1), "subnet {}", s.name);
    }
    for n in &p.nics {
        assert_eq!(n.nsg, None, "nic {}", n.name);
        assert!(n.mac.is_some(), "nic {} has a mac", n.name);
        assert!(n.ips.iter().any(|ip| ip.is_ipv4()), "nic {} IPv4", n.name);
        assert!(n.ips.iter().any(|ip| ip.is_ipv6()), "nic {} IPv6", n.name);
        // Azure reserves the first four addresses of a subnet.
        for ip in &n.ips {
            let prefix = p.subnets[n.subnet]
                .prefixes
                .iter()
                .find(|x| x.contains(ip))
                .expect("NIC IP in its subnet");
            let offset = nsg_policy::prefix::addr_value(ip)
                - nsg_policy::prefix::addr_value(&prefix.network());
            assert!(offset >= 4, "nic {} ip {ip} is a reserved address", n.name);
        }
    }
    let members = |asg: &str| -> Vec<String> {
        let a = p.asg_by_name(asg).expect(asg);
        p.asgs[a]
            .members
            .iter()
            .map(|&n| p.nics[n].name.clone())
            .collect()
    };
    assert_eq!(members("AsgWeb"), ["NIC1", "NIC2"]);
    assert_eq!(members("AsgLogic"), ["NIC3"]);
    assert_eq!(members("AsgDb"), ["NIC4"]);
    let rules: Vec<(u32, &str)> = p.nsgs[nsg1]
        .inbound
        .iter()
        .filter(|r| !r.is_default)
        .map(|r| (r.priority, r.name.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            (100, "Allow-HTTP-Inbound-Internet"),
            (110, "Allow-Database-BusinessLogic"),
            (120, "Deny-Database-All")
        ]
    );
    assert_eq!(p.user_rule_count(), 3);
}

#[test]
fn three_tier_internet_reaches_the_web_tier_on_port_80() {
    let p = load("three-tier.toml");
    let ok = [sub("Allow-HTTP-Inbound-Internet", "Allow")];
    for (nic, local) in [("NIC1", "10.0.1.4:80"), ("NIC2", "10.0.1.5:80")] {
        for remote in ["203.0.113.7:50000", "8.8.8.8:1024", "168.63.129.16:40000"] {
            check(
                &p,
                nic,
                "inbound",
                "tcp",
                local,
                remote,
                "Allow",
                Some(HTTP_RULE),
                &ok,
            );
        }
    }
}

#[test]
fn three_tier_internet_other_ports_are_denied() {
    let p = load("three-tier.toml");
    let deny = [sub("DenyAllInBound", "Deny")];
    let d = Some("NSG1/DenyAllInBound");
    check(
        &p,
        "NIC1",
        "inbound",
        "tcp",
        "10.0.1.4:443",
        "203.0.113.7:50000",
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC2",
        "inbound",
        "tcp",
        "10.0.1.5:22",
        "203.0.113.7:50000",
        "Deny",
        d,
        &deny,
    );
    // Port 80 is a TCP rule: UDP 80 from the Internet is denied.
    check(
        &p,
        "NIC1",
        "inbound",
        "udp",
        "10.0.1.4:80",
        "203.0.113.7:50000",
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC1",
        "inbound",
        "icmp",
        "10.0.1.4",
        "203.0.113.7",
        "Deny",
        d,
        &deny,
    );
}

#[test]
fn three_tier_internet_cannot_reach_logic_or_db() {
    let p = load("three-tier.toml");
    let deny = [sub("DenyAllInBound", "Deny")];
    let d = Some("NSG1/DenyAllInBound");
    check(
        &p,
        "NIC3",
        "inbound",
        "tcp",
        "10.0.2.4:80",
        "203.0.113.7:50000",
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:80",
        "203.0.113.7:50000",
        "Deny",
        d,
        &deny,
    );
    // From the Internet, port 1433 is stopped by Deny-Database-All (priority
    // 120) before the default rule is reached.
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:1433",
        "203.0.113.7:50000",
        "Deny",
        Some(DB_DENY),
        &[sub("Deny-Database-All", "Deny")],
    );
}

#[test]
fn three_tier_only_logic_reaches_the_database() {
    let p = load("three-tier.toml");
    let deny = [sub("Deny-Database-All", "Deny")];
    // Web -> db 1433: Deny-Database-All, over TCP and (protocol Any) UDP.
    for web in ["10.0.1.4:50000", "10.0.1.5:50001"] {
        check(
            &p,
            "NIC4",
            "inbound",
            "tcp",
            "10.0.2.5:1433",
            web,
            "Deny",
            Some(DB_DENY),
            &deny,
        );
        check(
            &p,
            "NIC4",
            "inbound",
            "udp",
            "10.0.2.5:1433",
            web,
            "Deny",
            Some(DB_DENY),
            &deny,
        );
    }
    // Logic -> db 1433: Allow-Database-BusinessLogic, evaluated before the deny.
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:1433",
        "10.0.2.4:50000",
        "Allow",
        Some(DB_ALLOW),
        &[sub("Allow-Database-BusinessLogic", "Allow")],
    );
    // The allow is TCP only: UDP 1433 from logic falls to Deny-Database-All.
    check(
        &p,
        "NIC4",
        "inbound",
        "udp",
        "10.0.2.5:1433",
        "10.0.2.4:50000",
        "Deny",
        Some(DB_DENY),
        &deny,
    );
    // The sender side of web -> db passes AllowVnetOutBound: the deny is the
    // receiver's inbound evaluation.
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        "10.0.1.4:50000",
        "10.0.2.5:1433",
        "Allow",
        Some("NSG1/AllowVnetOutBound"),
        &[sub("AllowVnetOutBound", "Allow")],
    );
}

#[test]
fn three_tier_vnet_traffic_passes_allow_vnet_inbound() {
    let p = load("three-tier.toml");
    let ok = [sub("AllowVnetInBound", "Allow")];
    let r = Some("NSG1/AllowVnetInBound");
    // Web -> logic on any port.
    for port in ["8080", "22", "80", "1433"] {
        let local = format!("10.0.2.4:{port}");
        check(
            &p,
            "NIC3",
            "inbound",
            "tcp",
            &local,
            "10.0.1.4:50000",
            "Allow",
            r,
            &ok,
        );
    }
    // Web -> db on ports other than 1433, logic -> db on other ports.
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:22",
        "10.0.1.4:50000",
        "Allow",
        r,
        &ok,
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:1434",
        "10.0.2.4:50000",
        "Allow",
        r,
        &ok,
    );
    // Web -> web (port 443 is not covered by rule 100 but VNet traffic passes).
    check(
        &p,
        "NIC2",
        "inbound",
        "tcp",
        "10.0.1.5:443",
        "10.0.1.4:50000",
        "Allow",
        r,
        &ok,
    );
    // Logic -> web port 80: rule 100 needs an Internet source.
    check(
        &p,
        "NIC1",
        "inbound",
        "tcp",
        "10.0.1.4:80",
        "10.0.2.4:50000",
        "Allow",
        r,
        &ok,
    );
}

#[test]
fn three_tier_icmp_to_db_is_not_hit_by_deny_database_all() {
    let p = load("three-tier.toml");
    // Deny-Database-All has port 1433: ports only apply to TCP/UDP, so an ICMP
    // packet (no ports) does not match it.
    for src in ["10.0.1.4", "10.0.2.4"] {
        check(
            &p,
            "NIC4",
            "inbound",
            "icmp",
            "10.0.2.5",
            src,
            "Allow",
            Some("NSG1/AllowVnetInBound"),
            &[sub("AllowVnetInBound", "Allow")],
        );
    }
    // Nor do ESP or any other port-less protocol, given by number.
    check(
        &p,
        "NIC4",
        "inbound",
        "esp",
        "10.0.2.5",
        "10.0.1.4",
        "Allow",
        Some("NSG1/AllowVnetInBound"),
        &[sub("AllowVnetInBound", "Allow")],
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "47",
        "10.0.2.5",
        "10.0.1.4",
        "Allow",
        Some("NSG1/AllowVnetInBound"),
        &[sub("AllowVnetInBound", "Allow")],
    );
}

#[test]
fn three_tier_outbound_to_the_internet() {
    let p = load("three-tier.toml");
    let ok = [sub("AllowInternetOutBound", "Allow")];
    let r = Some("NSG1/AllowInternetOutBound");
    for (nic, local) in [
        ("NIC1", "10.0.1.4:50000"),
        ("NIC3", "10.0.2.4:50000"),
        ("NIC4", "10.0.2.5:50000"),
    ] {
        check(
            &p,
            nic,
            "outbound",
            "tcp",
            local,
            "203.0.113.7:443",
            "Allow",
            r,
            &ok,
        );
        check(
            &p,
            nic,
            "outbound",
            "udp",
            local,
            "8.8.8.8:53",
            "Allow",
            r,
            &ok,
        );
    }
    // Private space outside the VNet is neither VirtualNetwork nor Internet.
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        "10.0.1.4:50000",
        "192.168.1.10:443",
        "Deny",
        Some("NSG1/DenyAllOutBound"),
        &[sub("DenyAllOutBound", "Deny")],
    );
}

#[test]
fn three_tier_platform_traffic_bypasses_rules() {
    let p = load("three-tier.toml");
    for nic in ["NIC1", "NIC2", "NIC3", "NIC4"] {
        let n = p.nic_by_name(nic).unwrap();
        let local = p.nics[n].ips[0].to_string();
        let l = format!("{local}:50000");
        check(
            &p,
            nic,
            "outbound",
            "udp",
            &l,
            "168.63.129.16:53",
            "Allow",
            Some("platform/AzurePlatformDNS"),
            &[],
        );
        check(
            &p,
            nic,
            "outbound",
            "tcp",
            &l,
            "168.63.129.16:80",
            "Allow",
            Some("platform/AzurePlatformDNS"),
            &[],
        );
        check(
            &p,
            nic,
            "outbound",
            "tcp",
            &l,
            "169.254.169.254:80",
            "Allow",
            Some("platform/AzurePlatformIMDS"),
            &[],
        );
        check(
            &p,
            nic,
            "outbound",
            "icmp",
            &local,
            "169.254.169.254",
            "Allow",
            Some("platform/AzurePlatformIMDS"),
            &[],
        );
    }
    // Inbound from 168.63.129.16 (load-balancer probes) is evaluated normally.
    check(
        &p,
        "NIC3",
        "inbound",
        "tcp",
        "10.0.2.4:8080",
        "168.63.129.16:40000",
        "Allow",
        Some("NSG1/AllowAzureLoadBalancerInBound"),
        &[sub("AllowAzureLoadBalancerInBound", "Allow")],
    );
    // Another link-local address gets no bypass: it is special-use, not
    // Internet, so DenyAllOutBound.
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        "10.0.1.4:50000",
        "169.254.169.253:80",
        "Deny",
        Some("NSG1/DenyAllOutBound"),
        &[sub("DenyAllOutBound", "Deny")],
    );
}

#[test]
fn three_tier_platform_bypass_ends_when_a_rule_names_the_tag() {
    // An outbound rule naming AzurePlatformDNS as its destination makes
    // traffic to 168.63.129.16 evaluated like any other; IMDS stays bypassed.
    let path = config_path("three-tier.toml");
    let text = std::fs::read_to_string(&path).expect("read three-tier.toml");
    let text = format!(
        "{text}\n[[nsg.rule]]\nname = \"Deny-DNS\"\npriority = 200\ndirection = \"outbound\"\n\
         access = \"deny\"\nprotocol = \"udp\"\nsource = \"*\"\ndestination = \"AzurePlatformDNS\"\n\
         destination_ports = 53\n"
    );
    let p = nsg_policy::load_str(&text, &path, &LoadOptions::default()).expect("loads");
    check(
        &p,
        "NIC1",
        "outbound",
        "udp",
        "10.0.1.4:50000",
        "168.63.129.16:53",
        "Deny",
        Some("NSG1/Deny-DNS"),
        &[sub("Deny-DNS", "Deny")],
    );
    // Other traffic to 168.63.129.16 is evaluated too: it is an Internet address.
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        "10.0.1.4:50000",
        "168.63.129.16:80",
        "Allow",
        Some("NSG1/AllowInternetOutBound"),
        &[sub("AllowInternetOutBound", "Allow")],
    );
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        "10.0.1.4:50000",
        "169.254.169.254:80",
        "Allow",
        Some("platform/AzurePlatformIMDS"),
        &[],
    );
}

#[test]
fn three_tier_ipv6_from_the_internet() {
    let p = load("three-tier.toml");
    let internet6 = "[2603:1000::1]:50000";
    // 2001:db8::/32 is not in the special-use list of docs/policy.md: it is Internet too.
    for remote in [internet6, "[2001:db8::1]:50000"] {
        check(
            &p,
            "NIC1",
            "inbound",
            "tcp",
            "[fd00:10:0:1::4]:80",
            remote,
            "Allow",
            Some(HTTP_RULE),
            &[sub("Allow-HTTP-Inbound-Internet", "Allow")],
        );
    }
    check(
        &p,
        "NIC2",
        "inbound",
        "tcp",
        "[fd00:10:0:1::5]:80",
        internet6,
        "Allow",
        Some(HTTP_RULE),
        &[sub("Allow-HTTP-Inbound-Internet", "Allow")],
    );
    let deny = [sub("DenyAllInBound", "Deny")];
    let d = Some("NSG1/DenyAllInBound");
    check(
        &p,
        "NIC1",
        "inbound",
        "tcp",
        "[fd00:10:0:1::4]:443",
        internet6,
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC3",
        "inbound",
        "tcp",
        "[fd00:10:0:2::4]:80",
        internet6,
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "[fd00:10:0:2::5]:80",
        internet6,
        "Deny",
        d,
        &deny,
    );
    check(
        &p,
        "NIC1",
        "inbound",
        "icmp",
        "fd00:10:0:1::4",
        "2603:1000::1",
        "Deny",
        d,
        &deny,
    );
    // A ULA address outside the VNet is special-use, not Internet.
    check(
        &p,
        "NIC1",
        "inbound",
        "tcp",
        "[fd00:10:0:1::4]:80",
        "[fd12::1]:50000",
        "Deny",
        d,
        &deny,
    );
}

/// Three-tier over IPv6, inside the VNet: tiers and the way out.
#[test]
fn three_tier_ipv6_inside_the_vnet() {
    let p = load("three-tier.toml");
    let web6 = "[fd00:10:0:1::4]:50000";
    let logic6 = "[fd00:10:0:2::4]:50000";
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "[fd00:10:0:2::5]:1433",
        web6,
        "Deny",
        Some(DB_DENY),
        &[sub("Deny-Database-All", "Deny")],
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "tcp",
        "[fd00:10:0:2::5]:1433",
        logic6,
        "Allow",
        Some(DB_ALLOW),
        &[sub("Allow-Database-BusinessLogic", "Allow")],
    );
    let vnet_ok = [sub("AllowVnetInBound", "Allow")];
    let v = Some("NSG1/AllowVnetInBound");
    check(
        &p,
        "NIC3",
        "inbound",
        "tcp",
        "[fd00:10:0:2::4]:8080",
        web6,
        "Allow",
        v,
        &vnet_ok,
    );
    // ICMPv6 (icmp with IPv6 addresses) to the database: no ports, no 1433 deny.
    check(
        &p,
        "NIC4",
        "inbound",
        "icmp",
        "fd00:10:0:2::5",
        "fd00:10:0:1::4",
        "Allow",
        v,
        &vnet_ok,
    );
    check(
        &p,
        "NIC4",
        "inbound",
        "58",
        "fd00:10:0:2::5",
        "fd00:10:0:1::4",
        "Allow",
        v,
        &vnet_ok,
    );

    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        web6,
        "[2603:1000::1]:443",
        "Allow",
        Some("NSG1/AllowInternetOutBound"),
        &[sub("AllowInternetOutBound", "Allow")],
    );
    check(
        &p,
        "NIC1",
        "outbound",
        "tcp",
        web6,
        "[fd00:10:0:2::5]:1433",
        "Allow",
        Some("NSG1/AllowVnetOutBound"),
        &[sub("AllowVnetOutBound", "Allow")],
    );
}

#[test]
fn three_tier_queries_that_cannot_be_answered() {
    let p = load("three-tier.toml");
    let bad = |nic: &str, dir: &str, proto: &str, local: &str, remote: &str| {
        Query::parse(&p, nic, dir, proto, local, remote).is_err()
    };
    assert!(bad("NIC9", "inbound", "tcp", "10.0.1.4:80", "8.8.8.8:1"));
    // A local IP not of that NIC.
    assert!(bad("NIC1", "inbound", "tcp", "10.0.1.5:80", "8.8.8.8:1"));
    // Missing and extra ports.
    assert!(bad("NIC1", "inbound", "tcp", "10.0.1.4", "8.8.8.8:1"));
    assert!(bad("NIC1", "inbound", "icmp", "10.0.1.4:80", "8.8.8.8"));
    // Mixed address families.
    assert!(bad(
        "NIC1",
        "inbound",
        "tcp",
        "10.0.1.4:80",
        "[2603:1000::1]:1"
    ));
    // Values are case-insensitive.
    assert!(!bad("nic1", "Inbound", "TCP", "10.0.1.4:80", "8.8.8.8:1"));
}

// ---------------------------------------------------------------------------
// layering.toml: reference 001, "How traffic is evaluated"
// ---------------------------------------------------------------------------

const INTERNET: &str = "203.0.113.50:50000";

fn ip_of(nic: &str) -> &'static str {
    match nic {
        "VM1" => "10.1.1.4",
        "VM2" => "10.1.1.5",
        "VM3" => "10.1.2.4",
        "VM4" => "10.1.3.4",
        _ => unreachable!("no such VM"),
    }
}

#[test]
fn layering_structure() {
    let p = load("layering.toml");
    let nsg1 = p.nsg_by_name("NSG1");
    let nsg2 = p.nsg_by_name("NSG2");
    let subnet_nsg = |s: &str| p.subnets.iter().find(|x| x.name == s).unwrap().nsg;
    assert_eq!(subnet_nsg("Subnet1"), nsg1);
    assert_eq!(subnet_nsg("Subnet2"), None);
    assert_eq!(subnet_nsg("Subnet3"), None);
    let nic = |n: &str| &p.nics[p.nic_by_name(n).unwrap()];
    assert_eq!(nic("VM1").nsg, nsg2);
    assert_eq!(nic("VM2").nsg, None);
    assert_eq!(nic("VM3").nsg, nsg2);
    assert_eq!(nic("VM4").nsg, None);
    assert_eq!(p.subnets[nic("VM1").subnet].name, "Subnet1");
    assert_eq!(p.subnets[nic("VM2").subnet].name, "Subnet1");
    assert_eq!(p.subnets[nic("VM3").subnet].name, "Subnet2");
    assert_eq!(p.subnets[nic("VM4").subnet].name, "Subnet3");
}

#[test]
fn layering_vm1_inbound_needs_both_nsgs() {
    let p = load("layering.toml");
    // Port 80: NSG1 (subnet) allows, then NSG2 (NIC) allows.
    check(
        &p,
        "VM1",
        "inbound",
        "tcp",
        "10.1.1.4:80",
        INTERNET,
        "Allow",
        Some("NSG2/Allow-HTTP-Inbound-Internet"),
        &[
            ("subnet", "NSG1", "Allow-HTTP-Inbound-Internet", "Allow"),
            ("nic", "NSG2", "Allow-HTTP-Inbound-Internet", "Allow"),
        ],
    );
    // Port 8080: NSG1 allows, NSG2 does not: both must allow.
    check(
        &p,
        "VM1",
        "inbound",
        "tcp",
        "10.1.1.4:8080",
        INTERNET,
        "Deny",
        Some("NSG2/DenyAllInBound"),
        &[
            ("subnet", "NSG1", "Allow-8080-Inbound-Internet", "Allow"),
            ("nic", "NSG2", "DenyAllInBound", "Deny"),
        ],
    );
    // Port 8443: NSG1 denies, so NSG2 (which would allow) is never evaluated.
    check(
        &p,
        "VM1",
        "inbound",
        "tcp",
        "10.1.1.4:8443",
        INTERNET,
        "Deny",
        Some("NSG1/DenyAllInBound"),
        &[("subnet", "NSG1", "DenyAllInBound", "Deny")],
    );
    // Neither allows port 22: the first layer decides.
    check(
        &p,
        "VM1",
        "inbound",
        "tcp",
        "10.1.1.4:22",
        INTERNET,
        "Deny",
        Some("NSG1/DenyAllInBound"),
        &[("subnet", "NSG1", "DenyAllInBound", "Deny")],
    );
    // VNet traffic passes AllowVnetInBound in both.
    check(
        &p,
        "VM1",
        "inbound",
        "tcp",
        "10.1.1.4:22",
        "10.1.3.4:50000",
        "Allow",
        Some("NSG2/AllowVnetInBound"),
        &[
            ("subnet", "NSG1", "AllowVnetInBound", "Allow"),
            ("nic", "NSG2", "AllowVnetInBound", "Allow"),
        ],
    );
}

#[test]
fn layering_vm2_inbound_only_nsg1() {
    let p = load("layering.toml");
    check(
        &p,
        "VM2",
        "inbound",
        "tcp",
        "10.1.1.5:80",
        INTERNET,
        "Allow",
        Some("NSG1/Allow-HTTP-Inbound-Internet"),
        &[("subnet", "NSG1", "Allow-HTTP-Inbound-Internet", "Allow")],
    );
    check(
        &p,
        "VM2",
        "inbound",
        "tcp",
        "10.1.1.5:8080",
        INTERNET,
        "Allow",
        Some("NSG1/Allow-8080-Inbound-Internet"),
        &[("subnet", "NSG1", "Allow-8080-Inbound-Internet", "Allow")],
    );
    check(
        &p,
        "VM2",
        "inbound",
        "tcp",
        "10.1.1.5:8443",
        INTERNET,
        "Deny",
        Some("NSG1/DenyAllInBound"),
        &[("subnet", "NSG1", "DenyAllInBound", "Deny")],
    );
}

#[test]
fn layering_vm3_inbound_only_nsg2() {
    let p = load("layering.toml");
    check(
        &p,
        "VM3",
        "inbound",
        "tcp",
        "10.1.2.4:80",
        INTERNET,
        "Allow",
        Some("NSG2/Allow-HTTP-Inbound-Internet"),
        &[("nic", "NSG2", "Allow-HTTP-Inbound-Internet", "Allow")],
    );
    check(
        &p,
        "VM3",
        "inbound",
        "tcp",
        "10.1.2.4:8443",
        INTERNET,
        "Allow",
        Some("NSG2/Allow-8443-Inbound-Internet"),
        &[("nic", "NSG2", "Allow-8443-Inbound-Internet", "Allow")],
    );
    check(
        &p,
        "VM3",
        "inbound",
        "tcp",
        "10.1.2.4:8080",
        INTERNET,
        "Deny",
        Some("NSG2/DenyAllInBound"),
        &[("nic", "NSG2", "DenyAllInBound", "Deny")],
    );
}

#[test]
fn layering_vm4_allows_everything() {
    let p = load("layering.toml");
    for port in [80, 8080, 8443, 22, 3389] {
        let local = format!("10.1.3.4:{port}");
        let remote = format!("203.0.113.50:{port}");
        for dir in ["inbound", "outbound"] {
            check(&p, "VM4", dir, "tcp", &local, INTERNET, "Allow", None, &[]);
            check(&p, "VM4", dir, "udp", &local, &remote, "Allow", None, &[]);
        }
    }
    check(
        &p,
        "VM4",
        "inbound",
        "icmp",
        "10.1.3.4",
        "192.168.7.7",
        "Allow",
        None,
        &[],
    );
    check(
        &p,
        "VM4",
        "outbound",
        "esp",
        "10.1.3.4",
        "8.8.8.8",
        "Allow",
        None,
        &[],
    );
    // Platform traffic is still reported as such.
    check(
        &p,
        "VM4",
        "outbound",
        "udp",
        "10.1.3.4:5000",
        "168.63.129.16:53",
        "Allow",
        Some("platform/AzurePlatformDNS"),
        &[],
    );
}

#[test]
fn layering_outbound_nic_nsg_then_subnet_nsg() {
    let p = load("layering.toml");
    let out = |nic: &str, port: u16| {
        (
            format!("{}:50000", ip_of(nic)),
            format!("203.0.113.50:{port}"),
        )
    };
    // VM1, port 80: NSG2 then NSG1, both AllowInternetOutBound.
    let (l, r) = out("VM1", 80);
    check(
        &p,
        "VM1",
        "outbound",
        "tcp",
        &l,
        &r,
        "Allow",
        Some("NSG1/AllowInternetOutBound"),
        &[
            ("nic", "NSG2", "AllowInternetOutBound", "Allow"),
            ("subnet", "NSG1", "AllowInternetOutBound", "Allow"),
        ],
    );
    // VM1, port 25: NSG2 denies; NSG1 is never evaluated.
    let (l, r) = out("VM1", 25);
    check(
        &p,
        "VM1",
        "outbound",
        "tcp",
        &l,
        &r,
        "Deny",
        Some("NSG2/Deny-SMTP-Outbound-Internet"),
        &[("nic", "NSG2", "Deny-SMTP-Outbound-Internet", "Deny")],
    );
    // VM1, port 23: NSG2 allows, NSG1 denies.
    let (l, r) = out("VM1", 23);
    check(
        &p,
        "VM1",
        "outbound",
        "tcp",
        &l,
        &r,
        "Deny",
        Some("NSG1/Deny-Telnet-Outbound-Internet"),
        &[
            ("nic", "NSG2", "AllowInternetOutBound", "Allow"),
            ("subnet", "NSG1", "Deny-Telnet-Outbound-Internet", "Deny"),
        ],
    );
}

/// Layering outbound at VM2 (NSG1 only), VM3 (NSG2 only) and inside the VNet.
#[test]
fn layering_outbound_one_layer_and_vnet() {
    let p = load("layering.toml");
    let out = |nic: &str, port: u16| {
        (
            format!("{}:50000", ip_of(nic)),
            format!("203.0.113.50:{port}"),
        )
    };
    // VM2: NSG1 only.
    let (l, r) = out("VM2", 25);
    check(
        &p,
        "VM2",
        "outbound",
        "tcp",
        &l,
        &r,
        "Allow",
        Some("NSG1/AllowInternetOutBound"),
        &[("subnet", "NSG1", "AllowInternetOutBound", "Allow")],
    );
    let (l, r) = out("VM2", 23);
    check(
        &p,
        "VM2",
        "outbound",
        "tcp",
        &l,
        &r,
        "Deny",
        Some("NSG1/Deny-Telnet-Outbound-Internet"),
        &[("subnet", "NSG1", "Deny-Telnet-Outbound-Internet", "Deny")],
    );
    // VM3: NSG2 only.
    let (l, r) = out("VM3", 25);
    check(
        &p,
        "VM3",
        "outbound",
        "tcp",
        &l,
        &r,
        "Deny",
        Some("NSG2/Deny-SMTP-Outbound-Internet"),
        &[("nic", "NSG2", "Deny-SMTP-Outbound-Internet", "Deny")],
    );
    for port in [23, 80] {
        let (l, r) = out("VM3", port);
        check(
            &p,
            "VM3",
            "outbound",
            "tcp",
            &l,
            &r,
            "Allow",
            Some("NSG2/AllowInternetOutBound"),
            &[("nic", "NSG2", "AllowInternetOutBound", "Allow")],
        );
    }
    // VNet traffic outbound: both layers, AllowVnetOutBound.
    check(
        &p,
        "VM1",
        "outbound",
        "tcp",
        "10.1.1.4:50000",
        "10.1.2.4:25",
        "Allow",
        Some("NSG1/AllowVnetOutBound"),
        &[
            ("nic", "NSG2", "AllowVnetOutBound", "Allow"),
            ("subnet", "NSG1", "AllowVnetOutBound", "Allow"),
        ],
    );
}

// ---------------------------------------------------------------------------
// layered-backend.toml: reference 003, App Service Environment back end
// ---------------------------------------------------------------------------

const FRONT_ENDS: [(&str, &str); 4] = [
    ("fe1ase", "192.0.2.10"),
    ("fe2ase", "198.51.100.20"),
    ("fe3ase", "203.0.113.30"),
    ("apiase", "203.0.113.40"),
];

fn api<'a>(rule: &'a str, access: &'static str) -> L<'a> {
    ("subnet", "RestrictBackendApi", rule, access)
}

#[test]
fn layered_backend_front_ends_reach_the_api_on_80_and_443() {
    let p = load("layered-backend.toml");
    let rules: Vec<(u32, &str)> = p.nsgs[p.nsg_by_name("RestrictBackendApi").unwrap()]
        .inbound
        .iter()
        .filter(|r| !r.is_default)
        .map(|r| (r.priority, r.name.as_str()))
        .collect();
    assert_eq!(rules.len(), 9);
    assert_eq!(
        rules.iter().map(|r| r.0).collect::<Vec<_>>(),
        [100, 200, 300, 400, 500, 600, 700, 800, 900]
    );
    let names: Vec<&str> = rules.iter().map(|r| r.1).collect();
    for nic in ["apiase-worker1", "apiase-worker2"] {
        let ip = &p.nics[p.nic_by_name(nic).unwrap()].ips[0];
        for (fe, fe_ip) in FRONT_ENDS {
            for (port, scheme) in [(80, "HTTP"), (443, "HTTPS")] {
                let rule = format!("ALLOW-{scheme}-{fe}");
                assert!(names.contains(&rule.as_str()), "{rule} in {names:?}");
                let decider = format!("RestrictBackendApi/{rule}");
                check(
                    &p,
                    nic,
                    "inbound",
                    "tcp",
                    &format!("{ip}:{port}"),
                    &format!("{fe_ip}:50000"),
                    "Allow",
                    Some(&decider),
                    &[api(&rule, "Allow")],
                );
            }
            // Only 80 and 443 are open to the front ends.
            for port in [8080, 22, 3389] {
                check(
                    &p,
                    nic,
                    "inbound",
                    "tcp",
                    &format!("{ip}:{port}"),
                    &format!("{fe_ip}:50000"),
                    "Deny",
                    Some("RestrictBackendApi/DenyAllInBound"),
                    &[api("DenyAllInBound", "Deny")],
                );
            }
        }
    }
}

#[test]
fn layered_backend_other_internet_callers_are_denied() {
    let p = load("layered-backend.toml");
    // Neighbours of the allowed addresses, and the wider Internet, over IPv4.
    for remote in [
        "192.0.2.11",
        "198.51.100.21",
        "203.0.113.31",
        "203.0.113.99",
        "8.8.8.8",
        "65.52.1.1",
    ] {
        for port in [80, 443] {
            check(
                &p,
                "apiase-worker1",
                "inbound",
                "tcp",
                &format!("10.20.1.4:{port}"),
                &format!("{remote}:50000"),
                "Deny",
                Some("RestrictBackendApi/DenyAllInBound"),
                &[api("DenyAllInBound", "Deny")],
            );
        }
    }
    // The front-end rules are TCP: UDP 443 (QUIC) from a front end is denied.
    check(
        &p,
        "apiase-worker1",
        "inbound",
        "udp",
        "10.20.1.4:443",
        "192.0.2.10:50000",
        "Deny",
        Some("RestrictBackendApi/DenyAllInBound"),
        &[api("DenyAllInBound", "Deny")],
    );
}

#[test]
fn layered_backend_management_ports_open_to_the_internet() {
    let p = load("layered-backend.toml");
    let mgmt = Some("RestrictBackendApi/ALLOW-AzureMngmt");
    for remote in ["8.8.8.8", "203.0.113.99", "192.0.2.10", "65.52.1.1"] {
        for port in [454, 455] {
            check(
                &p,
                "apiase-worker2",
                "inbound",
                "tcp",
                &format!("10.20.1.5:{port}"),
                &format!("{remote}:50000"),
                "Allow",
                mgmt,
                &[api("ALLOW-AzureMngmt", "Allow")],
            );
        }
        for port in [453, 456] {
            check(
                &p,
                "apiase-worker2",
                "inbound",
                "tcp",
                &format!("10.20.1.5:{port}"),
                &format!("{remote}:50000"),
                "Deny",
                Some("RestrictBackendApi/DenyAllInBound"),
                &[api("DenyAllInBound", "Deny")],
            );
        }
    }
    // The rule is TCP.
    check(
        &p,
        "apiase-worker2",
        "inbound",
        "udp",
        "10.20.1.5:454",
        "8.8.8.8:50000",
        "Deny",
        Some("RestrictBackendApi/DenyAllInBound"),
        &[api("DenyAllInBound", "Deny")],
    );
    // A private address outside the VNet is not Internet: denied.
    check(
        &p,
        "apiase-worker2",
        "inbound",
        "tcp",
        "10.20.1.5:454",
        "192.168.5.5:50000",
        "Deny",
        Some("RestrictBackendApi/DenyAllInBound"),
        &[api("DenyAllInBound", "Deny")],
    );
}

#[test]
fn layered_backend_vnet_sources_pass_allow_vnet_inbound() {
    let p = load("layered-backend.toml");
    for remote in ["10.20.2.4", "10.20.1.5", "10.20.200.1"] {
        for port in [80, 443, 8080, 454] {
            // On 454 too: VNet addresses are not Internet, so the management
            // rule does not match them; AllowVnetInBound does.
            check(
                &p,
                "apiase-worker1",
                "inbound",
                "tcp",
                &format!("10.20.1.4:{port}"),
                &format!("{remote}:50000"),
                "Allow",
                Some("RestrictBackendApi/AllowVnetInBound"),
                &[api("AllowVnetInBound", "Allow")],
            );
        }
    }
    // The jumpbox's subnet has no NSG: everything reaches it.
    check(
        &p,
        "jumpbox",
        "inbound",
        "tcp",
        "10.20.2.4:22",
        "8.8.8.8:50000",
        "Allow",
        None,
        &[],
    );
    // Outbound from the API back end to the Internet: default allow.
    check(
        &p,
        "apiase-worker1",
        "outbound",
        "tcp",
        "10.20.1.4:50000",
        "192.0.2.10:443",
        "Allow",
        Some("RestrictBackendApi/AllowInternetOutBound"),
        &[api("AllowInternetOutBound", "Allow")],
    );
}

// ---------------------------------------------------------------------------
// payroll.toml: reference 002, ASGs across peered VNets
// ---------------------------------------------------------------------------

const LOGIC: &str = "10.30.2.4";
const WEB1: &str = "10.30.1.4";
const WEB2: &str = "10.30.1.5";
const SAP: &str = "10.40.1.4";

#[test]
fn payroll_structure() {
    let p = load("payroll.toml");
    assert!(p.allow_cross_vnet_asg);
    assert_eq!(p.vnets.len(), 2);
    let payroll = p.vnet_by_name("Payroll-VNet").unwrap();
    let erp = p.vnet_by_name("ERP-VNet").unwrap();
    assert_eq!(p.vnets[payroll].peerings, [erp]);
    assert_eq!(p.vnets[erp].peerings, [payroll]);
    let vnet_of_asg = |a: &str| {
        let g = p.asg_by_name(a).unwrap();
        let vnets: Vec<usize> = p.asgs[g].members.iter().map(|&n| p.nic_vnet(n)).collect();
        assert!(!vnets.is_empty(), "asg {a} has members");
        assert!(vnets.iter().all(|&v| v == vnets[0]), "asg {a} spans VNets");
        vnets[0]
    };
    assert_eq!(vnet_of_asg("Web"), payroll);
    assert_eq!(vnet_of_asg("Logic"), payroll);
    assert_eq!(vnet_of_asg("SAP"), erp);
}

#[test]
fn payroll_logic_reaches_sap_on_1433() {
    let p = load("payroll.toml");
    // Sender side: Payroll-NSG outbound on the Logic subnet.
    check(
        &p,
        "payroll-logic1",
        "outbound",
        "tcp",
        &format!("{LOGIC}:50000"),
        &format!("{SAP}:1433"),
        "Allow",
        Some("Payroll-NSG/Allow-Logic-To-SAP"),
        &[("subnet", "Payroll-NSG", "Allow-Logic-To-SAP", "Allow")],
    );
    // Receiver side: ERP-NSG inbound on the SAP subnet.
    check(
        &p,
        "erp-sap1",
        "inbound",
        "tcp",
        &format!("{SAP}:1433"),
        &format!("{LOGIC}:50000"),
        "Allow",
        Some("ERP-NSG/Allow-Logic-To-SAP"),
        &[("subnet", "ERP-NSG", "Allow-Logic-To-SAP", "Allow")],
    );
}

#[test]
fn payroll_web_does_not_reach_sap_on_1433() {
    let p = load("payroll.toml");
    for (nic, ip) in [("payroll-web1", WEB1), ("payroll-web2", WEB2)] {
        check(
            &p,
            nic,
            "outbound",
            "tcp",
            &format!("{ip}:50000"),
            &format!("{SAP}:1433"),
            "Deny",
            Some("Payroll-NSG/Deny-Other-To-SAP"),
            &[("subnet", "Payroll-NSG", "Deny-Other-To-SAP", "Deny")],
        );
        check(
            &p,
            "erp-sap1",
            "inbound",
            "tcp",
            &format!("{SAP}:1433"),
            &format!("{ip}:50000"),
            "Deny",
            Some("ERP-NSG/Deny-VNet-To-SAP"),
            &[("subnet", "ERP-NSG", "Deny-VNet-To-SAP", "Deny")],
        );
    }
    // The cross-VNet allow is TCP: UDP 1433 from Logic is denied too.
    check(
        &p,
        "erp-sap1",
        "inbound",
        "udp",
        &format!("{SAP}:1433"),
        &format!("{LOGIC}:50000"),
        "Deny",
        Some("ERP-NSG/Deny-VNet-To-SAP"),
        &[("subnet", "ERP-NSG", "Deny-VNet-To-SAP", "Deny")],
    );
    // From the Internet, SAP is closed by DenyAllInBound.
    check(
        &p,
        "erp-sap1",
        "inbound",
        "tcp",
        &format!("{SAP}:1433"),
        "203.0.113.5:50000",
        "Deny",
        Some("ERP-NSG/DenyAllInBound"),
        &[("subnet", "ERP-NSG", "DenyAllInBound", "Deny")],
    );
}

#[test]
fn payroll_peered_vnets_are_virtual_network() {
    let p = load("payroll.toml");
    // Web -> SAP on another port: the peering puts both VNets in
    // VirtualNetwork, so the default VNet rules allow it at both ends.
    check(
        &p,
        "payroll-web1",
        "outbound",
        "tcp",
        &format!("{WEB1}:50000"),
        &format!("{SAP}:443"),
        "Allow",
        Some("Payroll-NSG/AllowVnetOutBound"),
        &[("subnet", "Payroll-NSG", "AllowVnetOutBound", "Allow")],
    );
    check(
        &p,
        "erp-sap1",
        "inbound",
        "tcp",
        &format!("{SAP}:443"),
        &format!("{WEB1}:50000"),
        "Allow",
        Some("ERP-NSG/AllowVnetInBound"),
        &[("subnet", "ERP-NSG", "AllowVnetInBound", "Allow")],
    );
}

#[test]
fn payroll_internet_reaches_web_on_80_and_443() {
    let p = load("payroll.toml");
    for (nic, ip) in [("payroll-web1", WEB1), ("payroll-web2", WEB2)] {
        for port in [80, 443] {
            check(
                &p,
                nic,
                "inbound",
                "tcp",
                &format!("{ip}:{port}"),
                "203.0.113.5:50000",
                "Allow",
                Some("Payroll-NSG/Allow-Web-Internet"),
                &[("subnet", "Payroll-NSG", "Allow-Web-Internet", "Allow")],
            );
        }
        check(
            &p,
            nic,
            "inbound",
            "tcp",
            &format!("{ip}:8080"),
            "203.0.113.5:50000",
            "Deny",
            Some("Payroll-NSG/DenyAllInBound"),
            &[("subnet", "Payroll-NSG", "DenyAllInBound", "Deny")],
        );
    }
    check(
        &p,
        "payroll-logic1",
        "inbound",
        "tcp",
        &format!("{LOGIC}:80"),
        "203.0.113.5:50000",
        "Deny",
        Some("Payroll-NSG/DenyAllInBound"),
        &[("subnet", "Payroll-NSG", "DenyAllInBound", "Deny")],
    );
}

#[test]
fn payroll_needs_allow_cross_vnet_asg() {
    let path = config_path("payroll.toml");
    let text = std::fs::read_to_string(&path).expect("read payroll.toml");
    assert!(text.contains("\nallow_cross_vnet_asg = true\n"));
    let without = text.replace("\nallow_cross_vnet_asg = true\n", "\n");
    let err = nsg_policy::load_str(&without, &path, &LoadOptions::default())
        .expect_err("payroll.toml without allow_cross_vnet_asg must be refused");
    let text_of = |f: &nsg_policy::Fault| f.to_string();
    let all: Vec<String> = err.faults.iter().map(text_of).collect();
    assert!(
        err.faults
            .iter()
            .all(|f| f.message.contains("allow_cross_vnet_asg")),
        "every fault is the cross-VNet one: {all:#?}"
    );
    for rule in [
        "nsg Payroll-NSG rule Allow-Logic-To-SAP",
        "nsg ERP-NSG rule Allow-Logic-To-SAP",
    ] {
        assert!(
            err.faults.iter().any(|f| f.item == rule),
            "a fault names {rule}: {all:#?}"
        );
    }
    assert!(all.iter().all(|f| f.contains("payroll.toml")), "{all:#?}");
    // Setting it to false explicitly is refused the same way.
    let off = text.replace(
        "allow_cross_vnet_asg = true",
        "allow_cross_vnet_asg = false",
    );
    let err = nsg_policy::load_str(&off, &path, &LoadOptions::default()).unwrap_err();
    assert_eq!(err.faults.len(), all.len(), "{err}");
}

#[test]
fn every_config_loads() {
    // The four scenario files open with a comment saying what they show.
    for file in [
        "three-tier.toml",
        "layering.toml",
        "layered-backend.toml",
        "payroll.toml",
    ] {
        let text = std::fs::read_to_string(config_path(file)).expect("read config");
        assert!(text.starts_with("# "), "config/{file} opens with a comment");
        let reference = ["reference 001", "reference 002", "reference 003"];
        assert!(
            reference.iter().any(|r| text.contains(r)),
            "config/{file} names its reference document"
        );
    }
    // Every example policy in config/ loads.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config/") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        if let Err(e) = nsg_policy::load(&path, &LoadOptions::default()) {
            panic!("{} does not load:\n{e}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 4, "found {seen} configs");
}

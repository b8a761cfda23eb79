//! Random small policies and a small packet space to check the engine
//! against the reference evaluator by brute force.
#![allow(dead_code)]

use nsg_policy::eval::Packet;
use nsg_policy::{LoadOptions, Policy};
use std::net::IpAddr;

pub use nsg_analysis::synth::Rng;

const SIDES: &[&str] = &[
    "\"*\"",
    "\"*\"",
    "\"10.0.1.0/24\"",
    "\"10.0.1.4\"",
    "\"10.0.2.4\"",
    "\"VirtualNetwork\"",
    "\"Internet\"",
    "\"203.0.113.0/24\"",
    "\"fd00:0:0:1::/64\"",
    "\"AsgA\"",
    "\"AsgB\"",
    "\"AsgEmpty\"",
    "[\"AsgA\", \"AsgB\"]",
    "[\"10.0.2.0/24\", \"203.0.113.7\"]",
    "\"AzureLoadBalancer\"",
];
const PORTS: &[&str] = &["\"*\"", "\"*\"", "22", "\"80-81\"", "\"20-23\"", "3389"];
const PROTOS: &[&str] = &["tcp", "udp", "icmp", "*", "tcp", "esp"];

/// The TOML of a random small policy: one VNet (IPv4 and IPv6), two
/// subnets, three or four NICs, three ASGs (one empty), three NSGs with a
/// few random rules each, attached at random.
pub fn random_policy_toml(rng: &mut Rng) -> String {
    let mut s = String::new();
    s.push_str("[[vnet]]\nname = \"VNet\"\naddress_space = [\"10.0.0.0/16\", \"fd00::/48\"]\n\n");
    let nsg_or_none = |rng: &mut Rng| -> String {
        match rng.below(4) {
            0 => String::new(),
            k => format!("nsg = \"G{k}\"\n"),
        }
    };
    for (i, p) in [
        ("1", "10.0.1.0/24\", \"fd00:0:0:1::/64"),
        ("2", "10.0.2.0/24"),
    ] {
        s += &format!(
            "[[subnet]]\nname = \"S{i}\"\nvnet = \"VNet\"\nprefixes = [\"{p}\"]\n{}\n",
            nsg_or_none(rng)
        );
    }
    for a in ["AsgA", "AsgB", "AsgEmpty"] {
        s += &format!("[[asg]]\nname = \"{a}\"\n\n");
    }
    let nics = [
        ("N1", "S1", "\"10.0.1.4\", \"fd00:0:0:1::4\""),
        ("N2", "S1", "\"10.0.1.5\""),
        ("N3", "S2", "\"10.0.2.4\""),
        ("N4", "S2", "\"10.0.2.5\""),
    ];
    let n = 3 + rng.below(2);
    for (name, subnet, ips) in &nics[..n] {
        let asgs = match rng.below(4) {
            0 => "",
            1 => "asgs = [\"AsgA\"]\n",
            2 => "asgs = [\"AsgB\"]\n",
            _ => "asgs = [\"AsgA\", \"AsgB\"]\n",
        };
        s += &format!(
            "[[nic]]\nname = \"{name}\"\nsubnet = \"{subnet}\"\nips = [{ips}]\n{asgs}{}\n",
            nsg_or_none(rng)
        );
    }
    for g in 1..=3 {
        s += &format!("[[nsg]]\nname = \"G{g}\"\n\n");
        let rules = rng.below(6);
        for r in 0..rules {
            let proto = *rng.pick(PROTOS);
            let ported = proto == "tcp" || proto == "udp" || proto == "*";
            let (sp, dp) = if ported && proto != "*" {
                let sp = if rng.one_in(5) {
                    *rng.pick(PORTS)
                } else {
                    "\"*\""
                };
                (sp, *rng.pick(PORTS))
            } else {
                ("\"*\"", "\"*\"")
            };
            let mut src = *rng.pick(SIDES);
            let mut dst = *rng.pick(SIDES);
            let v4 = |x: &str| x.contains("10.0.") || x.contains("203.0");
            if src.contains("fd00") && v4(dst) {
                dst = "\"*\"";
            }
            if dst.contains("fd00") && v4(src) {
                src = "\"*\"";
            }
            s += &format!(
                "[[nsg.rule]]\nname = \"R{r}\"\npriority = {}\ndirection = \"{}\"\naccess = \"{}\"\nprotocol = \"{proto}\"\nsource = {}\nsource_ports = {sp}\ndestination = {}\ndestination_ports = {dp}\n\n",
                100 + 10 * r,
                if rng.one_in(2) { "inbound" } else { "outbound" },
                if rng.one_in(2) { "allow" } else { "deny" },
                src,
                dst,
            );
        }
    }
    s
}

/// Load a policy from TOML text (written to a temporary file).
pub fn load(text: &str, tag: &str) -> Result<Policy, nsg_policy::PolicyError> {
    // One directory per call: tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nsg-analysis-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("write policy");
    let r = nsg_policy::load(&path, &LoadOptions::default());
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Addresses the small packet space draws from: every NIC address, other
/// VNet addresses, Internet addresses, the platform's, IPv6.
pub fn addresses() -> Vec<IpAddr> {
    [
        "10.0.1.4",
        "10.0.1.5",
        "10.0.2.4",
        "10.0.2.5",
        "10.0.1.9",
        "10.0.9.9",
        "203.0.113.7",
        "203.0.113.200",
        "198.51.100.1",
        "168.63.129.16",
        "169.254.169.254",
        "192.168.0.1",
        "fd00:0:0:1::4",
        "fd00:0:0:2::9",
        "2001:db8::1",
        "2a01::1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

/// Ports the small packet space draws from.
pub const PORT_POINTS: &[u16] = &[0, 19, 20, 22, 23, 24, 80, 81, 82, 3389, 65535];
/// Protocols the small packet space draws from.
pub const PROTO_POINTS: &[u8] = &[1, 6, 17, 50, 51, 58, 0, 255];

/// Every packet of the small space between two addresses of one family.
pub fn packets() -> Vec<Packet> {
    let addrs = addresses();
    let mut out = Vec::new();
    for &src in &addrs {
        for &dst in &addrs {
            if src.is_ipv4() != dst.is_ipv4() {
                continue;
            }
            for &protocol in PROTO_POINTS {
                if protocol == 6 || protocol == 17 {
                    for &sp in &[20u16, 50000] {
                        for &dp in PORT_POINTS {
                            out.push(Packet {
                                protocol,
                                src,
                                dst,
                                src_port: Some(sp),
                                dst_port: Some(dp),
                            });
                        }
                    }
                } else {
                    out.push(Packet {
                        protocol,
                        src,
                        dst,
                        src_port: None,
                        dst_port: None,
                    });
                }
            }
        }
    }
    out
}

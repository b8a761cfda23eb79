//! Differential tests: the compiled matcher against the reference evaluator
//! on random policies and packets, and the core against a linear scan on
//! random rules. Each case runs on both compiled variants of the lookup
//! loops: the one this CPU selects and the portable one.

use nsg_classify::nsg::CompiledPolicy;
use nsg_classify::{Classifier, FieldRule, Key4, Key6, SimdPath, Width, NO_MATCH, NO_PORT};
use nsg_policy::eval::Packet;
use nsg_policy::{evaluate, Direction, LoadOptions};
use proptest::prelude::*;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// A small deterministic generator (splitmix64), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const PORTS: [u16; 10] = [0, 22, 53, 80, 443, 1433, 3389, 8080, 50000, 65535];

fn port_item(r: &mut Rng) -> String {
    if r.chance(50) {
        r.pick(&PORTS).to_string()
    } else {
        let a = *r.pick(&PORTS);
        let b = *r.pick(&PORTS);
        format!("{}-{}", a.min(b), a.max(b))
    }
}

fn ports(r: &mut Rng) -> String {
    if r.chance(40) {
        return "\"*\"".to_string();
    }
    let n = 1 + r.below(3);
    let items: Vec<String> = (0..n).map(|_| format!("\"{}\"", port_item(r))).collect();
    format!("[{}]", items.join(", "))
}

const V4_NETS: [&str; 10] = [
    "10.0.1.0/24",
    "10.0.0.0/16",
    "10.0.1.4",
    "10.1.1.0/24",
    "0.0.0.0/0",
    "8.8.8.0/24",
    "192.168.0.0/16",
    "168.63.129.16",
    "52.0.0.0/8",
    "10.0.2.5",
];
const V6_NETS: [&str; 6] = [
    "fd00:1::/48",
    "fd00:1:0:1::/64",
    "fd00:2::/48",
    "::/0",
    "2603:1000::/24",
    "fd00:1:0:2::5",
];
const TAGS: [&str; 7] = [
    "VirtualNetwork",
    "Internet",
    "AzureLoadBalancer",
    "AzurePlatformDNS",
    "AzurePlatformIMDS",
    "VIRTUAL_NETWORK",
    "internet",
];

fn side(r: &mut Rng, v6: bool) -> String {
    match r.below(4) {
        0 => "\"*\"".to_string(),
        1 => format!("\"{}\"", r.pick(&TAGS)),
        2 => {
            let n = 1 + r.below(2);
            let a: Vec<String> = (0..n).map(|_| format!("\"Asg{}\"", r.below(3))).collect();
            format!("[{}]", a.join(", "))
        }
        _ => {
            let n = 1 + r.below(3);
            let a: Vec<String> = (0..n)
                .map(|_| {
                    if v6 {
                        format!("\"{}\"", r.pick(&V6_NETS))
                    } else {
                        format!("\"{}\"", r.pick(&V4_NETS))
                    }
                })
                .collect();
            format!("[{}]", a.join(", "))
        }
    }
}

const NICS: [(&str, &str, &str, &str); 5] = [
    ("N0", "S1", "10.0.1.4", "fd00:1:0:1::4"),
    ("N1", "S1", "10.0.1.5", "fd00:1:0:1::5"),
    ("N2", "S2", "10.0.2.4", "fd00:1:0:2::4"),
    ("N3", "S2", "10.0.2.5", "fd00:1:0:2::5"),
    ("N4", "S3", "10.1.1.4", "fd00:2:0:1::4"),
];

fn random_policy(r: &mut Rng) -> String {
    let mut t = String::from("allow_cross_vnet_asg = true\n");
    let peered = r.chance(50);
    let onprem = if r.chance(50) {
        "on_premises = [\"192.168.0.0/16\"]\n"
    } else {
        ""
    };
    let _ = write!(
        t,
        "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\", \"fd00:1::/48\"]\n{}{}",
        if peered { "peerings = [\"V2\"]\n" } else { "" },
        onprem
    );
    let _ = write!(
        t,
        "[[vnet]]\nname = \"V2\"\naddress_space = [\"10.1.0.0/16\", \"fd00:2::/48\"]\n{}",
        if peered { "peerings = [\"V1\"]\n" } else { "" }
    );
    let nsg_ref = |r: &mut Rng| -> String {
        if r.chance(30) {
            String::new()
        } else {
            format!("nsg = \"G{}\"\n", r.below(3))
        }
    };
    for (name, vnet, p4, p6) in [
        ("S1", "V1", "10.0.1.0/24", "fd00:1:0:1::/64"),
        ("S2", "V1", "10.0.2.0/24", "fd00:1:0:2::/64"),
        ("S3", "V2", "10.1.1.0/24", "fd00:2:0:1::/64"),
    ] {
        let g = nsg_ref(r);
        let _ = write!(
            t,
            "[[subnet]]\nname = \"{name}\"\nvnet = \"{vnet}\"\nprefixes = [\"{p4}\", \"{p6}\"]\n{g}"
        );
    }
    for i in 0..3 {
        let _ = write!(t, "[[asg]]\nname = \"Asg{i}\"\n");
    }
    for (name, subnet, ip4, ip6) in NICS {
        let asgs: Vec<String> = (0..3)
            .filter(|_| r.chance(35))
            .map(|i| format!("\"Asg{i}\""))
            .collect();
        let g = nsg_ref(r);
        let _ = write!(
            t,
            "[[nic]]\nname = \"{name}\"\nsubnet = \"{subnet}\"\nips = [\"{ip4}\", \"{ip6}\"]\nasgs = [{}]\n{g}",
            asgs.join(", ")
        );
    }
    for g in 0..3 {
        let _ = write!(t, "[[nsg]]\nname = \"G{g}\"\n");
        let n = r.below(10);
        let mut used = std::collections::HashSet::new();
        for k in 0..n {
            let dir = if r.chance(50) { "inbound" } else { "outbound" };
            let mut prio = 100 + r.below(40) * 10;
            while !used.insert((dir, prio)) {
                prio += 1;
            }
            let proto = *r.pick(&["tcp", "udp", "icmp", "esp", "ah", "any", "*", "Tcp"]);
            let portless = matches!(proto, "icmp" | "esp" | "ah");
            let v6 = r.chance(30);
            let (sp, dp) = if portless {
                ("\"*\"".to_string(), "\"*\"".to_string())
            } else {
                (ports(r), ports(r))
            };
            let _ = write!(
                t,
                "[[nsg.rule]]\nname = \"R{k}\"\npriority = {prio}\ndirection = \"{dir}\"\naccess = \"{}\"\nprotocol = \"{proto}\"\nsource = {}\nsource_ports = {sp}\ndestination = {}\ndestination_ports = {dp}\n",
                if r.chance(50) { "allow" } else { "deny" },
                side(r, v6),
                side(r, v6),
            );
        }
    }
    t
}

const REMOTE4: [&str; 10] = [
    "10.0.1.4",
    "10.0.1.5",
    "10.0.2.4",
    "10.0.2.5",
    "10.1.1.4",
    "168.63.129.16",
    "169.254.169.254",
    "8.8.8.8",
    "192.168.3.4",
    "52.1.2.3",
];
const REMOTE6: [&str; 7] = [
    "fd00:1:0:1::4",
    "fd00:1:0:2::5",
    "fd00:2:0:1::4",
    "2603:1000::1",
    "fe80::1",
    "fd00:9::1",
    "2001:db8::1",
];

fn random_packet(r: &mut Rng) -> (usize, Direction, Packet) {
    let nic = r.below(NICS.len() as u64) as usize;
    let v6 = r.chance(30);
    let local: IpAddr = if v6 { NICS[nic].3 } else { NICS[nic].2 }.parse().unwrap();
    let remote: IpAddr = if v6 {
        r.pick(&REMOTE6).parse().unwrap()
    } else if r.chance(10) {
        IpAddr::from(std::net::Ipv4Addr::from(r.next() as u32))
    } else {
        r.pick(&REMOTE4).parse().unwrap()
    };
    let protocol = *r.pick(&[6u8, 6, 17, 17, 1, 58, 50, 51, 47, 0, 255]);
    let port = |r: &mut Rng| {
        if r.chance(70) {
            *r.pick(&PORTS)
        } else {
            r.next() as u16
        }
    };
    let with_ports = matches!(protocol, 6 | 17) && r.chance(95);
    let (sp, dp) = if with_ports {
        (Some(port(r)), Some(port(r)))
    } else {
        (None, None)
    };
    let dir = if r.chance(50) {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let (src, dst) = match dir {
        Direction::Inbound => (remote, local),
        Direction::Outbound => (local, remote),
    };
    (
        nic,
        dir,
        Packet {
            protocol,
            src,
            dst,
            src_port: sp,
            dst_port: dp,
        },
    )
}

const POLICIES: u32 = 250;
const PACKETS_PER_POLICY: usize = 400;

proptest! {
    #![proptest_config(ProptestConfig { cases: POLICIES, ..ProptestConfig::default() })]

    /// 250 random policies x 400 random packets = 100,000 cases per run.
    #[test]
    fn compiled_policy_agrees_with_reference(seed in any::<u64>()) {
        let mut r = Rng(seed);
        let text = random_policy(&mut r);
        let policy = match nsg_policy::load_str(&text, Path::new("random.toml"), &LoadOptions::default()) {
            Ok(p) => Arc::new(p),
            Err(e) => panic!("generated policy refused: {e}\n{text}"),
        };
        let compiled = CompiledPolicy::build(policy.clone());
        let portable = compiled.clone().with_simd(SimdPath::Portable);
        let mut queries = Vec::with_capacity(PACKETS_PER_POLICY);
        let mut decisions = Vec::with_capacity(PACKETS_PER_POLICY);
        for _ in 0..PACKETS_PER_POLICY {
            let (nic, dir, pkt) = random_packet(&mut r);
            queries.push((nic, dir, pkt));
            let want = evaluate(&policy, nic, dir, &pkt);
            let got = compiled.evaluate(nic, dir, &pkt);
            prop_assert_eq!(&got, &want, "nic {} {:?} {:?}\n{}", nic, dir, pkt, text);
            let decided = compiled.decide(nic, dir, &pkt);
            prop_assert_eq!(decided, (want.access, want.decider), "decide: nic {} {:?} {:?}", nic, dir, pkt);
            decisions.push(decided);
            let got = portable.evaluate(nic, dir, &pkt);
            prop_assert_eq!(got, want, "portable: nic {} {:?} {:?}\n{}", nic, dir, pkt, text);
        }
        let mut batch = Vec::new();
        compiled.evaluate_batch(&queries, &mut batch);
        prop_assert_eq!(batch, decisions);
    }

    /// The core against a linear scan, on narrow domains so rules collide.
    #[test]
    fn core_agrees_with_linear_scan(seed in any::<u64>()) {
        let mut r = Rng(seed);
        let range = |r: &mut Rng, max: u64| {
            let a = r.below(max + 1);
            let b = r.below(max + 1);
            (a.min(b), a.max(b))
        };
        let n = r.below(150) as usize;
        let rules: Vec<FieldRule> = (0..n)
            .map(|_| {
                let addr = |r: &mut Rng| -> Vec<(u128, u128)> {
                    if r.chance(20) {
                        return vec![(0, u32::MAX as u128)];
                    }
                    (0..1 + r.below(3))
                        .map(|_| {
                            let (a, b) = range(r, 64);
                            ((a as u128) << 26, ((b as u128) << 26) | 0x3ff_ffff)
                        })
                        .collect()
                };
                let port = |r: &mut Rng| -> Vec<(u32, u32)> {
                    if r.chance(30) {
                        return vec![(0, NO_PORT)];
                    }
                    (0..1 + r.below(2))
                        .map(|_| {
                            let (a, b) = range(r, 16);
                            (a as u32 * 4096, b as u32 * 4096 + 4095)
                        })
                        .collect()
                };
                let proto = if r.chance(40) {
                    vec![(0, 255)]
                } else {
                    let p = r.below(4) as u8 * 4;
                    vec![(p, p + r.below(3) as u8)]
                };
                FieldRule { src: addr(&mut r), dst: addr(&mut r), sport: port(&mut r), dport: port(&mut r), proto }
            })
            .collect();
        let detected = (Classifier::build(Width::V4, &rules), Classifier::build(Width::V6, &rules));
        let portable = (
            detected.0.clone().with_simd(SimdPath::Portable),
            detected.1.clone().with_simd(SimdPath::Portable),
        );
        prop_assert_eq!(portable.0.simd_path(), SimdPath::Portable);
        let keys: Vec<Key4> = (0..200)
            .map(|_| Key4 {
                src: r.next() as u32,
                dst: r.next() as u32,
                sport: if r.chance(5) { NO_PORT } else { r.below(65536) as u32 },
                dport: if r.chance(5) { NO_PORT } else { r.below(65536) as u32 },
                proto: r.below(16) as u8,
            })
            .collect();
        for (c4, c6) in [&detected, &portable] {
            let mut batch = vec![0u32; keys.len()];
            c4.lookup4_batch(&keys, &mut batch);
            for (k, b) in keys.iter().zip(&batch) {
                let want = rules
                    .iter()
                    .position(|x| x.matches(k.src as u128, k.dst as u128, k.sport, k.dport, k.proto))
                    .map_or(NO_MATCH, |i| i as u32);
                prop_assert_eq!(c4.lookup4(k), want);
                prop_assert_eq!(*b, want);
                let k6 = Key6 { src: k.src as u128, dst: k.dst as u128, sport: k.sport, dport: k.dport, proto: k.proto };
                prop_assert_eq!(c6.lookup6(&k6), want);
            }
        }
    }
}

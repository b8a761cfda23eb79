//! Seeded policies to measure the analysis with (`nsg bench analysis`): a
//! VNet of subnets and NICs, ASGs, subnet and NIC NSGs whose rules mix
//! ASGs, tags, prefixes, protocols and port ranges, and a changed copy of
//! it; and one NIC behind one large NSG, with a changed copy, for diff.

use std::fmt::Write as _;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// NICs (at least 1).
    pub nics: usize,
    /// ASGs (at least 1).
    pub asgs: usize,
    /// User rules over all NSGs.
    pub rules: usize,
    /// Rules of the single NSG of the diff policy.
    pub diff_rules: usize,
    /// Seed: the same options give the same policies.
    pub seed: u64,
}

/// The generated policies, as TOML.
#[derive(Debug, Clone)]
pub struct Synth {
    /// The large policy.
    pub policy: String,
    /// The large policy with about 2% of its rules changed.
    pub changed: String,
    /// One NIC behind one NSG of `diff_rules` rules.
    pub nsg: String,
    /// That NSG with about 2% of its rules changed.
    pub nsg_changed: String,
}

/// A small seeded generator (xorshift64*): the same seed gives the same
/// sequence, here and in the analysis tests' random policies.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is moved off zero.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `xs`, which must not be empty.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// One user rule, before it is written.
#[derive(Debug, Clone)]
struct RuleText {
    direction: &'static str,
    access: &'static str,
    protocol: &'static str,
    source: String,
    destination: String,
    destination_ports: String,
}

const WELL_KNOWN: &[u16] = &[
    22, 25, 53, 80, 443, 1433, 3306, 3389, 5432, 6379, 8080, 8443, 9200,
];

impl RuleText {
    fn random(rng: &mut Rng, subnets: usize, asgs: usize) -> RuleText {
        let protocol = match rng.below(10) {
            0..=4 => "tcp",
            5..=6 => "udp",
            7..=8 => "*",
            _ => "icmp",
        };
        let destination_ports = if protocol == "icmp" {
            "\"*\"".to_string()
        } else {
            match rng.below(10) {
                0..=5 => rng.pick(WELL_KNOWN).to_string(),
                6..=8 => {
                    let lo = 1024 + rng.below(30_000);
                    format!("\"{lo}-{}\"", lo + rng.below(2_000))
                }
                _ => "\"*\"".to_string(),
            }
        };
        RuleText {
            direction: if rng.chance(70) {
                "inbound"
            } else {
                "outbound"
            },
            access: if rng.chance(70) { "allow" } else { "deny" },
            protocol,
            source: side(rng, subnets, asgs),
            destination: side(rng, subnets, asgs),
            destination_ports,
        }
    }

    fn write(&self, out: &mut String, name: &str, priority: usize) {
        let _ = write!(
            out,
            "[[nsg.rule]]\nname = \"{name}\"\npriority = {priority}\ndirection = \"{}\"\n\
             access = \"{}\"\nprotocol = \"{}\"\nsource = {}\ndestination = {}\n\
             destination_ports = {}\n\n",
            self.direction,
            self.access,
            self.protocol,
            self.source,
            self.destination,
            self.destination_ports
        );
    }
}

/// A rule side: an ASG, a subnet's prefix, a random prefix of the VNet, a
/// tag, a public prefix or any.
fn side(rng: &mut Rng, subnets: usize, asgs: usize) -> String {
    match rng.below(20) {
        0..=7 => format!("\"Asg{}\"", rng.below(asgs)),
        8..=10 => format!("\"{}\"", subnet_prefix(rng.below(subnets))),
        11..=12 => {
            let len = 16 + rng.below(13);
            let v = (10u32 << 24) | (rng.next_u64() as u32 & 0x00ff_ffff);
            let mask = u32::MAX << (32 - len);
            format!("\"{}/{len}\"", std::net::Ipv4Addr::from(v & mask))
        }
        13..=14 => "\"Internet\"".to_string(),
        15..=16 => "\"VirtualNetwork\"".to_string(),
        17 => format!("\"{}.{}.0.0/16\"", 20 + rng.below(180), rng.below(256)),
        _ => "\"*\"".to_string(),
    }
}

/// Subnet `k`'s prefix: a /24 in 10.0.0.0/8.
fn subnet_prefix(k: usize) -> String {
    format!("10.{}.{}.0/24", k / 250, k % 250)
}

/// NIC `i`'s address in subnet `k` (50 NICs a subnet).
fn nic_ip(k: usize, i: usize) -> String {
    format!("10.{}.{}.{}", k / 250, k % 250, 4 + i % 50)
}

/// The policies `o` asks for.
pub fn generate(o: &SynthOptions) -> Synth {
    let mut rng = Rng::new(o.seed);
    let (policy, changed) = large(&mut rng, o);
    let (nsg, nsg_changed) = single(&mut rng, o.diff_rules);
    Synth {
        policy,
        changed,
        nsg,
        nsg_changed,
    }
}

/// The large policy and its changed copy.
fn large(rng: &mut Rng, o: &SynthOptions) -> (String, String) {
    let nics = o.nics.max(1);
    let asgs = o.asgs.max(1);
    let subnets = nics.div_ceil(50);
    let nic_nsgs = nics.div_ceil(25);
    let mut head =
        String::from("[[vnet]]\nname = \"BenchVNet\"\naddress_space = [\"10.0.0.0/8\"]\n\n");
    for k in 0..subnets {
        let _ = write!(
            head,
            "[[subnet]]\nname = \"Subnet{k}\"\nvnet = \"BenchVNet\"\nprefixes = [\"{}\"]\nnsg = \"SubnetNsg{k}\"\n\n",
            subnet_prefix(k)
        );
    }
    for a in 0..asgs {
        let _ = write!(head, "[[asg]]\nname = \"Asg{a}\"\n\n");
    }
    for i in 0..nics {
        let k = i / 50;
        let mut groups = vec![rng.below(asgs)];
        if rng.chance(40) {
            groups.push(rng.below(asgs));
        }
        groups.sort_unstable();
        groups.dedup();
        let list: Vec<String> = groups.iter().map(|g| format!("\"Asg{g}\"")).collect();
        let nsg = if rng.chance(80) {
            format!("nsg = \"NicNsg{}\"\n", rng.below(nic_nsgs))
        } else {
            String::new()
        };
        let _ = write!(
            head,
            "[[nic]]\nname = \"Nic{i}\"\nsubnet = \"Subnet{k}\"\nips = [\"{}\"]\nasgs = [{}]\n{nsg}\n",
            nic_ip(k, i),
            list.join(", ")
        );
    }
    let groups: Vec<String> = (0..subnets)
        .map(|k| format!("SubnetNsg{k}"))
        .chain((0..nic_nsgs).map(|j| format!("NicNsg{j}")))
        .collect();
    let per = o.rules / groups.len().max(1);
    let mut extra = o.rules % groups.len().max(1);
    let mut old = head.clone();
    let mut new = head;
    for g in &groups {
        let n = per + usize::from(extra > 0);
        extra = extra.saturating_sub(1);
        let rules: Vec<RuleText> = (0..n)
            .map(|_| RuleText::random(rng, subnets, asgs))
            .collect();
        write_nsg(&mut old, g, &rules);
        write_nsg(&mut new, g, &change(rng, rules, subnets, asgs));
    }
    (old, new)
}

/// One NIC behind one NSG of `rules` rules, and the changed copy.
fn single(rng: &mut Rng, rules: usize) -> (String, String) {
    let head = "[[vnet]]\nname = \"DiffVNet\"\naddress_space = [\"10.0.0.0/8\"]\n\n\
                [[subnet]]\nname = \"Subnet0\"\nvnet = \"DiffVNet\"\nprefixes = [\"10.0.0.0/24\"]\n\n\
                [[asg]]\nname = \"Asg0\"\n\n\
                [[nic]]\nname = \"Nic0\"\nsubnet = \"Subnet0\"\nips = [\"10.0.0.4\"]\nasgs = [\"Asg0\"]\nnsg = \"BigNsg\"\n\n";
    let list: Vec<RuleText> = (0..rules).map(|_| RuleText::random(rng, 1, 1)).collect();
    let mut old = head.to_string();
    let mut new = head.to_string();
    write_nsg(&mut old, "BigNsg", &list);
    write_nsg(&mut new, "BigNsg", &change(rng, list, 1, 1));
    (old, new)
}

/// About 2% of the rules changed: access flipped, port changed, removed,
/// or a new rule put in their place.
fn change(rng: &mut Rng, rules: Vec<RuleText>, subnets: usize, asgs: usize) -> Vec<RuleText> {
    let mut out = Vec::with_capacity(rules.len());
    for mut r in rules {
        if !rng.chance(2) {
            out.push(r);
            continue;
        }
        match rng.below(4) {
            0 => {
                r.access = if r.access == "allow" { "deny" } else { "allow" };
                out.push(r);
            }
            1 => {
                if r.protocol != "icmp" {
                    r.destination_ports = rng.pick(WELL_KNOWN).to_string();
                }
                out.push(r);
            }
            2 => {}
            _ => out.push(RuleText::random(rng, subnets, asgs)),
        }
    }
    out
}

/// An NSG and its rules, priorities from 100 up in list order, each
/// direction numbered apart.
fn write_nsg(out: &mut String, name: &str, rules: &[RuleText]) {
    let _ = write!(out, "[[nsg]]\nname = \"{name}\"\n\n");
    let (mut inb, mut outb) = (100, 100);
    for (i, r) in rules.iter().enumerate() {
        let p = if r.direction == "inbound" {
            &mut inb
        } else {
            &mut outb
        };
        r.write(out, &format!("Rule{i}"), *p);
        *p += 1;
    }
}

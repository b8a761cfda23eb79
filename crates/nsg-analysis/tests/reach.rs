//! Reach cells against the reference evaluator, by brute force over a
//! packet space holding every boundary value of every rule field, on
//! random small policies.

mod common;

use common::*;
use nsg_analysis::decide::{fam_index, Compiled, FAMILIES};
use nsg_analysis::reach::{entities, reach, svg, Allowed, By, Level, Pair, Reach, INTERNET};
use nsg_analysis::space::{Ranges, DPORT, PROTO, SPORT, SRC};
use nsg_policy::eval::Packet;
use nsg_policy::model::{has_ports, Access, Direction, Policy};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{BuiltinTag, AZURE_HOST_IP, AZURE_IMDS_IP};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// A (protocol, destination port) point; `None` for protocols without ports.
type Point = (u8, Option<u16>);

/// Per (sender, receiver) NIC pair, the points it connects on.
type PairPoints = HashMap<(usize, usize), HashSet<Point>>;

/// The values at and around each end of each range, inside `0..=max`.
fn boundaries(lists: &[&Ranges], max: u128, out: &mut Vec<u128>) {
    for l in lists {
        for &(lo, hi) in l.ranges() {
            for v in [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)] {
                out.extend(v.filter(|&v| v <= max));
            }
        }
    }
}

/// The sample points of a policy: protocols, ports (for both port
/// fields), and one Internet address per distinct membership in the
/// rules' source lists, by family.
struct Samples {
    protos: Vec<u8>,
    dports: Vec<u16>,
    sports: Vec<u16>,
    internet: Vec<IpAddr>,
}

fn samples(policy: &Policy) -> Samples {
    let mut compiled = Compiled::new();
    let (mut protos, mut dports, mut sports) =
        (vec![0, 1, 6, 17, 58, 255], vec![0, 65535], vec![0]);
    let mut srcs: [Vec<Ranges>; 2] = Default::default();
    for g in 0..policy.nsgs.len() {
        for dir in [Direction::Inbound, Direction::Outbound] {
            for rule in &compiled.nsg(policy, g, dir, 0).rules {
                for c in rule.iter().flatten() {
                    boundaries(&[&c.f[PROTO]], 255, &mut protos);
                    boundaries(&[&c.f[DPORT]], 65535, &mut dports);
                    boundaries(&[&c.f[SPORT]], 65535, &mut sports);
                    srcs[fam_index(c.fam)].push(c.f[SRC].clone());
                }
            }
        }
    }
    // The Internet tag, less the platform's virtual host addresses.
    let tag = policy.builtin_set(BuiltinTag::Internet, 0);
    let platform = [AZURE_HOST_IP, AZURE_IMDS_IP].map(|ip| addr_value(&ip));
    let mut internet = Vec::new();
    for fam in FAMILIES {
        let lists = &srcs[fam_index(fam)];
        let inet = Ranges::new(tag.ranges(fam).to_vec());
        let mut cands = Vec::new();
        let refs: Vec<&Ranges> = lists.iter().chain([&inet]).collect();
        boundaries(&refs, fam.max(), &mut cands);
        let mut seen = HashSet::new();
        for v in cands {
            if inet.contains(v)
                && !(fam == Family::V4 && platform.contains(&v))
                && seen.insert(lists.iter().map(|l| l.contains(v)).collect::<Vec<_>>())
            {
                internet.push(addr(fam, v));
            }
        }
    }
    let narrow = |v: Vec<u128>| -> Vec<u16> {
        let mut v: Vec<u16> = v.into_iter().map(|x| x as u16).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut protos: Vec<u8> = narrow(protos).into_iter().map(|x| x as u8).collect();
    protos.dedup();
    Samples {
        protos,
        dports: narrow(dports),
        sports: narrow(sports),
        internet,
    }
}

fn addr(fam: Family, v: u128) -> IpAddr {
    match fam {
        Family::V4 => std::net::Ipv4Addr::from(v as u32).into(),
        Family::V6 => std::net::Ipv6Addr::from(v).into(),
    }
}

/// The points on which some packet from `a` to `b` passes `ok`, over
/// every sampled source port.
fn connects(s: &Samples, a: IpAddr, b: IpAddr, ok: &dyn Fn(&Packet) -> bool) -> HashSet<Point> {
    let mut out = HashSet::new();
    for &protocol in &s.protos {
        if !has_ports(protocol) {
            let pkt = Packet {
                protocol,
                src: a,
                dst: b,
                src_port: None,
                dst_port: None,
            };
            if ok(&pkt) {
                out.insert((protocol, None));
            }
            continue;
        }
        for &dp in &s.dports {
            let hit = s.sports.iter().any(|&sp| {
                ok(&Packet {
                    protocol,
                    src: a,
                    dst: b,
                    src_port: Some(sp),
                    dst_port: Some(dp),
                })
            });
            if hit {
                out.insert((protocol, Some(dp)));
            }
        }
    }
    out
}

/// Per NIC pair, the sampled points on which it connects end to end; per
/// NIC, the points the Internet connects on.
fn brute_force(policy: &Policy, s: &Samples) -> (PairPoints, Vec<HashSet<Point>>) {
    let allow = |nic: usize, dir: Direction, p: &Packet| {
        nsg_policy::evaluate(policy, nic, dir, p).access == Access::Allow
    };
    let n = policy.nics.len();
    let mut pairs = HashMap::new();
    for src in 0..n {
        for dst in (0..n).filter(|&d| d != src) {
            let mut set = HashSet::new();
            for &a in &policy.nics[src].ips {
                for &b in policy.nics[dst]
                    .ips
                    .iter()
                    .filter(|b| b.is_ipv4() == a.is_ipv4())
                {
                    set.extend(connects(s, a, b, &|p| {
                        allow(src, Direction::Outbound, p) && allow(dst, Direction::Inbound, p)
                    }));
                }
            }
            pairs.insert((src, dst), set);
        }
    }
    let internet = (0..n)
        .map(|dst| {
            let mut set = HashSet::new();
            for &b in &policy.nics[dst].ips {
                for &a in s.internet.iter().filter(|a| a.is_ipv4() == b.is_ipv4()) {
                    set.extend(connects(s, a, b, &|p| allow(dst, Direction::Inbound, p)));
                }
            }
            set
        })
        .collect();
    (pairs, internet)
}

/// Every sampled point, for the iff.
fn points(s: &Samples) -> Vec<Point> {
    let mut out = Vec::new();
    for &p in &s.protos {
        if has_ports(p) {
            out.extend(s.dports.iter().map(|&d| (p, Some(d))));
        } else {
            out.push((p, None));
        }
    }
    out
}

fn check_cell(got: &Allowed, want: &HashSet<Point>, pts: &[Point], what: &str) {
    for &(p, d) in pts {
        assert_eq!(
            got.contains(p, d),
            want.contains(&(p, d)),
            "{what}: protocol {p} port {d:?}, cell {}",
            got.summary()
        );
    }
    for g in got.groups() {
        let ported = g
            .protocols
            .ranges()
            .iter()
            .all(|&(lo, hi)| (lo..=hi).all(|x| has_ports(x as u8)));
        assert_eq!(g.destination_ports.is_some(), ported, "{what}: group {g:?}");
    }
}

#[test]
fn every_cell_lists_exactly_the_points_some_member_pair_connects_on() {
    let mut cells = 0usize;
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed);
        let text = random_policy_toml(&mut rng);
        let policy =
            load(&text, &format!("r{seed}")).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let s = samples(&policy);
        let pts = points(&s);
        let (pairs, internet) = brute_force(&policy, &s);
        for by in [By::Nic, By::Asg, By::Subnet] {
            let r = reach(&policy, by);
            let ents = entities(&policy, by);
            let skip = usize::from(by == By::Nic);
            assert_eq!(
                r.pairs.len(),
                ents.len() * (ents.len() + 1 - skip),
                "seed {seed} {by:?}"
            );
            for (sname, sm) in &ents {
                for (dname, dm) in &ents {
                    let cell = r.cell(sname, dname);
                    if by == By::Nic && sname == dname {
                        assert!(cell.is_none(), "a NIC to itself is no pair");
                        continue;
                    }
                    let mut want = HashSet::new();
                    for &a in sm {
                        for &b in dm.iter().filter(|&&b| b != a) {
                            want.extend(pairs[&(a, b)].iter().copied());
                        }
                    }
                    let what = format!("seed {seed} {by:?} {sname} -> {dname}\n{text}");
                    check_cell(cell.expect("every cell present"), &want, &pts, &what);
                    cells += 1;
                }
                let want: HashSet<Point> = sm
                    .iter()
                    .flat_map(|&d| internet[d].iter().copied())
                    .collect();
                let what = format!("seed {seed} {by:?} Internet -> {sname}\n{text}");
                check_cell(
                    r.cell(INTERNET, sname).expect("Internet row present"),
                    &want,
                    &pts,
                    &what,
                );
            }
        }
    }
    assert!(cells > 1000, "only {cells} cells checked");
}

/// A policy whose two ends each allow TCP 22 but from disjoint source
/// ports: N1 sends only from ports 1024 and up, N2 takes only ports
/// below 1024, so nothing connects on TCP 22 although each end alone
/// allows it. Projecting before intersecting would list it.
const DISJOINT_SOURCE_PORTS: &str = r#"
[[vnet]]
name = "VNet"
address_space = ["10.0.0.0/16"]

[[subnet]]
name = "S1"
vnet = "VNet"
prefixes = ["10.0.1.0/24"]

[[nic]]
name = "N1"
subnet = "S1"
ips = ["10.0.1.4"]
nsg = "Out"

[[nic]]
name = "N2"
subnet = "S1"
ips = ["10.0.1.5"]
nsg = "In"

[[nsg]]
name = "Out"

[[nsg.rule]]
name = "LowSourcePorts"
priority = 100
direction = "outbound"
access = "deny"
protocol = "tcp"
source = "*"
source_ports = "0-1023"
destination = "*"
destination_ports = 22

[[nsg]]
name = "In"

[[nsg.rule]]
name = "HighSourcePorts"
priority = 100
direction = "inbound"
access = "deny"
protocol = "tcp"
source = "*"
source_ports = "1024-65535"
destination = "*"
destination_ports = 22
"#;

#[test]
fn source_ports_are_intersected_before_they_are_dropped() {
    let policy = load(DISJOINT_SOURCE_PORTS, "sports").expect("policy loads");
    let r = reach(&policy, By::Nic);
    let one_two = r.cell("N1", "N2").expect("N1 -> N2 present");
    assert!(!one_two.contains(6, Some(22)), "{}", one_two.summary());
    assert!(one_two.contains(6, Some(21)) && one_two.contains(6, Some(23)));
    assert!(one_two.contains(17, Some(22)) && one_two.contains(1, None));
    assert_eq!(one_two.summary(), "tcp:0-21,23-65535 udp:* other");
    let two_one = r.cell("N2", "N1").expect("N2 -> N1 present");
    assert_eq!(two_one.summary(), "all");
}

/// The `<rect class="cell ...">` elements of an SVG picture, with the text
/// of each one's `<title>`.
fn svg_cells(text: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(text).expect("the SVG parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|w| w == "cell"))
        })
        .map(|n| {
            let class = n.attribute("class").unwrap_or_default().to_string();
            let title = n
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .expect("every cell has a title")
                .to_string();
            (class, title)
        })
        .collect()
}

#[test]
fn the_svg_has_one_titled_cell_per_pair() {
    for seed in 0..20u64 {
        let mut rng = Rng::new(seed);
        let text = random_policy_toml(&mut rng);
        let policy = load(&text, &format!("s{seed}")).expect("policy loads");
        for by in [By::Nic, By::Asg, By::Subnet] {
            let r = reach(&policy, by);
            let cells = svg_cells(&svg::render(&r));
            assert_eq!(cells.len(), r.pairs.len(), "seed {seed} {by:?}");
            for ((class, title), p) in cells.iter().zip(&r.pairs) {
                let level = match p.allowed.level() {
                    Level::None => "none",
                    Level::Some => "some",
                    Level::All => "all",
                };
                assert_eq!(class, &format!("cell {level}"));
                assert_eq!(
                    title,
                    &format!("{} to {}: {}", p.from, p.to, p.allowed.summary())
                );
            }
        }
    }
}

#[test]
fn svg_names_are_escaped() {
    let odd = "<Web & \"Db\">".to_string();
    let r = Reach {
        by: By::Asg,
        sources: vec![odd.clone(), INTERNET.to_string()],
        destinations: vec![odd.clone()],
        pairs: vec![
            Pair {
                from: odd.clone(),
                to: odd.clone(),
                allowed: Allowed::none(),
            },
            Pair {
                from: INTERNET.to_string(),
                to: odd.clone(),
                allowed: Allowed::none(),
            },
        ],
    };
    let svg = svg::render(&r);
    let cells = svg_cells(&svg);
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0].1, format!("{odd} to {odd}: -"));
    let doc = roxmltree::Document::parse(&svg).expect("parses");
    let labels = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.text() == Some(odd.as_str()))
        .count();
    assert_eq!(labels, 2, "one row and one column label");
}

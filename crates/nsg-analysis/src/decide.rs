//! Who decides what, over whole sets of packets: the packets at a NIC in a
//! direction cut into disjoint cubes, each with its verdict and deciding
//! rule exactly as the reference evaluator (`nsg_policy::eval`) gives them
//! for every packet inside.

use crate::space::{Cube, Ranges, Region, DPORT, DST, NO_PORT, PROTO, SPORT, SRC};
use nsg_classify::nsg::field_rule;
use nsg_policy::eval::{Decider, Layer, Platform, RuleRef};
use nsg_policy::model::{Access, Direction, NicId, NsgId, Policy, Side, Tag, VNetId};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{BuiltinTag, AZURE_HOST_IP, AZURE_IMDS_IP};
use std::collections::HashMap;

/// Both address families, IPv4 first.
pub const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

/// Every packet of a family: TCP and UDP with every port pair, every
/// other protocol without ports.
pub fn universe(fam: Family) -> Region {
    let addr = Ranges::one(0, fam.max());
    let ported = Ranges::new(vec![(6, 6), (17, 17)]);
    let ports = Ranges::one(0, 65535);
    Region {
        cubes: vec![
            Cube {
                fam,
                f: [
                    addr.clone(),
                    addr.clone(),
                    ported.clone(),
                    ports.clone(),
                    ports,
                ],
            },
            Cube {
                fam,
                f: [
                    addr.clone(),
                    addr,
                    Ranges::one(0, 255).subtract(&ported),
                    Ranges::value(NO_PORT),
                    Ranges::value(NO_PORT),
                ],
            },
        ],
    }
}

/// The packets at `nic` in `dir`: those whose local address (the
/// destination inbound, the source outbound) is one of the NIC's.
pub fn nic_space(policy: &Policy, nic: NicId, dir: Direction) -> Region {
    let local = local_field(dir);
    let mut out = Region::empty();
    for fam in FAMILIES {
        let ips = Ranges::new(
            policy.nics[nic]
                .ips
                .iter()
                .filter(|ip| Family::of(ip) == fam)
                .map(|ip| (addr_value(ip), addr_value(ip)))
                .collect(),
        );
        if ips.is_empty() {
            continue;
        }
        for mut c in universe(fam).cubes {
            c.f[local] = ips.clone();
            out.cubes.push(c);
        }
    }
    out
}

/// The field holding the NIC's own address in `dir`.
pub fn local_field(dir: Direction) -> usize {
    match dir {
        Direction::Inbound => DST,
        Direction::Outbound => SRC,
    }
}

/// The field holding the other end's address in `dir`.
pub fn remote_field(dir: Direction) -> usize {
    match dir {
        Direction::Inbound => SRC,
        Direction::Outbound => DST,
    }
}

/// A rule's packets, one cube per family (`None` where it matches none of
/// that family), with tags and ASGs as seen from `vnet`.
pub fn rule_cubes(
    policy: &Policy,
    rule: &nsg_policy::model::Rule,
    vnet: VNetId,
) -> [Option<Cube>; 2] {
    FAMILIES.map(|fam| {
        let fr = field_rule(policy, rule, vnet, fam);
        let wide = |v: &[(u32, u32)]| {
            Ranges::new(v.iter().map(|&(a, b)| (a as u128, b as u128)).collect())
        };
        let c = Cube {
            fam,
            f: [
                Ranges::new(fr.src),
                Ranges::new(fr.dst),
                Ranges::new(
                    fr.proto
                        .iter()
                        .map(|&(a, b)| (a as u128, b as u128))
                        .collect(),
                ),
                wide(&fr.sport),
                wide(&fr.dport),
            ],
        };
        (!c.is_empty()).then_some(c)
    })
}

/// The rules of one NSG in one direction as cubes, as seen from one VNet.
#[derive(Debug, Clone)]
pub struct NsgCubes {
    /// The NSG.
    pub nsg: NsgId,
    /// The direction.
    pub dir: Direction,
    /// Each rule's cubes (by family), in priority order, defaults included.
    pub rules: Vec<[Option<Cube>; 2]>,
    /// Each rule's access.
    pub access: Vec<Access>,
}

impl NsgCubes {
    /// Build the cubes of `nsg`'s rules of `dir` seen from `vnet`.
    pub fn build(policy: &Policy, nsg: NsgId, dir: Direction, vnet: VNetId) -> NsgCubes {
        let rules = policy.nsgs[nsg].rules(dir);
        NsgCubes {
            nsg,
            dir,
            rules: rules.iter().map(|r| rule_cubes(policy, r, vnet)).collect(),
            access: rules.iter().map(|r| r.access).collect(),
        }
    }

    /// Rule `i`'s cube of family `fam`.
    pub fn cube(&self, i: usize, fam: Family) -> Option<&Cube> {
        self.rules[i][fam_index(fam)].as_ref()
    }

    /// Cut labelled pieces by first match: each piece's packets go to the
    /// first rule that matches them; answers (piece, label, rule index).
    /// Packets no rule matches (none: the last default rule matches all)
    /// would be left out.
    pub fn first_matches<T: Clone>(&self, pieces: Vec<(Cube, T)>) -> Vec<(Cube, T, usize)> {
        self.first_matches_among(0..self.rules.len(), pieces)
    }

    /// [`Self::first_matches`] over the rules `among` only (ascending rule
    /// indices): exact when every rule left out meets none of the pieces,
    /// as when [`Self::meeting`] chose them.
    pub fn first_matches_among<T: Clone>(
        &self,
        among: impl IntoIterator<Item = usize>,
        pieces: Vec<(Cube, T)>,
    ) -> Vec<(Cube, T, usize)> {
        let mut out = Vec::new();
        let mut rest = pieces;
        for i in among {
            if rest.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(rest.len());
            for (c, t) in rest {
                let Some(rc) = self.cube(i, c.fam) else {
                    next.push((c, t));
                    continue;
                };
                if !c.meets(rc) {
                    next.push((c, t));
                    continue;
                }
                if let Some(x) = c.intersect(rc) {
                    out.push((x, t.clone(), i));
                }
                for p in c.subtract(rc) {
                    next.push((p, t.clone()));
                }
            }
            rest = next;
        }
        out
    }

    /// The rules whose `field` meets `values` (one list per family), in
    /// priority order: the only rules that can match a packet whose `field`
    /// is one of `values`.
    pub fn meeting(&self, field: usize, values: &[Ranges; 2]) -> Vec<usize> {
        (0..self.rules.len())
            .filter(|&i| {
                self.rules[i]
                    .iter()
                    .zip(values)
                    .any(|(c, v)| c.as_ref().is_some_and(|c| c.f[field].meets(v)))
            })
            .collect()
    }

    /// The packets of `space` each rule decides as the first match of this
    /// NSG, by rule index.
    pub fn first_match_regions(&self, space: &Region) -> Vec<Region> {
        let mut out = vec![Region::empty(); self.rules.len()];
        let pieces = space.cubes.iter().map(|c| (c.clone(), ())).collect();
        for (c, (), i) in self.first_matches(pieces) {
            out[i].cubes.push(c);
        }
        out
    }
}

/// Index of a family in [`FAMILIES`].
pub fn fam_index(fam: Family) -> usize {
    match fam {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

/// A set of packets with one verdict and deciding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The packets.
    pub cube: Cube,
    /// Their verdict.
    pub access: Access,
    /// What decided it.
    pub decider: Decider,
    /// The layers evaluated, in order (none after a deny).
    pub layers: Vec<Layer>,
}

/// The NSG cubes a policy's NICs use, built once per (NSG, direction, VNet).
#[derive(Debug, Default)]
pub struct Compiled {
    cache: HashMap<(NsgId, Direction, VNetId), NsgCubes>,
}

impl Compiled {
    /// Nothing built yet.
    pub fn new() -> Compiled {
        Compiled::default()
    }

    /// The cubes of `nsg`'s rules of `dir` seen from `vnet`.
    pub fn nsg(&mut self, policy: &Policy, nsg: NsgId, dir: Direction, vnet: VNetId) -> &NsgCubes {
        self.cache
            .entry((nsg, dir, vnet))
            .or_insert_with(|| NsgCubes::build(policy, nsg, dir, vnet))
    }
}

/// The platform services a NIC reaches without rules in `dir`, with their
/// address: outbound to 168.63.129.16 and 169.254.169.254, unless an
/// outbound rule of one of its NSGs names the service's tag.
pub fn bypassed(policy: &Policy, nic: NicId, dir: Direction) -> Vec<(Platform, u128)> {
    if dir != Direction::Outbound {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (p, tag, ip) in [
        (Platform::Dns, BuiltinTag::AzurePlatformDns, AZURE_HOST_IP),
        (Platform::Imds, BuiltinTag::AzurePlatformImds, AZURE_IMDS_IP),
    ] {
        let named = policy.layers(nic, dir).iter().any(|&(_, g)| {
            policy.nsgs[g]
                .outbound
                .iter()
                .any(|r| r.destination == Side::Tag(Tag::Builtin(tag)))
        });
        if !named {
            out.push((p, addr_value(&ip)));
        }
    }
    out
}

/// Every IPv4 packet to the platform service at `ip`.
pub fn platform_cube(ip: u128) -> Cube {
    let mut f: [Ranges; 5] = Default::default();
    for (i, x) in f.iter_mut().enumerate() {
        *x = if i == DST {
            Ranges::value(ip)
        } else {
            Ranges::one(0, u128::MAX)
        };
    }
    Cube { fam: Family::V4, f }
}

/// Every packet of `space` (packets at `nic` in `dir`) cut into pieces
/// with the verdict and deciding rule the evaluator gives each packet.
pub fn decide(
    policy: &Policy,
    compiled: &mut Compiled,
    nic: NicId,
    dir: Direction,
    space: &Region,
) -> Vec<Piece> {
    let pieces = space.cubes.iter().map(|c| (c.clone(), ())).collect();
    decide_labelled(policy, compiled, nic, dir, pieces)
        .into_iter()
        .map(|(p, ())| p)
        .collect()
}

/// [`decide`] over labelled cubes (packets at `nic` in `dir`, disjoint):
/// each piece keeps the label of the cube it was cut from, so the pieces of
/// one policy can be cut further by another policy's layers without
/// pairing every piece of one with every piece of the other.
pub fn decide_labelled<T: Clone>(
    policy: &Policy,
    compiled: &mut Compiled,
    nic: NicId,
    dir: Direction,
    pieces: Vec<(Cube, T)>,
) -> Vec<(Piece, T)> {
    let unlayered = |cube, access, decider| Piece {
        cube,
        access,
        decider,
        layers: Vec::new(),
    };
    let mut out = Vec::new();
    let mut rest = pieces;
    for (p, ip) in bypassed(policy, nic, dir) {
        let hit = platform_cube(ip);
        let mut next = Vec::with_capacity(rest.len());
        for (c, t) in rest {
            if !c.meets(&hit) {
                next.push((c, t));
                continue;
            }
            if let Some(x) = c.intersect(&hit) {
                let piece = unlayered(x, Access::Allow, Decider::Platform(p));
                out.push((piece, t.clone()));
            }
            next.extend(c.subtract(&hit).into_iter().map(|s| (s, t.clone())));
        }
        rest = next;
    }
    let layers = policy.layers(nic, dir);
    if layers.is_empty() {
        out.extend(
            rest.into_iter()
                .map(|(c, t)| (unlayered(c, Access::Allow, Decider::NoNsg), t)),
        );
        return out;
    }
    let vnet = policy.nic_vnet(nic);
    let local = local_values(rest.iter().map(|(c, _)| c), local_field(dir));
    let mut pieces: Vec<(Cube, (T, Vec<Layer>))> = rest
        .into_iter()
        .map(|(c, t)| (c, (t, Vec::new())))
        .collect();
    for (scope, g) in layers {
        let cubes = compiled.nsg(policy, g, dir, vnet);
        let among = cubes.meeting(local_field(dir), &local);
        let mut next = Vec::new();
        for (c, (t, mut ls), i) in cubes.first_matches_among(among, pieces) {
            let access = cubes.access[i];
            ls.push(Layer {
                scope,
                rule: RuleRef {
                    nsg: g,
                    direction: dir,
                    index: i,
                },
                access,
            });
            if access == Access::Deny {
                out.push((finish(c, ls), t));
            } else {
                next.push((c, (t, ls)));
            }
        }
        pieces = next;
    }
    out.extend(pieces.into_iter().map(|(c, (t, ls))| (finish(c, ls), t)));
    out
}

/// The values of `field` over some cubes, per family.
fn local_values<'a>(cubes: impl Iterator<Item = &'a Cube>, field: usize) -> [Ranges; 2] {
    let mut out: [Ranges; 2] = Default::default();
    for c in cubes {
        let k = fam_index(c.fam);
        out[k] = out[k].union(&c.f[field]);
    }
    out
}

fn finish(cube: Cube, layers: Vec<Layer>) -> Piece {
    let last = layers.last().expect("a piece that went through a layer");
    Piece {
        cube,
        access: last.access,
        decider: Decider::Rule(last.rule),
        layers,
    }
}

/// The value of a packet's fields as a cube point, with [`NO_PORT`] for a
/// packet without ports.
pub fn point(pkt: &nsg_policy::eval::Packet) -> (Family, [u128; 5]) {
    let ports = nsg_policy::model::has_ports(pkt.protocol);
    let port = |p: Option<u16>| match (ports, p) {
        (true, Some(v)) => v as u128,
        _ => NO_PORT,
    };
    (
        Family::of(&pkt.src),
        [
            addr_value(&pkt.src),
            addr_value(&pkt.dst),
            pkt.protocol as u128,
            port(pkt.src_port),
            port(pkt.dst_port),
        ],
    )
}

/// The packet at a cube point.
pub fn packet(fam: Family, p: &[u128; 5]) -> nsg_policy::eval::Packet {
    let addr = |v: u128| -> std::net::IpAddr {
        match fam {
            Family::V4 => std::net::Ipv4Addr::from(v as u32).into(),
            Family::V6 => std::net::Ipv6Addr::from(v).into(),
        }
    };
    let port = |v: u128| (v != NO_PORT).then_some(v as u16);
    nsg_policy::eval::Packet {
        protocol: p[PROTO] as u8,
        src: addr(p[SRC]),
        dst: addr(p[DST]),
        src_port: port(p[SPORT]),
        dst_port: port(p[DPORT]),
    }
}

//! NICs grouped into classes that behave identically, and what one class
//! can open to another.
//!
//! A packet's verdicts at its two ends depend on its addresses only
//! through their membership in the source and destination lists of the
//! rules (and on whether the destination is a platform address). Two NICs
//! in one VNet, with the same NSGs on both layers and the same set of
//! address signatures (family and membership in every distinct rule
//! address list), therefore reach and are reached on exactly the same
//! (protocol, destination port) points, so the work is per class pair.

use super::allowed::Allowed;
use crate::decide::{decide, fam_index, nic_space, Compiled, FAMILIES};
use crate::space::{Cube, Ranges, Region, DPORT, DST, PROTO, SPORT, SRC};
use nsg_policy::model::{Access, Direction, NicId, NsgId, Policy, VNetId};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{BuiltinTag, AZURE_HOST_IP, AZURE_IMDS_IP};
use std::collections::{HashMap, HashSet};

/// One NIC address: its family and value.
type Addr = (Family, u128);

/// A class of NICs and what its representative allows at each address.
#[derive(Debug)]
pub struct Class {
    /// The member NICs, in policy order (the first is the representative).
    pub members: Vec<NicId>,
    /// The representative's addresses.
    addrs: Vec<Addr>,
    /// Per address: the representative's allowed outbound cubes from it.
    out_from: Vec<Vec<Cube>>,
    /// Per address: the representative's allowed inbound cubes to it.
    in_to: Vec<Vec<Cube>>,
    /// The `Internet` source's addresses as seen from the class's VNet, by
    /// family ([`internet`]).
    internet: [Ranges; 2],
}

/// The classes of a policy's NICs.
#[derive(Debug)]
pub struct Classes {
    /// Each NIC's class.
    pub of: Vec<usize>,
    /// The classes.
    pub classes: Vec<Class>,
}

/// The key two NICs share when they behave identically.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    vnet: VNetId,
    subnet_nsg: Option<NsgId>,
    nic_nsg: Option<NsgId>,
    sigs: Vec<usize>,
}

impl Classes {
    /// Group the NICs of `policy` and compute each class's allowed packets.
    pub fn build(policy: &Policy) -> Classes {
        let mut compiled = Compiled::new();
        let lists = address_lists(policy, &mut compiled);
        let mut sig_ids: HashMap<(usize, Vec<bool>), usize> = HashMap::new();
        let mut keys: HashMap<Key, usize> = HashMap::new();
        let mut of = Vec::with_capacity(policy.nics.len());
        let mut members: Vec<Vec<NicId>> = Vec::new();
        for (i, nic) in policy.nics.iter().enumerate() {
            let mut sigs: Vec<usize> = nic
                .ips
                .iter()
                .map(|ip| {
                    let fam = Family::of(ip);
                    let bits = signature(&lists[fam_index(fam)], addr_value(ip));
                    let next = sig_ids.len();
                    *sig_ids.entry((fam_index(fam), bits)).or_insert(next)
                })
                .collect();
            sigs.sort_unstable();
            sigs.dedup();
            let key = Key {
                vnet: policy.nic_vnet(i),
                subnet_nsg: policy.subnets[nic.subnet].nsg,
                nic_nsg: nic.nsg,
                sigs,
            };
            let next = members.len();
            let c = *keys.entry(key).or_insert(next);
            if c == next {
                members.push(Vec::new());
            }
            members[c].push(i);
            of.push(c);
        }
        let reps: Vec<NicId> = members.iter().map(|m| m[0]).collect();
        let regions = allowed_regions(policy, &mut compiled, &reps);
        let classes = members
            .into_iter()
            .zip(regions)
            .map(|(m, (out, inb))| Class::new(policy, m, &out, &inb))
            .collect();
        Classes { of, classes }
    }

    /// What some member of class `s` can open to some other member of
    /// class `d` (a NIC to itself excluded).
    pub fn pair(&self, s: usize, d: usize) -> Allowed {
        let (cs, cd) = (&self.classes[s], &self.classes[d]);
        if s == d && cs.members.len() < 2 {
            return Allowed::none();
        }
        let mut pieces = Vec::new();
        for (i, &(fa, a)) in cs.addrs.iter().enumerate() {
            for (j, &(fb, b)) in cd.addrs.iter().enumerate() {
                if fa != fb {
                    continue;
                }
                let outs: Vec<&Cube> = cs.out_from[i]
                    .iter()
                    .filter(|c| c.f[DST].contains(b))
                    .collect();
                if outs.is_empty() {
                    continue;
                }
                for inb in cd.in_to[j].iter().filter(|c| c.f[SRC].contains(a)) {
                    for o in &outs {
                        let (p, sp, dp) = (
                            o.f[PROTO].intersect(&inb.f[PROTO]),
                            o.f[SPORT].intersect(&inb.f[SPORT]),
                            o.f[DPORT].intersect(&inb.f[DPORT]),
                        );
                        if !p.is_empty() && !sp.is_empty() && !dp.is_empty() {
                            pieces.push((p, dp));
                        }
                    }
                }
            }
        }
        Allowed::from_pieces(&pieces)
    }

    /// What packets from any `Internet` address (as the receiver's VNet
    /// sees the tag) can open to a member of class `d`.
    pub fn from_internet(&self, d: usize) -> Allowed {
        let cd = &self.classes[d];
        let mut pieces = Vec::new();
        for (j, &(fam, _)) in cd.addrs.iter().enumerate() {
            let internet = &cd.internet[fam_index(fam)];
            for c in &cd.in_to[j] {
                if c.f[SRC].meets(internet) {
                    pieces.push((c.f[PROTO].clone(), c.f[DPORT].clone()));
                }
            }
        }
        Allowed::from_pieces(&pieces)
    }
}

impl Class {
    fn new(policy: &Policy, members: Vec<NicId>, out: &Region, inb: &Region) -> Class {
        let rep = members[0];
        let mut addrs: Vec<Addr> = policy.nics[rep]
            .ips
            .iter()
            .map(|ip| (Family::of(ip), addr_value(ip)))
            .collect();
        addrs.sort_unstable_by_key(|&(f, v)| (fam_index(f), v));
        addrs.dedup();
        let at = |r: &Region, field: usize, (fam, v): Addr| -> Vec<Cube> {
            r.cubes
                .iter()
                .filter(|c| c.fam == fam && c.f[field].contains(v))
                .cloned()
                .collect()
        };
        let tag = internet(policy, policy.nic_vnet(rep));
        Class {
            out_from: addrs.iter().map(|&a| at(out, SRC, a)).collect(),
            in_to: addrs.iter().map(|&a| at(inb, DST, a)).collect(),
            addrs,
            internet: tag,
            members,
        }
    }
}

/// The addresses the `Internet` source sends from, by family: the
/// `Internet` tag as `vnet` sees it, less the platform's virtual host
/// addresses (168.63.129.16, 169.254.169.254), which Azure's own services
/// (health probes, DNS, IMDS) use and the public Internet cannot.
pub fn internet(policy: &Policy, vnet: VNetId) -> [Ranges; 2] {
    let tag = policy.builtin_set(BuiltinTag::Internet, vnet);
    FAMILIES.map(|f| {
        let mut r = Ranges::new(tag.ranges(f).to_vec());
        for ip in [AZURE_HOST_IP, AZURE_IMDS_IP] {
            if Family::of(&ip) == f {
                r = r.subtract(&Ranges::value(addr_value(&ip)));
            }
        }
        r
    })
}

/// Each NIC's allowed packets, outbound and inbound: the pieces `decide`
/// gives `Allow` over the packets at the NIC. The one per-NIC loop.
pub fn allowed_regions(
    policy: &Policy,
    compiled: &mut Compiled,
    nics: &[NicId],
) -> Vec<(Region, Region)> {
    let mut side = |nic: NicId, dir: Direction| -> Region {
        let space = nic_space(policy, nic, dir);
        Region {
            cubes: decide(policy, compiled, nic, dir, &space)
                .into_iter()
                .filter(|p| p.access == Access::Allow)
                .map(|p| p.cube)
                .collect(),
        }
    };
    nics.iter()
        .map(|&n| (side(n, Direction::Outbound), side(n, Direction::Inbound)))
        .collect()
}

/// The distinct address lists (by family) of every rule side of every NSG
/// some NIC passes, as seen from that NIC's VNet, plus the platform
/// addresses outbound traffic may bypass the rules to.
fn address_lists(policy: &Policy, compiled: &mut Compiled) -> [Vec<Ranges>; 2] {
    let mut used: HashSet<(NsgId, Direction, VNetId)> = HashSet::new();
    for nic in 0..policy.nics.len() {
        for dir in [Direction::Inbound, Direction::Outbound] {
            for (_, g) in policy.layers(nic, dir) {
                used.insert((g, dir, policy.nic_vnet(nic)));
            }
        }
    }
    let mut used: Vec<_> = used.into_iter().collect();
    used.sort_unstable_by_key(|&(g, dir, v)| (g, dir == Direction::Inbound, v));
    let mut seen: [HashSet<Ranges>; 2] = Default::default();
    for ip in [AZURE_HOST_IP, AZURE_IMDS_IP] {
        seen[fam_index(Family::of(&ip))].insert(Ranges::value(addr_value(&ip)));
    }
    for (g, dir, vnet) in used {
        for rule in &compiled.nsg(policy, g, dir, vnet).rules {
            for c in rule.iter().flatten() {
                for field in [SRC, DST] {
                    seen[fam_index(c.fam)].insert(c.f[field].clone());
                }
            }
        }
    }
    seen.map(|s| s.into_iter().collect())
}

/// An address's membership in each list.
fn signature(lists: &[Ranges], v: u128) -> Vec<bool> {
    lists.iter().map(|l| l.contains(v)).collect()
}

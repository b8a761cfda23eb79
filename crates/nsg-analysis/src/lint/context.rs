//! Where each NSG is seen: the NICs grouped into classes that behave alike
//! (same VNet, same layers, same platform bypass), and per (NSG,
//! direction, VNet) the union of the packets of the classes it applies to.

use crate::decide::{
    bypassed, local_field, platform_cube, remote_field, universe, NsgCubes, FAMILIES,
};
use crate::space::{Cube, Ranges, Region};
use nsg_policy::model::{Direction, NicId, NsgId, Policy, Scope, VNetId};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{AZURE_HOST_IP, AZURE_IMDS_IP};
use std::collections::{BTreeMap, HashMap};

/// NICs that see the same rules in one direction: one VNet, one list of
/// layers, one set of bypassed platform addresses.
#[derive(Debug, Clone)]
pub struct Class {
    /// The direction.
    pub dir: Direction,
    /// The VNet of every NIC of the class.
    pub vnet: VNetId,
    /// The NSG layers, in evaluation order.
    pub layers: Vec<(Scope, NsgId)>,
    /// The NICs, in policy order.
    pub nics: Vec<NicId>,
    /// Every packet at one of the NICs, platform-bypassed packets left out.
    pub space: Region,
    /// The packets of `space` whose remote end is not the platform's host
    /// (168.63.129.16: load balancer probes, DNS; 169.254.169.254), which
    /// default rules let through every NSG: the user traffic that
    /// `layer-conflict` and `exposed` look at.
    pub user_space: Region,
    /// (family, address, NIC) of every NIC address, sorted.
    ips: Vec<(u8, u128, NicId)>,
}

/// Family as a sortable number.
fn fam_key(fam: Family) -> u8 {
    match fam {
        Family::V4 => 4,
        Family::V6 => 6,
    }
}

impl Class {
    /// The NICs of the class with an address in `cube`'s local field.
    pub fn nics_in(&self, cube: &Cube) -> Vec<NicId> {
        let k = fam_key(cube.fam);
        let mut out: Vec<NicId> = Vec::new();
        for &(lo, hi) in cube.f[local_field(self.dir)].ranges() {
            let start = self.ips.partition_point(|x| (x.0, x.1) < (k, lo));
            for &(f, v, n) in &self.ips[start..] {
                if f != k || v > hi {
                    break;
                }
                out.push(n);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The part of `cube` at `nic` (its local field cut to the NIC's
    /// addresses), if any.
    pub fn at_nic(&self, policy: &Policy, cube: &Cube, nic: NicId) -> Option<Cube> {
        let ips = Ranges::new(
            policy.nics[nic]
                .ips
                .iter()
                .filter(|ip| Family::of(ip) == cube.fam)
                .map(|ip| (addr_value(ip), addr_value(ip)))
                .collect(),
        );
        let mut c = cube.clone();
        let l = local_field(self.dir);
        c.f[l] = c.f[l].intersect(&ips);
        (!c.is_empty()).then_some(c)
    }
}

/// What NICs of one class share: VNet, layers, bypassed platform addresses.
type ClassKey = (VNetId, Vec<(Scope, NsgId)>, Vec<u128>);

/// Group the NICs of `policy` into classes, per direction. This is the one
/// place that walks NICs one by one.
pub fn classes(policy: &Policy) -> Vec<Class> {
    let mut out: Vec<Class> = Vec::new();
    for dir in [Direction::Inbound, Direction::Outbound] {
        let mut index: HashMap<ClassKey, usize> = HashMap::new();
        for nic in 0..policy.nics.len() {
            let vnet = policy.nic_vnet(nic);
            let layers = policy.layers(nic, dir);
            let bypass: Vec<u128> = bypassed(policy, nic, dir).iter().map(|b| b.1).collect();
            let i = *index
                .entry((vnet, layers.clone(), bypass))
                .or_insert_with(|| {
                    out.push(Class {
                        dir,
                        vnet,
                        layers,
                        nics: Vec::new(),
                        space: Region::empty(),
                        user_space: Region::empty(),
                        ips: Vec::new(),
                    });
                    out.len() - 1
                });
            out[i].nics.push(nic);
        }
    }
    for c in &mut out {
        fill_space(policy, c);
    }
    out
}

/// The class's addresses and packets.
fn fill_space(policy: &Policy, class: &mut Class) {
    for &n in &class.nics {
        for ip in &policy.nics[n].ips {
            class.ips.push((fam_key(Family::of(ip)), addr_value(ip), n));
        }
    }
    class.ips.sort_unstable();
    let local = local_field(class.dir);
    let mut space = Region::empty();
    for fam in FAMILIES {
        let k = fam_key(fam);
        let ips = Ranges::new(
            class
                .ips
                .iter()
                .filter(|x| x.0 == k)
                .map(|x| (x.1, x.1))
                .collect(),
        );
        if ips.is_empty() {
            continue;
        }
        for mut c in universe(fam).cubes {
            c.f[local] = ips.clone();
            space.cubes.push(c);
        }
    }
    if let Some(&n) = class.nics.first() {
        for (_, ip) in bypassed(policy, n, class.dir) {
            space = space.subtract_cube(&platform_cube(ip));
        }
    }
    let mut user = space.clone();
    for ip in [AZURE_HOST_IP, AZURE_IMDS_IP] {
        for mut c in universe(Family::V4).cubes {
            c.f[remote_field(class.dir)] = Ranges::value(addr_value(&ip));
            user = user.subtract_cube(&c);
        }
    }
    class.space = space;
    class.user_space = user;
}

/// One NSG in one direction as seen from one VNet, with the classes it
/// applies to there.
#[derive(Debug, Clone)]
pub struct Context {
    /// The rules as cubes.
    pub cubes: NsgCubes,
    /// The VNet.
    pub vnet: VNetId,
    /// Indexes into the class list of the classes with this NSG as a layer.
    pub classes: Vec<usize>,
    /// The union of those classes' packets.
    pub space: Region,
    /// The packets each rule is the first match for, by rule index.
    pub regions: Vec<Region>,
}

/// Every (NSG, direction, VNet) that applies to some NIC, keyed by
/// (NSG, direction), each with its contexts per VNet.
pub type Contexts = HashMap<(NsgId, Direction), Vec<Context>>;

/// A direction as a sortable number (inbound first).
pub fn dir_key(dir: Direction) -> u8 {
    match dir {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}

/// The direction of a [`dir_key`].
pub fn dir_of(key: u8) -> Direction {
    if key == 0 {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

/// Build the contexts of every NSG from the classes.
pub fn contexts(policy: &Policy, classes: &[Class]) -> Contexts {
    let mut groups: BTreeMap<(NsgId, u8, VNetId), Vec<usize>> = BTreeMap::new();
    for (i, c) in classes.iter().enumerate() {
        let mut seen: Vec<NsgId> = Vec::new();
        for &(_, g) in &c.layers {
            if !seen.contains(&g) {
                seen.push(g);
                groups
                    .entry((g, dir_key(c.dir), c.vnet))
                    .or_default()
                    .push(i);
            }
        }
    }
    let mut out = Contexts::new();
    for ((g, d, vnet), members) in groups {
        let dir = dir_of(d);
        let cubes = NsgCubes::build(policy, g, dir, vnet);
        let mut space = Region::empty();
        for &i in &members {
            space.extend_disjoint(classes[i].space.clone());
        }
        let regions = cubes.first_match_regions(&space);
        out.entry((g, dir)).or_default().push(Context {
            cubes,
            vnet,
            classes: members,
            space,
            regions,
        });
    }
    out
}

/// The NICs an NSG applies to in a direction, in policy order.
pub fn nics_of(classes: &[Class], ctxs: &[Context]) -> Vec<NicId> {
    let mut out: Vec<NicId> = ctxs
        .iter()
        .flat_map(|c| {
            c.classes
                .iter()
                .flat_map(|&i| classes[i].nics.iter().copied())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The NIC of `classes` that owns the local address of a packet.
pub fn nic_of_point(
    classes: &[Class],
    members: &[usize],
    fam: Family,
    p: &[u128; 5],
) -> Option<(usize, NicId)> {
    for &i in members {
        let c = &classes[i];
        let local = p[local_field(c.dir)];
        let k = fam_key(fam);
        let at = c.ips.partition_point(|x| (x.0, x.1) < (k, local));
        if let Some(&(f, v, n)) = c.ips.get(at) {
            if f == k && v == local {
                return Some((i, n));
            }
        }
    }
    None
}

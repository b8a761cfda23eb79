//! What every NIC address can open to every other, without computing each
//! pair of NICs.
//!
//! A packet from address `a` of NIC `s` to address `b` of NIC `d` is allowed
//! outbound at `s` according to `s`'s outbound layers, which look at `a`
//! and `b` only through their membership in those layers' rule lists; and
//! inbound at `d` likewise. So the outbound side is a function of
//! (`s`'s outbound layers and VNet, `a`'s membership in their source
//! lists, `b`'s membership in their destination lists), and the inbound
//! side of the mirror image. Each side is computed once per distinct key
//! (one `decide` per source key, one per destination key), its allowed
//! packets projected onto (protocol, source port, destination port) and
//! interned; a pair of addresses is then two table look-ups, and the
//! (protocol, destination port) points of a pair of interned sides are
//! computed once and reused.

use super::allowed::Allowed;
use super::atoms::Atoms;
use crate::decide::{decide, fam_index, nic_space, Compiled, FAMILIES};
use crate::merge::merge_fields;
use crate::space::{Cube, Ranges, Region, DPORT, DST, PROTO, SPORT, SRC};
use ahash::AHashMap;
use nsg_policy::model::{Access, Direction, NicId, NsgId, Policy, VNetId};
use nsg_policy::prefix::{addr_value, Family};
use nsg_policy::tags::{BuiltinTag, AZURE_HOST_IP, AZURE_IMDS_IP};

/// One NIC address.
#[derive(Debug, Clone, Copy)]
struct Addr {
    nic: NicId,
    fam: Family,
    value: u128,
}

/// One side's allowed packets projected onto (protocol, source port,
/// destination port), sorted: the interned unit of the index.
type Side = Vec<[Ranges; 3]>;

/// Interns values, giving each distinct one a number.
struct Interner<T> {
    ids: AHashMap<T, u32>,
    values: Vec<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn new() -> Self {
        Interner {
            ids: AHashMap::new(),
            values: Vec::new(),
        }
    }
    fn id(&mut self, v: T) -> u32 {
        if let Some(&i) = self.ids.get(&v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v, i);
        i
    }
}

/// Interned membership of addresses in the rule lists of one (NSG,
/// direction, VNet) and field: `sig[address]` is the pattern's number.
type Sigs = Vec<u32>;

/// The index of a policy.
pub struct Index {
    addrs: Vec<Addr>,
    /// Each NIC's addresses (indices into `addrs`).
    of_nic: Vec<Vec<usize>>,
    /// Per address as a sender: its outbound key.
    out_key: Vec<u32>,
    /// Per address as a receiver: its inbound key.
    in_key: Vec<u32>,
    /// `out_side[key][b]`: the outbound side from a sender of `key` to
    /// address `b` (`u32::MAX` across families).
    out_side: Vec<Vec<u32>>,
    /// `in_side[key][a]`: the inbound side at a receiver of `key` from
    /// address `a`.
    in_side: Vec<Vec<u32>>,
    outs: Vec<Side>,
    ins: Vec<Side>,
    /// Per inbound key: what any `Internet` address can open to it.
    from_internet: Vec<Allowed>,
    /// The interned value of each (outbound side, inbound side) met.
    cells: Cells,
    /// The (protocol, destination port) intervals cells are made of.
    atoms: Atoms,
    /// The distinct cell values as bit sets over `atoms`, and their numbers.
    cell_values: Vec<Vec<u64>>,
    value_ids: AHashMap<Vec<u64>, u32>,
}

/// Where one direction's rules of a NIC come from: its VNet and layers.
type Layers = (VNetId, Vec<NsgId>);

impl Index {
    /// Build the index of `policy`.
    pub fn build(policy: &Policy) -> Index {
        let mut addrs = Vec::new();
        let mut of_nic = vec![Vec::new(); policy.nics.len()];
        for (nic, n) in policy.nics.iter().enumerate() {
            for ip in &n.ips {
                of_nic[nic].push(addrs.len());
                addrs.push(Addr {
                    nic,
                    fam: Family::of(ip),
                    value: addr_value(ip),
                });
            }
        }
        // The two directions share nothing (rule cubes and patterns are
        // per direction), so they are built side by side.
        let one = |dir: Direction| {
            let mut compiled = Compiled::new();
            side_tables(policy, &mut compiled, &mut SigTable::default(), &addrs, dir)
        };
        let (o, i) = std::thread::scope(|s| {
            let o = s.spawn(|| one(Direction::Outbound));
            let i = one(Direction::Inbound);
            (o.join(), i)
        });
        let o = o.unwrap_or_else(|e| std::panic::resume_unwind(e));
        let from_internet = internet_cells(policy, &addrs, &i);
        let cells = Cells::new(o.sides.len(), i.sides.len());
        let sides = o.sides.iter().chain(&i.sides).flatten();
        let atoms = Atoms::new(sides.clone().map(|x| &x[0]), sides.map(|x| &x[2]));
        Index {
            addrs,
            of_nic,
            out_key: o.key_of,
            in_key: i.key_of,
            out_side: o.table,
            in_side: i.table,
            outs: o.sides,
            ins: i.sides,
            from_internet,
            cells,
            atoms,
            cell_values: Vec::new(),
            value_ids: AHashMap::new(),
        }
    }

    /// Add to `out` the cells (interned) on which some address of NIC `s`
    /// can open connections to some address of NIC `d`.
    pub fn pair_cells(&mut self, s: NicId, d: NicId, out: &mut Vec<u32>) {
        for k in 0..self.of_nic[s].len() {
            let a = self.of_nic[s][k];
            for m in 0..self.of_nic[d].len() {
                let b = self.of_nic[d][m];
                if self.addrs[a].fam != self.addrs[b].fam {
                    continue;
                }
                let o = self.out_side[self.out_key[a] as usize][b];
                let i = self.in_side[self.in_key[b] as usize][a];
                let c = self.cell(o, i);
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }

    /// The union of interned cells.
    pub fn union(&self, cells: &[u32]) -> Allowed {
        let mut acc = vec![0u64; self.atoms.words()];
        for &c in cells {
            for (a, b) in acc.iter_mut().zip(&self.cell_values[c as usize]) {
                *a |= b;
            }
        }
        self.atoms.allowed(&acc)
    }

    /// What any `Internet` address can open to some address of NIC `d`.
    pub fn internet_to(&self, d: NicId) -> Allowed {
        Allowed::union_all(
            self.of_nic[d]
                .iter()
                .map(|&b| &self.from_internet[self.in_key[b] as usize]),
        )
    }

    /// The cell of an outbound and an inbound side: the (protocol,
    /// destination port) points of packets both allow.
    fn cell(&mut self, o: u32, i: u32) -> u32 {
        if let Some(c) = self.cells.get(o, i) {
            return c;
        }
        let mut pieces = Vec::new();
        for x in &self.outs[o as usize] {
            for y in &self.ins[i as usize] {
                let p = x[0].intersect(&y[0]);
                if p.is_empty() || !x[1].meets(&y[1]) {
                    continue;
                }
                let dp = x[2].intersect(&y[2]);
                if !dp.is_empty() {
                    pieces.push((p, dp));
                }
            }
        }
        let value = self.atoms.bits(&pieces);
        let c = match self.value_ids.get(&value) {
            Some(&c) => c,
            None => {
                let c = self.cell_values.len() as u32;
                self.cell_values.push(value.clone());
                self.value_ids.insert(value, c);
                c
            }
        };
        self.cells.insert(o, i, c);
        c
    }
}

/// Membership patterns of addresses in rule lists, computed once per
/// (NSG, direction, VNet, field).
#[derive(Default)]
struct SigTable {
    tables: AHashMap<(NsgId, bool, VNetId, usize), Sigs>,
}

impl SigTable {
    /// The pattern numbers of every address for `field` of the rules of
    /// `g` in `dir` seen from `vnet`.
    fn get(
        &mut self,
        policy: &Policy,
        compiled: &mut Compiled,
        addrs: &[Addr],
        (g, dir, vnet, field): (NsgId, Direction, VNetId, usize),
    ) -> &Sigs {
        let key = (g, dir == Direction::Inbound, vnet, field);
        self.tables.entry(key).or_insert_with(|| {
            let cubes = compiled.nsg(policy, g, dir, vnet);
            // The platform's addresses cut the packets too (bypass).
            let mut lists: [Vec<Ranges>; 2] = Default::default();
            for ip in [AZURE_HOST_IP, AZURE_IMDS_IP] {
                lists[fam_index(Family::of(&ip))].push(Ranges::value(addr_value(&ip)));
            }
            for rule in &cubes.rules {
                for c in rule.iter().flatten() {
                    let l = &mut lists[fam_index(c.fam)];
                    if !l.contains(&c.f[field]) {
                        l.push(c.f[field].clone());
                    }
                }
            }
            let mut patterns: Interner<Vec<bool>> = Interner::new();
            addrs
                .iter()
                .map(|a| {
                    let bits = lists[fam_index(a.fam)]
                        .iter()
                        .map(|l| l.contains(a.value))
                        .collect();
                    patterns.id(bits)
                })
                .collect()
        })
    }
}

/// The fields of the NIC's own address and of the other end in `dir`.
fn fields(dir: Direction) -> (usize, usize) {
    match dir {
        Direction::Outbound => (SRC, DST),
        Direction::Inbound => (DST, SRC),
    }
}

/// One direction's tables.
struct SideTables {
    /// Each address's key.
    key_of: Vec<u32>,
    /// Per key, per address at the other end: the interned side.
    table: Vec<Vec<u32>>,
    /// The interned sides.
    sides: Vec<Side>,
    /// Per key: the address whose packets were computed.
    reps: Vec<usize>,
    /// Per key: the allowed packets of that address.
    regions: Vec<Region>,
}

/// Each address's key in `dir`: its NIC's VNet and layers, and its own
/// membership pattern in each layer's lists of its own field; and one
/// address of each key.
fn keys(
    policy: &Policy,
    compiled: &mut Compiled,
    sigs: &mut SigTable,
    addrs: &[Addr],
    dir: Direction,
) -> (Vec<u32>, Vec<Layers>, Vec<usize>) {
    let (own, _) = fields(dir);
    let layers: Vec<Layers> = (0..policy.nics.len())
        .map(|n| {
            let l = policy.layers(n, dir).into_iter().map(|(_, g)| g).collect();
            (policy.nic_vnet(n), l)
        })
        .collect();
    let mut keys: Interner<(Layers, Family, Vec<u32>)> = Interner::new();
    let mut reps: Vec<usize> = Vec::new();
    let key_of: Vec<u32> = (0..addrs.len())
        .map(|a| {
            let l = &layers[addrs[a].nic];
            let pat =
                l.1.iter()
                    .map(|&g| sigs.get(policy, compiled, addrs, (g, dir, l.0, own))[a])
                    .collect();
            let k = keys.id((l.clone(), addrs[a].fam, pat));
            if k as usize == reps.len() {
                reps.push(a);
            }
            k
        })
        .collect();
    let key_layers = keys.values.into_iter().map(|(l, _, _)| l).collect();
    (key_of, key_layers, reps)
}

/// The keys, side tables and interned sides of one direction.
fn side_tables(
    policy: &Policy,
    compiled: &mut Compiled,
    sigs: &mut SigTable,
    addrs: &[Addr],
    dir: Direction,
) -> SideTables {
    let (_, other) = fields(dir);
    let (key_of, key_layers, reps) = keys(policy, compiled, sigs, addrs, dir);
    let mut sides: Interner<Side> = Interner::new();
    let mut merged: AHashMap<Side, u32> = AHashMap::new();
    let mut table = Vec::with_capacity(reps.len());
    let mut regions = Vec::with_capacity(reps.len());
    for (&rep, (vnet, gs)) in reps.iter().zip(&key_layers) {
        // The other end's patterns in each layer's lists (at most two).
        let cols: Vec<Sigs> = gs
            .iter()
            .map(|&g| {
                sigs.get(policy, compiled, addrs, (g, dir, *vnet, other))
                    .clone()
            })
            .collect();
        let allowed = allowed_at(policy, compiled, addrs[rep], dir);
        let mut by_pattern: AHashMap<[u32; 2], u32> = AHashMap::new();
        let mut by_selection: AHashMap<Vec<u32>, u32> = AHashMap::new();
        let row = (0..addrs.len())
            .map(|b| {
                if addrs[b].fam != addrs[rep].fam {
                    return u32::MAX;
                }
                let mut pat = [u32::MAX; 2];
                for (p, c) in pat.iter_mut().zip(&cols) {
                    *p = c[b];
                }
                *by_pattern.entry(pat).or_insert_with(|| {
                    let sel = selection(&allowed, other, addrs[b].value);
                    *by_selection.entry(sel).or_insert_with_key(|sel| {
                        merged_id(project(&allowed, sel), &mut merged, &mut sides)
                    })
                })
            })
            .collect();
        table.push(row);
        regions.push(allowed);
    }
    SideTables {
        key_of,
        table,
        sides: sides.values,
        reps,
        regions,
    }
}

/// The packets allowed at `a`'s NIC in `dir` whose own address is `a`.
fn allowed_at(policy: &Policy, compiled: &mut Compiled, a: Addr, dir: Direction) -> Region {
    let (own, _) = fields(dir);
    let mut space = nic_space(policy, a.nic, dir);
    space.cubes.retain(|c| c.fam == a.fam);
    for c in &mut space.cubes {
        c.f[own] = Ranges::value(a.value);
    }
    Region {
        cubes: decide(policy, compiled, a.nic, dir, &space)
            .into_iter()
            .filter(|p| p.access == Access::Allow)
            .map(|p| p.cube)
            .collect(),
    }
}

/// The allowed cubes whose `field` holds `v`, by index.
fn selection(allowed: &Region, field: usize, v: u128) -> Vec<u32> {
    (0..allowed.cubes.len() as u32)
        .filter(|&i| allowed.cubes[i as usize].f[field].contains(v))
        .collect()
}

/// The cubes `sel` of `allowed` projected onto (protocol, source port,
/// destination port), sorted.
fn project(allowed: &Region, sel: &[u32]) -> Side {
    let mut out: Side = sel
        .iter()
        .map(|&i| &allowed.cubes[i as usize])
        .map(|c: &Cube| [c.f[PROTO].clone(), c.f[SPORT].clone(), c.f[DPORT].clone()])
        .collect();
    sort(&mut out);
    out
}

/// Sort a side's pieces by their ranges, field by field.
fn sort(side: &mut Side) {
    side.sort_unstable_by(|x, y| {
        x.iter()
            .map(Ranges::ranges)
            .cmp(y.iter().map(Ranges::ranges))
    });
}

/// The number of a projected side once merged ([`merge_fields`]): each distinct
/// projection is merged once, whatever key it came from.
fn merged_id(raw: Side, merged: &mut AHashMap<Side, u32>, sides: &mut Interner<Side>) -> u32 {
    if let Some(&id) = merged.get(&raw) {
        return id;
    }
    let pieces = raw.iter().map(|x| ((), x.clone())).collect();
    let mut m: Side = merge_fields(pieces).into_iter().map(|((), x)| x).collect();
    sort(&mut m);
    let id = sides.id(m);
    merged.insert(raw, id);
    id
}

/// Per inbound key: what any `Internet` address (as the receiver's VNet
/// sees the tag, less the platform's addresses) can open to it.
fn internet_cells(policy: &Policy, addrs: &[Addr], t: &SideTables) -> Vec<Allowed> {
    t.reps
        .iter()
        .zip(&t.regions)
        .map(|(&b, allowed)| {
            let a = addrs[b];
            let internet = &internet(policy, policy.nic_vnet(a.nic))[fam_index(a.fam)];
            let pieces: Vec<(Ranges, Ranges)> = allowed
                .cubes
                .iter()
                .filter(|c| c.f[SRC].meets(internet))
                .map(|c| (c.f[PROTO].clone(), c.f[DPORT].clone()))
                .collect();
            Allowed::from_pieces(&pieces)
        })
        .collect()
}

/// The interned cell of each (outbound side, inbound side) met so far: a
/// dense table when the sides are few enough, else a map.
enum Cells {
    Dense { ins: usize, ids: Vec<u32> },
    Sparse(AHashMap<(u32, u32), u32>),
}

impl Cells {
    /// Room for `outs` × `ins` cells.
    fn new(outs: usize, ins: usize) -> Cells {
        match outs.checked_mul(ins) {
            Some(n) if n <= 1 << 24 => Cells::Dense {
                ins,
                ids: vec![u32::MAX; n],
            },
            _ => Cells::Sparse(AHashMap::new()),
        }
    }

    fn get(&self, o: u32, i: u32) -> Option<u32> {
        match self {
            Cells::Dense { ins, ids } => {
                let c = ids[o as usize * ins + i as usize];
                (c != u32::MAX).then_some(c)
            }
            Cells::Sparse(m) => m.get(&(o, i)).copied(),
        }
    }

    fn insert(&mut self, o: u32, i: u32, c: u32) {
        match self {
            Cells::Dense { ins, ids } => ids[o as usize * *ins + i as usize] = c,
            Cells::Sparse(m) => {
                m.insert((o, i), c);
            }
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

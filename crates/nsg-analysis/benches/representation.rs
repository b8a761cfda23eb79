//! Which representation the analysis is built on, measured: the first-match
//! walk of one NSG (every rule's decided set, as `decide` computes it) on
//! the packets of one NIC, with the engine's cubes and with BDDs
//! (biodivine-lib-bdd, one variable per header bit, fields in order, most
//! significant bit first). IPv4 only; rules of the seeded benchmark policy.

use biodivine_lib_bdd::{Bdd, BddPartialValuation, BddVariable, BddVariableSet};
use criterion::Criterion;
use nsg_analysis::decide::{nic_space, Compiled};
use nsg_analysis::space::{Cube, Region};
use nsg_analysis::synth::{generate, SynthOptions};
use nsg_policy::model::Direction;
use nsg_policy::prefix::Family;
use std::path::Path;

/// Bits of each field: addresses, protocol, ports (0..=65536).
const WIDTHS: [u16; 5] = [32, 32, 8, 17, 17];

struct Bits {
    vars: BddVariableSet,
    all: Vec<BddVariable>,
}

impl Bits {
    fn new() -> Bits {
        let n: u16 = WIDTHS.iter().sum();
        let vars = BddVariableSet::new_anonymous(n);
        let all = vars.variables();
        Bits { vars, all }
    }

    /// The values lo..=hi of field `f` as a BDD: the prefixes covering it.
    fn range(&self, f: usize, lo: u128, hi: u128) -> Bdd {
        let w = WIDTHS[f] as u32;
        let base: usize = WIDTHS[..f].iter().map(|&x| x as usize).sum();
        let mut out = self.vars.mk_false();
        let mut lo = lo;
        loop {
            let mut size = 0u32;
            while size < w
                && lo.is_multiple_of(1u128 << (size + 1))
                && lo + (1u128 << (size + 1)) - 1 <= hi
            {
                size += 1;
            }
            let fixed: Vec<(BddVariable, bool)> = (0..(w - size))
                .map(|b| (self.all[base + b as usize], (lo >> (w - 1 - b)) & 1 == 1))
                .collect();
            let clause = self
                .vars
                .mk_conjunctive_clause(&BddPartialValuation::from_values(&fixed));
            out = out.or(&clause);
            let next = lo + (1u128 << size);
            if next > hi {
                break;
            }
            lo = next;
        }
        out
    }

    fn cube(&self, c: &Cube) -> Bdd {
        let mut out = self.vars.mk_true();
        for (f, field) in c.f.iter().enumerate() {
            let mut x = self.vars.mk_false();
            for &(lo, hi) in field.ranges() {
                x = x.or(&self.range(f, lo, hi));
            }
            out = out.and(&x);
        }
        out
    }
}

/// Every rule's decided set by first match, with cubes; how many cubes.
fn walk_cubes(rules: &[Option<Cube>], space: &Region) -> usize {
    let mut rest = space.clone();
    let mut n = 0;
    for r in rules.iter().flatten() {
        n += rest.intersect_cube(r).cubes.len();
        rest = rest.subtract_cube(r);
    }
    n
}

/// The same with BDDs (rules already converted); total node count.
fn walk_bdds(rules: &[Bdd], space: &Bdd) -> usize {
    let mut rest = space.clone();
    let mut n = 0;
    for r in rules {
        n += rest.and(r).size();
        rest = rest.and_not(r);
    }
    n
}

fn bench(c: &mut Criterion) {
    let s = generate(&SynthOptions {
        nics: 1000,
        asgs: 200,
        rules: 4000,
        diff_rules: 1000,
        seed: 1,
    });
    let bits = Bits::new();
    for (name, text, nsg) in [
        (
            "subnet NSG of the 1,000-NIC policy",
            &s.policy,
            "SubnetNsg0",
        ),
        ("1,000-rule NSG", &s.nsg, "BigNsg"),
    ] {
        let p = nsg_policy::load_str(text, Path::new(name), &Default::default()).expect("policy");
        let g = p.nsgs.iter().position(|x| x.name == nsg).expect("nsg");
        let nic = p
            .nics
            .iter()
            .position(|n| {
                p.layers(
                    p.nics.iter().position(|m| m.name == n.name).unwrap(),
                    Direction::Inbound,
                )
                .iter()
                .any(|&(_, x)| x == g)
            })
            .expect("a NIC behind it");
        let mut compiled = Compiled::new();
        let rules: Vec<Option<Cube>> = compiled
            .nsg(&p, g, Direction::Inbound, p.nic_vnet(nic))
            .rules
            .iter()
            .map(|r| r[0].clone())
            .collect();
        let space = nic_space(&p, nic, Direction::Inbound);
        let space = Region {
            cubes: space
                .cubes
                .into_iter()
                .filter(|c| c.fam == Family::V4)
                .collect(),
        };
        let bdd_rules: Vec<Bdd> = rules.iter().flatten().map(|r| bits.cube(r)).collect();
        let bdd_space = space
            .cubes
            .iter()
            .fold(bits.vars.mk_false(), |a, c| a.or(&bits.cube(c)));
        let mut group =
            c.benchmark_group(format!("first-match walk, {name} ({} rules)", rules.len()));
        group.sample_size(10);
        group.bench_function("cubes", |b| b.iter(|| walk_cubes(&rules, &space)));
        group.bench_function("bdds (rules prebuilt)", |b| {
            b.iter(|| walk_bdds(&bdd_rules, &bdd_space))
        });
        group.bench_function("bdds (rules built)", |b| {
            b.iter(|| {
                let rs: Vec<Bdd> = rules.iter().flatten().map(|r| bits.cube(r)).collect();
                walk_bdds(&rs, &bdd_space)
            })
        });
        group.finish();
    }
}

/// What `criterion_main!` would run.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

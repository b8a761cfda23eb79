//! The classifier core: plain rules of five range-set fields, any number of
//! them, the first matching rule (lowest index) wins.
//!
//! Each field's domain is cut into equivalence classes (see `field.rs`);
//! protocol, source port and destination port classes are combined ahead of
//! time into one class, so a lookup is three table lookups (source address,
//! destination address, the combined port/protocol class) and an AND of three
//! bit vectors. Each bit vector carries an aggregate (one bit per 64-rule
//! word) so the AND skips words with no candidate and stops at the first
//! match.

use crate::blocks::{sparse_scan, sparse_scan_counted, Blocks, DenseAnd, Layout};
use crate::field::{Dir16x8x8, Direct, FieldClasses, Sorted};
use crate::simd::{self, SimdPath};
use ahash::AHashMap;

/// The port value of a packet that has no ports (not TCP or UDP): it lies
/// outside 0..=65535, so only rules whose port ranges include it (a `*` port
/// list compiled as `0..=NO_PORT`) match it.
pub const NO_PORT: u32 = 65536;

/// Average candidate words of the sparse scan (at the rules' sample points)
/// from which one-key lookups take the dense AND instead: measured on the
/// ClassBench 1k sets, the dense AND was faster one key at a time on the
/// sets of 2.7 to 3.6 estimated candidate words (fw1, fw4, ipc1) and slower
/// on those of 1.2 to 2.1 (acl1, acl3, acl4, fw3).
pub const DENSE_SINGLE_CANDIDATES: f64 = 2.5;

/// Lookup answer when no rule matches.
pub const NO_MATCH: u32 = u32::MAX;

/// Address width of a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// Addresses are IPv4 values (0..=u32::MAX), looked up in a 16-8-8 table.
    V4,
    /// Addresses are IPv6 values, looked up by binary search.
    V6,
}

impl Width {
    fn max(self) -> u128 {
        match self {
            Width::V4 => u32::MAX as u128,
            Width::V6 => u128::MAX,
        }
    }
}

/// A rule for the core: each field a set of inclusive ranges (empty = never
/// matches). Ports range over 0..=NO_PORT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRule {
    /// Source address ranges.
    pub src: Vec<(u128, u128)>,
    /// Destination address ranges.
    pub dst: Vec<(u128, u128)>,
    /// Source port ranges (0..=NO_PORT).
    pub sport: Vec<(u32, u32)>,
    /// Destination port ranges (0..=NO_PORT).
    pub dport: Vec<(u32, u32)>,
    /// IP protocol number ranges.
    pub proto: Vec<(u8, u8)>,
}

impl FieldRule {
    /// Whether the rule matches a key (linear reference).
    pub fn matches(&self, src: u128, dst: u128, sport: u32, dport: u32, proto: u8) -> bool {
        let inr = |r: &[(u128, u128)], v: u128| r.iter().any(|&(lo, hi)| lo <= v && v <= hi);
        let inp = |r: &[(u32, u32)], v: u32| r.iter().any(|&(lo, hi)| lo <= v && v <= hi);
        inr(&self.src, src)
            && inr(&self.dst, dst)
            && inp(&self.sport, sport)
            && inp(&self.dport, dport)
            && self
                .proto
                .iter()
                .any(|&(lo, hi)| lo <= proto && proto <= hi)
    }
}

/// An IPv4 lookup key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Key4 {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port: 0..=65535, or [`NO_PORT`].
    pub sport: u32,
    /// Destination port: 0..=65535, or [`NO_PORT`].
    pub dport: u32,
    /// IP protocol number.
    pub proto: u8,
}

/// An IPv6 lookup key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Key6 {
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// Source port: 0..=65535, or [`NO_PORT`].
    pub sport: u32,
    /// Destination port: 0..=65535, or [`NO_PORT`].
    pub dport: u32,
    /// IP protocol number.
    pub proto: u8,
}

#[derive(Debug, Clone)]
enum AddrTable {
    V4(Dir16x8x8),
    V6(Sorted),
}

impl AddrTable {
    fn bytes(&self) -> usize {
        match self {
            AddrTable::V4(t) => t.bytes(),
            AddrTable::V6(t) => t.bytes(),
        }
    }
}

/// A compiled, immutable classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    width: Width,
    rules: usize,
    layout: Layout,
    /// Words of the dense AND (8 or 16: the padded block), or 0 for the
    /// sparse scan (more than 1,024 rules). Batched lookups take the dense
    /// AND whenever it is possible.
    dense: usize,
    /// Whether one-key lookups take the dense AND too: only where the sparse
    /// scan would read many candidate words (see [`Classifier::build`]).
    single_dense: bool,
    src: AddrTable,
    dst: AddrTable,
    proto: Direct,
    sport: Direct,
    dport: Direct,
    sport_classes: usize,
    dport_classes: usize,
    /// (proto class, sport class) -> intermediate class.
    pair1: Vec<u32>,
    /// (intermediate class, dport class) -> port/protocol class.
    pair2: Vec<u32>,
    src_bits: Blocks,
    dst_bits: Blocks,
    pp_bits: Blocks,
    /// The compiled variant of the lookup loops this classifier runs; only
    /// ever a variant the CPU supports (see [`SimdPath::or_portable`]).
    simd: SimdPath,
}

/// A 64-bit mix of `x` (splitmix64's finaliser): sample points of the
/// build's estimate.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combine two fields' classes: the bit vector of a pair is the AND of both.
fn combine(a: &[u64], b: &[u64], words: usize) -> (Vec<u32>, Vec<u64>) {
    let (na, nb) = (a.len() / words, b.len() / words);
    let mut table = Vec::with_capacity(na * nb);
    let mut bits = Vec::new();
    let mut dedup: AHashMap<Vec<u64>, u32> = AHashMap::new();
    let mut v = vec![0u64; words];
    for i in 0..na {
        for j in 0..nb {
            for w in 0..words {
                v[w] = a[i * words + w] & b[j * words + w];
            }
            let next = dedup.len() as u32;
            let id = *dedup.entry(v.clone()).or_insert_with(|| {
                bits.extend_from_slice(&v);
                next
            });
            table.push(id);
        }
    }
    (table, bits)
}

impl Classifier {
    /// Compile rules; rule `i` has priority `i` (lower wins).
    ///
    /// One-key lookups take the dense AND when the sparse scan would read
    /// at least [`DENSE_SINGLE_CANDIDATES`] candidate words on average at
    /// sample points of the rules themselves (a point inside each field of
    /// up to 256 rules): the dense AND reads more cache lines, the sparse
    /// scan mispredicts a branch per extra candidate word.
    pub fn build(width: Width, rules: &[FieldRule]) -> Classifier {
        let mut c = Classifier::compile(width, rules);
        c.single_dense = c.dense != 0 && c.sparse_candidates(rules) >= DENSE_SINGLE_CANDIDATES;
        c
    }

    /// Average candidate words the sparse scan reads at sample points of
    /// `rules` (0 without rules).
    fn sparse_candidates(&self, rules: &[FieldRule]) -> f64 {
        let step = rules.len().div_ceil(256).max(1);
        let (mut read, mut points) = (0usize, 0usize);
        for (i, r) in rules.iter().enumerate().step_by(step) {
            let pick = |ranges: &[(u128, u128)], salt: u64| {
                ranges.first().map_or(0, |&(lo, hi)| {
                    let span = hi.saturating_sub(lo).saturating_add(1);
                    lo + u128::from(mix(i as u64 ^ salt)) % span.max(1)
                })
            };
            let ports = |v: &[(u32, u32)], salt: u64| {
                let wide: Vec<(u128, u128)> =
                    v.iter().map(|&(a, b)| (a.into(), b.into())).collect();
                pick(&wide, salt) as u32
            };
            let proto: Vec<(u128, u128)> =
                r.proto.iter().map(|&(a, b)| (a.into(), b.into())).collect();
            let (s, d) = (pick(&r.src, 1), pick(&r.dst, 2));
            let (Some(s), Some(d)) = (self.addr_class(&self.src, s), self.addr_class(&self.dst, d))
            else {
                continue;
            };
            let p = self.pp_class(
                ports(&r.sport, 3),
                ports(&r.dport, 4),
                pick(&proto, 5) as u8,
            );
            let cls = [s, d, p];
            let a = cls.map(|k| k * self.layout.agg);
            let b = [&self.src_bits, &self.dst_bits, &self.pp_bits];
            read += sparse_scan_counted(b, self.layout, self.offsets(cls), a, self.first_mask(a)).1;
            points += 1;
        }
        if points == 0 {
            0.0
        } else {
            read as f64 / points as f64
        }
    }

    /// The class of an address, if it lies in the classifier's width.
    fn addr_class(&self, t: &AddrTable, v: u128) -> Option<usize> {
        let c = Self::addr6(t, v);
        (c != usize::MAX).then_some(c)
    }

    /// The tables and bit vectors of `rules`, one-key lookups sparse.
    fn compile(width: Width, rules: &[FieldRule]) -> Classifier {
        let amax = width.max();
        let field = |get: &dyn Fn(&FieldRule) -> Vec<(u128, u128)>, max: u128| {
            let per_rule: Vec<Vec<(u128, u128)>> = rules.iter().map(get).collect();
            FieldClasses::build(&per_rule, max)
        };
        let widen = |r: &[(u32, u32)]| r.iter().map(|&(a, b)| (a as u128, b as u128)).collect();
        let src = field(&|r| r.src.clone(), amax);
        let dst = field(&|r| r.dst.clone(), amax);
        let sport = field(&|r| widen(&r.sport), NO_PORT as u128);
        let dport = field(&|r| widen(&r.dport), NO_PORT as u128);
        let proto = field(
            &|r| {
                r.proto
                    .iter()
                    .map(|&(a, b)| (a as u128, b as u128))
                    .collect()
            },
            255,
        );
        let words = src.words;
        let (pair1, bits1) = combine(&proto.bits, &sport.bits, words);
        let (pair2, pp) = combine(&bits1, &dport.bits, words);
        let layout = Layout::new(words);
        let table = |f: &FieldClasses| match width {
            Width::V4 => AddrTable::V4(Dir16x8x8::build(f)),
            Width::V6 => AddrTable::V6(Sorted::build(f)),
        };
        Classifier {
            width,
            rules: rules.len(),
            layout,
            dense: if layout.stride <= 16 {
                layout.stride
            } else {
                0
            },
            single_dense: false,
            src: table(&src),
            dst: table(&dst),
            proto: Direct::build(&proto, 255),
            sport: Direct::build(&sport, NO_PORT as u128),
            dport: Direct::build(&dport, NO_PORT as u128),
            sport_classes: sport.class_count(),
            dport_classes: dport.class_count(),
            pair1,
            pair2,
            src_bits: Blocks::build(&src.bits, words, layout),
            dst_bits: Blocks::build(&dst.bits, words, layout),
            pp_bits: Blocks::build(&pp, words, layout),
            simd: simd::selection().path,
        }
    }

    /// The same classifier running the lookup loops compiled for `path`, or
    /// the portable ones when this CPU cannot run `path`; answers do not
    /// change, only speed. The path a classifier takes by default is
    /// [`simd::selection`]'s.
    pub fn with_simd(mut self, path: SimdPath) -> Classifier {
        self.simd = path.or_portable();
        self
    }

    /// The variant of the lookup loops this classifier runs.
    pub fn simd_path(&self) -> SimdPath {
        self.simd
    }

    /// The address width the classifier was built for.
    pub fn width(&self) -> Width {
        self.width
    }

    /// Rules compiled; answers are below this (or [`NO_MATCH`]).
    pub fn rule_count(&self) -> usize {
        self.rules
    }

    /// Heap bytes of the compiled tables.
    pub fn memory_bytes(&self) -> usize {
        self.src.bytes()
            + self.dst.bytes()
            + self.proto.bytes()
            + self.sport.bytes()
            + self.dport.bytes()
            + (self.pair1.len() + self.pair2.len()) * 4
            + self.src_bits.bytes()
            + self.dst_bits.bytes()
            + self.pp_bits.bytes()
    }

    #[inline(always)]
    fn pp_class(&self, sport: u32, dport: u32, proto: u8) -> usize {
        let p = self.proto.get(proto as usize) as usize;
        // Ports above NO_PORT are clamped to it: they cannot come from a packet.
        let s = self.sport.get(sport.min(NO_PORT) as usize) as usize;
        let d = self.dport.get(dport.min(NO_PORT) as usize) as usize;
        let c1 = self.pair1[p * self.sport_classes + s] as usize;
        self.pair2[c1 * self.dport_classes + d] as usize
    }

    /// First rule matched by source class `s`, destination class `d` and
    /// port/protocol class `r`;
    /// `D`: the words of the dense AND, or 0 for the sparse scan.
    #[inline(always)]
    fn first<A: DenseAnd, const D: usize>(&self, s: usize, d: usize, r: usize) -> u32 {
        let o = self.offsets([s, d, r]);
        if D == 0 {
            let ag = self.layout.agg;
            let a = [s * ag, d * ag, r * ag];
            self.sparse(o, a, self.first_mask(a))
        } else {
            self.dense::<A, D>(o)
        }
    }

    /// Words of the dense AND one-key lookups take (8 or 16), or 0 for the
    /// sparse scan: the `D` of the kernels [`Classifier::lookup4`] and
    /// [`Classifier::lookup6`] run.
    #[inline(always)]
    pub(crate) fn single_words(&self) -> usize {
        if self.single_dense {
            self.dense
        } else {
            0
        }
    }

    /// Word offsets of the blocks of source class `c[0]`, destination class
    /// `c[1]` and port/protocol class `c[2]`.
    #[inline(always)]
    fn offsets(&self, c: [usize; 3]) -> [usize; 3] {
        let st = self.layout.stride;
        [
            self.src_bits.offset(c[0], st),
            self.dst_bits.offset(c[1], st),
            self.pp_bits.offset(c[2], st),
        ]
    }

    /// The dense AND of the blocks at word offsets `o`.
    #[inline(always)]
    fn dense<A: DenseAnd, const D: usize>(&self, o: [usize; 3]) -> u32 {
        let (s, d, r) = (&self.src_bits, &self.dst_bits, &self.pp_bits);
        A::first::<D>(s.words(), d.words(), r.words(), o)
    }

    /// The AND of the first aggregate words at aggregate offsets `a`.
    #[inline(always)]
    fn first_mask(&self, a: [usize; 3]) -> u64 {
        self.src_bits.agg()[a[0]] & self.dst_bits.agg()[a[1]] & self.pp_bits.agg()[a[2]]
    }

    /// The sparse scan from word offsets `o` and aggregate offsets `a`.
    #[inline(always)]
    fn sparse(&self, o: [usize; 3], a: [usize; 3], first_mask: u64) -> u32 {
        let b = [&self.src_bits, &self.dst_bits, &self.pp_bits];
        sparse_scan(b, self.layout, o, a, first_mask)
    }

    #[inline(always)]
    fn src_v4(&self, v: u32) -> usize {
        match &self.src {
            AddrTable::V4(t) => t.get(v) as usize,
            AddrTable::V6(t) => t.get(v as u128) as usize,
        }
    }

    #[inline(always)]
    fn dst_v4(&self, v: u32) -> usize {
        match &self.dst {
            AddrTable::V4(t) => t.get(v) as usize,
            AddrTable::V6(t) => t.get(v as u128) as usize,
        }
    }

    /// First matching rule of an IPv4 key, or [`NO_MATCH`].
    #[inline]
    pub fn lookup4(&self, k: &Key4) -> u32 {
        simd::lookup4(self, k)
    }

    /// First matching rule of each key of a batch, into `out` (same length).
    ///
    /// Staged so that the memory accesses of different keys overlap: the
    /// class lookups of a whole chunk, then the first aggregate word of each
    /// key's three bit vectors (the likeliest cache misses), then the scan of
    /// each key from there.
    pub fn lookup4_batch(&self, keys: &[Key4], out: &mut [u32]) {
        simd::lookup4_batch(self, keys, out)
    }

    /// First matching rule of an IPv6 key (or of any key, on a classifier of
    /// either width), or [`NO_MATCH`].
    pub fn lookup6(&self, k: &Key6) -> u32 {
        simd::lookup6(self, k)
    }

    /// The body of [`Classifier::lookup4`], inlined into each compiled
    /// variant of `simd`; `D` as [`Classifier::single_words`] says.
    #[inline(always)]
    pub(crate) fn lookup4_kernel<A: DenseAnd, const D: usize>(&self, k: &Key4) -> u32 {
        let s = self.src_v4(k.src);
        let d = self.dst_v4(k.dst);
        let r = self.pp_class(k.sport, k.dport, k.proto);
        self.first::<A, D>(s, d, r)
    }

    /// The body of [`Classifier::lookup4_batch`], inlined into each
    /// compiled variant of `simd`.
    #[inline(always)]
    pub(crate) fn lookup4_batch_kernel<A: DenseAnd>(&self, keys: &[Key4], out: &mut [u32]) {
        const CHUNK: usize = 32;
        let mut cls = [[0usize; 3]; CHUNK];
        for (ks, os) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            for (c, k) in cls.iter_mut().zip(ks) {
                *c = [
                    self.src_v4(k.src),
                    self.dst_v4(k.dst),
                    self.pp_class(k.sport, k.dport, k.proto),
                ];
            }
            match self.dense {
                8 => self.dense_chunk::<A, 8>(&cls, os),
                16 => self.dense_chunk::<A, 16>(&cls, os),
                _ => self.sparse_chunk(&cls, os),
            }
        }
    }

    /// Answers of a chunk of classes by the dense AND.
    #[inline(always)]
    fn dense_chunk<A: DenseAnd, const D: usize>(&self, cls: &[[usize; 3]], out: &mut [u32]) {
        for (o, c) in out.iter_mut().zip(cls) {
            *o = self.dense::<A, D>(self.offsets(*c));
        }
    }

    /// Answers of a chunk of classes by the sparse scan: the first aggregate
    /// words of every key (the likeliest cache misses), then the scans.
    #[inline(always)]
    fn sparse_chunk(&self, cls: &[[usize; 3]; 32], out: &mut [u32]) {
        let ag = self.layout.agg;
        let mut mask = [0u64; 32];
        for (m, c) in mask.iter_mut().zip(cls).take(out.len()) {
            *m = self.first_mask(c.map(|k| k * ag));
        }
        for ((o, c), &m) in out.iter_mut().zip(cls).zip(&mask) {
            *o = self.sparse(self.offsets(*c), c.map(|k| k * ag), m);
        }
    }

    #[inline(always)]
    fn addr6(t: &AddrTable, v: u128) -> usize {
        match t {
            AddrTable::V6(t) => t.get(v) as usize,
            // An IPv4 classifier sees only IPv4-sized values.
            AddrTable::V4(t) => {
                if v > u32::MAX as u128 {
                    usize::MAX
                } else {
                    t.get(v as u32) as usize
                }
            }
        }
    }

    /// The body of [`Classifier::lookup6`], inlined into each compiled
    /// variant of `simd`; `D` as [`Classifier::single_words`] says.
    #[inline(always)]
    pub(crate) fn lookup6_kernel<A: DenseAnd, const D: usize>(&self, k: &Key6) -> u32 {
        let s = Self::addr6(&self.src, k.src);
        let d = Self::addr6(&self.dst, k.dst);
        if s == usize::MAX || d == usize::MAX {
            return NO_MATCH;
        }
        let r = self.pp_class(k.sport, k.dport, k.proto);
        self.first::<A, D>(s, d, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_rule() -> FieldRule {
        FieldRule {
            src: vec![(0, u32::MAX as u128)],
            dst: vec![(0, u32::MAX as u128)],
            sport: vec![(0, NO_PORT)],
            dport: vec![(0, NO_PORT)],
            proto: vec![(0, 255)],
        }
    }

    #[test]
    fn first_match_wins() {
        let mut r0 = any_rule();
        r0.dport = vec![(80, 80), (443, 443)];
        r0.proto = vec![(6, 6)];
        let mut r1 = any_rule();
        r1.src = vec![(0x0a00_0000, 0x0aff_ffff)];
        let r2 = any_rule();
        let c = Classifier::build(Width::V4, &[r0, r1, r2]);
        let k = |src: u32, dport: u32, proto: u8| Key4 {
            src,
            dst: 1,
            sport: 1000,
            dport,
            proto,
        };
        assert_eq!(c.lookup4(&k(0x0a01_0101, 80, 6)), 0);
        assert_eq!(c.lookup4(&k(0x0a01_0101, 80, 17)), 1);
        assert_eq!(c.lookup4(&k(0x0b01_0101, 81, 6)), 2);
        assert_eq!(c.lookup4(&k(0x0b01_0101, NO_PORT, 1)), 2);
        let keys = [k(0x0a01_0101, 443, 6), k(0x0a01_0101, 22, 6), k(9, 9, 9)];
        let mut out = [0; 3];
        c.lookup4_batch(&keys, &mut out);
        assert_eq!(out, [0, 1, 2]);
    }

    /// Random rules on narrow domains (so that they overlap), `n` of them.
    fn random_rules(n: usize, next: &mut impl FnMut() -> u64) -> Vec<FieldRule> {
        let mut range = |max: u64, shift: u32| {
            let (a, b) = (next() % (max + 1), next() % (max + 1));
            let (lo, hi) = (a.min(b) as u128, a.max(b) as u128);
            (lo << shift, ((hi + 1) << shift) - 1)
        };
        let any_addr = vec![(0, u32::MAX as u128)];
        let port = |(a, b): (u128, u128)| vec![(a as u32, b as u32)];
        (0..n)
            .map(|i| FieldRule {
                src: if i % 5 == 0 {
                    any_addr.clone()
                } else {
                    vec![range(15, 28)]
                },
                dst: if i % 3 == 0 {
                    any_addr.clone()
                } else {
                    vec![range(15, 28)]
                },
                sport: if i % 2 == 0 {
                    vec![(0, NO_PORT)]
                } else {
                    port(range(15, 12))
                },
                dport: port(range(16, 12)),
                proto: vec![(6, 6 + (i % 12) as u8)],
            })
            .collect()
    }

    /// Every kernel (one-key lookups dense and sparse, batches, both SIMD
    /// paths) answers what a linear scan answers, below and above the dense
    /// limit of 1,024 rules.
    #[test]
    fn every_kernel_agrees_with_linear_scan() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [40, 700, 1100] {
            let rules = random_rules(n, &mut next);
            let keys: Vec<Key4> = (0..600)
                .map(|_| Key4 {
                    src: next() as u32,
                    dst: next() as u32,
                    sport: (next() % 65537) as u32,
                    dport: (next() % 65537) as u32,
                    proto: (next() % 20) as u8,
                })
                .collect();
            let linear = |k: &Key4| {
                rules
                    .iter()
                    .position(|r| {
                        r.matches(k.src as u128, k.dst as u128, k.sport, k.dport, k.proto)
                    })
                    .map_or(NO_MATCH, |i| i as u32)
            };
            let want: Vec<u32> = keys.iter().map(linear).collect();
            let hits = want.iter().filter(|&&w| w != NO_MATCH).count();
            assert!(hits > 60, "{n} rules: {hits} keys match");
            let built = Classifier::build(Width::V4, &rules);
            assert_eq!(built.dense != 0, n <= 1024);
            for path in [SimdPath::Portable, SimdPath::Avx2] {
                for single_dense in [false, true] {
                    let mut c = built.clone().with_simd(path);
                    c.single_dense = single_dense && c.dense != 0;
                    let mut batch = vec![0; keys.len()];
                    c.lookup4_batch(&keys, &mut batch);
                    assert_eq!(batch, want, "{n} rules, {path} batch");
                    for (k, w) in keys.iter().zip(&want) {
                        assert_eq!(c.lookup4(k), *w, "{n} rules, {path}, dense {single_dense}");
                        let k6 = Key6 {
                            src: k.src.into(),
                            dst: k.dst.into(),
                            sport: k.sport,
                            dport: k.dport,
                            proto: k.proto,
                        };
                        assert_eq!(c.lookup6(&k6), *w, "{n} rules, {path} v6 key");
                    }
                }
            }
        }
    }

    #[test]
    fn no_rule_no_match() {
        let c = Classifier::build(Width::V4, &[]);
        assert_eq!(c.lookup4(&Key4::default()), NO_MATCH);
        let mut r = any_rule();
        r.src.clear();
        let c = Classifier::build(Width::V4, &[r]);
        assert_eq!(c.lookup4(&Key4::default()), NO_MATCH);
    }
}

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

use crate::field::{Dir16x8x8, Direct, FieldClasses, Sorted};
use crate::simd::{self, SimdPath};
use ahash::AHashMap;

/// The port value of a packet that has no ports (not TCP or UDP): it lies
/// outside 0..=65535, so only rules whose port ranges include it (a `*` port
/// list compiled as `0..=NO_PORT`) match it.
pub const NO_PORT: u32 = 65536;

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

/// Bit vectors of one lookup dimension, each class a block of `agg` aggregate
/// words then `words` rule words.
#[derive(Debug, Clone)]
struct Blocks {
    bits: Vec<u64>,
}

/// A compiled, immutable classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    width: Width,
    rules: usize,
    agg: usize,
    stride: usize,
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
    pub fn build(width: Width, rules: &[FieldRule]) -> Classifier {
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
        let agg = words.div_ceil(64);
        let stride = agg + words;
        let blocks = |bits: &[u64]| {
            let n = bits.len() / words;
            let mut out = Vec::with_capacity(n * stride);
            for c in 0..n {
                let v = &bits[c * words..(c + 1) * words];
                let mut a = vec![0u64; agg];
                for (w, x) in v.iter().enumerate() {
                    if *x != 0 {
                        a[w / 64] |= 1 << (w % 64);
                    }
                }
                out.extend_from_slice(&a);
                out.extend_from_slice(v);
            }
            Blocks { bits: out }
        };
        let table = |f: &FieldClasses| match width {
            Width::V4 => AddrTable::V4(Dir16x8x8::build(f)),
            Width::V6 => AddrTable::V6(Sorted::build(f)),
        };
        Classifier {
            width,
            rules: rules.len(),
            agg,
            stride,
            src: table(&src),
            dst: table(&dst),
            proto: Direct::build(&proto, 255),
            sport: Direct::build(&sport, NO_PORT as u128),
            dport: Direct::build(&dport, NO_PORT as u128),
            sport_classes: sport.class_count(),
            dport_classes: dport.class_count(),
            pair1,
            pair2,
            src_bits: blocks(&src.bits),
            dst_bits: blocks(&dst.bits),
            pp_bits: blocks(&pp),
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
            + (self.src_bits.bits.len() + self.dst_bits.bits.len() + self.pp_bits.bits.len()) * 8
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

    #[inline(always)]
    fn first(&self, s: usize, d: usize, r: usize) -> u32 {
        let st = self.stride;
        let o = [s * st, d * st, r * st];
        let m = self.src_bits.bits[o[0]] & self.dst_bits.bits[o[1]] & self.pp_bits.bits[o[2]];
        self.scan(&o, m)
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
    /// variant of `simd`.
    #[inline(always)]
    pub(crate) fn lookup4_kernel(&self, k: &Key4) -> u32 {
        let s = self.src_v4(k.src);
        let d = self.dst_v4(k.dst);
        let r = self.pp_class(k.sport, k.dport, k.proto);
        self.first(s, d, r)
    }

    /// The body of [`Classifier::lookup4_batch`], inlined into each
    /// compiled variant of `simd`.
    #[inline(always)]
    pub(crate) fn lookup4_batch_kernel(&self, keys: &[Key4], out: &mut [u32]) {
        const CHUNK: usize = 32;
        let st = self.stride;
        let mut off = [[0usize; 3]; CHUNK];
        let mut mask = [0u64; CHUNK];
        let (sb, db, pb) = (
            &self.src_bits.bits[..],
            &self.dst_bits.bits[..],
            &self.pp_bits.bits[..],
        );
        for (ks, os) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            for (o, k) in off.iter_mut().zip(ks) {
                *o = [
                    self.src_v4(k.src) * st,
                    self.dst_v4(k.dst) * st,
                    self.pp_class(k.sport, k.dport, k.proto) * st,
                ];
            }
            for (m, o) in mask.iter_mut().zip(&off).take(ks.len()) {
                *m = sb[o[0]] & db[o[1]] & pb[o[2]];
            }
            for ((out, o), &m) in os.iter_mut().zip(&off).zip(&mask) {
                *out = self.scan(o, m);
            }
        }
    }

    /// Scan from block offsets, given the AND of the first aggregate word:
    /// each candidate word (one holding rules of all three vectors) is tested
    /// in rule order; the first common bit is the answer.
    #[inline(always)]
    fn scan(&self, o: &[usize; 3], first_mask: u64) -> u32 {
        let st = self.stride;
        let bs = &self.src_bits.bits[o[0]..o[0] + st];
        let bd = &self.dst_bits.bits[o[1]..o[1] + st];
        let br = &self.pp_bits.bits[o[2]..o[2] + st];
        let agg = self.agg;
        let mut m = first_mask;
        for a in 0..agg {
            if a > 0 {
                m = bs[a] & bd[a] & br[a];
            }
            while m != 0 {
                let w = a * 64 + m.trailing_zeros() as usize;
                let x = bs[agg + w] & bd[agg + w] & br[agg + w];
                if x != 0 {
                    return (w * 64) as u32 + x.trailing_zeros();
                }
                m &= m - 1;
            }
        }
        NO_MATCH
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
    /// variant of `simd`.
    #[inline(always)]
    pub(crate) fn lookup6_kernel(&self, k: &Key6) -> u32 {
        let s = Self::addr6(&self.src, k.src);
        let d = Self::addr6(&self.dst, k.dst);
        if s == usize::MAX || d == usize::MAX {
            return NO_MATCH;
        }
        let r = self.pp_class(k.sport, k.dport, k.proto);
        self.first(s, d, r)
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

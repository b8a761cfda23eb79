//! One field of the classifier: the field's domain cut into elementary
//! intervals at every rule boundary, intervals with the same set of matching
//! rules merged into one equivalence class, and a lookup table from a value
//! to its class.

use ahash::AHashMap;

/// The classes of one field: for each class, the bit vector of the rules
/// whose range set covers it.
#[derive(Debug, Clone)]
pub(crate) struct FieldClasses {
    /// Start of each elementary interval, ascending; the first is 0.
    pub starts: Vec<u128>,
    /// Class of each elementary interval.
    pub interval_class: Vec<u32>,
    /// Bit vectors of the classes, `words` u64 each, class after class.
    pub bits: Vec<u64>,
    pub words: usize,
}

impl FieldClasses {
    pub fn class_count(&self) -> usize {
        self.bits.len() / self.words.max(1)
    }

    #[cfg(test)]
    pub fn class_bits(&self, class: u32) -> &[u64] {
        let w = self.words;
        &self.bits[class as usize * w..(class as usize + 1) * w]
    }

    /// Class of a value (binary search).
    #[cfg(test)]
    pub fn class_of(&self, v: u128) -> u32 {
        let i = self.starts.partition_point(|&s| s <= v) - 1;
        self.interval_class[i]
    }

    /// Build from each rule's ranges over the domain `0..=max`.
    pub fn build(rules: &[Vec<(u128, u128)>], max: u128) -> FieldClasses {
        let n = rules.len();
        let words = n.div_ceil(64).max(1);
        // (position, rule, is_start); ranges of a rule are normalised so a
        // rule's bit goes on and off at most once per position.
        let mut events: Vec<(u128, u32, bool)> = Vec::new();
        for (j, ranges) in rules.iter().enumerate() {
            for (lo, hi) in normalise(ranges, max) {
                events.push((lo, j as u32, true));
                if hi < max {
                    events.push((hi + 1, j as u32, false));
                }
            }
        }
        // Ends before starts at one position.
        events.sort_unstable_by_key(|&(p, j, start)| (p, start, j));
        let mut starts = vec![0u128];
        for &(p, _, _) in &events {
            if *starts.last().unwrap_or(&0) != p {
                starts.push(p);
            }
        }
        let mut active = vec![0u64; words];
        let mut dedup: AHashMap<Vec<u64>, u32> = AHashMap::new();
        let mut bits = Vec::new();
        let mut interval_class = Vec::with_capacity(starts.len());
        let mut e = 0;
        for &s in &starts {
            while e < events.len() && events[e].0 == s {
                let (_, j, on) = events[e];
                let (w, b) = (j as usize / 64, j % 64);
                if on {
                    active[w] |= 1 << b;
                } else {
                    active[w] &= !(1 << b);
                }
                e += 1;
            }
            let next = dedup.len() as u32;
            let id = *dedup.entry(active.clone()).or_insert_with(|| {
                bits.extend_from_slice(&active);
                next
            });
            interval_class.push(id);
        }
        FieldClasses {
            starts,
            interval_class,
            bits,
            words,
        }
    }
}

/// Sort, clip to the domain and merge overlapping or adjacent ranges.
pub(crate) fn normalise(ranges: &[(u128, u128)], max: u128) -> Vec<(u128, u128)> {
    let mut r: Vec<(u128, u128)> = ranges
        .iter()
        .filter(|(lo, hi)| lo <= hi && *lo <= max)
        .map(|&(lo, hi)| (lo, hi.min(max)))
        .collect();
    r.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// IPv4 lookup: a 64 Ki-entry table on the top 16 bits, then 256-entry blocks
/// for the next 8 bits and the last 8 where a chunk holds several classes.
#[derive(Debug, Clone)]
pub(crate) struct Dir16x8x8 {
    top: Vec<u32>,
    blocks: Vec<u32>,
}

const PTR: u32 = 1 << 31;

impl Dir16x8x8 {
    pub fn build(f: &FieldClasses) -> Dir16x8x8 {
        let mut t = Dir16x8x8 {
            top: vec![0; 1 << 16],
            blocks: Vec::new(),
        };
        // Spans are visited in ascending order, so the interval cursor only
        // moves forward: the build is linear in table size plus intervals.
        let mut cursor = 0;
        for c in 0..(1u32 << 16) {
            let lo = (c as u128) << 16;
            t.top[c as usize] = t.entry(f, lo, 16, &mut cursor);
        }
        t
    }

    /// Entry for the span [lo, lo + 2^bits): a class, or a pointer to a block.
    fn entry(&mut self, f: &FieldClasses, lo: u128, bits: u32, cursor: &mut usize) -> u32 {
        let hi = lo + (1u128 << bits) - 1;
        while *cursor + 1 < f.starts.len() && f.starts[*cursor + 1] <= lo {
            *cursor += 1;
        }
        let i = *cursor;
        let single = f.starts.get(i + 1).is_none_or(|&next| next > hi);
        if single || bits == 0 {
            return f.interval_class[i];
        }
        let sub = bits - 8;
        let base = self.blocks.len();
        self.blocks.resize(base + 256, 0);
        for k in 0..256u128 {
            let e = self.entry(f, lo + (k << sub), sub, cursor);
            self.blocks[base + k as usize] = e;
        }
        base as u32 | PTR
    }

    #[inline(always)]
    pub fn get(&self, v: u32) -> u32 {
        let e = self.top[(v >> 16) as usize];
        if e & PTR == 0 {
            return e;
        }
        let e = self.blocks[(e & !PTR) as usize + ((v >> 8) & 0xff) as usize];
        if e & PTR == 0 {
            return e;
        }
        self.blocks[(e & !PTR) as usize + (v & 0xff) as usize]
    }

    pub fn bytes(&self) -> usize {
        (self.top.len() + self.blocks.len()) * 4
    }
}

/// A direct table over a small domain (ports, protocol): 16-bit class ids
/// when they fit, to keep the table in cache.
#[derive(Debug, Clone)]
pub(crate) enum Direct {
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Direct {
    pub fn build(f: &FieldClasses, max: u128) -> Direct {
        let mut t = Vec::with_capacity(max as usize + 1);
        let mut i = 0;
        for v in 0..=max {
            while i + 1 < f.starts.len() && f.starts[i + 1] <= v {
                i += 1;
            }
            t.push(f.interval_class[i]);
        }
        if f.class_count() <= u16::MAX as usize + 1 {
            Direct::U16(t.into_iter().map(|c| c as u16).collect())
        } else {
            Direct::U32(t)
        }
    }

    #[inline(always)]
    pub fn get(&self, v: usize) -> u32 {
        match self {
            Direct::U16(t) => t[v] as u32,
            Direct::U32(t) => t[v],
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            Direct::U16(t) => t.len() * 2,
            Direct::U32(t) => t.len() * 4,
        }
    }
}

/// Sorted interval starts with binary search: IPv6 addresses.
#[derive(Debug, Clone)]
pub(crate) struct Sorted {
    starts: Vec<u128>,
    class: Vec<u32>,
}

impl Sorted {
    pub fn build(f: &FieldClasses) -> Sorted {
        Sorted {
            starts: f.starts.clone(),
            class: f.interval_class.clone(),
        }
    }

    #[inline]
    pub fn get(&self, v: u128) -> u32 {
        let i = self.starts.partition_point(|&s| s <= v) - 1;
        self.class[i]
    }

    pub fn bytes(&self) -> usize {
        self.starts.len() * 16 + self.class.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_merge_equal_sets() {
        // Rule 0 covers 10..=20, rule 1 covers 0..=5 and 30..=40.
        let f = FieldClasses::build(&[vec![(10, 20)], vec![(0, 5), (30, 40)]], 100);
        assert_eq!(f.starts, vec![0, 6, 10, 21, 30, 41]);
        // 6..=9, 21..=29 and 41..=100 match nothing: one class.
        assert_eq!(f.class_of(7), f.class_of(25));
        assert_eq!(f.class_of(7), f.class_of(100));
        assert_eq!(f.class_bits(f.class_of(15)), &[0b01]);
        assert_eq!(f.class_bits(f.class_of(35)), &[0b10]);
        assert_eq!(f.class_bits(f.class_of(3)), &[0b10]);
        assert_eq!(f.class_count(), 3);
    }

    #[test]
    fn dir_table_agrees_with_search() {
        let rules = vec![
            vec![(0x0a00_0000, 0x0aff_ffff)],
            vec![(0x0a01_0203, 0x0a01_0203)],
            vec![(0x0a01_0200, 0x0a01_02ff)],
            vec![(0, u32::MAX as u128)],
        ];
        let f = FieldClasses::build(&rules, u32::MAX as u128);
        let t = Dir16x8x8::build(&f);
        for v in [
            0u32,
            0x0a00_0000,
            0x0a01_0202,
            0x0a01_0203,
            0x0a01_0204,
            0x0a01_02ff,
            0x0a01_0300,
            u32::MAX,
        ] {
            assert_eq!(t.get(v), f.class_of(v as u128), "{v:#x}");
        }
        let s = Sorted::build(&f);
        assert_eq!(s.get(0x0a01_0203), f.class_of(0x0a01_0203));
    }
}

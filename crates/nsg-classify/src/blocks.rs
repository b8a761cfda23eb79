//! The bit vectors of one lookup dimension and the two ways a lookup ANDs
//! three of them.
//!
//! Each class has a block of rule words (bit `j` of word `w` is rule
//! `64 * w + j`), padded with zero words to a whole number of cache lines and
//! stored from a 64-byte boundary, and apart from it, in a small dense array,
//! its aggregate words (bit `w` set when rule word `w` is not zero).
//!
//! - **Dense** (at most 16 rule words, i.e. 1,024 rules): the whole blocks are
//!   ANDed word by word without a branch (the compiler turns the fixed-size
//!   loop into vector instructions on the AVX2 path) and the first non-zero
//!   word gives the answer. With no data-dependent branch, the lookups of
//!   consecutive keys overlap in the CPU.
//! - **Sparse** (larger sets): the aggregate words are ANDed first, and only
//!   the rule words all three vectors may share are read, in rule order.

use crate::classifier::NO_MATCH;

/// Words of a 64-byte cache line.
const LINE_WORDS: usize = 8;

/// Shape of the blocks of a classifier (the same for its three dimensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Aggregate words per class.
    pub agg: usize,
    /// Rule words per class block, padding included (a multiple of 8).
    pub stride: usize,
}

impl Layout {
    /// The layout for `words` rule words per class.
    pub fn new(words: usize) -> Layout {
        Layout {
            agg: words.div_ceil(64).max(1),
            stride: words.max(1).next_multiple_of(LINE_WORDS),
        }
    }
}

/// The blocks of one dimension.
#[derive(Debug)]
pub(crate) struct Blocks {
    /// Aggregate words, `agg` per class, class after class.
    agg: Vec<u64>,
    /// Rule words, `stride` per class, from `buf[base]`, a 64-byte boundary.
    buf: Vec<u64>,
    base: usize,
    len: usize,
}

impl Blocks {
    /// Blocks of classes given as `words` rule words each, class after class.
    pub fn build(bits: &[u64], words: usize, l: Layout) -> Blocks {
        let n = bits.len().checked_div(words).unwrap_or(0);
        let mut agg = vec![0u64; n * l.agg];
        let mut padded = vec![0u64; n * l.stride];
        for c in 0..n {
            let v = &bits[c * words..(c + 1) * words];
            padded[c * l.stride..c * l.stride + words].copy_from_slice(v);
            for (w, x) in v.iter().enumerate() {
                if *x != 0 {
                    agg[c * l.agg + w / 64] |= 1 << (w % 64);
                }
            }
        }
        Blocks::from_parts(agg, &padded)
    }

    /// Copy `words` into a buffer where they start on a 64-byte boundary.
    fn from_parts(agg: Vec<u64>, words: &[u64]) -> Blocks {
        let mut buf = vec![0u64; words.len() + LINE_WORDS];
        let misalign = (buf.as_ptr() as usize / 8) % LINE_WORDS;
        let base = (LINE_WORDS - misalign) % LINE_WORDS;
        buf[base..base + words.len()].copy_from_slice(words);
        Blocks {
            agg,
            buf,
            base,
            len: words.len(),
        }
    }

    /// The buffer of rule words: class `c` from [`Blocks::offset`]`(c)`.
    #[inline(always)]
    pub fn words(&self) -> &[u64] {
        &self.buf
    }

    /// Where class `c`'s block starts in [`Blocks::words`], for a layout of
    /// `stride` words per class.
    #[inline(always)]
    pub fn offset(&self, c: usize, stride: usize) -> usize {
        self.base + c * stride
    }

    /// The rule words of all classes, without the alignment padding.
    fn blocks(&self) -> &[u64] {
        &self.buf[self.base..self.base + self.len]
    }

    /// Aggregate words of every class, class `c` from `c * agg`.
    #[inline(always)]
    pub fn agg(&self) -> &[u64] {
        &self.agg
    }

    /// Heap bytes.
    pub fn bytes(&self) -> usize {
        (self.agg.len() + self.buf.len()) * 8
    }
}

/// A clone is aligned again: the copy's allocation has its own address.
impl Clone for Blocks {
    fn clone(&self) -> Blocks {
        Blocks::from_parts(self.agg.clone(), self.blocks())
    }
}

/// The `D` words of `v` from `at`, if there are that many.
#[inline(always)]
pub(crate) fn block<const D: usize>(v: &[u64], at: usize) -> Option<&[u64; D]> {
    v.get(at..).and_then(|b| b.first_chunk::<D>())
}

/// How a compiled variant of the lookup loops does the dense AND: the same
/// answer as [`dense_first`], with the instructions of its path.
pub(crate) trait DenseAnd {
    /// The first rule set in all three `D`-word blocks at word offsets `o`
    /// of `s`, `d` and `r`, or [`NO_MATCH`] (also when a block would reach
    /// past its slice).
    fn first<const D: usize>(s: &[u64], d: &[u64], r: &[u64], o: [usize; 3]) -> u32;
}

/// The dense AND in plain Rust (vectorised as far as the baseline target
/// allows).
pub(crate) struct Portable;

impl DenseAnd for Portable {
    #[inline(always)]
    fn first<const D: usize>(s: &[u64], d: &[u64], r: &[u64], o: [usize; 3]) -> u32 {
        dense_first::<D>(s, d, r, o)
    }
}

/// Dense AND of the `D`-word blocks at word offsets `o` of `s`, `d` and `r`:
/// the first rule set in all three, or [`NO_MATCH`].
#[inline(always)]
pub(crate) fn dense_first<const D: usize>(s: &[u64], d: &[u64], r: &[u64], o: [usize; 3]) -> u32 {
    let (Some(bs), Some(bd), Some(br)) = (
        block::<D>(s, o[0]),
        block::<D>(d, o[1]),
        block::<D>(r, o[2]),
    ) else {
        return NO_MATCH;
    };
    let mut nz = 0u32;
    for i in 0..D {
        nz |= u32::from(bs[i] & bd[i] & br[i] != 0) << i;
    }
    if nz == 0 {
        return NO_MATCH;
    }
    let w = nz.trailing_zeros() as usize;
    (w * 64) as u32 + (bs[w] & bd[w] & br[w]).trailing_zeros()
}

/// Sparse scan of three vectors: `o` the word offsets of their blocks, `a`
/// the offsets of their aggregate words, `first_mask` the AND of the first
/// aggregate words. Candidate words (set in all three aggregates) are tested
/// in rule order; the first common bit is the answer.
#[inline(always)]
pub(crate) fn sparse_scan(
    b: [&Blocks; 3],
    l: Layout,
    o: [usize; 3],
    a: [usize; 3],
    first_mask: u64,
) -> u32 {
    sparse_scan_counted(b, l, o, a, first_mask).0
}

/// [`sparse_scan`], and the number of candidate words it read.
#[inline(always)]
pub(crate) fn sparse_scan_counted(
    b: [&Blocks; 3],
    l: Layout,
    o: [usize; 3],
    a: [usize; 3],
    first_mask: u64,
) -> (u32, usize) {
    let (ws, wd, wr) = (b[0].words(), b[1].words(), b[2].words());
    let mut m = first_mask;
    let mut read = 0;
    if l.agg == 1 {
        // Up to 64 rule words: the first aggregate word is the only one.
        while m != 0 {
            let w = m.trailing_zeros() as usize;
            let x = ws[o[0] + w] & wd[o[1] + w] & wr[o[2] + w];
            read += 1;
            if x != 0 {
                return ((w * 64) as u32 + x.trailing_zeros(), read);
            }
            m &= m - 1;
        }
        return (NO_MATCH, read);
    }
    let (as_, ad, ar) = (b[0].agg(), b[1].agg(), b[2].agg());
    for i in 0..l.agg {
        if i > 0 {
            m = as_[a[0] + i] & ad[a[1] + i] & ar[a[2] + i];
        }
        while m != 0 {
            let w = i * 64 + m.trailing_zeros() as usize;
            let x = ws[o[0] + w] & wd[o[1] + w] & wr[o[2] + w];
            read += 1;
            if x != 0 {
                return ((w * 64) as u32 + x.trailing_zeros(), read);
            }
            m &= m - 1;
        }
    }
    (NO_MATCH, read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_pads_to_lines() {
        assert_eq!(Layout::new(1), Layout { agg: 1, stride: 8 });
        assert_eq!(Layout::new(12), Layout { agg: 1, stride: 16 });
        assert_eq!(Layout::new(64), Layout { agg: 1, stride: 64 });
        assert_eq!(
            Layout::new(150),
            Layout {
                agg: 3,
                stride: 152
            }
        );
    }

    #[test]
    fn blocks_are_aligned_and_clones_too() {
        let words = 12;
        let bits: Vec<u64> = (0..3 * words as u64).map(|i| i * 0x9e37_79b9).collect();
        let l = Layout::new(words);
        let b = Blocks::build(&bits, words, l);
        for blocks in [&b, &b.clone()] {
            assert_eq!(blocks.blocks().as_ptr() as usize % 64, 0);
            for c in 0..3 {
                let at = blocks.offset(c, l.stride);
                assert_eq!(blocks.words()[at..].as_ptr() as usize % 64, 0);
                let got = &blocks.words()[at..at + words];
                assert_eq!(got, &bits[c * words..(c + 1) * words]);
                assert!(blocks.words()[at + words..at + l.stride]
                    .iter()
                    .all(|&w| w == 0));
            }
        }
    }

    #[test]
    fn dense_and_sparse_agree() {
        // Three classes per dimension, 16 words each, sparse bits.
        let words = 16;
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut dims = Vec::new();
        for _ in 0..3 {
            let bits: Vec<u64> = (0..4 * words).map(|_| next() & next() & next()).collect();
            dims.push(Blocks::build(&bits, words, Layout::new(words)));
        }
        let l = Layout::new(words);
        for c in 0..64 {
            let cls = [c % 4, (c / 4) % 4, c / 16];
            let a = cls.map(|k| k * l.agg);
            let (s, d, r) = (&dims[0], &dims[1], &dims[2]);
            let o = [
                s.offset(cls[0], l.stride),
                d.offset(cls[1], l.stride),
                r.offset(cls[2], l.stride),
            ];
            let m = s.agg()[a[0]] & d.agg()[a[1]] & r.agg()[a[2]];
            let sparse = sparse_scan([s, d, r], l, o, a, m);
            let dense = dense_first::<16>(s.words(), d.words(), r.words(), o);
            assert_eq!(dense, sparse, "classes {cls:?}");
        }
    }
}

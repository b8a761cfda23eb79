//! The instruction set the matcher's hot loops run with, chosen at run time
//! as DPDK's ACL library chooses its classify method.
//!
//! The lookup loops (class lookups, the AND of the aggregated bit vectors and
//! the first-set-bit scan, the staged batch) are compiled twice: once for the
//! target's baseline (any x86-64 host), once with AVX2, BMI1, BMI2, LZCNT and
//! POPCNT enabled. A classifier stores the variant chosen when it is built
//! and every lookup follows that choice; the CPU is asked once per process.
//!
//! `NSG_SIMD=portable` forces the baseline variant, so that both can be
//! measured from one binary; `NSG_SIMD=avx2` asks for the fast one (granted
//! only when the CPU has it); unset or `auto`, the CPU decides.
//!
//! The AVX2 variant also does the dense AND of small sets (see `blocks.rs`)
//! with 256-bit loads, ANDs and compares instead of the portable loop.
//!
//! The crate's only unsafe code is here: the calls of the `target_feature`
//! variants, each made only on a classifier whose stored path the CPU
//! supports, and the AVX2 loads, each inside a block of checked length.

use crate::blocks::Portable;
use crate::classifier::{Classifier, Key4, Key6};
use std::fmt;
use std::sync::OnceLock;

/// A compiled variant of the lookup loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimdPath {
    /// Compiled for the target's baseline instruction set: runs anywhere.
    Portable,
    /// Compiled with AVX2, BMI1, BMI2, LZCNT and POPCNT (x86-64 only).
    Avx2,
}

impl SimdPath {
    /// The path's name as `NSG_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Portable => "portable",
            SimdPath::Avx2 => "avx2",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            SimdPath::Portable => true,
            SimdPath::Avx2 => avx2_detected(),
        }
    }

    /// This path if the CPU can run it, else [`SimdPath::Portable`].
    pub fn or_portable(self) -> SimdPath {
        if self.supported() {
            self
        } else {
            SimdPath::Portable
        }
    }
}

impl fmt::Display for SimdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("lzcnt")
        && std::is_x86_feature_detected!("popcnt")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

/// How the process's path was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `NSG_SIMD` unset or `auto`: the fastest path the CPU runs.
    Detected,
    /// `NSG_SIMD` named the path.
    Forced,
    /// `NSG_SIMD=avx2`, but the CPU lacks a feature of that path.
    Unsupported,
    /// `NSG_SIMD` held something else; the CPU decided.
    Unrecognised,
}

/// The path classifiers take in this process unless told otherwise, and
/// why; its `Display` is the line benchmarks print, e.g. `avx2 path
/// (detected)` or `portable path (NSG_SIMD=portable)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// The chosen path (one the CPU supports).
    pub path: SimdPath,
    /// How it was chosen.
    pub reason: Reason,
}

impl Selection {
    /// The selection for a value of `NSG_SIMD` (`None`: unset).
    pub fn from_env(value: Option<&str>) -> Selection {
        let best = SimdPath::Avx2.or_portable();
        let (path, reason) = match value.map(str::trim) {
            None | Some("") | Some("auto") => (best, Reason::Detected),
            Some("portable") => (SimdPath::Portable, Reason::Forced),
            Some("avx2") if best == SimdPath::Avx2 => (best, Reason::Forced),
            Some("avx2") => (SimdPath::Portable, Reason::Unsupported),
            Some(_) => (best, Reason::Unrecognised),
        };
        Selection { path, reason }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} path (", self.path)?;
        match self.reason {
            Reason::Detected if self.path == SimdPath::Avx2 => f.write_str("detected)"),
            Reason::Detected => f.write_str("no AVX2 on this CPU)"),
            Reason::Forced => write!(f, "NSG_SIMD={})", self.path),
            Reason::Unsupported => f.write_str("NSG_SIMD=avx2, but this CPU lacks AVX2)"),
            Reason::Unrecognised => f.write_str("NSG_SIMD not portable, avx2 or auto; detected)"),
        }
    }
}

/// The process's selection: `NSG_SIMD` and the CPU, read on first use.
pub fn selection() -> Selection {
    static SELECTION: OnceLock<Selection> = OnceLock::new();
    *SELECTION.get_or_init(|| Selection::from_env(std::env::var("NSG_SIMD").ok().as_deref()))
}

/// The AVX2 variants: the kernels inlined into functions compiled with the
/// path's features, with the dense AND in AVX2 instructions.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Classifier, Key4, Key6};
    use crate::blocks::{block, DenseAnd};
    use crate::classifier::NO_MATCH;
    use std::arch::x86_64::{
        _mm256_and_si256, _mm256_castsi256_pd, _mm256_cmpeq_epi64, _mm256_loadu_si256,
        _mm256_movemask_pd, _mm256_setzero_si256,
    };

    /// The dense AND with AVX2 instructions: four words per instruction.
    struct Avx2;

    impl DenseAnd for Avx2 {
        #[inline(always)]
        fn first<const D: usize>(s: &[u64], d: &[u64], r: &[u64], o: [usize; 3]) -> u32 {
            // SAFETY: `Avx2` is used only by this module's functions, which
            // are compiled with the features `dense_first` needs and run only
            // on a CPU that has them (see `super::lookup4`).
            unsafe { dense_first::<D>(s, d, r, o) }
        }
    }

    /// [`crate::blocks::dense_first`] with 256-bit ANDs and compares; `D` is
    /// a multiple of 4, at most 32.
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    #[inline]
    fn dense_first<const D: usize>(s: &[u64], d: &[u64], r: &[u64], o: [usize; 3]) -> u32 {
        let (Some(bs), Some(bd), Some(br)) = (
            block::<D>(s, o[0]),
            block::<D>(d, o[1]),
            block::<D>(r, o[2]),
        ) else {
            return NO_MATCH;
        };
        let zero = _mm256_setzero_si256();
        let mut zeros = 0u32;
        let mut i = 0;
        while i + 4 <= D {
            // SAFETY: `i + 4 <= D` and each block is `D` words long, so
            // every load reads 32 bytes inside its block (unaligned loads
            // allowed).
            let (a, b, c) = unsafe {
                (
                    _mm256_loadu_si256(bs[i..].as_ptr().cast()),
                    _mm256_loadu_si256(bd[i..].as_ptr().cast()),
                    _mm256_loadu_si256(br[i..].as_ptr().cast()),
                )
            };
            let x = _mm256_and_si256(_mm256_and_si256(a, b), c);
            let z = _mm256_castsi256_pd(_mm256_cmpeq_epi64(x, zero));
            zeros |= (_mm256_movemask_pd(z) as u32) << i;
            i += 4;
        }
        let nz = !zeros & (u32::MAX >> (32 - D));
        if nz == 0 {
            return NO_MATCH;
        }
        let w = nz.trailing_zeros() as usize;
        (w * 64) as u32 + (bs[w] & bd[w] & br[w]).trailing_zeros()
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup4<const D: usize>(c: &Classifier, k: &Key4) -> u32 {
        c.lookup4_kernel::<Avx2, D>(k)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup4_batch(c: &Classifier, keys: &[Key4], out: &mut [u32]) {
        c.lookup4_batch_kernel::<Avx2>(keys, out)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup6<const D: usize>(c: &Classifier, k: &Key6) -> u32 {
        c.lookup6_kernel::<Avx2, D>(k)
    }
}

/// [`Classifier::lookup4`] on the classifier's path, each variant of the
/// one-key kernel a function of its own (the dense and the sparse kernel do
/// not share registers).
#[inline]
pub(crate) fn lookup4(c: &Classifier, k: &Key4) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: a classifier stores `SimdPath::Avx2` only through
        // `SimdPath::or_portable` (in `selection` and `with_simd`), which
        // grants it only when the CPU reports every feature `avx2::lookup4`
        // is compiled with.
        return unsafe {
            match c.single_words() {
                8 => avx2::lookup4::<8>(c, k),
                16 => avx2::lookup4::<16>(c, k),
                _ => avx2::lookup4::<0>(c, k),
            }
        };
    }
    match c.single_words() {
        8 => c.lookup4_kernel::<Portable, 8>(k),
        16 => c.lookup4_kernel::<Portable, 16>(k),
        _ => c.lookup4_kernel::<Portable, 0>(k),
    }
}

/// [`Classifier::lookup4_batch`] on the classifier's path.
pub(crate) fn lookup4_batch(c: &Classifier, keys: &[Key4], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: as in `lookup4`: the stored path is AVX2 only when the
        // CPU reports every feature `avx2::lookup4_batch` is compiled with.
        return unsafe { avx2::lookup4_batch(c, keys, out) };
    }
    c.lookup4_batch_kernel::<Portable>(keys, out)
}

/// [`Classifier::lookup6`] on the classifier's path.
pub(crate) fn lookup6(c: &Classifier, k: &Key6) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: as in `lookup4`: the stored path is AVX2 only when the
        // CPU reports every feature `avx2::lookup6` is compiled with.
        return unsafe {
            match c.single_words() {
                8 => avx2::lookup6::<8>(c, k),
                16 => avx2::lookup6::<16>(c, k),
                _ => avx2::lookup6::<0>(c, k),
            }
        };
    }
    match c.single_words() {
        8 => c.lookup6_kernel::<Portable, 8>(k),
        16 => c.lookup6_kernel::<Portable, 16>(k),
        _ => c.lookup6_kernel::<Portable, 0>(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsg_simd_values() {
        let best = SimdPath::Avx2.or_portable();
        let portable = Selection::from_env(Some("portable"));
        assert_eq!(portable.path, SimdPath::Portable);
        assert_eq!(portable.to_string(), "portable path (NSG_SIMD=portable)");
        for unset in [None, Some(""), Some("auto")] {
            let s = Selection::from_env(unset);
            assert_eq!((s.path, s.reason), (best, Reason::Detected));
        }
        let odd = Selection::from_env(Some("sse9"));
        assert_eq!((odd.path, odd.reason), (best, Reason::Unrecognised));
        let avx2 = Selection::from_env(Some("avx2"));
        assert_eq!(avx2.path, best);
        let want = if best == SimdPath::Avx2 {
            "avx2 path (NSG_SIMD=avx2)"
        } else {
            "portable path (NSG_SIMD=avx2, but this CPU lacks AVX2)"
        };
        assert_eq!(avx2.to_string(), want);
    }

    #[test]
    fn detected_path_is_supported() {
        assert!(selection().path.supported());
        assert!(SimdPath::Portable.supported());
        assert_eq!(SimdPath::Portable.or_portable(), SimdPath::Portable);
    }
}

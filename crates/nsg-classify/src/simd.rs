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
//! The crate's only unsafe code is here: the calls of the `target_feature`
//! variants, each made only on a classifier whose stored path the CPU
//! supports.

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
/// path's features.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Classifier, Key4, Key6};

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup4(c: &Classifier, k: &Key4) -> u32 {
        c.lookup4_kernel(k)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup4_batch(c: &Classifier, keys: &[Key4], out: &mut [u32]) {
        c.lookup4_batch_kernel(keys, out)
    }

    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) fn lookup6(c: &Classifier, k: &Key6) -> u32 {
        c.lookup6_kernel(k)
    }
}

/// [`Classifier::lookup4`] on the classifier's path.
#[inline]
pub(crate) fn lookup4(c: &Classifier, k: &Key4) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: a classifier stores `SimdPath::Avx2` only through
        // `SimdPath::or_portable` (in `selection` and `with_simd`), which
        // grants it only when the CPU reports every feature `avx2::lookup4`
        // is compiled with.
        return unsafe { avx2::lookup4(c, k) };
    }
    c.lookup4_kernel(k)
}

/// [`Classifier::lookup4_batch`] on the classifier's path.
pub(crate) fn lookup4_batch(c: &Classifier, keys: &[Key4], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: as in `lookup4`: the stored path is AVX2 only when the
        // CPU reports every feature `avx2::lookup4_batch` is compiled with.
        return unsafe { avx2::lookup4_batch(c, keys, out) };
    }
    c.lookup4_batch_kernel(keys, out)
}

/// [`Classifier::lookup6`] on the classifier's path.
pub(crate) fn lookup6(c: &Classifier, k: &Key6) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if c.simd_path() == SimdPath::Avx2 {
        // SAFETY: as in `lookup4`: the stored path is AVX2 only when the
        // CPU reports every feature `avx2::lookup6` is compiled with.
        return unsafe { avx2::lookup6(c, k) };
    }
    c.lookup6_kernel(k)
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

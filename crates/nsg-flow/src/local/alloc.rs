//! Memory for the local flow table: anonymous maps allocated once, up
//! front, on huge pages where the host gives them.
//!
//! This file holds every `unsafe` block of the local table: the `mmap`,
//! `madvise` and `munmap` calls, the views of a mapping as a typed slice,
//! and the two SSE intrinsics of the lookup (prefetch, tag compare).

#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::bucket::Bucket;
use super::entry::{ColdEntry, HotEntry};

/// Size of a huge page on x86-64 and most arm64 hosts (2 MiB).
const HUGE_PAGE: usize = 2 << 20;
/// Size of a base page, the granularity of a plain map.
const BASE_PAGE: usize = 4 << 10;

/// How a region's memory is backed: which of the three attempts succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backing {
    /// `mmap` with `MAP_HUGETLB`: pages from the host's reserved huge-page
    /// pool, never split or swapped.
    HugeTlb,
    /// Plain `mmap` with `madvise(MADV_HUGEPAGE)` accepted and transparent
    /// huge pages enabled: the kernel backs the map with huge pages when it
    /// can find them, base pages otherwise.
    TransparentHuge,
    /// Plain `mmap` on base pages (no huge-page pool, and transparent huge
    /// pages refused or disabled).
    Plain,
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backing::HugeTlb => "huge pages (MAP_HUGETLB)",
            Backing::TransparentHuge => "transparent huge pages (madvise MADV_HUGEPAGE)",
            Backing::Plain => "base pages",
        })
    }
}

/// A region the table asked for and could not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The byte size of the region does not fit in the address space.
    #[error("a region of {count} entries of {size} bytes overflows the address space")]
    TooLarge {
        /// Elements asked for.
        count: usize,
        /// Bytes per element.
        size: usize,
    },
    /// Every `mmap` attempt failed; `errno` is the plain map's error.
    #[error("mmap of {bytes} bytes failed (errno {errno})")]
    Map {
        /// Bytes asked for, rounded up to whole pages.
        bytes: usize,
        /// The OS error number of the last attempt.
        errno: i32,
    },
}

/// A type whose all-zero bit pattern is a valid value, so a fresh anonymous
/// map (zero-filled by the kernel) can be viewed as a slice of it.
///
/// # Safety
/// Implement only for types made of integers and of enums whose zero
/// discriminant exists, with no references, pointers or `NonZero` fields.
pub(crate) unsafe trait ZeroValid: Sized {}

// SAFETY: `Bucket` is three arrays of integers.
unsafe impl ZeroValid for Bucket {}
// SAFETY: `HotEntry` holds integers and a `ConnState`, whose discriminant 0
// exists (asserted in entry.rs).
unsafe impl ZeroValid for HotEntry {}
// SAFETY: `ColdEntry` holds two `Addr` (two u64 each) and a u64.
unsafe impl ZeroValid for ColdEntry {}

/// `count` zeroed values of `T` in one anonymous map, unmapped on drop.
pub(crate) struct Region<T: ZeroValid> {
    ptr: NonNull<T>,
    count: usize,
    bytes: usize,
    backing: Backing,
    _owns: PhantomData<T>,
}

// SAFETY: the region owns its map exclusively (no aliasing pointer is kept
// elsewhere), like a `Box<[T]>`, so it moves between threads when `T` does.
unsafe impl<T: ZeroValid + Send> Send for Region<T> {}

impl<T: ZeroValid> Region<T> {
    /// Maps `count` zeroed values of `T`, trying huge pages first.
    pub(crate) fn zeroed(count: usize) -> Result<Self, AllocError> {
        let size = std::mem::size_of::<T>();
        let too_large = AllocError::TooLarge { count, size };
        let raw = count.checked_mul(size).ok_or(too_large)?.max(1);
        let huge = raw.checked_next_multiple_of(HUGE_PAGE).ok_or(too_large)?;
        if let Some(ptr) = map(huge, libc::MAP_HUGETLB) {
            return Ok(Self::from_map(ptr, count, huge, Backing::HugeTlb));
        }
        let bytes = raw.checked_next_multiple_of(BASE_PAGE).ok_or(too_large)?;
        let ptr = map(bytes, 0).ok_or(AllocError::Map {
            bytes,
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        })?;
        let backing = if advise_huge(ptr, bytes) {
            Backing::TransparentHuge
        } else {
            Backing::Plain
        };
        Ok(Self::from_map(ptr, count, bytes, backing))
    }

    fn from_map(ptr: NonNull<u8>, count: usize, bytes: usize, backing: Backing) -> Self {
        Region {
            ptr: ptr.cast(),
            count,
            bytes,
            backing,
            _owns: PhantomData,
        }
    }

    /// Bytes mapped, whole pages included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// How the map is backed.
    pub(crate) fn backing(&self) -> Backing {
        self.backing
    }

    /// The values, read-only.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: `ptr` is the start of a live map of `bytes >= count *
        // size_of::<T>()` bytes, page-aligned (so aligned for `T`, whose
        // alignment is at most 64), zero-filled by the kernel and written
        // only through this region's slices; all-zero is a valid `T`
        // (`ZeroValid`); the borrow of `self` keeps the map alive.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.count) }
    }

    /// The values, writable.
    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.count) }
    }
}

impl<T: ZeroValid> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `bytes` are exactly what `mmap` returned and was
        // given; no slice of the region outlives `self`.
        let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.bytes) };
        debug_assert_eq!(rc, 0, "munmap of a region this table mapped");
    }
}

/// Asks the CPU to bring the cache line of `line` closer; a no-op off
/// x86-64.
#[inline]
pub(crate) fn prefetch<T>(line: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetch` is only a hint and cannot fault, whatever the
    // address; SSE, which it needs, is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((line as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = line;
}

/// Which of eight 16-bit tags equal `tag`, as a bit mask (bit `i` for
/// `tags[i]`): one 128-bit compare, a pack of the lanes to bytes and a byte
/// mask on x86-64; a loop elsewhere.
#[inline]
pub(crate) fn tag_mask(tags: &[u16; 8], tag: u16) -> u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline; the unaligned load reads
    // the 16 bytes of `tags`, a live reference, and nothing past them.
    unsafe {
        use std::arch::x86_64::{
            _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16, _mm_set1_epi16,
            _mm_setzero_si128,
        };
        let lanes = _mm_loadu_si128(tags.as_ptr().cast());
        let equal = _mm_cmpeq_epi16(lanes, _mm_set1_epi16(tag as i16));
        // Lanes of all ones or all zeros pack to bytes of the same.
        let bytes = _mm_packs_epi16(equal, _mm_setzero_si128());
        (_mm_movemask_epi8(bytes) & 0xff) as u8
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0u8;
        for (i, &t) in tags.iter().enumerate() {
            m |= u8::from(t == tag) << i;
        }
        m
    }
}

/// An anonymous private read-write map of `bytes` bytes with `extra`
/// flags, or `None` when the kernel refuses it.
fn map(bytes: usize, extra: libc::c_int) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous map at an address the kernel chooses touches no
    // existing memory; the result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// Asks for transparent huge pages on a map; true when the kernel accepted
/// the advice and transparent huge pages are not disabled host-wide.
fn advise_huge(ptr: NonNull<u8>, bytes: usize) -> bool {
    // SAFETY: `ptr..ptr+bytes` is a map this module just created; the advice
    // changes how it is backed, not its contents.
    let rc = unsafe { libc::madvise(ptr.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE) };
    rc == 0 && thp_enabled()
}

/// Whether transparent huge pages are enabled (`always` or `madvise`).
fn thp_enabled() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .map(|s| !s.contains("[never]"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_zeroed_writable_and_page_rounded() {
        let mut r = Region::<ColdEntry>::zeroed(100).expect("small map");
        assert!(r.bytes() >= 100 * std::mem::size_of::<ColdEntry>());
        assert_eq!(r.bytes() % BASE_PAGE, 0);
        assert!(r.as_slice().iter().all(|c| *c == ColdEntry::default()));
        r.as_mut_slice()[99].created = 7;
        assert_eq!(r.as_slice()[99].created, 7);
    }

    #[test]
    fn an_impossible_size_is_an_error() {
        let e = Region::<HotEntry>::zeroed(usize::MAX / 2).err();
        assert!(matches!(e, Some(AllocError::TooLarge { .. })), "{e:?}");
    }
}

//! The bytes of a capture: a regular file mapped read-only, anything else
//! (a pipe, an in-memory capture) read whole. Frames are handed out as
//! slices of them, never copied.
//!
//! A mapped file that shrinks while it is read would raise SIGBUS on the
//! first touch of a page past its new end. Two guards keep nsg alive:
//! - The reader reads within a window that ends at most [`WINDOW`] bytes
//!   ahead, and before moving the window it asks the file for its length
//!   again (one `fstat` per window): a file cut shorter ends the read there,
//!   with a fault naming the record, as a capture that ends inside a record
//!   does; one found shorter at the end of the read is a fault too.
//! - Slices already handed out (frames a worker has not parsed yet, frames
//!   an output writer copies) and the rest of the window may lie past the
//!   cut. While a map is open, a SIGBUS handler ([`guard`]) answers a fault
//!   inside it by mapping a page of zeros over the faulting page: the read
//!   goes on with zeros (malformed frames, counted and dropped), and the
//!   length check above reports the cut. A fault anywhere else takes the
//!   default action, as without the handler.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// How far ahead of the read position bytes of a mapped file are taken as
/// present without asking the file its length again.
pub(crate) const WINDOW: usize = 1 << 20;

/// Where a capture's bytes live.
pub(crate) enum Bytes {
    /// A regular file, mapped read-only and private.
    Mapped {
        /// The map's registration with the SIGBUS guard; dropped (and so
        /// unregistered) before the map is unmapped.
        _guard: guard::Guard,
        /// The mapping (the whole file as it was when opened).
        map: memmap2::Mmap,
        /// The file, to ask its length as the read moves on.
        file: File,
    },
    /// Bytes read whole (a pipe or other stream, an empty file, memory).
    Owned(Vec<u8>),
}

impl Bytes {
    /// Map `path` if it is a regular file, else read it whole. The crate's
    /// one unsafe block: mapping the file.
    #[allow(unsafe_code)]
    pub(crate) fn open(path: &Path) -> std::io::Result<Bytes> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            let mut v = Vec::new();
            file.read_to_end(&mut v)?;
            return Ok(Bytes::Owned(v));
        }
        // SAFETY: the map is read-only and private, so nsg never writes
        // through it; another process changing the file's bytes changes
        // what is read (any bytes are valid input to the bounded parser),
        // and one shrinking it is met by the length checks of `Src::take`,
        // which never touches a byte past the file's last known end.
        let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file)? };
        let Some(_guard) = guard::Guard::register(&map) else {
            // No slot left for the guard: read the file instead of mapping it.
            drop(map);
            let mut v = Vec::new();
            file.read_to_end(&mut v)?;
            return Ok(Bytes::Owned(v));
        };
        Ok(Bytes::Mapped { _guard, map, file })
    }

    /// Read all of `r` into memory.
    pub(crate) fn read<R: Read>(mut r: R) -> std::io::Result<Bytes> {
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(Bytes::Owned(v))
    }

    /// The bytes, and the file whose length bounds them when mapped.
    pub(crate) fn parts(&self) -> (&[u8], Option<&File>) {
        match self {
            Bytes::Mapped { map, file, .. } => (&map[..], Some(file)),
            Bytes::Owned(v) => (v, None),
        }
    }
}

/// A read position in a capture's bytes and the end of what may be read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cursor {
    /// The next byte to read.
    pub(crate) at: usize,
    /// Bytes before this are known to be inside the file.
    visible: usize,
}

/// A capture's bytes with the cursor reading them.
pub(crate) struct Src<'a, 'c> {
    data: &'a [u8],
    file: Option<&'a File>,
    cur: &'c mut Cursor,
}

impl<'a, 'c> Src<'a, 'c> {
    /// Read `data` from `cur`; `file` bounds it when it is mapped.
    pub(crate) fn new(data: &'a [u8], file: Option<&'a File>, cur: &'c mut Cursor) -> Self {
        if file.is_none() {
            cur.visible = data.len();
        }
        Src { data, file, cur }
    }

    /// Make `n` bytes from the read position visible if the file still
    /// holds them; return how many are.
    #[inline]
    fn available(&mut self, n: usize) -> usize {
        let at = self.cur.at;
        if at.saturating_add(n) > self.cur.visible && self.cur.visible < self.data.len() {
            self.refresh(n);
        }
        self.cur.visible.saturating_sub(at)
    }

    /// Move the window: ask the file its length, and take as present up
    /// to [`WINDOW`] bytes past the `n` wanted, never past the file's end.
    #[cold]
    fn refresh(&mut self, n: usize) {
        let len = self
            .file
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| usize::try_from(m.len()).unwrap_or(usize::MAX));
        let want = self.cur.at.saturating_add(n).saturating_add(WINDOW);
        // Never less than what was seen (unless the file is shorter now);
        // never past the file's end now.
        self.cur.visible = want
            .min(self.data.len())
            .min(len)
            .max(self.cur.visible.min(len));
    }

    /// The next `n` bytes: `Ok(None)` at a clean end (no byte left), a
    /// fault naming `what` when the capture ends inside them.
    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<Option<&'a [u8]>, String> {
        let got = self.available(n);
        if got == 0 && n > 0 {
            return Ok(None);
        }
        if got < n {
            return Err(format!(
                "{what}: {n} bytes wanted, the file ends after {got}"
            ));
        }
        let at = self.cur.at;
        self.cur.at += n;
        Ok(Some(&self.data[at..at + n]))
    }
}

/// The SIGBUS guard of capture maps. The crate's other unsafe code: the
/// signal handler and what it may do.
#[allow(unsafe_code)]
pub(crate) mod guard {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Once;

    /// Maps guarded at once (a replay opens one; tests open more).
    const SLOTS: usize = 64;

    /// Start and end address of each guarded map (0, 0: a free slot).
    static RANGES: [[AtomicUsize; 2]; SLOTS] =
        [const { [AtomicUsize::new(0), AtomicUsize::new(0)] }; SLOTS];
    /// Faults answered with a page of zeros, over all maps.
    static ZEROED: AtomicUsize = AtomicUsize::new(0);
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static INSTALL: Once = Once::new();

    /// A map registered with the guard, unregistered on drop.
    #[derive(Debug)]
    pub(crate) struct Guard(usize);

    impl Guard {
        /// Register `map`'s addresses; `None` when every slot is taken.
        pub(crate) fn register(map: &[u8]) -> Option<Guard> {
            install();
            let start = map.as_ptr() as usize;
            let end = start.checked_add(map.len())?;
            for (i, slot) in RANGES.iter().enumerate() {
                if slot[0]
                    .compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    slot[1].store(end, Ordering::SeqCst);
                    return Some(Guard(i));
                }
            }
            None
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            RANGES[self.0][1].store(0, Ordering::SeqCst);
            RANGES[self.0][0].store(0, Ordering::SeqCst);
        }
    }

    /// Faults inside guarded maps answered so far (pages of zeros mapped).
    pub(crate) fn zeroed_pages() -> usize {
        ZEROED.load(Ordering::SeqCst)
    }

    fn install() {
        INSTALL.call_once(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if let Ok(p) = usize::try_from(page) {
                if p.is_power_of_two() {
                    PAGE.store(p, Ordering::SeqCst);
                }
            }
            // SAFETY: a zeroed sigaction is a valid value to fill in; the
            // handler has the three-argument form SA_SIGINFO asks for and
            // does only what a handler may (atomics, mmap, signal).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_sigbus as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
            }
        });
    }

    /// A SIGBUS inside a guarded map: a page of zeros replaces the faulting
    /// page and the access is retried. Anywhere else: the default action
    /// (the access faults again and the process stops as it would have).
    extern "C" fn on_sigbus(
        _sig: libc::c_int,
        info: *mut libc::siginfo_t,
        _ctx: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        let inside = RANGES.iter().any(|r| {
            let (s, e) = (r[0].load(Ordering::SeqCst), r[1].load(Ordering::SeqCst));
            s != 0 && addr >= s && addr < e
        });
        if inside {
            let page = addr & !(PAGE.load(Ordering::SeqCst) - 1);
            // SAFETY: the page lies inside a private read-only map nsg owns
            // (registered, not yet unregistered); replacing it with an
            // anonymous page of zeros changes only what those reads see.
            let r = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    PAGE.load(Ordering::SeqCst),
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                ZEROED.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        // SAFETY: restoring the default action is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        }
    }
}

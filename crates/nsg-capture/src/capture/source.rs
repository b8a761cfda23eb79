//! The bytes of a capture: a regular file mapped read-only, anything else
//! (a pipe, an in-memory capture) read whole. Frames are handed out as
//! slices of them, never copied.
//!
//! A mapped file that shrinks while it is read would raise SIGBUS on the
//! first touch of a page past its new end. The reader never touches a byte
//! it has not seen inside the file: it reads within a window that ends at
//! most [`WINDOW`] bytes ahead, and before moving the window it asks the
//! file for its length again (one `fstat` per window). A file cut shorter
//! ends the read there, as a capture that ends inside a record does.

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
        Ok(Bytes::Mapped { map, file })
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
            Bytes::Mapped { map, file } => (&map[..], Some(file)),
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

//! Capture files: pcap and pcapng in, read as libpcap and Wireshark read
//! them, with the link types Ethernet, Linux cooked (SLL), raw IP and BSD
//! loopback; frames of the other link types refused with the type named.
//! A regular file is mapped, anything else read whole; frames are handed
//! out as slices of those bytes ([`FrameRef`]), with their link type for
//! the parser to start after the link header. Also the writer of
//! `--allowed` / `--denied` captures, which keeps the input's format and
//! interfaces.
//!
//! The readers are bounded: a record or block longer than [`MAX_RECORD`]
//! (libpcap's largest snap length) plus its headers is corrupt, never an
//! allocation, and a fault names the file and the byte offset of the record.
//! What libpcap tolerates is read and counted in [`CaptureQuirks`].

mod link;
mod pcap;
mod pcapng;
mod source;
mod writer;

pub use link::linktype_name;
pub use nsg_packet::link::{
    to_ethernet, CapturedFrame, FrameRef, Link, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW,
};
pub use writer::{CaptureWriter, OutputFormat, WRITE_BUFFER};

use source::{Bytes, Cursor, Src};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The largest captured length of a record (libpcap's `MAXIMUM_SNAPLEN`);
/// a record claiming more is corrupt.
pub const MAX_RECORD: u32 = 262_144;

/// A capture that cannot be read (further), or an output that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be opened, or is not a capture file.
    #[error("{file}: {message}")]
    Open {
        /// The file.
        file: PathBuf,
        /// Why.
        message: String,
    },
    /// The capture's link type is not one nsg reads.
    #[error("{file}: link type {link} is not supported (Ethernet, Linux cooked, raw IP and BSD loopback are)")]
    Link {
        /// The file.
        file: PathBuf,
        /// The link type, by name where it has one ([`linktype_name`]).
        link: String,
    },
    /// A record or block is malformed, or the file ends inside one.
    #[error(
        "{file}: corrupt or truncated at byte offset {offset}, after {frames} frames: {message}"
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Byte offset of the record or block.
        offset: u64,
        /// Frames read before it.
        frames: u64,
        /// What is wrong.
        message: String,
    },
    /// An output capture cannot be written.
    #[error("cannot write {file}: {source}")]
    Write {
        /// The output file.
        file: PathBuf,
        /// Why: the writer's fault, or `InvalidInput` for a frame the
        /// format cannot hold.
        source: std::io::Error,
    },
}

/// What the reader took as libpcap or Wireshark would instead of refusing
/// it; one counter per quirk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureQuirks {
    /// pcap headers whose link-type word had bits set above the low 16
    /// (the link type is the low 16 bits).
    pub link_type_high_bits: u64,
    /// Frames whose trailing FCS was removed because the header's
    /// FCS-present bit declared one.
    pub fcs_stripped: u64,
    /// Records whose included length exceeds the snap length (read as written).
    pub caplen_over_snaplen: u64,
    /// Headers or interfaces with a snap length of 0 (taken as no limit).
    pub snaplen_zero: u64,
    /// Records whose sub-second part was a second or more (carried into seconds).
    pub usec_overflow: u64,
    /// Records of pcap versions before 2.4 whose two lengths were swapped.
    pub lengths_swapped: u64,
    /// pcapng sections after the first (interfaces numbered on).
    pub extra_sections: u64,
}

impl CaptureQuirks {
    /// Each non-zero counter with what it counts.
    pub fn lines(&self) -> Vec<(&'static str, u64)> {
        [
            (
                "link-type word with bits above the low 16",
                self.link_type_high_bits,
            ),
            ("FCS removed as the header declares", self.fcs_stripped),
            (
                "included length over the snap length",
                self.caplen_over_snaplen,
            ),
            ("snap length 0 (no limit)", self.snaplen_zero),
            ("sub-second part of a second or more", self.usec_overflow),
            ("lengths swapped (pcap before 2.4)", self.lengths_swapped),
            ("pcapng sections after the first", self.extra_sections),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// One interface of a capture, as its output should declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// The LINKTYPE_ value.
    pub linktype: u16,
    /// The snap length the input declared (0: none).
    pub snaplen: u32,
}

/// The interfaces of a pcapng capture as they are read: the reader adds
/// them, a writer copying the format reads them.
#[derive(Debug, Clone, Default)]
pub struct Interfaces(Arc<Mutex<Vec<Interface>>>);

impl Interfaces {
    fn push(&self, i: Interface) -> u32 {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.push(i);
        // A capture's interfaces are numbered by u32 in its blocks.
        u32::try_from(v.len() - 1).unwrap_or(u32::MAX)
    }

    /// Interfaces `from..` known so far.
    pub fn since(&self, from: u32) -> Vec<Interface> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.get(from as usize..).unwrap_or_default().to_vec()
    }

    /// How many interfaces are known.
    pub fn len(&self) -> u32 {
        let n = self.0.lock().unwrap_or_else(|e| e.into_inner()).len();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether no interface is known yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a reader stands, to name it in a fault.
#[derive(Debug, Clone, Default)]
pub(crate) struct Position {
    pub file: PathBuf,
    /// Byte offset of the record being read.
    pub offset: u64,
    pub frames: u64,
}

impl Position {
    fn corrupt(&self, message: impl Into<String>) -> CaptureError {
        CaptureError::Corrupt {
            file: self.file.clone(),
            offset: self.offset,
            frames: self.frames,
            message: message.into(),
        }
    }

    fn link(&self, linktype: u16) -> CaptureError {
        CaptureError::Link {
            file: self.file.clone(),
            link: linktype_name(linktype),
        }
    }
}

enum Inner {
    Pcap(pcap::PcapReader),
    PcapNg(pcapng::PcapNgReader),
}

/// Where a read stands: the format's reader and the position in the bytes.
struct ReadState {
    inner: Inner,
    cursor: Cursor,
    done: bool,
}

impl ReadState {
    /// The next frame of `data` (bounded by `file` when mapped).
    fn next<'a>(
        &mut self,
        data: &'a [u8],
        file: Option<&'a File>,
    ) -> Option<Result<FrameRef<'a>, CaptureError>> {
        if self.done {
            return None;
        }
        let mut src = Src::new(data, file, &mut self.cursor);
        let next = match &mut self.inner {
            Inner::Pcap(r) => r.next_frame(&mut src),
            Inner::PcapNg(r) => r.next_frame(&mut src),
        };
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        if next.is_none() {
            return self.shrunk(data, file).map(Err);
        }
        next
    }

    /// At the end of a mapped file, a fault if the file is now shorter than
    /// when it was mapped: it was cut while it was read, and the frames past
    /// the cut were never read, or read as zeros.
    #[cold]
    fn shrunk(&self, data: &[u8], file: Option<&File>) -> Option<CaptureError> {
        let len = file?.metadata().ok()?.len();
        if len >= data.len() as u64 {
            return None;
        }
        let pos = match &self.inner {
            Inner::Pcap(r) => r.position(),
            Inner::PcapNg(r) => r.position(),
        };
        Some(pos.corrupt(format!(
            "the file shrank from {} to {len} bytes while it was read ({} pages past the cut read as zeros)",
            data.len(),
            source::guard::zeroed_pages()
        )))
    }
}

/// Reads a pcap or pcapng file (either byte order) frame by frame: a
/// regular file mapped, anything else read whole first.
pub struct CaptureReader {
    bytes: Bytes,
    state: ReadState,
}

/// The frames of a capture as slices of its bytes, which live as long as
/// the reader is borrowed ([`CaptureReader::frames`]).
pub struct Frames<'a> {
    data: &'a [u8],
    file: Option<&'a File>,
    state: &'a mut ReadState,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameRef<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.state.next(self.data, self.file)
    }
}

impl CaptureReader {
    /// Open a capture file: map it if it is a regular file, else read it.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let bytes = Bytes::open(path).map_err(|e| CaptureError::Open {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        CaptureReader::of_bytes(bytes, path)
    }

    /// Read a capture from any reader (read whole first); `name` names it
    /// in faults.
    pub fn new<R: Read>(r: R, name: &Path) -> Result<CaptureReader, CaptureError> {
        let bytes = Bytes::read(r).map_err(|e| CaptureError::Open {
            file: name.to_path_buf(),
            message: e.to_string(),
        })?;
        CaptureReader::of_bytes(bytes, name)
    }

    fn of_bytes(bytes: Bytes, name: &Path) -> Result<CaptureReader, CaptureError> {
        let open_err = |m: &str| CaptureError::Open {
            file: name.to_path_buf(),
            message: m.to_string(),
        };
        let mut cursor = Cursor::default();
        let (data, file) = bytes.parts();
        let mut src = Src::new(data, file, &mut cursor);
        let magic = match src.take(4, "magic") {
            Ok(Some(m)) => [m[0], m[1], m[2], m[3]],
            _ => return Err(open_err("too short to be a capture file")),
        };
        let pos = Position {
            file: name.to_path_buf(),
            ..Position::default()
        };
        let inner = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Inner::PcapNg(pcapng::PcapNgReader::new(&mut src, pos)?)
        } else if let Some(magic) = pcap::Magic::of(magic) {
            Inner::Pcap(pcap::PcapReader::new(&mut src, magic, pos)?)
        } else {
            return Err(open_err("not pcap or pcapng (unknown magic number)"));
        };
        let state = ReadState {
            inner,
            cursor,
            done: false,
        };
        Ok(CaptureReader { bytes, state })
    }

    /// The next frame (its bytes copied), `None` at the end, or the fault
    /// that stops the read.
    pub fn next_frame(&mut self) -> Option<Result<CapturedFrame, CaptureError>> {
        self.next_ref().map(|r| r.map(|f| f.to_captured()))
    }

    /// The next frame as a slice of the capture, `None` at the end, or the
    /// fault that stops the read.
    pub fn next_ref(&mut self) -> Option<Result<FrameRef<'_>, CaptureError>> {
        let (data, file) = self.bytes.parts();
        self.state.next(data, file)
    }

    /// The frames from here on, each a slice of the capture, the last item
    /// the fault that stops the read if one does.
    pub fn frames(&mut self) -> Frames<'_> {
        let (data, file) = self.bytes.parts();
        Frames {
            data,
            file,
            state: &mut self.state,
        }
    }

    /// What was tolerated so far.
    pub fn quirks(&self) -> CaptureQuirks {
        match &self.state.inner {
            Inner::Pcap(r) => r.quirks,
            Inner::PcapNg(r) => r.quirks,
        }
    }

    /// The format an output of this capture's frames keeps.
    pub fn output_format(&self) -> OutputFormat {
        match &self.state.inner {
            Inner::Pcap(r) => OutputFormat::Pcap {
                linktype: r.linktype,
            },
            Inner::PcapNg(r) => OutputFormat::PcapNg(r.interfaces.clone()),
        }
    }
}

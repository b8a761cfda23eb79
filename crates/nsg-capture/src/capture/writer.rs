//! The one capture writer: pcap (nanosecond timestamps) or pcapng, little
//! endian, readable by tcpdump, tshark and Wireshark.

use super::{CaptureError, CapturedFrame, FrameRef, Interface, Interfaces, MAX_RECORD};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The format of an output capture.
#[derive(Debug, Clone)]
pub enum OutputFormat {
    /// pcap of one link type.
    Pcap {
        /// The LINKTYPE_ value of the file header.
        linktype: u16,
    },
    /// pcapng with these interfaces; frames reference them by index.
    PcapNg(Interfaces),
    /// pcap of the link type of the first frame written (frames from a
    /// source that is not a file).
    PcapOfFirstFrame,
}

/// Write a pcap file header (nanosecond magic).
fn write_pcap_header(w: &mut impl Write, linktype: u16, snaplen: u32) -> io::Result<()> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&u32::from(linktype).to_le_bytes());
    w.write_all(&h)
}

fn invalid(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m)
}

fn caplen_of(data: &[u8]) -> io::Result<u32> {
    u32::try_from(data.len())
        .ok()
        .filter(|n| *n <= MAX_RECORD)
        .ok_or_else(|| {
            invalid(format!(
                "a frame of {} bytes is over {MAX_RECORD}",
                data.len()
            ))
        })
}

/// Write one pcap record (nanosecond timestamp); a time past 2106 does not
/// fit and is refused.
fn write_pcap_record(w: &mut impl Write, ts_ns: u64, orig_len: u32, data: &[u8]) -> io::Result<()> {
    let caplen = caplen_of(data)?;
    let sec = u32::try_from(ts_ns / 1_000_000_000)
        .map_err(|_| invalid(format!("time {ts_ns} ns does not fit a pcap record")))?;
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&sec.to_le_bytes());
    // Below 10^9: always fits.
    let nsec = u32::try_from(ts_ns % 1_000_000_000).unwrap_or(0);
    h[4..8].copy_from_slice(&nsec.to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
    w.write_all(&h)?;
    w.write_all(data)
}

fn write_block(w: &mut impl Write, kind: u32, body: &[u8]) -> io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let len = u32::try_from(12 + body.len() + pad)
        .map_err(|_| invalid(format!("a block of {} bytes", body.len())))?;
    w.write_all(&kind.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&[0u8; 3][..pad])?;
    w.write_all(&len.to_le_bytes())
}

fn write_shb(w: &mut impl Write) -> io::Result<()> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
    write_block(w, 0x0a0d_0d0a, &b)
}

/// An IDB with `if_tsresol` 9 (nanoseconds).
fn write_idb(w: &mut impl Write, i: Interface) -> io::Result<()> {
    let mut b = Vec::with_capacity(20);
    b.extend_from_slice(&i.linktype.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&i.snaplen.to_le_bytes());
    b.extend_from_slice(&9u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[9, 0, 0, 0]);
    b.extend_from_slice(&[0; 4]); // opt_endofopt
    write_block(w, 1, &b)
}

/// An Enhanced Packet Block, written in pieces (no copy of the frame).
fn write_epb(w: &mut impl Write, f: FrameRef<'_>) -> io::Result<()> {
    let caplen = caplen_of(f.data)?;
    let pad = (4 - caplen % 4) % 4;
    // caplen is at most MAX_RECORD: the block length fits.
    let len = 32 + caplen + pad;
    let mut h = [0u8; 28];
    h[0..4].copy_from_slice(&6u32.to_le_bytes());
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..12].copy_from_slice(&f.interface.to_le_bytes());
    // The time's high and low 32 bits, as the block stores it.
    let [h0, h1, h2, h3, l0, l1, l2, l3] = f.ts_ns.to_be_bytes();
    h[12..16].copy_from_slice(&u32::from_be_bytes([h0, h1, h2, h3]).to_le_bytes());
    h[16..20].copy_from_slice(&u32::from_be_bytes([l0, l1, l2, l3]).to_le_bytes());
    h[20..24].copy_from_slice(&caplen.to_le_bytes());
    h[24..28].copy_from_slice(&f.orig_len.max(caplen).to_le_bytes());
    w.write_all(&h)?;
    w.write_all(f.data)?;
    w.write_all(&[0u8; 3][..pad as usize])?;
    w.write_all(&len.to_le_bytes())
}

/// Output buffer of a capture written to a file: frames reach the file in
/// writes of this size, not one per frame.
pub const WRITE_BUFFER: usize = 1 << 20;

enum State {
    /// Nothing written yet.
    Start,
    Pcap {
        linktype: u16,
    },
    PcapNg {
        written: u32,
    },
}

/// Writes frames as captured to a pcap or pcapng file in the format of the
/// capture they came from. A frame the format cannot hold is an error,
/// never skipped.
pub struct CaptureWriter<W: Write = BufWriter<File>> {
    path: PathBuf,
    format: OutputFormat,
    out: W,
    state: State,
}

impl CaptureWriter {
    /// Create (truncate) `path` now, so a bad path fails before any work.
    pub fn create(path: &Path, format: OutputFormat) -> Result<CaptureWriter, CaptureError> {
        let file = File::create(path).map_err(|e| CaptureError::Open {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(CaptureWriter::new(
            BufWriter::with_capacity(WRITE_BUFFER, file),
            path,
            format,
        ))
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Write a capture to any writer; `name` names it in faults.
    pub fn new(out: W, name: &Path, format: OutputFormat) -> CaptureWriter<W> {
        CaptureWriter {
            path: name.to_path_buf(),
            format,
            out,
            state: State::Start,
        }
    }

    fn err(&self, e: io::Error) -> CaptureError {
        CaptureError::Write {
            file: self.path.clone(),
            source: e,
        }
    }

    /// Write the file header if not yet written.
    fn start(&mut self, first: Option<FrameRef<'_>>) -> io::Result<()> {
        if !matches!(self.state, State::Start) {
            return Ok(());
        }
        let linktype = match (&self.format, first) {
            (OutputFormat::PcapNg(_), _) => {
                write_shb(&mut self.out)?;
                self.state = State::PcapNg { written: 0 };
                return Ok(());
            }
            (OutputFormat::Pcap { linktype }, _) => *linktype,
            (OutputFormat::PcapOfFirstFrame, Some(f)) => f.link.linktype(),
            (OutputFormat::PcapOfFirstFrame, None) => return Ok(()),
        };
        write_pcap_header(&mut self.out, linktype, MAX_RECORD)?;
        self.state = State::Pcap { linktype };
        Ok(())
    }

    fn write_io(&mut self, f: FrameRef<'_>) -> io::Result<()> {
        self.start(Some(f))?;
        match self.state {
            State::Pcap { linktype } => {
                if let OutputFormat::PcapOfFirstFrame = self.format {
                    if f.link.linktype() != linktype {
                        return Err(invalid(format!(
                            "a frame of link {:?} in a pcap of link type {linktype}",
                            f.link
                        )));
                    }
                }
                write_pcap_record(&mut self.out, f.ts_ns, f.orig_len, f.data)
            }
            State::PcapNg { written } => {
                if f.interface >= written {
                    let new = match &self.format {
                        OutputFormat::PcapNg(ifaces) => ifaces.since(written),
                        _ => Vec::new(),
                    };
                    if (f.interface - written) as usize >= new.len() {
                        return Err(invalid(format!(
                            "a frame of interface {} of {}",
                            f.interface,
                            written as usize + new.len()
                        )));
                    }
                    for i in &new {
                        write_idb(&mut self.out, *i)?;
                    }
                    self.state = State::PcapNg {
                        written: written
                            .saturating_add(u32::try_from(new.len()).unwrap_or(u32::MAX)),
                    };
                }
                write_epb(&mut self.out, f)
            }
            State::Start => Ok(()),
        }
    }

    /// Write one frame as captured.
    pub fn write(&mut self, f: &CapturedFrame) -> Result<(), CaptureError> {
        self.write_ref(f.as_frame_ref())
    }

    /// Write one frame as captured, from borrowed bytes.
    pub fn write_ref(&mut self, f: FrameRef<'_>) -> Result<(), CaptureError> {
        self.write_io(f).map_err(|e| self.err(e))
    }

    /// Write what is left (the header of an empty capture, the interfaces
    /// no frame referenced) and flush.
    pub fn finish(self) -> Result<(), CaptureError> {
        self.finish_into().map(drop)
    }

    /// [`CaptureWriter::finish`], giving the writer back.
    pub fn finish_into(mut self) -> Result<W, CaptureError> {
        let res = (|| {
            self.start(None)?;
            if let (State::PcapNg { written }, OutputFormat::PcapNg(ifaces)) =
                (&self.state, &self.format)
            {
                for i in ifaces.since(*written) {
                    write_idb(&mut self.out, i)?;
                }
            }
            self.out.flush()
        })();
        match res {
            Ok(()) => Ok(self.out),
            Err(e) => Err(self.err(e)),
        }
    }
}

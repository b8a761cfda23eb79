//! Capture files: pcap and pcapng in, with the link types Ethernet, Linux
//! cooked (SLL), raw IP and BSD loopback; frames of the other link types
//! refused with the type named. Every frame is handed to the pipeline as an
//! Ethernet frame (a synthetic Ethernet header replaces the others). Also the
//! writer of `--allowed` / `--denied` captures.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapTsResolution, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Link types nsg reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Linux cooked capture v1 (16-byte header).
    LinuxSll,
    /// Raw IPv4 or IPv6, version in the first nibble.
    RawIp,
    /// BSD loopback: a 4-byte address family in host byte order.
    Null,
    /// OpenBSD loopback: the family in network byte order.
    Loop,
}

impl Link {
    fn of(d: DataLink) -> Option<Link> {
        Some(match d {
            DataLink::ETHERNET => Link::Ethernet,
            DataLink::LINUX_SLL => Link::LinuxSll,
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Link::RawIp,
            DataLink::NULL => Link::Null,
            DataLink::LOOP => Link::Loop,
            _ => return None,
        })
    }

    fn data_link(self) -> DataLink {
        match self {
            Link::Ethernet => DataLink::ETHERNET,
            Link::LinuxSll => DataLink::LINUX_SLL,
            Link::RawIp => DataLink::RAW,
            Link::Null => DataLink::NULL,
            Link::Loop => DataLink::LOOP,
        }
    }
}

/// A capture that cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{file}: {message}")]
    Open { file: PathBuf, message: String },
    #[error("{file}: link type {link} is not supported (Ethernet, Linux cooked, raw IP and BSD loopback are)")]
    Link { file: PathBuf, link: String },
    #[error(
        "{file}: corrupt or truncated at byte offset {offset}, after {frames} frames: {message}"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        frames: u64,
        message: String,
    },
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link: Link,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

enum Inner {
    Pcap(PcapReader<BufReader<File>>, Link),
    PcapNg(PcapNgReader<BufReader<File>>),
}

/// Reads a pcap or pcapng file frame by frame.
pub struct CaptureReader {
    file: PathBuf,
    inner: Inner,
    offset: u64,
    frames: u64,
    done: bool,
}

fn dur_ns(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(d.subsec_nanos() as u64)
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let open_err = |m: String| CaptureError::Open {
            file: path.to_path_buf(),
            message: m,
        };
        let mut f = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let mut magic = [0u8; 4];
        f.read_exact(&mut magic)
            .map_err(|_| open_err("too short to be a capture file".to_string()))?;
        let f = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let r = BufReader::with_capacity(1 << 20, f);
        let inner = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Inner::PcapNg(PcapNgReader::new(r).map_err(|e| open_err(e.to_string()))?)
        } else {
            let rd =
                PcapReader::new(r).map_err(|e| open_err(format!("not pcap or pcapng: {e}")))?;
            let dl = rd.header().datalink;
            let link = Link::of(dl).ok_or_else(|| CaptureError::Link {
                file: path.to_path_buf(),
                link: format!("{dl:?}"),
            })?;
            Inner::Pcap(rd, link)
        };
        let offset = match inner {
            Inner::Pcap(..) => 24,
            Inner::PcapNg(..) => 0,
        };
        Ok(CaptureReader {
            file: path.to_path_buf(),
            inner,
            offset,
            frames: 0,
            done: false,
        })
    }

    fn corrupt(&mut self, message: String) -> CaptureError {
        self.done = true;
        CaptureError::Corrupt {
            file: self.file.clone(),
            offset: self.offset,
            frames: self.frames,
            message,
        }
    }

    /// The next frame, `None` at the end, or the fault that stops the read.
    pub fn next_frame(&mut self) -> Option<Result<CapturedFrame, CaptureError>> {
        if self.done {
            return None;
        }
        loop {
            match &mut self.inner {
                Inner::Pcap(r, link) => {
                    let link = *link;
                    let res = r.next_packet().map(|p| {
                        p.map(|p| (dur_ns(p.timestamp()), p.orig_len(), p.data().to_vec()))
                    });
                    return match res {
                        None => None,
                        Some(Err(e)) => Some(Err(self.corrupt(e.to_string()))),
                        Some(Ok((ts_ns, orig_len, data))) => {
                            self.offset += 16 + data.len() as u64;
                            self.frames += 1;
                            Some(Ok(CapturedFrame {
                                ts_ns,
                                link,
                                data,
                                orig_len,
                            }))
                        }
                    };
                }
                Inner::PcapNg(r) => {
                    let res = match r.next_raw_block() {
                        None => return None,
                        Some(Err(e)) => Err(e.to_string()),
                        Some(Ok((raw, state))) => {
                            let len = raw.initial_len as u64;
                            match raw.try_into_block(state) {
                                Err(e) => Err(e.to_string()),
                                Ok(block) => {
                                    let frame = match block {
                                        Block::EnhancedPacket(p) => Some((
                                            p.interface_id,
                                            dur_ns(p.timestamp),
                                            p.original_len,
                                            p.data.into_owned(),
                                        )),
                                        Block::SimplePacket(p) => {
                                            Some((0, 0, p.original_len, p.data.into_owned()))
                                        }
                                        _ => None,
                                    };
                                    let link = frame.as_ref().map(|f| {
                                        state.interfaces().get(f.0 as usize).map(|i| i.linktype)
                                    });
                                    Ok((len, frame, link))
                                }
                            }
                        }
                    };
                    match res {
                        Err(m) => return Some(Err(self.corrupt(m))),
                        Ok((len, None, _)) => {
                            self.offset += len;
                            continue;
                        }
                        Ok((len, Some((_, ts_ns, orig_len, data)), link)) => {
                            let dl = link.flatten();
                            let Some(link) = dl.and_then(Link::of) else {
                                self.done = true;
                                return Some(Err(CaptureError::Link {
                                    file: self.file.clone(),
                                    link: dl
                                        .map_or("(no interface)".to_string(), |d| format!("{d:?}")),
                                }));
                            };
                            self.offset += len;
                            self.frames += 1;
                            return Some(Ok(CapturedFrame {
                                ts_ns,
                                link,
                                data,
                                orig_len,
                            }));
                        }
                    }
                }
            }
        }
    }
}

const ETH_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_IPV6: [u8; 2] = [0x86, 0xdd];

/// The frame as Ethernet: as is, or behind a synthetic Ethernet header
/// (zero MACs) carrying the EtherType the link header names. Frames whose
/// link header is cut short come back as they are, to be dropped by the
/// parser with a reason.
pub fn to_ethernet<'a>(link: Link, data: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let (ether, payload): ([u8; 2], &[u8]) = match link {
        Link::Ethernet => return data,
        Link::LinuxSll => {
            if data.len() < 16 {
                return data;
            }
            ([data[14], data[15]], &data[16..])
        }
        Link::RawIp => match data.first().map(|b| b >> 4) {
            Some(6) => (ETH_IPV6, data),
            _ => (ETH_IPV4, data),
        },
        Link::Null | Link::Loop => {
            if data.len() < 4 {
                return data;
            }
            let fam = [data[0], data[1], data[2], data[3]];
            let v = if link == Link::Null {
                u32::from_ne_bytes(fam)
            } else {
                u32::from_be_bytes(fam)
            };
            // A little-endian writer's family read on a big-endian host (or
            // the reverse) shows up in the high byte.
            let v = if v > 0xffff { v.swap_bytes() } else { v };
            match v {
                2 => (ETH_IPV4, &data[4..]),
                10 | 24 | 28 | 30 => (ETH_IPV6, &data[4..]),
                _ => ([0xff, 0xff], &data[4..]),
            }
        }
    };
    scratch.clear();
    scratch.extend_from_slice(&[0u8; 12]);
    scratch.extend_from_slice(&ether);
    scratch.extend_from_slice(payload);
    scratch
}

/// Writes frames to a pcap file (readable by tcpdump and tshark), in the
/// link type they were captured with.
pub struct CaptureWriter {
    path: PathBuf,
    writer: Option<PcapWriter<BufWriter<File>>>,
    link: Option<Link>,
}

impl CaptureWriter {
    pub fn create(path: &Path) -> Result<CaptureWriter, CaptureError> {
        // Create (truncate) now so a bad path fails before any work.
        File::create(path).map_err(|e| CaptureError::Open {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(CaptureWriter {
            path: path.to_path_buf(),
            writer: None,
            link: None,
        })
    }

    pub fn write(&mut self, f: &CapturedFrame) -> Result<(), CaptureError> {
        let err = |m: String| CaptureError::Open {
            file: self.path.clone(),
            message: m,
        };
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(|e| err(e.to_string()))?;
            let header = PcapHeader {
                version_major: 2,
                version_minor: 4,
                ts_correction: 0,
                ts_accuracy: 0,
                snaplen: 262_144,
                datalink: f.link.data_link(),
                ts_resolution: PcapTsResolution::NanoSecond,
                endianness: Endianness::native(),
            };
            self.writer = Some(
                PcapWriter::with_header(BufWriter::new(file), header)
                    .map_err(|e| err(e.to_string()))?,
            );
            self.link = Some(f.link);
        }
        if self.link != Some(f.link) {
            // One pcap holds one link type; frames of another are written
            // as Ethernet would not be faithful, so they are skipped.
            return Ok(());
        }
        let ts = Duration::from_nanos(f.ts_ns);
        let pkt = PcapPacket::new(ts, f.orig_len.max(f.data.len() as u32), &f.data[..])
            .map_err(|e| err(e.to_string()))?;
        if let Some(w) = self.writer.as_mut() {
            w.write_packet(&pkt).map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), CaptureError> {
        let path = self.path.clone();
        if let Some(w) = self.writer.as_mut() {
            w.flush().map_err(|e| CaptureError::Open {
                file: path,
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

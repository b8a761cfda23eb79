//! The pcapng reader: sections in either byte order (several per file),
//! interfaces with their link type, snap length and `if_tsresol`, Enhanced,
//! Simple and obsolete Packet Blocks; other blocks skipped unread.

use super::source::Src;
use super::{
    CaptureError, CaptureQuirks, FrameRef, Interface, Interfaces, Link, Position, MAX_RECORD,
};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// The largest block read into memory: a packet of [`MAX_RECORD`] bytes
/// with room for its headers and options. Larger blocks of other types are
/// skipped; larger packet blocks are corrupt.
const MAX_BLOCK: u32 = MAX_RECORD + 65_536;

/// An interface as the reader needs it.
#[derive(Debug, Clone, Copy)]
struct Iface {
    link: Option<Link>,
    linktype: u16,
    snaplen: u32,
    /// Timestamp units per second: (base, exponent).
    tsresol: (u32, u32),
}

pub(crate) struct PcapNgReader {
    big_endian: bool,
    /// This section's interfaces.
    section: Vec<Iface>,
    /// Global index of this section's first interface.
    base: u32,
    pub(crate) interfaces: Interfaces,
    pos: Position,
    pub(crate) quirks: CaptureQuirks,
}

fn u32_at(big: bool, b: &[u8], at: usize) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u16_at(big: bool, b: &[u8], at: usize) -> u16 {
    let a = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Nanoseconds of `ticks` units of 1/base^exp seconds.
fn ticks_to_ns(ticks: u64, (base, exp): (u32, u32)) -> u64 {
    let per_sec = u128::from(base).checked_pow(exp).unwrap_or(u128::MAX);
    let ns = u128::from(ticks) * 1_000_000_000 / per_sec.max(1);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// A block's fault: a message (corrupt at the reader's position) or an
/// error of its own.
type BlockFault = Result<String, CaptureError>;

impl PcapNgReader {
    /// Where the read stands.
    pub(crate) fn position(&self) -> &Position {
        &self.pos
    }

    /// The reader after the first block's 4-byte type, which is an SHB's.
    pub(crate) fn new(r: &mut Src<'_, '_>, pos: Position) -> Result<PcapNgReader, CaptureError> {
        let mut rd = PcapNgReader {
            big_endian: false,
            section: Vec::new(),
            base: 0,
            interfaces: Interfaces::default(),
            pos,
            quirks: CaptureQuirks::default(),
        };
        rd.section_header(r).map_err(|m| rd.pos.corrupt(m))?;
        Ok(rd)
    }

    /// An SHB after its type: byte order, then the rest of the block.
    fn section_header(&mut self, r: &mut Src<'_, '_>) -> Result<(), String> {
        let Some(h) = r.take(8, "section header")? else {
            return Err("the file ends inside a section header".into());
        };
        let magic = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        self.big_endian = match magic {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            m => return Err(format!("section header with byte-order magic {m:#010x}")),
        };
        let len = u32_at(self.big_endian, h, 0);
        if !(28..=MAX_BLOCK).contains(&len) || !len.is_multiple_of(4) {
            return Err(format!("section header of {len} bytes"));
        }
        // The rest: version, section length, options, trailing length.
        let Some(rest) = r.take(len as usize - 12, "section header")? else {
            return Err("the file ends inside a section header".into());
        };
        self.check_trailer(len, rest)?;
        if self.pos.offset > 0 {
            self.quirks.extra_sections += 1;
        }
        self.base = self.interfaces.len();
        self.section.clear();
        self.pos.offset += u64::from(len);
        Ok(())
    }

    fn check_trailer(&self, len: u32, body_and_trailer: &[u8]) -> Result<(), String> {
        let t = u32_at(
            self.big_endian,
            body_and_trailer,
            body_and_trailer.len() - 4,
        );
        if t != len {
            return Err(format!(
                "block length {len} at its start and {t} at its end"
            ));
        }
        Ok(())
    }

    pub(crate) fn next_frame<'a>(
        &mut self,
        r: &mut Src<'a, '_>,
    ) -> Option<Result<FrameRef<'a>, CaptureError>> {
        loop {
            match self.next_block(r) {
                Ok(Some(Some(f))) => return Some(Ok(f)),
                Ok(Some(None)) => continue,
                Ok(None) => return None,
                Err(Err(e)) => return Some(Err(e)),
                Err(Ok(m)) => return Some(Err(self.pos.corrupt(m))),
            }
        }
    }

    /// The next block: `None` at the end, `Some(None)` for a block that is
    /// not a frame. A fault is a message (corrupt here) or an error.
    fn next_block<'a>(
        &mut self,
        r: &mut Src<'a, '_>,
    ) -> Result<Option<Option<FrameRef<'a>>>, BlockFault> {
        let Some(t) = r.take(4, "block header").map_err(Ok)? else {
            return Ok(None);
        };
        if u32_at(false, t, 0) == SHB {
            self.section_header(r).map_err(Ok)?;
            return Ok(Some(None));
        }
        let kind = u32_at(self.big_endian, t, 0);
        let Some(l) = r.take(4, "block header").map_err(Ok)? else {
            return Err(Ok("the file ends inside a block header".into()));
        };
        let len = u32_at(self.big_endian, l, 0);
        if len < 12 || !len.is_multiple_of(4) {
            return Err(Ok(format!("block of type {kind} with length {len}")));
        }
        if len > MAX_BLOCK {
            if matches!(kind, IDB | PB | SPB | EPB) {
                return Err(Ok(format!(
                    "block of type {kind} with length {len}, over {MAX_BLOCK}"
                )));
            }
            return self.skip(r, len).map(|_| Some(None)).map_err(Ok);
        }
        let Some(body) = r.take(len as usize - 8, "block").map_err(Ok)? else {
            return Err(Ok("the file ends inside a block".into()));
        };
        self.check_trailer(len, body).map_err(Ok)?;
        let body = &body[..body.len() - 4];
        let frame = match kind {
            IDB => {
                self.interface(body).map_err(Ok)?;
                None
            }
            EPB | PB | SPB => Some(self.packet(kind, body)?),
            _ => None,
        };
        self.pos.offset += u64::from(len);
        if frame.is_some() {
            self.pos.frames += 1;
        }
        Ok(Some(frame))
    }

    fn skip(&mut self, r: &mut Src<'_, '_>, len: u32) -> Result<(), String> {
        // Taking a slice touches none of its bytes.
        if !matches!(r.take(len as usize - 8, "block"), Ok(Some(_))) {
            return Err("the file ends inside a block".into());
        }
        self.pos.offset += u64::from(len);
        Ok(())
    }

    fn interface(&mut self, b: &[u8]) -> Result<(), String> {
        if b.len() < 8 {
            return Err("interface description block too short".into());
        }
        let big = self.big_endian;
        let linktype = u16_at(big, b, 0);
        let snaplen = u32_at(big, b, 4);
        if snaplen == 0 {
            self.quirks.snaplen_zero += 1;
        }
        let mut tsresol = (10, 6);
        let mut o = 8;
        while o + 4 <= b.len() {
            let (code, olen) = (u16_at(big, b, o), usize::from(u16_at(big, b, o + 2)));
            if code == 0 {
                break;
            }
            if code == 9 && olen >= 1 && o + 4 < b.len() {
                let v = u32::from(b[o + 4]);
                tsresol = if v & 0x80 != 0 {
                    (2, v & 0x7f)
                } else {
                    (10, v)
                };
            }
            o += 4 + olen.div_ceil(4) * 4;
        }
        self.section.push(Iface {
            link: Link::of(linktype),
            linktype,
            snaplen,
            tsresol,
        });
        self.interfaces.push(Interface { linktype, snaplen });
        Ok(())
    }

    /// An EPB, PB or SPB body (without its trailing length).
    fn packet<'a>(&mut self, kind: u32, b: &'a [u8]) -> Result<FrameRef<'a>, BlockFault> {
        let big = self.big_endian;
        let need = if kind == SPB { 4 } else { 20 };
        if b.len() < need {
            return Err(Ok(format!("packet block of {} bytes", b.len() + 12)));
        }
        let (id, ts, caplen, orig_len, data_at) = match kind {
            SPB => {
                let orig = u32_at(big, b, 0);
                let snap = self.section.first().map_or(0, |i| i.snaplen);
                // A block is at most MAX_RECORD and its headers: it fits.
                let room = u32::try_from(b.len() - 4).unwrap_or(u32::MAX);
                let cap = if snap == 0 {
                    orig.min(room)
                } else {
                    orig.min(snap).min(room)
                };
                (0, 0, cap, orig, 4)
            }
            _ => {
                let id = if kind == PB {
                    u32::from(u16_at(big, b, 0))
                } else {
                    u32_at(big, b, 0)
                };
                let ts = (u64::from(u32_at(big, b, 4)) << 32) | u64::from(u32_at(big, b, 8));
                (id, ts, u32_at(big, b, 12), u32_at(big, b, 16), 20)
            }
        };
        let Some(iface) = self.section.get(id as usize).copied() else {
            return Err(Ok(format!(
                "packet of interface {id}, the section declares {}",
                self.section.len()
            )));
        };
        if caplen > MAX_RECORD {
            return Err(Ok(format!(
                "a packet of {caplen} bytes, over the largest a capture holds ({MAX_RECORD})"
            )));
        }
        if caplen as usize > b.len() - data_at {
            return Err(Ok(format!(
                "a packet of {caplen} bytes in a block of {}",
                b.len() + 12
            )));
        }
        if iface.snaplen != 0 && caplen > iface.snaplen {
            self.quirks.caplen_over_snaplen += 1;
        }
        let link = iface
            .link
            .ok_or_else(|| Err(self.pos.link(iface.linktype)))?;
        Ok(FrameRef {
            ts_ns: ticks_to_ns(ts, iface.tsresol),
            link,
            data: &b[data_at..data_at + caplen as usize],
            orig_len,
            interface: self.base + id,
        })
    }
}

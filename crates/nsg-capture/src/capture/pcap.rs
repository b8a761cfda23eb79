//! The pcap reader, after libpcap's `sf-pcap.c`: both byte orders,
//! microsecond, nanosecond and Kuznetzov (patched header) magics, the link
//! type in the low 16 bits of the header's link-type word and a trailing
//! FCS removed only when the word's FCS-present bit declares one.

use super::source::Src;
use super::{CaptureQuirks, FrameRef, Link, Position, MAX_RECORD};
use crate::capture::CaptureError;

/// `LT_FCS_LENGTH_PRESENT`: the FCS length field is meaningful.
const FCS_PRESENT: u32 = 0x0400_0000;

/// The magic number: byte order, timestamp unit and record header size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Magic {
    big_endian: bool,
    nanos: bool,
    /// Kuznetzov's patched libpcap: 8 more bytes per record header.
    patched: bool,
}

impl Magic {
    pub(crate) fn of(b: [u8; 4]) -> Option<Magic> {
        let (le, be) = (u32::from_le_bytes(b), u32::from_be_bytes(b));
        let kind = |m: u32| match m {
            0xa1b2_c3d4 => Some((false, false)),
            0xa1b2_3c4d => Some((true, false)),
            0xa1b2_cd34 => Some((false, true)),
            _ => None,
        };
        if let Some((nanos, patched)) = kind(le) {
            return Some(Magic {
                big_endian: false,
                nanos,
                patched,
            });
        }
        kind(be).map(|(nanos, patched)| Magic {
            big_endian: true,
            nanos,
            patched,
        })
    }

    #[inline]
    fn u32(&self, b: &[u8]) -> u32 {
        // Callers pass a header slice of at least the field's end.
        let a = b.first_chunk::<4>().copied().unwrap_or_default();
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    /// Bytes of a record header.
    fn record_header_len(&self) -> usize {
        if self.patched {
            24
        } else {
            16
        }
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
}

/// How the two lengths of a record are ordered (versions before 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengths {
    Normal,
    Swapped,
    MaybeSwapped,
}

pub(crate) struct PcapReader {
    magic: Magic,
    link: Link,
    /// The LINKTYPE_ value (low 16 bits of the word).
    pub(crate) linktype: u16,
    /// Bytes of FCS at the end of each frame (0: none declared).
    fcs_len: usize,
    /// 0: no limit.
    snaplen: u32,
    lengths: Lengths,
    pos: Position,
    pub(crate) quirks: CaptureQuirks,
}

impl PcapReader {
    /// Where the read stands.
    pub(crate) fn position(&self) -> &Position {
        &self.pos
    }

    /// The header after its 4-byte magic.
    pub(crate) fn new(
        r: &mut Src<'_, '_>,
        magic: Magic,
        mut pos: Position,
    ) -> Result<PcapReader, CaptureError> {
        pos.offset = 4;
        let h = match r.take(20, "file header") {
            Ok(Some(h)) => h,
            Ok(None) => return Err(pos.corrupt("the file ends inside its header")),
            Err(m) => return Err(pos.corrupt(m)),
        };
        let (major, minor) = (magic.u16(&h[0..]), magic.u16(&h[2..]));
        let snaplen = magic.u32(&h[12..]);
        let word = magic.u32(&h[16..]);
        let mut quirks = CaptureQuirks::default();
        let linktype = (word & 0xffff) as u16;
        if word > 0xffff {
            quirks.link_type_high_bits += 1;
        }
        let fcs_len = if word & FCS_PRESENT != 0 {
            // LT_FCS_LENGTH: in 16-bit words.
            ((word >> 28) as usize) * 2
        } else {
            0
        };
        if snaplen == 0 {
            quirks.snaplen_zero += 1;
        }
        let lengths = match (major, minor) {
            (2, m) if m < 3 => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            (543, _) => Lengths::Swapped,
            _ => Lengths::Normal,
        };
        let link = Link::of(linktype).ok_or_else(|| pos.link(linktype))?;
        pos.offset = 24;
        Ok(PcapReader {
            magic,
            link,
            linktype,
            fcs_len,
            snaplen,
            lengths,
            pos,
            quirks,
        })
    }

    pub(crate) fn next_frame<'a>(
        &mut self,
        r: &mut Src<'a, '_>,
    ) -> Option<Result<FrameRef<'a>, CaptureError>> {
        match self.read_record(r) {
            Ok(f) => f.map(Ok),
            Err(m) => Some(Err(self.pos.corrupt(m))),
        }
    }

    fn read_record<'a>(&mut self, r: &mut Src<'a, '_>) -> Result<Option<FrameRef<'a>>, String> {
        let hlen = self.magic.record_header_len();
        let Some(h) = r.take(hlen, "record header")? else {
            return Ok(None);
        };
        let Some(h) = h.first_chunk::<16>() else {
            return Err("record header: shorter than 16 bytes".to_string());
        };
        let m = self.magic;
        let field = |i: usize| {
            let a = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if m.big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        let (sec, frac) = (field(0), field(4));
        let (mut caplen, mut len) = (field(8), field(12));
        let swap = match self.lengths {
            Lengths::Normal => false,
            Lengths::Swapped => true,
            Lengths::MaybeSwapped => caplen > len,
        };
        if swap {
            std::mem::swap(&mut caplen, &mut len);
            self.quirks.lengths_swapped += 1;
        }
        if caplen > MAX_RECORD {
            return Err(format!(
                "a record of {caplen} bytes, over the largest a capture holds ({MAX_RECORD})"
            ));
        }
        self.quirks.caplen_over_snaplen += u64::from(self.snaplen != 0 && caplen > self.snaplen);
        let (unit, per_sec) = if m.nanos {
            (1, 1_000_000_000)
        } else {
            (1_000, 1_000_000)
        };
        // 10^9 or 10^6 units a second, without a division per record.
        self.quirks.usec_overflow += u64::from(u64::from(frac) >= per_sec);
        let ts_ns = u64::from(sec) * 1_000_000_000 + u64::from(frac) * unit;
        let Some(mut data) = r.take(caplen as usize, "record data")? else {
            return Err(format!(
                "record data: {caplen} bytes wanted, the file ends before them"
            ));
        };
        if self.fcs_len > 0 && caplen == len && data.len() >= self.fcs_len {
            data = &data[..data.len() - self.fcs_len];
            self.quirks.fcs_stripped += 1;
        }
        self.pos.offset += (hlen + caplen as usize) as u64;
        self.pos.frames += 1;
        Ok(Some(FrameRef {
            ts_ns,
            link: self.link,
            data,
            orig_len: len,
            interface: 0,
        }))
    }
}

//! Virtio-net headers: the offload metadata a TAP with offloads or an
//! AF_PACKET socket with `PACKET_VNET_HDR` puts before each frame (a
//! checksum left to compute, a segment of up to 64 KiB left to split), and
//! their completion in software for a port that does not take them: the
//! transport checksum filled from `csum_start`/`csum_offset`, a TCP or UDP
//! segment split into MSS-sized frames (IPv4 and IPv6), each with its own
//! lengths, IP id, sequence number, flags and checksums.
//!
//! Nothing here trusts the header: offsets beyond the frame, a segmentation
//! type the frame does not carry, a segment size of 0 are [`Malformed`]
//! and the frame is dropped with that reason.

use nsg_packet::wire::{fold, sum16};
use std::io;

/// Length of `struct virtio_net_hdr`.
pub const VNET_HDR_LEN: usize = 10;

/// A virtio-net header asking nothing (no checksum, no segmentation).
pub const PLAIN_HDR: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// `hdr` when it is a virtio-net header, else one asking nothing: what a
/// port that writes headers puts before a frame that came without one.
pub fn or_plain(hdr: &[u8]) -> &[u8] {
    if hdr.len() == VNET_HDR_LEN {
        hdr
    } else {
        &PLAIN_HDR
    }
}
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is left to fill.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP`: one UDP datagram to fragment at the IP layer.
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`: UDP payload to split into datagrams.
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: the TCP segment has CWR set (first segment only).
pub const GSO_ECN: u8 = 0x80;

const ETH_HLEN: usize = 14;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;
const IPV6_FRAGMENT: u8 = 44;

/// A parsed virtio-net header (fields in the host's byte order, as the
/// kernel writes them for TAPs and packet sockets on a legacy header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// One of the `GSO_*` types, with [`GSO_ECN`] possibly set.
    pub gso_type: u8,
    /// Length of the headers (a hint; not relied upon).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed part starts (the transport header).
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header at the start of `b`, or `None` if `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header as the kernel reads it.
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// Whether it asks for work (a checksum or a segmentation).
    pub fn needs_work(&self) -> bool {
        self.flags & F_NEEDS_CSUM != 0 || self.gso_type != GSO_NONE
    }
}

/// Why a virtio-net header cannot be honoured for its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Fewer than 10 bytes of header.
    #[error("virtio-net header shorter than {VNET_HDR_LEN} bytes")]
    ShortHeader,
    /// The checksum field lies beyond the frame.
    #[error("checksum at {start}+{offset} beyond a frame of {len} bytes")]
    ChecksumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The frame's length.
        len: usize,
    },
    /// A segmentation type virtio-net does not define.
    #[error("unknown segmentation type {0}")]
    UnknownGso(u8),
    /// A segmentation without a checksum to fill (`csum_start` names the
    /// transport header, which segmentation needs).
    #[error("segmentation without a partial checksum")]
    GsoWithoutChecksum,
    /// A segmentation with a segment size of 0 (below 8 for IP
    /// fragmentation, whose fragments are multiples of 8 bytes).
    #[error("segment size 0 (or below 8 for UDP fragmentation)")]
    ZeroSegmentSize,
    /// The frame is not IPv4/IPv6 as the segmentation type says, or its IP
    /// header is cut or inconsistent with `csum_start`.
    #[error("IP header does not match the segmentation type or the checksum start")]
    BadIpHeader,
    /// The transport header is cut, or its checksum field is not where
    /// `csum_offset` says.
    #[error("transport header cut or its checksum not at the checksum offset")]
    BadTransport,
    /// UDP fragmentation of an IPv6 packet with extension headers.
    #[error("UDP fragmentation over IPv6 with extension headers")]
    Ipv6Extensions,
}

impl From<Malformed> for io::Error {
    fn from(m: Malformed) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, m)
    }
}

/// Where a segmented frame's headers are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Start of the IP header.
    l3: usize,
    /// IPv6 (else IPv4).
    v6: bool,
    /// Start of the transport header (`csum_start`).
    l4: usize,
    /// Length of the transport header.
    l4_len: usize,
}

/// Check that `hdr` can be honoured for `frame`: what a port without
/// offloads would need to complete it is inside the frame and consistent.
pub fn check(hdr: &VnetHdr, frame: &[u8]) -> Result<(), Malformed> {
    checksum_field(hdr, frame)?;
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => Ok(()),
        _ => layout(hdr, frame).map(|_| ()),
    }
}

/// The checksum field's offset, when `hdr` asks for a checksum.
fn checksum_field(hdr: &VnetHdr, frame: &[u8]) -> Result<Option<usize>, Malformed> {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return Ok(None);
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if start >= frame.len() || at + 2 > frame.len() {
        return Err(Malformed::ChecksumOutside {
            start: hdr.csum_start,
            offset: hdr.csum_offset,
            len: frame.len(),
        });
    }
    Ok(Some(at))
}

/// The headers of a frame to segment, checked against the header's type.
fn layout(hdr: &VnetHdr, frame: &[u8]) -> Result<Layout, Malformed> {
    let gso = hdr.gso_type & !GSO_ECN;
    let (v6, tcp) = match gso {
        GSO_TCPV4 => (false, true),
        GSO_TCPV6 => (true, true),
        GSO_UDP | GSO_UDP_L4 => (ip_version(frame) == Some(6), false),
        other => return Err(Malformed::UnknownGso(other)),
    };
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return Err(Malformed::GsoWithoutChecksum);
    }
    if hdr.gso_size == 0 || gso == GSO_UDP && hdr.gso_size < 8 {
        return Err(Malformed::ZeroSegmentSize);
    }
    let l3 = l3_offset(frame).ok_or(Malformed::BadIpHeader)?;
    let l4 = usize::from(hdr.csum_start);
    let ip_len = if v6 {
        40
    } else {
        usize::from(frame.get(l3).ok_or(Malformed::BadIpHeader)? & 0x0f) * 4
    };
    let l4_ok = if v6 {
        l4 >= l3 + ip_len
    } else {
        l4 == l3 + ip_len
    };
    if ip_version(frame) != Some(if v6 { 6 } else { 4 }) || ip_len < 20 || !l4_ok {
        return Err(Malformed::BadIpHeader);
    }
    let (l4_len, csum_at) = if tcp {
        let off = *frame.get(l4 + 12).ok_or(Malformed::BadTransport)?;
        (usize::from(off >> 4) * 4, 16)
    } else {
        (8, 6)
    };
    if l4_len < 20 && tcp || l4 + l4_len > frame.len() || usize::from(hdr.csum_offset) != csum_at {
        return Err(Malformed::BadTransport);
    }
    if gso == GSO_UDP && v6 && l4 != l3 + 40 {
        return Err(Malformed::Ipv6Extensions);
    }
    Ok(Layout { l3, v6, l4, l4_len })
}

/// Where the IP header starts: after the Ethernet header and at most one
/// VLAN tag.
fn l3_offset(frame: &[u8]) -> Option<usize> {
    let ty = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    match ty {
        0x8100 | 0x88a8 => (frame.len() > ETH_HLEN + 4).then_some(ETH_HLEN + 4),
        _ => (frame.len() > ETH_HLEN).then_some(ETH_HLEN),
    }
}

/// Where the IP packet ends by its own length field.
fn ip_end(frame: &[u8]) -> Option<usize> {
    let l3 = l3_offset(frame)?;
    let word = |i: usize| {
        Some(usize::from(u16::from_be_bytes([
            *frame.get(i)?,
            *frame.get(i + 1)?,
        ])))
    };
    match ip_version(frame)? {
        4 => Some(l3 + word(l3 + 2)?),
        6 => Some(l3 + 40 + word(l3 + 4)?),
        _ => None,
    }
}

fn ip_version(frame: &[u8]) -> Option<u8> {
    Some(frame.get(l3_offset(frame)?)? >> 4)
}

/// Fill the checksum at `at` over `frame[start..]` up to the end of the IP
/// packet (not Ethernet padding), whose field holds the pseudo-header sum
/// (as a kernel leaves a partial checksum). A result of 0 is written
/// 0xffff (the same in one's complement; UDP reads 0 as none).
fn fill_partial(frame: &mut [u8], start: usize, at: usize) {
    let end = ip_end(frame)
        .unwrap_or(frame.len())
        .clamp(at + 2, frame.len());
    let c = fold(sum16(&frame[start..end], 0));
    let c = if c == 0 { 0xffff } else { c };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The pseudo-header sum of the IP header at `l3` for a transport of
/// `len` bytes and protocol `proto`.
fn pseudo(frame: &[u8], l3: usize, v6: bool, proto: u8, len: usize) -> u64 {
    let addrs = if v6 {
        &frame[l3 + 8..l3 + 40]
    } else {
        &frame[l3 + 12..l3 + 20]
    };
    sum16(addrs, u64::from(proto) + len as u64)
}

/// Completes offloads in software; keeps one frame's worth of buffer
/// between calls so completing allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Completer {
    buf: Vec<u8>,
    /// Identification of the next IPv6 fragment nsg makes.
    frag_id: u32,
}

impl Completer {
    /// Complete what `hdr` asks for `frame` and hand each resulting frame
    /// to `emit` (one for a checksum, one per segment for a segmentation).
    /// Answers how many frames were emitted; a malformed header is an
    /// `InvalidData` error naming the fault, and nothing is emitted.
    pub fn complete(
        &mut self,
        hdr: &VnetHdr,
        frame: &[u8],
        mut emit: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<usize> {
        let field = checksum_field(hdr, frame)?;
        let gso = hdr.gso_type & !GSO_ECN;
        if gso == GSO_NONE {
            self.buf.clear();
            self.buf.extend_from_slice(frame);
            if let Some(at) = field {
                fill_partial(&mut self.buf, usize::from(hdr.csum_start), at);
            }
            emit(&self.buf)?;
            return Ok(1);
        }
        let l = layout(hdr, frame)?;
        let mss = usize::from(hdr.gso_size);
        match gso {
            GSO_UDP => self.fragment_udp(frame, &l, mss, &mut emit),
            _ => self.segment(frame, &l, gso == GSO_UDP_L4, mss, &mut emit),
        }
    }

    /// Split a TCP (or, with `udp`, a UDP) segment into frames of at most
    /// `mss` payload bytes, each with the headers fixed for its place.
    fn segment(
        &mut self,
        frame: &[u8],
        l: &Layout,
        udp: bool,
        mss: usize,
        emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<usize> {
        let hlen = l.l4 + l.l4_len;
        let payload = &frame[hlen..];
        let count = payload.len().div_ceil(mss).max(1);
        let seq0 = u32::from_be_bytes([
            frame[l.l4 + 4],
            frame[l.l4 + 5],
            frame[l.l4 + 6],
            frame[l.l4 + 7],
        ]);
        for i in 0..count {
            let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
            let b = &mut self.buf;
            b.clear();
            b.extend_from_slice(&frame[..hlen]);
            b.extend_from_slice(chunk);
            let l4_total = l.l4_len + chunk.len();
            set_ip_lengths(b, l, i, l4_total);
            let t = l.l4;
            let proto = if udp {
                b[t + 4..t + 6].copy_from_slice(&(l4_total as u16).to_be_bytes());
                17
            } else {
                let seq = seq0.wrapping_add((i * mss) as u32);
                b[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
                if i + 1 < count {
                    b[t + 13] &= !(TCP_FIN | TCP_PSH);
                }
                if i > 0 {
                    b[t + 13] &= !TCP_CWR;
                }
                6
            };
            let at = t + if udp { 6 } else { 16 };
            b[at..at + 2].copy_from_slice(&[0, 0]);
            let c = fold(sum16(&b[t..], pseudo(b, l.l3, l.v6, proto, l4_total)));
            let c = if c == 0 && udp { 0xffff } else { c };
            b[at..at + 2].copy_from_slice(&c.to_be_bytes());
            emit(b)?;
        }
        Ok(count)
    }

    /// Fragment one UDP datagram at the IP layer into fragments of at most
    /// `mss` bytes of IP payload (rounded down to 8), its checksum filled
    /// first over the whole datagram.
    fn fragment_udp(
        &mut self,
        frame: &[u8],
        l: &Layout,
        mss: usize,
        emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<usize> {
        let step = mss / 8 * 8;
        if step == 0 {
            return Err(Malformed::ZeroSegmentSize.into());
        }
        let mut whole = frame.to_vec();
        let udp_len = whole.len() - l.l4;
        whole[l.l4 + 4..l.l4 + 6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        whole[l.l4 + 6..l.l4 + 8].copy_from_slice(&[0, 0]);
        let c = fold(sum16(
            &whole[l.l4..],
            pseudo(&whole, l.l3, l.v6, 17, udp_len),
        ));
        let c = if c == 0 { 0xffff } else { c };
        whole[l.l4 + 6..l.l4 + 8].copy_from_slice(&c.to_be_bytes());
        let data = &whole[l.l4..];
        let count = data.len().div_ceil(step);
        self.frag_id = self.frag_id.wrapping_add(1);
        for i in 0..count {
            let chunk = &data[i * step..((i + 1) * step).min(data.len())];
            let more = i + 1 < count;
            let b = &mut self.buf;
            b.clear();
            b.extend_from_slice(&whole[..l.l4]);
            let off = (i * step / 8) as u16;
            if l.v6 {
                let next = b[l.l3 + 6];
                b[l.l3 + 6] = IPV6_FRAGMENT;
                let word = (off << 3) | u16::from(more);
                b.extend_from_slice(&[next, 0]);
                b.extend_from_slice(&word.to_be_bytes());
                b.extend_from_slice(&self.frag_id.to_be_bytes());
                let plen = (8 + chunk.len()) as u16;
                b[l.l3 + 4..l.l3 + 6].copy_from_slice(&plen.to_be_bytes());
            } else {
                let word = off | if more { 0x2000 } else { 0 };
                b[l.l3 + 6..l.l3 + 8].copy_from_slice(&word.to_be_bytes());
                let total = (l.l4 - l.l3 + chunk.len()) as u16;
                b[l.l3 + 2..l.l3 + 4].copy_from_slice(&total.to_be_bytes());
                ipv4_checksum(b, l.l3, l.l4);
            }
            b.extend_from_slice(chunk);
            emit(b)?;
        }
        Ok(count)
    }
}

/// Set segment `i`'s IP length fields for a transport of `l4_total`
/// bytes: IPv4 total length, id (the first segment's plus `i`) and header
/// checksum; IPv6 payload length.
fn set_ip_lengths(b: &mut [u8], l: &Layout, i: usize, l4_total: usize) {
    let ip = l.l3;
    if l.v6 {
        let plen = (l.l4 - ip - 40 + l4_total) as u16;
        b[ip + 4..ip + 6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let total = (l.l4 - ip + l4_total) as u16;
        b[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        let id = u16::from_be_bytes([b[ip + 4], b[ip + 5]]).wrapping_add(i as u16);
        b[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
        ipv4_checksum(b, ip, ip + usize::from(b[ip] & 0x0f) * 4);
    }
}

/// Recompute the IPv4 header checksum of the header at `b[ip..end]`.
fn ipv4_checksum(b: &mut [u8], ip: usize, end: usize) {
    b[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let c = fold(sum16(&b[ip..end], 0));
    b[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;

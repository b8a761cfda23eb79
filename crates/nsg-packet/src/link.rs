//! Link layers of captured frames: the link types nsg reads, a captured
//! frame with its link (owned, or borrowed from a mapped file), where the
//! network header of a Linux cooked, raw IP or loopback frame starts, and
//! the step that turns such frames into Ethernet frames for callers that
//! need those bytes.

use crate::ether_type;

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u16 = 1;
/// LINKTYPE_NULL (BSD loopback).
pub const LINKTYPE_NULL: u16 = 0;
/// LINKTYPE_RAW (raw IPv4 or IPv6).
pub const LINKTYPE_RAW: u16 = 101;
/// LINKTYPE_LOOP (OpenBSD loopback).
pub const LINKTYPE_LOOP: u16 = 108;
/// LINKTYPE_LINUX_SLL (Linux cooked capture v1).
pub const LINKTYPE_LINUX_SLL: u16 = 113;
/// LINKTYPE_IPV4.
pub const LINKTYPE_IPV4: u16 = 228;
/// LINKTYPE_IPV6.
pub const LINKTYPE_IPV6: u16 = 229;

/// Link types nsg reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (with or without VLAN tags).
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
    /// The link of a LINKTYPE_ value, if nsg reads it.
    pub fn of(linktype: u16) -> Option<Link> {
        Some(match linktype {
            LINKTYPE_ETHERNET => Link::Ethernet,
            LINKTYPE_LINUX_SLL => Link::LinuxSll,
            LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Link::RawIp,
            LINKTYPE_NULL => Link::Null,
            LINKTYPE_LOOP => Link::Loop,
            _ => return None,
        })
    }

    /// The LINKTYPE_ value that stands for this link in a file written
    /// without an input format to copy.
    pub fn linktype(self) -> u16 {
        match self {
            Link::Ethernet => LINKTYPE_ETHERNET,
            Link::LinuxSll => LINKTYPE_LINUX_SLL,
            Link::RawIp => LINKTYPE_RAW,
            Link::Null => LINKTYPE_NULL,
            Link::Loop => LINKTYPE_LOOP,
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The link layer the bytes start with.
    pub link: Link,
    /// The link-layer bytes as captured (less a trailing FCS the file
    /// declares).
    pub data: Vec<u8>,
    /// The frame's length on the wire (more than `data` when the capture
    /// was cut at a snap length).
    pub orig_len: u32,
    /// The interface it was captured on: in a pcapng file, the index of its
    /// Interface Description Block counted over all sections; 0 otherwise.
    pub interface: u32,
}

impl CapturedFrame {
    /// The frame as a borrowed [`FrameRef`].
    pub fn as_frame_ref(&self) -> FrameRef<'_> {
        FrameRef {
            ts_ns: self.ts_ns,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
            interface: self.interface,
        }
    }
}

/// One captured frame whose bytes are borrowed from where they were read
/// (a mapped capture file): a [`CapturedFrame`] without its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The link layer the bytes start with.
    pub link: Link,
    /// The link-layer bytes as captured (less a trailing FCS the file
    /// declares).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// The interface it was captured on (see [`CapturedFrame::interface`]).
    pub interface: u32,
}

impl FrameRef<'_> {
    /// The frame with its bytes copied.
    pub fn to_captured(&self) -> CapturedFrame {
        CapturedFrame {
            ts_ns: self.ts_ns,
            link: self.link,
            data: self.data.to_vec(),
            orig_len: self.orig_len,
            interface: self.interface,
        }
    }
}

/// The EtherType a non-Ethernet link header announces and the bytes after
/// it; `None` for Ethernet, and for frames whose link header is cut short
/// (those are read as they are, as Ethernet, to be dropped by the parser
/// with a reason).
#[inline]
pub fn link_payload(link: Link, data: &[u8]) -> Option<(u16, &[u8])> {
    match link {
        Link::Ethernet => None,
        Link::LinuxSll => {
            let proto = data.get(14..16)?;
            Some((u16::from_be_bytes([proto[0], proto[1]]), &data[16..]))
        }
        Link::RawIp => match data.first().map(|b| b >> 4) {
            Some(6) => Some((ether_type::IPV6, data)),
            _ => Some((ether_type::IPV4, data)),
        },
        Link::Null | Link::Loop => {
            let fam = data.get(..4)?;
            let fam = [fam[0], fam[1], fam[2], fam[3]];
            let v = if link == Link::Null {
                u32::from_ne_bytes(fam)
            } else {
                u32::from_be_bytes(fam)
            };
            // A little-endian writer's family read on a big-endian host (or
            // the reverse) shows up in the high byte.
            let v = if v > 0xffff { v.swap_bytes() } else { v };
            let et = match v {
                2 => ether_type::IPV4,
                10 | 24 | 28 | 30 => ether_type::IPV6,
                _ => 0xffff,
            };
            Some((et, &data[4..]))
        }
    }
}

/// The frame as Ethernet: as is, or behind a synthetic Ethernet header
/// (zero MACs) carrying the EtherType the link header names (see
/// [`link_payload`]). Frames whose link header is cut short come back as
/// they are, to be dropped by the parser with a reason. The parser reads
/// the other links in place ([`crate::parse_link`]); this copy is for
/// callers that need the Ethernet bytes themselves.
pub fn to_ethernet<'a>(link: Link, data: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let Some((ether, payload)) = link_payload(link, data) else {
        return data;
    };
    scratch.clear();
    scratch.extend_from_slice(&[0u8; 12]);
    scratch.extend_from_slice(&ether.to_be_bytes());
    scratch.extend_from_slice(payload);
    scratch
}

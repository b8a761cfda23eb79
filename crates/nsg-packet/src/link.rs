//! Link layers of captured frames: the link types nsg reads, a captured
//! frame with its link, and the step that turns Linux cooked, raw IP and
//! loopback frames into the Ethernet frames the parser reads.

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

const ETH_IPV4: [u8; 2] = ether_type::IPV4.to_be_bytes();
const ETH_IPV6: [u8; 2] = ether_type::IPV6.to_be_bytes();

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

//! The fast path: a hand-rolled reader of the common case straight over the
//! bytes.
//!
//! It handles Ethernet II with up to two VLAN tags, then IPv4 without options
//! and unfragmented, or IPv6 without extension headers and with a non-zero
//! payload length, then a TCP or UDP header that fits. Everything else, and
//! every frame with something wrong in it, returns `None` and goes to the
//! checked slow path ([`crate::slow`]), which is the reference: for every
//! frame the fast path accepts, the slow path returns the same
//! [`Frame`] (a property test holds them to it).

use crate::meta::{
    ether_type, proto, Addr, Family, FiveTuple, Frame, PacketMeta, TcpFlags, Transport, Vlans,
};

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn arr4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

#[inline(always)]
fn addr16(b: &[u8], at: usize) -> Addr {
    let hi = u64::from_be_bytes([
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
    ]);
    let lo = u64::from_be_bytes([
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
        b[at + 12],
        b[at + 13],
        b[at + 14],
        b[at + 15],
    ]);
    Addr { hi, lo }
}

/// Parse the common case, or `None` for the slow path to decide.
///
/// Never panics: every index is checked against the length first (the
/// bounds checks of the indexing stay as a second guard).
#[inline]
pub fn parse(frame: &[u8]) -> Option<Frame> {
    parse_ethernet(frame).map(Frame::Ip)
}

/// [`parse`] of an Ethernet frame, the packet itself: the fast path only
/// ever answers IP packets.
#[inline(always)]
fn parse_ethernet(frame: &[u8]) -> Option<PacketMeta> {
    if frame.len() < 14 {
        return None;
    }
    let (et, off, vlans) = tags(frame, be16(frame, 12), 14)?;
    network(&frame[off..], et, vlans, frame.len())
}

/// The fast path of a frame of link `link`, as
/// [`parse_link`](crate::parse_link) tries it before the slow path: the IP
/// packet of a common-case frame, or `None` for the slow path to decide.
/// A caller that takes the packet counts it as `parse_link` does (a frame,
/// on the fast path, of its family).
#[inline(always)]
pub fn parse_link_packet(link: crate::link::Link, data: &[u8]) -> Option<PacketMeta> {
    match crate::link::link_payload(link, data) {
        None => parse_ethernet(data),
        Some((et, payload)) => payload_packet(et, payload),
    }
}

/// [`parse`] of a frame whose link header was `link_len` bytes announcing
/// EtherType `et` (Linux cooked, raw IP, loopback), read from `payload`,
/// the bytes after that header, with the lengths and offsets an Ethernet
/// frame of the same payload would have.
#[inline]
pub fn parse_payload(et: u16, payload: &[u8]) -> Option<Frame> {
    payload_packet(et, payload).map(Frame::Ip)
}

/// [`parse_payload`], the packet itself.
#[inline(always)]
fn payload_packet(et: u16, payload: &[u8]) -> Option<PacketMeta> {
    let (et, off, vlans) = tags(payload, et, 0)?;
    network(&payload[off..], et, vlans, payload.len() + 14)
}

/// The IP packet `ip` of EtherType `et` in a frame of `frame_len` bytes.
#[inline(always)]
fn network(ip: &[u8], et: u16, vlans: Vlans, frame_len: usize) -> Option<PacketMeta> {
    let (src, dst, family, ip_proto, l4) = match et {
        ether_type::IPV4 => {
            let total = ipv4_len(ip)?;
            let (src, dst) = (Addr::from_v4(arr4(ip, 12)), Addr::from_v4(arr4(ip, 16)));
            (src, dst, Family::V4, ip[9], &ip[20..total])
        }
        ether_type::IPV6 => {
            let end = ipv6_len(ip)?;
            (
                addr16(ip, 8),
                addr16(ip, 24),
                Family::V6,
                ip[6],
                &ip[40..end],
            )
        }
        _ => return None,
    };
    let (src_port, dst_port, transport) = ports(l4, ip_proto)?;
    Some(PacketMeta {
        tuple: FiveTuple {
            src,
            dst,
            src_port,
            dst_port,
            proto: ip_proto,
            family,
        },
        transport,
        fragment: None,
        vlans,
        frame_len: u32::try_from(frame_len).unwrap_or(u32::MAX),
    })
}

/// Up to two VLAN tags from `off`, where EtherType `et` was read: the
/// EtherType after them, where the network header starts, and the tags.
#[inline(always)]
fn tags(frame: &[u8], mut et: u16, mut off: usize) -> Option<(u16, usize, Vlans)> {
    let mut vlans = Vlans::default();
    let mut tags = 0;
    while matches!(
        et,
        ether_type::VLAN | ether_type::QINQ | ether_type::QINQ_OLD
    ) {
        if tags == 2 || frame.len() < off + 4 {
            return None;
        }
        let vid = be16(frame, off) & 0x0fff;
        if tags == 0 {
            vlans.outer = Some(vid);
        } else {
            vlans.inner = Some(vid);
        }
        tags += 1;
        et = be16(frame, off + 2);
        off += 4;
    }
    Some((et, off, vlans))
}

/// The length of an IPv4 packet without options and unfragmented, that
/// fits in `ip`.
#[inline(always)]
fn ipv4_len(ip: &[u8]) -> Option<usize> {
    // Version 4, IHL 5: no options.
    if ip.len() < 20 || ip[0] != 0x45 {
        return None;
    }
    let total = usize::from(be16(ip, 2));
    // Fragments (MF or an offset) go to the slow path; DF is fine.
    if total < 20 || total > ip.len() || be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    Some(total)
}

/// The length of an IPv6 packet without extension headers, with a
/// non-zero payload length, that fits in `ip`.
#[inline(always)]
fn ipv6_len(ip: &[u8]) -> Option<usize> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return None;
    }
    let payload = usize::from(be16(ip, 4));
    if payload == 0 || 40 + payload > ip.len() {
        return None;
    }
    Some(40 + payload)
}

/// The ports and transport of a TCP or UDP header that fits in `l4`.
#[inline(always)]
fn ports(l4: &[u8], ip_proto: u8) -> Option<(u16, u16, Transport)> {
    match ip_proto {
        proto::TCP => {
            if l4.len() < 20 {
                return None;
            }
            let data_offset = usize::from(l4[12] >> 4);
            if data_offset < 5 || data_offset * 4 > l4.len() {
                return None;
            }
            Some((
                be16(l4, 0),
                be16(l4, 2),
                Transport::Tcp {
                    flags: TcpFlags(l4[13]),
                },
            ))
        }
        proto::UDP => {
            if l4.len() < 8 {
                return None;
            }
            let len = usize::from(be16(l4, 4));
            if len < 8 || len > l4.len() {
                return None;
            }
            Some((be16(l4, 0), be16(l4, 2), Transport::Udp))
        }
        _ => None,
    }
}

//! # nsg-packet
//!
//! Frame parsing for the nsg dataplane: an Ethernet frame in, a small `Copy`
//! [`Frame`] out. An IP packet becomes a [`PacketMeta`]: its [`FiveTuple`]
//! (addresses, protocol, TCP/UDP ports or the ICMP echo identifier), TCP
//! flags, ICMP type and code with the tuple quoted by an ICMP error,
//! fragmentation and VLAN tags. ARP and other EtherTypes are classified, not
//! misread as IP.
//!
//! Two readers share that result. The fast path ([`fast`]) reads the common
//! case (Ethernet, up to two VLAN tags, IPv4 without options or IPv6 without
//! extension headers, TCP or UDP, unfragmented) straight from the bytes; every
//! other frame goes to the slow path ([`slow`]), built on etherparse's checked
//! slices, which is the reference: whatever the fast path accepts, the slow
//! path reads identically (a property test holds them to it).
//!
//! Frames of other link layers (Linux cooked, raw IP, loopback) are read in
//! place by [`parse_link`], from the network header their link header
//! announces ([`link`]). Next to the readers: [`owner`] picks the worker
//! that owns a frame's connection (a symmetric hash of its addresses, the
//! quoted ones for an ICMP error), and [`wire`] builds
//! frames (IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, ARP, neighbour discovery, with
//! their checksums) for the traffic synthesiser and the switch's answers.
//!
//! ## Guarantees
//! - Never panics on any input; parsing allocates nothing.
//! - A malformed or truncated frame yields a typed [`ParseError`] naming the
//!   layer and what was wrong, counted under a [`DropReason`] in
//!   [`ParseStats`].
//! - Both directions of a flow give tuples that are each other's
//!   [`FiveTuple::reversed`]; ICMP echo requests and replies carry the
//!   identifier as both ports so they match too.
//!
//! ## Not here
//! Checksums are not verified, fragments are not reassembled, tunnels are not
//! entered, and nothing about policy or flows is known: this crate reads
//! and writes frames, nothing more.

#![deny(unsafe_code)]
#![warn(clippy::cast_possible_truncation)]

pub mod error;
pub mod fast;
pub mod link;
pub mod meta;
pub mod owner;
pub mod slow;
pub mod stats;
pub mod wire;

pub use error::{DropReason, Layer, ParseError};
pub use meta::{
    ether_type, proto, proto_has_ports, Addr, Family, FiveTuple, Fragment, Frame, Icmp, IcmpKind,
    PacketMeta, TcpFlags, Transport, Vlans,
};
pub use stats::ParseStats;

/// Parse an Ethernet frame: the fast path, then the slow path for what it
/// leaves.
#[inline]
pub fn parse(frame: &[u8]) -> Result<Frame, ParseError> {
    match fast::parse(frame) {
        Some(f) => Ok(f),
        None => slow::parse(frame),
    }
}

/// [`parse`], counting the outcome in `stats`.
#[inline]
pub fn parse_counted(frame: &[u8], stats: &mut ParseStats) -> Result<Frame, ParseError> {
    count(fast::parse(frame), stats, || slow::parse(frame))
}

/// [`parse_counted`] of a frame of any link nsg reads, in place: the
/// parser starts after a Linux cooked, raw IP or loopback header with the
/// EtherType it announces ([`link::link_payload`]). Frame, fault, counters
/// and lengths are those of the frame behind a rebuilt Ethernet header
/// ([`link::to_ethernet`]), without building it.
#[inline]
pub fn parse_link(
    link: link::Link,
    data: &[u8],
    stats: &mut ParseStats,
) -> Result<Frame, ParseError> {
    let Some((et, payload)) = link::link_payload(link, data) else {
        return parse_counted(data, stats);
    };
    count(fast::parse_payload(et, payload), stats, || {
        slow::parse_payload(et, payload)
    })
}

/// Count a parse: the fast path's frame, or else the slow path's outcome.
#[inline(always)]
fn count(
    fast: Option<Frame>,
    stats: &mut ParseStats,
    slow: impl FnOnce() -> Result<Frame, ParseError>,
) -> Result<Frame, ParseError> {
    stats.frames += 1;
    let r = match fast {
        Some(f) => {
            stats.fast_path += 1;
            Ok(f)
        }
        None => {
            stats.slow_path += 1;
            slow()
        }
    };
    match &r {
        Ok(f) => stats.record_frame(f),
        Err(e) => stats.record_drop(e.reason()),
    }
    r
}

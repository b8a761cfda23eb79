//! Helpers shared by the synthesiser's tests: an independent reading of the
//! frames through etherparse, checksum verification, fragment reassembly.

#![allow(dead_code)]

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use nsg_packet::{Frame, PacketMeta};

/// The parsed metadata of an IP frame; panics on anything else.
pub fn meta(frame: &[u8]) -> PacketMeta {
    match nsg_packet::parse(frame) {
        Ok(Frame::Ip(m)) => m,
        other => panic!("not an IP frame: {other:?}"),
    }
}

/// What etherparse reads of a TCP segment: sequence, acknowledgement,
/// flags byte and payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    pub len: usize,
}

pub fn tcp(frame: &[u8]) -> Tcp {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads it");
    match p.transport {
        Some(TransportSlice::Tcp(t)) => Tcp {
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            syn: t.syn(),
            ack_flag: t.ack(),
            fin: t.fin(),
            rst: t.rst(),
            len: t.payload().len(),
        },
        other => panic!("not TCP: {other:?}"),
    }
}

/// UDP payload of an unfragmented datagram.
pub fn udp_payload(frame: &[u8]) -> Vec<u8> {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads it");
    match p.transport {
        Some(TransportSlice::Udp(u)) => u.payload().to_vec(),
        other => panic!("not UDP: {other:?}"),
    }
}

fn sum16(data: &[u8], mut acc: u64) -> u64 {
    for c in data.chunks(2) {
        let hi = u64::from(c[0]) << 8;
        let lo = c.get(1).map_or(0, |&b| u64::from(b));
        acc += hi | lo;
    }
    acc
}

fn folds_to_ones(mut acc: u64) -> bool {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc == 0xffff
}

/// Whether an upper-layer message (with its checksum in place) verifies
/// against the pseudo-header of `src`, `dst` (16 or 4 bytes each).
pub fn pseudo_checksum_ok(src: &[u8], dst: &[u8], proto: u8, l4: &[u8]) -> bool {
    let acc = sum16(src, 0) + sum16(dst, 0) + u64::from(proto) + l4.len() as u64;
    folds_to_ones(sum16(l4, acc))
}

/// Check the IPv4 header checksum and, for unfragmented packets, the
/// TCP, UDP, ICMP or ICMPv6 checksum; panics with the frame's index on a
/// mismatch. Fragments are checked after reassembly instead.
pub fn check_checksums(i: usize, frame: &[u8]) {
    let p = SlicedPacket::from_ethernet(frame).unwrap_or_else(|e| panic!("frame {i}: {e}"));
    let (src, dst): (Vec<u8>, Vec<u8>) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            assert!(
                folds_to_ones(sum16(h.slice(), 0)),
                "frame {i}: IPv4 header checksum"
            );
            if h.is_fragmenting_payload() {
                return;
            }
            (h.source().to_vec(), h.destination().to_vec())
        }
        Some(NetSlice::Ipv6(v6)) => {
            if v6.is_payload_fragmented() {
                return;
            }
            let h = v6.header();
            (h.source().to_vec(), h.destination().to_vec())
        }
        other => panic!("frame {i}: no IP layer: {other:?}"),
    };
    let (proto, l4): (u8, &[u8]) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (6, t.slice()),
        Some(TransportSlice::Udp(u)) => (17, u.slice()),
        Some(TransportSlice::Icmpv4(m)) => {
            assert!(
                folds_to_ones(sum16(m.slice(), 0)),
                "frame {i}: ICMP checksum"
            );
            return;
        }
        Some(TransportSlice::Icmpv6(m)) => (58, m.slice()),
        other => panic!("frame {i}: transport {other:?}"),
    };
    assert!(
        pseudo_checksum_ok(&src, &dst, proto, l4),
        "frame {i}: protocol {proto} checksum"
    );
}

/// The IP payload bytes a fragment carries (after the IPv4 header or the
/// IPv6 fragment header), with its offset in bytes and more-fragments bit.
pub fn fragment_payload(frame: &[u8]) -> (usize, bool, Vec<u8>) {
    let ip = &frame[14..];
    if ip[0] >> 4 == 4 {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let ff = u16::from_be_bytes([ip[6], ip[7]]);
        let offset = usize::from(ff & 0x1fff) * 8;
        (offset, ff & 0x2000 != 0, ip[ihl..total].to_vec())
    } else {
        assert_eq!(
            ip[6], 44,
            "an IPv6 fragment header follows the fixed header"
        );
        let fh = &ip[40..48];
        let fo = u16::from_be_bytes([fh[2], fh[3]]);
        (usize::from(fo >> 3) * 8, fo & 1 != 0, ip[48..].to_vec())
    }
}

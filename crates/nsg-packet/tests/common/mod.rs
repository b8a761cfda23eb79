//! Frame builders for the tests: etherparse's builder for well-formed frames,
//! byte assembly for what it will not write (options, fragments, bad fields).
#![allow(dead_code)]

use etherparse::PacketBuilder;

pub const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const V4_A: [u8; 4] = [10, 0, 1, 4];
pub const V4_B: [u8; 4] = [10, 0, 2, 5];
pub const V6_A: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
pub const V6_B: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

pub fn tcp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .tcp(sport, dport, 1000, 65535)
        .syn()
        .ack(1);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

pub fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(V6_A, V6_B, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// Ethernet header.
pub fn eth(ether_type: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAC_B);
    v.extend_from_slice(&MAC_A);
    v.extend_from_slice(&ether_type.to_be_bytes());
    v
}

/// A VLAN tag: the tag control word and the next EtherType.
pub fn vlan_tag(vid: u16, next: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&vid.to_be_bytes());
    v.extend_from_slice(&next.to_be_bytes());
    v
}

/// An IPv4 header with `options`, fragment word `frag` (flags + offset) and
/// `payload_len` bytes to follow.
pub fn ipv4(proto: u8, payload_len: usize, id: u16, frag: u16, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload_len) as u16;
    let mut v = vec![0x40 | ihl as u8, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&V4_A);
    v.extend_from_slice(&V4_B);
    v.extend_from_slice(options);
    v
}

/// An IPv6 header with `payload_len` bytes to follow.
pub fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload_len as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&V6_A);
    v.extend_from_slice(&V6_B);
    v
}

/// A 20-byte TCP header.
pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    v
}

/// A UDP header claiming `len` bytes.
pub fn udp(sport: u16, dport: u16, len: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

/// An 8-byte ICMP header.
pub fn icmp(ty: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let mut v = vec![ty, code, 0, 0];
    v.extend_from_slice(&rest);
    v
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

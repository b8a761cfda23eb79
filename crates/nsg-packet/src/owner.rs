//! The owner of a frame: which worker's flow table holds its connection.
//!
//! Every packet a flow entry answers for must reach the worker that owns
//! the entry: both directions of a connection, its non-first fragments
//! (which carry no ports) and the ICMP errors that quote it (whose outer
//! source is a router, not an end of the connection). [`owner_hash`] gives
//! all of them one value: a symmetric hash of the two addresses, taken from
//! the quoted header for an ICMP or ICMPv6 error and from the packet itself
//! otherwise. Ports are left out on purpose, since a non-first fragment has
//! none; a worker count then picks the owner as `hash % workers`.
//!
//! It reads raw bytes, no more than the headers it needs, so a dispatcher
//! can call it on every frame before the full parse.

use crate::link::{link_payload, Link};

/// Longest chain of IPv6 extension headers walked to find an ICMPv6 error.
const MAX_EXTENSIONS: usize = 8;

/// The owner hash of an Ethernet frame (up to three VLAN tags), or `None`
/// when it carries no IPv4 or IPv6 packet with both addresses (ARP, other
/// EtherTypes, truncated headers): such frames have no flow and any worker
/// may take them.
pub fn owner_hash(eth: &[u8]) -> Option<u64> {
    let e = eth.get(12..14)?;
    owner_hash_after(u16::from_be_bytes([e[0], e[1]]), &eth[14..])
}

/// The owner hash of a frame of link `link` (see [`owner_hash`]), read in
/// place after its link header; a frame whose link header is cut short is
/// read as Ethernet, as the parser reads it.
pub fn owner_hash_link(link: Link, frame: &[u8]) -> Option<u64> {
    match link_payload(link, frame) {
        None => owner_hash(frame),
        Some((ether, payload)) => owner_hash_after(ether, payload),
    }
}

/// The owner hash of what follows EtherType `ether`: up to three VLAN tags,
/// then an IPv4 or IPv6 packet.
pub fn owner_hash_after(mut ether: u16, mut payload: &[u8]) -> Option<u64> {
    for _ in 0..3 {
        if !matches!(ether, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        let e = payload.get(2..4)?;
        ether = u16::from_be_bytes([e[0], e[1]]);
        payload = &payload[4..];
    }
    match ether {
        0x0800 | 0x86dd => owner_hash_ip(payload),
        _ => None,
    }
}

/// The owner hash of an IPv4 or IPv6 packet (version from its first
/// nibble), see [`owner_hash`].
pub fn owner_hash_ip(ip: &[u8]) -> Option<u64> {
    match ip.first()? >> 4 {
        4 => {
            let (a, b) = v4_addresses(ip)?;
            let (a, b) = quoted_v4(ip).unwrap_or((a, b));
            Some(symmetric(u64::from(a), u64::from(b)))
        }
        6 => {
            let (a, b) = v6_addresses(ip)?;
            let (a, b) = quoted_v6(ip).unwrap_or((a, b));
            Some(symmetric(fold128(a), fold128(b)))
        }
        _ => None,
    }
}

/// Mixes two addresses in an order-independent way.
#[inline]
fn symmetric(x: u64, y: u64) -> u64 {
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    // Then murmur3's 64-bit finaliser: every input bit reaches the low bits
    // a worker count takes.
    let mut h = lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn fold128(a: u128) -> u64 {
    // The low 64 bits (interface id) vary most; fold the prefix in.
    let [hi, lo] = [a >> 64, a & u128::from(u64::MAX)].map(|h| u64::try_from(h).unwrap_or(0));
    lo ^ hi.wrapping_mul(0xff51_afd7_ed55_8ccd)
}

fn v4_addresses(ip: &[u8]) -> Option<(u32, u32)> {
    let a = ip.get(12..16)?;
    let b = ip.get(16..20)?;
    Some((
        u32::from_be_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
    ))
}

fn v6_addresses(ip: &[u8]) -> Option<(u128, u128)> {
    let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    Some((u128::from_be_bytes(a), u128::from_be_bytes(b)))
}

/// The addresses of the IPv4 header quoted by an ICMP error in `ip`, if it
/// is one (destination unreachable, source quench, redirect, time exceeded,
/// parameter problem) and the quote is readable.
fn quoted_v4(ip: &[u8]) -> Option<(u32, u32)> {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let first_fragment = ip.get(6..8).is_some_and(|f| f[0] & 0x1f == 0 && f[1] == 0);
    if ip.get(9) != Some(&1) || ihl < 20 || !first_fragment {
        return None;
    }
    let icmp = ip.get(ihl..)?;
    if !matches!(icmp.first()?, 3 | 4 | 5 | 11 | 12) {
        return None;
    }
    let quoted = icmp.get(8..)?;
    if quoted.first()? >> 4 != 4 {
        return None;
    }
    v4_addresses(quoted)
}

/// The addresses of the IPv6 header quoted by an ICMPv6 error in `ip`
/// (types 1 to 4), after at most [`MAX_EXTENSIONS`] extension headers.
fn quoted_v6(ip: &[u8]) -> Option<(u128, u128)> {
    let mut next = *ip.get(6)?;
    let mut off = 40;
    for _ in 0..MAX_EXTENSIONS {
        let h = ip.get(off..off + 2)?;
        off += match next {
            0 | 43 | 60 => (usize::from(h[1]) + 1) * 8,
            51 => (usize::from(h[1]) + 2) * 4,
            44 => {
                let f = ip.get(off + 2..off + 4)?;
                if f[0] != 0 || f[1] & 0xf8 != 0 {
                    // A non-first fragment: the ICMPv6 header is elsewhere.
                    return None;
                }
                8
            }
            _ => break,
        };
        next = h[0];
    }
    if next != 58 || !(1..=4).contains(ip.get(off)?) {
        return None;
    }
    let quoted = ip.get(off + 8..)?;
    if quoted.first()? >> 4 != 6 {
        return None;
    }
    v6_addresses(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(payload);
        ip
    }

    fn eth(ip: &[u8], ether: [u8; 2]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ether);
        f.extend_from_slice(ip);
        f
    }

    #[test]
    fn both_directions_share_an_owner() {
        let a = v4([10, 0, 1, 4], [8, 8, 8, 8], 6, &[0; 20]);
        let b = v4([8, 8, 8, 8], [10, 0, 1, 4], 6, &[0; 20]);
        assert_eq!(owner_hash_ip(&a), owner_hash_ip(&b));
        assert!(owner_hash_ip(&a).is_some());
        let c = v4([10, 0, 1, 5], [8, 8, 8, 8], 6, &[0; 20]);
        assert_ne!(owner_hash_ip(&a), owner_hash_ip(&c));
        assert_eq!(owner_hash(&eth(&a, [0x08, 0x00])), owner_hash_ip(&a));
        assert_eq!(owner_hash(&eth(&a, [0x08, 0x06])), None);
        assert_eq!(owner_hash(&a[..10]), None);
    }

    #[test]
    fn an_icmp_error_goes_to_the_owner_of_the_flow_it_quotes() {
        let flow = v4([10, 0, 1, 4], [8, 8, 8, 8], 17, &[0; 8]);
        let mut err = vec![3, 3, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&flow);
        let icmp = v4([192, 0, 2, 1], [10, 0, 1, 4], 1, &err);
        assert_eq!(owner_hash_ip(&icmp), owner_hash_ip(&flow));
        // An echo request is its own flow.
        let mut echo = err.clone();
        echo[0] = 8;
        let ping = v4([192, 0, 2, 1], [10, 0, 1, 4], 1, &echo);
        assert_ne!(owner_hash_ip(&ping), owner_hash_ip(&flow));
        // A quote cut short: the outer addresses.
        let cut = v4([192, 0, 2, 1], [10, 0, 1, 4], 1, &err[..8 + 14]);
        assert_eq!(owner_hash_ip(&cut), owner_hash_ip(&ping));
    }

    fn v6(src: u128, dst: u128, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        ip.extend_from_slice(&src.to_be_bytes());
        ip.extend_from_slice(&dst.to_be_bytes());
        ip.extend_from_slice(payload);
        ip
    }

    #[test]
    fn an_icmpv6_error_after_extension_headers_goes_to_the_quoted_flow() {
        let (a, b, r) = (
            0xfd00_u128 << 112 | 4,
            0x2001_0db8_u128 << 96 | 1,
            0xfe80 << 112,
        );
        let flow = v6(a, b, 17, &[0; 8]);
        let back = v6(b, a, 17, &[0; 8]);
        assert_eq!(owner_hash_ip(&flow), owner_hash_ip(&back));
        let mut body = vec![58, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop, 8 bytes
        body.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&flow);
        let err = v6(r, a, 0, &body);
        assert_eq!(owner_hash_ip(&err), owner_hash_ip(&flow));
        assert_eq!(
            owner_hash_link(Link::RawIp, &err),
            owner_hash(&eth(&err, [0x86, 0xdd]))
        );
        // A neighbour solicitation (135) is not an error.
        let mut ns = body.clone();
        ns[8] = 135;
        assert_ne!(owner_hash_ip(&v6(r, a, 0, &ns)), owner_hash_ip(&flow));
    }

    #[test]
    fn owners_spread_evenly_over_a_few_workers() {
        for workers in [2usize, 3, 4, 8] {
            let mut per = vec![0usize; workers];
            for i in 0..4096u32 {
                let c = (0x0a00_0000 | i).to_be_bytes();
                let ip = v4(c, [10, 0, 2, 5], 6, &[0; 20]);
                let h = owner_hash_ip(&ip).unwrap();
                per[usize::try_from(h % workers as u64).unwrap()] += 1;
            }
            let even = 4096 / workers;
            assert!(per.iter().all(|&n| n > even * 8 / 10), "{workers}: {per:?}");
        }
    }

    #[test]
    fn no_input_panics() {
        for len in 0..80 {
            let mut b = vec![0x45u8; len];
            let _ = owner_hash_ip(&b);
            let _ = owner_hash(&b);
            b.fill(0x60);
            let _ = owner_hash_ip(&b);
            for link in [Link::LinuxSll, Link::Null, Link::Loop, Link::RawIp] {
                let _ = owner_hash_link(link, &b);
            }
        }
    }
}

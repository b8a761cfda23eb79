//! The Internet checksum (RFC 1071) of IP headers and upper-layer messages.

use crate::proto;
use std::net::IpAddr;

/// Where an upper-layer checksum goes and whether it covers the pseudo-header.
#[derive(Debug, Clone, Copy)]
pub enum Checksum {
    /// TCP, UDP and ICMPv6: over the pseudo-header and the message; the
    /// checksum field is at this byte offset of the message.
    Pseudo(usize),
    /// ICMP for IPv4: over the message only; the checksum field is at this
    /// byte offset.
    Plain(usize),
}

/// Ones' complement sum of 16-bit big-endian words (odd tail padded),
/// added to `acc`, not folded: four words at a time, as one 64-bit read.
pub fn sum16(data: &[u8], mut acc: u64) -> u64 {
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_be_bytes(w.try_into().unwrap_or([0; 8]));
        acc += (v >> 48) + ((v >> 32) & 0xffff) + ((v >> 16) & 0xffff) + (v & 0xffff);
    }
    let mut pairs = words.remainder().chunks_exact(2);
    for c in &mut pairs {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Fold a sum to 16 bits and complement it: the checksum to write.
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // After the loop the sum fits in 16 bits: the cast loses nothing.
    #[allow(clippy::cast_possible_truncation)]
    let folded = acc as u16;
    !folded
}

/// The address as 16 bytes: IPv4 as an IPv4-mapped IPv6 address.
pub(crate) fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The pseudo-header sum of TCP, UDP and ICMPv6.
fn pseudo_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
        }
        (s, d) => {
            acc = sum16(&v6_octets(s), acc);
            acc = sum16(&v6_octets(d), acc);
        }
    }
    acc + u64::from(proto) + len as u64
}

/// Write the checksum of an upper-layer message `l4` (protocol `proto`,
/// from `src` to `dst`) in place. A message too short to hold the
/// checksum field is left as it is.
pub fn set_checksum(l4: &mut [u8], src: IpAddr, dst: IpAddr, proto: u8, how: Checksum) {
    let (at, start) = match how {
        Checksum::Pseudo(at) => (at, pseudo_sum(src, dst, proto, l4.len())),
        Checksum::Plain(at) => (at, 0),
    };
    if l4.len() < at.saturating_add(2) {
        return;
    }
    l4[at] = 0;
    l4[at + 1] = 0;
    let mut c = fold(sum16(l4, start));
    if c == 0 && proto == proto::UDP {
        // UDP sends a computed zero as all ones; zero means "no checksum".
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&data, 0)), !0xddf2);
    }

    #[test]
    fn odd_length_is_padded() {
        assert_eq!(sum16(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
    }

    #[test]
    fn a_message_too_short_for_its_checksum_is_left_alone() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut m = [1u8; 3];
        set_checksum(&mut m, ip, ip, proto::UDP, Checksum::Pseudo(6));
        assert_eq!(m, [1; 3]);
    }
}

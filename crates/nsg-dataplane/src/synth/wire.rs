//! Header bytes: Ethernet II, IPv4, IPv6 (with an optional fragment header),
//! TCP, UDP, ICMP and ICMPv6, with correct lengths and checksums.
//!
//! Everything here writes; nothing reads but [`quoted_ip`], which finds the
//! IP packet inside an Ethernet frame so that an ICMP error can quote it.

use std::net::IpAddr;

use super::Endpoint;

/// EtherType of IPv4.
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IP protocol numbers.
pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_ICMPV6: u8 = 58;
const IPV6_FRAGMENT: u8 = 44;

pub(crate) const ETH_LEN: usize = 14;
pub(crate) const IPV4_LEN: usize = 20;
pub(crate) const IPV6_LEN: usize = 40;
pub(crate) const IPV6_FRAG_LEN: usize = 8;
pub(crate) const UDP_LEN: usize = 8;

/// TCP flag bits.
pub(crate) mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The IP header fields a builder chooses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpFields {
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification: 16 bits for IPv4; for IPv6 only used with a fragment.
    pub id: u32,
    /// IPv4 don't-fragment bit.
    pub df: bool,
    /// Fragment offset in 8-byte units and the more-fragments bit.
    pub frag: Option<(u16, bool)>,
}

impl IpFields {
    pub fn new(ttl: u8, id: u32, df: bool) -> IpFields {
        IpFields {
            ttl,
            id,
            df,
            frag: None,
        }
    }
}

/// Where an upper-layer checksum goes and whether it covers the pseudo-header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Checksum {
    /// TCP, UDP and ICMPv6: over the pseudo-header and the message.
    Pseudo(usize),
    /// ICMP for IPv4: over the message only.
    Plain(usize),
}

/// Ones' complement sum of 16-bit big-endian words (odd tail padded).
fn sum16(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Fold a sum to 16 bits and complement it.
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
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

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Write the checksum of an upper-layer message in place.
pub(crate) fn set_checksum(l4: &mut [u8], src: IpAddr, dst: IpAddr, proto: u8, how: Checksum) {
    let (at, start) = match how {
        Checksum::Pseudo(at) => (at, pseudo_sum(src, dst, proto, l4.len())),
        Checksum::Plain(at) => (at, 0),
    };
    l4[at] = 0;
    l4[at + 1] = 0;
    let mut c = fold(sum16(l4, start));
    if c == 0 && proto == PROTO_UDP {
        // UDP sends a computed zero as all ones; zero means "no checksum".
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// An Ethernet frame carrying one IP packet whose upper-layer bytes are
/// `l4` (a whole message, or for a fragment the slice it carries).
pub(crate) fn ip_frame(
    src: &Endpoint,
    dst: &Endpoint,
    proto: u8,
    l4: &[u8],
    ip: IpFields,
) -> Vec<u8> {
    let v6 = src.ip.is_ipv6();
    let frag_len = if v6 && ip.frag.is_some() {
        IPV6_FRAG_LEN
    } else {
        0
    };
    let ip_len = if v6 { IPV6_LEN } else { IPV4_LEN };
    let mut out = Vec::with_capacity(ETH_LEN + ip_len + frag_len + l4.len());
    out.extend_from_slice(&dst.mac);
    out.extend_from_slice(&src.mac);
    let ether_type = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    out.extend_from_slice(&ether_type.to_be_bytes());
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let start = out.len();
            let total = (IPV4_LEN + l4.len()) as u16;
            let (offset, more) = ip.frag.unwrap_or((0, false));
            let flags = (u16::from(ip.df) << 14) | (u16::from(more) << 13) | (offset & 0x1fff);
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&(ip.id as u16).to_be_bytes());
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&[ip.ttl, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = fold(sum16(&out[start..], 0));
            out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        }
        (s, d) => {
            let payload = (frag_len + l4.len()) as u16;
            let next = if ip.frag.is_some() {
                IPV6_FRAGMENT
            } else {
                proto
            };
            // Version 6, traffic class 0, flow label from the id's low bits.
            let label = ip.id & 0x000f_ffff;
            out.extend_from_slice(&((6u32 << 28) | label).to_be_bytes());
            out.extend_from_slice(&payload.to_be_bytes());
            out.extend_from_slice(&[next, ip.ttl]);
            out.extend_from_slice(&v6_octets(s));
            out.extend_from_slice(&v6_octets(d));
            if let Some((offset, more)) = ip.frag {
                out.extend_from_slice(&[proto, 0]);
                out.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
                out.extend_from_slice(&ip.id.to_be_bytes());
            }
        }
    }
    out.extend_from_slice(l4);
    out
}

/// Bytes of a TCP segment, checksum not yet set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The MSS to announce; with it come SACK-permitted and window scale 7
    /// (what a SYN carries).
    pub mss: Option<u16>,
}

impl TcpHeader {
    /// The segment: header, options, then `payload`.
    pub fn segment(&self, payload: &[u8]) -> Vec<u8> {
        let syn_opts;
        let opts: &[u8] = match self.mss {
            Some(mss) => {
                let m = mss.to_be_bytes();
                // MSS, NOP, NOP, SACK permitted, NOP, window scale 7.
                syn_opts = [2, 4, m[0], m[1], 1, 1, 4, 2, 1, 3, 3, 7];
                &syn_opts
            }
            None => &[],
        };
        let header_len = 20 + opts.len();
        let mut s = Vec::with_capacity(header_len + payload.len());
        s.extend_from_slice(&self.src_port.to_be_bytes());
        s.extend_from_slice(&self.dst_port.to_be_bytes());
        s.extend_from_slice(&self.seq.to_be_bytes());
        s.extend_from_slice(&self.ack.to_be_bytes());
        s.push(((header_len / 4) as u8) << 4);
        s.push(self.flags);
        s.extend_from_slice(&self.window.to_be_bytes());
        s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        s.extend_from_slice(opts);
        s.extend_from_slice(payload);
        s
    }
}

/// Serialization gap between back-to-back frames of `len` bytes (1 Gbit/s).
pub(crate) fn wire_gap(len: usize) -> u64 {
    (len as u64 + 24) * 8
}

/// Bytes of a UDP datagram, checksum not yet set.
pub(crate) fn udp_datagram(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = (UDP_LEN + payload.len()) as u16;
    let mut d = Vec::with_capacity(UDP_LEN + payload.len());
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// Bytes of an ICMP or ICMPv6 message: type, code, checksum placeholder,
/// the 4-byte rest of header, then the body.
pub(crate) fn icmp_message(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + body.len());
    m.extend_from_slice(&[ty, code, 0, 0]);
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    m
}

/// The IP packet inside an untagged Ethernet frame, with its source MAC and
/// source address: what an ICMP error quotes and whom it goes back to.
pub(crate) fn quoted_ip(frame: &[u8]) -> Option<(&[u8], [u8; 6], IpAddr)> {
    let ether_type = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(ETH_LEN..)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(frame.get(6..12)?);
    match ether_type {
        ETHERTYPE_IPV4 if ip.len() >= IPV4_LEN && ip[0] >> 4 == 4 => {
            let src: [u8; 4] = ip[12..16].try_into().ok()?;
            // Without the link layer's padding.
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            Some((&ip[..total.min(ip.len())], mac, IpAddr::from(src)))
        }
        ETHERTYPE_IPV6 if ip.len() >= IPV6_LEN && ip[0] >> 4 == 6 => {
            let src: [u8; 16] = ip[8..24].try_into().ok()?;
            let total = IPV6_LEN + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            Some((&ip[..total.min(ip.len())], mac, IpAddr::from(src)))
        }
        _ => None,
    }
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
    fn ipv4_header_checksum_verifies() {
        let a = Endpoint::new([2, 0, 0, 0, 0, 1], "10.0.0.1".parse().unwrap());
        let b = Endpoint::new([2, 0, 0, 0, 0, 2], "10.0.0.2".parse().unwrap());
        let f = ip_frame(&a, &b, PROTO_UDP, &[0; 8], IpFields::new(64, 7, true));
        assert_eq!(fold(sum16(&f[ETH_LEN..ETH_LEN + IPV4_LEN], 0)), 0);
    }
}

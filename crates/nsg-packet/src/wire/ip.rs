//! IPv4 and IPv6 packets in Ethernet frames, and the reader that finds the
//! IP packet an ICMP error quotes.

use super::checksum::{fold, sum16, v6_octets};
use super::eth::ETH_LEN;
use crate::ether_type;
use std::net::IpAddr;

/// Length of an IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_LEN: usize = 40;
/// Length of an IPv6 fragment header.
pub const IPV6_FRAG_LEN: usize = 8;
/// Next-header value of an IPv6 fragment header.
const IPV6_FRAGMENT: u8 = 44;

/// One end of a conversation: the MAC its frames carry and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Ethernet address.
    pub mac: [u8; 6],
    /// IP address.
    pub ip: IpAddr,
}

impl Endpoint {
    /// The endpoint at `mac` and `ip`.
    pub fn new(mac: [u8; 6], ip: IpAddr) -> Endpoint {
        Endpoint { mac, ip }
    }
}

/// The IP header fields a builder chooses.
#[derive(Debug, Clone, Copy)]
pub struct IpFields {
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification: its low 16 bits for IPv4; for IPv6 the whole of it
    /// in a fragment header, and its low 20 bits as the flow label.
    pub id: u32,
    /// IPv4 don't-fragment bit.
    pub df: bool,
    /// Fragment offset in 8-byte units and the more-fragments bit.
    pub frag: Option<(u16, bool)>,
}

impl IpFields {
    /// Fields of an unfragmented packet.
    pub fn new(ttl: u8, id: u32, df: bool) -> IpFields {
        IpFields {
            ttl,
            id,
            df,
            frag: None,
        }
    }
}

/// A length as the 16 bits of a length field. Callers keep packets under
/// 64 KiB (synthesis cuts at the MTU); a longer one saturates.
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// An Ethernet frame from `src` to `dst` carrying one IP packet of
/// protocol `proto` whose upper-layer bytes are `l4` (a whole message, or
/// for a fragment the slice it carries). IPv6 when `src` is IPv6.
pub fn ip_frame(src: &Endpoint, dst: &Endpoint, proto: u8, l4: &[u8], ip: IpFields) -> Vec<u8> {
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
    let ether = if v6 {
        ether_type::IPV6
    } else {
        ether_type::IPV4
    };
    out.extend_from_slice(&ether.to_be_bytes());
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4_header(&mut out, proto, l4.len(), ip, (s.octets(), d.octets()));
        }
        (s, d) => ipv6_header(&mut out, proto, frag_len + l4.len(), ip, (s, d)),
    }
    out.extend_from_slice(l4);
    out
}

/// An IPv4 header without options, its checksum set.
fn ipv4_header(
    out: &mut Vec<u8>,
    proto: u8,
    l4_len: usize,
    ip: IpFields,
    addrs: ([u8; 4], [u8; 4]),
) {
    let start = out.len();
    let total = len16(IPV4_LEN + l4_len);
    let (offset, more) = ip.frag.unwrap_or((0, false));
    let flags = (u16::from(ip.df) << 14) | (u16::from(more) << 13) | (offset & 0x1fff);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    // The identification is the id's low 16 bits.
    out.extend_from_slice(&ip.id.to_be_bytes()[2..4]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[ip.ttl, proto, 0, 0]);
    out.extend_from_slice(&addrs.0);
    out.extend_from_slice(&addrs.1);
    let c = fold(sum16(&out[start..], 0));
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

/// The fixed IPv6 header and, for a fragment, the fragment header;
/// `payload` counts both the fragment header and the upper-layer bytes.
fn ipv6_header(
    out: &mut Vec<u8>,
    proto: u8,
    payload: usize,
    ip: IpFields,
    addrs: (IpAddr, IpAddr),
) {
    let next = if ip.frag.is_some() {
        IPV6_FRAGMENT
    } else {
        proto
    };
    // Version 6, traffic class 0, flow label from the id's low bits.
    let label = ip.id & 0x000f_ffff;
    out.extend_from_slice(&((6u32 << 28) | label).to_be_bytes());
    out.extend_from_slice(&len16(payload).to_be_bytes());
    out.extend_from_slice(&[next, ip.ttl]);
    out.extend_from_slice(&v6_octets(addrs.0));
    out.extend_from_slice(&v6_octets(addrs.1));
    if let Some((offset, more)) = ip.frag {
        out.extend_from_slice(&[proto, 0]);
        out.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
        out.extend_from_slice(&ip.id.to_be_bytes());
    }
}

/// The IP packet inside an untagged Ethernet frame, with its source MAC and
/// source address: what an ICMP error quotes and whom it goes back to.
pub fn quoted_ip(frame: &[u8]) -> Option<(&[u8], [u8; 6], IpAddr)> {
    let ether = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(ETH_LEN..)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(frame.get(6..12)?);
    match ether {
        ether_type::IPV4 if ip.len() >= IPV4_LEN && ip[0] >> 4 == 4 => {
            let src: [u8; 4] = ip[12..16].try_into().ok()?;
            // Without the link layer's padding.
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            Some((&ip[..total.min(ip.len())], mac, IpAddr::from(src)))
        }
        ether_type::IPV6 if ip.len() >= IPV6_LEN && ip[0] >> 4 == 6 => {
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
    use crate::proto;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let a = Endpoint::new([2, 0, 0, 0, 0, 1], "10.0.0.1".parse().unwrap());
        let b = Endpoint::new([2, 0, 0, 0, 0, 2], "10.0.0.2".parse().unwrap());
        let f = ip_frame(&a, &b, proto::UDP, &[0; 8], IpFields::new(64, 7, true));
        assert_eq!(fold(sum16(&f[ETH_LEN..ETH_LEN + IPV4_LEN], 0)), 0);
    }

    #[test]
    fn quoted_ip_refuses_short_and_non_ip_frames() {
        assert!(quoted_ip(&[0; 13]).is_none());
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&ether_type::ARP.to_be_bytes());
        assert!(quoted_ip(&arp).is_none());
    }
}

//! ARP and IPv6 neighbour discovery as the switch needs them: reading the
//! fields of a request or reply, and building the answers and
//! solicitations nsg sends as the subnets' gateway. Untagged Ethernet only;
//! every read is bounds-checked, nothing panics on a short frame.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETH_HDR: usize = 14;
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
pub const ND_NEIGHBOR_ADVERT: u8 = 136;

pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A MAC address's multicast (group) bit.
pub fn is_multicast_mac(m: &[u8; 6]) -> bool {
    m[0] & 1 == 1
}

pub fn dst_mac(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(0..6)?.try_into().ok()
}

pub fn src_mac(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(6..12)?.try_into().ok()
}

pub fn set_macs(frame: &mut [u8], dst: [u8; 6], src: Option<[u8; 6]>) {
    if frame.len() >= ETH_HDR {
        frame[0..6].copy_from_slice(&dst);
        if let Some(s) = src {
            frame[6..12].copy_from_slice(&s);
        }
    }
}

/// The fields of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

/// Read an untagged ARP frame.
pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    if frame.get(12..14)? != ETHERTYPE_ARP {
        return None;
    }
    let a = frame.get(ETH_HDR..ETH_HDR + 28)?;
    if a[0..2] != [0, 1] || a[2..4] != [0x08, 0x00] || a[4] != 6 || a[5] != 4 {
        return None;
    }
    let ip = |s: &[u8]| Ipv4Addr::new(s[0], s[1], s[2], s[3]);
    let mut sha = [0u8; 6];
    sha.copy_from_slice(&a[8..14]);
    let mut tha = [0u8; 6];
    tha.copy_from_slice(&a[18..24]);
    Some(Arp {
        op: u16::from_be_bytes([a[6], a[7]]),
        sha,
        spa: ip(&a[14..18]),
        tha,
        tpa: ip(&a[24..28]),
    })
}

/// An ARP frame into `out`.
pub fn build_arp(out: &mut Vec<u8>, eth_dst: [u8; 6], a: &Arp) {
    out.clear();
    out.extend_from_slice(&eth_dst);
    out.extend_from_slice(&a.sha);
    out.extend_from_slice(&ETHERTYPE_ARP);
    out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    out.extend_from_slice(&a.op.to_be_bytes());
    out.extend_from_slice(&a.sha);
    out.extend_from_slice(&a.spa.octets());
    out.extend_from_slice(&a.tha);
    out.extend_from_slice(&a.tpa.octets());
    // Pad to the Ethernet minimum, as a NIC would.
    out.resize(60, 0);
}

/// The reply to `req` saying `req.tpa` is at `mac`.
pub fn arp_reply(out: &mut Vec<u8>, req: &Arp, mac: [u8; 6]) {
    let a = Arp {
        op: ARP_REPLY,
        sha: mac,
        spa: req.tpa,
        tha: req.sha,
        tpa: req.spa,
    };
    build_arp(out, req.sha, &a);
}

/// A broadcast request for `target`'s address, from `mac`/`sender`.
pub fn arp_request(out: &mut Vec<u8>, mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) {
    let a = Arp {
        op: ARP_REQUEST,
        sha: mac,
        spa: sender,
        tha: [0; 6],
        tpa: target,
    };
    build_arp(out, BROADCAST, &a);
}

/// The fields of an untagged neighbour discovery message (ICMPv6 directly
/// after the IPv6 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nd {
    pub ty: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Target address of a solicitation or advertisement.
    pub target: Option<Ipv6Addr>,
}

fn v6(s: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(s);
    Ipv6Addr::from(o)
}

/// Read a neighbour discovery message.
pub fn parse_nd(frame: &[u8]) -> Option<Nd> {
    if frame.get(12..14)? != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = frame.get(ETH_HDR..ETH_HDR + 40)?;
    if ip[0] >> 4 != 6 || ip[6] != 58 {
        return None;
    }
    let icmp = frame.get(ETH_HDR + 40..)?;
    let ty = *icmp.first()?;
    let target = match ty {
        ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT => icmp.get(8..24).map(v6),
        _ => None,
    };
    Some(Nd {
        ty,
        src: v6(&ip[8..24]),
        dst: v6(&ip[24..40]),
        target,
    })
}

/// The solicited-node multicast address of `a` and its MAC.
pub fn solicited_node(a: Ipv6Addr) -> (Ipv6Addr, [u8; 6]) {
    let o = a.octets();
    let mut m = [0u8; 16];
    m[0] = 0xff;
    m[1] = 0x02;
    m[11] = 0x01;
    m[12] = 0xff;
    m[13..16].copy_from_slice(&o[13..16]);
    (Ipv6Addr::from(m), multicast_mac(&Ipv6Addr::from(m)))
}

/// The Ethernet address of an IPv6 multicast group.
pub fn multicast_mac(g: &Ipv6Addr) -> [u8; 6] {
    let o = g.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

fn checksum_v6(src: &Ipv6Addr, dst: &Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += w as u32;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMPv6 message (hop limit 255) in an Ethernet frame.
fn build_icmp6(
    out: &mut Vec<u8>,
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    icmp: &mut [u8],
) {
    let c = checksum_v6(&src, &dst, icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    out.clear();
    out.extend_from_slice(&eth_dst);
    out.extend_from_slice(&eth_src);
    out.extend_from_slice(&ETHERTYPE_IPV6);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    out.extend_from_slice(&[58, 255]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(icmp);
}

/// A neighbour advertisement answering a solicitation from `to`/`to_mac`:
/// `target` is at `mac` (router flag set: nsg speaks for gateways, and as
/// a proxy for the NICs behind it).
pub fn neighbor_advert(
    out: &mut Vec<u8>,
    to: Ipv6Addr,
    to_mac: [u8; 6],
    target: Ipv6Addr,
    mac: [u8; 6],
) {
    let mut icmp = [0u8; 32];
    icmp[0] = ND_NEIGHBOR_ADVERT;
    // Router, Solicited, Override.
    icmp[4] = 0xe0;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = 2; // target link-layer address option
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    build_icmp6(out, to_mac, mac, target, to, &mut icmp);
}

/// A neighbour solicitation for `target` from `from`/`mac`, to its
/// solicited-node group.
pub fn neighbor_solicit(out: &mut Vec<u8>, mac: [u8; 6], from: Ipv6Addr, target: Ipv6Addr) {
    let mut icmp = [0u8; 32];
    icmp[0] = ND_NEIGHBOR_SOLICIT;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = 1; // source link-layer address option
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    let (group, group_mac) = solicited_node(target);
    build_icmp6(out, group_mac, mac, from, group, &mut icmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
    const HOST: [u8; 6] = [2, 0, 0, 0, 0, 4];

    #[test]
    fn arp_reply_answers_the_request() {
        let mut f = Vec::new();
        arp_request(
            &mut f,
            HOST,
            "10.0.1.4".parse().unwrap(),
            "10.0.1.1".parse().unwrap(),
        );
        let req = parse_arp(&f).unwrap();
        assert_eq!(req.op, ARP_REQUEST);
        assert_eq!(dst_mac(&f), Some(BROADCAST));
        let mut r = Vec::new();
        arp_reply(&mut r, &req, GW);
        let rep = parse_arp(&r).unwrap();
        assert_eq!(rep.op, ARP_REPLY);
        assert_eq!(rep.sha, GW);
        assert_eq!(rep.spa, req.tpa);
        assert_eq!(rep.tpa, req.spa);
        assert_eq!(dst_mac(&r), Some(HOST));
        assert_eq!(src_mac(&r), Some(GW));
        assert!(parse_arp(&r[..40]).is_none());
    }

    #[test]
    fn neighbor_messages_parse_back_with_valid_checksums() {
        let host: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
        let gw: Ipv6Addr = "fd00:10:0:1::1".parse().unwrap();
        let mut f = Vec::new();
        neighbor_solicit(&mut f, HOST, host, gw);
        let ns = parse_nd(&f).unwrap();
        assert_eq!(ns.ty, ND_NEIGHBOR_SOLICIT);
        assert_eq!(ns.target, Some(gw));
        assert_eq!(ns.dst, "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(dst_mac(&f), Some([0x33, 0x33, 0xff, 0, 0, 1]));
        // A correct checksum sums to zero over pseudo-header and message.
        assert_eq!(checksum_v6(&ns.src, &ns.dst, &f[54..]), 0);
        let mut a = Vec::new();
        neighbor_advert(&mut a, host, HOST, gw, GW);
        let na = parse_nd(&a).unwrap();
        assert_eq!(
            (na.ty, na.src, na.dst, na.target),
            (ND_NEIGHBOR_ADVERT, gw, host, Some(gw))
        );
        assert_eq!(checksum_v6(&na.src, &na.dst, &a[54..]), 0);
        // etherparse agrees it is a valid ICMPv6 packet.
        assert!(
            matches!(nsg_packet::parse(&a), Ok(nsg_packet::Frame::Ip(m)) if m.is_neighbor_discovery())
        );
        assert!(parse_nd(&a[..60]).is_some_and(|n| n.target.is_none()));
    }
}

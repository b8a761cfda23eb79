//! IPv6 neighbour discovery (RFC 4861) over Ethernet: reading a
//! solicitation or advertisement, building them (with etherparse's
//! [`PacketBuilder`], which computes the ICMPv6 checksum).

use super::eth::ETH_LEN;
use super::ip::IPV6_LEN;
use crate::{ether_type, proto};
use etherparse::{icmpv6::NeighborAdvertisementHeader, Icmpv6Type, PacketBuilder};
use std::net::Ipv6Addr;

/// ICMPv6 type of a router solicitation.
pub const ROUTER_SOLICIT: u8 = 133;
/// ICMPv6 type of a neighbour solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type of a neighbour advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Option type: source link-layer address.
const OPT_SOURCE_LL: u8 = 1;
/// Option type: target link-layer address.
const OPT_TARGET_LL: u8 = 2;
/// The hop limit every neighbour discovery message carries.
const HOP_LIMIT: u8 = 255;

/// The fields of an untagged neighbour discovery message (ICMPv6 directly
/// after the IPv6 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nd {
    /// ICMPv6 type.
    pub ty: u8,
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// Target address of a solicitation or advertisement.
    pub target: Option<Ipv6Addr>,
}

fn v6(s: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(s);
    Ipv6Addr::from(o)
}

/// Read a neighbour discovery message; `None` for anything else or a
/// frame cut short (a missing target is `None` in [`Nd::target`]).
pub fn parse(frame: &[u8]) -> Option<Nd> {
    if frame.get(12..14)? != ether_type::IPV6.to_be_bytes() {
        return None;
    }
    let ip = frame.get(ETH_LEN..ETH_LEN + IPV6_LEN)?;
    if ip[0] >> 4 != 6 || ip[6] != proto::ICMPV6 {
        return None;
    }
    let icmp = frame.get(ETH_LEN + IPV6_LEN..)?;
    let ty = *icmp.first()?;
    let target = match ty {
        NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT => icmp.get(8..24).map(v6),
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

/// The body after the ICMPv6 header: the target address and one
/// link-layer address option of type `option` carrying `mac`.
fn target_and_option(target: Ipv6Addr, option: u8, mac: [u8; 6]) -> [u8; 24] {
    let mut body = [0u8; 24];
    body[..16].copy_from_slice(&target.octets());
    body[16] = option;
    body[17] = 1; // length in units of 8 bytes
    body[18..].copy_from_slice(&mac);
    body
}

/// An ICMPv6 message of type `ty` (hop limit 255, no traffic class or flow
/// label) with `body`, in an Ethernet frame, into `out`.
fn build(
    out: &mut Vec<u8>,
    macs: ([u8; 6], [u8; 6]),
    ips: (Ipv6Addr, Ipv6Addr),
    ty: Icmpv6Type,
    body: &[u8],
) {
    out.clear();
    let (eth_src, eth_dst) = macs;
    // Cannot fail: a Vec grows as needed and the payload is far below the
    // IPv6 length limit.
    PacketBuilder::ethernet2(eth_src, eth_dst)
        .ipv6(ips.0.octets(), ips.1.octets(), HOP_LIMIT)
        .icmpv6(ty)
        .write_to_vec(out, body)
        .expect("a neighbour discovery message fits any Vec");
}

/// A neighbour advertisement answering a solicitation from `to`/`to_mac`:
/// `target` is at `mac` (router flag set: nsg speaks for gateways, and as
/// a proxy for the NICs behind it), into `out`.
pub fn neighbor_advert(
    out: &mut Vec<u8>,
    to: Ipv6Addr,
    to_mac: [u8; 6],
    target: Ipv6Addr,
    mac: [u8; 6],
) {
    let flags = NeighborAdvertisementHeader {
        router: true,
        solicited: true,
        r#override: true,
    };
    let body = target_and_option(target, OPT_TARGET_LL, mac);
    build(
        out,
        (mac, to_mac),
        (target, to),
        Icmpv6Type::NeighborAdvertisement(flags),
        &body,
    );
}

/// A neighbour solicitation for `target` from `from`/`mac`, to its
/// solicited-node group, into `out`.
pub fn neighbor_solicit(out: &mut Vec<u8>, mac: [u8; 6], from: Ipv6Addr, target: Ipv6Addr) {
    let (group, group_mac) = solicited_node(target);
    let body = target_and_option(target, OPT_SOURCE_LL, mac);
    build(
        out,
        (mac, group_mac),
        (from, group),
        Icmpv6Type::NeighborSolicitation,
        &body,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{fold, sum16};
    use crate::wire::dst_mac;

    const GW: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
    const HOST: [u8; 6] = [2, 0, 0, 0, 0, 4];
    /// The bytes of the hand-written builder etherparse replaced.
    const NS_BYTES: [u8; 86] = [
        0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, 0x7d, 0x71, 0x00, 0x00,
        0x00, 0x00, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04,
    ];
    const NA_BYTES: [u8; 86] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x88, 0x00, 0x9a, 0xfe, 0xe0, 0x00,
        0x00, 0x00, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x02, 0x01, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
    ];

    /// The ICMPv6 checksum of `icmp` from `src` to `dst` (zero when the
    /// message's own checksum is right).
    fn checksum(src: &Ipv6Addr, dst: &Ipv6Addr, icmp: &[u8]) -> u16 {
        let mut acc = sum16(&src.octets(), 0);
        acc = sum16(&dst.octets(), acc);
        acc += icmp.len() as u64 + u64::from(proto::ICMPV6);
        fold(sum16(icmp, acc))
    }

    #[test]
    fn neighbor_messages_parse_back_with_valid_checksums() {
        let host: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
        let gw: Ipv6Addr = "fd00:10:0:1::1".parse().unwrap();
        let mut f = Vec::new();
        neighbor_solicit(&mut f, HOST, host, gw);
        let ns = parse(&f).unwrap();
        assert_eq!(ns.ty, NEIGHBOR_SOLICIT);
        assert_eq!(ns.target, Some(gw));
        assert_eq!(ns.dst, "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(dst_mac(&f), Some([0x33, 0x33, 0xff, 0, 0, 1]));
        // A correct checksum sums to zero over pseudo-header and message.
        assert_eq!(checksum(&ns.src, &ns.dst, &f[54..]), 0);
        let mut a = Vec::new();
        neighbor_advert(&mut a, host, HOST, gw, GW);
        let na = parse(&a).unwrap();
        assert_eq!(
            (na.ty, na.src, na.dst, na.target),
            (NEIGHBOR_ADVERT, gw, host, Some(gw))
        );
        assert_eq!(checksum(&na.src, &na.dst, &a[54..]), 0);
        // etherparse agrees it is a valid ICMPv6 packet.
        assert!(matches!(crate::parse(&a), Ok(crate::Frame::Ip(m)) if m.is_neighbor_discovery()));
        assert!(parse(&a[..60]).is_some_and(|n| n.target.is_none()));
    }

    #[test]
    fn frames_are_the_bytes_the_switch_always_sent() {
        let host: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
        let gw: Ipv6Addr = "fd00:10:0:1::1".parse().unwrap();
        let mut f = Vec::new();
        neighbor_solicit(&mut f, HOST, host, gw);
        assert_eq!(f, NS_BYTES);
        neighbor_advert(&mut f, host, HOST, gw, GW);
        assert_eq!(f, NA_BYTES);
    }
}

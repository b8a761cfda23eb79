//! ARP for IPv4 over Ethernet: reading a request or reply, building one
//! (with etherparse's [`PacketBuilder`]).

use super::eth::{BROADCAST, ETH_LEN};
use crate::ether_type;
use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder};
use std::net::Ipv4Addr;

/// ARP operation: request.
pub const REQUEST: u16 = 1;
/// ARP operation: reply.
pub const REPLY: u16 = 2;
/// The shortest Ethernet frame (without FCS) a NIC sends; ARP is padded to it.
const MIN_FRAME: usize = 60;

/// The fields of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// Operation ([`REQUEST`] or [`REPLY`]).
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub tha: [u8; 6],
    /// Target protocol address: the address asked about.
    pub tpa: Ipv4Addr,
}

/// Read an untagged Ethernet/IPv4 ARP frame; `None` for anything else or
/// a frame cut short.
pub fn parse(frame: &[u8]) -> Option<Arp> {
    if frame.get(12..14)? != ether_type::ARP.to_be_bytes() {
        return None;
    }
    let a = frame.get(ETH_LEN..ETH_LEN + 28)?;
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

/// The ARP frame of `a` to `eth_dst` (from `a.sha`) into `out`, padded to
/// the Ethernet minimum as a NIC would.
pub fn build(out: &mut Vec<u8>, eth_dst: [u8; 6], a: &Arp) {
    out.clear();
    // Cannot fail: both hardware addresses are 6 bytes, both protocol
    // addresses 4.
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation(a.op),
        &a.sha,
        &a.spa.octets(),
        &a.tha,
        &a.tpa.octets(),
    )
    .expect("Ethernet/IPv4 ARP addresses have fixed lengths");
    // Cannot fail: a Vec grows as needed.
    PacketBuilder::ethernet2(a.sha, eth_dst)
        .arp(packet)
        .write_to_vec(out)
        .expect("writing to a Vec does not fail");
    out.resize(MIN_FRAME, 0);
}

/// The reply to `req` saying `req.tpa` is at `mac`, into `out`.
pub fn reply(out: &mut Vec<u8>, req: &Arp, mac: [u8; 6]) {
    let a = Arp {
        op: REPLY,
        sha: mac,
        spa: req.tpa,
        tha: req.sha,
        tpa: req.spa,
    };
    build(out, req.sha, &a);
}

/// A broadcast request for `target`'s address, from `mac`/`sender`, into `out`.
pub fn request(out: &mut Vec<u8>, mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) {
    let a = Arp {
        op: REQUEST,
        sha: mac,
        spa: sender,
        tha: [0; 6],
        tpa: target,
    };
    build(out, BROADCAST, &a);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{dst_mac, src_mac};

    const GW: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
    const HOST: [u8; 6] = [2, 0, 0, 0, 0, 4];
    /// The bytes of the hand-written builder etherparse replaced.
    const ARP_REQUEST_BYTES: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x0a, 0x00,
        0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    const ARP_REPLY_BYTES: [u8; 60] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x0a, 0x00,
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x0a, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn reply_answers_the_request() {
        let mut f = Vec::new();
        request(
            &mut f,
            HOST,
            "10.0.1.4".parse().unwrap(),
            "10.0.1.1".parse().unwrap(),
        );
        let req = parse(&f).unwrap();
        assert_eq!(req.op, REQUEST);
        assert_eq!(dst_mac(&f), Some(BROADCAST));
        let mut r = Vec::new();
        reply(&mut r, &req, GW);
        let rep = parse(&r).unwrap();
        assert_eq!(rep.op, REPLY);
        assert_eq!(rep.sha, GW);
        assert_eq!(rep.spa, req.tpa);
        assert_eq!(rep.tpa, req.spa);
        assert_eq!(dst_mac(&r), Some(HOST));
        assert_eq!(src_mac(&r), Some(GW));
        assert!(parse(&r[..40]).is_none());
    }

    #[test]
    fn frames_are_the_bytes_the_switch_always_sent() {
        let mut f = Vec::new();
        let (host, gw) = ("10.0.1.4".parse().unwrap(), "10.0.1.1".parse().unwrap());
        request(&mut f, HOST, host, gw);
        assert_eq!(f, ARP_REQUEST_BYTES);
        let req = parse(&f).unwrap();
        reply(&mut f, &req, GW);
        assert_eq!(f, ARP_REPLY_BYTES);
    }
}

//! Router advertisements on NIC ports of IPv6 subnets, answering router
//! solicitations as Azure's host does: from [`ROUTER_LL`] at the gateway's
//! hardware address, a default router for 30 minutes, the managed and
//! other-configuration flags set (addresses come by DHCPv6), no prefix
//! (hosts send everything to the router, which routes by IP).

use super::stats::Disposition;
use super::{neigh, Action, Decided, PortId, SwitchWorker, Topology, ROUTER_LL};
use nsg_packet::proto;
use nsg_packet::wire::{self, Checksum, Endpoint, IpFields};
use std::net::{IpAddr, Ipv6Addr};

/// ICMPv6 type of a router advertisement.
pub const ROUTER_ADVERT: u8 = 134;
/// How long hosts keep nsg as their default router, in seconds.
pub const ROUTER_LIFETIME: u16 = 1800;
/// Managed address configuration (DHCPv6 gives addresses).
const FLAG_MANAGED: u8 = 0x80;
/// Other configuration (by DHCPv6).
const FLAG_OTHER: u8 = 0x40;
/// The hop limit hosts are told to use.
const CUR_HOP_LIMIT: u8 = 64;
/// All-nodes multicast group.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A router advertisement from `mac`/[`ROUTER_LL`] to `to`/`to_mac`.
pub fn router_advert(out: &mut Vec<u8>, mac: [u8; 6], to: Ipv6Addr, to_mac: [u8; 6]) {
    let lifetime = ROUTER_LIFETIME.to_be_bytes();
    let rest = [
        CUR_HOP_LIMIT,
        FLAG_MANAGED | FLAG_OTHER,
        lifetime[0],
        lifetime[1],
    ];
    // Reachable time and retransmission timer unspecified, then the
    // source link-layer address option.
    let mut body = [0u8; 16];
    body[8] = 1;
    body[9] = 1;
    body[10..].copy_from_slice(&mac);
    let mut icmp = wire::icmp_message(ROUTER_ADVERT, 0, rest, &body);
    let (src, dst) = (IpAddr::V6(ROUTER_LL), IpAddr::V6(to));
    wire::set_checksum(&mut icmp, src, dst, proto::ICMPV6, Checksum::Pseudo(2));
    *out = wire::ip_frame(
        &Endpoint::new(mac, src),
        &Endpoint::new(to_mac, dst),
        proto::ICMPV6,
        &icmp,
        IpFields::new(255, 0, false),
    );
}

impl SwitchWorker {
    /// Answer a router solicitation on a NIC's port whose subnet has an
    /// IPv6 prefix (to the soliciting host, or to all nodes when it has no
    /// address yet).
    pub(super) fn router_advert(
        &mut self,
        t: &Topology,
        ingress: PortId,
        nd: &neigh::Nd,
        src_mac: [u8; 6],
    ) -> Decided {
        if t.gw6.get(ingress).is_none_or(|g| g.is_empty()) {
            return (Disposition::Neighbor, Action::Drop);
        }
        let (to, to_mac) = if nd.src.is_unspecified() {
            (ALL_NODES, neigh::multicast_mac(&ALL_NODES))
        } else {
            (nd.src, src_mac)
        };
        router_advert(&mut self.out, self.switch.gateway_mac, to, to_mac);
        self.stats.host.router_adverts += 1;
        (Disposition::Platform, Action::Emit(ingress))
    }
}

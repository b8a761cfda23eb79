//! The slow path of the switch: ARP and neighbour discovery. On a NIC's
//! port every request and solicitation from its host is answered with the
//! gateway's hardware address, as Azure's host does (never forwarded to
//! another NIC); on the uplink those for the NICs' addresses. Hosts'
//! hardware addresses are learned from what they send.

use super::stats::Disposition;
use super::{neigh, Action, Decided, PortId, SwitchWorker, Topology};
use crate::policy::Published;
use neigh::{Arp, Nd};
use std::net::{IpAddr, Ipv6Addr};

fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether a NIC's host soliciting `target` from `src` gets the gateway's
/// hardware address: any target but its own address (a host checking its
/// own) and other link-local addresses (link-local traffic is not routed;
/// the router's own, [`ROUTER_LL`](super::ROUTER_LL), is answered).
fn answered_v6(src: &Ipv6Addr, target: &Ipv6Addr) -> bool {
    target != src && (!is_link_local_v6(target) || *target == super::ROUTER_LL)
}

impl SwitchWorker {
    pub(super) fn arp(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        frame: &[u8],
    ) -> Decided {
        let Some(a) = neigh::parse_arp(frame) else {
            return (Disposition::Filtered, Action::Drop);
        };
        let sw = self.switch.clone();
        let spa = IpAddr::V4(a.spa);
        let Some(n) = t.nic(ingress) else {
            // The uplink: answer for the NICs behind nsg, learn the rest.
            if p.owner(&spa).is_some() {
                return (Disposition::Spoofed, Action::Drop);
            }
            sw.neighbors.learn_uplink(ingress, spa, a.sha);
            if a.op == neigh::ARP_REQUEST && t.port_of(p, &IpAddr::V4(a.tpa)).is_some() {
                return self.arp_answer(ingress, &a);
            }
            return (Disposition::Neighbor, Action::Drop);
        };
        // A probe (sender 0.0.0.0) is a host checking that an address is
        // free: never answered, nothing learned.
        if a.spa.is_unspecified() {
            return (Disposition::Neighbor, Action::Drop);
        }
        if p.owner(&spa) != Some(n) {
            return (Disposition::Spoofed, Action::Drop);
        }
        sw.neighbors.learn_port(ingress, a.sha);
        // As Azure's host: every request is answered with the gateway's
        // hardware address, whatever the target, and what follows is routed
        // by IP; announcements (a request for the sender's own address) and
        // replies are absorbed.
        if a.op == neigh::ARP_REQUEST && a.tpa != a.spa {
            self.arp_answer(ingress, &a)
        } else {
            (Disposition::Neighbor, Action::Drop)
        }
    }

    fn arp_answer(&mut self, ingress: PortId, a: &Arp) -> Decided {
        neigh::arp_reply(&mut self.out, a, self.switch.gateway_mac);
        self.stats.arp_replies += 1;
        (Disposition::Neighbor, Action::Emit(ingress))
    }

    pub(super) fn nd(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        frame: &[u8],
        src_mac: [u8; 6],
    ) -> Decided {
        let Some(nd) = neigh::parse_nd(frame) else {
            return (Disposition::Neighbor, Action::Drop);
        };
        let sw = self.switch.clone();
        let src = IpAddr::V6(nd.src);
        let target = nd.target.map(IpAddr::V6);
        let Some(n) = t.nic(ingress) else {
            if p.owner(&src).is_some() {
                return (Disposition::Spoofed, Action::Drop);
            }
            sw.neighbors.learn_uplink(ingress, src, src_mac);
            if nd.ty == neigh::ND_NEIGHBOR_SOLICIT
                && !nd.src.is_unspecified()
                && target.is_some_and(|tg| t.port_of(p, &tg).is_some())
            {
                return self.nd_answer(ingress, &nd, src_mac);
            }
            return (Disposition::Neighbor, Action::Drop);
        };
        // Duplicate address detection (source `::`): never answered,
        // nothing learned.
        if nd.src.is_unspecified() {
            return (Disposition::Neighbor, Action::Drop);
        }
        if !is_link_local_v6(&nd.src) && p.owner(&src) != Some(n) {
            return (Disposition::Spoofed, Action::Drop);
        }
        sw.neighbors.learn_port(ingress, src_mac);
        match (nd.ty, nd.target) {
            (neigh::ND_NEIGHBOR_SOLICIT, Some(tg)) if answered_v6(&nd.src, &tg) => {
                self.nd_answer(ingress, &nd, src_mac)
            }
            (neigh::ND_ROUTER_SOLICIT, _) if sw.host_services => {
                self.router_advert(t, ingress, &nd, src_mac)
            }
            _ => (Disposition::Neighbor, Action::Drop),
        }
    }

    fn nd_answer(&mut self, ingress: PortId, nd: &Nd, src_mac: [u8; 6]) -> Decided {
        let Some(target) = nd.target else {
            return (Disposition::Neighbor, Action::Drop);
        };
        neigh::neighbor_advert(
            &mut self.out,
            nd.src,
            src_mac,
            target,
            self.switch.gateway_mac,
        );
        self.stats.nd_replies += 1;
        (Disposition::Neighbor, Action::Emit(ingress))
    }
}

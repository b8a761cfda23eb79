//! The slow path of the switch: ARP and neighbour discovery, answered for
//! the gateways (and on the uplink for the NICs), forwarded between NIC
//! ports, learned from.

use super::stats::Disposition;
use super::{neigh, Action, Decided, PortId, SwitchWorker, Topology};
use crate::policy::Published;
use neigh::{Arp, Nd};
use std::net::{IpAddr, Ipv6Addr};

fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl SwitchWorker {
    /// The NIC port whose host has hardware address `mac`.
    fn port_by_mac(&self, t: &Topology, mac: &[u8; 6]) -> Option<PortId> {
        (0..t.nic_of_port.len()).find(|&port| {
            t.nic_of_port[port].is_some()
                && (t.policy_mac[port].as_ref() == Some(mac)
                    || self.switch.neighbors.port_mac(port).as_ref() == Some(mac))
        })
    }

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
        let unspecified = a.spa.is_unspecified();
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
        if !unspecified && p.owner(&spa) != Some(n) {
            return (Disposition::Spoofed, Action::Drop);
        }
        if !unspecified {
            sw.neighbors.learn_port(ingress, a.sha);
        }
        let to_gateway = t.gw4[ingress].contains(&a.tpa);
        let owner_port = t.port_of(p, &IpAddr::V4(a.tpa)).filter(|&o| o != ingress);
        match a.op {
            neigh::ARP_REQUEST if to_gateway && !unspecified => self.arp_answer(ingress, &a),
            neigh::ARP_REQUEST | neigh::ARP_REPLY if !to_gateway => {
                let port = owner_port.or_else(|| {
                    (a.op == neigh::ARP_REPLY)
                        .then(|| self.port_by_mac(t, &a.tha))
                        .flatten()
                        .filter(|&o| o != ingress)
                });
                match port {
                    Some(o) => (Disposition::Neighbor, Action::Forward(o)),
                    None => (Disposition::Neighbor, Action::Drop),
                }
            }
            _ => (Disposition::Neighbor, Action::Drop),
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
        let ok = nd.src.is_unspecified() || is_link_local_v6(&nd.src) || p.owner(&src) == Some(n);
        if !ok {
            return (Disposition::Spoofed, Action::Drop);
        }
        if !nd.src.is_unspecified() {
            sw.neighbors.learn_port(ingress, src_mac);
        }
        let to_gateway = nd.target.is_some_and(|tg| t.gw6[ingress].contains(&tg))
            || t.gw6[ingress].contains(&nd.dst);
        match nd.ty {
            neigh::ND_NEIGHBOR_SOLICIT if to_gateway => {
                if nd.src.is_unspecified() {
                    (Disposition::Neighbor, Action::Drop)
                } else {
                    self.nd_answer(ingress, &nd, src_mac)
                }
            }
            neigh::ND_NEIGHBOR_SOLICIT | neigh::ND_NEIGHBOR_ADVERT if !to_gateway => {
                let by_ip = if nd.ty == neigh::ND_NEIGHBOR_SOLICIT {
                    target.and_then(|tg| t.port_of(p, &tg))
                } else {
                    t.port_of(p, &IpAddr::V6(nd.dst))
                };
                let port = by_ip.filter(|&o| o != ingress).or_else(|| {
                    neigh::dst_mac(frame)
                        .filter(|m| !neigh::is_multicast_mac(m))
                        .and_then(|m| self.port_by_mac(t, &m))
                        .filter(|&o| o != ingress)
                });
                match port {
                    Some(o) => (Disposition::Neighbor, Action::Forward(o)),
                    None => (Disposition::Neighbor, Action::Drop),
                }
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

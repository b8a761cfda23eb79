//! The virtual switch between nsg's ports. Each port is bound to one NIC of
//! the policy, or is the uplink (everything outside the VNets). A frame that
//! comes in on a NIC's port was sent by that NIC: its source address must be
//! one of the NIC's (anti-spoofing); it goes to the port of the NIC that owns
//! its destination address, or to the uplink. Every IP packet is judged by
//! the pipeline (outbound at the sender's NIC, inbound at the receiver's)
//! before it leaves.
//!
//! nsg is also the subnets' gateway, as Azure's host is: on a NIC's port it
//! answers every ARP request and neighbour solicitation of the host with a
//! hardware address of its own ([`GATEWAY_MAC`]), whatever the target, and
//! routes what follows by IP, so hosts configured as on Azure (subnet
//! prefix, default gateway) and hosts with on-link routes to anything both
//! work; ARP and neighbour discovery never pass between NICs. On the uplink
//! it answers for the NICs' addresses. Unless the run has `--no-dhcp`, it
//! also answers DHCPv4, DHCPv6 and router solicitations on NIC ports, as
//! the platform, before any rule ([`dhcp`], `dhcp6`, `ra`). Frames to a NIC
//! get that NIC's hardware address (the policy's `mac`, else the one
//! learned from its port); routed frames (across subnets, to and from the
//! uplink) get the gateway's as source.

mod answer;
pub mod dhcp;
pub mod dhcp6;
mod learn;
mod neigh;
mod ra;
pub mod stats;
mod topology;

pub use learn::Neighbors;
pub use topology::{gateway, BindError, Role, Topology};

use crate::pipeline::{Outcome, Worker};
use crate::policy::Published;
use nsg_flow::Timestamp;
use nsg_packet::{Frame, PacketMeta};
use stats::{Disposition, SwitchStats};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// A port's index, in the order the ports were given.
pub type PortId = usize;

/// The hardware address nsg answers with for the gateways (Azure's host
/// answers with this one too); policy validation refuses it as a NIC's MAC.
pub use nsg_policy::GATEWAY_MAC;

/// The link-local address nsg's router advertisements and DHCPv6 replies
/// come from (Azure's host uses this one): hosts' IPv6 default route.
pub const ROUTER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x1234, 0x5678, 0x9abc);

/// What the switch shares between workers: the ports' roles and names,
/// the gateway address, the learned neighbours.
pub struct Switch {
    /// Per port, in the order given: which NIC it is, or the uplink.
    pub roles: Vec<Role>,
    /// Per port: its device name, for messages and metrics.
    pub names: Vec<String>,
    /// The address ARP and neighbour answers give for the gateways
    /// ([`GATEWAY_MAC`]).
    pub gateway_mac: [u8; 6],
    /// Hardware addresses learned on the ports, written by every worker.
    pub neighbors: Neighbors,
    /// Answer DHCPv4, DHCPv6 and router solicitations on NIC ports (on
    /// unless the run has `--no-dhcp`; off, they take the normal path).
    pub host_services: bool,
}

impl Switch {
    /// `peer_macs`: per port, the host's address when known at start (a
    /// TAP's kernel side).
    pub fn new(roles: Vec<Role>, names: Vec<String>, peer_macs: &[Option<[u8; 6]>]) -> Switch {
        Switch {
            neighbors: Neighbors::new(peer_macs),
            roles,
            names,
            gateway_mac: GATEWAY_MAC,
            host_services: true,
        }
    }

    /// The same switch with DHCP and router advertisements on or off.
    pub fn with_host_services(mut self, on: bool) -> Switch {
        self.host_services = on;
        self
    }
}

/// What to do with a frame after [`SwitchWorker::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the frame (addresses rewritten in place) to a port.
    Forward(PortId),
    /// Send [`SwitchWorker::emitted`] to a port instead of the frame (an ARP
    /// or neighbour answer, or a solicitation; the frame itself is dropped,
    /// or held until its destination answers).
    Emit(PortId),
    /// Drop the frame.
    Drop,
}

fn is_group(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_unspecified(),
        IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
    }
}

/// One worker's switch: its pipeline, its counters, its view of the
/// topology.
pub struct SwitchWorker {
    /// The worker's pipeline, which judges every IP packet it switches.
    pub pipeline: Worker,
    /// This worker's switch counters (merged with the others' for reports).
    pub stats: SwitchStats,
    switch: Arc<Switch>,
    topo: Option<Arc<Topology>>,
    out: Vec<u8>,
    pending: Vec<Held>,
    /// A round's IP packets to judge: their frames' places and egress ports.
    round: Vec<(usize, PortId)>,
    /// Their packets and times, as the pipeline takes them.
    metas: Vec<(PacketMeta, Timestamp)>,
    /// Their verdicts.
    results: Vec<crate::pipeline::FrameResult>,
}

/// An allowed frame waiting for its destination's hardware address.
struct Held {
    port: PortId,
    target: IpAddr,
    since: Timestamp,
    /// The virtio-net header it came with (empty if none).
    hdr: Vec<u8>,
    frame: Vec<u8>,
}

/// Frames a worker holds at most while addresses are resolved.
pub const MAX_PENDING: usize = 64;
/// How long a held frame waits for an answer.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) type Decided = (Disposition, Action);

/// An IP packet the switch forwards if the pipeline allows it.
struct ToJudge {
    /// The parsed packet.
    meta: PacketMeta,
    /// The port it leaves by.
    egress: PortId,
}

/// What [`SwitchWorker::decide`] made of a frame.
enum Pre {
    /// Decided without the pipeline.
    Done(Decided),
    /// An IP packet to judge.
    Judge(ToJudge),
}

impl SwitchWorker {
    /// A worker of `switch` judging with `pipeline`; its topology is built
    /// at the first frame, from the policy then in force.
    pub fn new(switch: Arc<Switch>, pipeline: Worker) -> SwitchWorker {
        SwitchWorker {
            stats: SwitchStats::new(switch.roles.len()),
            pipeline,
            switch,
            topo: None,
            out: Vec::with_capacity(128),
            pending: Vec::new(),
            round: Vec::new(),
            metas: Vec::new(),
            results: Vec::new(),
        }
    }

    /// The frame an [`Action::Emit`] sends.
    pub fn emitted(&self) -> &[u8] {
        &self.out
    }

    /// The topology of `p`, rebuilt when the generation changed. A policy
    /// that does not bind (refused before publication) keeps the last one.
    fn topology(&mut self, p: &Published) -> Option<Arc<Topology>> {
        if self.topo.as_ref().map(|t| t.generation) != Some(p.generation) {
            match Topology::build(p.policy(), p.generation, &self.switch.roles) {
                Ok(t) => self.topo = Some(Arc::new(t)),
                Err(e) => tracing::warn!("policy generation {}: {e}", p.generation),
            }
        }
        self.topo.clone()
    }

    /// Switch one frame that came in on `ingress`.
    pub fn handle(
        &mut self,
        p: &Published,
        ingress: PortId,
        frame: &mut [u8],
        now: Timestamp,
    ) -> Action {
        self.handle_offloaded(p, ingress, &[], frame, now)
    }

    /// Switch one frame that came in on `ingress` after the virtio-net
    /// header `hdr` (kept with the frame if it must wait).
    pub fn handle_offloaded(
        &mut self,
        p: &Published,
        ingress: PortId,
        hdr: &[u8],
        frame: &mut [u8],
        now: Timestamp,
    ) -> Action {
        let len = frame.len();
        let (d, a) = match self.topology(p) {
            Some(t) => match self.decide(&t, p, ingress, frame) {
                Pre::Done(d) => d,
                Pre::Judge(j) => {
                    let r = self.pipeline.judge(p, &j.meta, now);
                    self.judged(
                        &t,
                        p,
                        (ingress, hdr, frame),
                        (&j.meta, j.egress),
                        r.outcome,
                        now,
                    )
                }
            },
            None => (Disposition::NoRoute, Action::Drop),
        };
        self.count(ingress, d, len);
        a
    }

    /// Switch a round of frames that came in on `ingress`, each after its
    /// virtio-net header (`(hdr, frame)`, frames rewritten in place), as
    /// [`SwitchWorker::handle_offloaded`] would one after the other, but
    /// with the round's IP packets judged together
    /// ([`Worker::judge_parsed`](crate::pipeline::Worker)). `done(k,
    /// action, emitted, stats)` is called once per frame `k`: at once for
    /// a frame the switch decides alone (ARP, neighbour discovery, DHCP,
    /// drops), after the round's verdicts for the judged ones, in order;
    /// `emitted` is what an [`Action::Emit`] sends, valid during the call.
    pub fn handle_round(
        &mut self,
        p: &Published,
        ingress: PortId,
        frames: &mut [(&mut [u8], &mut [u8])],
        now: Timestamp,
        mut done: impl FnMut(usize, Action, &[u8], &mut SwitchStats),
    ) {
        let Some(t) = self.topology(p) else {
            for (k, (_, frame)) in frames.iter().enumerate() {
                self.count(ingress, Disposition::NoRoute, frame.len());
                done(k, Action::Drop, &[], &mut self.stats);
            }
            return;
        };
        let mut round = std::mem::take(&mut self.round);
        round.clear();
        self.metas.clear();
        for (k, (_, frame)) in frames.iter_mut().enumerate() {
            match self.decide(&t, p, ingress, frame) {
                Pre::Done((d, a)) => {
                    self.count(ingress, d, frame.len());
                    done(k, a, &self.out, &mut self.stats);
                }
                Pre::Judge(j) => {
                    round.push((k, j.egress));
                    self.metas.push((j.meta, now));
                }
            }
        }
        if !round.is_empty() {
            let (metas, mut results) = (
                std::mem::take(&mut self.metas),
                std::mem::take(&mut self.results),
            );
            self.pipeline.judge_parsed(p, &metas, &mut results);
            for ((&(k, egress), r), (m, _)) in round.iter().zip(&results).zip(&metas) {
                let (hdr, frame) = &mut frames[k];
                let (d, a) = self.judged(&t, p, (ingress, hdr, frame), (m, egress), r.outcome, now);
                self.count(ingress, d, frame.len());
                done(k, a, &self.out, &mut self.stats);
            }
            (self.metas, self.results) = (metas, results);
        }
        self.round = round;
    }

    /// Count a frame of `len` bytes from `ingress` under disposition `d`.
    fn count(&mut self, ingress: PortId, d: Disposition, len: usize) {
        if let Some(s) = self.stats.ports.get_mut(ingress) {
            s.by_disposition[d.index()].add(len);
        }
    }

    /// Everything about a frame but the pipeline's verdict: the slow path
    /// (ARP, neighbour discovery, DHCP and router advertisements, frames
    /// that do not parse or go nowhere) is decided here; an IP packet to
    /// forward comes back to be judged.
    fn decide(&mut self, t: &Topology, p: &Published, ingress: PortId, frame: &mut [u8]) -> Pre {
        let Some(src_mac) = neigh::src_mac(frame) else {
            let _ = self.pipeline.parse(frame);
            return Pre::Done((Disposition::Dropped, Action::Drop));
        };
        Pre::Done(match self.pipeline.parse(frame) {
            Err(_) => (Disposition::Dropped, Action::Drop),
            Ok(Frame::Arp { vlans }) if vlans.outer.is_none() => {
                self.pipeline.count_not_ip();
                self.arp(t, p, ingress, frame)
            }
            Ok(Frame::Ip(m)) if m.vlans.outer.is_none() => {
                if m.is_neighbor_discovery() {
                    self.pipeline.count_not_ip();
                    self.nd(t, p, ingress, frame, src_mac)
                } else if let Some(d) = self.platform(t, p, ingress, frame, &m, src_mac) {
                    self.pipeline.count_not_ip();
                    d
                } else {
                    return self.ip(t, p, ingress, m, src_mac);
                }
            }
            Ok(_) => (Disposition::Filtered, Action::Drop),
        })
    }

    /// An IP packet from `ingress`: dropped now when it is spoofed or goes
    /// nowhere (its sender's hardware address learned otherwise), else to
    /// be judged, with the port it leaves by.
    fn ip(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        m: PacketMeta,
        src_mac: [u8; 6],
    ) -> Pre {
        let src = m.tuple.src_ip();
        let dst = m.tuple.dst_ip();
        if is_group(&dst) {
            return Pre::Done((Disposition::Filtered, Action::Drop));
        }
        let sw = &self.switch;
        let nic_in = t.nic(ingress);
        match nic_in {
            Some(n) => {
                if p.owner_addr(&m.tuple.src) != Some(n) {
                    return Pre::Done((Disposition::Spoofed, Action::Drop));
                }
                sw.neighbors.learn_port(ingress, src_mac);
            }
            None => {
                if p.owner_addr(&m.tuple.src).is_some() {
                    return Pre::Done((Disposition::Spoofed, Action::Drop));
                }
                sw.neighbors.learn_uplink(ingress, src, src_mac);
            }
        }
        let egress = match p.owner_addr(&m.tuple.dst) {
            Some(d) => match t.port_of_nic.get(d.0 as usize).copied().flatten() {
                Some(port) => port,
                None => return Pre::Done((Disposition::NoRoute, Action::Drop)),
            },
            None => match t.uplink {
                Some(u) if nic_in.is_some() && !t.in_vnet(&dst) => u,
                _ => return Pre::Done((Disposition::NoRoute, Action::Drop)),
            },
        };
        Pre::Judge(ToJudge { meta: m, egress })
    }

    /// An IP packet from `ingress` after the pipeline's verdict `outcome`:
    /// dropped, or its addresses rewritten for `j.egress` and forwarded (or
    /// held while its destination's hardware address is asked for).
    fn judged(
        &mut self,
        t: &Topology,
        p: &Published,
        (ingress, hdr, frame): (PortId, &[u8], &mut [u8]),
        (m, egress): (&PacketMeta, PortId),
        outcome: Outcome,
        now: Timestamp,
    ) -> Decided {
        let src = m.tuple.src_ip();
        let dst = m.tuple.dst_ip();
        let sw = &self.switch;
        match outcome {
            // Denials are decided now (no flow entry keeps one): the
            // current policy names the rule.
            Outcome::Denied { decider, .. } => {
                tracing::debug!(
                    port = %sw.names.get(ingress).map_or("?", |n| n.as_str()),
                    proto = m.tuple.proto,
                    src = %src,
                    sport = m.tuple.src_port,
                    dst = %dst,
                    dport = m.tuple.dst_port,
                    rule = %decider.name(p.policy()).as_deref().unwrap_or("-"),
                    "denied"
                );
                return (Disposition::Denied, Action::Drop);
            }
            o if !o.passes() => return (Disposition::Dropped, Action::Drop),
            _ => {}
        }
        let routed = t.nic(ingress).is_none()
            || Some(egress) == t.uplink
            || t.subnet_of_port[egress] != t.subnet_of_port[ingress];
        let src_rewrite = routed.then_some(sw.gateway_mac);
        match self.neighbor_mac(t, egress, &dst) {
            Some(mac) => {
                neigh::set_macs(frame, mac, src_rewrite);
                (Disposition::Allowed, Action::Forward(egress))
            }
            None => {
                self.hold(egress, dst, hdr, frame, src_rewrite, now);
                self.solicit(t, egress, dst, src);
                (Disposition::NoNeighbor, Action::Emit(egress))
            }
        }
    }

    /// The hardware address to send to `ip` on `port`: the NIC's (from the
    /// policy, else learned), or on the uplink the one learned for `ip`
    /// (else the last sender seen there).
    fn neighbor_mac(&self, t: &Topology, port: PortId, ip: &IpAddr) -> Option<[u8; 6]> {
        let n = &self.switch.neighbors;
        if Some(port) == t.uplink {
            n.uplink_mac(port, ip)
        } else {
            t.policy_mac
                .get(port)
                .copied()
                .flatten()
                .or_else(|| n.port_mac(port))
        }
    }

    /// Keep an allowed frame until its destination's address is known.
    fn hold(
        &mut self,
        port: PortId,
        target: IpAddr,
        hdr: &[u8],
        frame: &[u8],
        src_rewrite: Option<[u8; 6]>,
        now: Timestamp,
    ) {
        if self.pending.len() >= MAX_PENDING {
            self.stats.unresolved += 1;
            return;
        }
        let mut f = frame.to_vec();
        if let Some(m) = src_rewrite {
            if f.len() >= 12 {
                f[6..12].copy_from_slice(&m);
            }
        }
        self.pending.push(Held {
            port,
            target,
            since: now,
            hdr: hdr.to_vec(),
            frame: f,
        });
    }

    /// Whether frames wait for an address.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Send the held frames whose destination's address is now known, and
    /// drop those that waited longer than [`RESOLVE_TIMEOUT`].
    pub fn release(
        &mut self,
        p: &Published,
        now: Timestamp,
        mut send: impl FnMut(PortId, &[u8], &[u8]),
    ) {
        let Some(t) = self.topology(p) else { return };
        let mut i = 0;
        while i < self.pending.len() {
            let h = &self.pending[i];
            if let Some(mac) = self.neighbor_mac(&t, h.port, &h.target) {
                let mut h = self.pending.swap_remove(i);
                neigh::set_macs(&mut h.frame, mac, None);
                send(h.port, &h.hdr, &h.frame);
            } else if now.since(h.since) > RESOLVE_TIMEOUT {
                self.pending.swap_remove(i);
                self.stats.unresolved += 1;
            } else {
                i += 1;
            }
        }
    }

    /// Ask for `target`'s hardware address on `port`, as its gateway (or,
    /// on the uplink, on behalf of `on_behalf`).
    fn solicit(&mut self, t: &Topology, port: PortId, target: IpAddr, on_behalf: IpAddr) {
        let mac = self.switch.gateway_mac;
        self.stats.solicitations += 1;
        match target {
            IpAddr::V4(tg) => {
                let from = t.gw4[port].first().copied().or(match on_behalf {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                });
                neigh::arp_request(
                    &mut self.out,
                    mac,
                    from.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    tg,
                );
            }
            IpAddr::V6(tg) => {
                let from = t.gw6[port].first().copied().or(match on_behalf {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                });
                neigh::neighbor_solicit(
                    &mut self.out,
                    mac,
                    from.unwrap_or(Ipv6Addr::UNSPECIFIED),
                    tg,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;

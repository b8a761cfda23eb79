//! The virtual switch between nsg's ports. Each port is bound to one NIC of
//! the policy, or is the uplink (everything outside the VNets). A frame that
//! comes in on a NIC's port was sent by that NIC: its source address must be
//! one of the NIC's (anti-spoofing); it goes to the port of the NIC that owns
//! its destination address, or to the uplink. Every IP packet is judged by
//! the pipeline (outbound at the sender's NIC, inbound at the receiver's)
//! before it leaves.
//!
//! nsg is also the subnets' gateway, as Azure's host is: it answers ARP and
//! neighbour solicitations for each subnet's first address (`.1`) with a
//! hardware address of its own, and on the uplink for the NICs' addresses,
//! so hosts configured as on Azure (subnet prefix, default gateway) work;
//! other ARP and neighbour discovery is forwarded between NIC ports, so hosts
//! with on-link routes work too. Frames to a NIC get that NIC's hardware
//! address (the policy's `mac`, else the one learned from its port); routed
//! frames (across subnets, to and from the uplink) get the gateway's as
//! source.

pub mod neigh;
pub mod stats;

use crate::pipeline::{Outcome, Worker};
use crate::policy::{decider_name, Published};
use ahash::AHashMap;
use ipnet::IpNet;
use neigh::{Arp, Nd};
use nsg_flow::{NicId, Timestamp};
use nsg_packet::{Frame, PacketMeta};
use nsg_policy::Policy;
use stats::{Disposition, SwitchStats};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A port's index, in the order the ports were given.
pub type PortId = usize;

/// The hardware address nsg answers with for the gateways (Azure's host
/// answers with this one too).
pub const GATEWAY_MAC: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];

/// What a port stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The port of the NIC of this name: what comes in was sent by it.
    Nic(String),
    /// Everything outside the policy's VNets.
    Uplink,
}

/// Why a policy cannot run on the ports as bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("port {port} is bound to NIC '{nic}', which the policy does not have")]
    UnknownNic { port: String, nic: String },
    #[error("NIC '{nic}' is bound to two ports")]
    TwoPorts { nic: String },
}

/// The switch's view of one policy generation: which NIC each port is,
/// the gateways of its subnet, the VNets' address space.
#[derive(Debug)]
pub struct Topology {
    pub generation: u64,
    nic_of_port: Vec<Option<NicId>>,
    port_of_nic: Vec<Option<PortId>>,
    subnet_of_port: Vec<Option<usize>>,
    gw4: Vec<Vec<Ipv4Addr>>,
    gw6: Vec<Vec<Ipv6Addr>>,
    policy_mac: Vec<Option<[u8; 6]>>,
    vnet_space: Vec<IpNet>,
    uplink: Option<PortId>,
}

/// The gateway of a subnet prefix: its first usable address.
pub fn gateway(prefix: &IpNet) -> Option<IpAddr> {
    match prefix {
        IpNet::V4(n) if n.prefix_len() <= 30 => {
            Some(IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 1)))
        }
        IpNet::V6(n) if n.prefix_len() <= 126 => {
            Some(IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 1)))
        }
        _ => None,
    }
}

impl Topology {
    /// Bind the ports' roles to a policy of a generation.
    pub fn build(policy: &Policy, generation: u64, roles: &[Role]) -> Result<Topology, BindError> {
        let mut t = Topology {
            generation,
            nic_of_port: vec![None; roles.len()],
            port_of_nic: vec![None; policy.nics.len()],
            subnet_of_port: vec![None; roles.len()],
            gw4: vec![Vec::new(); roles.len()],
            gw6: vec![Vec::new(); roles.len()],
            policy_mac: vec![None; roles.len()],
            vnet_space: policy
                .vnets
                .iter()
                .flat_map(|v| v.address_space.iter().copied())
                .collect(),
            uplink: None,
        };
        for (port, role) in roles.iter().enumerate() {
            match role {
                Role::Uplink => t.uplink = Some(port),
                Role::Nic(name) => {
                    let nic = policy
                        .nic_by_name(name)
                        .ok_or_else(|| BindError::UnknownNic {
                            port: format!("#{port}"),
                            nic: name.clone(),
                        })?;
                    if t.port_of_nic[nic].is_some() {
                        return Err(BindError::TwoPorts { nic: name.clone() });
                    }
                    t.port_of_nic[nic] = Some(port);
                    t.nic_of_port[port] = Some(NicId(nic as u16));
                    let n = &policy.nics[nic];
                    t.subnet_of_port[port] = Some(n.subnet);
                    t.policy_mac[port] = n.mac;
                    for prefix in &policy.subnets[n.subnet].prefixes {
                        match gateway(prefix) {
                            Some(IpAddr::V4(a)) => t.gw4[port].push(a),
                            Some(IpAddr::V6(a)) => t.gw6[port].push(a),
                            None => {}
                        }
                    }
                }
            }
        }
        Ok(t)
    }

    /// The NIC a port is bound to (`None` for the uplink).
    pub fn nic(&self, port: PortId) -> Option<NicId> {
        self.nic_of_port.get(port).copied().flatten()
    }

    /// The port of the NIC owning `ip`, if it has one.
    fn port_of(&self, p: &Published, ip: &IpAddr) -> Option<PortId> {
        p.owner(ip)
            .and_then(|n| self.port_of_nic.get(n.0 as usize).copied().flatten())
    }

    fn in_vnet(&self, ip: &IpAddr) -> bool {
        self.vnet_space.iter().any(|n| n.contains(ip))
    }
}

const MAC_KNOWN: u64 = 1 << 48;

fn mac_to_u64(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m);
    u64::from_be_bytes(b) | MAC_KNOWN
}

fn u64_to_mac(v: u64) -> Option<[u8; 6]> {
    if v & MAC_KNOWN == 0 {
        return None;
    }
    let b = v.to_be_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[2..]);
    Some(m)
}

/// Hardware addresses learned from the ports, shared by the workers.
pub struct Neighbors {
    /// Per port: the host behind a NIC's port; for the uplink, the last
    /// sender seen (a router, typically).
    port_mac: Vec<AtomicU64>,
    /// On the uplink: address -> hardware address.
    uplink: RwLock<AHashMap<IpAddr, [u8; 6]>>,
}

impl Neighbors {
    pub fn new(initial: &[Option<[u8; 6]>]) -> Neighbors {
        Neighbors {
            port_mac: initial
                .iter()
                .map(|m| AtomicU64::new(m.map_or(0, mac_to_u64)))
                .collect(),
            uplink: RwLock::new(AHashMap::new()),
        }
    }

    pub fn port_mac(&self, port: PortId) -> Option<[u8; 6]> {
        u64_to_mac(self.port_mac.get(port)?.load(Ordering::Relaxed))
    }

    fn learn_port(&self, port: PortId, mac: [u8; 6]) {
        if neigh::is_multicast_mac(&mac) || mac == [0; 6] {
            return;
        }
        if let Some(a) = self.port_mac.get(port) {
            let v = mac_to_u64(mac);
            if a.load(Ordering::Relaxed) != v {
                a.store(v, Ordering::Relaxed);
            }
        }
    }

    fn learn_uplink(&self, port: PortId, ip: IpAddr, mac: [u8; 6]) {
        if neigh::is_multicast_mac(&mac) || ip.is_unspecified() {
            return;
        }
        self.learn_port(port, mac);
        let known = self
            .uplink
            .read()
            .map(|m| m.get(&ip) == Some(&mac))
            .unwrap_or(true);
        if !known {
            if let Ok(mut m) = self.uplink.write() {
                m.insert(ip, mac);
            }
        }
    }

    fn uplink_mac(&self, port: PortId, ip: &IpAddr) -> Option<[u8; 6]> {
        self.uplink
            .read()
            .ok()
            .and_then(|m| m.get(ip).copied())
            .or_else(|| self.port_mac(port))
    }
}

/// What the switch shares between workers: the ports' roles and names,
/// the gateway address, the learned neighbours.
pub struct Switch {
    pub roles: Vec<Role>,
    pub names: Vec<String>,
    pub gateway_mac: [u8; 6],
    pub neighbors: Neighbors,
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
        }
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

fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// One worker's switch: its pipeline, its counters, its view of the
/// topology.
pub struct SwitchWorker {
    pub pipeline: Worker,
    pub stats: SwitchStats,
    switch: Arc<Switch>,
    topo: Option<Arc<Topology>>,
    out: Vec<u8>,
    pending: Vec<Held>,
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

type Decided = (Disposition, Action);

impl SwitchWorker {
    pub fn new(switch: Arc<Switch>, pipeline: Worker) -> SwitchWorker {
        SwitchWorker {
            stats: SwitchStats::new(switch.roles.len()),
            pipeline,
            switch,
            topo: None,
            out: Vec::with_capacity(128),
            pending: Vec::new(),
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
            Some(t) => self.decide(&t, p, ingress, hdr, frame, now),
            None => (Disposition::NoRoute, Action::Drop),
        };
        if let Some(s) = self.stats.ports.get_mut(ingress) {
            s.by_disposition[d.index()].add(len);
        }
        a
    }

    fn decide(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        hdr: &[u8],
        frame: &mut [u8],
        now: Timestamp,
    ) -> Decided {
        let Some(src_mac) = neigh::src_mac(frame) else {
            let _ = self.pipeline.parse(frame);
            return (Disposition::Dropped, Action::Drop);
        };
        match self.pipeline.parse(frame) {
            Err(_) => (Disposition::Dropped, Action::Drop),
            Ok(Frame::Arp { vlans }) if vlans.outer.is_none() => {
                self.pipeline.count_not_ip();
                self.arp(t, p, ingress, frame)
            }
            Ok(Frame::Ip(m)) if m.vlans.outer.is_none() => {
                if m.is_neighbor_discovery() {
                    self.pipeline.count_not_ip();
                    self.nd(t, p, ingress, frame, src_mac)
                } else {
                    self.ip(t, p, ingress, hdr, frame, &m, src_mac, now)
                }
            }
            Ok(_) => (Disposition::Filtered, Action::Drop),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ip(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        hdr: &[u8],
        frame: &mut [u8],
        m: &PacketMeta,
        src_mac: [u8; 6],
        now: Timestamp,
    ) -> Decided {
        let src = m.tuple.src_ip();
        let dst = m.tuple.dst_ip();
        if is_group(&dst) {
            return (Disposition::Filtered, Action::Drop);
        }
        let sw = &self.switch;
        let nic_in = t.nic(ingress);
        match nic_in {
            Some(n) => {
                if p.owner_addr(&m.tuple.src) != Some(n) {
                    return (Disposition::Spoofed, Action::Drop);
                }
                sw.neighbors.learn_port(ingress, src_mac);
            }
            None => {
                if p.owner_addr(&m.tuple.src).is_some() {
                    return (Disposition::Spoofed, Action::Drop);
                }
                sw.neighbors.learn_uplink(ingress, src, src_mac);
            }
        }
        let egress = match p.owner_addr(&m.tuple.dst) {
            Some(d) => match t.port_of_nic.get(d.0 as usize).copied().flatten() {
                Some(port) => port,
                None => return (Disposition::NoRoute, Action::Drop),
            },
            None => match t.uplink {
                Some(u) if nic_in.is_some() && !t.in_vnet(&dst) => u,
                _ => return (Disposition::NoRoute, Action::Drop),
            },
        };
        let r = self.pipeline.judge(p, m, now);
        match r.outcome {
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
                    rule = %decider_name(p.policy(), &decider),
                    "denied"
                );
                return (Disposition::Denied, Action::Drop);
            }
            o if !o.passes() => return (Disposition::Dropped, Action::Drop),
            _ => {}
        }
        let routed = nic_in.is_none()
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

    /// The NIC port whose host has hardware address `mac`.
    fn port_by_mac(&self, t: &Topology, mac: &[u8; 6]) -> Option<PortId> {
        (0..t.nic_of_port.len()).find(|&port| {
            t.nic_of_port[port].is_some()
                && (t.policy_mac[port].as_ref() == Some(mac)
                    || self.switch.neighbors.port_mac(port).as_ref() == Some(mac))
        })
    }

    fn arp(&mut self, t: &Topology, p: &Published, ingress: PortId, frame: &[u8]) -> Decided {
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

    fn nd(
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

#[cfg(test)]
mod tests;

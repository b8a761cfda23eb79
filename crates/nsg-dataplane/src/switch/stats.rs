//! Counters of the switch: per port, what came in (by disposition) and what
//! went out. Each worker keeps its own; they are merged for reports and
//! exported as deltas to metrics.

/// What became of a frame that came in on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// An IP packet the pipeline allowed, forwarded.
    Allowed,
    /// An IP packet a rule denied.
    Denied,
    /// Dropped by the pipeline before a verdict (malformed, orphan fragment,
    /// flow table full).
    Dropped,
    /// From a NIC's port with a source address that is not the NIC's, or
    /// from the uplink with a NIC's address (anti-spoofing).
    Spoofed,
    /// No port to send it to (an unassigned VNet address, a gateway
    /// address, no uplink).
    NoRoute,
    /// Broadcast and multicast IP, VLAN-tagged frames, EtherTypes other than
    /// IPv4, IPv6 and ARP: not switched.
    Filtered,
    /// ARP and neighbour discovery: answered, forwarded or absorbed.
    Neighbor,
    /// Allowed, but the destination's hardware address was unknown: a
    /// solicitation went out and the frame is held until the answer (sent
    /// then, counted in the port's tx), or dropped after a while (counted
    /// in [`SwitchStats::unresolved`]).
    NoNeighbor,
    /// Platform traffic nsg answers itself on a NIC's port, never judged by
    /// the rules: DHCPv4, DHCPv6 and router solicitations (unless the run
    /// has `--no-dhcp`). Malformed DHCP is counted here too, in
    /// [`SwitchStats::dhcp_malformed`].
    Platform,
}

impl Disposition {
    /// Every disposition, in the order of [`Disposition::index`].
    pub const ALL: [Disposition; 9] = [
        Disposition::Allowed,
        Disposition::Denied,
        Disposition::Dropped,
        Disposition::Spoofed,
        Disposition::NoRoute,
        Disposition::Filtered,
        Disposition::Neighbor,
        Disposition::NoNeighbor,
        Disposition::Platform,
    ];

    /// Its name in reports and the `verdict` label of metrics.
    pub fn name(self) -> &'static str {
        match self {
            Disposition::Allowed => "allowed",
            Disposition::Denied => "denied",
            Disposition::Dropped => "dropped",
            Disposition::Spoofed => "spoofed",
            Disposition::NoRoute => "no_route",
            Disposition::Filtered => "filtered",
            Disposition::Neighbor => "neighbor",
            Disposition::NoNeighbor => "no_neighbor",
            Disposition::Platform => "platform",
        }
    }

    /// Its index in [`PortStats::by_disposition`] (0..9).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Frames and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Frames counted.
    pub frames: u64,
    /// Their bytes, whole Ethernet frames without virtio-net header.
    pub bytes: u64,
}

impl Count {
    /// Count one frame of `bytes` bytes.
    #[inline]
    pub fn add(&mut self, bytes: usize) {
        self.frames += 1;
        self.bytes += bytes as u64;
    }

    /// Add `o`'s frames and bytes.
    pub fn merge(&mut self, o: &Count) {
        self.frames += o.frames;
        self.bytes += o.bytes;
    }
}

/// Counters of one port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames read from the port.
    pub rx: Count,
    /// Frames written to the port (forwarded, answers, solicitations).
    pub tx: Count,
    /// Writes the port refused.
    pub tx_errors: u64,
    /// Reads that failed.
    pub rx_errors: u64,
    /// Frames read, by what became of them (indexed by [`Disposition::index`]).
    pub by_disposition: [Count; 9],
}

impl PortStats {
    /// Frames read that ended with `d`.
    pub fn get(&self, d: Disposition) -> Count {
        self.by_disposition[d.index()]
    }

    /// Add `o`'s counts (the same port, another worker).
    pub fn merge(&mut self, o: &PortStats) {
        self.rx.merge(&o.rx);
        self.tx.merge(&o.tx);
        self.tx_errors += o.tx_errors;
        self.rx_errors += o.rx_errors;
        for (a, b) in self.by_disposition.iter_mut().zip(&o.by_disposition) {
            a.merge(b);
        }
    }
}

/// Counters of the switch stage of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Per port, in the order the ports were given.
    pub ports: Vec<PortStats>,
    /// ARP requests answered: on a NIC's port every request from its host
    /// (whatever the target), on the uplink those for a NIC.
    pub arp_replies: u64,
    /// Neighbour solicitations answered: on a NIC's port those from its
    /// host, on the uplink those for a NIC.
    pub nd_replies: u64,
    /// The platform services nsg answers on NIC ports (DHCP, router
    /// advertisements).
    pub host: HostStats,
    /// ARP requests and neighbour solicitations sent to learn a host's
    /// hardware address.
    pub solicitations: u64,
    /// Held frames dropped: no answer in time, or too many held.
    pub unresolved: u64,
    /// Frames read here and handed to the worker owning their connection,
    /// and frames received that way.
    pub handoff: crate::handoff::HandoffStats,
}

impl SwitchStats {
    /// Zeroed counters for `ports` ports.
    pub fn new(ports: usize) -> SwitchStats {
        SwitchStats {
            ports: vec![PortStats::default(); ports],
            ..SwitchStats::default()
        }
    }

    /// Add `o`'s counts (another worker's), port by port.
    pub fn merge(&mut self, o: &SwitchStats) {
        if self.ports.len() < o.ports.len() {
            self.ports.resize(o.ports.len(), PortStats::default());
        }
        for (a, b) in self.ports.iter_mut().zip(&o.ports) {
            a.merge(b);
        }
        self.arp_replies += o.arp_replies;
        self.nd_replies += o.nd_replies;
        self.host.merge(&o.host);
        self.solicitations += o.solicitations;
        self.unresolved += o.unresolved;
        self.handoff.merge(&o.handoff);
    }

    /// Frames of every port with a disposition.
    pub fn total(&self, d: Disposition) -> Count {
        let mut c = Count::default();
        for p in &self.ports {
            c.merge(&p.get(d));
        }
        c
    }
}

/// What nsg answered as the hosts' platform (DHCPv4, router
/// advertisements, DHCPv6) on NIC ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// DHCPOFFERs sent (answers to DHCPDISCOVER).
    pub dhcp_offers: u64,
    /// DHCPACKs sent (a lease of the NIC's address, or an INFORM answered).
    pub dhcp_acks: u64,
    /// DHCPNAKs sent: a request for an address that is not the NIC's.
    pub dhcp_naks: u64,
    /// DHCPv4 or DHCPv6 messages that could not be read (dropped).
    pub dhcp_malformed: u64,
    /// Router advertisements sent (answers to router solicitations).
    pub router_adverts: u64,
    /// DHCPv6 Advertise and Reply messages sent.
    pub dhcp6_replies: u64,
}

impl HostStats {
    /// Add `o`'s counts.
    pub fn merge(&mut self, o: &HostStats) {
        self.dhcp_offers += o.dhcp_offers;
        self.dhcp_acks += o.dhcp_acks;
        self.dhcp_naks += o.dhcp_naks;
        self.dhcp_malformed += o.dhcp_malformed;
        self.router_adverts += o.router_adverts;
        self.dhcp6_replies += o.dhcp6_replies;
    }
}

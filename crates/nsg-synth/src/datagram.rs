//! UDP exchanges, fragmented datagrams, ICMP echo and ICMP errors.

use super::{filler, Capture, Endpoint, Exchange, Peers, Synth, SynthError, ROUTER_TTL, TTL};
use nsg_packet::wire::{self, Checksum, IpFields};

/// A UDP request and its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSpec {
    /// Client port; `None` picks an ephemeral one.
    pub client_port: Option<u16>,
    /// Server port.
    pub server_port: u16,
    /// The request's payload.
    pub request: Vec<u8>,
    /// The response's payload; `None` leaves the request unanswered.
    pub response: Option<Vec<u8>>,
    /// Time from the request to the response.
    pub delay_ns: u64,
}

/// An ICMP or ICMPv6 echo exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingSpec {
    /// Identifier; `None` picks one.
    pub id: Option<u16>,
    /// Number of requests (sequence numbers 1 to `count`).
    pub count: u16,
    /// Bytes after the 8-byte echo header.
    pub payload_len: usize,
    /// Time between requests.
    pub interval_ns: u64,
    /// Time from a request to its reply.
    pub reply_ns: u64,
    /// Whether replies come back.
    pub answered: bool,
}

impl PingSpec {
    /// Four answered pings one second apart, 56 bytes of payload, 1 ms
    /// round trip.
    pub fn new() -> PingSpec {
        PingSpec {
            id: None,
            count: 4,
            payload_len: 56,
            interval_ns: 1_000_000_000,
            reply_ns: 1_000_000,
            answered: true,
        }
    }
}

impl Default for PingSpec {
    fn default() -> PingSpec {
        PingSpec::new()
    }
}

/// A UDP datagram sent in fragments, with an optional unfragmented response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragSpec {
    /// Client port; `None` picks an ephemeral one.
    pub client_port: Option<u16>,
    /// Server port.
    pub server_port: u16,
    /// Bytes of UDP payload in the datagram.
    pub payload_len: usize,
    /// Link MTU: IP header, fragment header and fragment payload fit in it
    /// (each fragment carries at least 8 bytes).
    pub mtu: usize,
    /// The response's payload; `None` for no response.
    pub response: Option<Vec<u8>>,
    /// Time from the last fragment to the response.
    pub delay_ns: u64,
}

/// The ICMP or ICMPv6 error to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Port unreachable (ICMP 3/3, ICMPv6 1/4).
    PortUnreachable,
    /// Host unreachable (ICMP 3/1; ICMPv6 1/3, address unreachable).
    HostUnreachable,
    /// Communication administratively prohibited (ICMP 3/13, ICMPv6 1/1).
    AdminProhibited,
    /// Fragmentation needed (ICMP 3/4) or packet too big (ICMPv6 2/0).
    PacketTooBig {
        /// The next hop's MTU.
        mtu: u16,
    },
    /// Time to live exceeded in transit (ICMP 11/0, ICMPv6 3/0).
    TimeExceeded,
}

impl IcmpError {
    /// Type, code and the 4 bytes after the checksum.
    fn header(self, v6: bool) -> (u8, u8, [u8; 4]) {
        let mtu_bytes = |mtu: u16| -> [u8; 4] {
            if v6 {
                u32::from(mtu).to_be_bytes()
            } else {
                let m = mtu.to_be_bytes();
                [0, 0, m[0], m[1]]
            }
        };
        match (self, v6) {
            (IcmpError::PortUnreachable, false) => (3, 3, [0; 4]),
            (IcmpError::PortUnreachable, true) => (1, 4, [0; 4]),
            (IcmpError::HostUnreachable, false) => (3, 1, [0; 4]),
            (IcmpError::HostUnreachable, true) => (1, 3, [0; 4]),
            (IcmpError::AdminProhibited, false) => (3, 13, [0; 4]),
            (IcmpError::AdminProhibited, true) => (1, 1, [0; 4]),
            (IcmpError::PacketTooBig { mtu }, false) => (3, 4, mtu_bytes(mtu)),
            (IcmpError::PacketTooBig { mtu }, true) => (2, 0, mtu_bytes(mtu)),
            (IcmpError::TimeExceeded, false) => (11, 0, [0; 4]),
            (IcmpError::TimeExceeded, true) => (3, 0, [0; 4]),
        }
    }
}

impl Synth {
    /// Append one UDP datagram (unfragmented).
    fn udp(
        &mut self,
        cap: &mut Capture,
        t: u64,
        ends: (&Endpoint, &Endpoint),
        ports: (u16, u16),
        payload: &[u8],
    ) {
        let (from, to) = ends;
        let mut l4 = wire::udp_datagram(ports.0, ports.1, payload);
        wire::set_checksum(
            &mut l4,
            from.ip,
            to.ip,
            nsg_packet::proto::UDP,
            Checksum::Pseudo(6),
        );
        let ip = IpFields::new(TTL, self.rng.next_u32(), false);
        cap.push(t, wire::ip_frame(from, to, nsg_packet::proto::UDP, &l4, ip));
    }

    /// A UDP request and, when `spec` has one, its response.
    pub fn udp_exchange(
        &mut self,
        cap: &mut Capture,
        t0: u64,
        peers: &Peers,
        spec: &UdpSpec,
    ) -> Exchange {
        let first = cap.len();
        let client_port = spec.client_port.unwrap_or_else(|| self.ephemeral_port());
        let (c, s) = (peers.client, peers.server);
        self.udp(
            cap,
            t0,
            (&c, &s),
            (client_port, spec.server_port),
            &spec.request,
        );
        if let Some(resp) = &spec.response {
            let t = t0 + self.jitter(spec.delay_ns);
            self.udp(cap, t, (&s, &c), (spec.server_port, client_port), resp);
        }
        self.finish(cap, first, t0, client_port, spec.server_port)
    }

    /// A UDP datagram from the client cut into fragments: the first carries
    /// the UDP header, the others only payload. IPv4 fragments for IPv4
    /// peers, IPv6 fragment headers for IPv6 ones. A datagram that fits in
    /// one fragment is sent whole. Then the response, if any, unfragmented.
    pub fn udp_fragments(
        &mut self,
        cap: &mut Capture,
        t0: u64,
        peers: &Peers,
        spec: &FragSpec,
    ) -> Exchange {
        let first = cap.len();
        let client_port = spec.client_port.unwrap_or_else(|| self.ephemeral_port());
        let (c, s) = (peers.client, peers.server);
        let headers = if peers.is_ipv6() {
            wire::IPV6_LEN + wire::IPV6_FRAG_LEN
        } else {
            wire::IPV4_LEN
        };
        let unit = (spec.mtu.saturating_sub(headers) & !7).max(8);
        let mut l4 = wire::udp_datagram(
            client_port,
            spec.server_port,
            &filler(spec.payload_len, self.rng.next_u32()),
        );
        wire::set_checksum(
            &mut l4,
            c.ip,
            s.ip,
            nsg_packet::proto::UDP,
            Checksum::Pseudo(6),
        );
        let id = if peers.is_ipv6() {
            self.rng.next_u32()
        } else {
            u32::from(self.rng.next_u64() as u16)
        };
        let mut t = t0;
        if l4.len() <= unit {
            cap.push(
                t,
                wire::ip_frame(
                    &c,
                    &s,
                    nsg_packet::proto::UDP,
                    &l4,
                    IpFields::new(TTL, id, false),
                ),
            );
        } else {
            for (i, chunk) in l4.chunks(unit).enumerate() {
                let offset = (i * unit / 8) as u16;
                let more = (i + 1) * unit < l4.len();
                let ip = IpFields {
                    frag: Some((offset, more)),
                    ..IpFields::new(TTL, id, false)
                };
                cap.push(t, wire::ip_frame(&c, &s, nsg_packet::proto::UDP, chunk, ip));
                t += self.jitter(super::wire_gap(chunk.len() + headers));
            }
        }
        if let Some(resp) = &spec.response {
            t += self.jitter(spec.delay_ns);
            self.udp(cap, t, (&s, &c), (spec.server_port, client_port), resp);
        }
        self.finish(cap, first, t0, client_port, spec.server_port)
    }

    /// ICMP (IPv4) or ICMPv6 (IPv6) echo requests from the client and, when
    /// answered, the server's replies. The identifier is both ports of the
    /// returned [`Exchange`].
    pub fn ping(&mut self, cap: &mut Capture, t0: u64, peers: &Peers, spec: &PingSpec) -> Exchange {
        let first = cap.len();
        let id = spec.id.unwrap_or_else(|| self.rng.next_u64() as u16);
        let (c, s) = (peers.client, peers.server);
        let v6 = peers.is_ipv6();
        let (proto, request, reply, how) = if v6 {
            (nsg_packet::proto::ICMPV6, 128, 129, Checksum::Pseudo(2))
        } else {
            (nsg_packet::proto::ICMP, 8, 0, Checksum::Plain(2))
        };
        let mut ip_id = (self.rng.next_u64() as u16, self.rng.next_u64() as u16);
        let body = filler(spec.payload_len, u32::from(id));
        for seq in 1..=spec.count {
            let t = t0
                + u64::from(seq - 1) * spec.interval_ns
                + self.rng.below(spec.interval_ns / 100 + 1);
            let mut rest = [0u8; 4];
            rest[..2].copy_from_slice(&id.to_be_bytes());
            rest[2..].copy_from_slice(&seq.to_be_bytes());
            let mut m = wire::icmp_message(request, 0, rest, &body);
            wire::set_checksum(&mut m, c.ip, s.ip, proto, how);
            let ip = IpFields::new(TTL, u32::from(ip_id.0), true);
            cap.push(t, wire::ip_frame(&c, &s, proto, &m, ip));
            ip_id.0 = ip_id.0.wrapping_add(1);
            if spec.answered {
                let mut m = wire::icmp_message(reply, 0, rest, &body);
                wire::set_checksum(&mut m, s.ip, c.ip, proto, how);
                let ip = IpFields::new(TTL, u32::from(ip_id.1), false);
                let t = t + self.jitter(spec.reply_ns);
                cap.push(t, wire::ip_frame(&s, &c, proto, &m, ip));
                ip_id.1 = ip_id.1.wrapping_add(1);
            }
        }
        self.finish(cap, first, t0, id, id)
    }

    /// An ICMP or ICMPv6 error from `reporter` (a router or the destination
    /// host) about `quoted`, an Ethernet frame: it goes back to the quoted
    /// packet's source address and MAC, and quotes as much of the packet as
    /// RFC 1812 (576 bytes in all) or RFC 4443 (1280 bytes) allow.
    pub fn icmp_error(
        &mut self,
        cap: &mut Capture,
        t: u64,
        reporter: &Endpoint,
        quoted: &[u8],
        kind: IcmpError,
    ) -> Result<(), SynthError> {
        let (ip, mac, source_ip) = wire::quoted_ip(quoted).ok_or(SynthError::NotIp)?;
        if reporter.ip.is_ipv6() != source_ip.is_ipv6() {
            return Err(SynthError::ReporterFamily {
                reporter: reporter.ip,
                source_ip,
            });
        }
        let v6 = source_ip.is_ipv6();
        let to = Endpoint::new(mac, source_ip);
        let (proto, how, limit) = if v6 {
            (
                nsg_packet::proto::ICMPV6,
                Checksum::Pseudo(2),
                1280 - wire::IPV6_LEN - 8,
            )
        } else {
            (
                nsg_packet::proto::ICMP,
                Checksum::Plain(2),
                576 - wire::IPV4_LEN - 8,
            )
        };
        let (ty, code, rest) = kind.header(v6);
        let mut m = wire::icmp_message(ty, code, rest, &ip[..ip.len().min(limit)]);
        wire::set_checksum(&mut m, reporter.ip, source_ip, proto, how);
        let fields = IpFields::new(ROUTER_TTL, self.rng.next_u32(), false);
        cap.push(t, wire::ip_frame(reporter, &to, proto, &m, fields));
        Ok(())
    }
}

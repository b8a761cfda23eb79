//! DHCPv4 on NIC ports, answered as Azure's platform does: the NIC's
//! primary address (its first IPv4 address) with its subnet's prefix
//! length, the subnet's gateway as router, 168.63.129.16 as DNS server and
//! server identifier, a lease of one day. A request for any other address
//! gets a DHCPNAK. The wire format is `dhcproto`'s; nothing here panics on
//! what a host sends.

use super::stats::Disposition;
use super::{neigh, Action, Decided, PortId, SwitchWorker, Topology};
use crate::policy::Published;
use dhcproto::v4::{self, DhcpOption, Flags, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use ipnet::IpNet;
use nsg_packet::proto;
use nsg_packet::wire::{self, Checksum, Endpoint, IpFields};
use nsg_packet::PacketMeta;
use std::net::{IpAddr, Ipv4Addr};

/// Azure's platform address: DHCP server identifier and DNS server.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);
/// The lease every answer grants: one day, in seconds.
pub const LEASE_SECS: u32 = 86_400;
/// UDP port of DHCPv4 servers.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCPv4 clients.
pub const CLIENT_PORT: u16 = 68;

/// Where the client's hardware address starts in a BOOTP message, and its
/// most bytes.
const CHADDR: usize = 28;
const CHADDR_MAX: usize = 16;

/// What a NIC is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The NIC's primary address.
    pub addr: Ipv4Addr,
    /// The prefix length of the subnet prefix holding it (32 if none does).
    pub prefix_len: u8,
    /// The subnet's gateway (its first usable address), if it has one.
    pub router: Option<Ipv4Addr>,
}

impl Lease {
    /// The lease of a NIC with addresses `ips` in a subnet of `prefixes`:
    /// `None` when the NIC has no IPv4 address.
    pub fn of(ips: &[IpAddr], prefixes: &[IpNet]) -> Option<Lease> {
        let addr = ips.iter().find_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })?;
        let prefix = prefixes.iter().find_map(|n| match n {
            IpNet::V4(n) if n.contains(&addr) => Some(*n),
            _ => None,
        });
        Some(Lease {
            addr,
            prefix_len: prefix.map_or(32, |n| n.prefix_len()),
            router: prefix.and_then(|n| match super::gateway(&IpNet::V4(n)) {
                Some(IpAddr::V4(g)) => Some(g),
                _ => None,
            }),
        })
    }
}

/// Which answer a message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DHCPOFFER, to a DHCPDISCOVER.
    Offer,
    /// DHCPACK: the lease confirmed, or an INFORM answered.
    Ack,
    /// DHCPNAK: the address asked for is not the NIC's.
    Nak,
}

/// An answer to send back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Which answer.
    pub kind: Kind,
    /// The DHCP message (UDP payload).
    pub payload: Vec<u8>,
    /// Broadcast (Ethernet and IP) rather than unicast to the client.
    pub broadcast: bool,
    /// The IP destination when unicast.
    pub to: Ipv4Addr,
}

/// A message that is not a DHCPv4 (or DHCPv6) client message nsg can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The options every OFFER and ACK carries.
fn lease_options(opts: &mut v4::DhcpOptions, lease: &Lease, with_times: bool) {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(lease.prefix_len.min(32)))
        .unwrap_or(0);
    opts.insert(DhcpOption::SubnetMask(Ipv4Addr::from(mask)));
    if let Some(r) = lease.router {
        opts.insert(DhcpOption::Router(vec![r]));
    }
    opts.insert(DhcpOption::DomainNameServer(vec![SERVER]));
    if with_times {
        opts.insert(DhcpOption::AddressLeaseTime(LEASE_SECS));
        opts.insert(DhcpOption::Renewal(LEASE_SECS / 2));
        opts.insert(DhcpOption::Rebinding(LEASE_SECS / 8 * 7));
    }
}

/// The answer to a client's message `req` (a UDP payload to port 67) for a
/// NIC given `lease` (`None`: the NIC has no IPv4 address). `Ok(None)`: no
/// answer is due (a RELEASE, a DECLINE, a request to another server, a
/// DISCOVER when there is nothing to offer).
pub fn answer(req: &[u8], lease: Option<&Lease>) -> Result<Option<Reply>, Malformed> {
    let m = v4::Message::from_bytes(&sanitized(req)?).map_err(|_| Malformed)?;
    if m.opcode() != Opcode::BootRequest {
        return Err(Malformed);
    }
    let ty = m.opts().msg_type().ok_or(Malformed)?;
    let server = match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => Some(*s),
        _ => None,
    };
    let requested = match m.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
        _ => None,
    };
    let (kind, yiaddr) = match (ty, lease) {
        (MessageType::Discover, Some(l)) => (Kind::Offer, l.addr),
        (MessageType::Request, _) if server.is_some_and(|s| s != SERVER) => return Ok(None),
        (MessageType::Request, l) => {
            let asked = requested.unwrap_or(m.ciaddr());
            match l {
                Some(l) if asked == l.addr => (Kind::Ack, l.addr),
                _ => (Kind::Nak, Ipv4Addr::UNSPECIFIED),
            }
        }
        (MessageType::Inform, Some(_)) => (Kind::Ack, Ipv4Addr::UNSPECIFIED),
        _ => return Ok(None),
    };
    let payload = encode(&m, req, kind, yiaddr, ty, lease)?;
    // A NAK is broadcast (the client may hold an address it must drop); an
    // answer to a renewal goes to the address being renewed.
    let broadcast = kind == Kind::Nak || (m.flags().broadcast() && m.ciaddr().is_unspecified());
    let to = if m.ciaddr().is_unspecified() {
        yiaddr
    } else {
        m.ciaddr()
    };
    Ok(Some(Reply {
        kind,
        payload,
        broadcast: broadcast || to.is_unspecified(),
        to,
    }))
}

/// Where the options start: the fixed BOOTP fields and the magic cookie.
const OPTIONS: usize = 240;

/// `req` with only the options nsg reads, each of the length its format
/// has (message type, requested address, server identifier, client
/// identifier, parameter list); the others are left out. dhcproto asserts
/// and subtracts on some options' lengths (a panic in a debug build), so
/// nothing else reaches it.
fn sanitized(req: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = req.get(..OPTIONS).ok_or(Malformed)?.to_vec();
    let mut i = OPTIONS;
    while let Some(&code) = req.get(i) {
        match code {
            0 => i += 1,
            255 => break,
            _ => {
                let len = usize::from(*req.get(i + 1).ok_or(Malformed)?);
                let body = req.get(i + 2..i + 2 + len).ok_or(Malformed)?;
                let ok = match code {
                    53 => len == 1,
                    50 | 54 => len == 4,
                    55 | 61 => len >= 1,
                    _ => false,
                };
                if ok {
                    out.extend_from_slice(&[code, body.len() as u8]);
                    out.extend_from_slice(body);
                }
                i += 2 + len;
            }
        }
    }
    out.push(255);
    Ok(out)
}

/// The reply message to `m` (whose bytes are `raw`).
fn encode(
    m: &v4::Message,
    raw: &[u8],
    kind: Kind,
    yiaddr: Ipv4Addr,
    ty: MessageType,
    lease: Option<&Lease>,
) -> Result<Vec<u8>, Malformed> {
    // The client's hardware address, as it sent it (dhcproto's accessor
    // trusts the length byte, which a client may set past 16).
    let hlen = usize::from(*raw.get(2).ok_or(Malformed)?).min(CHADDR_MAX);
    let chaddr = raw.get(CHADDR..CHADDR + hlen).ok_or(Malformed)?;
    let ciaddr = if kind == Kind::Nak {
        Ipv4Addr::UNSPECIFIED
    } else {
        m.ciaddr()
    };
    let mut r = v4::Message::new_with_id(
        m.xid(),
        ciaddr,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        m.giaddr(),
        chaddr,
    );
    r.set_opcode(Opcode::BootReply)
        .set_htype(m.htype())
        .set_flags(Flags::new(if m.flags().broadcast() { 0x8000 } else { 0 }));
    let opts = r.opts_mut();
    opts.insert(DhcpOption::MessageType(match kind {
        Kind::Offer => MessageType::Offer,
        Kind::Ack => MessageType::Ack,
        Kind::Nak => MessageType::Nak,
    }));
    opts.insert(DhcpOption::ServerIdentifier(SERVER));
    if let (Kind::Offer | Kind::Ack, Some(l)) = (kind, lease) {
        lease_options(opts, l, ty != MessageType::Inform);
    }
    r.to_vec().map_err(|_| Malformed)
}

/// The UDP payload of an untagged, unfragmented IPv4 or IPv6 datagram
/// (no IPv6 extension headers), bounded by the UDP length.
pub(super) fn udp_payload<'a>(frame: &'a [u8], m: &PacketMeta) -> Option<&'a [u8]> {
    if m.tuple.proto != proto::UDP || m.fragment.is_some() {
        return None;
    }
    let ip = frame.get(wire::ETH_LEN..)?;
    let l4 = match m.tuple.src_ip() {
        IpAddr::V4(_) => usize::from(ip.first()? & 0x0f) * 4,
        IpAddr::V6(_) => wire::IPV6_LEN,
    };
    let udp = ip.get(l4..)?;
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    udp.get(wire::UDP_LEN..len.max(wire::UDP_LEN))
}

/// A UDP datagram from `src` to `dst` in an Ethernet frame, checksums set,
/// into `out`.
pub(super) fn udp_frame(
    out: &mut Vec<u8>,
    src: Endpoint,
    dst: Endpoint,
    ports: (u16, u16),
    payload: &[u8],
) {
    let mut l4 = wire::udp_datagram(ports.0, ports.1, payload);
    wire::set_checksum(&mut l4, src.ip, dst.ip, proto::UDP, Checksum::Pseudo(6));
    let hop = if src.ip.is_ipv6() { 255 } else { 64 };
    *out = wire::ip_frame(&src, &dst, proto::UDP, &l4, IpFields::new(hop, 0, false));
}

impl SwitchWorker {
    /// Platform traffic from a NIC's host that nsg answers itself (DHCPv4
    /// and DHCPv6 to the servers' ports), or `None` for the normal path.
    pub(super) fn platform(
        &mut self,
        t: &Topology,
        p: &Published,
        ingress: PortId,
        frame: &[u8],
        m: &PacketMeta,
        src_mac: [u8; 6],
    ) -> Option<Decided> {
        if !self.switch.host_services || m.tuple.proto != proto::UDP {
            return None;
        }
        let v4 = m.tuple.src_ip().is_ipv4();
        let port = if v4 {
            SERVER_PORT
        } else {
            super::dhcp6::SERVER_PORT
        };
        if m.tuple.dst_port != port {
            return None;
        }
        let n = t.nic(ingress)?;
        let nic = p.policy().nics.get(usize::from(n.0))?;
        let prefixes = &p.policy().subnets.get(nic.subnet)?.prefixes;
        let Some(payload) = udp_payload(frame, m) else {
            self.stats.host.dhcp_malformed += 1;
            return Some((Disposition::Platform, Action::Drop));
        };
        Some(if v4 {
            self.dhcp4(ingress, payload, Lease::of(&nic.ips, prefixes), src_mac)
        } else {
            let src = m.tuple.src_ip();
            self.dhcp6(ingress, payload, &nic.ips, (src, src_mac))
        })
    }

    fn dhcp4(
        &mut self,
        ingress: PortId,
        payload: &[u8],
        lease: Option<Lease>,
        src_mac: [u8; 6],
    ) -> Decided {
        let r = match answer(payload, lease.as_ref()) {
            Ok(Some(r)) => r,
            Ok(None) => return (Disposition::Platform, Action::Drop),
            Err(Malformed) => {
                self.stats.host.dhcp_malformed += 1;
                return (Disposition::Platform, Action::Drop);
            }
        };
        let h = &mut self.stats.host;
        match r.kind {
            Kind::Offer => h.dhcp_offers += 1,
            Kind::Ack => h.dhcp_acks += 1,
            Kind::Nak => h.dhcp_naks += 1,
        }
        let dst = if r.broadcast {
            Endpoint::new(neigh::BROADCAST, Ipv4Addr::BROADCAST.into())
        } else {
            Endpoint::new(src_mac, r.to.into())
        };
        let src = Endpoint::new(self.switch.gateway_mac, SERVER.into());
        udp_frame(
            &mut self.out,
            src,
            dst,
            (SERVER_PORT, CLIENT_PORT),
            &r.payload,
        );
        (Disposition::Platform, Action::Emit(ingress))
    }
}

//! DHCPv6 on NIC ports: the NIC's first IPv6 address in IA_NA, from
//! [`ROUTER_LL`](super::ROUTER_LL) as nsg's router advertisements say
//! (managed flag). Solicit gets an Advertise (a Reply with rapid commit when
//! the client asks for it); Request, Renew, Rebind and Confirm get a Reply
//! with the address; Information-request, Release and Decline a Reply. No
//! DNS option: Azure documents no IPv6 DNS server. The wire format is
//! `dhcproto`'s; nothing here panics on what a host sends.

use super::dhcp::{udp_frame, Malformed, LEASE_SECS};
use super::stats::Disposition;
use super::{Action, Decided, PortId, SwitchWorker, ROUTER_LL};
use dhcproto::v6::{self, DhcpOption, IAAddr, MessageType, OptionCode, Status, StatusCode, IANA};
use dhcproto::{Decodable, Encodable};
use nsg_packet::wire::Endpoint;
use std::net::{IpAddr, Ipv6Addr};

/// UDP port of DHCPv6 servers.
pub const SERVER_PORT: u16 = 547;
/// UDP port of DHCPv6 clients.
pub const CLIENT_PORT: u16 = 546;

/// The server's DUID: type 3 (link-layer address), hardware type 1
/// (Ethernet), the gateway's hardware address.
pub fn server_duid(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

/// The answer to a client's message `req` (a UDP payload to port 547) for
/// a NIC whose first IPv6 address is `addr`, from a server of DUID `duid`.
/// `Ok(None)`: no answer is due (a message to another server, a server's
/// message, a relay's).
pub fn answer(
    req: &[u8],
    addr: Option<Ipv6Addr>,
    duid: &[u8],
) -> Result<Option<Vec<u8>>, Malformed> {
    let m = v6::Message::from_bytes(&sanitized(req)?).map_err(|_| Malformed)?;
    let client = match m.opts().get(OptionCode::ClientId) {
        Some(DhcpOption::ClientId(c)) => c.clone(),
        _ if m.msg_type() == MessageType::InformationRequest => Vec::new(),
        _ => return Err(Malformed),
    };
    if let Some(DhcpOption::ServerId(s)) = m.opts().get(OptionCode::ServerId) {
        if s.as_slice() != duid {
            return Ok(None);
        }
    }
    let rapid = m.opts().get(OptionCode::RapidCommit).is_some();
    let reply_type = match m.msg_type() {
        MessageType::Solicit if rapid => MessageType::Reply,
        MessageType::Solicit => MessageType::Advertise,
        MessageType::Request
        | MessageType::Renew
        | MessageType::Rebind
        | MessageType::Confirm
        | MessageType::InformationRequest
        | MessageType::Release
        | MessageType::Decline => MessageType::Reply,
        _ => return Ok(None),
    };
    let mut r = v6::Message::new_with_id(reply_type, m.xid());
    let opts = r.opts_mut();
    opts.insert(DhcpOption::ServerId(duid.to_vec()));
    if !client.is_empty() {
        opts.insert(DhcpOption::ClientId(client));
    }
    if rapid && m.msg_type() == MessageType::Solicit {
        opts.insert(DhcpOption::RapidCommit);
    }
    match m.msg_type() {
        MessageType::Solicit | MessageType::Request | MessageType::Renew | MessageType::Rebind => {
            let iaid = match m.opts().get(OptionCode::IANA) {
                Some(DhcpOption::IANA(ia)) => ia.id,
                _ => return Err(Malformed),
            };
            opts.insert(ia_na(iaid, addr));
        }
        MessageType::Confirm => opts.insert(status(confirm(&m, addr))),
        MessageType::Release | MessageType::Decline => opts.insert(status(Status::Success)),
        _ => {}
    }
    r.to_vec().map(Some).map_err(|_| Malformed)
}

/// Option codes nsg reads.
const CLIENT_ID: u16 = 1;
const SERVER_ID: u16 = 2;
const IA_NA: u16 = 3;
const IA_ADDR: u16 = 5;
const RAPID_COMMIT: u16 = 14;
/// Fixed lengths: IA_NA's IAID, T1 and T2; IAADDR's address and lifetimes.
const IA_NA_LEN: usize = 12;
const IA_ADDR_LEN: usize = 24;

/// The options of `opts` (code, body), until the first cut short.
fn options(mut opts: &[u8]) -> Result<Vec<(u16, &[u8])>, Malformed> {
    let mut out = Vec::new();
    while !opts.is_empty() {
        let head = opts.get(..4).ok_or(Malformed)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        out.push((code, opts.get(4..4 + len).ok_or(Malformed)?));
        opts = &opts[4 + len..];
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, code: u16, body: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// `req` with only the options nsg reads, in the form their format has
/// (client and server identifiers, IA_NA with its IAADDRs without their
/// own options, rapid commit); the others are left out. dhcproto
/// subtracts on some options' lengths (a panic in a debug build), so
/// nothing else reaches it.
fn sanitized(req: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = req.get(..4).ok_or(Malformed)?.to_vec();
    for (code, body) in options(&req[4..])? {
        match code {
            CLIENT_ID | SERVER_ID => put(&mut out, code, body),
            RAPID_COMMIT => put(&mut out, code, &[]),
            IA_NA if body.len() >= IA_NA_LEN => {
                let mut ia = body[..IA_NA_LEN].to_vec();
                for (c, a) in options(&body[IA_NA_LEN..])? {
                    if c == IA_ADDR && a.len() >= IA_ADDR_LEN {
                        put(&mut ia, c, &a[..IA_ADDR_LEN]);
                    }
                }
                put(&mut out, code, &ia);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Whether every address a Confirm names is the NIC's.
fn confirm(m: &v6::Message, addr: Option<Ipv6Addr>) -> Status {
    let ok = m.opts().iter().all(|o| match o {
        DhcpOption::IANA(ia) => ia.opts.iter().all(|a| match a {
            DhcpOption::IAAddr(a) => Some(a.addr) == addr,
            _ => true,
        }),
        _ => true,
    });
    if ok {
        Status::Success
    } else {
        Status::NotOnLink
    }
}

fn status(s: Status) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        status: s,
        msg: String::new(),
    })
}

/// The IA_NA answering the client's `iaid`: the NIC's address for a day,
/// or status NoAddrsAvail when it has none.
fn ia_na(iaid: u32, addr: Option<Ipv6Addr>) -> DhcpOption {
    let mut opts = v6::DhcpOptions::new();
    match addr {
        Some(a) => opts.insert(DhcpOption::IAAddr(IAAddr {
            addr: a,
            preferred_life: LEASE_SECS,
            valid_life: LEASE_SECS,
            opts: v6::DhcpOptions::new(),
        })),
        None => opts.insert(status(Status::NoAddrsAvail)),
    }
    DhcpOption::IANA(IANA {
        id: iaid,
        t1: LEASE_SECS / 2,
        t2: LEASE_SECS / 8 * 7,
        opts,
    })
}

impl SwitchWorker {
    /// Answer a DHCPv6 message from `client` (address, hardware address)
    /// for a NIC with addresses `ips`.
    pub(super) fn dhcp6(
        &mut self,
        ingress: PortId,
        payload: &[u8],
        ips: &[IpAddr],
        client: (IpAddr, [u8; 6]),
    ) -> Decided {
        let addr = ips.iter().find_map(|a| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        });
        let duid = server_duid(self.switch.gateway_mac);
        let reply = match answer(payload, addr, &duid) {
            Ok(Some(r)) => r,
            Ok(None) => return (Disposition::Platform, Action::Drop),
            Err(Malformed) => {
                self.stats.host.dhcp_malformed += 1;
                return (Disposition::Platform, Action::Drop);
            }
        };
        self.stats.host.dhcp6_replies += 1;
        let src = Endpoint::new(self.switch.gateway_mac, IpAddr::V6(ROUTER_LL));
        let dst = Endpoint::new(client.1, client.0);
        udp_frame(&mut self.out, src, dst, (SERVER_PORT, CLIENT_PORT), &reply);
        (Disposition::Platform, Action::Emit(ingress))
    }
}

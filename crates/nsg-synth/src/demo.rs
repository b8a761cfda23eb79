//! The traffic of `nsg demo`: a few seconds of a three-tier application as
//! the NICs of `config/three-tier.toml` would see it.
//!
//! Roles come from NIC names: NIC1 and NIC2 are web servers, NIC3 the
//! business-logic tier, NIC4 the database. A scenario whose NIC the policy
//! lacks is left out. Whether a conversation is answered is decided by the
//! reference evaluator on its first packet (the sender's outbound layers
//! when the sender is a NIC, then the receiver's inbound layers when the
//! receiver is one): an allowed TCP connection completes with data, a denied
//! one is a SYN and its retransmissions; a denied UDP request or echo
//! request gets no answer. So the capture is what the wire shows when the
//! policy is enforced, for this policy or any other with those NIC names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nsg_policy::{evaluate, Access, Direction, Packet, Policy};

use super::{
    Capture, Endpoint, Exchange, FragSpec, IcmpError, Peers, PingSpec, SynSpec, Synth, TcpClose,
    TcpSpec, UdpSpec,
};

/// Time of the demo's first possible frame: 2024-05-01T11:59:58Z, so that
/// the traffic crosses a minute boundary (flow logs group by minute).
pub const DEMO_START_NS: u64 = 1_714_564_798 * NS_PER_S;

const NS_PER_S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const US: u64 = 1_000;
/// Conversations start within this long after [`DEMO_START_NS`].
const SPAN_NS: u64 = 4 * NS_PER_S;

// The MAC of Azure's virtual gateway, source of every frame from outside
// the VNet.
use nsg_policy::GATEWAY_MAC;

/// Internet HTTP connections to the web tier.
const HTTP_CONNECTIONS: usize = 300;
/// Internet SYNs to 443 on the web tier.
const INTERNET_HTTPS_SYNS: usize = 60;
/// Internet SYNs to 1433 and 22 on the database.
const INTERNET_DB_SYNS: usize = 40;
/// Web-tier connection attempts to the database.
const WEB_DB_SYNS: usize = 12;
/// Business-logic connections to the database.
const LOGIC_DB_CONNECTIONS: usize = 40;
/// Web-tier connections to the business-logic tier on 8080.
const WEB_LOGIC_CONNECTIONS: usize = 120;

/// The traffic of the three-tier example for `policy`, deterministic for
/// `seed`, in time order. Scenarios, interleaved over about seven seconds:
///
/// - Internet clients (IPv4 from 203.0.113.0/24 and 198.51.100.0/24, IPv6
///   from 2001:db8::/32: Internet by nsg's definition) doing HTTP to NIC1
///   and NIC2 port 80, and trying 443 on the web tier and 1433 and 22 on
///   the database;
/// - the web tier trying the database on 1433; the business-logic tier
///   using it (some connections left open, as a pool would);
/// - the web tier calling the business-logic tier on 8080;
/// - ICMP echo inside the VNet and from the Internet;
/// - DNS over UDP to the platform resolver 168.63.129.16 and to an Internet
///   resolver; HTTPS from the business-logic and web tiers to the Internet;
/// - fragmented UDP datagrams (IPv4 and IPv6) inside the VNet and from the
///   Internet;
/// - an ICMP "fragmentation needed" and an ICMPv6 "packet too big" from an
///   Internet router quoting a web server's segment of a live connection.
pub fn demo_traffic(policy: &Policy, seed: u64) -> Capture {
    let mut d = Demo {
        policy,
        synth: Synth::new(seed),
        cap: Capture::new(),
    };
    let web: Vec<Nic> = ["NIC1", "NIC2"]
        .iter()
        .filter_map(|n| Nic::find(policy, n))
        .collect();
    let logic = Nic::find(policy, "NIC3");
    let db = Nic::find(policy, "NIC4");
    let vnet: Vec<Nic> = web.iter().chain(&logic).chain(&db).copied().collect();

    d.internet_http(&web);
    d.internet_probes(&web, db.as_ref());
    if let Some(db) = &db {
        d.web_to_db(&web, db);
        if let Some(logic) = &logic {
            d.logic_to_db(logic, db);
        }
    }
    if let Some(logic) = &logic {
        d.web_to_logic(&web, logic);
    }
    d.pings(&vnet, &web, db.as_ref());
    d.dns(&vnet);
    d.outbound_https(&web, logic.as_ref());
    d.fragments(&web, logic.as_ref());
    d.icmp_errors(&web);

    d.cap.sort_by_time();
    d.cap
}

/// A NIC's first IPv4 and first IPv6 endpoint.
#[derive(Debug, Clone, Copy)]
struct Nic {
    v4: Option<Endpoint>,
    v6: Option<Endpoint>,
}

impl Nic {
    fn find(policy: &Policy, name: &str) -> Option<Nic> {
        let id = policy.nic_by_name(name)?;
        let nic = &policy.nics[id];
        // A NIC without a MAC gets a locally administered one from its index.
        let mac = nic
            .mac
            .unwrap_or([0x02, 0, 0, 0, (id >> 8) as u8, id as u8]);
        let v4 = nic.ips.iter().find(|ip| ip.is_ipv4());
        let v6 = nic.ips.iter().find(|ip| ip.is_ipv6());
        Some(Nic {
            v4: v4.map(|ip| Endpoint::new(mac, *ip)),
            v6: v6.map(|ip| Endpoint::new(mac, *ip)),
        })
    }

    fn endpoint(&self, v6: bool) -> Option<Endpoint> {
        if v6 {
            self.v6
        } else {
            self.v4
        }
    }
}

/// The protocol and ports of a conversation's first packet, for the
/// reference evaluator.
struct First {
    proto: u8,
    ports: Option<(u16, u16)>,
}

struct Demo<'p> {
    policy: &'p Policy,
    synth: Synth,
    cap: Capture,
}

impl Demo<'_> {
    /// A start time within the span.
    fn start(&mut self) -> u64 {
        DEMO_START_NS + self.synth.rng().below(SPAN_NS)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.synth.rng().percent(percent)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.synth.rng().between(lo, hi)
    }

    /// Whether the policy lets the first packet from `c` to `s` through.
    fn allows(&self, c: &Endpoint, s: &Endpoint, first: First) -> bool {
        let pkt = Packet {
            protocol: first.proto,
            src: c.ip,
            dst: s.ip,
            src_port: first.ports.map(|p| p.0),
            dst_port: first.ports.map(|p| p.1),
        };
        let p = self.policy;
        let at = |ip: &IpAddr, dir: Direction| {
            p.nic_of_ip(ip)
                .is_none_or(|nic| evaluate(p, nic, dir, &pkt).access == Access::Allow)
        };
        at(&c.ip, Direction::Outbound) && at(&s.ip, Direction::Inbound)
    }

    /// A TCP connection if the policy allows it, else an unanswered SYN.
    fn tcp(&mut self, c: Endpoint, s: Endpoint, mut spec: TcpSpec) -> Option<Exchange> {
        let peers = Peers::new(c, s).ok()?;
        let port = self.synth.ephemeral_port();
        spec.client_port = Some(port);
        let t0 = self.start();
        let first = First {
            proto: nsg_packet::proto::TCP,
            ports: Some((port, spec.server_port)),
        };
        if self.allows(&c, &s, first) {
            Some(self.synth.tcp_connection(&mut self.cap, t0, &peers, &spec))
        } else {
            let syn = SynSpec {
                client_port: Some(port),
                ..SynSpec::new(spec.server_port)
            };
            Some(self.synth.tcp_unanswered(&mut self.cap, t0, &peers, &syn))
        }
    }

    /// A UDP request, answered if the policy allows it.
    fn udp(&mut self, c: Endpoint, s: Endpoint, mut spec: UdpSpec) {
        let Ok(peers) = Peers::new(c, s) else { return };
        let port = self.synth.ephemeral_port();
        spec.client_port = Some(port);
        let first = First {
            proto: nsg_packet::proto::UDP,
            ports: Some((port, spec.server_port)),
        };
        if !self.allows(&c, &s, first) {
            spec.response = None;
        }
        let t0 = self.start();
        self.synth.udp_exchange(&mut self.cap, t0, &peers, &spec);
    }

    /// Pings, answered if the policy allows them.
    fn ping(&mut self, c: Endpoint, s: Endpoint) {
        let Ok(peers) = Peers::new(c, s) else { return };
        let proto = if peers.is_ipv6() {
            nsg_packet::proto::ICMPV6
        } else {
            nsg_packet::proto::ICMP
        };
        let answered = self.allows(&c, &s, First { proto, ports: None });
        let spec = PingSpec {
            interval_ns: 500 * MS,
            reply_ns: if is_internet(&c.ip) {
                40 * MS
            } else {
                400 * US
            },
            answered,
            ..PingSpec::new()
        };
        let t0 = self.start();
        self.synth.ping(&mut self.cap, t0, &peers, &spec);
    }

    /// An Internet client's endpoint, IPv6 when `v6`.
    fn internet_client(&mut self, v6: bool) -> Endpoint {
        let ip = if v6 {
            let r = self.synth.rng().next_u64();
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                (r >> 48) as u16 & 0x7fff,
                (r >> 32) as u16,
                0,
                0,
                0,
                (r as u16).max(2),
            ))
        } else {
            let net = if self.chance(50) {
                [203, 0, 113]
            } else {
                [198, 51, 100]
            };
            let host = self.between(2, 254) as u8;
            IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], host))
        };
        Endpoint::new(GATEWAY_MAC, ip)
    }

    /// A web server of the right family, if there is one.
    fn pick(&mut self, nics: &[Nic], v6: bool) -> Option<Endpoint> {
        let candidates: Vec<Endpoint> = nics.iter().filter_map(|n| n.endpoint(v6)).collect();
        self.synth.rng().pick(&candidates).copied()
    }

    fn http_spec(&mut self) -> TcpSpec {
        let exchanges = (0..self.between(1, 3))
            .map(|_| {
                let req = self.between(300, 900) as usize;
                let size = self.between(0, 99);
                let resp = match size {
                    0..=69 => self.between(500, 4_000),
                    70..=94 => self.between(4_000, 20_000),
                    _ => self.between(20_000, 60_000),
                };
                (req, resp as usize)
            })
            .collect();
        let close = match self.between(0, 99) {
            0..=59 => TcpClose::Fin { client_first: true },
            60..=89 => TcpClose::Fin {
                client_first: false,
            },
            90..=96 => TcpClose::Rst { from_client: true },
            _ => TcpClose::Rst { from_client: false },
        };
        TcpSpec {
            exchanges,
            close,
            rtt_ns: self.between(10, 120) * MS,
            server_ns: self.between(30, 300) * US,
            ..TcpSpec::new(80)
        }
    }

    fn internet_http(&mut self, web: &[Nic]) {
        for _ in 0..HTTP_CONNECTIONS {
            let v6 = self.chance(30);
            let client = self.internet_client(v6);
            let Some(server) = self.pick(web, v6) else {
                continue;
            };
            let spec = self.http_spec();
            self.tcp(client, server, spec);
        }
    }

    /// Internet SYNs the policy refuses: 443 on the web tier, 1433 and 22
    /// on the database.
    fn internet_probes(&mut self, web: &[Nic], db: Option<&Nic>) {
        for _ in 0..INTERNET_HTTPS_SYNS {
            let v6 = self.chance(30);
            let client = self.internet_client(v6);
            if let Some(server) = self.pick(web, v6) {
                self.tcp(client, server, TcpSpec::new(443));
            }
        }
        let Some(db) = db else { return };
        for i in 0..INTERNET_DB_SYNS {
            let v6 = self.chance(30);
            let client = self.internet_client(v6);
            let port = if i % 2 == 0 { 1433 } else { 22 };
            if let Some(server) = db.endpoint(v6) {
                self.tcp(client, server, TcpSpec::new(port));
            }
        }
    }

    /// Within the VNet: small round trips, quick servers.
    fn vnet_spec(&mut self, port: u16, exchanges: Vec<(usize, usize)>) -> TcpSpec {
        TcpSpec {
            exchanges,
            rtt_ns: self.between(200, 800) * US,
            server_ns: self.between(50, 2_000) * US,
            ..TcpSpec::new(port)
        }
    }

    fn web_to_db(&mut self, web: &[Nic], db: &Nic) {
        for i in 0..WEB_DB_SYNS {
            let v6 = i % 3 == 2;
            let (Some(c), Some(s)) = (self.pick(web, v6), db.endpoint(v6)) else {
                continue;
            };
            let spec = self.vnet_spec(1433, vec![(200, 1_000)]);
            self.tcp(c, s, spec);
        }
    }

    fn logic_to_db(&mut self, logic: &Nic, db: &Nic) {
        for i in 0..LOGIC_DB_CONNECTIONS {
            let v6 = i % 4 == 3;
            let (Some(c), Some(s)) = (logic.endpoint(v6), db.endpoint(v6)) else {
                continue;
            };
            let exchanges = (0..self.between(3, 8))
                .map(|_| {
                    let req = self.between(100, 400) as usize;
                    (req, self.between(200, 8_000) as usize)
                })
                .collect();
            let mut spec = self.vnet_spec(1433, exchanges);
            // A connection pool keeps some connections open.
            if self.chance(10) {
                spec.close = TcpClose::Open;
            }
            self.tcp(c, s, spec);
        }
    }

    fn web_to_logic(&mut self, web: &[Nic], logic: &Nic) {
        for _ in 0..WEB_LOGIC_CONNECTIONS {
            let v6 = self.chance(25);
            let (Some(c), Some(s)) = (self.pick(web, v6), logic.endpoint(v6)) else {
                continue;
            };
            let exchanges = (0..self.between(1, 2))
                .map(|_| {
                    let req = self.between(200, 1_200) as usize;
                    (req, self.between(300, 12_000) as usize)
                })
                .collect();
            let spec = self.vnet_spec(8080, exchanges);
            self.tcp(c, s, spec);
        }
    }

    /// Pings between NICs of the VNet in both families, and from the
    /// Internet to a web server and the database.
    fn pings(&mut self, vnet: &[Nic], web: &[Nic], db: Option<&Nic>) {
        for v6 in [false, true] {
            for (a, b) in [(0, 2), (2, 3), (1, 0)] {
                let (Some(a), Some(b)) = (vnet.get(a), vnet.get(b)) else {
                    continue;
                };
                if let (Some(c), Some(s)) = (a.endpoint(v6), b.endpoint(v6)) {
                    self.ping(c, s);
                }
            }
            let targets: Vec<Endpoint> = web
                .iter()
                .take(1)
                .chain(db)
                .filter_map(|n| n.endpoint(v6))
                .collect();
            for s in targets {
                for _ in 0..4 {
                    let c = self.internet_client(v6);
                    self.ping(c, s);
                }
            }
        }
    }

    /// DNS from every NIC: to the platform resolver (IPv4 only) and to an
    /// Internet resolver.
    fn dns(&mut self, vnet: &[Nic]) {
        const NAMES: [&str; 4] = [
            "api.example.com",
            "cdn.example.net",
            "login.example.org",
            "updates.example.com",
        ];
        let platform = Endpoint::new(GATEWAY_MAC, IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)));
        let resolver4 = Endpoint::new(GATEWAY_MAC, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)));
        let resolver6 = Endpoint::new(
            GATEWAY_MAC,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x53, 0, 0, 0, 0, 0x53)),
        );
        for nic in vnet {
            let mut queries = Vec::new();
            if let Some(c) = nic.v4 {
                queries.extend([(c, platform); 8]);
                queries.extend([(c, resolver4); 4]);
            }
            if let Some(c) = nic.v6 {
                queries.extend([(c, resolver6); 4]);
            }
            for (c, s) in queries {
                let name = *self.synth.rng().pick(&NAMES).unwrap_or(&NAMES[0]);
                let id = self.synth.rng().next_u64() as u16;
                let v6_answer = self.chance(30);
                let query = dns_query(id, name, v6_answer);
                let answer = if v6_answer {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xcafe, 0, 0, 0, 0, id))
                } else {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, (id % 200) as u8 + 10))
                };
                let response = dns_response(&query, answer);
                let spec = UdpSpec {
                    client_port: None,
                    server_port: 53,
                    request: query,
                    response: Some(response),
                    delay_ns: if s == platform { 500 * US } else { 20 * MS },
                };
                self.udp(c, s, spec);
            }
        }
    }

    /// HTTPS from the business-logic tier and a web server to the Internet.
    fn outbound_https(&mut self, web: &[Nic], logic: Option<&Nic>) {
        let server4 = Endpoint::new(GATEWAY_MAC, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 80)));
        let server6 = Endpoint::new(
            GATEWAY_MAC,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x443, 0, 0, 0, 0, 0x80)),
        );
        let clients: Vec<Nic> = logic.into_iter().chain(web.first()).copied().collect();
        for nic in clients {
            for i in 0..6 {
                let v6 = i % 3 == 2;
                let (Some(c), s) = (nic.endpoint(v6), if v6 { server6 } else { server4 }) else {
                    continue;
                };
                let exchanges = vec![
                    (517, 4_500), // TLS client hello; server hello and certificates
                    (126, 250),   // key exchange; session tickets
                    (
                        self.between(300, 2_000) as usize,
                        self.between(500, 30_000) as usize,
                    ),
                ];
                let spec = TcpSpec {
                    exchanges,
                    rtt_ns: self.between(5, 40) * MS,
                    server_ns: self.between(100, 500) * US,
                    ..TcpSpec::new(443)
                };
                self.tcp(c, s, spec);
            }
        }
    }

    /// Fragmented UDP datagrams, IPv4 and IPv6: from the business-logic
    /// tier to a web server, and from the Internet to a web server.
    fn fragments(&mut self, web: &[Nic], logic: Option<&Nic>) {
        for v6 in [false, true] {
            let Some(server) = self.pick(web, v6) else {
                continue;
            };
            let mut clients: Vec<Endpoint> =
                logic.and_then(|n| n.endpoint(v6)).into_iter().collect();
            for _ in 0..3 {
                clients.push(self.internet_client(v6));
            }
            for c in clients {
                let Ok(peers) = Peers::new(c, server) else {
                    continue;
                };
                let port = self.synth.ephemeral_port();
                let first = First {
                    proto: nsg_packet::proto::UDP,
                    ports: Some((port, 5001)),
                };
                let answered = self.allows(&c, &server, first);
                let spec = FragSpec {
                    client_port: Some(port),
                    server_port: 5001,
                    payload_len: self.between(3_000, 8_000) as usize,
                    mtu: 1500,
                    response: answered.then(|| b"ack".to_vec()),
                    delay_ns: 300 * US,
                };
                let t0 = self.start();
                self.synth.udp_fragments(&mut self.cap, t0, &peers, &spec);
            }
        }
    }

    /// An Internet router's ICMP error quoting a web server's data segment of
    /// a live HTTP connection, once per family.
    fn icmp_errors(&mut self, web: &[Nic]) {
        for v6 in [false, true] {
            let client = self.internet_client(v6);
            let Some(server) = self.pick(web, v6) else {
                continue;
            };
            let spec = TcpSpec {
                exchanges: vec![(400, 12_000)],
                rtt_ns: 60 * MS,
                ..TcpSpec::new(80)
            };
            let Some(ex) = self.tcp(client, server, spec) else {
                continue;
            };
            let Some(i) = ex
                .frames
                .clone()
                .find(|&i| is_data_from(&self.cap.frames[i].1, &server.ip))
            else {
                continue;
            };
            let (ts, quoted) = self.cap.frames[i].clone();
            let (router, kind) = if v6 {
                let ip = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
                (IpAddr::V6(ip), IcmpError::PacketTooBig { mtu: 1280 })
            } else {
                let ip = Ipv4Addr::new(198, 51, 100, 1);
                (IpAddr::V4(ip), IcmpError::PacketTooBig { mtu: 1400 })
            };
            let reporter = Endpoint::new(GATEWAY_MAC, router);
            // The router is near the client: half a round trip later.
            let t = ts + 30 * MS;
            // Cannot fail: the quoted frame is one of ours, of the router's family.
            let _ = self
                .synth
                .icmp_error(&mut self.cap, t, &reporter, &quoted, kind);
        }
    }
}

/// Whether `ip` is neither private nor special-use (nsg's `Internet`
/// outside any VNet): how far away it is for timing.
fn is_internet(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local()),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) != 0xfc00,
    }
}

/// Whether an Ethernet frame is a TCP segment with data from `src`.
fn is_data_from(frame: &[u8], src: &IpAddr) -> bool {
    let Some((ip, _, from)) = nsg_packet::wire::quoted_ip(frame) else {
        return false;
    };
    if from != *src {
        return false;
    }
    let (proto, header) = if src.is_ipv6() {
        (ip[6], nsg_packet::wire::IPV6_LEN)
    } else {
        (ip[9], usize::from(ip[0] & 0x0f) * 4)
    };
    let Some(tcp) = ip.get(header..) else {
        return false;
    };
    proto == nsg_packet::proto::TCP && tcp.len() > 12 && tcp.len() > usize::from(tcp[12] >> 4) * 4
}

/// A DNS query (recursion desired) for `name`, type AAAA when `v6` else A.
fn dns_query(id: u16, name: &str, v6: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    let qtype: u16 = if v6 { 28 } else { 1 };
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// The response to `query` with one answer record, `addr`.
fn dns_response(query: &[u8], addr: IpAddr) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2..4].copy_from_slice(&[0x81, 0x80]);
    r[6..8].copy_from_slice(&[0, 1]);
    // The name by pointer to the question at offset 12.
    r.extend_from_slice(&[0xc0, 0x0c]);
    let (qtype, rdata): (u16, Vec<u8>) = match addr {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (28, a.octets().to_vec()),
    };
    r.extend_from_slice(&qtype.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&300u32.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(&rdata);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_messages_are_well_formed() {
        let q = dns_query(0x1234, "api.example.com", false);
        assert_eq!(&q[..2], &[0x12, 0x34]);
        assert_eq!(q.len(), 12 + 17 + 4);
        let r = dns_response(&q, "192.0.2.10".parse().unwrap());
        assert_eq!(&r[12..q.len()], &q[12..], "the question is repeated");
        assert_eq!(&r[2..4], &[0x81, 0x80]);
        assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 10]);
    }

    #[test]
    fn internet_addresses_by_distance() {
        assert!(is_internet(&"203.0.113.7".parse().unwrap()));
        assert!(is_internet(&"2001:db8::1".parse().unwrap()));
        assert!(!is_internet(&"10.0.1.4".parse().unwrap()));
        assert!(!is_internet(&"fd00:10:0:1::4".parse().unwrap()));
    }
}

//! Deterministic traffic synthesis: Ethernet frames with nanosecond
//! timestamps, as a capture taken at the filtered NIC would show them.
//!
//! A [`Synth`] owns a seeded [`SplitMix64`] and appends the frames of one
//! conversation at a time to a [`Capture`]: a whole TCP connection (handshake,
//! request and response segments with their acknowledgements, FIN teardown
//! from both sides or a RST), a TCP SYN left unanswered with its
//! retransmissions (a connection a filter drops), a UDP request and response,
//! an ICMP or ICMPv6 echo exchange, an ICMP or ICMPv6 error quoting a given
//! frame, and a UDP datagram cut into IPv4 or IPv6 fragments. Every builder
//! works for IPv4 and IPv6 alike; MACs and addresses are the caller's.
//! [`demo_traffic`] puts them together into the traffic of the three-tier
//! example policy, and [`write_pcap`] writes any frames to a pcap file.
//!
//! ## Guarantees
//! - The same seed and the same calls give the same bytes and timestamps.
//! - Every frame is well formed: lengths, IPv4 header checksums and
//!   TCP/UDP/ICMP/ICMPv6 checksums are right, sequence and acknowledgement
//!   numbers follow the bytes sent.
//! - Within one conversation timestamps never decrease. Builders append in
//!   the order they generate; conversations that overlap in time are put in
//!   time order by [`Capture::sort_by_time`].
//!
//! ## Timing model
//! Times are those of one observation point next to the server (the NIC
//! the filter guards): the server reacts to a client packet after
//! `server_ns`, the client's reaction to a server packet is seen `rtt_ns`
//! later. Every delay gets up to ±10 % of jitter from the generator.
//!
//! ## Not here
//! No VLAN tags, no IP options, no TCP timestamps, no retransmission of lost
//! data: enough realism for a filter, not for a TCP stack's test suite.

mod demo;
mod pcap;
pub(crate) mod wire;

pub use demo::{demo_traffic, DEMO_START_NS};
pub use pcap::{write_pcap, write_pcap_to};

use std::net::IpAddr;
use std::ops::Range;

use wire::{tcp_flags, Checksum, IpFields, TcpHeader};

/// Frames with their capture times in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// `(time, Ethernet frame)`, in the order appended or, after
    /// [`Capture::sort_by_time`], in time order.
    pub frames: Vec<(u64, Vec<u8>)>,
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Capture {
        Capture::default()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Append a frame.
    pub fn push(&mut self, ts_ns: u64, frame: Vec<u8>) {
        self.frames.push((ts_ns, frame));
    }

    /// Put the frames in time order; frames of equal time keep the order
    /// they were appended in.
    pub fn sort_by_time(&mut self) {
        self.frames.sort_by_key(|(ts, _)| *ts);
    }

    /// Write the frames to a pcap file (Ethernet, nanosecond timestamps).
    pub fn write_pcap(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_pcap(
            path,
            pcap_file::DataLink::ETHERNET,
            self.frames.iter().map(|(t, f)| (*t, f.as_slice())),
        )
    }
}

/// The SplitMix64 generator (Steele, Lea, Flood 2014): tiny, fast, and good
/// enough for ports, sequence numbers and jitter. Not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (0 when `n` is 0), by multiply-and-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice (`None` when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// One end of a conversation: the MAC its frames carry and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Ethernet address.
    pub mac: [u8; 6],
    /// IP address.
    pub ip: IpAddr,
}

impl Endpoint {
    /// An endpoint.
    pub fn new(mac: [u8; 6], ip: IpAddr) -> Endpoint {
        Endpoint { mac, ip }
    }
}

/// Faults of the synthesiser's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    /// A conversation's ends are of different address families.
    #[error("{client} and {server} are not of the same address family")]
    FamilyMismatch {
        /// The client's address.
        client: IpAddr,
        /// The server's address.
        server: IpAddr,
    },
    /// The frame to quote is not an untagged Ethernet frame carrying IPv4
    /// or IPv6.
    #[error("the frame to quote is not an untagged Ethernet frame carrying IPv4 or IPv6")]
    NotIp,
    /// The reporter of an ICMP error is not of the quoted packet's family.
    #[error(
        "the reporter {reporter} is not of the family of the quoted packet's source {source_ip}"
    )]
    ReporterFamily {
        /// The reporter's address.
        reporter: IpAddr,
        /// The quoted packet's source address.
        source_ip: IpAddr,
    },
}

/// The two ends of a conversation, of one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peers {
    client: Endpoint,
    server: Endpoint,
}

impl Peers {
    /// The client (who opens) and the server; both of one family.
    pub fn new(client: Endpoint, server: Endpoint) -> Result<Peers, SynthError> {
        if client.ip.is_ipv4() != server.ip.is_ipv4() {
            return Err(SynthError::FamilyMismatch {
                client: client.ip,
                server: server.ip,
            });
        }
        Ok(Peers { client, server })
    }

    /// The end that opens the conversation.
    pub fn client(&self) -> &Endpoint {
        &self.client
    }

    /// The end that answers.
    pub fn server(&self) -> &Endpoint {
        &self.server
    }

    /// Whether the conversation is over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.client.ip.is_ipv6()
    }
}

/// What a builder appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The client's port (the echo identifier for ICMP echo).
    pub client_port: u16,
    /// The server's port (the echo identifier for ICMP echo).
    pub server_port: u16,
    /// Time of the first frame.
    pub start_ns: u64,
    /// Time of the last frame.
    pub end_ns: u64,
    /// Indices of the appended frames in [`Capture::frames`] (valid until
    /// the capture is sorted).
    pub frames: Range<usize>,
}

/// How a TCP connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpClose {
    /// FIN from one side, its ACK, FIN from the other, its ACK.
    Fin {
        /// Whether the client sends the first FIN.
        client_first: bool,
    },
    /// A RST (with ACK) from one side.
    Rst {
        /// Whether the client sends it.
        from_client: bool,
    },
    /// Left open: no teardown in the capture.
    Open,
}

/// A TCP connection to synthesise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    /// Client port; `None` picks an ephemeral one.
    pub client_port: Option<u16>,
    /// Server port.
    pub server_port: u16,
    /// `(request bytes, response bytes)` per exchange, in order; either
    /// may be 0.
    pub exchanges: Vec<(usize, usize)>,
    /// The end.
    pub close: TcpClose,
    /// Round-trip time to the client.
    pub rtt_ns: u64,
    /// Reaction time of the server.
    pub server_ns: u64,
    /// Maximum segment size; `None` is 1460 for IPv4, 1440 for IPv6.
    pub mss: Option<u16>,
}

impl TcpSpec {
    /// A connection to `server_port` with no data, closed by the client's
    /// FIN, 1 ms round trip, 50 µs server reaction.
    pub fn new(server_port: u16) -> TcpSpec {
        TcpSpec {
            client_port: None,
            server_port,
            exchanges: Vec::new(),
            close: TcpClose::Fin { client_first: true },
            rtt_ns: 1_000_000,
            server_ns: 50_000,
            mss: None,
        }
    }
}

/// A TCP SYN nobody answers: the first SYN and its retransmissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynSpec {
    /// Client port; `None` picks an ephemeral one.
    pub client_port: Option<u16>,
    /// Server port.
    pub server_port: u16,
    /// Retransmissions after the first SYN.
    pub retransmissions: u32,
    /// Time to the first retransmission; each later one waits twice as long.
    pub rto_ns: u64,
}

impl SynSpec {
    /// A SYN to `server_port` retransmitted twice, after 1 s and 2 s more
    /// (Linux's initial retransmission timeout).
    pub fn new(server_port: u16) -> SynSpec {
        SynSpec {
            client_port: None,
            server_port,
            retransmissions: 2,
            rto_ns: 1_000_000_000,
        }
    }
}

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

/// Printable payload bytes, continuing a pattern from `start`.
fn filler(len: usize, start: u32) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((start as usize + i) % 26) as u8)
        .collect()
}

/// TTL and hop limit of every synthesised packet but ICMP errors.
const TTL: u8 = 64;
/// TTL of the ICMP errors routers send.
const ROUTER_TTL: u8 = 255;

/// One side of a TCP connection being synthesised.
#[derive(Debug, Clone, Copy)]
struct TcpEnd {
    ep: Endpoint,
    port: u16,
    /// Next sequence number to send.
    seq: u32,
    ip_id: u16,
}

/// A TCP connection being synthesised.
struct Conn {
    c: TcpEnd,
    s: TcpEnd,
    mss: usize,
    rtt_ns: u64,
    server_ns: u64,
}

impl Conn {
    /// Delay before the other side of `from_client`'s packet reacts, as
    /// seen at the observation point (before jitter).
    fn reaction(&self, from_client: bool) -> u64 {
        if from_client {
            self.server_ns
        } else {
            self.rtt_ns
        }
    }
}

/// Serialization gap between back-to-back frames of `len` bytes (1 Gbit/s).
fn wire_gap(len: usize) -> u64 {
    (len as u64 + 24) * 8
}

/// The traffic synthesiser: a seeded generator and the builders.
#[derive(Debug, Clone)]
pub struct Synth {
    rng: SplitMix64,
}

impl Synth {
    /// A synthesiser seeded with `seed`.
    pub fn new(seed: u64) -> Synth {
        Synth {
            rng: SplitMix64::new(seed),
        }
    }

    /// The generator, for the caller's own choices.
    pub fn rng(&mut self) -> &mut SplitMix64 {
        &mut self.rng
    }

    /// An ephemeral port in Linux's default range 32768..=60999.
    pub fn ephemeral_port(&mut self) -> u16 {
        self.rng.between(32768, 60999) as u16
    }

    /// `base` with up to ±10 % of jitter.
    pub fn jitter(&mut self, base: u64) -> u64 {
        let spread = base / 10;
        base - spread + self.rng.between(0, 2 * spread)
    }

    fn tcp_end(&mut self, ep: Endpoint, port: u16) -> TcpEnd {
        TcpEnd {
            ep,
            port,
            seq: self.rng.next_u32(),
            ip_id: self.rng.next_u64() as u16,
        }
    }

    /// Append one segment.
    fn segment(&mut self, cap: &mut Capture, conn: &mut Conn, seg: Seg) {
        let mss = conn.mss as u16;
        let (from, to) = if seg.from_client {
            (&mut conn.c, &conn.s)
        } else {
            (&mut conn.s, &conn.c)
        };
        let syn = seg.flags & tcp_flags::SYN != 0;
        let fin = seg.flags & tcp_flags::FIN != 0;
        let header = TcpHeader {
            src_port: from.port,
            dst_port: to.port,
            seq: from.seq,
            ack: if seg.flags & tcp_flags::ACK != 0 {
                seg.ack.unwrap_or(to.seq)
            } else {
                0
            },
            flags: seg.flags,
            window: if syn { 64240 } else { 502 },
            mss: syn.then_some(mss),
        };
        let mut l4 = header.segment(&filler(seg.len, from.seq));
        wire::set_checksum(
            &mut l4,
            from.ep.ip,
            to.ep.ip,
            wire::PROTO_TCP,
            Checksum::Pseudo(16),
        );
        let ip = IpFields::new(TTL, u32::from(from.ip_id), true);
        cap.push(
            seg.t,
            wire::ip_frame(&from.ep, &to.ep, wire::PROTO_TCP, &l4, ip),
        );
        from.ip_id = from.ip_id.wrapping_add(1);
        let consumed = seg.len as u32 + u32::from(syn) + u32::from(fin);
        from.seq = from.seq.wrapping_add(consumed);
    }

    /// Send `n` bytes from one side starting at `t`, with the other side's
    /// acknowledgements of every second segment (and of the last when
    /// `ack_last`). Returns the time the other side may act next.
    fn data(
        &mut self,
        cap: &mut Capture,
        t: u64,
        conn: &mut Conn,
        from_client: bool,
        n: usize,
        ack_last: bool,
    ) -> u64 {
        let mut t = t;
        let mut sent = 0;
        let mut acks = Vec::new();
        let mut k = 0;
        // One delay per burst keeps the other side's packets in order.
        let react = self.jitter(conn.reaction(from_client));
        while sent < n {
            let len = conn.mss.min(n - sent);
            sent += len;
            let last = sent == n;
            let flags = tcp_flags::ACK | if last { tcp_flags::PSH } else { 0 };
            self.segment(cap, conn, Seg::new(t, from_client, flags).len(len));
            let seq_after = if from_client { conn.c.seq } else { conn.s.seq };
            k += 1;
            if k % 2 == 0 || (last && ack_last) {
                acks.push((t + react, seq_after));
            }
            if !last {
                t += self.jitter(wire_gap(len));
            }
        }
        for (at, ack) in acks {
            let seg = Seg::new(at, !from_client, tcp_flags::ACK).ack(ack);
            self.segment(cap, conn, seg);
        }
        t + react
    }

    /// A whole TCP connection: handshake, the exchanges of `spec`, and its
    /// close, starting at `t0`.
    pub fn tcp_connection(
        &mut self,
        cap: &mut Capture,
        t0: u64,
        peers: &Peers,
        spec: &TcpSpec,
    ) -> Exchange {
        use tcp_flags::{ACK, FIN, RST, SYN};
        let first = cap.len();
        let client_port = spec.client_port.unwrap_or_else(|| self.ephemeral_port());
        let default_mss = if peers.is_ipv6() { 1440 } else { 1460 };
        let mut conn = Conn {
            c: self.tcp_end(peers.client, client_port),
            s: self.tcp_end(peers.server, spec.server_port),
            mss: usize::from(spec.mss.unwrap_or(default_mss).max(1)),
            rtt_ns: spec.rtt_ns,
            server_ns: spec.server_ns,
        };
        let mut t = t0;
        self.segment(cap, &mut conn, Seg::new(t, true, SYN));
        t += self.jitter(conn.server_ns);
        self.segment(cap, &mut conn, Seg::new(t, false, SYN | ACK));
        t += self.jitter(conn.rtt_ns);
        self.segment(cap, &mut conn, Seg::new(t, true, ACK));
        for (i, &(req, resp)) in spec.exchanges.iter().enumerate() {
            let more = i + 1 < spec.exchanges.len();
            if req > 0 {
                // Think time before the request.
                t += self.rng.below(2_000_000);
                t = self.data(cap, t, &mut conn, true, req, resp == 0);
            }
            if resp > 0 {
                t = self.data(cap, t, &mut conn, false, resp, !more);
            }
        }
        t += self.jitter(10_000);
        match spec.close {
            TcpClose::Fin { client_first } => {
                let closer = client_first;
                self.segment(cap, &mut conn, Seg::new(t, closer, FIN | ACK));
                t += self.jitter(conn.reaction(closer));
                self.segment(cap, &mut conn, Seg::new(t, !closer, ACK));
                t += self.jitter(20_000);
                self.segment(cap, &mut conn, Seg::new(t, !closer, FIN | ACK));
                t += self.jitter(conn.reaction(!closer));
                self.segment(cap, &mut conn, Seg::new(t, closer, ACK));
            }
            TcpClose::Rst { from_client } => {
                self.segment(cap, &mut conn, Seg::new(t, from_client, RST | ACK));
            }
            TcpClose::Open => {}
        }
        self.finish(cap, first, t0, client_port, spec.server_port)
    }

    /// The [`Exchange`] of the frames appended since `first`.
    fn finish(
        &self,
        cap: &Capture,
        first: usize,
        t0: u64,
        client_port: u16,
        server_port: u16,
    ) -> Exchange {
        let end_ns = cap.frames[first..]
            .iter()
            .map(|(ts, _)| *ts)
            .max()
            .unwrap_or(t0);
        Exchange {
            client_port,
            server_port,
            start_ns: t0,
            end_ns,
            frames: first..cap.len(),
        }
    }
}

impl Synth {
    /// A TCP SYN nobody answers, and its retransmissions: what a client
    /// sends when a filter drops its connection.
    pub fn tcp_unanswered(
        &mut self,
        cap: &mut Capture,
        t0: u64,
        peers: &Peers,
        spec: &SynSpec,
    ) -> Exchange {
        let first = cap.len();
        let client_port = spec.client_port.unwrap_or_else(|| self.ephemeral_port());
        let mut conn = Conn {
            c: self.tcp_end(peers.client, client_port),
            s: self.tcp_end(peers.server, spec.server_port),
            mss: if peers.is_ipv6() { 1440 } else { 1460 },
            rtt_ns: 0,
            server_ns: 0,
        };
        let isn = conn.c.seq;
        let mut t = t0;
        let mut rto = spec.rto_ns;
        for i in 0..=spec.retransmissions {
            if i > 0 {
                t += rto + self.rng.below(rto / 100 + 1);
                rto = rto.saturating_mul(2);
            }
            // A retransmission repeats the sequence number.
            conn.c.seq = isn;
            self.segment(cap, &mut conn, Seg::new(t, true, tcp_flags::SYN));
        }
        self.finish(cap, first, t0, client_port, spec.server_port)
    }

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
            wire::PROTO_UDP,
            Checksum::Pseudo(6),
        );
        let ip = IpFields::new(TTL, self.rng.next_u32(), false);
        cap.push(t, wire::ip_frame(from, to, wire::PROTO_UDP, &l4, ip));
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
        wire::set_checksum(&mut l4, c.ip, s.ip, wire::PROTO_UDP, Checksum::Pseudo(6));
        let id = if peers.is_ipv6() {
            self.rng.next_u32()
        } else {
            u32::from(self.rng.next_u64() as u16)
        };
        let mut t = t0;
        if l4.len() <= unit {
            cap.push(
                t,
                wire::ip_frame(&c, &s, wire::PROTO_UDP, &l4, IpFields::new(TTL, id, false)),
            );
        } else {
            for (i, chunk) in l4.chunks(unit).enumerate() {
                let offset = (i * unit / 8) as u16;
                let more = (i + 1) * unit < l4.len();
                let ip = IpFields {
                    frag: Some((offset, more)),
                    ..IpFields::new(TTL, id, false)
                };
                cap.push(t, wire::ip_frame(&c, &s, wire::PROTO_UDP, chunk, ip));
                t += self.jitter(wire_gap(chunk.len() + headers));
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
            (wire::PROTO_ICMPV6, 128, 129, Checksum::Pseudo(2))
        } else {
            (wire::PROTO_ICMP, 8, 0, Checksum::Plain(2))
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
                wire::PROTO_ICMPV6,
                Checksum::Pseudo(2),
                1280 - wire::IPV6_LEN - 8,
            )
        } else {
            (
                wire::PROTO_ICMP,
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

/// One TCP segment to append.
#[derive(Debug, Clone, Copy)]
struct Seg {
    t: u64,
    from_client: bool,
    flags: u8,
    len: usize,
    /// Acknowledgement number; `None` acknowledges all the other side sent.
    ack: Option<u32>,
}

impl Seg {
    fn new(t: u64, from_client: bool, flags: u8) -> Seg {
        Seg {
            t,
            from_client,
            flags,
            len: 0,
            ack: None,
        }
    }
    fn len(self, len: usize) -> Seg {
        Seg { len, ..self }
    }
    fn ack(self, ack: u32) -> Seg {
        Seg {
            ack: Some(ack),
            ..self
        }
    }
}

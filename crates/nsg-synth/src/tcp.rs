//! TCP conversations: whole connections and unanswered SYNs.

use super::{filler, Capture, Endpoint, Exchange, Peers, Synth, TTL};
use nsg_packet::wire::{self, Checksum, IpFields, TcpHeader};
use nsg_packet::TcpFlags;

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

impl Synth {
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
        let syn = seg.flags & TcpFlags::SYN != 0;
        let fin = seg.flags & TcpFlags::FIN != 0;
        let header = TcpHeader {
            src_port: from.port,
            dst_port: to.port,
            seq: from.seq,
            ack: if seg.flags & TcpFlags::ACK != 0 {
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
            nsg_packet::proto::TCP,
            Checksum::Pseudo(16),
        );
        let ip = IpFields::new(TTL, u32::from(from.ip_id), true);
        cap.push(
            seg.t,
            wire::ip_frame(&from.ep, &to.ep, nsg_packet::proto::TCP, &l4, ip),
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
            let flags = TcpFlags::ACK | if last { TcpFlags::PSH } else { 0 };
            self.segment(cap, conn, Seg::new(t, from_client, flags).bytes(len));
            let seq_after = if from_client { conn.c.seq } else { conn.s.seq };
            k += 1;
            if k % 2 == 0 || (last && ack_last) {
                acks.push((t + react, seq_after));
            }
            if !last {
                t += self.jitter(super::wire_gap(len));
            }
        }
        for (at, ack) in acks {
            let seg = Seg::new(at, !from_client, TcpFlags::ACK).ack(ack);
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
        const ACK: u8 = TcpFlags::ACK;
        const FIN: u8 = TcpFlags::FIN;
        const RST: u8 = TcpFlags::RST;
        const SYN: u8 = TcpFlags::SYN;
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
            self.segment(cap, &mut conn, Seg::new(t, true, TcpFlags::SYN));
        }
        self.finish(cap, first, t0, client_port, spec.server_port)
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
    fn bytes(self, len: usize) -> Seg {
        Seg { len, ..self }
    }
    fn ack(self, ack: u32) -> Seg {
        Seg {
            ack: Some(ack),
            ..self
        }
    }
}

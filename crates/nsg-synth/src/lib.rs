//! # nsg-synth
//!
//! Deterministic traffic synthesis: Ethernet frames with nanosecond
//! timestamps, as a capture taken at the filtered NIC would show them. It
//! feeds `nsg demo`, the pipeline benchmark ([`bench`](mod@bench), `nsg bench
//! pipeline`) and the end-to-end tests.
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
//! example policy, and [`write_pcap`] writes any frames to a pcap file
//! (with `nsg-capture`'s writer).
//!
//! ## Guarantees
//! - The same seed and the same calls give the same bytes and timestamps.
//! - Every frame is well formed: lengths, IPv4 header checksums and
//!   TCP/UDP/ICMP/ICMPv6 checksums are right, sequence and acknowledgement
//!   numbers follow the bytes sent.
//! - Times are causal: nothing is answered before it was sent. Builders
//!   append in the order they generate, which is not always time order (a
//!   burst's acknowledgements follow the burst, conversations overlap):
//!   [`Capture::sort_by_time`] puts a capture in time order.
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
//! Header bytes and checksums are built by `nsg_packet::wire`; capture
//! files are written by `nsg-capture`; the pipeline the benchmark drives is
//! `nsg-dataplane`'s.

#![deny(unsafe_code)]

pub mod bench;

mod datagram;
mod demo;
pub mod handshakes;
mod pcap;
mod rng;
mod tcp;

pub use datagram::{FragSpec, IcmpError, PingSpec, UdpSpec};
pub use demo::{demo_traffic, DEMO_START_NS};
pub use nsg_packet::wire::Endpoint;
pub use pcap::{write_pcap, write_pcap_to};
pub use rng::SplitMix64;
pub use tcp::{SynSpec, TcpClose, TcpSpec};

use std::net::IpAddr;
use std::ops::Range;

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
            nsg_capture::capture::LINKTYPE_ETHERNET,
            self.frames.iter().map(|(t, f)| (*t, f.as_slice())),
        )
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

/// Serialization gap between back-to-back frames of `len` bytes (1 Gbit/s).
fn wire_gap(len: usize) -> u64 {
    (len as u64 + 24) * 8
}

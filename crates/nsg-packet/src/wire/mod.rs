//! Building frames: Ethernet II, IPv4, IPv6 (with an optional fragment
//! header), TCP, UDP, ICMP, ICMPv6, ARP and neighbour discovery, with
//! correct lengths and checksums. The counterpart of the parsers: what the
//! traffic synthesiser and the switch's ARP/ND answers send.
//!
//! ARP and neighbour discovery are built with etherparse's
//! [`PacketBuilder`](etherparse::PacketBuilder). The IP frames of
//! [`ip_frame`] are written by hand: they carry IPv4 and IPv6 fragments of
//! an upper-layer message whose checksum was computed over the whole
//! message, a 32-bit IPv6 fragment identification and a flow label taken
//! from it, which etherparse's builder (one unfragmented packet whose
//! transport checksum it computes itself) cannot produce.
//!
//! ## Guarantees
//! - The same arguments give the same bytes.
//! - Nothing here panics: the few readers ([`quoted_ip`], [`arp::parse`],
//!   [`nd::parse`], the MAC accessors) check every bound and answer `None`.

pub mod arp;
mod checksum;
mod eth;
mod ip;
mod l4;
pub mod nd;

pub use checksum::{fold, set_checksum, sum16, Checksum};
pub use eth::{dst_mac, is_multicast_mac, set_macs, src_mac, BROADCAST, ETH_LEN};
pub use ip::{ip_frame, quoted_ip, Endpoint, IpFields, IPV4_LEN, IPV6_FRAG_LEN, IPV6_LEN};
pub use l4::{icmp_message, udp_datagram, TcpHeader, UDP_LEN};

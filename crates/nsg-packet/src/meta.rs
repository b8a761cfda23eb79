//! The compact, owned result of parsing a frame: [`Frame`], [`PacketMeta`]
//! and the [`FiveTuple`] the flow table keys on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address of either family in 16 bytes, big-endian halves.
///
/// IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`); the
/// [`Family`] next to an address says how to read it back, so an IPv6
/// packet carrying a literal mapped address never collides with IPv4.
/// The derived order is the numeric order of the 128-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr {
    /// Bits 127..64.
    pub hi: u64,
    /// Bits 63..0.
    pub lo: u64,
}

impl Addr {
    /// An IPv4 address, stored IPv4-mapped.
    #[inline]
    pub const fn from_v4(octets: [u8; 4]) -> Addr {
        Addr {
            hi: 0,
            lo: 0x0000_ffff_0000_0000 | u32::from_be_bytes(octets) as u64,
        }
    }

    /// An IPv6 address.
    #[inline]
    pub const fn from_v6(octets: [u8; 16]) -> Addr {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = octets;
        Addr {
            hi: u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            lo: u64::from_be_bytes([i, j, k, l, m, n, o, p]),
        }
    }

    /// The 16 bytes of the address (IPv4 mapped).
    pub const fn octets(self) -> [u8; 16] {
        (((self.hi as u128) << 64) | self.lo as u128).to_be_bytes()
    }

    /// The address as a standard library address of `family`.
    pub fn to_ip(self, family: Family) -> IpAddr {
        match family {
            Family::V4 => {
                // The IPv4 address is the low 4 bytes of `lo`.
                let [.., a, b, c, d] = self.lo.to_be_bytes();
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.octets())),
        }
    }

    /// The address of a standard library address.
    pub fn from_ip(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::from_v4(v4.octets()),
            IpAddr::V6(v6) => Addr::from_v6(v6.octets()),
        }
    }
}

/// The IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum Family {
    /// IPv4.
    #[default]
    V4 = 4,
    /// IPv6.
    V6 = 6,
}

/// IP protocol numbers this crate gives meaning to.
pub mod proto {
    /// ICMP (for IPv4).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// Authentication Header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// Whether IP protocol `p` carries ports an NSG rule matches (TCP or UDP).
#[inline]
pub fn proto_has_ports(p: u8) -> bool {
    matches!(p, proto::TCP | proto::UDP)
}

/// Source, destination, protocol and ports of a packet as it travels.
///
/// Ports are those of TCP and UDP; an ICMP or ICMPv6 echo request or reply
/// carries its identifier in both port fields, so both directions of a ping
/// share a tuple; every other protocol (ESP, AH, other ICMP messages, any
/// other number, non-first fragments) has both ports 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FiveTuple {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (or echo identifier, or 0).
    pub src_port: u16,
    /// Destination port (or echo identifier, or 0).
    pub dst_port: u16,
    /// IP protocol number (for IPv6, the upper-layer protocol after the
    /// extension header chain; AH counts as the protocol, as NSG rules see it).
    pub proto: u8,
    /// Address family of `src` and `dst`.
    pub family: Family,
}

impl FiveTuple {
    /// Whether the protocol carries ports an NSG rule matches (TCP or UDP).
    /// Echo identifiers in the port fields of an ICMP tuple are not ports.
    #[inline]
    pub fn has_ports(&self) -> bool {
        proto_has_ports(self.proto)
    }

    /// The same tuple seen from the other end.
    #[inline]
    pub fn reversed(&self) -> FiveTuple {
        FiveTuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
            family: self.family,
        }
    }

    /// Source address as a standard library address.
    pub fn src_ip(&self) -> IpAddr {
        self.src.to_ip(self.family)
    }

    /// Destination address as a standard library address.
    pub fn dst_ip(&self) -> IpAddr {
        self.dst.to_ip(self.family)
    }
}

/// TCP header flags (the flags byte, byte 13 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// Whether every flag of `mask` is set.
    #[inline]
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// ACK set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// FIN set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// RST set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.has(Self::RST)
    }
}

/// What an ICMP or ICMPv6 message is, as far as filtering cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpKind {
    /// Echo request (ICMP 8, ICMPv6 128); the identifier is in the tuple's ports.
    EchoRequest,
    /// Echo reply (ICMP 0, ICMPv6 129); the identifier is in the tuple's ports.
    EchoReply,
    /// An error message (ICMP 3, 4, 5, 11, 12; ICMPv6 1 to 4) with the tuple
    /// of the packet it quotes, as that packet travelled (`None` when the
    /// quoted header is missing or unreadable).
    Error {
        /// The quoted packet's tuple, echo identifier in its ports for a
        /// quoted echo.
        quoted: Option<FiveTuple>,
    },
    /// Any other message (neighbour discovery, router advertisements,
    /// timestamps, ...).
    Other,
}

/// ICMP or ICMPv6 details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// Message type.
    pub ty: u8,
    /// Message code.
    pub code: u8,
    /// What the message is.
    pub kind: IcmpKind,
}

/// The transport layer of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP; ports are in the tuple.
    Tcp {
        /// Header flags.
        flags: TcpFlags,
    },
    /// UDP; ports are in the tuple.
    Udp,
    /// ICMP (protocol 1) or ICMPv6 (protocol 58).
    Icmp(Icmp),
    /// ESP, AH or any other protocol: no ports.
    Other,
    /// A non-first fragment: its transport header is in another packet.
    Fragment,
}

/// Fragmentation of an IPv4 packet or an IPv6 packet with a fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset in 8-byte units.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

impl Fragment {
    /// The first fragment, which carries the transport header.
    #[inline]
    pub const fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// VLAN identifiers of the tags a frame carried (802.1Q, 802.1ad QinQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vlans {
    /// The outer (first) tag's VLAN id.
    pub outer: Option<u16>,
    /// The inner (second) tag's VLAN id.
    pub inner: Option<u16>,
}

/// Everything the dataplane needs of an IP packet: small, `Copy`, no borrow
/// of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketMeta {
    /// Addresses, protocol and ports as the packet travels.
    pub tuple: FiveTuple,
    /// Transport details.
    pub transport: Transport,
    /// Fragmentation, when the packet is a fragment (an IPv4 packet with MF or
    /// a non-zero offset; an IPv6 packet with a fragmenting fragment header).
    pub fragment: Option<Fragment>,
    /// VLAN tags of the frame.
    pub vlans: Vlans,
    /// Length of the whole frame in bytes (what byte counters count).
    pub frame_len: u32,
}

impl PacketMeta {
    /// TCP flags, when this is an unfragmented TCP packet or its first fragment.
    #[inline]
    pub fn tcp_flags(&self) -> Option<TcpFlags> {
        match self.transport {
            Transport::Tcp { flags } => Some(flags),
            _ => None,
        }
    }

    /// Whether this is a fragment other than the first (it has no transport
    /// header and follows its first fragment's verdict).
    #[inline]
    pub fn is_non_first_fragment(&self) -> bool {
        matches!(self.fragment, Some(f) if !f.is_first())
    }

    /// Whether this is an ICMPv6 neighbour discovery message (router and
    /// neighbour solicitation and advertisement, redirect: types 133 to 137),
    /// which, like ARP, is not filtered.
    pub fn is_neighbor_discovery(&self) -> bool {
        matches!(self.transport, Transport::Icmp(Icmp { ty: 133..=137, .. }))
            && self.tuple.proto == proto::ICMPV6
    }
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frame {
    /// An IPv4 or IPv6 packet.
    Ip(PacketMeta),
    /// An ARP packet (not filtered).
    Arp {
        /// VLAN tags of the frame.
        vlans: Vlans,
    },
    /// An Ethernet frame of another EtherType (or an 802.3 length field):
    /// classified, not parsed further.
    NonIp {
        /// The EtherType (or length) after the VLAN tags.
        ether_type: u16,
        /// VLAN tags of the frame.
        vlans: Vlans,
    },
}

impl Frame {
    /// The IP packet, if this frame is one.
    pub fn ip(&self) -> Option<&PacketMeta> {
        match self {
            Frame::Ip(m) => Some(m),
            _ => None,
        }
    }
}

/// EtherTypes this crate recognises.
pub mod ether_type {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad provider bridging (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ outer tag.
    pub const QINQ_OLD: u16 = 0x9100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_round_trips() {
        let v4 = Ipv4Addr::new(10, 1, 2, 3);
        let a = Addr::from_ip(IpAddr::V4(v4));
        assert_eq!(a.to_ip(Family::V4), IpAddr::V4(v4));
        let v6: Ipv6Addr = "fd00:1::4".parse().unwrap();
        let b = Addr::from_ip(IpAddr::V6(v6));
        assert_eq!(b.to_ip(Family::V6), IpAddr::V6(v6));
        assert_eq!(Addr::from_v6(b.octets()), b);
    }

    #[test]
    fn addr_order_is_numeric() {
        let a = Addr::from_v6("::1".parse::<Ipv6Addr>().unwrap().octets());
        let b = Addr::from_v6("1::".parse::<Ipv6Addr>().unwrap().octets());
        assert!(a < b);
        assert!(Addr::from_v4([9, 255, 255, 255]) < Addr::from_v4([10, 0, 0, 0]));
    }
}

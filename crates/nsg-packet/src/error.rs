//! Why a frame was dropped: the layer and what was wrong with it.

use thiserror::Error;

/// A protocol layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The Ethernet II header.
    Ethernet,
    /// An 802.1Q or 802.1ad VLAN tag.
    Vlan,
    /// The ARP packet.
    Arp,
    /// The IPv4 header or packet.
    Ipv4,
    /// The IPv6 header or packet.
    Ipv6,
    /// An IPv6 extension header (hop-by-hop, routing, destination options,
    /// fragment).
    Ipv6Ext,
    /// An IP authentication header.
    IpAuth,
    /// The TCP header.
    Tcp,
    /// The UDP header or datagram.
    Udp,
    /// The ICMP header.
    Icmpv4,
    /// The ICMPv6 header.
    Icmpv6,
}

impl Layer {
    /// A short name of the layer.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Ext => "ipv6 extension header",
            Layer::IpAuth => "ip authentication header",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmpv4 => "icmp",
            Layer::Icmpv6 => "icmpv6",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A frame that cannot be filtered: which layer, what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ParseError {
    /// The layer needs more bytes than the frame (or the enclosing length
    /// field) provides.
    #[error("{layer}: truncated, {required} bytes needed at offset {offset}, {available} present")]
    Truncated {
        /// The layer that did not fit.
        layer: Layer,
        /// Offset of the layer in the frame.
        offset: u32,
        /// Bytes the layer needs.
        required: u32,
        /// Bytes there were.
        available: u32,
    },
    /// A length field of the layer is smaller than the header it belongs to
    /// (IPv4 total length below the header length, UDP length below 8).
    #[error("{layer}: length field {value} is smaller than the header ({minimum} bytes)")]
    LengthTooSmall {
        /// The layer with the bad field.
        layer: Layer,
        /// The field's value in bytes.
        value: u32,
        /// The least valid value.
        minimum: u32,
    },
    /// The IP version nibble does not match the EtherType.
    #[error("{layer}: version {version} does not match the EtherType")]
    BadVersion {
        /// The IP layer.
        layer: Layer,
        /// The version found.
        version: u8,
    },
    /// IPv4 header length (IHL) below 5 words.
    #[error("ipv4: header length {ihl} words is below the minimum of 5")]
    Ipv4HeaderTooShort {
        /// The IHL found.
        ihl: u8,
    },
    /// TCP data offset below 5 words.
    #[error("tcp: data offset {data_offset} words is below the minimum of 5")]
    TcpDataOffsetTooSmall {
        /// The data offset found.
        data_offset: u8,
    },
    /// A hop-by-hop options header that is not the first extension header.
    #[error("ipv6 extension header: hop-by-hop options not directly after the IPv6 header")]
    HopByHopNotFirst,
    /// An authentication header with a payload length of zero.
    #[error("ip authentication header: zero payload length")]
    AuthZeroLength,
    /// More than two VLAN tags.
    #[error("vlan: more than two VLAN tags")]
    TooManyVlanTags,
    /// A link-layer extension this dataplane does not read (MACsec).
    #[error("ethernet: unsupported link extension {ether_type:#06x}")]
    UnsupportedLinkExtension {
        /// Its EtherType.
        ether_type: u16,
    },
}

impl ParseError {
    /// The layer the error occurred at.
    pub const fn layer(&self) -> Layer {
        match *self {
            ParseError::Truncated { layer, .. }
            | ParseError::LengthTooSmall { layer, .. }
            | ParseError::BadVersion { layer, .. } => layer,
            ParseError::Ipv4HeaderTooShort { .. } => Layer::Ipv4,
            ParseError::TcpDataOffsetTooSmall { .. } => Layer::Tcp,
            ParseError::HopByHopNotFirst => Layer::Ipv6Ext,
            ParseError::AuthZeroLength => Layer::IpAuth,
            ParseError::TooManyVlanTags => Layer::Vlan,
            ParseError::UnsupportedLinkExtension { .. } => Layer::Ethernet,
        }
    }

    /// The drop reason counted for this error.
    pub const fn reason(&self) -> DropReason {
        match *self {
            ParseError::Truncated { layer, .. } => match layer {
                Layer::Ethernet => DropReason::TruncatedEthernet,
                Layer::Vlan => DropReason::TruncatedVlan,
                Layer::Arp => DropReason::TruncatedArp,
                Layer::Ipv4 => DropReason::TruncatedIpv4,
                Layer::Ipv6 => DropReason::TruncatedIpv6,
                Layer::Ipv6Ext | Layer::IpAuth => DropReason::TruncatedIpExt,
                Layer::Tcp => DropReason::TruncatedTcp,
                Layer::Udp => DropReason::TruncatedUdp,
                Layer::Icmpv4 | Layer::Icmpv6 => DropReason::TruncatedIcmp,
            },
            ParseError::LengthTooSmall {
                layer: Layer::Udp, ..
            } => DropReason::BadUdpLength,
            ParseError::LengthTooSmall { .. }
            | ParseError::BadVersion { .. }
            | ParseError::Ipv4HeaderTooShort { .. } => DropReason::BadIpHeader,
            ParseError::TcpDataOffsetTooSmall { .. } => DropReason::BadTcpHeader,
            ParseError::HopByHopNotFirst | ParseError::AuthZeroLength => DropReason::BadIpExt,
            ParseError::TooManyVlanTags => DropReason::TooManyVlanTags,
            ParseError::UnsupportedLinkExtension { .. } => DropReason::UnsupportedLinkExtension,
        }
    }
}

/// The reasons a frame is dropped at parsing, one counter each in
/// [`crate::ParseStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    TruncatedEthernet,
    /// A VLAN tag cut short.
    TruncatedVlan,
    /// More than two VLAN tags.
    TooManyVlanTags,
    /// MACsec or another link extension not read.
    UnsupportedLinkExtension,
    /// An ARP packet cut short.
    TruncatedArp,
    /// IPv4 header or packet cut short (frame shorter than total length).
    TruncatedIpv4,
    /// IPv6 header or packet cut short (frame shorter than payload length).
    TruncatedIpv6,
    /// An IP extension header (IPv6 extension or authentication header) cut short.
    TruncatedIpExt,
    /// Wrong version, IHL below 5, total length below the header.
    BadIpHeader,
    /// A malformed extension header chain.
    BadIpExt,
    /// TCP header cut short (including a first fragment too short for it).
    TruncatedTcp,
    /// TCP data offset below 5.
    BadTcpHeader,
    /// UDP header or datagram cut short.
    TruncatedUdp,
    /// UDP length field between 1 and 7.
    BadUdpLength,
    /// ICMP or ICMPv6 header cut short.
    TruncatedIcmp,
}

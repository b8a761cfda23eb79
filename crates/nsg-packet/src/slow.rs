//! The slow path: every frame, read through etherparse's checked slices.
//!
//! This is the reference reading of a frame. It handles everything the fast
//! path does not: ARP, other EtherTypes, IPv4 options and fragments, the IPv6
//! extension header chain and fragment header, ICMP and ICMPv6 (echo
//! identifiers, the packet quoted by an error), ESP, AH and any other IP
//! protocol; and it says why a frame is malformed.

use etherparse::err::{self, LenError};
use etherparse::LenSource;
use etherparse::{
    ArpPacketSlice, EtherPayloadSlice, EtherType, Ethernet2Slice, Ipv4HeaderSlice, Ipv4Slice,
    Ipv6ExtensionSlice, Ipv6HeaderSlice, Ipv6Slice, SingleVlanSlice, TcpHeaderSlice,
    UdpHeaderSlice, UdpSlice,
};

use crate::error::{Layer, ParseError};
use crate::meta::{
    ether_type, proto, Addr, Family, FiveTuple, Fragment, Frame, Icmp, IcmpKind, PacketMeta,
    TcpFlags, Transport, Vlans,
};

const MACSEC: u16 = 0x88e5;

/// Parse any frame with the checked parsers.
pub fn parse(frame: &[u8]) -> Result<Frame, ParseError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|e| len_error(&e, 0))?;
    network(eth.payload(), frame.len())
}

/// [`parse`] of a frame whose link header announced EtherType `et`
/// (Linux cooked, raw IP, loopback), read from `payload`, the bytes after
/// that header, with the lengths and offsets an Ethernet frame of the same
/// payload would have: the same frame, the same faults.
pub fn parse_payload(et: u16, payload: &[u8]) -> Result<Frame, ParseError> {
    let frame_len = payload.len() + 14;
    let payload = EtherPayloadSlice {
        ether_type: EtherType(et),
        len_source: LenSource::Slice,
        payload,
    };
    network(payload, frame_len)
}

/// Everything after a 14-byte Ethernet header: VLAN tags, then ARP, IP or
/// another EtherType, in a frame of `frame_len` bytes.
fn network(mut payload: EtherPayloadSlice<'_>, frame_len: usize) -> Result<Frame, ParseError> {
    let mut off = 14usize;
    let mut vlans = Vlans::default();
    let mut tags = 0;
    loop {
        let et = payload.ether_type.0;
        match et {
            ether_type::VLAN | ether_type::QINQ | ether_type::QINQ_OLD => {
                if tags == 2 {
                    return Err(ParseError::TooManyVlanTags);
                }
                let tag =
                    SingleVlanSlice::from_slice(payload.payload).map_err(|e| len_error(&e, off))?;
                let vid = tag.vlan_identifier().value();
                if tags == 0 {
                    vlans.outer = Some(vid);
                } else {
                    vlans.inner = Some(vid);
                }
                tags += 1;
                off += 4;
                payload = tag.payload();
            }
            MACSEC => return Err(ParseError::UnsupportedLinkExtension { ether_type: et }),
            ether_type::ARP => {
                ArpPacketSlice::from_slice(payload.payload).map_err(|e| len_error(&e, off))?;
                return Ok(Frame::Arp { vlans });
            }
            ether_type::IPV4 => return ipv4(payload.payload, off, vlans, frame_len),
            ether_type::IPV6 => return ipv6(payload.payload, off, vlans, frame_len),
            _ => {
                return Ok(Frame::NonIp {
                    ether_type: et,
                    vlans,
                })
            }
        }
    }
}

fn ipv4(ip: &[u8], off: usize, vlans: Vlans, frame_len: usize) -> Result<Frame, ParseError> {
    let v4 = Ipv4Slice::from_slice(ip).map_err(|e| match e {
        err::ipv4::SliceError::Len(l) => len_error(&l, off),
        err::ipv4::SliceError::Header(h) => ipv4_header_error(&h),
        err::ipv4::SliceError::Exts(_) => ParseError::AuthZeroLength,
    })?;
    let h = v4.header();
    let ip_proto = h.protocol().0;
    let fragment = h.is_fragmenting_payload().then(|| Fragment {
        id: u32::from(h.identification()),
        offset: h.fragments_offset().value(),
        more: h.more_fragments(),
    });
    let tuple = FiveTuple {
        src: Addr::from_v4(h.source()),
        dst: Addr::from_v4(h.destination()),
        proto: ip_proto,
        family: Family::V4,
        ..FiveTuple::default()
    };
    let header_len = h.slice().len();
    // For AH the protocol is AH: rules match protocol 51, not what it carries.
    // `Ipv4Slice` checked header_len <= total_len <= ip.len().
    let l4 = ip
        .get(header_len..usize::from(h.total_len()))
        .unwrap_or(&[]);
    finish(tuple, l4, off + header_len, fragment, vlans, frame_len)
}

fn ipv6(ip: &[u8], off: usize, vlans: Vlans, frame_len: usize) -> Result<Frame, ParseError> {
    let v6 = Ipv6Slice::from_slice(ip).map_err(|e| match e {
        err::ipv6::SliceError::Len(l) => len_error(&l, off),
        err::ipv6::SliceError::Header(err::ipv6::HeaderError::UnexpectedVersion {
            version_number,
        }) => ParseError::BadVersion {
            layer: Layer::Ipv6,
            version: version_number,
        },
        err::ipv6::SliceError::Exts(x) => ipv6_ext_error(&x),
    })?;
    let h = v6.header();
    let mut fragment = None;
    let mut auth = false;
    for ext in v6.extensions().clone() {
        match ext {
            Ipv6ExtensionSlice::Fragment(f) if f.is_fragmenting_payload() => {
                fragment = Some(Fragment {
                    id: f.identification(),
                    offset: f.fragment_offset().value(),
                    more: f.more_fragments(),
                });
            }
            Ipv6ExtensionSlice::Authentication(_) => auth = true,
            _ => {}
        }
    }
    let payload = v6.payload();
    let ip_proto = if auth { proto::AH } else { payload.ip_number.0 };
    let tuple = FiveTuple {
        src: Addr::from_v6(h.source()),
        dst: Addr::from_v6(h.destination()),
        proto: ip_proto,
        family: Family::V6,
        ..FiveTuple::default()
    };
    let l4_off = off + (ip.len() - payload.payload.len()).min(ip.len());
    finish(tuple, payload.payload, l4_off, fragment, vlans, frame_len)
}

/// Read the transport header of `l4` (the IP payload) into the tuple.
fn finish(
    mut tuple: FiveTuple,
    l4: &[u8],
    off: usize,
    fragment: Option<Fragment>,
    vlans: Vlans,
    frame_len: usize,
) -> Result<Frame, ParseError> {
    let unfragmented = fragment.is_none();
    let transport = if fragment.is_some_and(|f| !f.is_first()) {
        Transport::Fragment
    } else {
        match tuple.proto {
            proto::TCP => {
                let tcp = TcpHeaderSlice::from_slice(l4).map_err(|e| match e {
                    err::tcp::HeaderSliceError::Len(l) => len_error(&l, off),
                    err::tcp::HeaderSliceError::Content(
                        err::tcp::HeaderError::DataOffsetTooSmall { data_offset },
                    ) => ParseError::TcpDataOffsetTooSmall { data_offset },
                })?;
                tuple.src_port = tcp.source_port();
                tuple.dst_port = tcp.destination_port();
                Transport::Tcp {
                    flags: TcpFlags(tcp.slice()[13]),
                }
            }
            proto::UDP => {
                // A first fragment carries only part of the datagram, so its
                // length field cannot be checked against the packet.
                if unfragmented {
                    UdpSlice::from_slice(l4).map_err(|e| len_error(&e, off))?;
                }
                let udp = UdpHeaderSlice::from_slice(l4).map_err(|e| len_error(&e, off))?;
                tuple.src_port = udp.source_port();
                tuple.dst_port = udp.destination_port();
                Transport::Udp
            }
            proto::ICMP | proto::ICMPV6 => {
                let v6 = tuple.proto == proto::ICMPV6;
                let layer = if v6 { Layer::Icmpv6 } else { Layer::Icmpv4 };
                if l4.len() < 8 {
                    return Err(ParseError::Truncated {
                        layer,
                        offset: clamp(off),
                        required: 8,
                        available: clamp(l4.len()),
                    });
                }
                let (ty, code) = (l4[0], l4[1]);
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                let kind = icmp_kind(ty, v6, &l4[8..]);
                if matches!(kind, IcmpKind::EchoRequest | IcmpKind::EchoReply) {
                    tuple.src_port = id;
                    tuple.dst_port = id;
                }
                Transport::Icmp(Icmp { ty, code, kind })
            }
            _ => Transport::Other,
        }
    };
    Ok(Frame::Ip(PacketMeta {
        tuple,
        transport,
        fragment,
        vlans,
        frame_len: clamp(frame_len),
    }))
}

fn icmp_kind(ty: u8, v6: bool, body: &[u8]) -> IcmpKind {
    match (v6, ty) {
        (false, 8) | (true, 128) => IcmpKind::EchoRequest,
        (false, 0) | (true, 129) => IcmpKind::EchoReply,
        (false, 3 | 4 | 5 | 11 | 12) | (true, 1..=4) => IcmpKind::Error {
            quoted: quoted(body),
        },
        _ => IcmpKind::Other,
    }
}

/// The tuple of the packet quoted in an ICMP error: its IP header and at
/// least the first 4 bytes of its transport header (8 for a quoted echo).
/// Length fields of the quoted header are not checked: the quote is cut.
pub(crate) fn quoted(body: &[u8]) -> Option<FiveTuple> {
    let version = body.first()? >> 4;
    let (mut tuple, rest, non_first) = match version {
        4 => {
            let h = Ipv4HeaderSlice::from_slice(body).ok()?;
            let tuple = FiveTuple {
                src: Addr::from_v4(h.source()),
                dst: Addr::from_v4(h.destination()),
                proto: h.protocol().0,
                family: Family::V4,
                ..FiveTuple::default()
            };
            let rest = &body[h.slice().len()..];
            (tuple, rest, h.fragments_offset().value() != 0)
        }
        6 => {
            let h = Ipv6HeaderSlice::from_slice(body).ok()?;
            let (next, rest, auth, non_first) =
                walk_quoted_ipv6_exts(h.next_header().0, &body[40..])?;
            let tuple = FiveTuple {
                src: Addr::from_v6(h.source()),
                dst: Addr::from_v6(h.destination()),
                proto: if auth { proto::AH } else { next },
                family: Family::V6,
                ..FiveTuple::default()
            };
            (tuple, rest, non_first)
        }
        _ => return None,
    };
    if non_first {
        return Some(tuple);
    }
    match tuple.proto {
        proto::TCP | proto::UDP => {
            if rest.len() < 4 {
                return None;
            }
            tuple.src_port = u16::from_be_bytes([rest[0], rest[1]]);
            tuple.dst_port = u16::from_be_bytes([rest[2], rest[3]]);
        }
        proto::ICMP | proto::ICMPV6 => {
            if rest.len() < 8 {
                return None;
            }
            let v6 = tuple.proto == proto::ICMPV6;
            if matches!((v6, rest[0]), (false, 0 | 8) | (true, 128 | 129)) {
                let id = u16::from_be_bytes([rest[4], rest[5]]);
                tuple.src_port = id;
                tuple.dst_port = id;
            }
        }
        _ => {}
    }
    Some(tuple)
}

/// Walk the extension headers of a quoted IPv6 packet: the upper-layer
/// protocol, the bytes after the chain, whether an authentication header was
/// seen, and whether the quote is of a non-first fragment. `None` when the
/// chain is cut. (A hand walk: etherparse's lax walk can hand back a cut
/// header to its iterator.)
fn walk_quoted_ipv6_exts(mut next: u8, mut rest: &[u8]) -> Option<(u8, &[u8], bool, bool)> {
    let mut auth = false;
    let mut non_first = false;
    // A chain longer than this is not a chain a host sent.
    for _ in 0..8 {
        let len = match next {
            0 | 43 | 60 => (usize::from(*rest.get(1)?) + 1) * 8,
            44 => {
                let word = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
                non_first |= word >> 3 != 0;
                8
            }
            proto::AH => {
                auth = true;
                (usize::from(*rest.get(1)?) + 2) * 4
            }
            _ => return Some((next, rest, auth, non_first)),
        };
        let n = *rest.first()?;
        rest = rest.get(len..)?;
        next = n;
    }
    None
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn layer_of(l: err::Layer) -> Layer {
    use err::Layer as L;
    match l {
        L::Ethernet2Header | L::EtherPayload | L::LinuxSllHeader => Layer::Ethernet,
        L::MacsecHeader | L::MacsecPacket => Layer::Ethernet,
        L::VlanHeader => Layer::Vlan,
        L::IpHeader | L::Ipv4Header | L::Ipv4Packet => Layer::Ipv4,
        L::Ipv6Header | L::Ipv6Packet => Layer::Ipv6,
        L::IpAuthHeader => Layer::IpAuth,
        L::Ipv6ExtHeader
        | L::Ipv6HopByHopHeader
        | L::Ipv6DestOptionsHeader
        | L::Ipv6RouteHeader
        | L::Ipv6FragHeader => Layer::Ipv6Ext,
        L::UdpHeader | L::UdpPayload => Layer::Udp,
        L::TcpHeader => Layer::Tcp,
        L::Icmpv4 | L::Icmpv4Timestamp | L::Icmpv4TimestampReply => Layer::Icmpv4,
        L::Icmpv6 => Layer::Icmpv6,
        L::Arp => Layer::Arp,
        // Not reachable from the slices used here; counted as an IPv4 fault.
        L::Igmp => Layer::Ipv4,
    }
}

/// An etherparse length error at `base` bytes into the frame.
fn len_error(e: &LenError, base: usize) -> ParseError {
    let layer = layer_of(e.layer);
    match (e.layer, e.len_source) {
        // A length field below the header it covers.
        (err::Layer::Ipv4Packet, LenSource::Ipv4HeaderTotalLen)
        | (err::Layer::UdpHeader, LenSource::UdpHeaderLen) => ParseError::LengthTooSmall {
            layer,
            value: clamp(e.len),
            minimum: clamp(e.required_len),
        },
        _ => ParseError::Truncated {
            layer,
            offset: clamp(base + e.layer_start_offset),
            required: clamp(e.required_len),
            available: clamp(e.len),
        },
    }
}

fn ipv4_header_error(h: &err::ipv4::HeaderError) -> ParseError {
    match *h {
        err::ipv4::HeaderError::UnexpectedVersion { version_number } => ParseError::BadVersion {
            layer: Layer::Ipv4,
            version: version_number,
        },
        err::ipv4::HeaderError::HeaderLengthSmallerThanHeader { ihl } => {
            ParseError::Ipv4HeaderTooShort { ihl }
        }
    }
}

fn ipv6_ext_error(x: &err::ipv6_exts::HeaderError) -> ParseError {
    match x {
        err::ipv6_exts::HeaderError::HopByHopNotAtStart => ParseError::HopByHopNotFirst,
        err::ipv6_exts::HeaderError::IpAuth(_) => ParseError::AuthZeroLength,
    }
}

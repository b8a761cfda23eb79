//! Parse statistics: one counter per outcome, kept per worker (plain
//! integers, no atomics) and merged when reported.

use crate::error::DropReason;
use crate::meta::Frame;

/// Counters of the parse stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Frames handed to the parser.
    pub frames: u64,
    /// Frames the fast path parsed.
    pub fast_path: u64,
    /// Frames the slow path parsed (successfully or not).
    pub slow_path: u64,
    /// IPv4 packets parsed.
    pub ipv4: u64,
    /// IPv6 packets parsed.
    pub ipv6: u64,
    /// ARP packets (not filtered).
    pub arp: u64,
    /// Frames of other EtherTypes (not filtered).
    pub non_ip: u64,
    /// Dropped: shorter than an Ethernet header.
    pub drop_truncated_ethernet: u64,
    /// Dropped: a VLAN tag cut short.
    pub drop_truncated_vlan: u64,
    /// Dropped: more than two VLAN tags.
    pub drop_too_many_vlan_tags: u64,
    /// Dropped: MACsec or another link extension not read.
    pub drop_unsupported_link_extension: u64,
    /// Dropped: an ARP packet cut short.
    pub drop_truncated_arp: u64,
    /// Dropped: IPv4 header or packet cut short.
    pub drop_truncated_ipv4: u64,
    /// Dropped: IPv6 header or packet cut short.
    pub drop_truncated_ipv6: u64,
    /// Dropped: an IPv6 extension or authentication header cut short.
    pub drop_truncated_ip_ext: u64,
    /// Dropped: wrong IP version, IHL below 5 or total length below the header.
    pub drop_bad_ip_header: u64,
    /// Dropped: a malformed extension header chain.
    pub drop_bad_ip_ext: u64,
    /// Dropped: TCP header cut short.
    pub drop_truncated_tcp: u64,
    /// Dropped: TCP data offset below 5.
    pub drop_bad_tcp_header: u64,
    /// Dropped: UDP header or datagram cut short.
    pub drop_truncated_udp: u64,
    /// Dropped: UDP length field between 1 and 7.
    pub drop_bad_udp_length: u64,
    /// Dropped: ICMP or ICMPv6 header cut short.
    pub drop_truncated_icmp: u64,
}

impl ParseStats {
    /// Count one dropped frame.
    pub fn record_drop(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::TruncatedEthernet => &mut self.drop_truncated_ethernet,
            DropReason::TruncatedVlan => &mut self.drop_truncated_vlan,
            DropReason::TooManyVlanTags => &mut self.drop_too_many_vlan_tags,
            DropReason::UnsupportedLinkExtension => &mut self.drop_unsupported_link_extension,
            DropReason::TruncatedArp => &mut self.drop_truncated_arp,
            DropReason::TruncatedIpv4 => &mut self.drop_truncated_ipv4,
            DropReason::TruncatedIpv6 => &mut self.drop_truncated_ipv6,
            DropReason::TruncatedIpExt => &mut self.drop_truncated_ip_ext,
            DropReason::BadIpHeader => &mut self.drop_bad_ip_header,
            DropReason::BadIpExt => &mut self.drop_bad_ip_ext,
            DropReason::TruncatedTcp => &mut self.drop_truncated_tcp,
            DropReason::BadTcpHeader => &mut self.drop_bad_tcp_header,
            DropReason::TruncatedUdp => &mut self.drop_truncated_udp,
            DropReason::BadUdpLength => &mut self.drop_bad_udp_length,
            DropReason::TruncatedIcmp => &mut self.drop_truncated_icmp,
        };
        *c += 1;
    }

    /// Count one parsed frame by kind.
    pub fn record_frame(&mut self, frame: &Frame) {
        match frame {
            Frame::Ip(m) => match m.tuple.family {
                crate::Family::V4 => self.ipv4 += 1,
                crate::Family::V6 => self.ipv6 += 1,
            },
            Frame::Arp { .. } => self.arp += 1,
            Frame::NonIp { .. } => self.non_ip += 1,
        }
    }

    /// Each drop reason with its count, the non-zero ones.
    pub fn drop_counts(&self) -> Vec<(&'static str, u64)> {
        [
            ("truncated Ethernet header", self.drop_truncated_ethernet),
            ("truncated VLAN tag", self.drop_truncated_vlan),
            ("more than two VLAN tags", self.drop_too_many_vlan_tags),
            (
                "unsupported link extension",
                self.drop_unsupported_link_extension,
            ),
            ("truncated ARP", self.drop_truncated_arp),
            ("truncated IPv4 header", self.drop_truncated_ipv4),
            ("truncated IPv6 header", self.drop_truncated_ipv6),
            (
                "truncated IPv6 extension header",
                self.drop_truncated_ip_ext,
            ),
            ("bad IP header", self.drop_bad_ip_header),
            ("bad IPv6 extension header", self.drop_bad_ip_ext),
            ("truncated TCP header", self.drop_truncated_tcp),
            ("bad TCP header", self.drop_bad_tcp_header),
            ("truncated UDP header", self.drop_truncated_udp),
            ("bad UDP length", self.drop_bad_udp_length),
            ("truncated ICMP header", self.drop_truncated_icmp),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    /// Frames dropped, all reasons together.
    pub fn drops(&self) -> u64 {
        self.drop_counts().iter().map(|(_, n)| n).sum()
    }

    /// Add another worker's counters to these.
    pub fn merge(&mut self, o: &ParseStats) {
        self.frames += o.frames;
        self.fast_path += o.fast_path;
        self.slow_path += o.slow_path;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.arp += o.arp;
        self.non_ip += o.non_ip;
        self.drop_truncated_ethernet += o.drop_truncated_ethernet;
        self.drop_truncated_vlan += o.drop_truncated_vlan;
        self.drop_too_many_vlan_tags += o.drop_too_many_vlan_tags;
        self.drop_unsupported_link_extension += o.drop_unsupported_link_extension;
        self.drop_truncated_arp += o.drop_truncated_arp;
        self.drop_truncated_ipv4 += o.drop_truncated_ipv4;
        self.drop_truncated_ipv6 += o.drop_truncated_ipv6;
        self.drop_truncated_ip_ext += o.drop_truncated_ip_ext;
        self.drop_bad_ip_header += o.drop_bad_ip_header;
        self.drop_bad_ip_ext += o.drop_bad_ip_ext;
        self.drop_truncated_tcp += o.drop_truncated_tcp;
        self.drop_bad_tcp_header += o.drop_bad_tcp_header;
        self.drop_truncated_udp += o.drop_truncated_udp;
        self.drop_bad_udp_length += o.drop_bad_udp_length;
        self.drop_truncated_icmp += o.drop_truncated_icmp;
    }
}

//! The switch as the hosts' platform: ARP and neighbour discovery never
//! answered for probes, DAD or announcements, spoofed announcements
//! dropped unlearned, DHCPv4, router advertisements and DHCPv6.

use super::*;
use dhcproto::{v4, v6, Decodable, Encodable};
use nsg_packet::wire::{Endpoint, BROADCAST};

const NIC1_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 4);

/// A DHCPv4 client message of `ty` from NIC1's host, broadcast.
fn dhcp4(ty: v4::MessageType, requested: Option<&str>) -> Vec<u8> {
    let mut m = v4::Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &NIC1_MAC,
    );
    m.opts_mut().insert(v4::DhcpOption::MessageType(ty));
    if let Some(r) = requested {
        m.opts_mut()
            .insert(v4::DhcpOption::RequestedIpAddress(r.parse().unwrap()));
    }
    udp4(&m.to_vec().unwrap())
}

fn udp4(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    dhcp::udp_frame(
        &mut f,
        Endpoint::new(NIC1_MAC, Ipv4Addr::UNSPECIFIED.into()),
        Endpoint::new(BROADCAST, Ipv4Addr::BROADCAST.into()),
        (dhcp::CLIENT_PORT, dhcp::SERVER_PORT),
        payload,
    );
    f
}

/// The DHCP message of a reply frame (IPv4 without options, UDP).
fn reply4(frame: &[u8]) -> v4::Message {
    v4::Message::from_bytes(&frame[14 + 20 + 8..]).unwrap()
}

#[test]
fn dhcp_offers_and_acks_the_nics_address_and_naks_another() {
    let mut l = lab(None);
    let mut f = dhcp4(v4::MessageType::Discover, None);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let out = l.sw.emitted();
    assert_eq!(neigh::src_mac(out), Some(GATEWAY_MAC));
    let m = reply4(out);
    assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Offer));
    assert_eq!(m.yiaddr(), "10.0.1.4".parse::<Ipv4Addr>().unwrap());
    assert_eq!(m.xid(), 0x1234_5678);
    assert_eq!(m.chaddr(), &NIC1_MAC);
    let o = m.opts();
    assert_eq!(
        o.get(v4::OptionCode::SubnetMask),
        Some(&v4::DhcpOption::SubnetMask([255, 255, 255, 0].into()))
    );
    assert_eq!(
        o.get(v4::OptionCode::Router),
        Some(&v4::DhcpOption::Router(vec!["10.0.1.1".parse().unwrap()]))
    );
    assert_eq!(
        o.get(v4::OptionCode::DomainNameServer),
        Some(&v4::DhcpOption::DomainNameServer(vec![dhcp::SERVER]))
    );
    assert_eq!(
        o.get(v4::OptionCode::ServerIdentifier),
        Some(&v4::DhcpOption::ServerIdentifier(dhcp::SERVER))
    );
    assert_eq!(
        o.get(v4::OptionCode::AddressLeaseTime),
        Some(&v4::DhcpOption::AddressLeaseTime(86_400))
    );
    let mut f = dhcp4(v4::MessageType::Request, Some("10.0.1.4"));
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let m = reply4(l.sw.emitted());
    assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Ack));
    assert_eq!(m.yiaddr(), "10.0.1.4".parse::<Ipv4Addr>().unwrap());
    // NIC2's address: a NAK, broadcast, never an ACK.
    let mut f = dhcp4(v4::MessageType::Request, Some("10.0.1.5"));
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let m = reply4(l.sw.emitted());
    assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Nak));
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(neigh::dst_mac(l.sw.emitted()), Some(BROADCAST));
    let h = l.sw.stats.host;
    assert_eq!((h.dhcp_offers, h.dhcp_acks, h.dhcp_naks), (1, 1, 1));
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Platform).frames, 3);
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Denied).frames, 0);
}

#[test]
fn malformed_dhcp_is_counted_and_dropped_and_no_dhcp_leaves_it_alone() {
    let mut l = lab(None);
    for payload in [&[][..], &[1, 1, 6, 0, 9][..], &[0xff; 300][..]] {
        let mut f = udp4(payload);
        assert_eq!(l.send(0, &mut f), Action::Drop);
    }
    assert_eq!(l.sw.stats.host.dhcp_malformed, 3);
    // A client length byte past 16 does not upset the answer.
    let mut f = dhcp4(v4::MessageType::Discover, None);
    f[14 + 20 + 8 + 2] = 200;
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    // Without host services the broadcast takes the normal path.
    let mut l = lab(None);
    let sw = Switch::new(
        l.sw.switch.roles.clone(),
        l.sw.switch.names.clone(),
        &[None; 5],
    )
    .with_host_services(false);
    let worker = Worker::new(
        flow_table_for(&policy(), 1024).unwrap(),
        WorkerOptions::default(),
    );
    l.sw = SwitchWorker::new(Arc::new(sw), worker);
    let mut f = dhcp4(v4::MessageType::Discover, None);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Filtered).frames, 1);
    assert_eq!(l.sw.stats.host, Default::default());
}

#[test]
fn probes_announcements_and_dad_are_not_answered_and_spoofed_ones_not_learned() {
    let mut l = lab(None);
    let mut f = Vec::new();
    // A probe: sender 0.0.0.0.
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        Ipv4Addr::UNSPECIFIED,
        ip4("10.0.1.4").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Drop);
    // An announcement of its own address.
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        ip4("10.0.1.4").into(),
        ip4("10.0.1.4").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.arp_replies, 0);
    assert_eq!(l.sw.switch.neighbors.port_mac(0), Some(NIC1_MAC));
    // An announcement of NIC2's address from NIC4's port: spoofed, the
    // sender's hardware address is not learned.
    neigh::arp_request(
        &mut f,
        NIC4_MAC,
        ip4("10.0.1.5").into(),
        ip4("10.0.1.5").into(),
    );
    assert_eq!(l.send(3, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.ports[3].get(Disposition::Spoofed).frames, 1);
    assert_eq!(l.sw.switch.neighbors.port_mac(3), None);
    // Duplicate address detection and a solicitation for its own address.
    let host: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
    neigh::neighbor_solicit(&mut f, NIC2_MAC, Ipv6Addr::UNSPECIFIED, host);
    assert_eq!(l.send(1, &mut f), Action::Drop);
    assert_eq!(l.sw.switch.neighbors.port_mac(1), None);
    neigh::neighbor_solicit(&mut f, NIC1_MAC, host, host);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    // Another host's link-local address is not routed, so not answered;
    // the router's is.
    neigh::neighbor_solicit(&mut f, NIC1_MAC, NIC1_LL, "fe80::5".parse().unwrap());
    assert_eq!(l.send(0, &mut f), Action::Drop);
    neigh::neighbor_solicit(&mut f, NIC1_MAC, NIC1_LL, ROUTER_LL);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    assert_eq!(l.sw.stats.nd_replies, 1);
}

/// A router solicitation from NIC1's host (link-local source).
fn router_solicit() -> Vec<u8> {
    let icmp = nsg_packet::wire::icmp_message(133, 0, [0; 4], &[]);
    let mut icmp = icmp;
    let all_routers: Ipv6Addr = "ff02::2".parse().unwrap();
    nsg_packet::wire::set_checksum(
        &mut icmp,
        NIC1_LL.into(),
        all_routers.into(),
        nsg_packet::proto::ICMPV6,
        nsg_packet::wire::Checksum::Pseudo(2),
    );
    nsg_packet::wire::ip_frame(
        &Endpoint::new(NIC1_MAC, NIC1_LL.into()),
        &Endpoint::new([0x33, 0x33, 0, 0, 0, 2], all_routers.into()),
        nsg_packet::proto::ICMPV6,
        &icmp,
        nsg_packet::wire::IpFields::new(255, 0, false),
    )
}

#[test]
fn router_solicitations_get_a_managed_advertisement_from_the_router() {
    let mut l = lab(None);
    let mut f = router_solicit();
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let out = l.sw.emitted();
    assert_eq!(neigh::src_mac(out), Some(GATEWAY_MAC));
    assert_eq!(neigh::dst_mac(out), Some(NIC1_MAC));
    let ip = &out[14..54];
    assert_eq!(&ip[8..24], &ROUTER_LL.octets());
    assert_eq!(&ip[24..40], &NIC1_LL.octets());
    let ra = &out[54..];
    assert_eq!(ra[0], 134);
    assert_eq!(ra[5] & 0xc0, 0xc0, "managed and other flags");
    assert!(u16::from_be_bytes([ra[6], ra[7]]) > 0, "router lifetime");
    assert_eq!(&ra[16..24], &[1, 1, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
    assert_eq!(l.sw.stats.host.router_adverts, 1);
}

/// A DHCPv6 client message of `ty` from NIC1's host.
fn dhcp6(ty: v6::MessageType, server: Option<Vec<u8>>, rapid: bool) -> Vec<u8> {
    let mut m = v6::Message::new_with_id(ty, [1, 2, 3]);
    let o = m.opts_mut();
    o.insert(v6::DhcpOption::ClientId(vec![
        0, 3, 0, 1, 2, 0, 10, 0, 1, 4,
    ]));
    o.insert(v6::DhcpOption::IANA(v6::IANA {
        id: 77,
        t1: 0,
        t2: 0,
        opts: v6::DhcpOptions::new(),
    }));
    if let Some(s) = server {
        o.insert(v6::DhcpOption::ServerId(s));
    }
    if rapid {
        o.insert(v6::DhcpOption::RapidCommit);
    }
    let mut f = Vec::new();
    dhcp::udp_frame(
        &mut f,
        Endpoint::new(NIC1_MAC, NIC1_LL.into()),
        Endpoint::new(
            [0x33, 0x33, 0, 1, 0, 2],
            "ff02::1:2".parse::<Ipv6Addr>().unwrap().into(),
        ),
        (dhcp6::CLIENT_PORT, dhcp6::SERVER_PORT),
        &m.to_vec().unwrap(),
    );
    f
}

fn reply6(frame: &[u8]) -> v6::Message {
    v6::Message::from_bytes(&frame[14 + 40 + 8..]).unwrap()
}

fn leased(m: &v6::Message) -> Option<Ipv6Addr> {
    match m.opts().get(v6::OptionCode::IANA) {
        Some(v6::DhcpOption::IANA(ia)) if ia.id == 77 => {
            match ia.opts.get(v6::OptionCode::IAAddr) {
                Some(v6::DhcpOption::IAAddr(a)) => Some(a.addr),
                _ => None,
            }
        }
        _ => None,
    }
}

#[test]
fn dhcpv6_gives_the_nics_first_ipv6_address() {
    let mut l = lab(None);
    let nic1: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
    let mut f = dhcp6(v6::MessageType::Solicit, None, false);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let m = reply6(l.sw.emitted());
    assert_eq!(m.msg_type(), v6::MessageType::Advertise);
    assert_eq!(m.xid(), [1, 2, 3]);
    assert_eq!(leased(&m), Some(nic1));
    let Some(v6::DhcpOption::ServerId(duid)) = m.opts().get(v6::OptionCode::ServerId).cloned()
    else {
        panic!("no server id")
    };
    let mut f = dhcp6(v6::MessageType::Request, Some(duid.clone()), false);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let m = reply6(l.sw.emitted());
    assert_eq!(
        (m.msg_type(), leased(&m)),
        (v6::MessageType::Reply, Some(nic1))
    );
    // Rapid commit: a Reply at once.
    let mut f = dhcp6(v6::MessageType::Solicit, None, true);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let m = reply6(l.sw.emitted());
    assert_eq!(m.msg_type(), v6::MessageType::Reply);
    assert!(m.opts().get(v6::OptionCode::RapidCommit).is_some());
    // A request to another server is not ours to answer.
    let mut f = dhcp6(
        v6::MessageType::Request,
        Some(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]),
        false,
    );
    assert_eq!(l.send(0, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.host.dhcp6_replies, 3);
    let out = {
        let mut f = dhcp6(v6::MessageType::Renew, Some(duid), false);
        l.send(0, &mut f);
        l.sw.emitted().to_vec()
    };
    assert_eq!(&out[14 + 8..14 + 24], &ROUTER_LL.octets());
    assert_eq!(&out[14 + 24..14 + 40], &NIC1_LL.octets());
}

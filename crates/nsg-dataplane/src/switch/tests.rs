//! The switch on hand-made frames, against config/three-tier.toml: ports
//! 0..4 are NIC1..NIC4, port 4 the uplink.

use super::*;
use crate::flow_setup::flow_table_for;
use crate::pipeline::WorkerOptions;
use crate::policy::PolicyCell;
use nsg_policy::Policy;
use std::path::Path;

const NIC1_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x00, 0x01, 0x04];
const NIC2_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x00, 0x01, 0x05];
const NIC4_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x00, 0x02, 0x05];
const INET_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 1];
const UPLINK: PortId = 4;

struct Lab {
    cell: PolicyCell,
    sw: SwitchWorker,
}

fn policy() -> Policy {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml");
    nsg_policy::load(&p, &Default::default()).expect("three-tier loads")
}

fn lab(uplink_mac: Option<[u8; 6]>) -> Lab {
    let policy = Arc::new(policy());
    let table = flow_table_for(&policy, 1024).unwrap();
    let roles = vec![
        Role::Nic("NIC1".into()),
        Role::Nic("NIC2".into()),
        Role::Nic("NIC3".into()),
        Role::Nic("NIC4".into()),
        Role::Uplink,
    ];
    let names = ["n1", "n2", "n3", "n4", "up"].map(String::from).to_vec();
    let peers = [None, None, None, None, uplink_mac];
    let switch = Arc::new(Switch::new(roles, names, &peers));
    let worker = Worker::new(table, WorkerOptions::default());
    Lab {
        cell: PolicyCell::new(policy).unwrap(),
        sw: SwitchWorker::new(switch, worker),
    }
}

impl Lab {
    fn send(&mut self, port: PortId, frame: &mut [u8]) -> Action {
        let p = self.cell.load();
        self.sw.handle(&p, port, frame, Timestamp(1_000))
    }
}

fn ip4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

/// An untagged IPv4 TCP segment.
fn tcp4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    dport: u16,
    flags: u8,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&ip4(src));
    f.extend_from_slice(&ip4(dst));
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

const SYN: u8 = 0x02;

#[test]
fn gateways_are_the_first_addresses() {
    assert_eq!(
        gateway(&"10.0.1.0/24".parse().unwrap()),
        Some("10.0.1.1".parse().unwrap())
    );
    assert_eq!(
        gateway(&"fd00:10:0:1::/64".parse().unwrap()),
        Some("fd00:10:0:1::1".parse().unwrap())
    );
    assert_eq!(gateway(&"10.0.1.4/31".parse().unwrap()), None);
}

#[test]
fn a_port_bound_to_an_unknown_nic_is_refused() {
    let p = policy();
    let e = Topology::build(&p, 1, &[Role::Nic("NIC9".into())]).unwrap_err();
    assert!(matches!(e, BindError::UnknownNic { .. }), "{e}");
    let e =
        Topology::build(&p, 1, &[Role::Nic("NIC1".into()), Role::Nic("nic1".into())]).unwrap_err();
    assert_eq!(e, BindError::TwoPorts { nic: "nic1".into() });
}

#[test]
fn arp_for_the_gateway_is_answered_with_the_gateway_mac() {
    let mut l = lab(None);
    let mut f = Vec::new();
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        ip4("10.0.1.4").into(),
        ip4("10.0.1.1").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let r = neigh::parse_arp(l.sw.emitted()).unwrap();
    assert_eq!(
        (r.op, r.sha, r.spa),
        (neigh::ARP_REPLY, GATEWAY_MAC, ip4("10.0.1.1").into())
    );
    assert_eq!(neigh::dst_mac(l.sw.emitted()), Some(NIC1_MAC));
    // Another subnet's gateway, like any target, is answered as Azure's
    // host does: with the gateway's hardware address.
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        ip4("10.0.1.4").into(),
        ip4("10.0.2.1").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let r = neigh::parse_arp(l.sw.emitted()).unwrap();
    assert_eq!((r.sha, r.spa), (GATEWAY_MAC, ip4("10.0.2.1").into()));
    assert_eq!(l.sw.stats.arp_replies, 2);
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Neighbor).frames, 2);
}

#[test]
fn arp_between_hosts_is_answered_by_the_gateway_and_spoofed_arp_is_dropped() {
    let mut l = lab(None);
    let mut f = Vec::new();
    // Never forwarded to the owner: answered with the gateway's address.
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        ip4("10.0.1.4").into(),
        ip4("10.0.1.5").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let r = neigh::parse_arp(l.sw.emitted()).unwrap();
    assert_eq!((r.sha, r.spa), (GATEWAY_MAC, ip4("10.0.1.5").into()));
    neigh::arp_request(
        &mut f,
        NIC1_MAC,
        ip4("10.0.1.5").into(),
        ip4("10.0.1.1").into(),
    );
    assert_eq!(l.send(0, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Spoofed).frames, 1);
    // On the uplink nsg answers for the NICs, not for what it does not own.
    neigh::arp_request(
        &mut f,
        INET_MAC,
        ip4("203.0.113.10").into(),
        ip4("10.0.1.4").into(),
    );
    assert_eq!(l.send(UPLINK, &mut f), Action::Emit(UPLINK));
    let r = neigh::parse_arp(l.sw.emitted()).unwrap();
    assert_eq!((r.sha, r.spa), (GATEWAY_MAC, ip4("10.0.1.4").into()));
    neigh::arp_request(
        &mut f,
        INET_MAC,
        ip4("203.0.113.10").into(),
        ip4("10.0.1.99").into(),
    );
    assert_eq!(l.send(UPLINK, &mut f), Action::Drop);
}

#[test]
fn neighbor_solicitations_for_the_gateway_are_answered() {
    let mut l = lab(None);
    let mut f = Vec::new();
    let host: Ipv6Addr = "fd00:10:0:1::4".parse().unwrap();
    let gw: Ipv6Addr = "fd00:10:0:1::1".parse().unwrap();
    neigh::neighbor_solicit(&mut f, NIC1_MAC, host, gw);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let na = neigh::parse_nd(l.sw.emitted()).unwrap();
    assert_eq!(
        (na.ty, na.src, na.dst, na.target),
        (neigh::ND_NEIGHBOR_ADVERT, gw, host, Some(gw))
    );
    // A solicitation for a neighbour is answered by the gateway too.
    let nb: Ipv6Addr = "fd00:10:0:1::5".parse().unwrap();
    neigh::neighbor_solicit(&mut f, NIC1_MAC, host, nb);
    assert_eq!(l.send(0, &mut f), Action::Emit(0));
    let na = neigh::parse_nd(l.sw.emitted()).unwrap();
    assert_eq!((na.ty, na.target), (neigh::ND_NEIGHBOR_ADVERT, Some(nb)));
    // From an address that is not NIC1's: spoofed.
    neigh::neighbor_solicit(&mut f, NIC1_MAC, "fd00:10:0:1::9".parse().unwrap(), gw);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    assert_eq!(l.sw.stats.nd_replies, 2);
}

#[test]
fn internet_to_web_is_routed_with_the_nics_mac_and_the_gateways() {
    let mut l = lab(Some(INET_MAC));
    let mut f = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.4", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut f), Action::Forward(0));
    assert_eq!(neigh::dst_mac(&f), Some(NIC1_MAC));
    assert_eq!(neigh::src_mac(&f), Some(GATEWAY_MAC));
    // The reply goes back to the uplink host's address.
    let mut r = tcp4(
        NIC1_MAC,
        GATEWAY_MAC,
        "10.0.1.4",
        "203.0.113.10",
        40000,
        0x12,
    );
    r[34..36].copy_from_slice(&80u16.to_be_bytes());
    assert_eq!(l.send(0, &mut r), Action::Forward(UPLINK));
    assert_eq!(neigh::dst_mac(&r), Some(INET_MAC));
    // Denied: the Internet to the database.
    let mut d = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.2.5", 1433, SYN);
    assert_eq!(l.send(UPLINK, &mut d), Action::Drop);
    let up = &l.sw.stats.ports[UPLINK];
    assert_eq!(up.get(Disposition::Allowed).frames, 1);
    assert_eq!(up.get(Disposition::Denied).frames, 1);
}

#[test]
fn same_subnet_keeps_the_senders_mac_and_deny_rules_hold() {
    let mut l = lab(None);
    let mut f = tcp4(NIC1_MAC, NIC2_MAC, "10.0.1.4", "10.0.1.5", 22, SYN);
    assert_eq!(l.send(0, &mut f), Action::Forward(1));
    assert_eq!(neigh::src_mac(&f), Some(NIC1_MAC));
    let mut d = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "10.0.2.5", 1433, SYN);
    assert_eq!(l.send(0, &mut d), Action::Drop);
    let mut ok = tcp4(
        [0x02, 0x00, 0x0a, 0x00, 0x02, 0x04],
        GATEWAY_MAC,
        "10.0.2.4",
        "10.0.2.5",
        1433,
        SYN,
    );
    assert_eq!(l.send(2, &mut ok), Action::Forward(3));
    assert_eq!(neigh::dst_mac(&ok), Some(NIC4_MAC));
    assert_eq!(l.sw.stats.ports[0].get(Disposition::Denied).frames, 1);
}

#[test]
fn spoofed_sources_unknown_destinations_and_multicast_are_dropped() {
    let mut l = lab(None);
    // NIC1 claiming NIC2's address.
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.5", "10.0.2.4", 80, SYN);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    // The uplink claiming a NIC's address.
    let mut f = tcp4(INET_MAC, GATEWAY_MAC, "10.0.1.5", "10.0.1.4", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut f), Action::Drop);
    // An unassigned VNet address, and the gateway itself.
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "10.0.1.99", 80, SYN);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "10.0.1.1", 80, SYN);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    // The uplink to an address that is not a NIC's.
    let mut f = tcp4(
        INET_MAC,
        GATEWAY_MAC,
        "203.0.113.10",
        "198.51.100.1",
        80,
        SYN,
    );
    assert_eq!(l.send(UPLINK, &mut f), Action::Drop);
    let mut f = tcp4(NIC1_MAC, [0xff; 6], "10.0.1.4", "255.255.255.255", 80, 0);
    assert_eq!(l.send(0, &mut f), Action::Drop);
    let s = &l.sw.stats;
    assert_eq!(s.ports[0].get(Disposition::Spoofed).frames, 1);
    assert_eq!(s.ports[UPLINK].get(Disposition::Spoofed).frames, 1);
    assert_eq!(s.ports[0].get(Disposition::NoRoute).frames, 2);
    assert_eq!(s.ports[UPLINK].get(Disposition::NoRoute).frames, 1);
    assert_eq!(s.ports[0].get(Disposition::Filtered).frames, 1);
    // Nothing of that reached a rule.
    assert_eq!(l.sw.pipeline.stats().verdict.evaluations, 0);
}

#[test]
fn a_frame_to_an_unknown_host_waits_for_its_answer() {
    let mut l = lab(None);
    // NIC1 to the Internet; the uplink host's address is not known yet.
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "203.0.113.10", 443, SYN);
    assert_eq!(l.send(0, &mut f), Action::Emit(UPLINK));
    let q = neigh::parse_arp(l.sw.emitted()).unwrap();
    assert_eq!(
        (q.op, q.tpa, q.spa),
        (
            neigh::ARP_REQUEST,
            ip4("203.0.113.10").into(),
            ip4("10.0.1.4").into()
        )
    );
    assert!(l.sw.has_pending());
    let p = l.cell.load();
    let mut out = Vec::new();
    l.sw.release(&p, Timestamp(2_000), |port, _, fr| {
        out.push((port, fr.to_vec()))
    });
    assert!(out.is_empty());
    // The answer comes in on the uplink.
    let mut a = Vec::new();
    neigh::arp_reply(&mut a, &q, INET_MAC);
    assert_eq!(l.send(UPLINK, &mut a), Action::Drop);
    l.sw.release(&p, Timestamp(3_000), |port, _, fr| {
        out.push((port, fr.to_vec()))
    });
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, UPLINK);
    assert_eq!(neigh::dst_mac(&out[0].1), Some(INET_MAC));
    assert_eq!(neigh::src_mac(&out[0].1), Some(GATEWAY_MAC));
    assert!(!l.sw.has_pending());
    // Past that the uplink's last sender stands for every address (a
    // router); on a fresh switch nobody answers and the frame is dropped
    // after the timeout.
    let mut l = lab(None);
    let mut out = Vec::new();
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "198.51.100.7", 443, SYN);
    assert_eq!(l.send(0, &mut f), Action::Emit(UPLINK));
    let p = l.cell.load();
    let late = Timestamp(1_000).after(RESOLVE_TIMEOUT * 2);
    l.sw.release(&p, late, |port, _, fr| out.push((port, fr.to_vec())));
    assert!(out.is_empty());
    assert!(!l.sw.has_pending());
    assert_eq!(l.sw.stats.unresolved, 1);
}

#[test]
fn a_reload_rebinds_the_ports() {
    let mut l = lab(Some(INET_MAC));
    let mut f = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.4", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut f), Action::Forward(0));
    // The same policy with NIC1 given another address.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml"),
    )
    .unwrap()
    .replace("\"10.0.1.4\"", "\"10.0.1.6\"");
    let p = nsg_policy::load_str(&text, Path::new("moved.toml"), &Default::default()).unwrap();
    l.cell.publish(Arc::new(p)).unwrap();
    let mut f = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.6", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut f), Action::Forward(0));
    let mut f = tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "203.0.113.10", 80, SYN);
    assert_eq!(
        l.send(0, &mut f),
        Action::Drop,
        "the old address is spoofed now"
    );
}

#[test]
fn rules_are_named_by_the_generation_that_decided() {
    let mut l = lab(Some(INET_MAC));
    let mut f = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.4", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut f), Action::Forward(0));
    // Rule 100 goes: every later rule of NSG1 moves down one index.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml"),
    )
    .unwrap();
    let (head, rest) = text.split_once("[[nsg.rule]]").unwrap();
    let (_, rest) = rest.split_once("[[nsg.rule]]").unwrap();
    let p = nsg_policy::load_str(
        &format!("{head}[[nsg.rule]]{rest}"),
        Path::new("less.toml"),
        &Default::default(),
    )
    .unwrap();
    l.cell.publish(Arc::new(p)).unwrap();
    // The established flow goes on, decided by generation 1's rule.
    let mut r = tcp4(
        NIC1_MAC,
        GATEWAY_MAC,
        "10.0.1.4",
        "203.0.113.10",
        40000,
        0x12,
    );
    r[34..36].copy_from_slice(&80u16.to_be_bytes());
    assert_eq!(l.send(0, &mut r), Action::Forward(UPLINK));
    let mut n = tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.11", "10.0.1.4", 80, SYN);
    assert_eq!(l.send(UPLINK, &mut n), Action::Drop);
    let stats = l.sw.pipeline.stats().clone();
    // Frames per deciding rule, each rule named by the policy of the
    // generation that decided it.
    let names = l.cell.rule_names();
    let by_rule = &stats.verdict.by_rule;
    let frames = |rule: &str, allowed: bool| -> u64 {
        by_rule
            .iter()
            .filter(|(k, _)| k.allowed == allowed && names.name(k.generation, k.rule) == rule)
            .map(|(_, n)| *n)
            .sum()
    };
    assert_eq!(
        frames("NSG1/Allow-HTTP-Inbound-Internet", true),
        2,
        "{by_rule:?}"
    );
    assert_eq!(frames("NSG1/DenyAllInBound", false), 1, "{by_rule:?}");
    assert!(
        by_rule
            .keys()
            .all(|k| !names.name(k.generation, k.rule).contains('#')),
        "{by_rule:?}"
    );
}

mod host;
mod round;

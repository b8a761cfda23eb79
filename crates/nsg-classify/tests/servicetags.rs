//! A policy over the largest real service tags (tests/data/largest-tags.toml
//! with Azure's public ServiceTags file): the compiled matcher agrees with the
//! reference evaluator on packets drawn from inside and around the tags'
//! prefixes (skips with a message when ../shared/data is absent).

use nsg_classify::nsg::CompiledPolicy;
use nsg_policy::eval::Packet;
use nsg_policy::{evaluate, Direction, LoadOptions, Side, Tag};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[test]
fn largest_tags_agree_with_reference() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tags = root.join("../shared/data/servicetags/ServiceTags_Public_20251028.json");
    if !tags.exists() {
        eprintln!("skipping: {} is absent", tags.display());
        return;
    }
    let policy = nsg_policy::load(
        &root.join("tests/data/largest-tags.toml"),
        &LoadOptions {
            service_tags: vec![tags],
        },
    )
    .expect("policy loads");
    let policy = Arc::new(policy);
    let compiled = CompiledPolicy::build(policy.clone());
    // Addresses: the first, last and a middle address of every prefix of
    // every tag the policy names, plus neighbours outside them.
    let mut addrs: Vec<IpAddr> = Vec::new();
    for g in &policy.nsgs {
        for r in g.inbound.iter().chain(&g.outbound) {
            for side in [&r.source, &r.destination] {
                if let Side::Tag(Tag::Service(t)) = side {
                    for (i, n) in t.prefixes.iter().enumerate() {
                        if i % 7 != 0 {
                            continue;
                        }
                        addrs.push(n.network());
                        addrs.push(n.broadcast());
                        if let IpAddr::V4(b) = n.broadcast() {
                            addrs.push(IpAddr::from(std::net::Ipv4Addr::from(
                                u32::from(b).wrapping_add(1),
                            )));
                        }
                    }
                }
            }
        }
    }
    assert!(addrs.len() > 5000, "{}", addrs.len());
    let nic = 0;
    let (l4, l6): (IpAddr, IpAddr) = (policy.nics[nic].ips[0], policy.nics[nic].ips[1]);
    let mut checked = 0;
    for (i, remote) in addrs.iter().enumerate() {
        let local = if remote.is_ipv4() { l4 } else { l6 };
        let proto = [6u8, 17, 1, 58][i % 4];
        let ports = matches!(proto, 6 | 17).then_some((40000u16, [443u16, 1433, 80, 8050][i % 4]));
        for dir in [Direction::Inbound, Direction::Outbound] {
            let (src, dst, sp, dp) = match dir {
                Direction::Inbound => (*remote, local, ports.map(|p| p.0), ports.map(|p| p.1)),
                Direction::Outbound => (local, *remote, ports.map(|p| p.1), ports.map(|p| p.0)),
            };
            let pkt = Packet {
                protocol: proto,
                src,
                dst,
                src_port: sp,
                dst_port: dp,
            };
            assert_eq!(
                compiled.evaluate(nic, dir, &pkt),
                evaluate(&policy, nic, dir, &pkt),
                "{pkt:?} {dir:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000);
}

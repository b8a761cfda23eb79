//! The engine's pieces against the reference evaluator, packet by packet,
//! on random small policies.

mod common;

use common::*;
use nsg_analysis::decide::{decide, local_field, nic_space, point, Compiled};
use nsg_policy::model::Direction;
use nsg_policy::prefix::{addr_value, Family};

#[test]
fn every_packet_lies_in_one_piece_with_the_evaluators_verdict() {
    let pkts = packets();
    let mut checked = 0usize;
    for seed in 0..150u64 {
        let mut rng = Rng::new(seed);
        let text = random_policy_toml(&mut rng);
        let policy = match load(&text, &format!("d{seed}")) {
            Ok(p) => p,
            Err(e) => panic!("seed {seed}: generated policy refused: {e}\n{text}"),
        };
        let mut compiled = Compiled::new();
        for nic in 0..policy.nics.len() {
            for dir in [Direction::Inbound, Direction::Outbound] {
                let space = nic_space(&policy, nic, dir);
                let pieces = decide(&policy, &mut compiled, nic, dir, &space);
                let ips: Vec<u128> = policy.nics[nic].ips.iter().map(addr_value).collect();
                for pkt in &pkts {
                    let (fam, p) = point(pkt);
                    let inside: Vec<_> =
                        pieces.iter().filter(|x| x.cube.contains(fam, &p)).collect();
                    let local = ips.contains(&p[local_field(dir)])
                        && policy.nics[nic].ips.iter().any(|ip| Family::of(ip) == fam);
                    if !local {
                        assert!(
                            inside.is_empty(),
                            "seed {seed}: {pkt:?} is not at the NIC but in a piece"
                        );
                        continue;
                    }
                    assert_eq!(
                        inside.len(),
                        1,
                        "seed {seed} nic {nic} {dir:?}: {pkt:?} in {} pieces\n{text}",
                        inside.len()
                    );
                    let want = nsg_policy::evaluate(&policy, nic, dir, pkt);
                    let got = inside[0];
                    assert_eq!(
                        (got.access, got.decider, &got.layers),
                        (want.access, want.decider, &want.layers),
                        "seed {seed} nic {nic} {dir:?}: {pkt:?}\n{text}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "only {checked} packets checked");
}

#[test]
fn the_benchmark_policies_load() {
    let s = nsg_analysis::synth::generate(&nsg_analysis::synth::SynthOptions {
        nics: 120,
        asgs: 20,
        rules: 400,
        diff_rules: 100,
        seed: 7,
    });
    for (name, text) in [
        ("policy", &s.policy),
        ("changed", &s.changed),
        ("nsg", &s.nsg),
        ("nsg_changed", &s.nsg_changed),
    ] {
        let p = nsg_policy::load_str(text, std::path::Path::new(name), &Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!p.nics.is_empty(), "{name}");
    }
    let p =
        nsg_policy::load_str(&s.policy, std::path::Path::new("p"), &Default::default()).unwrap();
    assert_eq!(p.nics.len(), 120);
    assert_eq!(p.asgs.len(), 20);
    assert_eq!(p.user_rule_count(), 400);
}

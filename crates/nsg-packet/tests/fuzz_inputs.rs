//! The frame fuzz target's committed inputs (`fuzz/seeds/frame` and every
//! finding kept in `fuzz/regressions/frame`) as a test on the stable
//! toolchain: each parses without a panic, and what the fast path accepts the
//! slow path reads identically.

use nsg_packet::{fast, slow};
use std::path::Path;

fn inputs(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join("frame");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .map(|e| e.expect("a directory entry").path())
        .map(|p| {
            let data = std::fs::read(&p).expect("a readable fuzz input");
            (p.display().to_string(), data)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seeds_and_regressions_parse_and_paths_agree() {
    let seeds = inputs("seeds");
    assert!(
        seeds.len() >= 5,
        "fuzz/seeds/frame holds the hand-made frames"
    );
    let mut ip = 0;
    for (name, data) in seeds.iter().chain(inputs("regressions").iter()) {
        let slow_result = slow::parse(data);
        let fast_result = fast::parse(data);
        if let Some(f) = fast_result {
            assert_eq!(slow_result, Ok(f), "{name}: fast and slow paths disagree");
        }
        let r = nsg_packet::parse(data);
        match fast_result {
            Some(f) => assert_eq!(r, Ok(f), "{name}: parse is the fast path's result"),
            None => assert_eq!(r, slow_result, "{name}: parse is the slow path's result"),
        }
        ip += usize::from(r.ok().and_then(|f| f.ip().copied()).is_some());
    }
    // The TCP, VLAN+UDP/IPv6 and ICMP-error seeds are IP packets.
    assert!(ip >= 3, "only {ip} IP packets among the seeds");
}

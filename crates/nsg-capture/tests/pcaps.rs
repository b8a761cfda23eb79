//! Every capture of ../shared/data/pcaps replayed against
//! config/three-tier.toml: no panic, and the counters add up (skips with a
//! message when the data folder is absent).

use nsg_capture::capture::CaptureError;
use nsg_capture::replay::{replay, ReplayOptions};
use std::path::PathBuf;
use std::sync::Arc;

#[test]
fn every_capture_replays_and_adds_up() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("../shared/data/pcaps");
    if !dir.is_dir() {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    }
    let policy = Arc::new(
        nsg_policy::load(
            &root.join("config/three-tier.toml"),
            &nsg_policy::LoadOptions::default(),
        )
        .expect("three-tier loads"),
    );
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("INDEX.tsv");
    let (mut replayed, mut refused_link, mut corrupt, mut frames) = (0, 0, 0, 0u64);
    for line in index.lines().skip(1) {
        let file = line.split('\t').next().unwrap_or_default();
        if file.is_empty() {
            continue;
        }
        let opts = ReplayOptions {
            capture: dir.join(file),
            workers: 1 + (replayed % 2),
            capacity: Some(65_536),
            ..ReplayOptions::default()
        };
        match replay(policy.clone(), &opts) {
            Ok(r) => {
                assert!(
                    r.adds_up(),
                    "{file}: counters do not add up: {:?}",
                    r.stats.verdict
                );
                assert_eq!(
                    r.stats.verdict.dropped,
                    r.stats.parse.drops()
                        + r.stats.verdict.orphan_fragments
                        + r.stats.verdict.table_full,
                    "{file}"
                );
                frames += r.stats.verdict.frames;
                match r.error {
                    None => replayed += 1,
                    Some(CaptureError::Link { .. }) => refused_link += 1,
                    Some(e) => {
                        assert!(e.to_string().contains(file), "{e}");
                        corrupt += 1
                    }
                }
            }
            Err(nsg_capture::replay::ReplayError::Capture(CaptureError::Link { .. })) => {
                refused_link += 1
            }
            Err(e) => {
                assert!(e.to_string().contains(file), "{e}");
                corrupt += 1;
            }
        }
    }
    eprintln!(
        "replayed {replayed} captures ({frames} frames); {refused_link} of other link types refused; {corrupt} corrupt"
    );
    assert!(replayed > 600, "{replayed}");
}

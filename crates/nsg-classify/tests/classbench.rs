//! The ClassBench 1k sets of ../shared/data/classbench: every trace line's
//! answer, single and batched, checked against a linear scan on both compiled
//! variants of the lookup loops (skips with a message when the data folder is
//! absent).

use nsg_classify::classbench::{linear, load_rules, load_trace};
use nsg_classify::{Classifier, Key4, SimdPath, Width};
use std::path::{Path, PathBuf};

fn data() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/classbench");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

/// Every trace line of `set` (at least `min_trace` of them), single and
/// batched, on both compiled variants, against a linear scan.
fn agrees_with_linear_scan(dir: &Path, set: &str, min_trace: usize) {
    let rules = load_rules(&dir.join(set)).expect("rules parse");
    let trace = load_trace(&dir.join(format!("{set}_trace"))).expect("trace parses");
    assert!(rules.len() > 700 && trace.len() > min_trace, "{set}");
    let detected = Classifier::build(Width::V4, &rules);
    let portable = detected.clone().with_simd(SimdPath::Portable);
    let keys: Vec<Key4> = trace.iter().map(|t| t.key).collect();
    let mut mismatches = 0;
    for c in [&detected, &portable] {
        let mut batch = vec![0u32; keys.len()];
        c.lookup4_batch(&keys, &mut batch);
        for (t, b) in trace.iter().zip(&batch) {
            let want = linear(&rules, &t.key);
            // The generating rule matches, so the first match is no later.
            assert!(want <= t.filter, "{set}: {t:?}");
            if c.lookup4(&t.key) != want || *b != want {
                mismatches += 1;
            }
        }
    }
    assert_eq!(mismatches, 0, "{set}");
}

#[test]
fn one_k_sets_agree_with_linear_scan() {
    let Some(dir) = data() else { return };
    for set in ["acl1_1k", "fw1_1k", "ipc1_1k"] {
        agrees_with_linear_scan(&dir, set, 80_000);
    }
}

/// The later 1k sets (acl3, acl4, fw3, fw4: traces of 7,940 to 9,928
/// lines), which take the dense and the sparse one-key kernels.
#[test]
fn later_one_k_sets_agree_with_linear_scan() {
    let Some(dir) = data() else { return };
    for set in ["acl3_1k", "acl4_1k", "fw3_1k", "fw4_1k"] {
        agrees_with_linear_scan(&dir, set, 7_000);
    }
}

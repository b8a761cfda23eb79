//! The committed inputs of the service_tags and policy_toml fuzz targets
//! (`fuzz/seeds/TARGET` and every finding kept in `fuzz/regressions/TARGET`)
//! as tests on the stable toolchain: none panics. (The verify_line target's:
//! nsg-azure's tests/fuzz_inputs.rs, since a verdict is also written in
//! Azure's shape.)

use nsg_policy::tags::ServiceTagsFile;
use nsg_policy::{load_str, LoadOptions};
#[path = "shared/fuzz_seeds.rs"]
mod fuzz_seeds;

use fuzz_seeds::inputs;
use std::path::Path;

#[test]
fn service_tags_inputs_load_or_are_refused() {
    let files = inputs("service_tags");
    assert!(!files.is_empty());
    for (name, data) in &files {
        let Ok(text) = std::str::from_utf8(data) else {
            continue;
        };
        if let Ok(f) = ServiceTagsFile::parse(text, Path::new(name)) {
            assert_eq!(
                f.prefix_count(),
                f.tags().map(|t| t.prefixes.len()).sum::<usize>()
            );
        }
    }
}

#[test]
fn policy_toml_inputs_load_or_are_refused() {
    let files = inputs("policy_toml");
    assert!(!files.is_empty());
    for (name, data) in &files {
        let Ok(text) = std::str::from_utf8(data) else {
            continue;
        };
        if let Err(e) = load_str(text, Path::new(name), &LoadOptions::default()) {
            assert!(!e.faults.is_empty(), "{name}: a refusal lists its faults");
        }
    }
}

//! The committed inputs of a fuzz target, for the tests that run them on the
//! stable toolchain (included by nsg-policy's and nsg-azure's
//! `tests/fuzz_inputs.rs`).

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every input of `fuzz/seeds/TARGET` and `fuzz/regressions/TARGET`, by
/// path, sorted.
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = root().join("fuzz").join(kind).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd {
            let p = e.expect("a directory entry").path();
            let data = std::fs::read(&p).expect("a readable fuzz input");
            v.push((p.display().to_string(), data));
        }
    }
    v.sort();
    v
}

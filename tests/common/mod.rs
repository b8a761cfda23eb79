//! What the command-line tests share: running the built binary from the
//! repository's root.

use std::process::{Command, Output};

/// Run `nsg` with `args` in the repository's root and wait for it.
pub fn nsg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run nsg")
}

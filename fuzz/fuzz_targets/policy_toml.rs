//! The TOML policy loader; a policy that loads is compiled and evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_policy::{load_str, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative paths in the policy (service_tags) resolve in the scratch
    // directory, where nothing but fuzz inputs lives.
    let path = nsg_fuzz::scratch_dir().join("policy.toml");
    if let Ok(policy) = load_str(text, &path, &LoadOptions::default()) {
        nsg_fuzz::check_policy(policy);
    }
});

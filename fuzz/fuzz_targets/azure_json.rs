//! The Azure JSON import (az list output, API resources, ARM templates with
//! their evaluation); an import that succeeds is compiled and evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_azure::{import, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let path = nsg_fuzz::scratch_file("input.json", data);
    if let Ok(imported) = import(&[path], &ImportOptions::default()) {
        assert!(!imported.summary().is_empty());
        nsg_fuzz::check_policy(imported.policy);
    }
});

//! The ServiceTags JSON loader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_policy::tags::ServiceTagsFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = ServiceTagsFile::parse(text, Path::new("ServiceTags.json")) {
        let total: usize = f.tags().map(|t| t.prefixes.len()).sum();
        assert_eq!(total, f.prefix_count());
        for t in f.tags() {
            assert!(f.get(&t.name).is_some(), "tag {} not found by name", t.name);
        }
    }
});

//! Every file nsg-policy reads has a size limit: `/dev/zero` (whose metadata
//! says 0 bytes) as a policy or a service tags file is refused
//! quickly with an error naming the file and the limit, never read until
//! memory runs out. (Azure JSON: nsg-azure's tests/limits.rs.)

use nsg_policy::limits::{MAX_POLICY_BYTES, MAX_SERVICE_TAGS_BYTES};
use nsg_policy::{load, load_str, LoadOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "shared/dev_zero.rs"]
mod dev_zero;
use dev_zero::{zero, QUICK};

const POLICY: &str = r#"
[[vnet]]
name = "VNet1"
address_space = ["10.0.0.0/16"]
"#;

#[test]
fn service_tags_dev_zero_is_refused_quickly_naming_file_and_limit() {
    let Some(_) = zero() else { return };
    assert_eq!(MAX_SERVICE_TAGS_BYTES, 64 << 20);
    let text = format!("service_tags = \"/dev/zero\"\n{POLICY}");
    let t = Instant::now();
    let e = load_str(&text, Path::new("t.toml"), &LoadOptions::default()).unwrap_err();
    let took = t.elapsed();
    assert!(took < QUICK, "took {took:?}");
    let f = e
        .faults
        .iter()
        .find(|f| f.item == "service_tags")
        .unwrap_or_else(|| panic!("no service_tags fault:\n{e}"));
    assert_eq!(
        f.message,
        "service tags file /dev/zero is larger than 64 MiB, the limit for a service tags file"
    );
    // The same through --service-tags.
    let opts = LoadOptions {
        service_tags: vec![PathBuf::from("/dev/zero")],
    };
    let e = load_str(POLICY, Path::new("t.toml"), &opts).unwrap_err();
    assert!(
        e.to_string().contains("/dev/zero is larger than 64 MiB"),
        "{e}"
    );
}

#[test]
fn policy_dev_zero_is_refused_naming_file_and_limit() {
    let Some(z) = zero() else { return };
    assert_eq!(MAX_POLICY_BYTES, 16 << 20);
    let t = Instant::now();
    let e = load(z, &LoadOptions::default()).unwrap_err();
    assert!(t.elapsed() < QUICK, "took {:?}", t.elapsed());
    assert_eq!(e.faults.len(), 1, "{e}");
    assert_eq!(
        e.faults[0].to_string(),
        "/dev/zero: the policy file is larger than 16 MiB, the limit for a policy file"
    );
}

#[test]
fn a_file_one_byte_over_the_policy_limit_is_refused() {
    let d = std::env::temp_dir().join(format!("nsg-limits-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("big.toml");
    let mut text = POLICY.as_bytes().to_vec();
    text.resize(MAX_POLICY_BYTES as usize + 1, b'\n');
    std::fs::write(&p, &text).unwrap();
    let e = load(&p, &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
    // At the limit it is read (and loads: newlines are blank lines).
    text.truncate(MAX_POLICY_BYTES as usize);
    std::fs::write(&p, &text).unwrap();
    load(&p, &LoadOptions::default()).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

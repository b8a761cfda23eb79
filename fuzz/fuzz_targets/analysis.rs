//! The analysis on any policy that loads: lint (text, JSON, SARIF with the
//! rule lines found in the input's text), diff of the
//! policy with itself (which must find no change), reach by NIC, ASG and
//! subnet (text, JSON, SVG). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_analysis::{diff, lint, reach};
use nsg_policy::{load_str, LoadOptions};

/// Policies with more NICs than this are skipped: reach is quadratic in
/// the NICs, and the fuzzer's time is better spent on many small inputs.
const MAX_NICS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = nsg_fuzz::scratch_dir().join("policy.toml");
    let Ok(policy) = load_str(text, &path, &LoadOptions::default()) else {
        return;
    };
    if policy.nics.len() > MAX_NICS {
        return;
    }
    let findings = lint::lint(&policy);
    let _ = lint::to_text(&policy, &findings);
    let _ = lint::to_json(&policy, &findings);
    let _ = lint::sarif::sarif(&policy, &findings, "policy.toml", Some(text), true);
    let same = diff::diff(&policy, &policy, None).expect("no NIC filter");
    assert!(same.is_empty(), "a policy differs from itself: {:?}", same.changes);
    let _ = diff::render::to_text(&same);
    for by in [reach::By::Nic, reach::By::Asg, reach::By::Subnet] {
        let r = reach::reach(&policy, by);
        let _ = r.to_json();
        let _ = reach::svg::render(&r);
    }
});

//! The committed inputs of the verify_line fuzz target (`fuzz/seeds/TARGET`
//! and every finding kept in `fuzz/regressions/TARGET`) as tests on the
//! stable toolchain: none panics, and a verify line answers a verdict (also
//! in Azure's shape) or an error, as `nsg verify --batch` does.

use nsg_azure::export::verdict_azure;
use nsg_policy::query::{verdict_json, verdict_text, Query};
use nsg_policy::{evaluate, load, LoadOptions};
#[path = "../../nsg-policy/tests/shared/fuzz_seeds.rs"]
mod fuzz_seeds;

use fuzz_seeds::{inputs, root};

#[test]
fn verify_lines_answer_a_verdict_or_an_error() {
    let policy = load(
        &root().join("config/three-tier.toml"),
        &LoadOptions::default(),
    )
    .expect("the example policy loads");
    let lines = inputs("verify_line");
    assert!(lines.len() >= 8, "fuzz/seeds/verify_line holds the seeds");
    let (mut ok, mut refused) = (0, 0);
    for (name, data) in &lines {
        let line = String::from_utf8_lossy(data);
        match Query::from_json_line(&policy, &line) {
            Ok(q) => {
                let v = evaluate(&policy, q.nic, q.direction, &q.packet);
                assert!(verdict_json(&policy, &v)["access"].is_string(), "{name}");
                assert!(!verdict_text(&policy, &v).is_empty(), "{name}");
                assert!(verdict_azure(&policy, &v)["access"].is_string(), "{name}");
                ok += 1;
            }
            Err(e) => {
                assert!(!e.is_empty(), "{name}: an error says what is wrong");
                refused += 1;
            }
        }
    }
    // Four well-formed queries; blank, not UTF-8, not JSON and an unknown key refused.
    assert!(ok >= 4 && refused >= 4, "{ok} answered, {refused} refused");
}

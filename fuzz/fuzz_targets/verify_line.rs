//! One `nsg verify --batch` line against the built-in example policy: the
//! query is parsed, evaluated and its verdict formatted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_classify::nsg::CompiledPolicy;
use nsg_policy::query::Query;
use nsg_policy::{load_str, LoadOptions};
use std::path::Path;
use std::sync::{Arc, OnceLock};

const THREE_TIER: &str = include_str!("../../config/three-tier.toml");

fn policy() -> &'static CompiledPolicy {
    static P: OnceLock<CompiledPolicy> = OnceLock::new();
    P.get_or_init(|| {
        let p = load_str(
            THREE_TIER,
            Path::new("config/three-tier.toml"),
            &LoadOptions::default(),
        )
        .expect("the built-in example policy loads");
        CompiledPolicy::build(Arc::new(p))
    })
}

fuzz_target!(|data: &[u8]| {
    let c = policy();
    // A batch file is read as text; bytes that are not UTF-8 still reach the
    // parser, replaced, so the fuzzer explores it with them too.
    let line = String::from_utf8_lossy(data);
    if let Ok(q) = Query::from_json_line(&c.policy, &line) {
        let v = c.evaluate(q.nic, q.direction, &q.packet);
        assert_eq!(
            v,
            nsg_policy::evaluate(&c.policy, q.nic, q.direction, &q.packet)
        );
        nsg_fuzz::format_verdict(&c.policy, &v);
    }
});

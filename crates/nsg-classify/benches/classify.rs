//! Criterion benchmarks of the matcher: ClassBench sets (single and batched
//! lookups) and a compiled NSG policy (config/three-tier.toml), on the
//! lookup loops `NSG_SIMD` and the CPU select (printed first, on stderr).

use criterion::{BatchSize, Criterion, Throughput};
use nsg_classify::classbench::{load_rules, load_trace};
use nsg_classify::nsg::CompiledPolicy;
use nsg_classify::{Classifier, Key4, Width};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn classbench(c: &mut Criterion) {
    let dir = root().join("../shared/data/classbench");
    if !dir.is_dir() {
        eprintln!(
            "skipping ClassBench benchmarks: {} is absent",
            dir.display()
        );
        return;
    }
    for (set, trace) in [
        ("acl1_1k", "acl1_1k_trace"),
        ("fw1_1k", "fw1_1k_trace"),
        ("ipc1_1k", "ipc1_1k_trace"),
        ("acl1_10k", "acl1_10k_trace250k"),
        ("fw1_10k", "fw1_10k_trace250k"),
        ("ipc1_10k", "ipc1_10k_trace250k"),
    ] {
        let rules = load_rules(&dir.join(set)).expect("rules");
        let keys: Vec<Key4> = load_trace(&dir.join(trace))
            .expect("trace")
            .iter()
            .take(65536)
            .map(|t| t.key)
            .collect();
        let cls = Classifier::build(Width::V4, &rules);
        let mut g = c.benchmark_group(format!("classbench/{set}"));
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function("single", |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(cls.lookup4(k));
                }
            })
        });
        let mut out = vec![0u32; keys.len()];
        g.bench_function("batch64", |b| {
            b.iter(|| {
                for (ks, os) in keys.chunks(64).zip(out.chunks_mut(64)) {
                    cls.lookup4_batch(ks, os);
                }
                black_box(&out);
            })
        });
        g.sample_size(10);
        g.bench_function("build", |b| {
            b.iter_batched(
                || rules.clone(),
                |r| Classifier::build(Width::V4, &r),
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

fn nsg_policy(c: &mut Criterion) {
    let policy = nsg_policy::load(
        &root().join("config/three-tier.toml"),
        &nsg_policy::LoadOptions::default(),
    )
    .expect("three-tier loads");
    let policy = Arc::new(policy);
    let compiled = CompiledPolicy::build(policy.clone());
    let q = nsg_policy::query::Query::parse(
        &policy,
        "NIC4",
        "inbound",
        "tcp",
        "10.0.2.5:1433",
        "10.0.1.4:50000",
    )
    .expect("query");
    c.bench_function("nsg/three-tier/evaluate", |b| {
        b.iter(|| black_box(compiled.evaluate(q.nic, q.direction, black_box(&q.packet))))
    });
    c.bench_function("nsg/three-tier/compile", |b| {
        b.iter(|| CompiledPolicy::build(policy.clone()))
    });
}

/// What `criterion_main!` would run, after saying on stderr which compiled
/// variant of the lookup loops the classifiers take (`NSG_SIMD=portable`
/// forces the portable one).
fn main() {
    eprintln!("classify: {}", nsg_classify::simd::selection());
    let mut c = Criterion::default().configure_from_args();
    classbench(&mut c);
    nsg_policy(&mut c);
    c.final_summary();
}

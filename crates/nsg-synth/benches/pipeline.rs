//! Criterion benchmark of the whole pipeline (parse, flow table, matcher over
//! two layers) on synthetic 64-byte frames, as `nsg bench pipeline` runs it:
//! established frames spread over the live flows, and new flows.

use criterion::{criterion_main, Criterion, Throughput};
use nsg_dataplane::flow_setup::flow_table_for;
use nsg_dataplane::pipeline::{Worker, WorkerOptions};
use nsg_dataplane::policy::PolicyCell;
use nsg_flow::Timestamp;
use nsg_synth::bench::{policy_text, tcp_frame};
use std::path::Path;
use std::sync::Arc;

const FLOWS: usize = 100_000;
const RULES: usize = 1_000;

fn client(i: usize) -> ([u8; 4], u16) {
    let a = 0x1400_0000u32 + (i / 50_000) as u32;
    (a.to_be_bytes(), 10_000 + (i % 50_000) as u16)
}

fn pipeline(c: &mut Criterion) {
    let policy = Arc::new(
        nsg_policy::load_str(
            &policy_text(RULES),
            Path::new("bench.toml"),
            &Default::default(),
        )
        .expect("bench policy"),
    );
    let cell = PolicyCell::new(policy.clone()).expect("the bench policy has few NICs");
    let published = cell.load();
    let now = Timestamp(1_000_000_000);
    let server = [10, 0, 1, 4];
    let syns: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            let (a, p) = client(i);
            tcp_frame(a, server, p, 80, 0x02)
        })
        .collect();
    let mut acks: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            let (a, p) = client(i);
            tcp_frame(a, server, p, 80, 0x10)
        })
        .collect();
    // A fixed shuffle so established frames hit flows in random order.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..acks.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acks.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let table = flow_table_for(&policy, FLOWS * 2).expect("table");
    let mut w = Worker::new(table, WorkerOptions::default());
    for f in &syns {
        w.process(&published, f, now);
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(acks.len() as u64));
    g.bench_function("established_100k_flows", |b| {
        b.iter(|| {
            for f in &acks {
                std::hint::black_box(w.process(&published, f, now));
            }
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(syns.len() as u64));
    g.bench_function("new_flows_two_1000_rule_layers", |b| {
        b.iter_batched(
            || {
                let t = flow_table_for(&policy, FLOWS * 2).expect("table");
                Worker::new(t, WorkerOptions::default())
            },
            |mut w| {
                for f in &syns {
                    std::hint::black_box(w.process(&published, f, now));
                }
                w
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The criterion group, in a module of its own: the function the macro
/// makes is public, and needs no documentation where nothing can reach it.
mod group {
    criterion::criterion_group!(benches, super::pipeline);
}
criterion_main!(group::benches);

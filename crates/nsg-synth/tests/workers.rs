//! Per-worker flow tables in a replay: the total capacity is split evenly,
//! every flow lives in the table of the worker its frames reach, and the
//! outcome (verdicts, flow log) does not depend on how many workers ran.

use nsg_capture::replay::{replay, ReplayOptions, ReplayReport};
use nsg_policy::{LoadOptions, Policy};
use nsg_synth::demo_traffic;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The total flow capacity of the replays: small, but above what the demo
/// holds at once, so that no worker's share fills up.
const TOTAL: usize = 1024;

fn policy() -> Arc<Policy> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml");
    Arc::new(nsg_policy::load(&p, &LoadOptions::default()).expect("three-tier loads"))
}

/// A replay's report, verdict lines and flow log.
struct Run {
    report: ReplayReport,
    verdicts: String,
    flow_log: String,
}

/// Replay the capture file `pcap` with `workers` workers and the flow
/// capacity [`TOTAL`].
fn replay_with(policy: &Arc<Policy>, pcap: &Path, workers: usize) -> Run {
    let dir = std::env::temp_dir();
    let tag = format!("{}-{workers}", std::process::id());
    let verdicts: PathBuf = dir.join(format!("nsg-workers-{tag}.jsonl"));
    let flow_log: PathBuf = dir.join(format!("nsg-workers-{tag}.json"));
    let opts = ReplayOptions {
        capture: pcap.to_path_buf(),
        workers,
        verdicts: Some(verdicts.clone()),
        flow_log: Some(flow_log.clone()),
        capacity: Some(TOTAL),
        ..ReplayOptions::default()
    };
    let report = replay(policy.clone(), &opts).expect("replay");
    let run = Run {
        report,
        verdicts: std::fs::read_to_string(&verdicts).expect("verdicts written"),
        flow_log: std::fs::read_to_string(&flow_log).expect("flow log written"),
    };
    let _ = std::fs::remove_file(verdicts);
    let _ = std::fs::remove_file(flow_log);
    run
}

#[test]
fn two_workers_split_the_capacity_and_the_flows_and_judge_as_one() {
    let policy = policy();
    let cap = demo_traffic(&policy, 1);
    let pcap = std::env::temp_dir().join(format!("nsg-workers-{}.pcap", std::process::id()));
    cap.write_pcap(&pcap).expect("capture written");
    let one = replay_with(&policy, &pcap, 1);
    let two = replay_with(&policy, &pcap, 2);
    let _ = std::fs::remove_file(&pcap);
    assert!(one.report.error.is_none() && two.report.error.is_none());
    assert_eq!(one.report.stats.verdict.frames as usize, cap.len());
    assert_eq!(two.report.stats.verdict.frames as usize, cap.len());
    // No table filled up: the comparison below is of judging, not eviction.
    assert_eq!(one.report.stats.flow.refusals, 0);
    assert_eq!(two.report.stats.flow.refusals, 0);

    // (a) One table per worker, each half the total.
    assert_eq!(one.report.tables.len(), 1);
    assert_eq!(one.report.tables[0].capacity(), TOTAL);
    assert_eq!(two.report.tables.len(), 2);
    for t in &two.report.tables {
        assert_eq!(t.capacity(), TOTAL / 2);
    }
    assert_eq!(two.report.flow_capacity(), TOTAL);

    // (b) The flows are spread over both tables, and are those one worker
    // holds.
    let held: Vec<usize> = two.report.tables.iter().map(|t| t.len()).collect();
    assert!(held.iter().all(|&n| n > 0), "flows per worker: {held:?}");
    assert!(one.report.flows() > 0);
    assert_eq!(held.iter().sum::<usize>(), one.report.flows());
    let mut flows_one = Vec::new();
    one.report.tables[0].for_each(|nic, f| flows_one.push((nic, f.original)));
    let mut flows_two = Vec::new();
    for t in &two.report.tables {
        t.for_each(|nic, f| flows_two.push((nic, f.original)));
    }
    let key = |(n, t): &(nsg_flow::NicId, nsg_packet::FiveTuple)| (n.0, format!("{t:?}"));
    flows_one.sort_by_key(key);
    flows_two.sort_by_key(key);
    assert_eq!(flows_one, flows_two);

    // (c) The same verdict for every frame.
    assert_eq!(one.verdicts.lines().count(), cap.len());
    for (i, (a, b)) in one.verdicts.lines().zip(two.verdicts.lines()).enumerate() {
        assert_eq!(a, b, "frame {i}");
    }
    assert_eq!(one.report.stats.verdict, two.report.stats.verdict);

    // (d) The same flow log, byte for byte.
    assert!(one.report.flow_log_tuples > 0);
    assert_eq!(one.report.flow_log_tuples, two.report.flow_log_tuples);
    assert_eq!(one.flow_log, two.flow_log);
}

//! Flow logs: Azure's version 2 samples parse with their documented
//! meanings, and what nsg writes parses back to what was recorded.

use nsg_capture::flowlog::{
    logged_rule_name, parse_flow_log, Counters, FlowLog, FlowState, FlowTuple, ParsedTuple,
    CATEGORY, DEFAULT_RESOURCE_PREFIX, OPERATION_NAME,
};
use nsg_synth::SplitMix64;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// `../shared/data/flowlogs`, or `None` (with a message) when absent.
fn samples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/flowlogs");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn azures_v2_sample_parses_with_its_meanings() {
    let Some(dir) = samples() else { return };
    let tuples = parse_flow_log(&read_json(&dir.join("nsg-flowlog-v2-docs-sample.json"))).unwrap();
    assert_eq!(tuples.len(), 11);
    let first = &tuples[0];
    assert_eq!(first.time, "2018-11-13T12:00:35.3899262Z");
    assert_eq!(first.nsg, "FABRIAKMVM1-NSG");
    assert!(first.resource_id.starts_with("/SUBSCRIPTIONS/"));
    assert_eq!(first.rule, "DefaultRule_DenyAllInBound");
    assert_eq!(first.mac, Some([0x00, 0x0d, 0x3a, 0xf8, 0x78, 0x56]));
    assert_eq!(
        first.tuple,
        FlowTuple {
            ts: 1_542_110_402,
            src: ip("192.0.2.190"),
            dst: ip("10.5.16.4"),
            src_port: 28746,
            dst_port: 443,
            tcp: false,
            inbound: true,
            allowed: false,
            state: FlowState::Begin,
            counters: None,
        }
    );
    // "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66"
    let end = tuples
        .iter()
        .find(|t| t.tuple.state == FlowState::End)
        .unwrap();
    assert_eq!(end.rule, "DefaultRule_AllowInternetOutBound");
    assert!(end.tuple.tcp && !end.tuple.inbound && end.tuple.allowed);
    assert_eq!(
        end.tuple.counters,
        Some(Counters {
            packets_sd: 1,
            bytes_sd: 66,
            packets_ds: 1,
            bytes_ds: 66
        })
    );
    let continuing = tuples
        .iter()
        .filter(|t| t.tuple.state == FlowState::Continuing)
        .count();
    assert_eq!(continuing, 1);
    // Every denied tuple is inbound, under the deny rule; the second record's.
    assert!(tuples
        .iter()
        .filter(|t| !t.tuple.allowed)
        .all(|t| t.tuple.inbound && t.rule == "DefaultRule_DenyAllInBound"));
    assert_eq!(tuples[10].time, "2018-11-13T12:01:35.3918317Z");
    assert_eq!(tuples[10].tuple.dst_port, 52801);
}

#[test]
fn azures_bandwidth_example_adds_up() {
    let Some(dir) = samples() else { return };
    let text = std::fs::read_to_string(dir.join("nsg-flowlog-v2-bandwidth-example.txt")).unwrap();
    let tuples: Vec<FlowTuple> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.parse().unwrap())
        .collect();
    let states: Vec<FlowState> = tuples.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [FlowState::Begin, FlowState::Continuing, FlowState::End]
    );
    let (mut packets, mut bytes) = (0, 0);
    for c in tuples.iter().filter_map(|t| t.counters) {
        packets += c.packets_sd + c.packets_ds;
        bytes += c.bytes_sd + c.bytes_ds;
    }
    // The totals the documentation states.
    assert_eq!((packets, bytes), (9_125, 5_256_000));
}

#[test]
fn a_version_1_log_is_refused_by_name() {
    let Some(dir) = samples() else { return };
    let e = parse_flow_log(&read_json(&dir.join("nsg-flowlog-v1-docs-sample.json"))).unwrap_err();
    assert!(e.contains("version 1"), "{e}");
}

/// The arguments of one [`FlowLog::record`] call: NSG, rule, default rule,
/// MAC, tuple.
type Recorded = (String, String, bool, Option<[u8; 6]>, FlowTuple);

/// Random tuples of both families, every state, TCP and UDP.
fn random_tuples(seed: u64, n: usize) -> Vec<Recorded> {
    let mut r = SplitMix64::new(seed);
    let nsgs = ["NSG1", "nsg-web", "Backend_NSG"];
    let rules = [
        ("Allow-HTTP-Inbound-Internet", false),
        ("DenyAllInBound", true),
        ("AllowInternetOutBound", true),
        ("Deny-Database-All", false),
    ];
    let macs = [
        None,
        Some([0x02, 0x00, 0x0a, 0x00, 0x01, 0x04]),
        Some([0xff; 6]),
    ];
    (0..n)
        .map(|_| {
            let v6 = r.percent(30);
            let mut addr = || {
                if v6 {
                    IpAddr::V6(Ipv6Addr::from(
                        (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64()),
                    ))
                } else {
                    IpAddr::V4(Ipv4Addr::from(r.next_u32()))
                }
            };
            let (src, dst) = (addr(), addr());
            let state =
                [FlowState::Begin, FlowState::Continuing, FlowState::End][r.below(3) as usize];
            let counters = (state != FlowState::Begin).then(|| Counters {
                packets_sd: r.below(1 << 20),
                bytes_sd: r.next_u64() >> 20,
                packets_ds: r.below(1 << 20),
                bytes_ds: r.next_u64() >> 20,
            });
            let t = FlowTuple {
                ts: 1_714_564_700 + r.below(400),
                src,
                dst,
                src_port: r.next_u64() as u16,
                dst_port: r.next_u64() as u16,
                tcp: r.percent(70),
                inbound: r.percent(50),
                allowed: r.percent(50),
                state,
                counters,
            };
            let (rule, default) = *r.pick(&rules).unwrap();
            let nsg = *r.pick(&nsgs).unwrap();
            let mac = *r.pick(&macs).unwrap();
            (nsg.to_string(), rule.to_string(), default, mac, t)
        })
        .collect()
}

type Key = (String, String, Option<[u8; 6]>, FlowTuple);

fn sorted_keys(parsed: &[ParsedTuple]) -> Vec<Key> {
    let mut v: Vec<Key> = parsed
        .iter()
        .map(|p| (p.nsg.clone(), p.rule.clone(), p.mac, p.tuple))
        .collect();
    v.sort();
    v
}

#[test]
fn recorded_tuples_parse_back_the_same() {
    let input = random_tuples(1, 2_000);
    let mut log = FlowLog::default();
    for (nsg, rule, default, mac, t) in &input {
        log.record(nsg, rule, *default, *mac, *t);
    }
    assert_eq!(log.len(), input.len());
    let json = log.to_json();
    let parsed = parse_flow_log(&json).unwrap();
    let mut want: Vec<Key> = input
        .iter()
        .map(|(nsg, rule, default, mac, t)| {
            (
                nsg.to_uppercase(),
                logged_rule_name(rule, *default),
                *mac,
                *t,
            )
        })
        .collect();
    want.sort();
    assert_eq!(sorted_keys(&parsed), want);
    for p in &parsed {
        // Each tuple sits in the record of its NSG and minute.
        assert_eq!(
            p.resource_id,
            format!("{DEFAULT_RESOURCE_PREFIX}/{}", p.nsg)
        );
        let minute = p.tuple.ts / 60 * 60;
        let record = json["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["time"] == p.time && r["resourceId"] == p.resource_id.as_str())
            .unwrap();
        assert_eq!(record["category"], CATEGORY);
        assert_eq!(record["operationName"], OPERATION_NAME);
        let hhmm = &p.time[11..16];
        let secs_of_day = minute % 86_400;
        assert_eq!(
            hhmm,
            format!("{:02}:{:02}", secs_of_day / 3600, secs_of_day / 60 % 60)
        );
        assert!(p.time.ends_with(":00.0000000Z"));
    }
}

#[test]
fn the_order_of_record_calls_does_not_change_the_output() {
    let input = random_tuples(2, 500);
    let mut a = FlowLog::default();
    let mut b = FlowLog::default();
    for (nsg, rule, default, mac, t) in &input {
        a.record(nsg, rule, *default, *mac, *t);
    }
    for (nsg, rule, default, mac, t) in input.iter().rev() {
        b.record(nsg, rule, *default, *mac, *t);
    }
    assert_eq!(a.to_json(), b.to_json());
    // Records by minute, then NSG; tuples by time within each list.
    let recs = a.to_json()["records"].as_array().unwrap().clone();
    let keys: Vec<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["time"].as_str().unwrap().to_string(),
                r["resourceId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn azures_sample_survives_a_rewrite() {
    let Some(dir) = samples() else { return };
    let parsed = parse_flow_log(&read_json(&dir.join("nsg-flowlog-v2-docs-sample.json"))).unwrap();
    let mut log = FlowLog::new(
        "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS",
    );
    for p in &parsed {
        let (default, name) = match p.rule.strip_prefix("DefaultRule_") {
            Some(n) => (true, n),
            None => (false, p.rule.strip_prefix("UserRule_").unwrap()),
        };
        log.record(&p.nsg, name, default, p.mac, p.tuple);
    }
    let again = parse_flow_log(&log.to_json()).unwrap();
    assert_eq!(sorted_keys(&again), sorted_keys(&parsed));
    // The same id, but upper-cased whole (the sample's GUID is lower-case).
    assert!(again
        .iter()
        .all(|p| p.resource_id == parsed[0].resource_id.to_uppercase()));
}

#[test]
fn a_written_log_reads_back() {
    let input = random_tuples(3, 50);
    let mut log = FlowLog::new(DEFAULT_RESOURCE_PREFIX);
    for (nsg, rule, default, mac, t) in &input {
        log.record(nsg, rule, *default, *mac, *t);
    }
    let path = std::env::temp_dir().join(format!("nsg-flowlog-{}.json", std::process::id()));
    log.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json, log.to_json());
    assert_eq!(parse_flow_log(&json).unwrap().len(), 50);
}

#[test]
fn an_empty_log_is_an_empty_record_list() {
    let log = FlowLog::default();
    assert!(log.is_empty());
    assert_eq!(log.to_json(), serde_json::json!({"records": []}));
    assert!(parse_flow_log(&log.to_json()).unwrap().is_empty());
}

#[test]
fn a_streamed_log_is_the_same_file_as_a_whole_one() {
    use nsg_capture::flowlog_stream::FlowLogWriter;
    let mut input = random_tuples(4, 3_000);
    input.sort_by_key(|x| x.4.ts);
    let minutes: std::collections::BTreeSet<u64> = input.iter().map(|x| x.4.ts / 60).collect();
    assert!(minutes.len() > 3, "the tuples span several minutes");
    let dir = std::env::temp_dir();
    let (whole, streamed) = (
        dir.join(format!("nsg-flowlog-whole-{}.json", std::process::id())),
        dir.join(format!("nsg-flowlog-stream-{}.json", std::process::id())),
    );
    let mut log = FlowLog::default();
    let mut w = FlowLogWriter::create(&streamed).unwrap();
    for (nsg, rule, default, mac, t) in &input {
        log.record(nsg, rule, *default, *mac, *t);
        // Minutes close as time moves on, as in a replay.
        w.close_before(t.ts * 1_000_000_000).unwrap();
        w.record_tuple(nsg, rule, *default, *mac, *t);
    }
    assert_eq!(w.close().unwrap(), input.len() as u64);
    log.write(&whole).unwrap();
    let (a, b) = (
        std::fs::read(&whole).unwrap(),
        std::fs::read(&streamed).unwrap(),
    );
    std::fs::remove_file(&whole).unwrap();
    std::fs::remove_file(&streamed).unwrap();
    assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());

    // No tuples: the same empty list.
    let w = FlowLogWriter::create(&streamed).unwrap();
    assert_eq!(w.close().unwrap(), 0);
    FlowLog::default().write(&whole).unwrap();
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&streamed).unwrap()
    );
    std::fs::remove_file(&whole).unwrap();
    std::fs::remove_file(&streamed).unwrap();
}

#[test]
fn a_streamed_log_holds_one_minute_at_most() {
    use nsg_capture::flowlog_stream::FlowLogWriter;
    let path = std::env::temp_dir().join(format!("nsg-flowlog-held-{}.json", std::process::id()));
    let mut w = FlowLogWriter::create(&path).unwrap();
    let mut input = random_tuples(5, 4_000);
    input.sort_by_key(|x| x.4.ts);
    let mut per_minute = std::collections::BTreeMap::<u64, u64>::new();
    for (nsg, rule, default, mac, t) in &input {
        w.close_before(t.ts * 1_000_000_000).unwrap();
        w.record_tuple(nsg, rule, *default, *mac, *t);
        *per_minute.entry(t.ts / 60).or_default() += 1;
        // Only the minute of the last tuple is open.
        assert_eq!(w.held(), per_minute[&(t.ts / 60)]);
    }
    let most = *per_minute.values().max().unwrap();
    assert!(per_minute.len() > 3 && most < input.len() as u64 / 2);
    assert_eq!(w.peak_held(), most);
    assert_eq!(w.close().unwrap(), input.len() as u64);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(parse_flow_log(&json).unwrap().len(), input.len());
}

/// A SYN flood over several minutes through a replay: the flow log holds
/// no more tuples than one minute logs, and the flows still open at the
/// end are written (as C tuples) without being held.
#[test]
fn a_replayed_flood_holds_one_minute_at_most() {
    use nsg_capture::capture::{CapturedFrame, Link};
    use nsg_capture::replay::{replay_frames, ReplayOptions};
    use nsg_synth::{Capture, Endpoint, Peers, SynSpec, Synth};
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml"),
    )
    .unwrap();
    let policy = std::sync::Arc::new(
        nsg_policy::load_str(&text, Path::new("three-tier.toml"), &Default::default()).unwrap(),
    );
    const T0: u64 = 1_714_564_800_000_000_000;
    let mut cap = Capture::new();
    let mut synth = Synth::new(6);
    let server = Endpoint::new([2, 0, 0, 0, 0, 5], "10.0.1.4".parse().unwrap());
    let flows = 1_200u32;
    for i in 0..flows {
        let src = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i));
        let peers = Peers::new(Endpoint::new([2, 0, 0, 0, 0, 9], src), server).unwrap();
        // 200 ms apart: four minutes, 300 new flows a minute.
        let t = T0 + u64::from(i) * 200_000_000;
        synth.tcp_unanswered(&mut cap, t, &peers, &SynSpec::new(80));
    }
    cap.sort_by_time();
    let path = std::env::temp_dir().join(format!("nsg-flowlog-flood-{}.json", std::process::id()));
    let opts = ReplayOptions {
        workers: 2,
        flow_log: Some(path.clone()),
        ..ReplayOptions::default()
    };
    let frames = cap.frames.iter().map(|(ts, d)| {
        Ok(CapturedFrame {
            ts_ns: *ts,
            link: Link::Ethernet,
            data: d.clone(),
            orig_len: d.len() as u32,
            interface: 0,
        })
    });
    let report = replay_frames(policy, frames, &opts).unwrap();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let tuples = parse_flow_log(&json).unwrap();
    assert_eq!(tuples.len() as u64, report.flow_log_tuples);
    let mut b_per_minute = std::collections::BTreeMap::<u64, u64>::new();
    for t in tuples.iter().filter(|t| t.tuple.state == FlowState::Begin) {
        *b_per_minute.entry(t.tuple.ts / 60).or_default() += 1;
    }
    assert_eq!(b_per_minute.values().sum::<u64>(), u64::from(flows));
    assert!(b_per_minute.len() >= 4, "{b_per_minute:?}");
    let most = *b_per_minute.values().max().unwrap();
    assert!(report.flow_log_peak_held > 0);
    assert!(
        report.flow_log_peak_held <= most,
        "held {} > {most}",
        report.flow_log_peak_held
    );
    let open = tuples
        .iter()
        .filter(|t| t.tuple.state == FlowState::Continuing)
        .count();
    assert!(open > 0, "flows still open at the end get C tuples");
    assert!(report.flow_log_peak_held < u64::from(flows) / 2);
}

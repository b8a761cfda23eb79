//! `nsg demo` and `nsg replay` end to end through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nsg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run nsg")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-replay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn frames_of(out: &Output) -> u64 {
    let s = text(&out.stdout);
    let line = s
        .lines()
        .find(|l| l.trim_start().starts_with("frames "))
        .unwrap_or_else(|| panic!("no frames line in {s}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn demo_is_deterministic_and_shows_rules() {
    let a = nsg(&["demo", "--seed", "5", "--workers", "1"]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let s = text(&a.stdout);
    for rule in [
        "NSG1/Allow-HTTP-Inbound-Internet",
        "NSG1/Deny-Database-All",
        "NSG1/Allow-Database-BusinessLogic",
        "NSG1/DenyAllInBound",
        "platform/AzurePlatformDNS",
    ] {
        assert!(s.contains(rule), "{rule} missing in\n{s}");
    }
    let b = nsg(&["demo", "--seed", "5", "--workers", "2"]);
    // Same verdicts whatever the workers; only timings differ.
    let strip = |o: &Output| {
        text(&o.stdout)
            .lines()
            .filter(|l| !l.contains("elapsed") && !l.contains("Mpps"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn replay_writes_every_output() {
    let cap = tmp("demo.pcap");
    let out = nsg(&["demo", "--seed", "2", "--write-pcap", p(&cap)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let total = frames_of(&out);
    let (a, d, v, f) = (
        tmp("allowed.pcap"),
        tmp("denied.pcap"),
        tmp("verdicts.jsonl"),
        tmp("flowlog.json"),
    );
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--allowed",
        p(&a),
        "--denied",
        p(&d),
        "--verdicts",
        p(&v),
        "--flow-log",
        p(&f),
        "--workers",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(frames_of(&out), total);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&v)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, total);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"], i as u64, "verdict lines are in input order");
    }
    let denied_lines = lines.iter().filter(|l| l["access"] != "Allow").count() as u64;
    assert!(lines.iter().any(|l| l["rule"] == "NSG1/Deny-Database-All"));
    // The two output captures hold every frame between them.
    let ra = nsg(&["replay", "config/three-tier.toml", p(&a), "--workers", "1"]);
    let rd = nsg(&["replay", "config/three-tier.toml", p(&d), "--workers", "1"]);
    assert!(ra.status.success() && rd.status.success());
    assert_eq!(frames_of(&ra) + frames_of(&rd), total);
    assert_eq!(frames_of(&rd), denied_lines);
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    let records = log["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert_eq!(records[0]["category"], "NetworkSecurityGroupFlowEvent");
    assert_eq!(records[0]["properties"]["Version"], 2);
}

#[test]
fn a_truncated_capture_reports_what_came_before() {
    let cap = tmp("whole.pcap");
    assert!(nsg(&["demo", "--seed", "3", "--write-pcap", p(&cap)])
        .status
        .success());
    let bytes = std::fs::read(&cap).unwrap();
    let cut = tmp("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cut),
        "--workers",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("cut.pcap") && e.contains("offset"), "{e}");
    assert!(!e.contains("panicked"));
    assert!(frames_of(&out) > 1000, "{}", text(&out.stdout));
    let garbage = tmp("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let out = nsg(&["replay", "config/three-tier.toml", p(&garbage)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("garbage.pcap"));
}

#[test]
fn other_link_types_are_refused_by_name() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/pcaps/tcpdump/brcm-tag.pcap");
    if !data.exists() {
        eprintln!("skipping: {} is absent", data.display());
        return;
    }
    let out = nsg(&["replay", "config/three-tier.toml", p(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("DSA_TAG_BRCM"),
        "{}",
        text(&out.stderr)
    );
}

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

/// An IPv4 UDP datagram between two addresses no NIC of three-tier has
/// (unmanaged: passes).
fn udp4(id: u8) -> Vec<u8> {
    let mut ip = vec![
        0x45, 0, 0, 32, 0, id, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1,
    ];
    let sum = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
    ip
}

fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (body.len() + 12) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// A pcapng with an Ethernet and a Linux-cooked interface, one datagram on each.
fn two_interface_pcapng() -> Vec<u8> {
    let mut b = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&[0xff; 8]);
    ng_block(&mut b, 0x0a0d_0d0a, &shb);
    for (lt, snap) in [(1u16, 65_535u32), (113, 262_144)] {
        let mut idb = lt.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&snap.to_le_bytes());
        ng_block(&mut b, 1, &idb);
    }
    let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    eth.extend_from_slice(&udp4(1));
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 3, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&udp4(2));
    for (iface, ts, data) in [(0u32, 1_000_000u32, eth), (1, 2_000_000, sll)] {
        let mut epb = iface.to_le_bytes().to_vec();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&ts.to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&data);
        while !epb.len().is_multiple_of(4) {
            epb.push(0);
        }
        ng_block(&mut b, 6, &epb);
    }
    b
}

fn read_frames(path: &Path) -> Vec<nsg_capture::capture::CapturedFrame> {
    let mut r = nsg_capture::capture::CaptureReader::open(path).unwrap();
    std::iter::from_fn(|| r.next_frame())
        .map(|f| f.unwrap())
        .collect()
}

#[test]
fn allowed_keeps_every_frame_in_the_input_format() {
    let cap = tmp("two-links.pcapng");
    std::fs::write(&cap, two_interface_pcapng()).unwrap();
    let allowed = tmp("two-links-allowed.pcap"); // named .pcap: the input decides
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--allowed",
        p(&allowed),
        "--workers",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&allowed).unwrap();
    assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "pcapng out");
    assert_eq!(read_frames(&allowed), read_frames(&cap));
    let again = nsg(&["replay", "config/three-tier.toml", p(&allowed)]);
    assert_eq!(frames_of(&again), 2);

    // pcap in, pcap out, with the input's link type (Linux cooked).
    let mut pcap = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    pcap.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    pcap.extend_from_slice(&0u32.to_le_bytes()); // snap length 0
    pcap.extend_from_slice(&113u32.to_le_bytes());
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 3, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&udp4(3));
    for x in [5u32, 1_250_000, sll.len() as u32, sll.len() as u32] {
        pcap.extend_from_slice(&x.to_le_bytes());
    }
    pcap.extend_from_slice(&sll);
    let cap = tmp("sll.pcap");
    std::fs::write(&cap, &pcap).unwrap();
    let allowed = tmp("sll-allowed.pcapng");
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--allowed",
        p(&allowed),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("snap length 0 (no limit)"), "{s}");
    assert!(s.contains("sub-second part of a second or more"), "{s}");
    let bytes = std::fs::read(&allowed).unwrap();
    assert_eq!(&bytes[..4], &0xa1b2_3c4du32.to_le_bytes());
    assert_eq!(&bytes[20..24], &113u32.to_le_bytes());
    let back = read_frames(&allowed);
    assert_eq!(back, read_frames(&cap));
    assert_eq!(back[0].ts_ns, 6_250_000_000);
}

#[test]
fn a_write_error_on_allowed_is_an_error() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full");
        return;
    }
    let cap = tmp("two-links-full.pcapng");
    std::fs::write(&cap, two_interface_pcapng()).unwrap();
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--allowed",
        "/dev/full",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("/dev/full"),
        "{}",
        text(&out.stderr)
    );
}

/// A classic pcap of `n` TCP SYNs from 198.51.100.20 (ports 10000 up) to
/// the web NIC's port 80 (allowed from the Internet by three-tier), one
/// microsecond apart.
fn syn_flood_pcap(path: &Path, n: u16) {
    let mut b: Vec<u8> = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        // magic, version 2.4, zone, sigfigs, snaplen, Ethernet (2-byte
        // version fields packed in one word, little-endian)
        b.extend_from_slice(&w.to_le_bytes());
    }
    for i in 0..n {
        let mut f = vec![0u8; 54];
        f[0..6].copy_from_slice(&[0x02, 0, 0x0a, 0, 0x01, 0x04]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
        f[12] = 0x08;
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[198, 51, 100, 20]);
        ip[16..20].copy_from_slice(&[10, 0, 1, 4]);
        let sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let tcp = &mut f[34..54];
        tcp[0..2].copy_from_slice(&(10_000 + i).to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
        for w in [1_714_564_800u32, u32::from(i), 54, 54] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&f);
    }
    std::fs::write(path, b).unwrap();
}

fn summary_value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} line in\n{out}"))
        .trim()
}

#[test]
fn flow_capacity_is_settable_and_evictions_are_reported() {
    let cap = tmp("syn-flood.pcap");
    syn_flood_pcap(&cap, 150);
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--flow-capacity",
        "100",
        "--workers",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert_eq!(summary_value(&s, "flows created"), "150");
    // Batch of 100 / 8 = 12 per pass: 5 passes for the 50 flows past capacity.
    assert_eq!(
        summary_value(&s, "flow evictions"),
        "60 (0 closed, 0 closing, 60 half-open)"
    );
    assert_eq!(summary_value(&s, "flow refusals (table full)"), "0");
    assert_eq!(summary_value(&s, "flows expired"), "0");
    assert_eq!(
        summary_value(&s, "flow table"),
        "90 of 100 flows at the end"
    );
    let help = text(&nsg(&["replay", "--help"]).stdout);
    assert!(help.contains("--flow-capacity"), "{help}");
    let help = text(&nsg(&["run", "--help"]).stdout);
    assert!(help.contains("--flow-capacity"), "{help}");
}

#[test]
fn an_unwritable_flow_log_fails_before_any_frame() {
    let cap = tmp("syn-flood-small.pcap");
    syn_flood_pcap(&cap, 10);
    let v = tmp("unwritable-verdicts.jsonl");
    let out = nsg(&[
        "replay",
        "config/three-tier.toml",
        p(&cap),
        "--verdicts",
        p(&v),
        "--flow-log",
        "/nonexistent-dir/f.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("/nonexistent-dir/f.json"), "{err}");
    // Nothing was judged: no summary, no verdict line.
    assert!(
        !text(&out.stdout).contains("frames"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(std::fs::read_to_string(&v).unwrap_or_default(), "");
}

//! A replay reports its progress to the caller every `PROGRESS_EVERY`
//! frames, with the count judged so far, and the report counts them all.

use nsg_capture::capture::{CaptureWriter, CapturedFrame, Link, OutputFormat};
use nsg_capture::replay::{replay_with_progress, ReplayOptions, PROGRESS_EVERY};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A capture of `n` ARP frames (judged as not IP), in a fresh file.
fn arp_capture(n: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsg-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("arp.pcap");
    let mut w = CaptureWriter::create(&path, OutputFormat::Pcap { linktype: 1 }).expect("creates");
    let mut data = vec![0u8; 60];
    data[..6].copy_from_slice(&[0xff; 6]);
    data[12..14].copy_from_slice(&[0x08, 0x06]);
    for i in 0..n {
        let frame = CapturedFrame {
            ts_ns: 1_714_564_800_000_000_000 + i * 1_000,
            link: Link::Ethernet,
            data: data.clone(),
            orig_len: 60,
            interface: 0,
        };
        w.write(&frame).expect("writes");
    }
    w.finish().expect("finishes");
    path
}

#[test]
fn progress_is_reported_every_so_many_frames() {
    let frames = 2 * PROGRESS_EVERY + 5;
    let capture = arp_capture(frames);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let policy = Arc::new(
        nsg_policy::load(
            &root.join("config/three-tier.toml"),
            &nsg_policy::LoadOptions::default(),
        )
        .expect("three-tier loads"),
    );
    let opts = ReplayOptions {
        capture: capture.clone(),
        workers: 2,
        ..ReplayOptions::default()
    };
    let mut calls: Vec<(u64, Duration)> = Vec::new();
    let report = replay_with_progress(policy, &opts, &mut |judged, elapsed| {
        calls.push((judged, elapsed))
    })
    .expect("replays");
    let _ = std::fs::remove_file(&capture);
    let judged: Vec<u64> = calls.iter().map(|c| c.0).collect();
    assert_eq!(judged, [PROGRESS_EVERY, 2 * PROGRESS_EVERY]);
    assert!(calls[0].1 <= calls[1].1, "{calls:?}");
    assert_eq!(report.stats.verdict.frames, frames);
    assert_eq!(report.stats.verdict.not_ip, frames);
    assert!(report.adds_up());
}

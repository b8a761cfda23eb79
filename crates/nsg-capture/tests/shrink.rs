//! A mapped capture that shrinks while it is read ends the read cleanly (a
//! capture cut inside a record) instead of touching pages past its new end
//! (SIGBUS): between two frames read, and in the middle of a replay.

use nsg_capture::capture::{
    CaptureError, CaptureReader, CaptureWriter, FrameRef, Link, OutputFormat,
};
use nsg_capture::replay::{replay_with_progress, ReplayOptions, PROGRESS_EVERY};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of a record: its 16-byte header and 84 bytes of frame.
const RECORD: u64 = 100;
/// Bytes of the pcap file header.
const HEADER: u64 = 24;

/// A pcap of `n` UDP frames of 84 bytes in a fresh file named `name`.
fn capture(name: &str, n: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsg-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut w = CaptureWriter::create(&path, OutputFormat::Pcap { linktype: 1 }).expect("creates");
    let mut data = vec![0u8; 84];
    data[12..14].copy_from_slice(&[0x08, 0x00]);
    data[14..18].copy_from_slice(&[0x45, 0, 0, 70]);
    data[23] = 17;
    data[26..34].copy_from_slice(&[20, 0, 0, 1, 10, 0, 1, 4]);
    data[34..40].copy_from_slice(&[0x30, 0x39, 0, 53, 0, 50]);
    for i in 0..n {
        let frame = FrameRef {
            ts_ns: 1_714_564_800_000_000_000 + i * 1_000,
            link: Link::Ethernet,
            data: &data,
            orig_len: 84,
            interface: 0,
        };
        w.write_ref(frame).expect("writes");
    }
    w.finish().expect("finishes");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER + n * RECORD);
    path
}

fn cut(path: &Path, len: u64) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn a_file_cut_between_reads_ends_inside_a_record() {
    let n = 50_000;
    let path = capture("between.pcap", n);
    let mut r = CaptureReader::open(&path).expect("opens");
    for _ in 0..10 {
        r.next_ref().expect("a frame").expect("reads");
    }
    // 3 MiB in: past what the reader has taken as present so far.
    let whole = 30_000;
    cut(&path, HEADER + whole * RECORD + 7);
    let mut read = 10;
    let err = loop {
        match r.next_ref() {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => break e,
            None => panic!("a cut record ends the read with a fault"),
        }
    };
    assert_eq!(read, whole);
    match err {
        CaptureError::Corrupt { offset, frames, .. } => {
            assert_eq!(offset, HEADER + whole * RECORD);
            assert_eq!(frames, whole);
        }
        e => panic!("{e}"),
    }
    assert!(r.next_ref().is_none());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_cut_during_a_replay_stops_it_with_a_fault() {
    let n = 200_000;
    for workers in [1, 2] {
        let path = capture(&format!("replay-{workers}.pcap"), n);
        let opts = ReplayOptions {
            capture: path.clone(),
            workers,
            capacity: Some(4096),
            ..ReplayOptions::default()
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let policy = Arc::new(
            nsg_policy::load(
                &root.join("config/three-tier.toml"),
                &nsg_policy::LoadOptions::default(),
            )
            .expect("three-tier loads"),
        );
        // At the first progress report (frame 65,536, 6.5 MB in), cut the
        // file 3 MB further on, inside a record.
        let whole = PROGRESS_EVERY + 30_000;
        let mut cut_once = false;
        let report = replay_with_progress(policy, &opts, &mut |_, _| {
            if !cut_once {
                cut(&path, HEADER + whole * RECORD + 50);
                cut_once = true;
            }
        })
        .expect("replays");
        assert!(cut_once);
        assert_eq!(report.stats.verdict.frames, whole, "{workers} workers");
        assert!(
            matches!(report.error, Some(CaptureError::Corrupt { frames, .. }) if frames == whole),
            "{:?}",
            report.error
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn frames_already_handed_out_read_as_zeros_after_a_cut_behind_the_reader() {
    let n = 20_000;
    let path = capture("behind.pcap", n);
    let mut r = CaptureReader::open(&path).expect("opens");
    let mut frames = r.frames();
    let held: Vec<FrameRef<'_>> = (&mut frames)
        .take(15_000)
        .map(|f| f.expect("reads"))
        .collect();
    // Cut behind the reader: most held frames now lie past the file's end,
    // on pages a touch would fault on (SIGBUS without the guard).
    let kept = 1_000;
    cut(&path, HEADER + kept * RECORD);
    let first = held[0].data.to_vec();
    assert_eq!(first[23], 17, "a frame before the cut keeps its bytes");
    let last = held[14_999].data.to_vec();
    assert!(last.iter().all(|&b| b == 0), "past the cut: zeros");
    // The read goes on and ends with a fault naming the cut.
    let err = frames
        .find_map(|f| f.err())
        .expect("the shrunk file ends the read with a fault");
    assert!(
        err.to_string().contains("shrank") || err.to_string().contains("ends after"),
        "{err}"
    );
    drop(held);
    std::fs::remove_file(&path).unwrap();
}

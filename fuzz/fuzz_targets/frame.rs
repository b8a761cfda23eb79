//! The frame parser: both paths never panic, and whatever the fast path
//! accepts the slow path (the reference) reads identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_packet::{fast, slow, ParseStats};

fuzz_target!(|data: &[u8]| {
    let slow_result = slow::parse(data);
    if let Some(f) = fast::parse(data) {
        assert_eq!(slow_result, Ok(f), "fast and slow paths disagree");
    }
    let mut stats = ParseStats::default();
    let r = nsg_packet::parse_counted(data, &mut stats);
    assert_eq!(r, nsg_packet::parse(data));
    assert_eq!(stats.frames, 1);
    assert_eq!(stats.drops(), u64::from(r.is_err()));
    if let Ok(frame) = r {
        if let Some(ip) = frame.ip() {
            assert_eq!(ip.tuple.reversed().reversed(), ip.tuple);
        }
    }
});

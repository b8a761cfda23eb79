//! The capture reader: any file opens or is refused, every frame is read or
//! a fault ends the read, and every frame goes through `to_ethernet` and the
//! parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_capture::capture::{to_ethernet, CaptureReader};

fuzz_target!(|data: &[u8]| {
    let path = nsg_fuzz::scratch_file("input.pcap", data);
    let Ok(mut reader) = CaptureReader::open(&path) else {
        return;
    };
    let mut scratch = Vec::new();
    while let Some(next) = reader.next_frame() {
        let Ok(frame) = next else { break };
        let eth = to_ethernet(frame.link, &frame.data, &mut scratch);
        let _ = nsg_packet::parse(eth);
    }
});

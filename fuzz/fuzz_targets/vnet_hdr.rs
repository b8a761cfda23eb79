//! Virtio-net header completion and segmentation on untrusted input: the
//! first 10 bytes are the header, the rest the frame. Never a panic; a
//! header `check` accepts is completed, one it refuses is refused by
//! `complete` too; no emitted frame is larger than the input frame plus
//! an IPv6 fragment header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsg_dataplane::port::offload::{check, Completer, VnetHdr, VNET_HDR_LEN};

fuzz_target!(|data: &[u8]| {
    let Some(hdr) = VnetHdr::parse(data) else {
        return;
    };
    let frame = &data[VNET_HDR_LEN..];
    let checked = check(&hdr, frame);
    let mut largest = 0;
    let done = Completer::default().complete(&hdr, frame, |f| {
        largest = largest.max(f.len());
        Ok(())
    });
    assert_eq!(checked.is_ok(), done.is_ok(), "{checked:?} {done:?}");
    assert!(largest <= frame.len() + 8);
});

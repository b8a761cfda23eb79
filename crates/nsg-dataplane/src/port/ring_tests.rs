use super::*;

/// Where frames' data starts after their `tpacket3_hdr` (the kernel's
/// `tp_mac` with a virtio-net header: aligned header, then the header).
const MAC_AT: u16 = 80;

/// A block as the kernel lays one out: the descriptor, then each frame
/// (header, virtio-net header at `tp_mac - 10`, data), `tp_next_offset`
/// linking them. Each frame is `(data, tp_len)`.
fn block(frames: &[(&[u8], u32)]) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    let first = 48usize;
    let mut at = first;
    for (k, &(data, len)) in frames.iter().enumerate() {
        let size = (usize::from(MAC_AT) + data.len() + 15) & !15;
        let next = if k + 1 < frames.len() { size as u32 } else { 0 };
        b[at..at + 4].copy_from_slice(&next.to_ne_bytes());
        b[at + SNAPLEN..at + SNAPLEN + 4].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        b[at + LEN..at + LEN + 4].copy_from_slice(&len.to_ne_bytes());
        b[at + MAC..at + MAC + 2].copy_from_slice(&MAC_AT.to_ne_bytes());
        let mac = at + usize::from(MAC_AT);
        b[mac - VNET_HDR_LEN..mac].fill(0xee);
        b[mac..mac + data.len()].copy_from_slice(data);
        at += size;
    }
    b[NUM_PKTS..NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
    b[FIRST_PKT..FIRST_PKT + 4].copy_from_slice(&(first as u32).to_ne_bytes());
    b[BLK_LEN..BLK_LEN + 4].copy_from_slice(&(at as u32).to_ne_bytes());
    b
}

/// Walk a block to its end: each frame's bytes, or how it was refused.
fn walk(b: &[u8]) -> Result<Vec<Result<Vec<u8>, String>>, Malformed> {
    let mut w = BlockWalk::new(b)?;
    let mut out = Vec::new();
    while let Some(s) = w.next(b) {
        out.push(match s {
            Ok(Slot::Frame(r)) => Ok(b[r].to_vec()),
            Ok(Slot::Cut { snaplen, len }) => Err(format!("cut {snaplen}/{len}")),
            Err(e) => Err(e.to_string()),
        });
    }
    Ok(out)
}

/// `data` after the virtio-net header the synthetic block carries.
fn with_hdr(data: &[u8]) -> Vec<u8> {
    let mut v = vec![0xee; VNET_HDR_LEN];
    v.extend_from_slice(data);
    v
}

#[test]
fn a_block_gives_its_frames_in_order_each_after_its_virtio_net_header() {
    let (a, b, c) = (vec![1u8; 60], vec![2u8; 1514], vec![3u8; 64]);
    let blk = block(&[(&a, 60), (&b, 1514), (&c, 64)]);
    let got = walk(&blk).unwrap();
    assert_eq!(
        got,
        vec![Ok(with_hdr(&a)), Ok(with_hdr(&b)), Ok(with_hdr(&c))]
    );
}

#[test]
fn a_frame_the_ring_cut_is_reported_and_the_walk_goes_on() {
    let (a, b) = (vec![1u8; 100], vec![2u8; 64]);
    let blk = block(&[(&a, 70_000), (&b, 64)]);
    let got = walk(&blk).unwrap();
    assert_eq!(got, vec![Err("cut 100/70000".into()), Ok(with_hdr(&b))]);
}

#[test]
fn an_empty_block_has_no_frames() {
    let blk = block(&[]);
    assert_eq!(walk(&blk).unwrap(), Vec::new());
}

#[test]
fn malformed_descriptors_are_refused() {
    let a = vec![1u8; 60];
    let mut blk = block(&[(&a, 60)]);
    blk[BLK_LEN..BLK_LEN + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(walk(&blk).is_err());
    let mut blk = block(&[(&a, 60)]);
    blk[FIRST_PKT..FIRST_PKT + 4].copy_from_slice(&4u32.to_ne_bytes());
    assert!(walk(&blk).is_err());
    let mut blk = block(&[(&a, 60)]);
    blk[FIRST_PKT..FIRST_PKT + 4].copy_from_slice(&5000u32.to_ne_bytes());
    assert!(walk(&blk).is_err());
    assert!(walk(&blk[..10]).is_err());
}

#[test]
fn malformed_frame_offsets_end_the_walk_without_reading_past_the_block() {
    let (a, b) = (vec![1u8; 60], vec![2u8; 60]);
    let first = 48;
    // A next offset past the block: the first frame is taken, the second
    // refused, and the walk ends.
    let mut blk = block(&[(&a, 60), (&b, 60)]);
    blk[first..first + 4].copy_from_slice(&100_000u32.to_ne_bytes());
    let got = walk(&blk).unwrap();
    assert_eq!(got[0], Ok(with_hdr(&a)));
    assert_eq!(got[1], Err("frame header past the block".into()));
    // A next offset of zero would loop on one frame.
    let mut blk = block(&[(&a, 60), (&b, 60)]);
    blk[first..first + 4].copy_from_slice(&0u32.to_ne_bytes());
    assert_eq!(
        walk(&blk).unwrap(),
        vec![Err("next frame overlaps this one".into())]
    );
    // Data running past the block's length.
    let mut blk = block(&[(&a, 60)]);
    blk[first + SNAPLEN..first + SNAPLEN + 4].copy_from_slice(&60_000u32.to_ne_bytes());
    blk[first + LEN..first + LEN + 4].copy_from_slice(&60_000u32.to_ne_bytes());
    assert_eq!(
        walk(&blk).unwrap(),
        vec![Err("frame data past the block".into())]
    );
    // tp_mac inside the frame's own header.
    let mut blk = block(&[(&a, 60)]);
    blk[first + MAC..first + MAC + 2].copy_from_slice(&4u16.to_ne_bytes());
    assert_eq!(
        walk(&blk).unwrap(),
        vec![Err("frame data overlaps its header".into())]
    );
    // More frames claimed than there are: the walk stops at the block's end.
    let mut blk = block(&[(&a, 60)]);
    blk[NUM_PKTS..NUM_PKTS + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    let got = walk(&blk).unwrap();
    assert!(got.len() <= 2, "{} frames from one", got.len());
}

#[test]
fn arbitrary_bytes_never_panic_the_walk() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut b = vec![0u8; 512];
        for byte in &mut b {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *byte = (x % 7) as u8 * 37;
        }
        if let Ok(mut w) = BlockWalk::new(&b) {
            let mut n = 0;
            while let Some(s) = w.next(&b) {
                if let Ok(Slot::Frame(r)) = s {
                    assert!(r.end <= b.len());
                }
                n += 1;
                assert!(n <= 512, "a walk over 512 bytes yielded {n} frames");
            }
        }
    }
}

#[test]
fn a_frame_longer_than_a_slot_is_refused_when_copied() {
    let mut slot = vec![0u8; 100];
    assert_eq!(copy_into(&mut slot, &[7u8; 100]).unwrap(), Some(100));
    let e = copy_into(&mut slot, &[7u8; 101]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

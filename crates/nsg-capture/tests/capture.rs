//! The capture reader and writer on captures written byte by byte: what
//! libpcap tolerates is read and counted, corrupt input is reported with
//! its offset, and outputs keep the input's format and interfaces.

use nsg_capture::capture::{
    CaptureError, CaptureQuirks, CaptureReader, CaptureWriter, CapturedFrame, Link,
};
use std::path::Path;

fn pcap_header(magic: u32, snaplen: u32, word: u32) -> Vec<u8> {
    let mut v = magic.to_le_bytes().to_vec();
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&snaplen.to_le_bytes());
    v.extend_from_slice(&word.to_le_bytes());
    v
}

fn pcap_record(v: &mut Vec<u8>, sec: u32, frac: u32, data: &[u8], orig: u32) {
    for x in [sec, frac, data.len() as u32, orig] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(data);
}

const USEC: u32 = 0xa1b2_c3d4;
const NSEC: u32 = 0xa1b2_3c4d;

fn read_all(bytes: &[u8]) -> (Vec<CapturedFrame>, Option<CaptureError>, CaptureQuirks) {
    let mut r = CaptureReader::new(bytes, Path::new("t.pcap")).expect("opens");
    let (mut frames, mut err) = (Vec::new(), None);
    while let Some(f) = r.next_frame() {
        match f {
            Ok(f) => frames.push(f),
            Err(e) => err = Some(e),
        }
    }
    (frames, err, r.quirks())
}

fn frame(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

#[test]
fn link_type_is_the_low_16_bits_and_fcs_is_kept_without_the_present_bit() {
    // 805306369 = 0x30000001: an FCS length of 3 but no FCS-present bit.
    let mut b = pcap_header(USEC, 65_535, 805_306_369);
    pcap_record(&mut b, 10, 0, &frame(64), 64);
    let (frames, err, q) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].link, Link::Ethernet);
    assert_eq!(frames[0].data, frame(64));
    assert_eq!(q.link_type_high_bits, 1);
    assert_eq!(q.fcs_stripped, 0);
}

#[test]
fn fcs_is_removed_when_the_present_bit_declares_it() {
    // FCS length 2 (16-bit words: 4 bytes), present bit, Ethernet.
    let mut b = pcap_header(USEC, 65_535, 0x2400_0001);
    pcap_record(&mut b, 10, 0, &frame(68), 68);
    // A frame cut short by the snap length has no FCS to remove.
    pcap_record(&mut b, 11, 0, &frame(40), 68);
    let (frames, err, q) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames[0].data, frame(64));
    assert_eq!(frames[0].orig_len, 68);
    assert_eq!(frames[1].data, frame(40));
    assert_eq!((q.fcs_stripped, q.link_type_high_bits), (1, 1));
}

#[test]
fn records_over_the_snap_length_and_snap_length_zero_are_read_as_written() {
    let mut b = pcap_header(USEC, 64, 1);
    pcap_record(&mut b, 1, 0, &frame(100), 100);
    pcap_record(&mut b, 2, 0, &frame(60), 60);
    let (frames, err, q) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames[0].data, frame(100));
    assert_eq!(frames.len(), 2);
    assert_eq!((q.caplen_over_snaplen, q.snaplen_zero), (1, 0));

    let mut b = pcap_header(USEC, 0, 1);
    pcap_record(&mut b, 1, 0, &frame(1500), 1500);
    let (frames, err, q) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames[0].data.len(), 1500);
    assert_eq!((q.caplen_over_snaplen, q.snaplen_zero), (0, 1));
}

#[test]
fn a_sub_second_part_of_a_second_or_more_is_carried_into_seconds() {
    let mut b = pcap_header(USEC, 65_535, 1);
    pcap_record(&mut b, 100, 1_500_000, &frame(20), 20);
    pcap_record(&mut b, 100, 999_999, &frame(20), 20);
    let (frames, _, q) = read_all(&b);
    assert_eq!(frames[0].ts_ns, 101_500_000_000);
    assert_eq!(frames[1].ts_ns, 100_999_999_000);
    assert_eq!(q.usec_overflow, 1);

    let mut b = pcap_header(NSEC, 65_535, 1);
    pcap_record(&mut b, 100, 2_000_000_001, &frame(20), 20);
    let (frames, _, q) = read_all(&b);
    assert_eq!(frames[0].ts_ns, 102_000_000_001);
    assert_eq!(q.usec_overflow, 1);
}

#[test]
fn big_endian_pcap_reads_the_same() {
    let mut b = USEC.to_be_bytes().to_vec();
    b.extend_from_slice(&2u16.to_be_bytes());
    b.extend_from_slice(&4u16.to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65_535u32.to_be_bytes());
    b.extend_from_slice(&113u32.to_be_bytes());
    for x in [7u32, 5, 20, 20] {
        b.extend_from_slice(&x.to_be_bytes());
    }
    b.extend_from_slice(&frame(20));
    let (frames, err, q) = read_all(&b);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames[0].link, Link::LinuxSll);
    assert_eq!(frames[0].ts_ns, 7_000_005_000);
    assert_eq!(q, CaptureQuirks::default());
}

#[test]
fn an_oversized_record_is_corrupt_with_its_offset_not_an_allocation() {
    let mut b = pcap_header(USEC, 65_535, 1);
    pcap_record(&mut b, 1, 0, &frame(60), 60);
    for x in [2u32, 0, 262_145, 262_145] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    let (frames, err, _) = read_all(&b);
    assert_eq!(frames.len(), 1);
    match err {
        Some(CaptureError::Corrupt { offset, frames, .. }) => {
            assert_eq!((offset, frames), (24 + 16 + 60, 1));
        }
        e => panic!("{e:?}"),
    }
    // The largest record libpcap reads is read.
    let mut b = pcap_header(USEC, 0, 1);
    pcap_record(&mut b, 1, 0, &frame(262_144), 262_144);
    let (frames, err, _) = read_all(&b);
    assert!(err.is_none() && frames[0].data.len() == 262_144);
}

#[test]
fn truncated_input_is_reported_at_every_cut_and_never_panics() {
    let mut b = pcap_header(USEC, 65_535, 1);
    pcap_record(&mut b, 1, 0, &frame(60), 60);
    pcap_record(&mut b, 2, 0, &frame(60), 60);
    for cut in 0..b.len() {
        let Ok(mut r) = CaptureReader::new(&b[..cut], Path::new("cut.pcap")) else {
            assert!(cut < 24);
            continue;
        };
        let mut n = 0;
        let mut last = None;
        while let Some(f) = r.next_frame() {
            match f {
                Ok(_) => n += 1,
                Err(e) => last = Some(e),
            }
        }
        let whole = [24, 100, 176].contains(&cut);
        assert_eq!(last.is_none(), whole, "cut at {cut}");
        if let Some(e) = last {
            assert!(e.to_string().contains("cut.pcap"), "{e}");
            assert!(e.to_string().contains("offset"), "{e}");
        }
        assert_eq!(n, (cut >= 100) as usize + (cut >= 176) as usize);
    }
}

/// pcapng blocks, in the given byte order.
struct Ng {
    big: bool,
    b: Vec<u8>,
}

impl Ng {
    fn u32(&self, x: u32) -> [u8; 4] {
        if self.big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    }
    fn u16(&self, x: u16) -> [u8; 2] {
        if self.big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    }
    fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        let (k, l) = (self.u32(kind), self.u32(len));
        self.b.extend_from_slice(&k);
        self.b.extend_from_slice(&l);
        self.b.extend_from_slice(&body);
        self.b.extend_from_slice(&l);
    }
    fn shb(&mut self) {
        let mut body = self.u32(0x1a2b_3c4d).to_vec();
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &body);
    }
    fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>) {
        let mut body = self.u16(linktype).to_vec();
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(snaplen));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16(9));
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0; 4]);
        }
        self.block(1, &body);
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) {
        let mut body = self.u32(iface).to_vec();
        body.extend_from_slice(&self.u32((ts >> 32) as u32));
        body.extend_from_slice(&self.u32(ts as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body);
    }
}

#[test]
fn pcapng_in_both_byte_orders_with_sections_resolutions_and_unknown_blocks() {
    for big in [false, true] {
        let mut ng = Ng { big, b: Vec::new() };
        ng.shb();
        ng.idb(1, 0, Some(9)); // nanoseconds, no snap length
        ng.block(0x0bad, &[1, 2, 3, 4, 5]); // unknown: skipped
        ng.epb(0, 1_000_000_000_123, &frame(60));
        ng.shb(); // a second section: its interfaces are numbered on
        ng.idb(113, 65_535, None); // microseconds
        ng.epb(0, 2_000_000, &frame(40));
        let (frames, err, q) = read_all(&ng.b);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].ts_ns, frames[0].link, frames[0].interface),
            (1_000_000_000_123, Link::Ethernet, 0)
        );
        assert_eq!(
            (frames[1].ts_ns, frames[1].link, frames[1].interface),
            (2_000_000_000, Link::LinuxSll, 1)
        );
        assert_eq!((q.snaplen_zero, q.extra_sections), (1, 1));
    }
}

#[test]
fn pcapng_faults_name_the_offset() {
    let mut ng = Ng {
        big: false,
        b: Vec::new(),
    };
    ng.shb();
    ng.idb(1, 0, None);
    let at = ng.b.len() as u64;
    ng.epb(3, 0, &frame(60)); // no interface 3
    let (frames, err, _) = read_all(&ng.b);
    assert!(frames.is_empty());
    match err {
        Some(CaptureError::Corrupt { offset, .. }) => assert_eq!(offset, at),
        e => panic!("{e:?}"),
    }
    // A block length over the bound is corrupt, not an allocation.
    let mut ng = Ng {
        big: false,
        b: Vec::new(),
    };
    ng.shb();
    ng.b.extend_from_slice(&6u32.to_le_bytes());
    ng.b.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let (_, err, _) = read_all(&ng.b);
    assert!(matches!(err, Some(CaptureError::Corrupt { .. })), "{err:?}");
}

#[test]
fn a_pcapng_output_keeps_every_interface_and_frame_as_captured() {
    let mut ng = Ng {
        big: true,
        b: Vec::new(),
    };
    ng.shb();
    ng.idb(1, 1500, None);
    ng.idb(113, 262_144, None);
    ng.idb(101, 9000, None); // no frame: still declared
    ng.epb(1, 5_000_001, &frame(50));
    ng.epb(0, 5_000_002, &frame(70));
    let dir = std::env::temp_dir().join(format!("nsg-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.pcap"); // the name does not choose the format
    let mut r = CaptureReader::new(&ng.b[..], Path::new("in.pcapng")).unwrap();
    let mut w = CaptureWriter::create(&out, r.output_format()).unwrap();
    let mut input = Vec::new();
    while let Some(f) = r.next_frame() {
        let f = f.unwrap();
        w.write(&f).unwrap();
        input.push(f);
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    let mut back = CaptureReader::open(&out).unwrap();
    let mut read = Vec::new();
    while let Some(f) = back.next_frame() {
        read.push(f.unwrap());
    }
    assert_eq!(read, input);
    // The interfaces, in order, with link type and snap length.
    let mut ifaces = Vec::new();
    let mut o = 0;
    while o < bytes.len() {
        let kind = u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[o + 4..o + 8].try_into().unwrap()) as usize;
        if kind == 1 {
            let lt = u16::from_le_bytes(bytes[o + 8..o + 10].try_into().unwrap());
            let snap = u32::from_le_bytes(bytes[o + 12..o + 16].try_into().unwrap());
            ifaces.push((lt, snap));
        }
        o += len;
    }
    assert_eq!(ifaces, [(1, 1500), (113, 262_144), (101, 9000)]);
}

#[test]
fn a_pcap_output_keeps_the_input_link_type() {
    let mut b = pcap_header(USEC, 65_535, 0x3000_0000 | 229);
    pcap_record(&mut b, 9, 7, &frame(40), 80);
    let dir = std::env::temp_dir().join(format!("nsg-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.pcapng");
    let mut r = CaptureReader::new(&b[..], Path::new("in.pcap")).unwrap();
    let mut w = CaptureWriter::create(&out, r.output_format()).unwrap();
    let f = r.next_frame().unwrap().unwrap();
    w.write(&f).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 229);
    let mut back = CaptureReader::open(&out).unwrap();
    let g = back.next_frame().unwrap().unwrap();
    assert_eq!(g, f);
    assert_eq!((g.orig_len, g.ts_ns), (80, 9_000_007_000));
}

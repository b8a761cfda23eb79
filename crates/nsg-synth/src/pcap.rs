//! Writing frames to a pcap file with the capture crate's writer (the one
//! writer nsg has).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use nsg_capture::capture::{CaptureError, CaptureWriter, FrameRef, Link, OutputFormat};

/// Write `frames` (`(ns since the Unix epoch, bytes)`) to a new pcap file
/// at `path`, of link type `linktype` (a LINKTYPE_ value:
/// [`LINKTYPE_ETHERNET`](nsg_capture::capture::LINKTYPE_ETHERNET) for the
/// synthesiser's frames), with nanosecond timestamps. tcpdump, tshark and
/// Wireshark read it.
pub fn write_pcap<'a>(
    path: &Path,
    linktype: u16,
    frames: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut file = write_pcap_to(file, linktype, frames)?;
    file.flush()
}

/// [`write_pcap`] to any writer; gives the writer back. A frame the
/// format cannot hold (over the largest record, or a time past 2106) is an
/// `InvalidInput` error.
pub fn write_pcap_to<'a, W: Write>(
    writer: W,
    linktype: u16,
    frames: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> io::Result<W> {
    let format = OutputFormat::Pcap { linktype };
    let mut w = CaptureWriter::new(writer, Path::new("pcap"), format);
    // A pcap of a given link type does not look at the frames' link: any
    // value does for the link types nsg does not read.
    let link = Link::of(linktype).unwrap_or(Link::Ethernet);
    for (ts_ns, data) in frames {
        let frame = FrameRef {
            ts_ns,
            link,
            data,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            interface: 0,
        };
        w.write_ref(frame).map_err(io_error)?;
    }
    w.finish_into().map_err(io_error)
}

/// The I/O error behind a capture writer's fault.
fn io_error(e: CaptureError) -> io::Error {
    match e {
        CaptureError::Write { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_capture::capture::{CaptureReader, Link, LINKTYPE_ETHERNET};
    use pcap_file::pcap::{PcapReader, PcapTsResolution};
    use pcap_file::DataLink;
    use std::time::Duration;

    fn frames() -> Vec<(u64, Vec<u8>)> {
        vec![
            (1_714_564_800_123_456_789, vec![1, 2, 3]),
            (1_714_564_801_000_000_001, vec![0xff; 1514]),
        ]
    }

    #[test]
    fn frames_and_nanoseconds_survive_a_round_trip() {
        let frames = frames();
        let bytes = write_pcap_to(
            Vec::new(),
            LINKTYPE_ETHERNET,
            frames.iter().map(|(t, f)| (*t, f.as_slice())),
        )
        .unwrap();
        let mut r = CaptureReader::new(&bytes[..], Path::new("mem")).unwrap();
        for (ts, data) in &frames {
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.ts_ns, &f.data, f.link), (*ts, data, Link::Ethernet));
            assert_eq!(f.orig_len as usize, data.len());
        }
        assert!(r.next_frame().is_none());
    }

    #[test]
    fn another_reader_reads_what_is_written() {
        let frames = frames();
        let bytes = write_pcap_to(
            Vec::new(),
            LINKTYPE_ETHERNET,
            frames.iter().map(|(t, f)| (*t, f.as_slice())),
        )
        .unwrap();
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().datalink, DataLink::ETHERNET);
        assert_eq!(r.header().ts_resolution, PcapTsResolution::NanoSecond);
        for (ts, data) in &frames {
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(p.timestamp(), Duration::from_nanos(*ts));
            assert_eq!(p.data(), &data[..]);
        }
        assert!(r.next_packet().is_none());
    }

    #[test]
    fn a_time_past_2106_is_refused() {
        let frames = [(u64::from(u32::MAX) * 1_000_000_000 * 2, &[0u8; 4][..])];
        let e = write_pcap_to(Vec::new(), LINKTYPE_ETHERNET, frames).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

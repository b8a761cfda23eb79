//! Writing frames to a pcap file with pcap-file's writer.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapTsResolution, PcapWriteError, PcapWriter};
use pcap_file::{DataLink, Endianness};

/// Largest frame the files declare they may hold (tcpdump's default).
const SNAPLEN: u32 = 262_144;

/// Write `frames` (`(ns since the Unix epoch, bytes)`) to a new pcap file
/// at `path`, of link type `link` (`DataLink::ETHERNET` for the
/// synthesiser's frames), with nanosecond timestamps. tcpdump, tshark and
/// Wireshark read it.
pub fn write_pcap<'a>(
    path: &Path,
    link: DataLink,
    frames: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut file = write_pcap_to(file, link, frames)?;
    file.flush()
}

/// [`write_pcap`] to any writer; gives the writer back.
pub fn write_pcap_to<'a, W: Write>(
    writer: W,
    link: DataLink,
    frames: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> io::Result<W> {
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: link,
        ts_resolution: PcapTsResolution::NanoSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(writer, header).map_err(to_io)?;
    for (ts, data) in frames {
        let len = u32::try_from(data.len()).map_err(|_| too_big(data.len()))?;
        let packet = PcapPacket::new(Duration::from_nanos(ts), len, data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        w.write_packet(&packet).map_err(to_io)?;
    }
    Ok(w.into_inner())
}

fn too_big(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("a frame of {len} bytes does not fit a pcap record"),
    )
}

fn to_io(e: PcapWriteError) -> io::Error {
    match e {
        PcapWriteError::Io(e) | PcapWriteError::FieldWriteFailed(_, e) => e,
        other => io::Error::new(io::ErrorKind::InvalidInput, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn frames_and_nanoseconds_survive_a_round_trip() {
        let frames: Vec<(u64, Vec<u8>)> = vec![
            (1_714_564_800_123_456_789, vec![1, 2, 3]),
            (1_714_564_801_000_000_001, vec![0xff; 1514]),
        ];
        let bytes = write_pcap_to(
            Vec::new(),
            DataLink::ETHERNET,
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
            assert_eq!(p.orig_len() as usize, data.len());
        }
        assert!(r.next_packet().is_none());
    }

    #[test]
    fn a_time_past_2106_is_refused() {
        let frames = [(u64::from(u32::MAX) * 1_000_000_000 * 2, &[0u8; 4][..])];
        let e = write_pcap_to(Vec::new(), DataLink::ETHERNET, frames).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

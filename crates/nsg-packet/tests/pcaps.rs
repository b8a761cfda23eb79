//! Every Ethernet-framed capture under `shared/data/pcaps` parses without a
//! panic, and the fast path agrees with the slow path on every frame of them.
//! Skips with a message when the data folder is absent.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

fn data_dir() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/nsg-packet -> the workspace -> its parent holds shared/.
    let candidates = [
        here.join("../../../shared/data/pcaps"),
        PathBuf::from("/work/shared/data/pcaps"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("INDEX.tsv").is_file())
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    unreadable: usize,
    frames: usize,
    ip: usize,
    dropped: usize,
    fast: usize,
}

fn check_frame(data: &[u8], t: &mut Tally) {
    t.frames += 1;
    let fast = nsg_packet::fast::parse(data);
    let slow = nsg_packet::slow::parse(data);
    if let Some(f) = fast {
        t.fast += 1;
        assert_eq!(slow, Ok(f), "fast and slow paths disagree on {data:02x?}");
    }
    match nsg_packet::parse(data) {
        Ok(nsg_packet::Frame::Ip(_)) => t.ip += 1,
        Ok(_) => {}
        Err(e) => {
            assert!(!e.to_string().is_empty());
            t.dropped += 1;
        }
    }
}

fn read_pcap(path: &Path, t: &mut Tally) -> Result<(), String> {
    let mut reader = PcapReader::new(BufReader::new(File::open(path).map_err(|e| e.to_string())?))
        .map_err(|e| e.to_string())?;
    if reader.header().datalink != DataLink::ETHERNET {
        return Ok(());
    }
    while let Some(p) = reader.next_packet() {
        let p = p.map_err(|e| e.to_string())?;
        check_frame(p.data(), t);
    }
    Ok(())
}

fn read_pcapng(path: &Path, t: &mut Tally) -> Result<(), String> {
    let mut reader =
        PcapNgReader::new(BufReader::new(File::open(path).map_err(|e| e.to_string())?))
            .map_err(|e| e.to_string())?;
    let mut ethernet: Vec<bool> = Vec::new();
    while let Some(block) = reader.next_block() {
        let (block, _) = block.map_err(|e| e.to_string())?;
        match block {
            Block::SectionHeader(_) => ethernet.clear(),
            Block::InterfaceDescription(i) => ethernet.push(i.linktype == DataLink::ETHERNET),
            Block::EnhancedPacket(p)
                if ethernet
                    .get(p.interface_id as usize)
                    .copied()
                    .unwrap_or(false) =>
            {
                check_frame(&p.data, t);
            }
            Block::SimplePacket(p) if ethernet.first().copied().unwrap_or(false) => {
                check_frame(&p.data, t);
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn every_ethernet_capture_parses_without_panic() {
    let Some(dir) = data_dir() else {
        eprintln!("skipping: shared/data/pcaps is absent");
        return;
    };
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let mut t = Tally::default();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 6 || cols[5] != "ether" {
            continue;
        }
        let path = dir.join(cols[0]);
        let mut magic = [0u8; 4];
        let Ok(mut f) = File::open(&path) else {
            continue;
        };
        if f.read_exact(&mut magic).is_err() {
            continue;
        }
        t.files += 1;
        let r = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            read_pcapng(&path, &mut t)
        } else {
            read_pcap(&path, &mut t)
        };
        if r.is_err() {
            // A capture cut short or damaged: the frames before the damage
            // were still parsed.
            t.unreadable += 1;
        }
    }
    eprintln!("pcaps: {t:?}");
    assert!(
        t.files > 100,
        "expected the Ethernet captures of INDEX.tsv, found {}",
        t.files
    );
    assert!(t.ip > 1000);
    assert!(t.fast > 0);
}

//! Every frame of the captures of other link types under
//! ../shared/data/pcaps (Linux cooked, raw IP, loopback) parses in place
//! exactly as behind a rebuilt Ethernet header: the same frame or fault,
//! the same counters, the same worker. Skips with a message when the data
//! folder is absent.

use nsg_capture::capture::{to_ethernet, CaptureReader, Link};
use nsg_dataplane::workers::{shard_hash, shard_hash_link};
use nsg_packet::{parse_counted, parse_link, ParseStats};
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../../../shared/data/pcaps"),
        PathBuf::from("/work/shared/data/pcaps"),
    ]
    .into_iter()
    .find(|p| p.join("INDEX.tsv").is_file())
}

#[test]
fn other_link_captures_parse_in_place_as_behind_ethernet() {
    let Some(dir) = data_dir() else {
        eprintln!("skipping: shared/data/pcaps is absent");
        return;
    };
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("INDEX.tsv");
    let (mut frames, mut files) = (0u64, 0);
    let mut links = std::collections::BTreeSet::new();
    let mut scratch = Vec::new();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 6
            || !matches!(
                cols[5],
                "linux-sll" | "null" | "rawip" | "rawip4" | "rawip6"
            )
        {
            continue;
        }
        let Ok(mut r) = CaptureReader::open(&dir.join(cols[0])) else {
            continue;
        };
        files += 1;
        let (mut s_link, mut s_eth) = (ParseStats::default(), ParseStats::default());
        while let Some(Ok(f)) = r.next_ref() {
            let eth = to_ethernet(f.link, f.data, &mut scratch);
            assert_eq!(
                parse_link(f.link, f.data, &mut s_link),
                parse_counted(eth, &mut s_eth),
                "{} frame {frames}",
                cols[0]
            );
            assert_eq!(
                shard_hash_link(f.link, f.data),
                shard_hash(eth),
                "{}",
                cols[0]
            );
            if f.link != Link::Ethernet {
                links.insert(format!("{:?}", f.link));
            }
            frames += 1;
        }
        assert_eq!(s_link, s_eth, "{}", cols[0]);
    }
    eprintln!("{files} captures, {frames} frames, links {links:?}");
    assert!(files >= 50, "{files}");
    assert!(links.len() >= 3, "{links:?}");
}

//! Instructions per established-flow lookup, for callgrind: fills a table
//! with 1M TCP flows, then looks up `N` (first argument, default 1M)
//! packets of live flows in random order, either direction, inside
//! `lookup_hits`, which is the only function to count:
//!
//! ```text
//! cargo build --release -p nsg-flow --example lookup_cost
//! valgrind --tool=callgrind --toggle-collect='*lookup_hits*' \\
//!     --toggle-collect='*prepared_hits*' \
//!     target/release/examples/lookup_cost 1000000
//! ```
//!
//! The instructions callgrind reports, divided by `N`, are the cost of one
//! lookup hit (the loop around it is a few instructions). A second argument
//! `prepared` looks the packets up in batches of 32 through the prepared
//! API instead (hash, prefetch buckets, prefetch entries, look up).

use std::hint::black_box;

use nsg_flow::{Decision, FlowStats, FlowTable, Lookup, NicId, RuleId, Timestamp, Verdict};
use nsg_packet::{Addr, Family, FiveTuple, PacketMeta, TcpFlags, Transport, Vlans};

const FLOWS: u32 = 1_000_000;
const NIC: NicId = NicId(3);

/// Packet of flow `i`: 10.x.y.z:port to 10.200.0.1:443, or back.
fn packet(i: u32, reply: bool, flags: u8) -> PacketMeta {
    let c = Addr::from_v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    let s = Addr::from_v4([10, 200, 0, 1]);
    let cp = 1024 + (i % 50_000) as u16;
    let t = FiveTuple {
        src: c,
        dst: s,
        src_port: cp,
        dst_port: 443,
        proto: 6,
        family: Family::V4,
    };
    PacketMeta {
        tuple: if reply { t.reversed() } else { t },
        transport: Transport::Tcp {
            flags: TcpFlags(flags),
        },
        fragment: None,
        vlans: Vlans::default(),
        frame_len: 64,
    }
}

#[inline(never)]
fn lookup_hits(t: &mut FlowTable, packets: &[PacketMeta], s: &mut FlowStats) -> u64 {
    let now = Timestamp(1_000_000_000);
    let mut allowed = 0;
    for m in packets {
        if let Lookup::Hit(h) = t.lookup(NIC, black_box(m), now, 1, s) {
            allowed += u64::from(h.verdict == Verdict::Allow);
        }
    }
    allowed
}

/// Packets looked up in batches of [`BATCH`]: all prepared and their
/// buckets prefetched, then their entries prefetched, then looked up.
const BATCH: usize = 32;

#[inline(never)]
fn prepared_hits(t: &mut FlowTable, packets: &[PacketMeta], s: &mut FlowStats) -> u64 {
    let now = Timestamp(1_000_000_000);
    let mut allowed = 0;
    for batch in packets.chunks(BATCH) {
        let mut prepared = [t.prepare(NIC, &batch[0]); BATCH];
        for (p, m) in prepared.iter_mut().zip(batch) {
            *p = t.prepare(NIC, black_box(m));
            t.prefetch(p);
        }
        for p in &prepared[..batch.len()] {
            t.prefetch_entry(p);
        }
        for (p, m) in prepared.iter().zip(batch) {
            if let Lookup::Hit(h) = t.lookup_prepared(p, m, now, 1, s) {
                allowed += u64::from(h.verdict == Verdict::Allow);
            }
        }
    }
    allowed
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let prepared = args.next().as_deref() == Some("prepared");
    let mut t = FlowTable::with_capacity(FLOWS as usize).expect("a 1M-flow table");
    let mut s = FlowStats::default();
    let allow = Decision {
        verdict: Verdict::Allow,
        rule: RuleId(1),
        generation: 1,
        flush_on_change: false,
    };
    for i in 0..FLOWS {
        t.insert(
            NIC,
            &packet(i, false, TcpFlags::ACK),
            allow,
            Timestamp(0),
            &mut s,
        );
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let packets: Vec<PacketMeta> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            packet((x % u64::from(FLOWS)) as u32, x >> 63 == 1, TcpFlags::ACK)
        })
        .collect();
    let allowed = if prepared {
        prepared_hits(&mut t, &packets, &mut s)
    } else {
        lookup_hits(&mut t, &packets, &mut s)
    };
    println!(
        "{} flows, {} lookups, {allowed} allowed, {} hits, {} bytes/flow",
        t.len(),
        n,
        s.hits,
        t.memory_bytes() / t.len()
    );
}

//! Flow table costs at 1M live flows, one core:
//! - `flow/hit_1m/parse_lookup`: a 64-byte established TCP frame through
//!   `nsg_packet::parse` and `FlowTable::lookup`, frames spread uniformly
//!   over the 1M flows, both directions;
//! - `flow/hit_1m/parse_lookup_burst`: the same, 256 frames parsed then
//!   looked up with `FlowTable::lookup_burst` (the prepared API in chunks
//!   of 32: hash all, prefetch buckets, prefetch entries, look up);
//! - `flow/hit_1m_hot16k/parse_lookup`: as the first, frames over 16K of the
//!   1M flows (a cache-resident working set: CPU cost without DRAM latency);
//! - `flow/hit_1m/lookup`: the lookup alone, on pre-parsed packets;
//! - `flow/insert_1m`: inserting new flows into a table holding ~1M;
//! - bytes per flow, printed once (allocation at capacity, and resident
//!   memory growth while building the 1M-flow table).
//!
//! `NSG_BENCH_HOT=N` overrides the size of the hot set (default 16384; the bench keeps
//! its name).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use etherparse::PacketBuilder;
use nsg_flow::{
    Decision, FlowStats, FlowTable, FlowTableConfig, Lookup, NicId, RuleId, Timestamp, Verdict,
};
use nsg_packet::{Frame, PacketMeta};

const FLOWS: u32 = 1_000_000;
const BURST: usize = 256;
const NIC: NicId = NicId(3);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Client i: 10.(i>>16).(i>>8).(i) port 1024 + i%50000, to 10.200.0.1:443.
fn endpoints(i: u32) -> ([u8; 4], u16, [u8; 4], u16) {
    let c = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    (c, 1024 + (i % 50_000) as u16, [10, 200, 0, 1], 443)
}

/// A 64-byte TCP ACK frame of flow `i`, client to server or back.
fn frame(i: u32, reply: bool) -> Vec<u8> {
    let (c, cp, s, sp) = endpoints(i);
    let b = if reply {
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
            .ipv4(s, c, 64)
            .tcp(sp, cp, 1, 65535)
            .ack(1)
    } else {
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(c, s, 64)
            .tcp(cp, sp, 1, 65535)
            .ack(1)
    };
    let mut v = Vec::with_capacity(64);
    b.write(&mut v, &[0u8; 10]).unwrap();
    assert_eq!(v.len(), 64);
    v
}

fn meta_of(f: &[u8]) -> PacketMeta {
    match nsg_packet::parse(f) {
        Ok(Frame::Ip(m)) => m,
        other => panic!("{other:?}"),
    }
}

const ALLOW: Decision = Decision {
    verdict: Verdict::Allow,
    rule: RuleId(1),
    generation: 1,
    flush_on_change: false,
};

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn filled(capacity: usize, flows: u32) -> FlowTable {
    let mut t = FlowTable::new(FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    })
    .unwrap();
    let mut s = FlowStats::default();
    for i in 0..flows {
        let m = meta_of(&frame(i, false));
        t.insert(NIC, &m, ALLOW, Timestamp(0), &mut s);
    }
    assert_eq!(t.len(), flows as usize);
    t
}

/// The table of [`FLOWS`] flows the hit benchmarks look up, its build time
/// and memory printed.
fn built_table() -> FlowTable {
    let rss0 = resident_bytes();
    let t0 = Instant::now();
    let table = filled(FLOWS as usize, FLOWS);
    let rss1 = resident_bytes();
    println!(
        "flow table: {} flows built in {:.2?}; allocated {} bytes = {:.1} bytes/flow ({}); resident growth {:.1} bytes/flow",
        table.len(),
        t0.elapsed(),
        table.memory_bytes(),
        table.memory_bytes() as f64 / table.len() as f64,
        table.backing(),
        rss1.saturating_sub(rss0) as f64 / table.len() as f64,
    );
    table
}

/// The frames the hit benchmarks look up, all of live flows.
struct HitInputs {
    /// 64K frames spread over all the flows, either direction.
    frames: Vec<Vec<u8>>,
    /// The same, parsed.
    metas: Vec<PacketMeta>,
    /// 64K frames over a small working set of flows.
    hot: Vec<Vec<u8>>,
}

impl HitInputs {
    fn new() -> HitInputs {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let frames: Vec<Vec<u8>> = (0..65_536)
            .map(|_| {
                let r = rng.next();
                frame((r % u64::from(FLOWS)) as u32, r >> 63 == 1)
            })
            .collect();
        let metas: Vec<PacketMeta> = frames.iter().map(|f| meta_of(f)).collect();
        // The same, over 16K of the 1M flows: a working set that stays in cache,
        // which shows the CPU cost apart from memory latency.
        let hot_flows: u64 = std::env::var("NSG_BENCH_HOT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(16_384);
        let hot: Vec<Vec<u8>> = (0..65_536)
            .map(|_| {
                let r = rng.next();
                frame((r % hot_flows) as u32 * 61, r >> 63 == 1)
            })
            .collect();
        HitInputs { frames, metas, hot }
    }
}

fn bench(c: &mut Criterion) {
    let mut table = built_table();
    let inputs = HitInputs::new();
    let now = Timestamp(1_000_000_000);
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(BURST as u64));
    bench_hits(&mut g, &mut table, &inputs, now);
    drop(table);
    bench_inserts(&mut g, now);
    g.finish();
}

/// Lookups of live flows: parsed one by one, parsed in bursts, already
/// parsed; over all the flows and over a hot subset.
fn bench_hits(
    g: &mut BenchmarkGroup<'_, WallTime>,
    table: &mut FlowTable,
    inputs: &HitInputs,
    now: Timestamp,
) {
    let HitInputs { frames, metas, hot } = inputs;
    let mut stats = FlowStats::default();
    let mut at = 0usize;
    g.bench_function("hit_1m/parse_lookup", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for f in &frames[at..at + BURST] {
                if let Ok(Frame::Ip(m)) = nsg_packet::parse(black_box(f)) {
                    if let Lookup::Hit(h) = table.lookup(NIC, &m, now, 1, &mut stats) {
                        allowed += u32::from(h.verdict == Verdict::Allow);
                    }
                }
            }
            at = (at + BURST) % frames.len();
            allowed
        })
    });
    g.bench_function("hit_1m_hot16k/parse_lookup", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for f in &hot[at..at + BURST] {
                if let Ok(Frame::Ip(m)) = nsg_packet::parse(black_box(f)) {
                    if let Lookup::Hit(h) = table.lookup(NIC, &m, now, 1, &mut stats) {
                        allowed += u32::from(h.verdict == Verdict::Allow);
                    }
                }
            }
            at = (at + BURST) % hot.len();
            allowed
        })
    });
    let mut burst: Vec<PacketMeta> = Vec::with_capacity(BURST);
    let mut results: Vec<Lookup> = Vec::with_capacity(BURST);
    g.bench_function("hit_1m/parse_lookup_burst", |b| {
        b.iter(|| {
            burst.clear();
            for f in &frames[at..at + BURST] {
                if let Ok(Frame::Ip(m)) = nsg_packet::parse(black_box(f)) {
                    burst.push(m);
                }
            }
            table.lookup_burst(NIC, &burst, now, 1, &mut stats, &mut results);
            at = (at + BURST) % frames.len();
            results
                .iter()
                .filter(|r| matches!(r, Lookup::Hit(h) if h.verdict == Verdict::Allow))
                .count()
        })
    });
    g.bench_function("hit_1m/lookup", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for m in &metas[at..at + BURST] {
                if let Lookup::Hit(h) = table.lookup(NIC, black_box(m), now, 1, &mut stats) {
                    allowed += u32::from(h.verdict == Verdict::Allow);
                }
            }
            at = (at + BURST) % metas.len();
            allowed
        })
    });
    assert_eq!(stats.misses, 0);
}

/// Inserts into a table holding ~1M flows.
fn bench_inserts(g: &mut BenchmarkGroup<'_, WallTime>, now: Timestamp) {
    // Inserts into a table holding ~1M flows: each timed burst inserts fresh
    // flows, then (untimed) removes them again.
    let base = FLOWS - 65_536;
    let mut table = filled(FLOWS as usize, base);
    let fresh: Vec<PacketMeta> = (base..FLOWS).map(|i| meta_of(&frame(i, false))).collect();
    let mut next = 0usize;
    g.bench_function("insert_1m", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut s = FlowStats::default();
            let mut left = iters as usize * BURST;
            while left > 0 {
                let n = left.min(4096).min(fresh.len() - next);
                let batch = &fresh[next..next + n];
                let start = Instant::now();
                for m in batch {
                    black_box(table.insert(NIC, m, ALLOW, now, &mut s));
                }
                total += start.elapsed();
                for m in batch {
                    table.remove(NIC, &m.tuple, &mut s);
                }
                next = (next + n) % fresh.len();
                left -= n;
            }
            assert_eq!(s.refusals, 0);
            total
        })
    });
}

/// The benchmark group, in a private module: the function the macro
/// defines is public and would otherwise be part of the bench's public items.
mod group {
    use super::*;
    criterion_group!(benches, bench);
}
criterion_main!(group::benches);

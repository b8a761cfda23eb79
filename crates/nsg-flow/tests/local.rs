//! The local (single-owner) flow table's storage against a `HashMap`
//! model, its memory per flow at full load, and its allocation fallbacks.

use std::collections::HashMap;

use nsg_flow::local::{Backing, ColdEntry, EntryIndex, Error, Full, HotEntry, LocalTable};
use nsg_flow::{ConnState, Decision, Direction, FlowKey, NicId, RuleId, Timestamp, Verdict};
use nsg_packet::{Addr, Family};
use proptest::prelude::*;

/// The key numbered `id` (distinct for ids below 2^24): IPv4 for even ids,
/// IPv6 for odd ones, every IPv6 key with the same low 32 address bits (the
/// same fingerprint on the hot line).
fn key(id: u32) -> FlowKey {
    let (a, b, family) = if id.is_multiple_of(2) {
        (
            Addr::from_v4([10, (id >> 16) as u8, (id >> 8) as u8, id as u8]),
            Addr::from_v4([10, 1, 0, 1]),
            Family::V4,
        )
    } else {
        let hi = 0x2001_0db8_0000_0000 | u64::from(id);
        (
            Addr { hi, lo: 7 },
            Addr {
                hi: 0x2001_0db8_ffff_0000,
                lo: 9,
            },
            Family::V6,
        )
    };
    FlowKey {
        a,
        b,
        a_port: 1000 + (id % 7) as u16,
        b_port: 443,
        nic: NicId((id % 3) as u16),
        proto: 6,
        family,
    }
}

/// A well-mixed hash of key `id` (splitmix64).
fn good_hash(id: u32) -> u64 {
    let mut z = u64::from(id).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash with only four values: every key lands in the same few buckets
/// with the same few tags, so keys are told apart by comparison alone.
fn bad_hash(id: u32) -> u64 {
    u64::from(id % 4).wrapping_mul(0x0101_0101_0101_0101)
}

fn decision(rule: u32) -> Decision {
    Decision {
        verdict: if rule.is_multiple_of(2) {
            Verdict::Allow
        } else {
            Verdict::Deny
        },
        rule: RuleId(rule),
        generation: u64::from(rule) << 8,
        flush_on_change: rule.is_multiple_of(3),
    }
}

fn hot(rule: u32) -> HotEntry {
    HotEntry::new(
        &decision(rule),
        ConnState::SynSent,
        rule.is_multiple_of(2),
        Timestamp(5),
        60,
    )
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Insert(u32, u32),
    Lookup(u32),
    Remove(u32),
}

fn op(keys: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..keys, any::<u32>()).prop_map(|(k, r)| Op::Insert(k, r)),
        2 => (0..keys).prop_map(Op::Lookup),
        1 => (0..keys).prop_map(Op::Remove),
    ]
}

/// The table and its model: key id to (index, rule).
struct Checked {
    table: LocalTable,
    model: HashMap<u32, (EntryIndex, u32)>,
    hash: fn(u32) -> u64,
}

impl Checked {
    fn new(capacity: usize, hash: fn(u32) -> u64) -> Self {
        Checked {
            table: LocalTable::with_capacity(capacity).expect("small table"),
            model: HashMap::new(),
            hash,
        }
    }

    fn insert(&mut self, k: u32, rule: u32) -> Result<EntryIndex, Full> {
        let r = self.table.insert(
            (self.hash)(k),
            &key(k),
            hot(rule),
            ColdEntry::new(Timestamp(3)),
        );
        match (r, self.model.get(&k)) {
            (Ok(i), Some(&(old, _))) => assert_eq!(i, old, "a present key keeps its index"),
            (Ok(_), None) => {}
            (Err(Full), present) => assert!(present.is_none(), "replacing never fails"),
        }
        if let Ok(i) = r {
            self.model.insert(k, (i, rule));
        }
        r
    }

    fn lookup(&mut self, k: u32) {
        let found = self.table.lookup((self.hash)(k), &key(k));
        assert_eq!(found, self.model.get(&k).map(|&(i, _)| i));
        if let Some(&(i, rule)) = self.model.get(&k) {
            let h = self.table.hot(i).expect("live");
            assert_eq!(h.rule(), RuleId(rule));
            assert_eq!(h.verdict(), decision(rule).verdict);
            assert_eq!(h.generation(), (u64::from(rule) << 8) as u32);
            assert_eq!(self.table.key(i), Some(key(k)));
            assert_eq!(
                self.table.cold(i).map(ColdEntry::created),
                Some(Timestamp(3))
            );
        }
    }

    fn remove(&mut self, k: u32) {
        match self.model.remove(&k) {
            Some((i, _)) => {
                assert!(self.table.remove(i));
                assert!(!self.table.remove(i), "a freed entry is not removed twice");
                assert!(self.table.hot(i).is_none());
            }
            None => assert!(!self.table.remove(EntryIndex(u32::MAX))),
        }
    }

    fn apply(&mut self, o: Op) {
        match o {
            Op::Insert(k, r) => {
                let _ = self.insert(k, r);
            }
            Op::Lookup(k) => self.lookup(k),
            Op::Remove(k) => self.remove(k),
        }
        assert_eq!(self.table.len(), self.model.len());
    }

    fn check_all(&mut self) {
        let keys: Vec<u32> = self.model.keys().copied().collect();
        for k in keys {
            self.lookup(k);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agrees_with_a_hashmap(ops in proptest::collection::vec(op(200), 1..600), cap in 1usize..120) {
        let mut c = Checked::new(cap, good_hash);
        for o in ops {
            c.apply(o);
        }
        c.check_all();
    }

    #[test]
    fn agrees_with_a_hashmap_when_every_key_collides(ops in proptest::collection::vec(op(60), 1..400)) {
        let mut c = Checked::new(64, bad_hash);
        for o in ops {
            c.apply(o);
        }
        c.check_all();
    }
}

/// Inserts keys 0.. until the table answers `Full` `misses` times;
/// returns the keys inserted.
fn fill(c: &mut Checked, misses: usize) -> usize {
    let (mut k, mut inserted, mut fulls) = (0, 0, 0);
    while fulls < misses {
        match c.insert(k, k) {
            Ok(_) => inserted += 1,
            Err(Full) => fulls += 1,
        }
        k += 1;
    }
    inserted
}

#[test]
fn fills_to_capacity_then_refuses_and_keeps_every_entry() {
    let mut c = Checked::new(10_000, good_hash);
    let inserted = fill(&mut c, 100);
    assert_eq!(
        inserted, 10_000,
        "every entry used before the first refusal"
    );
    assert_eq!(c.table.len(), 10_000);
    c.check_all();
    let removed: Vec<u32> = (0..500).collect();
    for &k in &removed {
        c.remove(k);
    }
    for &k in &removed {
        c.insert(k, k + 1).expect("room again after removals");
    }
    c.check_all();
}

#[test]
fn full_buckets_refuse_without_losing_entries() {
    let mut c = Checked::new(1000, bad_hash);
    let inserted = fill(&mut c, 50);
    assert!(inserted < 1000, "four hash values cannot use 1000 entries");
    assert_eq!(c.table.len(), inserted);
    c.check_all();
}

#[test]
fn a_hit_updates_counters_state_and_decision_in_place() {
    let mut c = Checked::new(16, good_hash);
    let i = c.insert(4, 4).expect("room");
    let mut h = c.table.hot_mut(i).expect("live");
    h.account(Direction::Reply, 100, Timestamp(20));
    h.set_state(ConnState::Established, 0);
    h.set_decision(&decision(7));
    let h = c.table.hot(i).expect("live");
    assert_eq!((h.packets(), h.bytes()), ([1, 1], [60, 100]));
    assert_eq!(
        (h.state(), h.rule(), h.verdict()),
        (ConnState::Established, RuleId(7), Verdict::Deny)
    );
    assert!(!h.flush_on_change());
    assert_eq!(
        c.table.lookup(good_hash(4), &key(4)),
        Some(i),
        "the key is untouched"
    );
    let original = c.table.original(i).expect("live");
    assert_eq!(FlowKey::new(NicId(1), &original), (key(4), true));
    assert!(
        c.table.hot_mut(EntryIndex(15)).is_none(),
        "a free entry is not writable"
    );
}

#[test]
fn counters_count_per_direction_and_saturate() {
    let mut h = hot(2);
    assert_eq!((h.packets(), h.bytes()), ([1, 0], [60, 0]));
    assert_eq!(h.direction(true), Direction::Original);
    h.account(Direction::Reply, 1500, Timestamp(9));
    h.account(Direction::Original, 40, Timestamp(7));
    assert_eq!((h.packets(), h.bytes()), ([2, 1], [100, 1500]));
    assert_eq!(h.last_seen(), Timestamp(9));
    for _ in 0..70_000 {
        h.account(Direction::Reply, u32::MAX, Timestamp(9));
    }
    assert_eq!(h.bytes()[1], nsg_flow::local::COUNTER_MAX);
    assert_eq!(h.packets()[1], 70_001);
    h.set_state(ConnState::Established, 0b10);
    assert_eq!((h.state(), h.fins()), (ConnState::Established, 0b10));
}

#[test]
fn bytes_per_ipv4_flow_at_full_load() {
    const CAP: usize = 1 << 20;
    let mut t = LocalTable::with_capacity(CAP).expect("1M-flow table");
    for k in 0..CAP as u32 {
        let id = 2 * k; // even ids: IPv4 keys
        let r = t.insert(
            good_hash(id),
            &key(id),
            hot(id),
            ColdEntry::new(Timestamp(1)),
        );
        assert!(r.is_ok(), "refused at {} flows", t.len());
    }
    assert_eq!(t.len(), CAP);
    assert_eq!(
        t.insert(good_hash(1), &key(1), hot(1), ColdEntry::new(Timestamp(1))),
        Err(Full)
    );
    let per_flow = t.memory_bytes() as f64 / t.len() as f64;
    println!(
        "local table: {} flows, {} bytes, {per_flow:.1} B per flow, memory: {}",
        t.len(),
        t.memory_bytes(),
        t.backing()
    );
    assert!(per_flow <= 128.0, "{per_flow} B per flow");
}

/// Free huge pages in the host's pool, in bytes (0 when unknown).
fn free_hugetlb_bytes() -> usize {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
            .unwrap_or(0)
    };
    field("HugePages_Free:") * field("Hugepagesize:") * 1024
}

#[test]
fn allocation_falls_back_or_refuses_without_panicking() {
    let t = LocalTable::with_capacity(100_000).expect("a 10 MB table maps on any host");
    println!("100k-flow table memory: {}", t.backing());
    if free_hugetlb_bytes() < t.memory_bytes() {
        assert_ne!(
            t.backing(),
            Backing::HugeTlb,
            "no pool to take huge pages from"
        );
    }
    assert_eq!(t.capacity(), 100_000);
    for bad in [0, u32::MAX as usize, usize::MAX] {
        assert!(matches!(LocalTable::with_capacity(bad), Err(Error::Capacity(c)) if c == bad));
    }
}

#[test]
fn keys_differing_only_in_family_or_high_address_bits_stay_apart() {
    let mut t = LocalTable::with_capacity(8).expect("small table");
    let v4 = key(6);
    let v6_mapped = FlowKey {
        family: Family::V6,
        ..v4
    };
    let v6_high = FlowKey {
        a: Addr { hi: 1, lo: v4.a.lo },
        family: Family::V6,
        ..v4
    };
    let hash = 42; // one bucket, one tag: only the comparison tells them apart
    let mut idx = Vec::new();
    for (n, k) in [v4, v6_mapped, v6_high].iter().enumerate() {
        let i = t.insert(hash, k, hot(n as u32), ColdEntry::new(Timestamp(0)));
        idx.push(i.expect("room"));
    }
    assert_eq!(t.len(), 3);
    for (k, i) in [v4, v6_mapped, v6_high].iter().zip(&idx) {
        assert_eq!(t.lookup(hash, k), Some(*i));
        assert_eq!(t.key(*i), Some(*k));
    }
    assert!(t.remove(idx[1]));
    assert_eq!(t.lookup(hash, &v6_mapped), None);
    assert_eq!(t.lookup(hash, &v6_high), Some(idx[2]));
}

#[test]
fn backings_print_for_the_startup_log() {
    assert_eq!(Backing::HugeTlb.to_string(), "huge pages (MAP_HUGETLB)");
    assert_eq!(Backing::Plain.to_string(), "base pages");
}

#[test]
fn insert_absent_places_a_new_key_as_insert_does() {
    let mut a = LocalTable::with_capacity(2000).unwrap();
    let mut b = LocalTable::with_capacity(2000).unwrap();
    for id in 0..2000 {
        let (h, c) = (hot(id), ColdEntry::new(Timestamp(id.into())));
        let i = a.insert_absent(good_hash(id), &key(id), h, c).unwrap();
        assert_eq!(b.insert(good_hash(id), &key(id), h, c), Ok(i));
    }
    assert_eq!(
        a.insert_absent(good_hash(9999), &key(9999), hot(1), ColdEntry::default()),
        Err(Full)
    );
    for id in 0..2000 {
        let i = a.lookup(good_hash(id), &key(id)).expect("placed");
        assert_eq!(a.hot(i), b.hot(i));
        assert_eq!(a.key(i), Some(key(id)));
    }
}

//! The storage of a single-owner flow table: one worker's table, with no
//! lock and no atomic, every operation through `&mut self`.
//!
//! The storage of [`FlowTable`](crate::FlowTable), which adds connection
//! tracking, timeouts, eviction and fragments on top of it.
//!
//! ## Layout
//! - **Buckets** of one cache line: eight slots, each a 16-bit tag (the
//!   hash's top 16 bits, never 0) and the 32-bit index of an entry; the
//!   tags sit side by side, so one vector compare finds the matches. A lookup
//!   reads one bucket, compares eight tags, and reads only the entries whose
//!   tag matches (one in the common case).
//! - **Hot entries** of one cache line ([`HotEntry`]): everything a hit
//!   reads and writes. An IPv4 key fits whole; an IPv6 key keeps the low 32
//!   bits of each address there and its addresses on the cold side, so an
//!   IPv6 hit reads a third line.
//! - **Cold entries** ([`ColdEntry`], 48 bytes): first-seen time and the
//!   wide key. The direction of the first packet is a bit of the hot line,
//!   since a hit needs it to count per direction; the original tuple is the
//!   key turned that way ([`LocalTable::original`]).
//! - Free entries form a list threaded through the hot lines: no side
//!   array.
//!
//! ## Two candidate buckets (cuckoo)
//! A key may sit in its primary bucket (from the hash's low 32 bits) or its
//! alternate, computed from the primary and the tag alone, so an entry can
//! be moved to its other bucket without reading it or hashing again. With
//! two choices of eight slots and displacement the table fills past 90%
//! before an insert fails, where one bucket plus an overflow area would need
//! either more buckets (memory) or a third, unpredictable line per miss.
//! The bucket count is sized for 90% load (`capacity / 7.2`), about 9 bytes
//! of bucket per flow. A lookup reads at most two buckets, both known from
//! the hash, so a batched caller can prefetch both.

mod alloc;
mod bucket;
mod entry;

pub use alloc::{AllocError, Backing};
pub use bucket::SLOTS;
pub use entry::{ColdEntry, HotEntry, COUNTER_MAX};

use nsg_packet::FiveTuple;

use crate::clock::Timestamp;
use crate::conntrack::ConnState;
use crate::entry::Decision;
use crate::key::{Direction, FlowKey};
use alloc::{prefetch, Region};
use bucket::{tag_of, Bucket};
pub(crate) use entry::is_wide;

/// The index of an entry in a [`LocalTable`], valid until it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryIndex(pub u32);

/// The table has no room for another flow: every entry is taken, or both
/// buckets of the key and every displacement path from them are full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flow table full")]
pub struct Full;

/// Why a table could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Capacity 0, or past the 2^32 - 1 entries a slot can index.
    #[error("flow capacity {0} is outside 1..=4294967294")]
    Capacity(usize),
    /// A region could not be mapped.
    #[error(transparent)]
    Alloc(#[from] AllocError),
}

/// Marks the end of the free list.
const NIL: u32 = u32::MAX;
/// Longest displacement path tried before an insert answers [`Full`].
const MAX_PATH: usize = 64;

/// One worker's flow table: buckets, hot and cold entries in three maps
/// allocated once, at construction.
pub struct LocalTable {
    buckets: Region<Bucket>,
    hot: Region<HotEntry>,
    cold: Region<ColdEntry>,
    free: u32,
    len: usize,
    /// State of the xorshift that picks displacement victims.
    rng: u64,
}

impl LocalTable {
    /// A table for `capacity` flows, all its memory mapped now.
    pub fn with_capacity(capacity: usize) -> Result<Self, Error> {
        if capacity == 0 || capacity >= NIL as usize {
            return Err(Error::Capacity(capacity));
        }
        let buckets = capacity.div_ceil(SLOTS).saturating_mul(10).div_ceil(9);
        let mut t = LocalTable {
            buckets: Region::zeroed(buckets)?,
            hot: Region::zeroed(capacity)?,
            cold: Region::zeroed(capacity)?,
            free: 0,
            len: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        let hot = t.hot.as_mut_slice();
        let last = hot.len() - 1;
        for (i, e) in hot.iter_mut().enumerate() {
            e.set_free(if i == last { NIL } else { i as u32 + 1 });
        }
        Ok(t)
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no flow is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Flows the table can hold.
    pub fn capacity(&self) -> usize {
        self.hot.as_slice().len()
    }

    /// Every byte of flow state: buckets, hot and cold entries, whole pages.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.bytes() + self.hot.bytes() + self.cold.bytes()
    }

    /// How the memory is backed: the least of the three maps (huge pages
    /// only if all three got them).
    pub fn backing(&self) -> Backing {
        let all = [
            self.buckets.backing(),
            self.hot.backing(),
            self.cold.backing(),
        ];
        if all.contains(&Backing::Plain) {
            Backing::Plain
        } else if all.contains(&Backing::TransparentHuge) {
            Backing::TransparentHuge
        } else {
            Backing::HugeTlb
        }
    }

    fn nbuckets(&self) -> usize {
        self.buckets.as_slice().len()
    }

    /// The primary bucket of `hash` (from its low 32 bits).
    #[inline]
    fn primary(&self, hash: u64) -> usize {
        (((hash & 0xffff_ffff) * self.nbuckets() as u64) >> 32) as usize
    }

    /// The other bucket of a key in `bucket` with `tag`: an involution, so
    /// `alternate(alternate(b, t), t) == b`.
    #[inline]
    fn alternate(&self, bucket: usize, tag: u16) -> usize {
        // `h - bucket` modulo n for an `h` in 0..n from the tag alone (a
        // multiply and shift, as `primary`; no division on the lookup path).
        let n = self.nbuckets() as u64;
        let h = ((u64::from(tag).wrapping_mul(0xc6a4_a793_5bd1_e995) >> 32) * n) >> 32;
        let x = h + n - bucket as u64;
        (if x >= n { x - n } else { x }) as usize
    }

    /// Prefetches the primary bucket of `hash` into the cache, for a
    /// batched caller to issue before its lookups.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) {
        let b = &self.buckets.as_slice()[self.primary(hash)];
        prefetch(b);
    }

    /// Prefetches both candidate buckets of `hash`: the alternate is read
    /// only when the primary has no match, but a batched caller cannot know
    /// which keys that will be before the buckets arrive.
    #[inline]
    pub fn prefetch_buckets(&self, hash: u64) {
        let p = self.primary(hash);
        let buckets = self.buckets.as_slice();
        prefetch(&buckets[p]);
        prefetch(&buckets[self.alternate(p, tag_of(hash))]);
    }

    /// Reads the candidate buckets of `hash` (prefetched earlier) and
    /// prefetches the hot line of the first slot whose tag matches, the
    /// entry a lookup will most likely compare; and its cold side too when
    /// `wide` (an IPv6 key, whose addresses live there).
    #[inline]
    pub fn prefetch_match(&self, hash: u64, wide: bool) {
        let tag = tag_of(hash);
        let p = self.primary(hash);
        // The alternate only when the primary has no match (most keys sit
        // in their primary bucket).
        if !self.prefetch_in(p, tag, wide) {
            self.prefetch_in(self.alternate(p, tag), tag, wide);
        }
    }

    /// Prefetches the entry of the first slot of `bucket` tagged `tag`
    /// (and its cold side when `wide`); answers whether a slot matched.
    #[inline(always)]
    fn prefetch_in(&self, bucket: usize, tag: u16, wide: bool) -> bool {
        let bucket = &self.buckets.as_slice()[bucket];
        let m = bucket.matches(tag);
        if m == 0 {
            return false;
        }
        let i = bucket.index(m.trailing_zeros() as usize) as usize;
        if let Some(e) = self.hot.as_slice().get(i) {
            prefetch(e);
        }
        if let (true, Some(c)) = (wide, self.cold.as_slice().get(i)) {
            prefetch(c);
        }
        true
    }

    /// Prefetches the hot line of entry `i` (no-op for a bad index).
    #[inline]
    pub fn prefetch_entry(&self, i: EntryIndex) {
        if let Some(e) = self.hot.as_slice().get(i.0 as usize) {
            prefetch(e);
        }
    }

    /// The entry of `key`, whose hash is `hash`.
    #[inline]
    pub fn lookup(&self, hash: u64, key: &FlowKey) -> Option<EntryIndex> {
        self.lookup_wide(hash, key, is_wide(key))
    }

    /// [`LocalTable::lookup`] of a key whose width (`is_wide`) the caller
    /// already knows.
    #[inline]
    pub(crate) fn lookup_wide(&self, hash: u64, key: &FlowKey, wide: bool) -> Option<EntryIndex> {
        let tag = tag_of(hash);
        let p = self.primary(hash);
        self.find_in(p, tag, key, wide)
            .or_else(|| self.find_in(self.alternate(p, tag), tag, key, wide))
    }

    /// The entry of `key` among the slots of `bucket` tagged `tag`.
    #[inline(always)]
    fn find_in(&self, bucket: usize, tag: u16, key: &FlowKey, wide: bool) -> Option<EntryIndex> {
        let b = &self.buckets.as_slice()[bucket];
        let mut m = b.matches(tag);
        while m != 0 {
            let i = b.index(m.trailing_zeros() as usize);
            m &= m - 1;
            if self.key_matches(i as usize, key, wide) {
                return Some(EntryIndex(i));
            }
        }
        None
    }

    #[inline(always)]
    fn key_matches(&self, i: usize, key: &FlowKey, wide: bool) -> bool {
        self.hot.as_slice()[i].matches_narrow(key, wide)
            && (!wide || self.cold.as_slice()[i].matches_wide(key))
    }

    /// The hot line of a live entry.
    #[inline]
    pub fn hot(&self, i: EntryIndex) -> Option<&HotEntry> {
        self.hot.as_slice().get(i.0 as usize).filter(|e| e.live())
    }

    /// The hot line of a live entry, writable through its counters, state
    /// and decision (never its key).
    #[inline]
    pub fn hot_mut(&mut self, i: EntryIndex) -> Option<HotMut<'_>> {
        self.hot
            .as_mut_slice()
            .get_mut(i.0 as usize)
            .filter(|e| e.live())
            .map(HotMut)
    }

    /// The cold side of a live entry.
    pub fn cold(&self, i: EntryIndex) -> Option<&ColdEntry> {
        self.hot(i)?;
        self.cold.as_slice().get(i.0 as usize)
    }

    /// The key of a live entry.
    pub fn key(&self, i: EntryIndex) -> Option<FlowKey> {
        Some(self.hot(i)?.key(self.cold(i)?))
    }

    /// The tuple of a live entry's first packet.
    pub fn original(&self, i: EntryIndex) -> Option<FiveTuple> {
        let forward = self.hot(i)?.orig_forward();
        Some(self.key(i)?.tuple(forward))
    }

    /// Stores the flow `key` (hash `hash`) with `hot` and `cold`. A key
    /// already present keeps its index and takes the new contents. Answers
    /// [`Full`] when there is no room, with every entry left in place.
    pub fn insert(
        &mut self,
        hash: u64,
        key: &FlowKey,
        hot: HotEntry,
        cold: ColdEntry,
    ) -> Result<EntryIndex, Full> {
        if let Some(i) = self.lookup(hash, key) {
            let (p, tag) = (self.primary(hash), tag_of(hash));
            self.write(i.0 as usize, key, (p, tag), (hot, cold));
            return Ok(i);
        }
        self.insert_absent(hash, key, hot, cold)
    }

    /// [`LocalTable::insert`] of a key the caller just looked up and did
    /// not find: the same, without probing the buckets for it again.
    pub fn insert_absent(
        &mut self,
        hash: u64,
        key: &FlowKey,
        hot: HotEntry,
        cold: ColdEntry,
    ) -> Result<EntryIndex, Full> {
        let tag = tag_of(hash);
        let p = self.primary(hash);
        if self.free == NIL {
            return Err(Full);
        }
        let (bucket, slot) = self.place(p, tag).ok_or(Full)?;
        let i = self.free;
        self.free = self.hot.as_slice()[i as usize].a;
        self.buckets.as_mut_slice()[bucket].set(slot, tag, i);
        self.write(i as usize, key, (p, tag), (hot, cold));
        self.len += 1;
        Ok(EntryIndex(i))
    }

    /// Writes entry `i`: `key` with its primary bucket and tag, and the
    /// contents.
    fn write(
        &mut self,
        i: usize,
        key: &FlowKey,
        (primary, tag): (usize, u16),
        (mut hot, mut cold): (HotEntry, ColdEntry),
    ) {
        hot.set_key(key, primary as u32, tag);
        if is_wide(key) {
            cold.set_wide_key(key);
        }
        self.hot.as_mut_slice()[i] = hot;
        self.cold.as_mut_slice()[i] = cold;
    }

    /// A free slot for a key with primary bucket `p` and `tag`: in one of
    /// its buckets, or made there by moving entries along a displacement
    /// path to their other buckets. `None` (nothing moved) when no path of
    /// at most [`MAX_PATH`] steps ends at a free slot.
    fn place(&mut self, p: usize, tag: u16) -> Option<(usize, usize)> {
        let alt = self.alternate(p, tag);
        for b in [p, alt] {
            if let Some(s) = self.buckets.as_slice()[b].free_slot() {
                return Some((b, s));
            }
        }
        let start = if self.next_random() & 1 == 0 { p } else { alt };
        let path = self.find_path(start)?;
        self.shift(&path);
        Some(path.steps[0])
    }

    /// A displacement path from `start`: slots whose entries each move to
    /// the next step's bucket (their other bucket), the last one into a free
    /// slot. A path never visits a slot twice, so moving its entries from
    /// the end back moves each to its own other bucket.
    fn find_path(&mut self, start: usize) -> Option<Path> {
        let mut path = Path {
            steps: [(0, 0); MAX_PATH],
            len: 0,
            free: (0, 0),
        };
        let mut b = start;
        while path.len < MAX_PATH {
            let r = self.next_random() as usize;
            let taken = &path.steps[..path.len];
            let s = (0..SLOTS)
                .map(|k| (r + k) % SLOTS)
                .find(|&s| !taken.contains(&(b, s)))?;
            path.steps[path.len] = (b, s);
            path.len += 1;
            let next = self.alternate(b, self.buckets.as_slice()[b].tag(s));
            if let Some(f) = self.buckets.as_slice()[next].free_slot() {
                path.free = (next, f);
                return Some(path);
            }
            b = next;
        }
        None
    }

    /// Moves the entries of `path` one step on, from its end; its first slot
    /// is left for the caller to overwrite.
    fn shift(&mut self, path: &Path) {
        let buckets = self.buckets.as_mut_slice();
        let mut to = path.free;
        for &(b, s) in path.steps[..path.len].iter().rev() {
            let (tag, index) = (buckets[b].tag(s), buckets[b].index(s));
            buckets[to.0].set(to.1, tag, index);
            to = (b, s);
        }
    }

    /// Xorshift64: victims for displacement, never used for placement of
    /// anything a lookup depends on.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Removes a live entry; a free or out-of-range index is ignored.
    /// Answers whether an entry was removed.
    pub fn remove(&mut self, i: EntryIndex) -> bool {
        let Some(e) = self.hot(i) else {
            return false;
        };
        let (p, tag) = (e.bucket as usize, e.tag);
        for b in [p, self.alternate(p, tag)] {
            let bucket = &mut self.buckets.as_mut_slice()[b];
            if let Some(s) = bucket.find_index(i.0) {
                bucket.clear(s);
                break;
            }
        }
        let free = self.free;
        self.hot.as_mut_slice()[i.0 as usize].set_free(free);
        self.free = i.0;
        self.len -= 1;
        true
    }
}

impl LocalTable {
    /// The indices of the live entries, in index order.
    pub fn live(&self) -> impl Iterator<Item = EntryIndex> + '_ {
        self.hot
            .as_slice()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live())
            .map(|(i, _)| EntryIndex(i as u32))
    }

    /// Removes every live entry for which `keep` answers false, visiting
    /// them in index order; answers how many were removed. Nothing moves
    /// but the removed entries' slots, so `keep` sees every entry once.
    pub fn retain(&mut self, mut keep: impl FnMut(&HotEntry) -> bool) -> usize {
        let mut removed = 0;
        for i in 0..self.capacity() {
            let i = EntryIndex(i as u32);
            if self.hot(i).is_some_and(|e| !keep(e)) {
                removed += usize::from(self.remove(i));
            }
        }
        removed
    }
}

/// A live entry's hot line, borrowed for writing: it reads as a
/// [`HotEntry`] and changes only what a packet or a re-evaluation changes,
/// so the key, the bucket it was filed under and the free list stay intact.
#[derive(Debug)]
pub struct HotMut<'a>(&'a mut HotEntry);

impl std::ops::Deref for HotMut<'_> {
    type Target = HotEntry;

    fn deref(&self) -> &HotEntry {
        self.0
    }
}

impl HotMut<'_> {
    /// Counts a packet of `frame_len` bytes in `dir` seen at `now`.
    #[inline]
    pub fn account(&mut self, dir: Direction, frame_len: u32, now: Timestamp) {
        self.0.account(dir, frame_len, now);
    }

    /// Counts a packet of `frame_len` bytes in `dir` without touching the
    /// last-seen time (an ICMP error quoting the flow does not keep it
    /// alive).
    #[inline]
    pub fn count(&mut self, dir: Direction, frame_len: u32) {
        self.0.count(dir, frame_len);
    }

    /// Moves the connection state and its FIN bits.
    #[inline]
    pub fn set_state(&mut self, state: ConnState, fins: u8) {
        self.0.set_state(state, fins);
    }

    /// Replaces the decision (after a re-evaluation).
    pub fn set_decision(&mut self, d: &Decision) {
        self.0.set_decision(d);
    }
}

/// A displacement path found by [`LocalTable::find_path`].
struct Path {
    /// (bucket, slot) of each entry to move, in order.
    steps: [(usize, usize); MAX_PATH],
    /// Steps used.
    len: usize,
    /// The free (bucket, slot) the last entry moves to.
    free: (usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RuleId, Verdict};
    use nsg_packet::{Addr, Family};

    fn key(id: u32) -> FlowKey {
        FlowKey {
            a: Addr::from_v4(id.to_be_bytes()),
            b: Addr::from_v4([192, 0, 2, 1]),
            a_port: 1,
            b_port: 2,
            nic: crate::key::NicId(0),
            proto: 17,
            family: Family::V4,
        }
    }

    fn hash(id: u32) -> u64 {
        u64::from(id)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
            ^ 0x5555
    }

    fn entry() -> (HotEntry, ColdEntry) {
        let d = Decision {
            verdict: Verdict::Allow,
            rule: RuleId(1),
            generation: 1,
            flush_on_change: false,
        };
        let t = Timestamp(1);
        (
            HotEntry::new(&d, ConnState::Unreplied, true, t, 64),
            ColdEntry::new(t),
        )
    }

    /// Every filled slot points at a live entry filed under this bucket or
    /// its alternate with the slot's tag, and every live entry has exactly
    /// one slot. Answers how many entries sit in their alternate bucket.
    fn check_slots(t: &LocalTable) -> usize {
        let mut seen = vec![0u8; t.capacity()];
        let mut moved = 0;
        for (b, bucket) in t.buckets.as_slice().iter().enumerate() {
            for s in (0..SLOTS).filter(|&s| bucket.tag(s) != 0) {
                let i = bucket.index(s);
                let e = t.hot(EntryIndex(i)).expect("a slot points at a live entry");
                assert_eq!(e.tag, bucket.tag(s));
                let p = e.bucket as usize;
                assert!(b == p || b == t.alternate(p, e.tag));
                moved += usize::from(b != p);
                seen[i as usize] += 1;
            }
        }
        assert_eq!(seen.iter().filter(|&&n| n == 1).count(), t.len());
        assert!(seen.iter().all(|&n| n <= 1));
        moved
    }

    #[test]
    fn a_full_table_keeps_every_entry_in_one_of_its_two_buckets() {
        let mut t = LocalTable::with_capacity(5000).expect("small table");
        for id in 0..5000 {
            let (h, c) = entry();
            t.insert(hash(id), &key(id), h, c)
                .expect("room up to capacity");
        }
        let moved = check_slots(&t);
        assert!(
            moved > 0,
            "at 90% bucket load some entries take their alternate"
        );
        for id in (0..5000).step_by(3) {
            let i = t.lookup(hash(id), &key(id)).expect("present");
            assert!(t.remove(i));
        }
        check_slots(&t);
        for id in 5000..6666 {
            let (h, c) = entry();
            t.insert(hash(id), &key(id), h, c)
                .expect("room after removals");
        }
        check_slots(&t);
    }

    #[test]
    fn alternate_is_an_involution() {
        let t = LocalTable::with_capacity(1000).expect("small table");
        for b in 0..t.nbuckets() {
            for tag in [1, 2, 77, u16::MAX] {
                assert_eq!(t.alternate(t.alternate(b, tag), tag), b);
            }
        }
    }
}

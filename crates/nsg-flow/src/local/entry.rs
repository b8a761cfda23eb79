//! Entries: the hot line a hit reads and writes, and the cold side only the
//! slow path reads.

use nsg_packet::{Addr, Family};

use crate::clock::Timestamp;
use crate::conntrack::ConnState;
use crate::entry::{Decision, RuleId, Verdict};
use crate::key::{Direction, FlowKey, NicId};

/// The key's addresses do not fit the hot line (IPv6, or an IPv4 key not
/// in the IPv4-mapped form): `a` and `b` hold fingerprints and the cold
/// side holds the addresses.
const WIDE: u8 = 1 << 0;
const ORIG_FORWARD: u8 = 1 << 1;
const FLUSH: u8 = 1 << 2;
const DENY: u8 = 1 << 3;
const LIVE: u8 = 1 << 4;
const FIN_SHIFT: u8 = 5;
const FIN_MASK: u8 = 0b11 << FIN_SHIFT;

/// Largest value of a 48-bit counter; counters stop there.
pub const COUNTER_MAX: u64 = (1 << 48) - 1;

/// The part of a flow entry the established path touches, in one cache
/// line: the key (whole for IPv4; for IPv6 the low 32 bits of each address,
/// the rest on the cold side), verdict, rule, generation, state, last-seen
/// time and the packet and byte counters of both directions.
///
/// Counters are 48 bits wide (2.8 * 10^14 packets, 256 TiB per direction)
/// and saturate. The generation is the policy generation's low 32 bits:
/// the table compares them for equality to flush, and widens them back to
/// the full generation against one it knows (see [`Epoch`](crate::Epoch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct HotEntry {
    /// Low 32 bits of the lower end's address; the next free entry while the
    /// entry is free.
    pub(crate) a: u32,
    pub(crate) b: u32,
    pub(crate) a_port: u16,
    pub(crate) b_port: u16,
    pub(crate) nic: u16,
    pub(crate) proto: u8,
    flags: u8,
    last_seen: u64,
    rule: u32,
    generation: u32,
    /// Packets original, bytes original, packets reply, bytes reply: four
    /// 48-bit little-endian counters of six bytes each.
    counters: [u8; 24],
    /// The key's primary bucket, to find its slot on removal.
    pub(crate) bucket: u32,
    pub(crate) tag: u16,
    state: ConnState,
    _spare: u8,
}

const _: () = assert!(std::mem::size_of::<HotEntry>() == 64);
const _: () = assert!(ConnState::SynSent as u8 == 0, "zeroed entries are valid");

impl HotEntry {
    /// A new flow's hot line: decided by `d`, in `state`, first packet of
    /// `frame_len` bytes seen at `now` running `forward` (from key end `a`).
    /// The key is filled in by [`LocalTable::insert`](super::LocalTable::insert).
    pub fn new(
        d: &Decision,
        state: ConnState,
        forward: bool,
        now: Timestamp,
        frame_len: u32,
    ) -> Self {
        let mut e = HotEntry {
            a: 0,
            b: 0,
            a_port: 0,
            b_port: 0,
            nic: 0,
            proto: 0,
            flags: if forward { ORIG_FORWARD } else { 0 },
            last_seen: now.0,
            rule: 0,
            generation: 0,
            counters: [0; 24],
            bucket: 0,
            tag: 0,
            state,
            _spare: 0,
        };
        e.set_decision(d);
        e.account(Direction::Original, frame_len, now);
        e
    }

    /// Replaces the decision (after a re-evaluation).
    pub fn set_decision(&mut self, d: &Decision) {
        self.generation = d.generation as u32;
        self.rule = d.rule.0;
        self.flags &= !(FLUSH | DENY);
        if d.flush_on_change {
            self.flags |= FLUSH;
        }
        if d.verdict == Verdict::Deny {
            self.flags |= DENY;
        }
    }

    /// Counts a packet of `frame_len` bytes in `dir` seen at `now`.
    #[inline]
    pub fn account(&mut self, dir: Direction, frame_len: u32, now: Timestamp) {
        self.count(dir, frame_len);
        self.last_seen = self.last_seen.max(now.0);
    }

    /// Counts a packet of `frame_len` bytes in `dir`, leaving the last-seen
    /// time as it is.
    #[inline]
    pub fn count(&mut self, dir: Direction, frame_len: u32) {
        // One branch, then counters at constant places.
        match dir {
            Direction::Original => {
                self.add(0, 1);
                self.add(1, u64::from(frame_len));
            }
            Direction::Reply => {
                self.add(2, 1);
                self.add(3, u64::from(frame_len));
            }
        }
    }

    /// The NIC of the flow.
    pub fn nic(&self) -> NicId {
        NicId(self.nic)
    }

    /// The flow's IP protocol number.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// The 8-byte window of the counters holding counter `c` (0..4): its
    /// start and the counter's bit offset in it. Windows stay inside the
    /// array, so a counter is read and written as one unaligned word.
    #[inline]
    fn window(c: usize) -> (usize, u32) {
        let offset = (c * 6).min(18);
        let start = offset.min(16);
        (start, (8 * (offset - start)) as u32)
    }

    #[inline]
    fn word(&self, start: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.counters[start..start + 8]);
        u64::from_le_bytes(w)
    }

    #[inline]
    fn counter(&self, c: usize) -> u64 {
        let (start, shift) = Self::window(c);
        (self.word(start) >> shift) & COUNTER_MAX
    }

    #[inline]
    fn add(&mut self, c: usize, n: u64) {
        let (start, shift) = Self::window(c);
        let w = self.word(start);
        let v = ((w >> shift) & COUNTER_MAX)
            .saturating_add(n)
            .min(COUNTER_MAX);
        let w = (w & !(COUNTER_MAX << shift)) | v << shift;
        self.counters[start..start + 8].copy_from_slice(&w.to_le_bytes());
    }

    /// Packets, original then reply direction.
    pub fn packets(&self) -> [u64; 2] {
        [self.counter(0), self.counter(2)]
    }

    /// Bytes (whole frames), original then reply direction.
    pub fn bytes(&self) -> [u64; 2] {
        [self.counter(1), self.counter(3)]
    }

    /// Direction of a packet whose tuple runs `forward` (from key end `a`).
    #[inline]
    pub fn direction(&self, forward: bool) -> Direction {
        if forward == self.orig_forward() {
            Direction::Original
        } else {
            Direction::Reply
        }
    }

    /// Whether the flow's first packet ran from key end `a` to `b`.
    pub fn orig_forward(&self) -> bool {
        self.flags & ORIG_FORWARD != 0
    }

    /// Allow or deny.
    pub fn verdict(&self) -> Verdict {
        if self.flags & DENY != 0 {
            Verdict::Deny
        } else {
            Verdict::Allow
        }
    }

    /// The deciding rule.
    pub fn rule(&self) -> RuleId {
        RuleId(self.rule)
    }

    /// Low 32 bits of the policy generation of the decision.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Whether the flow is re-evaluated when the policy generation changes.
    pub fn flush_on_change(&self) -> bool {
        self.flags & FLUSH != 0
    }

    /// Connection state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// TCP FINs seen (conntrack's two bits).
    pub fn fins(&self) -> u8 {
        (self.flags & FIN_MASK) >> FIN_SHIFT
    }

    /// Moves the connection state and its FIN bits.
    pub fn set_state(&mut self, state: ConnState, fins: u8) {
        self.state = state;
        self.flags = (self.flags & !FIN_MASK) | ((fins << FIN_SHIFT) & FIN_MASK);
    }

    /// When the last packet was seen.
    pub fn last_seen(&self) -> Timestamp {
        Timestamp(self.last_seen)
    }

    pub(crate) fn live(&self) -> bool {
        self.flags & LIVE != 0
    }

    pub(crate) fn wide(&self) -> bool {
        self.flags & WIDE != 0
    }

    /// Writes `key` into the line (the narrow part; the caller puts wide
    /// addresses on the cold side) and marks the entry live.
    pub(crate) fn set_key(&mut self, key: &FlowKey, bucket: u32, tag: u16) {
        let wide = is_wide(key);
        self.a = key.a.lo as u32;
        self.b = key.b.lo as u32;
        self.a_port = key.a_port;
        self.b_port = key.b_port;
        self.nic = key.nic.0;
        self.proto = key.proto;
        self.flags = (self.flags & !WIDE) | LIVE | if wide { WIDE } else { 0 };
        self.bucket = bucket;
        self.tag = tag;
    }

    /// Marks the entry free, `next` the next free entry.
    pub(crate) fn set_free(&mut self, next: u32) {
        self.flags = 0;
        self.a = next;
    }

    /// Whether the narrow part of the line matches `key`.
    #[inline]
    pub(crate) fn matches_narrow(&self, key: &FlowKey, wide: bool) -> bool {
        // Without short-circuits: one branch for the whole compare.
        (self.a == key.a.lo as u32)
            & (self.b == key.b.lo as u32)
            & (self.a_port == key.a_port)
            & (self.b_port == key.b_port)
            & (self.nic == key.nic.0)
            & (self.proto == key.proto)
            & (self.flags & (LIVE | WIDE) == LIVE | if wide { WIDE } else { 0 })
    }

    /// The key, given the cold side for a wide key.
    pub(crate) fn key(&self, cold: &ColdEntry) -> FlowKey {
        let (a, b, family) = if self.wide() {
            (cold.a, cold.b, cold.family())
        } else {
            let v4 = |x: u32| Addr::from_v4(x.to_be_bytes());
            (v4(self.a), v4(self.b), Family::V4)
        };
        FlowKey {
            a,
            b,
            a_port: self.a_port,
            b_port: self.b_port,
            nic: NicId(self.nic),
            proto: self.proto,
            family,
        }
    }
}

/// Whether a key's addresses must live on the cold side: anything but an
/// IPv4 key in the IPv4-mapped form.
#[inline]
pub(crate) fn is_wide(key: &FlowKey) -> bool {
    // IPv4-mapped: `hi` zero and 0xffff above the low 32 bits of `lo`.
    let off = |x: &Addr| x.hi | ((x.lo >> 32) ^ 0xffff);
    (key.family != Family::V4) | ((off(&key.a) | off(&key.b)) != 0)
}

/// What only the slow path reads: when the flow was first seen and, for a
/// wide key (IPv6), its addresses and family. 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct ColdEntry {
    pub(crate) a: Addr,
    pub(crate) b: Addr,
    pub(crate) created: u64,
    family: u8,
    _spare: [u8; 7],
}

const _: () = assert!(std::mem::size_of::<ColdEntry>() == 48);

impl ColdEntry {
    /// A new flow's cold side, first seen at `created`.
    pub fn new(created: Timestamp) -> Self {
        ColdEntry {
            created: created.0,
            ..ColdEntry::default()
        }
    }

    /// When the flow's first packet was seen.
    pub fn created(&self) -> Timestamp {
        Timestamp(self.created)
    }

    fn family(&self) -> Family {
        if self.family == Family::V6 as u8 {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// Stores a wide key's addresses and family.
    pub(crate) fn set_wide_key(&mut self, key: &FlowKey) {
        self.a = key.a;
        self.b = key.b;
        self.family = key.family as u8;
    }

    /// Whether the stored addresses and family are `key`'s.
    #[inline]
    pub(crate) fn matches_wide(&self, key: &FlowKey) -> bool {
        self.a == key.a && self.b == key.b && self.family == key.family as u8
    }
}

//! Buckets: one cache line of eight slots, each a 16-bit tag and the index
//! of its entry.

/// Slots per bucket.
pub const SLOTS: usize = 8;

/// The tag of an empty slot; live tags are never 0.
const EMPTY: u16 = 0;

/// Eight slots in one 64-byte cache line: their 16-bit tags side by side
/// (one vector compare finds every match), then their 32-bit entry indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, align(64))]
pub struct Bucket {
    tags: [u16; SLOTS],
    indices: [u32; SLOTS],
    _spare: [u16; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// The tag of a hash: its top 16 bits, with 0 (the empty mark) moved to 1.
#[inline]
pub fn tag_of(hash: u64) -> u16 {
    ((hash >> 48) as u16).max(1)
}

impl Bucket {
    /// Slots whose tag is `tag`, as a bit mask (bit `i` for slot `i`): the
    /// tags sit side by side, so one vector compare finds every match.
    #[inline]
    pub fn matches(&self, tag: u16) -> u8 {
        super::alloc::tag_mask(&self.tags, tag)
    }

    /// The first empty slot, if any.
    #[inline]
    pub fn free_slot(&self) -> Option<usize> {
        self.tags.iter().position(|&t| t == EMPTY)
    }

    /// The entry index of slot `i`.
    #[inline]
    pub fn index(&self, i: usize) -> u32 {
        self.indices[i]
    }

    /// The tag of slot `i` (0 when empty).
    #[inline]
    pub fn tag(&self, i: usize) -> u16 {
        self.tags[i]
    }

    /// Fills slot `i`.
    #[inline]
    pub fn set(&mut self, i: usize, tag: u16, index: u32) {
        self.tags[i] = tag;
        self.indices[i] = index;
    }

    /// Empties slot `i`.
    #[inline]
    pub fn clear(&mut self, i: usize) {
        self.tags[i] = EMPTY;
        self.indices[i] = 0;
    }

    /// The slot holding entry `index`, if this bucket has it.
    #[inline]
    pub fn find_index(&self, index: u32) -> Option<usize> {
        (0..SLOTS).find(|&i| self.tags[i] != EMPTY && self.indices[i] == index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_match_and_clear() {
        let mut b = Bucket::default();
        assert_eq!(b.free_slot(), Some(0));
        b.set(0, 7, 100);
        b.set(3, 7, 103);
        b.set(1, 9, 101);
        assert_eq!(b.matches(7), 0b1001);
        assert_eq!(b.matches(9), 0b10);
        assert_eq!(b.free_slot(), Some(2));
        assert_eq!(b.find_index(103), Some(3));
        b.clear(3);
        assert_eq!(b.matches(7), 0b1);
        assert_eq!(b.find_index(103), None);
        assert_eq!(tag_of(0), 1);
        for s in 0..SLOTS {
            let mut b = Bucket::default();
            b.set(s, 0x8001, 1);
            assert_eq!(b.matches(0x8001), 1 << s);
            assert_eq!(b.matches(0x0001), 0);
            assert_eq!(b.matches(0x8000), 0);
            assert_eq!(b.matches(0), !(1u8 << s));
        }
        assert_eq!(tag_of(0xabcd << 48), 0xabcd);
    }
}

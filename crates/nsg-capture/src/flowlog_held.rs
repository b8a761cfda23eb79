//! The tuples of one open minute of a streamed flow log, held small: each
//! a fixed-size [`Held`] in the list of its name triple, counters (of C and
//! E tuples only) in a list of their own.

use std::net::IpAddr;

use ahash::AHashMap;

use crate::flowlog::{Counters, FlowState, FlowTuple};

/// No counters (a B tuple).
const NO_COUNTERS: u32 = u32::MAX;

/// A tuple held in its minute: all of a [`FlowTuple`] but the minute, the
/// booleans and state packed into `flags`, the counters by index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    /// Second within the minute.
    sec: u8,
    /// Bit 0 TCP, 1 inbound, 2 allowed; bits 3-4 the state.
    flags: u8,
    /// Index into [`Minute`]'s counters, or [`NO_COUNTERS`].
    counters: u32,
}

/// The tuples of one minute, by name triple.
#[derive(Debug, Default)]
pub(crate) struct Minute {
    groups: AHashMap<u32, Vec<Held>>,
    counters: Vec<Counters>,
    len: usize,
}

impl Minute {
    /// Hold `t` (whose time is in this minute) under name triple `group`.
    pub(crate) fn push(&mut self, group: u32, t: &FlowTuple) {
        let counters = match t.counters {
            Some(c) if self.counters.len() < NO_COUNTERS as usize => {
                self.counters.push(c);
                // Below NO_COUNTERS, checked above.
                u32::try_from(self.counters.len() - 1).unwrap_or(NO_COUNTERS)
            }
            // Over 4 billion tuples with counters in one minute: their
            // counters are not held (the tuple is).
            _ => NO_COUNTERS,
        };
        let state = match t.state {
            FlowState::Begin => 0,
            FlowState::Continuing => 1,
            FlowState::End => 2,
        };
        self.groups.entry(group).or_default().push(Held {
            src: t.src,
            dst: t.dst,
            src_port: t.src_port,
            dst_port: t.dst_port,
            sec: (t.ts % 60) as u8,
            flags: u8::from(t.tcp)
                | u8::from(t.inbound) << 1
                | u8::from(t.allowed) << 2
                | state << 3,
            counters,
        });
        self.len += 1;
    }

    /// Tuples held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The name triples with tuples.
    pub(crate) fn groups(&self) -> impl Iterator<Item = u32> + '_ {
        self.groups.keys().copied()
    }

    /// Whether name triple `g` has tuples.
    pub(crate) fn has(&self, g: u32) -> bool {
        self.groups.contains_key(&g)
    }

    /// Take the tuples of name triple `g`, in [`FlowTuple`]'s order; this
    /// minute starts at `minute` (Unix seconds).
    pub(crate) fn sorted(&mut self, g: u32, minute: u64) -> impl Iterator<Item = FlowTuple> + '_ {
        let held = self.groups.remove(&g).unwrap_or_default();
        let counters = &self.counters;
        let full = move |h: &Held| h.tuple(minute, counters);
        let mut v = held;
        v.sort_unstable_by_key(full);
        v.into_iter().map(move |h| full(&h))
    }
}

impl Held {
    fn tuple(&self, minute: u64, counters: &[Counters]) -> FlowTuple {
        FlowTuple {
            ts: minute + u64::from(self.sec),
            src: self.src,
            dst: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            tcp: self.flags & 1 != 0,
            inbound: self.flags & 2 != 0,
            allowed: self.flags & 4 != 0,
            state: match self.flags >> 3 {
                0 => FlowState::Begin,
                1 => FlowState::Continuing,
                _ => FlowState::End,
            },
            counters: counters.get(self.counters as usize).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_tuple_is_small_and_whole() {
        // Addresses, ports, second, flags and a counters index.
        assert!(
            std::mem::size_of::<Held>() <= 44,
            "{}",
            std::mem::size_of::<Held>()
        );
        let mut m = Minute::default();
        let tuples: Vec<FlowTuple> = [
            "1714564859,fd00::1,10.0.1.4,1,80,U,O,D,E,1,2,3,4",
            "1714564800,203.0.113.7,10.0.1.4,40000,80,T,I,A,B,,,,",
            "1714564830,10.0.1.4,203.0.113.7,80,40000,T,O,A,C,5,6,7,8",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for t in &tuples {
            m.push(3, t);
        }
        assert_eq!(m.len(), 3);
        assert!(m.has(3) && !m.has(4));
        let mut want = tuples.clone();
        want.sort();
        assert_eq!(m.sorted(3, 1_714_564_800).collect::<Vec<_>>(), want);
    }
}

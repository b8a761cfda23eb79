//! Cells as bit sets, so that the union of many is a few word ORs: the
//! (protocol, destination port) space cut into the elementary intervals
//! that every cell's boundaries fall on, one bit per interval pair that
//! packets can have (TCP and UDP with a port, other protocols without).

use super::allowed::Allowed;
use crate::space::{Range, Ranges, NO_PORT};

/// The elementary intervals of the protocol and destination port fields.
#[derive(Debug, Clone)]
pub struct Atoms {
    /// Start of each protocol interval (the first is 0).
    protos: Vec<u128>,
    /// Start of each destination port interval within 0..=65535.
    ports: Vec<u128>,
    /// First bit of each protocol interval; a ported interval has one bit
    /// per port interval, a portless one a single bit.
    offset: Vec<usize>,
    /// Whether each protocol interval carries ports (TCP or UDP).
    ported: Vec<bool>,
    words: usize,
}

/// The start of every range in `lists` and of the value after it.
fn cuts<'a>(
    lists: impl Iterator<Item = &'a Ranges>,
    lo: u128,
    hi: u128,
    fixed: &[u128],
) -> Vec<u128> {
    let mut out = vec![lo];
    out.extend_from_slice(fixed);
    for r in lists {
        for &(a, b) in r.ranges() {
            if a > lo && a <= hi {
                out.push(a);
            }
            if b < hi {
                out.push(b + 1);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl Atoms {
    /// The intervals every list of protocols and of ports falls on.
    pub fn new<'a>(
        protos: impl Iterator<Item = &'a Ranges>,
        ports: impl Iterator<Item = &'a Ranges>,
    ) -> Atoms {
        let protos = cuts(protos, 0, 255, &[6, 7, 17, 18]);
        let ports = cuts(ports, 0, 65535, &[]);
        let ported: Vec<bool> = protos.iter().map(|&p| p == 6 || p == 17).collect();
        let mut offset = Vec::with_capacity(protos.len());
        let mut bits = 0;
        for &p in &ported {
            offset.push(bits);
            bits += if p { ports.len() } else { 1 };
        }
        Atoms {
            protos,
            ports,
            offset,
            ported,
            words: bits.div_ceil(64),
        }
    }

    /// Words of one bit set.
    pub fn words(&self) -> usize {
        self.words
    }

    /// The intervals of `list` (starts in `starts`) a range covers, as
    /// interval indices.
    fn span(starts: &[u128], (lo, hi): Range) -> (usize, usize) {
        let first = starts.partition_point(|&s| s <= lo) - 1;
        let last = starts.partition_point(|&s| s <= hi) - 1;
        (first, last)
    }

    /// The bit set of the pieces (protocols × destination ports, with
    /// [`NO_PORT`] for protocols without ports).
    pub fn bits(&self, pieces: &[(Ranges, Ranges)]) -> Vec<u64> {
        let mut out = vec![0u64; self.words];
        for (p, d) in pieces {
            for &pr in p.ranges() {
                let (p0, p1) = Atoms::span(&self.protos, pr);
                for a in p0..=p1 {
                    if !self.ported[a] {
                        if d.contains(NO_PORT) {
                            set(&mut out, self.offset[a], self.offset[a]);
                        }
                        continue;
                    }
                    for &(lo, hi) in d.ranges() {
                        if lo > 65535 {
                            continue;
                        }
                        let (d0, d1) = Atoms::span(&self.ports, (lo, hi.min(65535)));
                        set(&mut out, self.offset[a] + d0, self.offset[a] + d1);
                    }
                }
            }
        }
        out
    }

    /// The set a bit set stands for.
    pub fn allowed(&self, bits: &[u64]) -> Allowed {
        let mut pieces = Vec::new();
        for (a, &start) in self.protos.iter().enumerate() {
            let end = self.protos.get(a + 1).map_or(255, |&n| n - 1);
            let protos = Ranges::one(start, end);
            let base = self.offset[a];
            if !self.ported[a] {
                if get(bits, base) {
                    pieces.push((protos, Ranges::value(NO_PORT)));
                }
                continue;
            }
            let n = self.ports.len();
            let ranges: Vec<Range> = runs(bits, base, base + n)
                .into_iter()
                .map(|(k0, k1)| {
                    let e = self.ports.get(k1 - base + 1).map_or(65535, |&x| x - 1);
                    (self.ports[k0 - base], e)
                })
                .collect();
            if !ranges.is_empty() {
                pieces.push((protos, Ranges::new(ranges)));
            }
        }
        Allowed::from_pieces(&pieces)
    }
}

/// Set bits `lo..=hi`.
fn set(bits: &mut [u64], lo: usize, hi: usize) {
    for b in lo..=hi {
        bits[b / 64] |= 1 << (b % 64);
    }
}

/// Whether bit `b` is set.
fn get(bits: &[u64], b: usize) -> bool {
    bits[b / 64] >> (b % 64) & 1 == 1
}

/// The runs of set bits in `lo..hi`, as inclusive bit ranges, skipping
/// empty words.
fn runs(bits: &[u64], lo: usize, hi: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut b = lo;
    while b < hi {
        let w = bits[b / 64] >> (b % 64);
        if w == 0 {
            b = (b / 64 + 1) * 64;
            continue;
        }
        let at = b + w.trailing_zeros() as usize;
        if at >= hi {
            break;
        }
        let len = ((bits[at / 64] >> (at % 64)).trailing_ones() as usize).min(64 - at % 64);
        let end = (at + len).min(hi);
        match out.last_mut() {
            Some(last) if last.1 + 1 == at => last.1 = end - 1,
            _ => out.push((at, end - 1)),
        }
        b = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn piece() -> impl Strategy<Value = (Ranges, Ranges)> {
        let proto = prop_oneof![
            Just((6u128, 6u128)),
            Just((17, 17)),
            Just((6, 17)),
            (0u128..256, 0u128..4).prop_map(|(a, l)| (a, (a + l).min(255)))
        ];
        let port = prop_oneof![
            (0u128..65536, 0u128..300).prop_map(|(a, l)| (a, (a + l).min(65535))),
            Just((0, 65535))
        ];
        (proto, prop::collection::vec(port, 1..3)).prop_map(|((plo, phi), ports)| {
            let p = Ranges::one(plo, phi);
            let ported = Ranges::new(vec![(6, 6), (17, 17)]);
            // Ported protocols take port ranges, the others NO_PORT, as
            // the packet universe has them.
            let d = if p.within(&ported) {
                Ranges::new(ports)
            } else {
                Ranges::value(NO_PORT)
            };
            (
                if p.within(&ported) || !p.meets(&ported) {
                    p
                } else {
                    p.subtract(&ported)
                },
                d,
            )
        })
    }

    proptest! {
        #[test]
        fn bit_sets_stand_for_the_same_points(pieces in prop::collection::vec(piece(), 0..6), more in prop::collection::vec(piece(), 0..6)) {
            let all: Vec<(Ranges, Ranges)> = pieces.iter().chain(&more).cloned().collect();
            let atoms = Atoms::new(all.iter().map(|x| &x.0), all.iter().map(|x| &x.1));
            prop_assert_eq!(atoms.allowed(&atoms.bits(&pieces)), Allowed::from_pieces(&pieces));
            let mut or = atoms.bits(&pieces);
            for (a, b) in or.iter_mut().zip(atoms.bits(&more)) {
                *a |= b;
            }
            prop_assert_eq!(atoms.allowed(&or), Allowed::from_pieces(&all));
        }
    }
}

//! Sets of packets as unions of disjoint cubes. A cube is the cross
//! product of five lists of ranges, one per header field (source,
//! destination, protocol, source port, destination port), in one address
//! family; a [`Region`] is a list of cubes that never overlap.
//!
//! Subtracting cube `b` from cube `a` cuts `a` field by field: the part of
//! `a` outside `b` in the source field, then (inside `b` there) the part
//! outside it in the destination field, and so on, so the result is at most
//! five disjoint cubes. NSG rules are themselves such cubes (a rule's
//! prefixes, tags and ASGs are one list per side), so a rule is one cube
//! per family and a priority walk cuts few pieces.

use nsg_policy::prefix::Family;
use std::sync::Arc;

/// An inclusive range of field values.
pub type Range = (u128, u128);

/// Field positions in a cube.
pub const SRC: usize = 0;
/// Destination address.
pub const DST: usize = 1;
/// IP protocol number.
pub const PROTO: usize = 2;
/// Source port ([`NO_PORT`] for a packet without ports).
pub const SPORT: usize = 3;
/// Destination port ([`NO_PORT`] for a packet without ports).
pub const DPORT: usize = 4;

/// The port value of packets that carry none (protocols other than TCP
/// and UDP), as the compiled matcher looks them up.
pub const NO_PORT: u128 = nsg_classify::NO_PORT as u128;

/// A sorted list of disjoint, non-adjacent inclusive ranges. Shared, not
/// copied, between the cubes cut from one another: a field a cut leaves
/// alone costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ranges(Arc<[Range]>);

impl Default for Ranges {
    fn default() -> Ranges {
        Ranges(Arc::from(Vec::new()))
    }
}

impl Ranges {
    /// The union of `v`, sorted and merged.
    pub fn new(mut v: Vec<Range>) -> Ranges {
        v.retain(|r| r.0 <= r.1);
        v.sort_unstable();
        let mut out: Vec<Range> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out.into())
    }

    /// One range.
    pub fn one(lo: u128, hi: u128) -> Ranges {
        Ranges::new(vec![(lo, hi)])
    }

    /// One value.
    pub fn value(v: u128) -> Ranges {
        Ranges(Arc::from([(v, v)]))
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[Range] {
        &self.0
    }

    /// Whether no value is in the list.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `v` is in the list.
    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|r| r.1 < v);
        i < self.0.len() && self.0[i].0 <= v
    }

    /// The smallest value in the list.
    pub fn first(&self) -> Option<u128> {
        self.0.first().map(|r| r.0)
    }

    /// Whether one range holds every value of `o`.
    fn spans(&self, o: &Ranges) -> bool {
        match (&self.0[..], o.0.first(), o.0.last()) {
            ([(lo, hi)], Some(first), Some(last)) => *lo <= first.0 && last.1 <= *hi,
            _ => false,
        }
    }

    /// Values in both lists.
    pub fn intersect(&self, o: &Ranges) -> Ranges {
        if o.spans(self) {
            return self.clone();
        }
        if self.spans(o) {
            return o.clone();
        }
        let (a, b) = (&self.0, &o.0);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < a.len() && j < b.len() {
            let lo = a[i].0.max(b[j].0);
            let hi = a[i].1.min(b[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out.into())
    }

    /// Whether the two lists share a value.
    pub fn meets(&self, o: &Ranges) -> bool {
        if let ([x], [y]) = (&self.0[..], &o.0[..]) {
            return x.0 <= y.1 && y.0 <= x.1;
        }
        let (a, b) = (&self.0, &o.0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            if a[i].0.max(b[j].0) <= a[i].1.min(b[j].1) {
                return true;
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    /// Whether every value of `self` is in `o`.
    pub fn within(&self, o: &Ranges) -> bool {
        self.subtract(o).is_empty()
    }

    /// Values of `self` not in `o`.
    pub fn subtract(&self, o: &Ranges) -> Ranges {
        if o.spans(self) {
            return Ranges::default();
        }
        if !self.meets(o) {
            return self.clone();
        }
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in self.0.iter() {
            let mut lo = lo;
            while j < o.0.len() && o.0[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            let mut done = false;
            while k < o.0.len() && o.0[k].0 <= hi {
                let (blo, bhi) = o.0[k];
                if blo > lo {
                    out.push((lo, blo - 1));
                }
                if bhi >= hi {
                    done = true;
                    break;
                }
                lo = bhi + 1;
                k += 1;
            }
            if !done {
                out.push((lo, hi));
            }
        }
        Ranges(out.into())
    }

    /// Values in either list.
    pub fn union(&self, o: &Ranges) -> Ranges {
        let mut v = self.0.to_vec();
        v.extend_from_slice(&o.0);
        Ranges::new(v)
    }
}

/// The cross product of one list of ranges per field, in one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cube {
    /// The address family of both address fields.
    pub fam: Family,
    /// The fields: [`SRC`], [`DST`], [`PROTO`], [`SPORT`], [`DPORT`].
    pub f: [Ranges; 5],
}

impl Cube {
    /// Whether the cube holds no packet.
    pub fn is_empty(&self) -> bool {
        self.f.iter().any(Ranges::is_empty)
    }

    /// The packets in both cubes, if any.
    pub fn intersect(&self, o: &Cube) -> Option<Cube> {
        if self.fam != o.fam {
            return None;
        }
        let mut f: [Ranges; 5] = Default::default();
        for (i, x) in f.iter_mut().enumerate() {
            *x = self.f[i].intersect(&o.f[i]);
            if x.is_empty() {
                return None;
            }
        }
        Some(Cube { fam: self.fam, f })
    }

    /// Whether the cubes share a packet. The fields are tried in the
    /// order that rules most often tell apart: destination port and
    /// protocol first.
    pub fn meets(&self, o: &Cube) -> bool {
        self.fam == o.fam
            && [DPORT, PROTO, SRC, DST, SPORT]
                .iter()
                .all(|&i| self.f[i].meets(&o.f[i]))
    }

    /// Whether every packet of `self` is in `o`.
    pub fn within(&self, o: &Cube) -> bool {
        self.fam == o.fam && (0..5).all(|i| self.f[i].within(&o.f[i]))
    }

    /// The packets of `self` not in `o`, as disjoint cubes (at most five).
    pub fn subtract(&self, o: &Cube) -> Vec<Cube> {
        if !self.meets(o) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut rest = self.clone();
        for i in 0..5 {
            let outside = rest.f[i].subtract(&o.f[i]);
            if !outside.is_empty() {
                let mut c = rest.clone();
                c.f[i] = outside;
                out.push(c);
            }
            rest.f[i] = rest.f[i].intersect(&o.f[i]);
        }
        out
    }

    /// One packet of the cube (the smallest value of each field).
    pub fn sample(&self) -> Option<[u128; 5]> {
        let mut p = [0u128; 5];
        for (x, f) in p.iter_mut().zip(&self.f) {
            *x = f.first()?;
        }
        Some(p)
    }

    /// Whether the cube holds the packet `p`.
    pub fn contains(&self, fam: Family, p: &[u128; 5]) -> bool {
        self.fam == fam && (0..5).all(|i| self.f[i].contains(p[i]))
    }
}

/// A union of disjoint cubes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Region {
    /// The cubes; no two overlap.
    pub cubes: Vec<Cube>,
}

impl Region {
    /// No packet.
    pub fn empty() -> Region {
        Region::default()
    }

    /// The packets of one cube.
    pub fn of(c: Cube) -> Region {
        let cubes = if c.is_empty() { Vec::new() } else { vec![c] };
        Region { cubes }
    }

    /// Whether the region holds no packet.
    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }

    /// The packets of the region inside `c`.
    pub fn intersect_cube(&self, c: &Cube) -> Region {
        Region {
            cubes: self.cubes.iter().filter_map(|x| x.intersect(c)).collect(),
        }
    }

    /// The packets of both regions.
    pub fn intersect(&self, o: &Region) -> Region {
        let mut cubes = Vec::new();
        for a in &self.cubes {
            for b in &o.cubes {
                if let Some(c) = a.intersect(b) {
                    cubes.push(c);
                }
            }
        }
        Region { cubes }
    }

    /// The packets of the region outside `c`.
    pub fn subtract_cube(&self, c: &Cube) -> Region {
        let mut cubes = Vec::with_capacity(self.cubes.len());
        for x in &self.cubes {
            if x.meets(c) {
                cubes.extend(x.subtract(c));
            } else {
                cubes.push(x.clone());
            }
        }
        Region { cubes }
    }

    /// The packets of the region outside `o`.
    pub fn subtract(&self, o: &Region) -> Region {
        let mut r = self.clone();
        for c in &o.cubes {
            if r.is_empty() {
                break;
            }
            r = r.subtract_cube(c);
        }
        r
    }

    /// Whether the region shares a packet with `c`.
    pub fn meets_cube(&self, c: &Cube) -> bool {
        self.cubes.iter().any(|x| x.meets(c))
    }

    /// Add the cubes of `o`, which must not overlap the region's.
    pub fn extend_disjoint(&mut self, o: Region) {
        self.cubes.extend(o.cubes);
    }

    /// Whether the region holds the packet `p` of family `fam`.
    pub fn contains(&self, fam: Family, p: &[u128; 5]) -> bool {
        self.cubes.iter().any(|c| c.contains(fam, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small_ranges() -> impl Strategy<Value = Ranges> {
        prop::collection::vec((0u128..20, 0u128..6), 0..4)
            .prop_map(|v| Ranges::new(v.into_iter().map(|(a, l)| (a, a + l)).collect()))
    }

    fn cube() -> impl Strategy<Value = Cube> {
        prop::array::uniform5(small_ranges()).prop_map(|f| Cube { fam: Family::V4, f })
    }

    proptest! {
        #[test]
        fn range_lists_agree_with_sets(a in small_ranges(), b in small_ranges()) {
            for v in 0..30u128 {
                prop_assert_eq!(a.intersect(&b).contains(v), a.contains(v) && b.contains(v));
                prop_assert_eq!(a.subtract(&b).contains(v), a.contains(v) && !b.contains(v));
                prop_assert_eq!(a.union(&b).contains(v), a.contains(v) || b.contains(v));
            }
            prop_assert_eq!(a.meets(&b), !a.intersect(&b).is_empty());
        }

        #[test]
        fn cube_subtraction_is_exact_and_disjoint(a in cube(), b in cube(), pts in prop::collection::vec(prop::array::uniform5(0u128..30), 64)) {
            let parts = a.subtract(&b);
            for p in &pts {
                let n = parts.iter().filter(|c| c.contains(Family::V4, p)).count();
                let want = a.contains(Family::V4, p) && !b.contains(Family::V4, p);
                prop_assert_eq!(n, usize::from(want));
            }
            prop_assert!(parts.len() <= 5);
        }
    }

    #[test]
    fn subtracting_a_hole_leaves_the_rim() {
        let a = Ranges::one(0, 10);
        assert_eq!(a.subtract(&Ranges::one(3, 4)).ranges(), [(0, 2), (5, 10)]);
        assert_eq!(a.subtract(&Ranges::one(0, 10)).ranges(), []);
        let top = Ranges::one(u128::MAX - 1, u128::MAX);
        assert_eq!(
            top.subtract(&Ranges::value(u128::MAX)).ranges(),
            [(u128::MAX - 1, u128::MAX - 1)]
        );
    }
}

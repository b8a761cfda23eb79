//! Merging boxes: two boxes with the same label that differ in one field
//! only become one box holding the union of that field, repeated until no
//! two boxes merge. The boxes stand for the same points; boxes that were
//! disjoint stay disjoint (the union of two disjoint boxes meets no box
//! that neither met). `diff` merges its boxes (cubes, labelled with their
//! verdicts and family), `reach` the projections of a side
//! (protocol, source port, destination port).

use crate::space::{Cube, Ranges};
use std::collections::HashMap;
use std::hash::Hash;

/// Merge labelled boxes of `N` fields until nothing merges. Boxes keep
/// the order of the first box of each merged group.
pub fn merge_fields<L: Hash + Eq + Clone, const N: usize>(
    mut boxes: Vec<(L, [Ranges; N])>,
) -> Vec<(L, [Ranges; N])> {
    loop {
        let mut changed = false;
        for k in 0..N {
            let (merged, any) = merge_field(boxes, k);
            boxes = merged;
            changed |= any;
        }
        if !changed {
            return boxes;
        }
    }
}

/// [`merge_fields`] over labelled cubes: only cubes of one family merge.
pub fn merge<L: Hash + Eq + Clone>(boxes: Vec<(L, Cube)>) -> Vec<(L, Cube)> {
    let fields = boxes.into_iter().map(|(l, c)| ((l, c.fam), c.f)).collect();
    merge_fields(fields)
        .into_iter()
        .map(|((l, fam), f)| (l, Cube { fam, f }))
        .collect()
}

/// One pass over field `k`: boxes with the same label and the same other
/// fields become one. Answers the boxes and whether any merged.
fn merge_field<L: Hash + Eq + Clone, const N: usize>(
    boxes: Vec<(L, [Ranges; N])>,
    k: usize,
) -> (Vec<(L, [Ranges; N])>, bool) {
    let mut seen: HashMap<(L, [Ranges; N]), usize> = HashMap::with_capacity(boxes.len());
    let mut out: Vec<(L, [Ranges; N])> = Vec::with_capacity(boxes.len());
    let mut any = false;
    for (l, f) in boxes {
        let mut key = f.clone();
        key[k] = Ranges::default();
        let key = (l, key);
        if let Some(&i) = seen.get(&key) {
            let union = out[i].1[k].union(&f[k]);
            out[i].1[k] = union;
            any = true;
        } else {
            seen.insert(key.clone(), out.len());
            out.push((key.0, f));
        }
    }
    (out, any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_policy::prefix::Family;

    fn cube(f: [(u128, u128); 5]) -> Cube {
        Cube {
            fam: Family::V4,
            f: f.map(|(a, b)| Ranges::one(a, b)),
        }
    }

    #[test]
    fn boxes_differing_in_one_field_merge_and_others_do_not() {
        let a = cube([(0, 9), (5, 5), (6, 6), (0, 9), (22, 22)]);
        let b = cube([(0, 9), (5, 5), (6, 6), (0, 9), (23, 30)]);
        let c = cube([(10, 19), (5, 5), (6, 6), (0, 9), (22, 30)]);
        let d = cube([(10, 19), (6, 6), (6, 6), (0, 9), (0, 0)]);
        let out = merge(vec![(1, a), (1, b), (1, c), (2, d.clone())]);
        assert_eq!(
            out,
            vec![
                (1, cube([(0, 19), (5, 5), (6, 6), (0, 9), (22, 30)])),
                (2, d)
            ]
        );
    }

    #[test]
    fn different_labels_never_merge() {
        let a = cube([(0, 9), (5, 5), (6, 6), (0, 9), (22, 22)]);
        let b = cube([(10, 19), (5, 5), (6, 6), (0, 9), (22, 22)]);
        assert_eq!(
            merge(vec![(1, a.clone()), (2, b.clone())]),
            vec![(1, a), (2, b)]
        );
    }
}

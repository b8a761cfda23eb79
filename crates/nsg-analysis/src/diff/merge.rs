//! Merging boxes: two boxes with the same label that differ in one field
//! only become one box holding the union of that field, repeated until no
//! two boxes merge. Boxes that were disjoint stay disjoint: the union of
//! two disjoint boxes meets no box that neither met.

use crate::space::{Cube, Ranges};
use std::collections::HashMap;
use std::hash::Hash;

/// Merge `boxes` (disjoint) field by field until nothing merges. Boxes
/// keep the order of the first box of each merged group.
pub fn merge<L: Hash + Eq + Clone>(mut boxes: Vec<(L, Cube)>) -> Vec<(L, Cube)> {
    loop {
        let mut changed = false;
        for k in 0..5 {
            let (merged, any) = merge_field(boxes, k);
            boxes = merged;
            changed |= any;
        }
        if !changed {
            return boxes;
        }
    }
}

/// One pass over field `k`: boxes with the same label and the same other
/// four fields become one. Answers the boxes and whether any merged.
fn merge_field<L: Hash + Eq + Clone>(boxes: Vec<(L, Cube)>, k: usize) -> (Vec<(L, Cube)>, bool) {
    let mut seen: HashMap<(L, Cube), usize> = HashMap::with_capacity(boxes.len());
    let mut out: Vec<(L, Cube)> = Vec::with_capacity(boxes.len());
    let mut any = false;
    for (l, c) in boxes {
        let mut key = c.clone();
        key.f[k] = Ranges::default();
        let key = (l, key);
        if let Some(&i) = seen.get(&key) {
            let union = out[i].1.f[k].union(&c.f[k]);
            out[i].1.f[k] = union;
            any = true;
        } else {
            seen.insert(key.clone(), out.len());
            out.push((key.0, c));
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

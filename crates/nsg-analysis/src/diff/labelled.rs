//! [`decide`](crate::decide::decide) over labelled cubes: each piece keeps
//! the label it came with, so the packets of one policy's pieces can be cut
//! further by another policy's layers without pairing every piece of one
//! with every piece of the other.

use crate::decide::{bypassed, Compiled};
use crate::space::{Cube, Ranges, DST};
use nsg_policy::eval::{Decider, RuleRef};
use nsg_policy::model::{Access, Direction, NicId, Policy};
use nsg_policy::prefix::Family;

/// A labelled piece with the verdict and deciding rule the evaluator gives
/// every packet inside it.
pub type Decided<T> = (Cube, T, Access, Decider);

/// The packets of `pieces` (packets at `nic` in `dir`, disjoint) cut by
/// `policy`'s platform services and layers, each part keeping its piece's
/// label, with the verdict and deciding rule as `decide` gives them.
pub fn decide_labelled<T: Clone>(
    policy: &Policy,
    compiled: &mut Compiled,
    nic: NicId,
    dir: Direction,
    pieces: Vec<(Cube, T)>,
) -> Vec<Decided<T>> {
    let mut out = Vec::new();
    let mut rest = pieces;
    for (p, ip) in bypassed(policy, nic, dir) {
        let hit = platform_cube(ip);
        let mut next = Vec::with_capacity(rest.len());
        for (c, t) in rest {
            if !c.meets(&hit) {
                next.push((c, t));
                continue;
            }
            if let Some(x) = c.intersect(&hit) {
                out.push((x, t.clone(), Access::Allow, Decider::Platform(p)));
            }
            next.extend(c.subtract(&hit).into_iter().map(|s| (s, t.clone())));
        }
        rest = next;
    }
    let layers = policy.layers(nic, dir);
    if layers.is_empty() {
        out.extend(
            rest.into_iter()
                .map(|(c, t)| (c, t, Access::Allow, Decider::NoNsg)),
        );
        return out;
    }
    let vnet = policy.nic_vnet(nic);
    let mut pieces: Vec<(Cube, (T, Option<RuleRef>))> =
        rest.into_iter().map(|(c, t)| (c, (t, None))).collect();
    for (_, g) in layers {
        let cubes = compiled.nsg(policy, g, dir, vnet);
        let mut next = Vec::with_capacity(pieces.len());
        for (c, (t, _), i) in cubes.first_matches(pieces) {
            let rule = RuleRef {
                nsg: g,
                direction: dir,
                index: i,
            };
            match cubes.access[i] {
                Access::Deny => out.push((c, t, Access::Deny, Decider::Rule(rule))),
                Access::Allow => next.push((c, (t, Some(rule)))),
            }
        }
        pieces = next;
    }
    for (c, (t, rule)) in pieces {
        // Every piece left went through at least one layer, which allowed it.
        if let Some(rule) = rule {
            out.push((c, t, Access::Allow, Decider::Rule(rule)));
        }
    }
    out
}

/// Every IPv4 packet to the platform service at `ip`.
fn platform_cube(ip: u128) -> Cube {
    let mut f: [Ranges; 5] = Default::default();
    for (i, x) in f.iter_mut().enumerate() {
        *x = if i == DST {
            Ranges::value(ip)
        } else {
            Ranges::one(0, u128::MAX)
        };
    }
    Cube { fam: Family::V4, f }
}

//! A [`Diff`] as JSON (the shape `nsg diff --json` prints) and as text.

use super::{Change, Diff};
use crate::space::{Range, Ranges, DPORT, DST, NO_PORT, PROTO, SPORT, SRC};
use nsg_policy::prefix::Family;
use serde_json::{json, Value};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address at `v` in `fam`.
fn addr(fam: Family, v: u128) -> IpAddr {
    match fam {
        Family::V4 => Ipv4Addr::from(v as u32).into(),
        Family::V6 => Ipv6Addr::from(v).into(),
    }
}

/// Address width of `fam` in bits.
fn bits(fam: Family) -> u32 {
    match fam {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

/// The fewest prefixes covering the range `(lo, hi)` of `fam`, as
/// `(address, length)`.
fn prefixes(fam: Family, (mut lo, hi): Range) -> Vec<(u128, u32)> {
    let w = bits(fam);
    let mut out = Vec::new();
    while lo <= hi {
        // The largest aligned block at `lo` that ends at or before `hi`.
        let mut k = if lo == 0 {
            w
        } else {
            lo.trailing_zeros().min(w)
        };
        let size_mask = |k: u32| {
            if k >= 128 {
                u128::MAX
            } else {
                (1u128 << k) - 1
            }
        };
        while size_mask(k) > hi - lo {
            k -= 1;
        }
        out.push((lo, w - k));
        match lo.checked_add(size_mask(k)).and_then(|e| e.checked_add(1)) {
            Some(next) => lo = next,
            None => break,
        }
    }
    out
}

/// An address list as the fewest CIDR prefixes (`10.0.1.4/32`).
pub fn cidrs(fam: Family, r: &Ranges) -> Vec<String> {
    r.ranges()
        .iter()
        .flat_map(|&range| prefixes(fam, range))
        .map(|(a, len)| format!("{}/{len}", addr(fam, a)))
        .collect()
}

/// A protocol or port list as numbers and ranges (`"6"`, `"0-5"`).
pub fn numbers(r: &Ranges) -> Vec<String> {
    r.ranges()
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect()
}

/// Whether a box holds packets without ports (its ports are [`NO_PORT`]).
fn portless(c: &Change) -> bool {
    c.cube.f[SPORT].ranges() == [(NO_PORT, NO_PORT)]
}

/// One box as JSON.
pub fn change_json(c: &Change) -> Value {
    let fam = c.cube.fam;
    let ports = |i: usize| {
        if portless(c) {
            Value::Null
        } else {
            json!(numbers(&c.cube.f[i]))
        }
    };
    json!({
        "nic": c.nic,
        "direction": c.direction.name(),
        "from": c.from.name(),
        "to": c.to.name(),
        "old_rule": c.old_rule,
        "new_rule": c.new_rule,
        "source": cidrs(fam, &c.cube.f[SRC]),
        "destination": cidrs(fam, &c.cube.f[DST]),
        "protocols": numbers(&c.cube.f[PROTO]),
        "source_ports": ports(SPORT),
        "destination_ports": ports(DPORT),
    })
}

/// The whole answer as JSON: `{"changes":[…],"nics_only_in_old":[…],"nics_only_in_new":[…]}`.
pub fn to_json(d: &Diff) -> Value {
    json!({
        "changes": d.changes.iter().map(change_json).collect::<Vec<_>>(),
        "nics_only_in_old": d.nics_only_in_old,
        "nics_only_in_new": d.nics_only_in_new,
    })
}

/// An address list for reading: `*` for every address of the family,
/// otherwise each range as one prefix where it is one, else `lo-hi`.
fn addresses_text(fam: Family, r: &Ranges) -> String {
    if r.ranges() == [(0, fam.max())] {
        return "*".into();
    }
    let parts: Vec<String> = r
        .ranges()
        .iter()
        .map(|&(lo, hi)| match prefixes(fam, (lo, hi)).as_slice() {
            [(a, len)] => format!("{}/{len}", addr(fam, *a)),
            _ => format!("{}-{}", addr(fam, lo), addr(fam, hi)),
        })
        .collect();
    parts.join(",")
}

/// A port list for reading: `*` for every port.
fn ports_text(r: &Ranges) -> String {
    if r.ranges() == [(0, 65535)] {
        "*".into()
    } else {
        numbers(r).join(",")
    }
}

/// A protocol list for reading, with the common ones named.
fn protocols_text(r: &Ranges) -> String {
    let name = |v: u128| match v {
        1 => "icmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        58 => "icmpv6".to_string(),
        _ => v.to_string(),
    };
    let parts: Vec<String> = r
        .ranges()
        .iter()
        .map(|&(lo, hi)| match hi - lo {
            0 => name(lo),
            1 => format!("{},{}", name(lo), name(hi)),
            _ => format!("{lo}-{hi}"),
        })
        .collect();
    parts.join(",")
}

/// One box as a line.
fn change_line(c: &Change) -> String {
    let f = &c.cube.f;
    let rule = |r: &Option<String>| r.clone().unwrap_or_else(|| "(no NSG)".into());
    let mut s = format!(
        "  {} -> {}  {}  src {}",
        c.from.name(),
        c.to.name(),
        protocols_text(&f[PROTO]),
        addresses_text(c.cube.fam, &f[SRC]),
    );
    if !portless(c) {
        let _ = write!(s, " sport {}", ports_text(&f[SPORT]));
    }
    let _ = write!(s, "  dst {}", addresses_text(c.cube.fam, &f[DST]));
    if !portless(c) {
        let _ = write!(s, " dport {}", ports_text(&f[DPORT]));
    }
    let _ = write!(s, "  ({} -> {})", rule(&c.old_rule), rule(&c.new_rule));
    s
}

/// The whole answer as text: one block per NIC and direction, one line per
/// box; the NICs only one version has; addresses only one version gives a
/// NIC. "no change" when no verdict changes and the NICs are the same.
pub fn to_text(d: &Diff) -> String {
    let mut s = String::new();
    let mut block: Option<(&str, &str)> = None;
    for c in &d.changes {
        let head = (c.nic.as_str(), c.direction.name());
        if block != Some(head) {
            let n = d
                .changes
                .iter()
                .filter(|x| x.nic == c.nic && x.direction == c.direction)
                .count();
            let _ = writeln!(s, "{} {}: {n} box(es)", head.0, head.1);
            block = Some(head);
        }
        let _ = writeln!(s, "{}", change_line(c));
    }
    for (what, nics) in [("old", &d.nics_only_in_old), ("new", &d.nics_only_in_new)] {
        for n in nics.iter() {
            let allows = what == "new" && d.new_nics_allowing.contains(n);
            let extra = if allows { " (allows some traffic)" } else { "" };
            let _ = writeln!(s, "{n}: only in {}{extra}", what.to_uppercase());
        }
    }
    if d.is_empty() {
        s.push_str("no change\n");
    }
    for a in &d.address_notes {
        let list = |v: &[IpAddr]| {
            v.iter()
                .map(|ip| ip.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            s,
            "note: {}: packets to or from addresses in one version only are not compared",
            a.nic
        );
        if !a.only_in_old.is_empty() {
            let _ = write!(s, "; only in OLD: {}", list(&a.only_in_old));
        }
        if !a.only_in_new.is_empty() {
            let _ = write!(s, "; only in NEW: {}", list(&a.only_in_new));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        u32::from(s.parse::<Ipv4Addr>().unwrap()) as u128
    }

    #[test]
    fn ranges_are_covered_by_the_fewest_prefixes() {
        let r = Ranges::one(v4("10.0.0.1"), v4("10.0.0.6"));
        assert_eq!(
            cidrs(Family::V4, &r),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            cidrs(Family::V4, &Ranges::one(0, u32::MAX as u128)),
            ["0.0.0.0/0"]
        );
        assert_eq!(cidrs(Family::V6, &Ranges::one(0, u128::MAX)), ["::/0"]);
        let top = Ranges::one(u128::MAX - 1, u128::MAX);
        assert_eq!(
            cidrs(Family::V6, &top),
            ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"]
        );
        let split = Ranges::one(v4("10.0.0.0"), v4("10.0.2.255"));
        assert_eq!(cidrs(Family::V4, &split), ["10.0.0.0/23", "10.0.2.0/24"]);
    }

    #[test]
    fn numbers_are_values_or_ranges() {
        let r = Ranges::new(vec![(0, 5), (6, 6), (17, 17)]);
        assert_eq!(numbers(&r), ["0-6", "17"]);
        assert_eq!(numbers(&Ranges::value(22)), ["22"]);
    }
}

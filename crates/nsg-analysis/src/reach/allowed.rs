//! What one reach cell allows: a set of (protocol, destination port)
//! points, kept in one canonical form so that equal sets compare equal.

use crate::space::{Range, Ranges, NO_PORT};
use std::collections::HashMap;

/// Every port of TCP and UDP.
const ALL_PORTS: Range = (0, 65535);

/// Every protocol but TCP and UDP: those without ports.
const PORTLESS: [Range; 3] = [(0, 5), (7, 16), (18, 255)];

/// Protocols that share one destination port list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    /// The protocol numbers.
    pub protocols: Ranges,
    /// Their destination ports; `None` for protocols without ports.
    pub destination_ports: Option<Ranges>,
}

/// A set of (protocol, destination port) points: groups of protocols with
/// their common destination port list. Canonical: each protocol is in at
/// most one group, no two groups have the same port list, TCP/UDP groups
/// (with ports) come first, then the portless one, each ordered by its
/// first protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Allowed {
    groups: Vec<Group>,
}

/// How much of everything a cell allows, for colours and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Nothing.
    None,
    /// Some protocols or ports.
    Some,
    /// Every protocol, and every port of TCP and UDP.
    All,
}

impl Allowed {
    /// Nothing allowed.
    pub fn none() -> Allowed {
        Allowed::default()
    }

    /// The union of pieces, each the cross product of protocols and
    /// destination ports ([`NO_PORT`] for protocols without ports).
    pub fn from_pieces(pieces: &[(Ranges, Ranges)]) -> Allowed {
        let mut cuts: Vec<u128> = Vec::with_capacity(pieces.len() * 2);
        for (p, _) in pieces {
            for &(lo, hi) in p.ranges() {
                cuts.push(lo);
                cuts.push(hi.saturating_add(1));
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        // Per elementary protocol interval, the union of the ports of the
        // pieces that cover it.
        let mut by_ports: HashMap<Ranges, Vec<Range>> = HashMap::new();
        let mut ports: Vec<Range> = Vec::new();
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            ports.clear();
            for (p, d) in pieces {
                if p.contains(lo) {
                    ports.extend_from_slice(d.ranges());
                }
            }
            if !ports.is_empty() {
                by_ports
                    .entry(Ranges::new(ports.clone()))
                    .or_default()
                    .push((lo, hi));
            }
        }
        Allowed::from_map(by_ports)
    }

    /// Groups from port list -> protocol ranges, splitting a list that
    /// mixes real ports with [`NO_PORT`] (it cannot, for cubes inside the
    /// universe; kept exact anyway).
    fn from_map(by_ports: HashMap<Ranges, Vec<Range>>) -> Allowed {
        let mut merged: HashMap<Option<Ranges>, Vec<Range>> = HashMap::new();
        for (ports, protos) in by_ports {
            let real = ports.intersect(&Ranges::one(ALL_PORTS.0, ALL_PORTS.1));
            if !real.is_empty() {
                merged.entry(Some(real)).or_default().extend(&protos);
            }
            if ports.contains(NO_PORT) {
                merged.entry(None).or_default().extend(&protos);
            }
        }
        let mut groups: Vec<Group> = merged
            .into_iter()
            .map(|(destination_ports, protos)| Group {
                protocols: Ranges::new(protos),
                destination_ports,
            })
            .collect();
        groups.sort_by_key(|g| (g.destination_ports.is_none(), g.protocols.first()));
        Allowed { groups }
    }

    /// The union of two sets.
    pub fn union(&self, o: &Allowed) -> Allowed {
        if self.groups.is_empty() {
            return o.clone();
        }
        if o.groups.is_empty() || self == o {
            return self.clone();
        }
        Allowed::from_pieces(&[self.pieces(), o.pieces()].concat())
    }

    /// The union of many sets, in one pass.
    pub fn union_all<'a>(sets: impl Iterator<Item = &'a Allowed>) -> Allowed {
        let mut first: Option<&Allowed> = None;
        let mut pieces = Vec::new();
        let mut many = false;
        for s in sets.filter(|s| !s.is_empty()) {
            match first {
                None => first = Some(s),
                Some(f) if f == s => {}
                Some(_) => many = true,
            }
            pieces.extend(s.pieces());
        }
        match (first, many) {
            (None, _) => Allowed::none(),
            (Some(f), false) => f.clone(),
            (Some(_), true) => Allowed::from_pieces(&pieces),
        }
    }

    /// The set as (protocols, ports) pieces, [`NO_PORT`] for portless.
    fn pieces(&self) -> Vec<(Ranges, Ranges)> {
        self.groups
            .iter()
            .map(|g| {
                let d = g
                    .destination_ports
                    .clone()
                    .unwrap_or_else(|| Ranges::value(NO_PORT));
                (g.protocols.clone(), d)
            })
            .collect()
    }

    /// The groups, canonical.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `proto` to destination port `port` (`None` for a protocol
    /// without ports) is allowed.
    pub fn contains(&self, proto: u8, port: Option<u16>) -> bool {
        let port = port.map_or(NO_PORT, u128::from);
        self.groups.iter().any(|g| {
            g.protocols.contains(u128::from(proto))
                && match &g.destination_ports {
                    Some(d) => d.contains(port),
                    None => port == NO_PORT,
                }
        })
    }

    /// How much is open: nothing, some, or every protocol and port.
    pub fn level(&self) -> Level {
        if self.groups.is_empty() {
            return Level::None;
        }
        let everything = Allowed::from_pieces(&[
            (
                Ranges::new(vec![(6, 6), (17, 17)]),
                Ranges::one(ALL_PORTS.0, ALL_PORTS.1),
            ),
            (Ranges::new(PORTLESS.to_vec()), Ranges::value(NO_PORT)),
        ]);
        if *self == everything {
            Level::All
        } else {
            Level::Some
        }
    }

    /// A short summary: `-` for nothing, `all` for everything, otherwise
    /// groups such as `tcp:80,443 udp:53 icmp` (`tcp:*` every port,
    /// `other` every protocol but TCP and UDP).
    pub fn summary(&self) -> String {
        match self.level() {
            Level::None => "-".to_string(),
            Level::All => "all".to_string(),
            Level::Some => self
                .groups
                .iter()
                .map(|g| {
                    let protos = g
                        .protocols
                        .ranges()
                        .iter()
                        .map(|&r| proto_name(r))
                        .collect::<Vec<_>>()
                        .join("/");
                    match &g.destination_ports {
                        None if g.protocols.ranges() == PORTLESS => "other".to_string(),
                        None => protos,
                        Some(d) if d.ranges() == [ALL_PORTS] => format!("{protos}:*"),
                        Some(d) => format!("{protos}:{}", strings(d).join(",")),
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// A protocol range by name where it has a common one.
fn proto_name(r: Range) -> String {
    match r {
        (6, 6) => "tcp".to_string(),
        (17, 17) => "udp".to_string(),
        (1, 1) => "icmp".to_string(),
        (58, 58) => "icmpv6".to_string(),
        (lo, hi) => range_string((lo, hi)),
    }
}

/// `"6"` or `"0-5"`.
pub fn range_string((lo, hi): Range) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// A list of ranges as strings of numbers or ranges.
pub fn strings(r: &Ranges) -> Vec<String> {
    r.ranges().iter().map(|&x| range_string(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_merge_into_groups_by_port_list() {
        let a = Allowed::from_pieces(&[
            (Ranges::value(6), Ranges::value(1433)),
            (Ranges::value(17), Ranges::value(1433)),
            (Ranges::value(1), Ranges::value(NO_PORT)),
        ]);
        assert_eq!(a.groups().len(), 2);
        assert_eq!(a.groups()[0].protocols.ranges(), [(6, 6), (17, 17)]);
        assert_eq!(a.summary(), "tcp/udp:1433 icmp");
        assert!(a.contains(6, Some(1433)) && !a.contains(6, Some(80)));
        assert!(a.contains(1, None) && !a.contains(2, None));
        let b = Allowed::from_pieces(&[(Ranges::value(6), Ranges::value(80))]);
        let u = a.union(&b);
        assert!(u.contains(6, Some(80)) && u.contains(17, Some(1433)));
        assert!(!u.contains(17, Some(80)));
        assert_eq!(u.summary(), "tcp:80,1433 udp:1433 icmp");
        assert_eq!(u, b.union(&a));
    }

    #[test]
    fn everything_is_all() {
        let all = Allowed::from_pieces(&[
            (Ranges::one(0, 5), Ranges::value(NO_PORT)),
            (Ranges::one(7, 16), Ranges::value(NO_PORT)),
            (Ranges::one(18, 255), Ranges::value(NO_PORT)),
            (Ranges::new(vec![(6, 6), (17, 17)]), Ranges::one(0, 65535)),
        ]);
        assert_eq!(all.level(), Level::All);
        assert_eq!(all.summary(), "all");
        assert_eq!(Allowed::none().summary(), "-");
        assert_eq!(Allowed::none().level(), Level::None);
    }
}

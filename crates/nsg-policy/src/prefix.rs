//! Address sets as sorted, disjoint ranges, with union, difference and the
//! conversion back to CIDR prefixes. Used to expand tags such as `Internet`
//! (a complement) into the prefixes that `effective` prints and that the
//! compiled matcher consumes.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The family of a prefix.
    pub fn of_net(net: &IpNet) -> Family {
        Family::of(&net.addr())
    }

    /// The largest address value of the family.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
}

/// Numeric value of an address within its family.
pub fn addr_value(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// First and last numeric address of a prefix.
pub fn net_range(net: &IpNet) -> (u128, u128) {
    (addr_value(&net.network()), addr_value(&net.broadcast()))
}

/// Whether two prefixes share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    if Family::of_net(a) != Family::of_net(b) {
        return false;
    }
    let (a0, a1) = net_range(a);
    let (b0, b1) = net_range(b);
    a0 <= b1 && b0 <= a1
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

impl AddrSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every IPv4 and IPv6 address.
    pub fn all() -> Self {
        AddrSet {
            v4: vec![(0, Family::V4.max())],
            v6: vec![(0, Family::V6.max())],
        }
    }

    /// The addresses of some prefixes.
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut s = AddrSet::new();
        for n in nets {
            s.ranges_mut(Family::of_net(n)).push(net_range(n));
        }
        s.normalize();
        s
    }

    fn ranges_mut(&mut self, fam: Family) -> &mut Vec<(u128, u128)> {
        match fam {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// The ranges of one family, sorted and disjoint.
    pub fn ranges(&self, fam: Family) -> &[(u128, u128)] {
        match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn normalize(&mut self) {
        for v in [&mut self.v4, &mut self.v6] {
            v.sort_unstable();
            let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
            for &(lo, hi) in v.iter() {
                match out.last_mut() {
                    Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                    _ => out.push((lo, hi)),
                }
            }
            *v = out;
        }
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let v = addr_value(ip);
        let ranges = self.ranges(Family::of(ip));
        let i = ranges.partition_point(|r| r.1 < v);
        i < ranges.len() && ranges[i].0 <= v
    }

    /// The addresses in either set.
    pub fn union(&self, other: &AddrSet) -> AddrSet {
        let mut s = AddrSet {
            v4: [self.v4.as_slice(), other.v4.as_slice()].concat(),
            v6: [self.v6.as_slice(), other.v6.as_slice()].concat(),
        };
        s.normalize();
        s
    }

    /// Addresses in `self` and not in `other`.
    pub fn difference(&self, other: &AddrSet) -> AddrSet {
        fn diff(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
            let mut out = Vec::new();
            for &(lo, hi) in a {
                let mut cur = lo;
                let mut done = false;
                for &(blo, bhi) in b {
                    if bhi < cur || blo > hi {
                        continue;
                    }
                    if blo > cur {
                        out.push((cur, blo - 1));
                    }
                    if bhi >= hi {
                        done = true;
                        break;
                    }
                    cur = bhi + 1;
                }
                if !done {
                    out.push((cur, hi));
                }
            }
            out
        }
        AddrSet {
            v4: diff(&self.v4, &other.v4),
            v6: diff(&self.v6, &other.v6),
        }
    }

    /// The smallest list of CIDR prefixes covering exactly this set, IPv4 first.
    pub fn to_nets(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for fam in [Family::V4, Family::V6] {
            let bits: u32 = if fam == Family::V4 { 32 } else { 128 };
            for &(lo, hi) in self.ranges(fam) {
                let mut cur = lo;
                loop {
                    // Largest block aligned at `cur` that fits in [cur, hi].
                    let align = if cur == 0 {
                        bits
                    } else {
                        cur.trailing_zeros().min(bits)
                    };
                    let span = hi - cur;
                    let fit = if span == u128::MAX {
                        128
                    } else {
                        127 - (span + 1).leading_zeros()
                    };
                    let size = align.min(fit).min(bits);
                    out.push(make_net(fam, cur, (bits - size) as u8));
                    if size == 128 {
                        break;
                    }
                    let next = cur + ((1u128 << size) - 1);
                    if next >= hi {
                        break;
                    }
                    cur = next + 1;
                }
            }
        }
        out
    }
}

fn make_net(fam: Family, value: u128, len: u8) -> IpNet {
    match fam {
        // Lengths are at most 32 and the value fits in 32 bits for IPv4 ranges.
        Family::V4 => IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(value as u32), len).expect("IPv4 prefix length <= 32"),
        ),
        Family::V6 => {
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(value), len).expect("IPv6 prefix length <= 128"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|x| x.parse().unwrap()).collect()
    }

    #[test]
    fn complement_of_private_space() {
        let private = AddrSet::from_nets(&nets(&["10.0.0.0/8"]));
        let only_v4 = AddrSet::from_nets(&nets(&["0.0.0.0/0"]));
        let rest = only_v4.difference(&private);
        assert_eq!(
            rest.to_nets(),
            nets(&[
                "0.0.0.0/5",
                "8.0.0.0/7",
                "11.0.0.0/8",
                "12.0.0.0/6",
                "16.0.0.0/4",
                "32.0.0.0/3",
                "64.0.0.0/2",
                "128.0.0.0/1"
            ])
        );
        assert!(!rest.contains(&"10.1.2.3".parse().unwrap()));
        assert!(rest.contains(&"11.1.2.3".parse().unwrap()));
    }

    #[test]
    fn all_round_trips() {
        assert_eq!(AddrSet::all().to_nets(), nets(&["0.0.0.0/0", "::/0"]));
        let s = AddrSet::from_nets(&nets(&["10.0.0.0/24", "10.0.1.0/24", "fd00::/64"]));
        assert_eq!(s.to_nets(), nets(&["10.0.0.0/23", "fd00::/64"]));
        assert!(overlaps(
            &nets(&["10.0.0.0/8"])[0],
            &nets(&["10.2.0.0/16"])[0]
        ));
        assert!(!overlaps(
            &nets(&["10.0.0.0/16"])[0],
            &nets(&["10.1.0.0/16"])[0]
        ));
    }
}

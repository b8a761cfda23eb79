//! The validated policy: VNets, subnets, NICs, ASGs and NSGs, with every
//! reference resolved to an index. Built only by the loader, which checks
//! every constraint first; nothing here is half-valid.

use crate::prefix::AddrSet;
use crate::tags::{BuiltinTag, ServiceTag};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A VNet: its index in [`Policy::vnets`].
pub type VNetId = usize;
/// A subnet: its index in [`Policy::subnets`].
pub type SubnetId = usize;
/// A NIC: its index in [`Policy::nics`].
pub type NicId = usize;
/// An ASG: its index in [`Policy::asgs`].
pub type AsgId = usize;
/// An NSG: its index in [`Policy::nsgs`].
pub type NsgId = usize;

/// Azure's default idle timeout of a flow, in minutes.
pub const DEFAULT_FLOW_TIMEOUT_MINUTES: u8 = 4;

#[derive(Debug, Clone)]
/// A virtual network.
pub struct VNet {
    /// Its name, unique among VNets case-insensitively (2 to 64 characters).
    pub name: String,
    /// Its address space; the prefixes of its subnets lie inside it.
    pub address_space: Vec<IpNet>,
    /// The VNets it is peered with (listed on both; not transitive). Their address spaces join its `VirtualNetwork` tag.
    pub peerings: Vec<VNetId>,
    /// On-premises prefixes reached through its gateway; they join its `VirtualNetwork` tag.
    pub on_premises: Vec<IpNet>,
    /// The idle timeout of its flows, in minutes (4..=30; Azure's default is 4).
    pub flow_timeout_minutes: u8,
}

#[derive(Debug, Clone)]
/// A subnet of a VNet.
pub struct Subnet {
    /// Its name, unique among subnets case-insensitively.
    pub name: String,
    /// The VNet it is in.
    pub vnet: VNetId,
    /// Its prefixes, inside its VNet's address space and overlapping no other subnet's.
    pub prefixes: Vec<IpNet>,
    /// The NSG applied to the subnet (the first layer inbound, the second outbound).
    pub nsg: Option<NsgId>,
}

#[derive(Debug, Clone)]
/// A network interface, the unit rules are evaluated at.
pub struct Nic {
    /// Its name, unique among NICs case-insensitively.
    pub name: String,
    /// The subnet it is in.
    pub subnet: SubnetId,
    /// Its private IP addresses, inside its subnet and owned by no other NIC.
    pub ips: Vec<IpAddr>,
    /// The ASGs it is a member of, all in its VNet unless `allow_cross_vnet_asg`.
    pub asgs: Vec<AsgId>,
    /// The NSG applied to the NIC (the second layer inbound, the first outbound).
    pub nsg: Option<NsgId>,
    /// Its hardware address, if the policy gives one: unicast, not all-zero and not the gateway's.
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug, Clone)]
/// An application security group: a named set of NICs rules can refer to.
pub struct Asg {
    /// Its name, unique among ASGs case-insensitively; not a service tag name.
    pub name: String,
    /// NICs that are members, in file order.
    pub members: Vec<NicId>,
}

#[derive(Debug, Clone)]
/// A network security group.
pub struct Nsg {
    /// Its name, unique among NSGs case-insensitively.
    pub name: String,
    /// Whether a change of its rules re-evaluates the flows already open (Azure keeps them by default).
    pub flush_connections: bool,
    /// Inbound rules, user rules then default rules, by ascending priority.
    pub inbound: Vec<Rule>,
    /// Outbound rules, likewise.
    pub outbound: Vec<Rule>,
}

impl Nsg {
    /// The rules of one direction, by ascending priority.
    pub fn rules(&self, dir: Direction) -> &[Rule] {
        match dir {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// Which way a packet crosses a NIC.
pub enum Direction {
    /// Towards the NIC.
    Inbound,
    /// From the NIC.
    Outbound,
}

impl Direction {
    /// Parse `inbound` or `outbound`, any case.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
    /// The direction as the policy file writes it (`inbound`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
    /// Azure's spelling.
    pub fn azure_name(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// What a rule does with the packets it matches.
pub enum Access {
    /// Let the packet through this layer.
    Allow,
    /// Drop the packet.
    Deny,
}

impl Access {
    /// Parse `allow` or `deny`, any case.
    pub fn parse(s: &str) -> Option<Access> {
        match s.to_ascii_lowercase().as_str() {
            "allow" => Some(Access::Allow),
            "deny" => Some(Access::Deny),
            _ => None,
        }
    }
    /// Azure's spelling, as verdicts print it.
    pub fn name(self) -> &'static str {
        match self {
            Access::Allow => "Allow",
            Access::Deny => "Deny",
        }
    }
}

/// IP protocol numbers nsg names: the one set, `nsg_packet::proto`.
pub use nsg_packet::proto as ipproto;

/// A rule's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMPv4 and ICMPv6.
    Icmp,
    /// IPsec ESP.
    Esp,
    /// IPsec AH.
    Ah,
    /// Every protocol (`any` or `*`).
    Any,
}

impl Protocol {
    /// Parse a protocol as the policy writes it (`tcp`, `any`, `*`, ...), any case.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            "esp" => Some(Protocol::Esp),
            "ah" => Some(Protocol::Ah),
            "any" | "*" => Some(Protocol::Any),
            _ => None,
        }
    }

    /// The protocol as the policy file writes it (`tcp`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Esp => "esp",
            Protocol::Ah => "ah",
            Protocol::Any => "any",
        }
    }

    /// Whether a packet of IP protocol `proto` is of this rule protocol.
    pub fn matches(self, proto: u8) -> bool {
        match self {
            Protocol::Tcp => proto == ipproto::TCP,
            Protocol::Udp => proto == ipproto::UDP,
            Protocol::Icmp => proto == ipproto::ICMP || proto == ipproto::ICMPV6,
            Protocol::Esp => proto == ipproto::ESP,
            Protocol::Ah => proto == ipproto::AH,
            Protocol::Any => true,
        }
    }

    /// Whether rules of this protocol must have `*` ports.
    pub fn portless(self) -> bool {
        matches!(self, Protocol::Icmp | Protocol::Esp | Protocol::Ah)
    }
}

/// Whether packets of IP protocol `proto` carry ports that rules look at.
pub fn has_ports(proto: u8) -> bool {
    proto == ipproto::TCP || proto == ipproto::UDP
}

/// A port list: sorted, merged inclusive ranges. `*` is `[(0, 65535)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ports(Vec<(u16, u16)>);

impl Ports {
    /// Every port, `*`.
    pub fn any() -> Ports {
        Ports(vec![(0, u16::MAX)])
    }

    /// Normalise ranges (each low <= high).
    pub fn from_ranges(mut ranges: Vec<(u16, u16)>) -> Ports {
        ranges.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ports(out)
    }

    /// Whether this is every port.
    pub fn is_any(&self) -> bool {
        self.0 == [(0, u16::MAX)]
    }

    /// Whether `port` is in the list.
    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// The merged inclusive ranges, ascending.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("*");
        }
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// A service tag a rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// A tag Azure computes per VNet (`VirtualNetwork`, `Internet`, ...).
    Builtin(BuiltinTag),
    /// A tag of a service tags file (`Storage.WestUS`).
    Service(Arc<ServiceTag>),
}

impl Tag {
    /// The tag's name as the policy or the file spells it.
    pub fn name(&self) -> &str {
        match self {
            Tag::Builtin(b) => b.name(),
            Tag::Service(s) => &s.name,
        }
    }
}

/// One side (source or destination) of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// `*`: every IPv4 and IPv6 address.
    Any,
    /// A service tag.
    Tag(Tag),
    /// 1 to 10 ASGs.
    Asgs(Vec<AsgId>),
    /// IPs and CIDRs, all of one family.
    Prefixes(Vec<IpNet>),
}

/// A security rule, user or default.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name, unique within its NSG case-insensitively.
    pub name: String,
    /// 100..=4096 for user rules (65000 and up for the defaults); unique per direction in its NSG; lower is evaluated first.
    pub priority: u32,
    /// The direction it applies to.
    pub direction: Direction,
    /// Allow or deny.
    pub access: Access,
    /// The protocol it matches.
    pub protocol: Protocol,
    /// The source addresses it matches.
    pub source: Side,
    /// The source ports it matches.
    pub source_ports: Ports,
    /// The destination addresses it matches.
    pub destination: Side,
    /// The destination ports it matches.
    pub destination_ports: Ports,
    /// Free text, kept for output only.
    pub description: Option<String>,
    /// One of the six rules every NSG has.
    pub is_default: bool,
}

/// The default rules of every NSG, as Azure's API names them.
pub fn default_rules() -> Vec<Rule> {
    let vnet = || Side::Tag(Tag::Builtin(BuiltinTag::VirtualNetwork));
    let mk = |name: &str, priority, direction, access, source, destination| Rule {
        name: name.to_string(),
        priority,
        direction,
        access,
        protocol: Protocol::Any,
        source,
        source_ports: Ports::any(),
        destination,
        destination_ports: Ports::any(),
        description: None,
        is_default: true,
    };
    use Access::*;
    use Direction::*;
    vec![
        mk("AllowVnetInBound", 65000, Inbound, Allow, vnet(), vnet()),
        mk(
            "AllowAzureLoadBalancerInBound",
            65001,
            Inbound,
            Allow,
            Side::Tag(Tag::Builtin(BuiltinTag::AzureLoadBalancer)),
            Side::Any,
        ),
        mk("DenyAllInBound", 65500, Inbound, Deny, Side::Any, Side::Any),
        mk("AllowVnetOutBound", 65000, Outbound, Allow, vnet(), vnet()),
        mk(
            "AllowInternetOutBound",
            65001,
            Outbound,
            Allow,
            Side::Any,
            Side::Tag(Tag::Builtin(BuiltinTag::Internet)),
        ),
        mk(
            "DenyAllOutBound",
            65500,
            Outbound,
            Deny,
            Side::Any,
            Side::Any,
        ),
    ]
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Whether a rule may name ASGs of different VNets on its two sides (Azure refuses it).
    pub allow_cross_vnet_asg: bool,
    /// VNets, in file order.
    pub vnets: Vec<VNet>,
    /// Subnets, in file order.
    pub subnets: Vec<Subnet>,
    /// NICs, in file order.
    pub nics: Vec<Nic>,
    /// ASGs, in file order.
    pub asgs: Vec<Asg>,
    /// NSGs, in file order.
    pub nsgs: Vec<Nsg>,
    /// Service tags files loaded, with their number of tags.
    pub tag_files: Vec<(PathBuf, usize)>,
}

/// Where an NSG sits on a NIC's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The NSG of the NIC's subnet.
    Subnet,
    /// The NSG of the NIC itself.
    Nic,
}

impl Scope {
    /// The layer as outputs name it (`subnet`, `nic`).
    pub fn name(self) -> &'static str {
        match self {
            Scope::Subnet => "subnet",
            Scope::Nic => "nic",
        }
    }
}

impl Policy {
    fn find<T>(items: &[T], name: &str, get: impl Fn(&T) -> &str) -> Option<usize> {
        items.iter().position(|x| get(x).eq_ignore_ascii_case(name))
    }

    /// The NIC named `name`, case-insensitively.
    pub fn nic_by_name(&self, name: &str) -> Option<NicId> {
        Self::find(&self.nics, name, |n| &n.name)
    }
    /// The NSG named `name`, case-insensitively.
    pub fn nsg_by_name(&self, name: &str) -> Option<NsgId> {
        Self::find(&self.nsgs, name, |n| &n.name)
    }
    /// The VNet named `name`, case-insensitively.
    pub fn vnet_by_name(&self, name: &str) -> Option<VNetId> {
        Self::find(&self.vnets, name, |n| &n.name)
    }
    /// The ASG named `name`, case-insensitively.
    pub fn asg_by_name(&self, name: &str) -> Option<AsgId> {
        Self::find(&self.asgs, name, |n| &n.name)
    }

    /// The VNet a NIC is in (through its subnet).
    pub fn nic_vnet(&self, nic: NicId) -> VNetId {
        self.subnets[self.nics[nic].subnet].vnet
    }

    /// The NIC that owns an IP, if any.
    pub fn nic_of_ip(&self, ip: &IpAddr) -> Option<NicId> {
        self.nics.iter().position(|n| n.ips.contains(ip))
    }

    /// The NSG layers a NIC's traffic passes in `dir`, in evaluation order:
    /// inbound subnet then NIC, outbound NIC then subnet. Layers without an NSG
    /// are left out.
    pub fn layers(&self, nic: NicId, dir: Direction) -> Vec<(Scope, NsgId)> {
        let n = &self.nics[nic];
        let subnet = self.subnets[n.subnet].nsg.map(|g| (Scope::Subnet, g));
        let nic_l = n.nsg.map(|g| (Scope::Nic, g));
        let order = match dir {
            Direction::Inbound => [subnet, nic_l],
            Direction::Outbound => [nic_l, subnet],
        };
        order.into_iter().flatten().collect()
    }

    /// The `VirtualNetwork` tag as seen from a NIC in `vnet`: its address space,
    /// its peers' address spaces and its on-premises prefixes.
    pub fn virtual_network(&self, vnet: VNetId) -> Vec<IpNet> {
        let v = &self.vnets[vnet];
        let mut out = v.address_space.clone();
        for &p in &v.peerings {
            out.extend(self.vnets[p].address_space.iter().copied());
        }
        out.extend(v.on_premises.iter().copied());
        out
    }

    /// IPs of every member NIC of an ASG.
    pub fn asg_ips(&self, asg: AsgId) -> impl Iterator<Item = &IpAddr> {
        self.asgs[asg]
            .members
            .iter()
            .flat_map(|&n| self.nics[n].ips.iter())
    }

    /// The addresses a rule side stands for when evaluated at a NIC in `vnet`.
    pub fn side_set(&self, side: &Side, vnet: VNetId) -> AddrSet {
        match side {
            Side::Any => AddrSet::all(),
            Side::Prefixes(p) => AddrSet::from_nets(p),
            Side::Asgs(a) => {
                let nets: Vec<IpNet> = a
                    .iter()
                    .flat_map(|&g| self.asg_ips(g))
                    .map(|ip| IpNet::from(*ip))
                    .collect();
                AddrSet::from_nets(&nets)
            }
            Side::Tag(Tag::Service(t)) => AddrSet::from_nets(&t.prefixes),
            Side::Tag(Tag::Builtin(b)) => self.builtin_set(*b, vnet),
        }
    }

    /// The addresses of a built-in tag at a NIC in `vnet`.
    pub fn builtin_set(&self, tag: BuiltinTag, vnet: VNetId) -> AddrSet {
        use crate::tags::{special_use, AZURE_HOST_IP, AZURE_IMDS_IP};
        match tag {
            BuiltinTag::VirtualNetwork => AddrSet::from_nets(&self.virtual_network(vnet)),
            BuiltinTag::AzureLoadBalancer | BuiltinTag::AzurePlatformDns => {
                AddrSet::from_nets(&[IpNet::from(AZURE_HOST_IP)])
            }
            BuiltinTag::AzurePlatformImds => AddrSet::from_nets(&[IpNet::from(AZURE_IMDS_IP)]),
            BuiltinTag::Internet => AddrSet::all()
                .difference(special_use())
                .difference(&AddrSet::from_nets(&self.virtual_network(vnet))),
        }
    }

    /// Total number of rules over all NSGs, default rules excluded.
    pub fn user_rule_count(&self) -> usize {
        self.nsgs
            .iter()
            .flat_map(|g| g.inbound.iter().chain(g.outbound.iter()))
            .filter(|r| !r.is_default)
            .count()
    }
}

//! The reference evaluator: the semantics of `docs/policy.md` ("Evaluation")
//! written as plainly as they read. Linear scans, no precomputation. It is
//! the specification the compiled matcher is tested against; keep it
//! obviously correct.

use crate::model::*;
use crate::tags::{special_use, BuiltinTag, AZURE_HOST_IP, AZURE_IMDS_IP};
use std::net::IpAddr;

/// The header fields NSG rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// IP protocol number (6 TCP, 17 UDP, 1/58 ICMP, ...).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Ports, for TCP and UDP.
    pub src_port: Option<u16>,
    /// Destination port, for TCP and UDP.
    pub dst_port: Option<u16>,
}

/// Platform services reached without rule evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// 168.63.129.16: DNS, DHCP, health probes.
    Dns,
    /// 169.254.169.254: instance metadata.
    Imds,
}

impl Platform {
    /// The name verdicts give the platform service (`platform/AzurePlatformDNS`).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Dns => "platform/AzurePlatformDNS",
            Platform::Imds => "platform/AzurePlatformIMDS",
        }
    }

    fn tag(self) -> BuiltinTag {
        match self {
            Platform::Dns => BuiltinTag::AzurePlatformDns,
            Platform::Imds => BuiltinTag::AzurePlatformImds,
        }
    }
}

/// A rule of an NSG: the NSG, the direction and the position in that
/// direction's priority-ordered list ([`Nsg::rules`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The NSG.
    pub nsg: NsgId,
    /// Which of its rule lists.
    pub direction: Direction,
    /// The position in that list (priority order).
    pub index: usize,
}

impl RuleRef {
    /// The rule this refers to; `policy` must be the policy it was made from.
    pub fn rule<'p>(&self, policy: &'p Policy) -> &'p Rule {
        &policy.nsgs[self.nsg].rules(self.direction)[self.index]
    }
}

/// One evaluated layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Which NSG layer (subnet or NIC).
    pub scope: Scope,
    /// The rule that decided this layer.
    pub rule: RuleRef,
    /// The layer's answer.
    pub access: Access,
}

/// What decided a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// No layer has an NSG.
    NoNsg,
    /// A platform service reached without rule evaluation.
    Platform(Platform),
    /// The deny, or the last allow.
    Rule(RuleRef),
}

impl Decider {
    /// `NSG/RULE`, `platform/...`, or `None` when no NSG decided. A rule the
    /// policy does not hold (named by a flow of another policy generation)
    /// is named by its position.
    pub fn name(&self, policy: &Policy) -> Option<String> {
        match self {
            Decider::NoNsg => None,
            Decider::Platform(p) => Some(p.name().to_string()),
            Decider::Rule(r) => Some(match policy.nsgs.get(r.nsg) {
                Some(g) => match g.rules(r.direction).get(r.index) {
                    Some(rule) => format!("{}/{}", g.name, rule.name),
                    None => format!("{}/#{}", g.name, r.index),
                },
                None => format!("nsg#{}", r.nsg),
            }),
        }
    }
}

/// The verdict on one packet at one NIC in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or deny.
    pub access: Access,
    /// What decided.
    pub decider: Decider,
    /// Evaluated layers, in order; none after a deny.
    pub layers: Vec<Layer>,
}

impl Verdict {
    /// The verdict of the layers evaluated, in order (none after a deny):
    /// the last layer's access and rule decide; with no layer (no NSG on
    /// the path) traffic is allowed and nothing decided it.
    pub fn from_layers(layers: Vec<Layer>) -> Verdict {
        let access = layers.last().map_or(Access::Allow, |l| l.access);
        let decider = layers
            .last()
            .map_or(Decider::NoNsg, |l| Decider::Rule(l.rule));
        Verdict {
            access,
            decider,
            layers,
        }
    }
}

/// Whether `ip` is one of the addresses a rule side stands for, at a NIC in `vnet`.
pub fn side_contains(policy: &Policy, side: &Side, ip: &IpAddr, vnet: VNetId) -> bool {
    match side {
        Side::Any => true,
        Side::Prefixes(p) => p.iter().any(|n| n.contains(ip)),
        Side::Asgs(asgs) => asgs.iter().any(|&a| policy.asg_ips(a).any(|x| x == ip)),
        Side::Tag(Tag::Service(t)) => t.prefixes.iter().any(|n| n.contains(ip)),
        Side::Tag(Tag::Builtin(b)) => match b {
            BuiltinTag::VirtualNetwork => in_virtual_network(policy, vnet, ip),
            BuiltinTag::AzureLoadBalancer | BuiltinTag::AzurePlatformDns => *ip == AZURE_HOST_IP,
            BuiltinTag::AzurePlatformImds => *ip == AZURE_IMDS_IP,
            BuiltinTag::Internet => {
                !special_use().contains(ip) && !in_virtual_network(policy, vnet, ip)
            }
        },
    }
}

fn in_virtual_network(policy: &Policy, vnet: VNetId, ip: &IpAddr) -> bool {
    policy.virtual_network(vnet).iter().any(|n| n.contains(ip))
}

/// Whether a rule matches a packet evaluated at a NIC in `vnet`.
pub fn rule_matches(policy: &Policy, rule: &Rule, pkt: &Packet, vnet: VNetId) -> bool {
    if !rule.protocol.matches(pkt.protocol) {
        return false;
    }
    let ports_ok = if has_ports(pkt.protocol) {
        match (pkt.src_port, pkt.dst_port) {
            (Some(sp), Some(dp)) => {
                rule.source_ports.contains(sp) && rule.destination_ports.contains(dp)
            }
            // A TCP/UDP packet without ports (a non-first fragment) matches
            // only rules that do not look at ports.
            _ => rule.source_ports.is_any() && rule.destination_ports.is_any(),
        }
    } else {
        rule.source_ports.is_any() && rule.destination_ports.is_any()
    };
    ports_ok
        && side_contains(policy, &rule.source, &pkt.src, vnet)
        && side_contains(policy, &rule.destination, &pkt.dst, vnet)
}

/// The platform service a packet goes to without rule evaluation, if any.
pub fn platform_bypass(
    policy: &Policy,
    nic: NicId,
    dir: Direction,
    pkt: &Packet,
) -> Option<Platform> {
    if dir != Direction::Outbound {
        return None;
    }
    let service = if pkt.dst == AZURE_HOST_IP {
        Platform::Dns
    } else if pkt.dst == AZURE_IMDS_IP {
        Platform::Imds
    } else {
        return None;
    };
    let named = policy.layers(nic, dir).iter().any(|&(_, g)| {
        policy.nsgs[g]
            .outbound
            .iter()
            .any(|r| r.destination == Side::Tag(Tag::Builtin(service.tag())))
    });
    (!named).then_some(service)
}

/// The first rule of an NSG, in priority order, that matches.
pub fn first_match(
    policy: &Policy,
    nsg: NsgId,
    dir: Direction,
    pkt: &Packet,
    vnet: VNetId,
) -> RuleRef {
    let rules = policy.nsgs[nsg].rules(dir);
    let index = rules
        .iter()
        .position(|r| rule_matches(policy, r, pkt, vnet))
        // The default DenyAll rule matches every packet.
        .unwrap_or(rules.len() - 1);
    RuleRef {
        nsg,
        direction: dir,
        index,
    }
}

/// Evaluate a packet at a NIC: inbound subnet NSG then NIC NSG, outbound NIC
/// NSG then subnet NSG; a deny ends evaluation.
pub fn evaluate(policy: &Policy, nic: NicId, dir: Direction, pkt: &Packet) -> Verdict {
    if let Some(p) = platform_bypass(policy, nic, dir, pkt) {
        return Verdict {
            access: Access::Allow,
            decider: Decider::Platform(p),
            layers: Vec::new(),
        };
    }
    let vnet = policy.nic_vnet(nic);
    let mut layers = Vec::new();
    for (scope, nsg) in policy.layers(nic, dir) {
        let rule = first_match(policy, nsg, dir, pkt, vnet);
        let access = rule.rule(policy).access;
        layers.push(Layer {
            scope,
            rule,
            access,
        });
        if access == Access::Deny {
            break;
        }
    }
    Verdict::from_layers(layers)
}

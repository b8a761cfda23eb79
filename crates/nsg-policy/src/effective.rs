//! Effective security rules of a NIC: both layers' rules in evaluation order,
//! with tags and ASGs expanded to the prefixes they stand for at that NIC
//! (like Azure's effective security rules).

use crate::model::*;
use ipnet::IpNet;
use serde_json::{json, Value};

/// One rule as it applies at a NIC.
#[derive(Debug, Clone)]
pub struct EffectiveRule {
    /// Inbound or outbound.
    pub direction: Direction,
    /// The layer: the subnet's NSG or the NIC's.
    pub scope: Scope,
    /// The NSG holding the rule.
    pub nsg: String,
    /// The rule's name.
    pub name: String,
    /// Its priority (lower is evaluated first).
    pub priority: u32,
    /// Allow or deny.
    pub access: Access,
    /// The protocol it matches.
    pub protocol: Protocol,
    /// Whether it is one of the six default rules.
    pub is_default: bool,
    /// The source as written (`*`, a tag, ASG names, prefixes).
    pub source: Vec<String>,
    /// The source as the prefixes it stands for at this NIC (tags and ASGs expanded).
    pub source_expanded: Vec<IpNet>,
    /// Source ports.
    pub source_ports: Ports,
    /// The destination as written.
    pub destination: Vec<String>,
    /// The destination as the prefixes it stands for at this NIC.
    pub destination_expanded: Vec<IpNet>,
    /// Destination ports.
    pub destination_ports: Ports,
}

/// A side as written.
pub fn side_text(policy: &Policy, side: &Side) -> Vec<String> {
    match side {
        Side::Any => vec!["*".to_string()],
        Side::Tag(t) => vec![t.name().to_string()],
        Side::Asgs(a) => a.iter().map(|&g| policy.asgs[g].name.clone()).collect(),
        Side::Prefixes(p) => p.iter().map(|n| n.to_string()).collect(),
    }
}

/// The effective rules of a NIC: inbound (subnet NSG, then NIC NSG), then
/// outbound (NIC NSG, then subnet NSG).
pub fn effective_rules(policy: &Policy, nic: NicId) -> Vec<EffectiveRule> {
    let vnet = policy.nic_vnet(nic);
    let mut out = Vec::new();
    for dir in [Direction::Inbound, Direction::Outbound] {
        for (scope, g) in policy.layers(nic, dir) {
            let nsg = &policy.nsgs[g];
            for r in nsg.rules(dir) {
                out.push(EffectiveRule {
                    direction: dir,
                    scope,
                    nsg: nsg.name.clone(),
                    name: r.name.clone(),
                    priority: r.priority,
                    access: r.access,
                    protocol: r.protocol,
                    is_default: r.is_default,
                    source: side_text(policy, &r.source),
                    source_expanded: policy.side_set(&r.source, vnet).to_nets(),
                    source_ports: r.source_ports.clone(),
                    destination: side_text(policy, &r.destination),
                    destination_expanded: policy.side_set(&r.destination, vnet).to_nets(),
                    destination_ports: r.destination_ports.clone(),
                });
            }
        }
    }
    out
}

fn nets_json(n: &[IpNet]) -> Vec<String> {
    n.iter().map(|x| x.to_string()).collect()
}

/// JSON of the effective rules.
pub fn effective_json(policy: &Policy, nic: NicId, rules: &[EffectiveRule]) -> Value {
    let rows: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "direction": r.direction.name(),
                "scope": r.scope.name(),
                "nsg": r.nsg,
                "name": r.name,
                "priority": r.priority,
                "access": r.access.name(),
                "protocol": r.protocol.name(),
                "default": r.is_default,
                "source": r.source,
                "source_expanded": nets_json(&r.source_expanded),
                "source_ports": r.source_ports.to_string(),
                "destination": r.destination,
                "destination_expanded": nets_json(&r.destination_expanded),
                "destination_ports": r.destination_ports.to_string(),
            })
        })
        .collect();
    json!({ "nic": policy.nics[nic].name, "rules": rows })
}

fn short(nets: &[IpNet], limit: usize) -> String {
    let mut s: Vec<String> = nets.iter().take(limit).map(|n| n.to_string()).collect();
    if nets.len() > limit {
        s.push(format!("... ({} prefixes)", nets.len()));
    }
    s.join(", ")
}

/// A readable table of the effective rules.
pub fn effective_table(policy: &Policy, nic: NicId, rules: &[EffectiveRule]) -> String {
    let mut s = format!("Effective rules of nic {}\n", policy.nics[nic].name);
    let mut last: Option<Direction> = None;
    for r in rules {
        if last != Some(r.direction) {
            s.push_str(&format!(
                "\n{}\n{:<6} {:<16} {:>5}  {:<32} {:<5} {:<5} {:<28} {:<11} {:<28} {}\n",
                r.direction.azure_name(),
                "scope",
                "nsg",
                "prio",
                "rule",
                "acc",
                "proto",
                "source",
                "sport",
                "destination",
                "dport"
            ));
            last = Some(r.direction);
        }
        let side = |text: &[String], exp: &[IpNet]| {
            let written = text.join(",");
            let expanded = short(exp, 3);
            if written == expanded {
                written
            } else {
                format!("{written} [{expanded}]")
            }
        };
        s.push_str(&format!(
            "{:<6} {:<16} {:>5}  {:<32} {:<5} {:<5} {:<28} {:<11} {:<28} {}\n",
            r.scope.name(),
            r.nsg,
            r.priority,
            r.name,
            r.access.name(),
            r.protocol.name(),
            side(&r.source, &r.source_expanded),
            r.source_ports.to_string(),
            side(&r.destination, &r.destination_expanded),
            r.destination_ports
        ));
    }
    if rules.is_empty() {
        s.push_str("no NSG on this NIC's path: all traffic is allowed\n");
    }
    s
}

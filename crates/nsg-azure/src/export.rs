//! Azure-shaped output: the effective security rules of a NIC as
//! `az network nic list-effective-nsg` prints them, and verdicts as Network
//! Watcher's IP flow verify answers (`{"access", "ruleName"}`).
//!
//! Resource IDs are written without subscription and resource group
//! (`/providers/Microsoft.Network/networkSecurityGroups/NSG1`): a policy does
//! not know them. Expanded prefixes are what nsg enforces (its
//! `VirtualNetwork` is the VNet's address space, its peers' and its
//! on-premises prefixes).

use nsg_policy::eval::{Decider, Verdict};
use nsg_policy::model::*;
use serde_json::{json, Value};

/// `securityRules/NAME` or `defaultSecurityRules/NAME`.
pub fn rule_name(rule: &Rule) -> String {
    if rule.is_default {
        format!("defaultSecurityRules/{}", rule.name)
    } else {
        format!("securityRules/{}", rule.name)
    }
}

/// Azure's protocol names in effective rules.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "Tcp",
        Protocol::Udp => "Udp",
        Protocol::Icmp => "Icmp",
        Protocol::Esp => "Esp",
        Protocol::Ah => "Ah",
        Protocol::Any => "All",
    }
}

/// Port ranges as effective rules write them: `0-65535`, `80-80`.
pub fn port_ranges(p: &Ports) -> Vec<String> {
    p.ranges()
        .iter()
        .map(|(lo, hi)| format!("{lo}-{hi}"))
        .collect()
}

/// The resource ID of NSG `name` from `/providers` on (a policy knows no
/// subscription or resource group).
pub fn nsg_id(name: &str) -> String {
    format!("/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

/// The resource ID of NIC `name`, from `/providers` on.
pub fn nic_id(name: &str) -> String {
    format!("/providers/Microsoft.Network/networkInterfaces/{name}")
}

/// The resource ID of subnet `subnet` of VNet `vnet`, from `/providers` on.
pub fn subnet_id(vnet: &str, subnet: &str) -> String {
    format!("/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}")
}

/// A rule side: the prefix as written, all of them, and the expansion of a
/// tag or ASG (empty for `*` and literal prefixes, as Azure leaves them).
fn side(policy: &Policy, s: &Side, vnet: VNetId) -> (String, Vec<String>, Vec<String>) {
    let expand = || -> Vec<String> {
        policy
            .side_set(s, vnet)
            .to_nets()
            .iter()
            .map(|n| n.to_string())
            .collect()
    };
    match s {
        Side::Any => (
            "0.0.0.0/0".into(),
            vec!["0.0.0.0/0".into(), "::/0".into()],
            Vec::new(),
        ),
        Side::Tag(t) => (t.name().to_string(), vec![t.name().to_string()], expand()),
        Side::Asgs(a) => {
            let names: Vec<String> = a.iter().map(|&g| policy.asgs[g].name.clone()).collect();
            (names[0].clone(), names, expand())
        }
        Side::Prefixes(p) => {
            let all: Vec<String> = p.iter().map(|n| n.to_string()).collect();
            (all[0].clone(), all, Vec::new())
        }
    }
}

fn effective_rule(policy: &Policy, r: &Rule, vnet: VNetId) -> Value {
    let (src, srcs, src_x) = side(policy, &r.source, vnet);
    let (dst, dsts, dst_x) = side(policy, &r.destination, vnet);
    let sp = port_ranges(&r.source_ports);
    let dp = port_ranges(&r.destination_ports);
    json!({
        "name": rule_name(r),
        "protocol": protocol_name(r.protocol),
        "sourcePortRange": sp[0],
        "sourcePortRanges": sp,
        "destinationPortRange": dp[0],
        "destinationPortRanges": dp,
        "sourceAddressPrefix": src,
        "sourceAddressPrefixes": srcs,
        "destinationAddressPrefix": dst,
        "destinationAddressPrefixes": dsts,
        "expandedSourceAddressPrefix": src_x,
        "expandedDestinationAddressPrefix": dst_x,
        "access": r.access.name(),
        "priority": r.priority,
        "direction": r.direction.azure_name(),
    })
}

/// The effective NSGs of a NIC in the shape of `az network nic
/// list-effective-nsg`: one entry per NSG on its path (the NIC's, then the
/// subnet's, as Azure lists them), each with its rules, inbound then
/// outbound, by priority.
pub fn effective_azure(policy: &Policy, nic: NicId) -> Value {
    let n = &policy.nics[nic];
    let vnet = policy.nic_vnet(nic);
    let subnet = &policy.subnets[n.subnet];
    let mut groups = Vec::new();
    for (scope, g) in [(Scope::Nic, n.nsg), (Scope::Subnet, subnet.nsg)] {
        let Some(g) = g else { continue };
        let nsg = &policy.nsgs[g];
        let association = match scope {
            Scope::Nic => json!({ "networkInterface": { "id": nic_id(&n.name) } }),
            Scope::Subnet => json!({
                "subnet": { "id": subnet_id(&policy.vnets[subnet.vnet].name, &subnet.name) }
            }),
        };
        let rules: Vec<Value> = nsg
            .inbound
            .iter()
            .chain(&nsg.outbound)
            .map(|r| effective_rule(policy, r, vnet))
            .collect();
        groups.push(json!({
            "networkSecurityGroup": { "id": nsg_id(&nsg.name) },
            "association": association,
            "effectiveSecurityRules": rules,
        }));
    }
    json!({ "value": groups })
}

/// A verdict as IP flow verify answers: `{"access": "Allow", "ruleName":
/// "securityRules/NAME"}`. Platform traffic names `platform/...`; with no NSG
/// on the path `ruleName` is null.
pub fn verdict_azure(policy: &Policy, v: &Verdict) -> Value {
    let rule = match v.decider {
        Decider::NoNsg => Value::Null,
        Decider::Platform(p) => Value::String(p.name().to_string()),
        Decider::Rule(r) => Value::String(rule_name(r.rule(policy))),
    };
    json!({ "access": v.access.name(), "ruleName": rule })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranges() {
        assert_eq!(port_ranges(&Ports::any()), ["0-65535"]);
        assert_eq!(
            port_ranges(&Ports::from_ranges(vec![(80, 80), (1000, 2000)])),
            ["80-80", "1000-2000"]
        );
        assert_eq!(protocol_name(Protocol::Any), "All");
        let d = &default_rules()[2];
        assert_eq!(rule_name(d), "defaultSecurityRules/DenyAllInBound");
    }
}

//! The policy as written, before validation: names and addresses as strings.
//! The TOML loader and the Azure JSON importer both produce this; validation
//! turns it into a [`crate::Policy`] or a list of faults.

/// A whole policy file, unvalidated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawPolicy {
    /// `service_tags =`: a ServiceTags JSON file, relative to the policy file.
    pub service_tags: Option<String>,
    /// `allow_cross_vnet_asg =`: let a rule name ASGs of different VNets.
    pub allow_cross_vnet_asg: bool,
    /// `[[vnet]]` tables, in file order.
    pub vnets: Vec<RawVNet>,
    /// `[[subnet]]` tables.
    pub subnets: Vec<RawSubnet>,
    /// `[[asg]]` tables.
    pub asgs: Vec<RawAsg>,
    /// `[[nic]]` tables.
    pub nics: Vec<RawNic>,
    /// `[[nsg]]` tables.
    pub nsgs: Vec<RawNsg>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// A `[[vnet]]` table as written.
pub struct RawVNet {
    /// `name`; `None` when missing (a fault).
    pub name: Option<String>,
    /// `address_space`: CIDRs as written.
    pub address_space: Vec<String>,
    /// `peerings`: names of VNets, as written.
    pub peerings: Vec<String>,
    /// `on_premises`: CIDRs reached through the gateway.
    pub on_premises: Vec<String>,
    /// `flow_timeout_minutes`, unchecked (validation requires 4..=30).
    pub flow_timeout_minutes: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// A `[[subnet]]` table as written.
pub struct RawSubnet {
    /// `name`.
    pub name: Option<String>,
    /// `vnet`: the name of its VNet.
    pub vnet: Option<String>,
    /// `prefixes`: CIDRs as written.
    pub prefixes: Vec<String>,
    /// `nsg`: the name of its NSG.
    pub nsg: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// An `[[asg]]` table as written.
pub struct RawAsg {
    /// `name`.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// A `[[nic]]` table as written.
pub struct RawNic {
    /// `name`.
    pub name: Option<String>,
    /// `subnet`: the name of its subnet.
    pub subnet: Option<String>,
    /// `ips`: addresses as written.
    pub ips: Vec<String>,
    /// `asgs`: names of the ASGs it is a member of.
    pub asgs: Vec<String>,
    /// `nsg`: the name of its NSG.
    pub nsg: Option<String>,
    /// `mac`: `aa:bb:cc:dd:ee:ff` or with `-`.
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// An `[[nsg]]` table as written.
pub struct RawNsg {
    /// `name`.
    pub name: Option<String>,
    /// `flush_connections`.
    pub flush_connections: bool,
    /// Its `[[nsg.rule]]` tables, in file order.
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Clone, Default, PartialEq)]
/// An `[[nsg.rule]]` table as written.
pub struct RawRule {
    /// `name`.
    pub name: Option<String>,
    /// `priority`, unchecked (validation requires 100..=4096).
    pub priority: Option<i64>,
    /// `direction`: `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `access`: `allow` or `deny`.
    pub access: Option<String>,
    /// `protocol`: `tcp`, `udp`, `icmp`, `esp`, `ah` or `any`/`*`.
    pub protocol: Option<String>,
    /// `source`: `*`, a tag, ASG names or addresses.
    pub source: Option<Vec<String>>,
    /// `None` means the default, `*`.
    pub source_ports: Option<Vec<String>>,
    /// `destination`: as `source`.
    pub destination: Option<Vec<String>>,
    /// `destination_ports`: ports and ranges, or `*`.
    pub destination_ports: Option<Vec<String>>,
    /// `description`: free text.
    pub description: Option<String>,
}

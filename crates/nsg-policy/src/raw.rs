//! The policy as written, before validation: names and addresses as strings.
//! The TOML loader and the Azure JSON importer both produce this; validation
//! turns it into a [`crate::Policy`] or a list of faults.

/// A whole policy file, unvalidated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawPolicy {
    pub service_tags: Option<String>,
    pub allow_cross_vnet_asg: bool,
    pub vnets: Vec<RawVNet>,
    pub subnets: Vec<RawSubnet>,
    pub asgs: Vec<RawAsg>,
    pub nics: Vec<RawNic>,
    pub nsgs: Vec<RawNsg>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawVNet {
    pub name: Option<String>,
    pub address_space: Vec<String>,
    pub peerings: Vec<String>,
    pub on_premises: Vec<String>,
    pub flow_timeout_minutes: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSubnet {
    pub name: Option<String>,
    pub vnet: Option<String>,
    pub prefixes: Vec<String>,
    pub nsg: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawAsg {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawNic {
    pub name: Option<String>,
    pub subnet: Option<String>,
    pub ips: Vec<String>,
    pub asgs: Vec<String>,
    pub nsg: Option<String>,
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawNsg {
    pub name: Option<String>,
    pub flush_connections: bool,
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRule {
    pub name: Option<String>,
    pub priority: Option<i64>,
    pub direction: Option<String>,
    pub access: Option<String>,
    pub protocol: Option<String>,
    pub source: Option<Vec<String>>,
    /// `None` means the default, `*`.
    pub source_ports: Option<Vec<String>>,
    pub destination: Option<Vec<String>>,
    pub destination_ports: Option<Vec<String>>,
    pub description: Option<String>,
}

//! The switch's view of a policy generation: which NIC each port is bound
//! to, the gateways of its subnet, the VNets' address space.

use super::PortId;
use crate::policy::Published;
use ipnet::IpNet;
use nsg_flow::NicId;
use nsg_policy::Policy;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a port stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The port of the NIC of this name: what comes in was sent by it.
    Nic(String),
    /// Everything outside the policy's VNets.
    Uplink,
}

/// Why a policy cannot run on the ports as bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// A port is given a NIC the policy does not have.
    #[error("port {port} is bound to NIC '{nic}', which the policy does not have")]
    UnknownNic {
        /// The port's device name (`#INDEX` until the caller names it).
        port: String,
        /// The NIC name as given.
        nic: String,
    },
    /// One NIC is given two ports.
    #[error("NIC '{nic}' is bound to two ports")]
    TwoPorts {
        /// The NIC's name.
        nic: String,
    },
    /// The policy has more NICs than a flow key can number.
    #[error(transparent)]
    TooManyNics(#[from] nsg_flow::NicIdError),
}

/// The switch's view of one policy generation: which NIC each port is,
/// the gateways of its subnet, the VNets' address space.
#[derive(Debug)]
pub struct Topology {
    /// The policy generation it was built from (rebuilt when it changes).
    pub generation: u64,
    pub(super) nic_of_port: Vec<Option<NicId>>,
    pub(super) port_of_nic: Vec<Option<PortId>>,
    pub(super) subnet_of_port: Vec<Option<usize>>,
    pub(super) gw4: Vec<Vec<Ipv4Addr>>,
    pub(super) gw6: Vec<Vec<Ipv6Addr>>,
    pub(super) policy_mac: Vec<Option<[u8; 6]>>,
    pub(super) vnet_space: Vec<IpNet>,
    pub(super) uplink: Option<PortId>,
}

/// The gateway of a subnet prefix: its first usable address.
pub fn gateway(prefix: &IpNet) -> Option<IpAddr> {
    match prefix {
        IpNet::V4(n) if n.prefix_len() <= 30 => {
            Some(IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 1)))
        }
        IpNet::V6(n) if n.prefix_len() <= 126 => {
            Some(IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 1)))
        }
        _ => None,
    }
}

impl Topology {
    /// Bind the ports' roles to a policy of a generation.
    pub fn build(policy: &Policy, generation: u64, roles: &[Role]) -> Result<Topology, BindError> {
        let mut t = Topology {
            generation,
            nic_of_port: vec![None; roles.len()],
            port_of_nic: vec![None; policy.nics.len()],
            subnet_of_port: vec![None; roles.len()],
            gw4: vec![Vec::new(); roles.len()],
            gw6: vec![Vec::new(); roles.len()],
            policy_mac: vec![None; roles.len()],
            vnet_space: policy
                .vnets
                .iter()
                .flat_map(|v| v.address_space.iter().copied())
                .collect(),
            uplink: None,
        };
        for (port, role) in roles.iter().enumerate() {
            match role {
                Role::Uplink => t.uplink = Some(port),
                Role::Nic(name) => {
                    let nic = policy
                        .nic_by_name(name)
                        .ok_or_else(|| BindError::UnknownNic {
                            port: format!("#{port}"),
                            nic: name.clone(),
                        })?;
                    if t.port_of_nic[nic].is_some() {
                        return Err(BindError::TwoPorts { nic: name.clone() });
                    }
                    t.port_of_nic[nic] = Some(port);
                    t.nic_of_port[port] = Some(NicId::try_from(nic)?);
                    let n = &policy.nics[nic];
                    t.subnet_of_port[port] = Some(n.subnet);
                    t.policy_mac[port] = n.mac;
                    for prefix in &policy.subnets[n.subnet].prefixes {
                        match gateway(prefix) {
                            Some(IpAddr::V4(a)) => t.gw4[port].push(a),
                            Some(IpAddr::V6(a)) => t.gw6[port].push(a),
                            None => {}
                        }
                    }
                }
            }
        }
        Ok(t)
    }

    /// The NIC a port is bound to (`None` for the uplink).
    pub fn nic(&self, port: PortId) -> Option<NicId> {
        self.nic_of_port.get(port).copied().flatten()
    }

    /// The port of the NIC owning `ip`, if it has one.
    pub(super) fn port_of(&self, p: &Published, ip: &IpAddr) -> Option<PortId> {
        p.owner(ip)
            .and_then(|n| self.port_of_nic.get(n.0 as usize).copied().flatten())
    }

    pub(super) fn in_vnet(&self, ip: &IpAddr) -> bool {
        self.vnet_space.iter().any(|n| n.contains(ip))
    }
}

//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod effective;
pub mod replay;
pub mod run;
pub mod verify;

use crate::PolicyArgs;
use nsg_policy::{LoadOptions, Policy};

/// A command's failure: printed on stderr, exit status 1.
pub type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// Load and validate the policy a command names.
pub fn load_policy(args: &PolicyArgs) -> Result<Policy, nsg_policy::PolicyError> {
    nsg_policy::load(
        &args.policy,
        &LoadOptions {
            service_tags: args.service_tags.clone(),
        },
    )
}

/// Find a NIC by name or fail with the list of NICs.
pub fn nic(policy: &Policy, name: &str) -> Result<usize, String> {
    policy.nic_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = policy.nics.iter().map(|n| n.name.as_str()).collect();
        format!(
            "unknown nic '{name}' (the policy has: {})",
            names.join(", ")
        )
    })
}

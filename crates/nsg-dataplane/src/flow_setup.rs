//! Flow-table setup for a policy: a table of the asked capacity whose NICs
//! each age flows by their VNet's idle timeout. Used by `run`, and by the
//! offline tools (replay, the pipeline benchmark) so that they age flows
//! exactly as the live path does.

use nsg_flow::{FlowTable, FlowTableConfig, NicId, Timeouts};
use nsg_policy::Policy;

/// A flow table sized and timed for a policy: each NIC's idle timeout is
/// its VNet's `flow_timeout_minutes`.
pub fn flow_table_for(policy: &Policy, capacity: usize) -> Result<FlowTable, String> {
    let cfg = FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    };
    let table = FlowTable::new(cfg).map_err(|e| e.to_string())?;
    set_nic_timeouts(&table, policy)?;
    Ok(table)
}

/// Give each NIC of `policy` its VNet's idle timeout (NICs are keyed by
/// their index in the policy).
pub fn set_nic_timeouts(table: &FlowTable, policy: &Policy) -> Result<(), String> {
    for (i, _) in policy.nics.iter().enumerate() {
        let minutes = policy.vnets[policy.nic_vnet(i)].flow_timeout_minutes;
        let t = Timeouts::with_flow_timeout_minutes(minutes.into()).map_err(|e| e.to_string())?;
        table
            .set_timeouts(NicId::try_from(i).map_err(|e| e.to_string())?, t)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

//! Flow-table setup for a policy: tables of the asked capacity whose NICs
//! each age flows by their VNet's idle timeout. Used by `run`, and by the
//! offline tools (replay, the pipeline benchmark) so that they age flows
//! exactly as the live path does.
//!
//! Each worker owns one table; a total capacity is split evenly over them
//! ([`flow_tables_for`]).

use nsg_flow::{FlowTable, FlowTableConfig, NicId, Timeouts};
use nsg_policy::Policy;

/// A flow table sized and timed for a policy: each NIC's idle timeout is
/// its VNet's `flow_timeout_minutes`.
pub fn flow_table_for(policy: &Policy, capacity: usize) -> Result<FlowTable, String> {
    let cfg = FlowTableConfig {
        capacity,
        ..FlowTableConfig::default()
    };
    let mut table = FlowTable::new(cfg).map_err(|e| e.to_string())?;
    set_nic_timeouts(&mut table, policy)?;
    Ok(table)
}

/// One table per worker for a policy, `total` entries split evenly: each
/// holds `ceil(total / workers)` (at least one worker).
pub fn flow_tables_for(
    policy: &Policy,
    total: usize,
    workers: usize,
) -> Result<Vec<FlowTable>, String> {
    let each = per_worker_capacity(total, workers);
    let tables = (0..workers.max(1))
        .map(|_| flow_table_for(policy, each))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes: usize = tables.iter().map(FlowTable::memory_bytes).sum();
    tracing::info!(
        workers = tables.len(),
        flows_each = each,
        bytes,
        memory = %tables[0].backing(),
        "flow tables allocated"
    );
    Ok(tables)
}

/// The capacity of each worker's table when `total` entries are split over
/// `workers` (rounded up, so that the total is never below the one asked).
pub fn per_worker_capacity(total: usize, workers: usize) -> usize {
    total.div_ceil(workers.max(1))
}

/// Each NIC of `policy` (keyed by its index) with its VNet's timeouts; an
/// error for a timeout the flow table refuses or a NIC index a flow key
/// cannot hold. Checks a policy before workers apply it.
pub fn nic_timeouts(policy: &Policy) -> Result<Vec<(NicId, Timeouts)>, String> {
    policy
        .nics
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let minutes = policy.vnets[policy.nic_vnet(i)].flow_timeout_minutes;
            let t =
                Timeouts::with_flow_timeout_minutes(minutes.into()).map_err(|e| e.to_string())?;
            t.validate().map_err(|e| e.to_string())?;
            Ok((NicId::try_from(i).map_err(|e| e.to_string())?, t))
        })
        .collect()
}

/// Give each NIC of `policy` its VNet's idle timeout (NICs are keyed by
/// their index in the policy).
pub fn set_nic_timeouts(table: &mut FlowTable, policy: &Policy) -> Result<(), String> {
    for (nic, t) in nic_timeouts(policy)? {
        table.set_timeouts(nic, t).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_split_evenly_and_rounded_up() {
        assert_eq!(per_worker_capacity(1000, 1), 1000);
        assert_eq!(per_worker_capacity(1000, 2), 500);
        assert_eq!(per_worker_capacity(1001, 2), 501);
        assert_eq!(per_worker_capacity(10, 3), 4);
        assert_eq!(per_worker_capacity(10, 0), 10);
    }
}

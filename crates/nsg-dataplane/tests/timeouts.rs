//! A policy change reaches every worker's own flow table: the new policy's
//! NIC timeouts age the flows from the first frame judged under it, with
//! one worker or several.

mod common;

use common::segment;
use nsg_dataplane::flow_setup::flow_tables_for;
use nsg_dataplane::pipeline::{Outcome, WorkerOptions};
use nsg_dataplane::policy::PolicyCell;
use nsg_dataplane::workers::{run, PolicyChange};
use nsg_packet::link::{CapturedFrame, Link};
use nsg_policy::Policy;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

const MINUTE_NS: u64 = 60_000_000_000;
const T0: u64 = 1_714_564_800_000_000_000;

/// One NIC (10.0.1.4) in a VNet whose flows idle out after `minutes`;
/// its NSG allows inbound TCP 80.
fn policy(minutes: u32) -> Arc<Policy> {
    let text = format!(
        "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n\
         flow_timeout_minutes = {minutes}\n\
         [[subnet]]\nname = \"S\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"G\"\n\
         [[nic]]\nname = \"N\"\nsubnet = \"S\"\nips = [\"10.0.1.4\"]\n\
         [[nsg]]\nname = \"G\"\n\
         [[nsg.rule]]\nname = \"Web\"\npriority = 100\n\
         direction = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\n\
         destination = \"*\"\ndestination_ports = 80\n"
    );
    Arc::new(nsg_policy::load_str(&text, Path::new("p.toml"), &Default::default()).unwrap())
}

/// A TCP segment of the client's connection to the server's port 80 at
/// `ts_ns` (as [`segment`] makes it).
fn at(ts_ns: u64, to_server: bool, syn: bool, ack: bool) -> CapturedFrame {
    let data = segment(to_server, syn, ack);
    CapturedFrame {
        ts_ns,
        link: Link::Ethernet,
        orig_len: data.len() as u32,
        data,
        interface: 0,
    }
}

/// A handshake under a policy whose flows idle out after `before` minutes,
/// then a switch to one with `after` minutes and the client's next segment
/// 10 minutes later: whether the flow still let it through.
fn alive_after_ten_idle_minutes(before: u32, after: u32, workers: usize) -> bool {
    let first = policy(before);
    let frames = [
        at(T0, true, true, false),
        at(T0 + 1, false, true, true),
        at(T0 + 2, true, false, true),
        at(T0 + 10 * MINUTE_NS, true, false, true),
    ];
    let tables = flow_tables_for(&first, 64, workers).unwrap();
    assert_eq!(tables.len(), workers);
    let cell = Arc::new(PolicyCell::new(first).unwrap());
    let changes = [PolicyChange {
        at_frame: 3,
        policy: policy(after),
    }];
    let mut out = Vec::new();
    let (totals, err) = run(
        &cell,
        tables,
        WorkerOptions::default(),
        frames.iter().map(|f| Ok::<_, Infallible>(f.as_frame_ref())),
        &changes,
        |j| out.push(j.result.outcome),
    );
    assert!(err.is_none());
    assert_eq!(totals.tables.len(), workers);
    assert_eq!(out.len(), 4);
    assert!(matches!(out[2], Outcome::Allowed { by_state: true, .. }));
    match out[3] {
        Outcome::Allowed { by_state, .. } => by_state,
        other => panic!("the last segment: {other:?}"),
    }
}

#[test]
fn a_longer_timeout_of_the_new_policy_keeps_an_idle_flow() {
    for workers in [1, 2] {
        assert!(alive_after_ten_idle_minutes(4, 30, workers), "{workers}");
        assert!(alive_after_ten_idle_minutes(30, 30, workers), "{workers}");
    }
}

#[test]
fn a_shorter_timeout_of_the_new_policy_ends_an_idle_flow() {
    for workers in [1, 2] {
        assert!(!alive_after_ten_idle_minutes(30, 4, workers), "{workers}");
        assert!(!alive_after_ten_idle_minutes(4, 4, workers), "{workers}");
    }
}

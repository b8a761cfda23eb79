//! A reload that turns `flush_connections` on re-judges the flows created
//! while it was off: the next packet of such a flow is judged as the flow's
//! first packet was, under the new rules.

mod common;

use common::segment;
use nsg_dataplane::pipeline::{Outcome, Worker, WorkerOptions};
use nsg_dataplane::policy::PolicyCell;
use nsg_flow::{FlowTable, NicId, Timestamp};
use nsg_packet::{FiveTuple, Frame};
use nsg_policy::Policy;
use std::path::Path;
use std::sync::Arc;

/// One NIC (10.0.1.4) behind NSG `G`, which allows inbound TCP to `port`
/// and flushes live flows on a change when `flush`.
fn policy(port: u16, flush: bool) -> Arc<Policy> {
    let text = format!(
        "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n\
         [[subnet]]\nname = \"S\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"G\"\n\
         [[nic]]\nname = \"N\"\nsubnet = \"S\"\nips = [\"10.0.1.4\"]\n\
         [[nsg]]\nname = \"G\"\nflush_connections = {flush}\n\
         [[nsg.rule]]\nname = \"Web\"\npriority = 100\n\
         direction = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\n\
         destination = \"*\"\ndestination_ports = {port}\n"
    );
    Arc::new(nsg_policy::load_str(&text, Path::new("p.toml"), &Default::default()).unwrap())
}

/// The flow's tuple as its first packet travelled (client to server).
fn flow_tuple() -> FiveTuple {
    match nsg_packet::parse(&segment(true, true, false)) {
        Ok(Frame::Ip(m)) => m.tuple,
        other => panic!("{other:?}"),
    }
}

/// A web connection to NIC N set up under a policy that allows it and does
/// not flush; then `next` is published. Returns the outcome of the client's
/// next packet, and the cell, worker and table for further checks.
fn after_reload(next: Arc<Policy>) -> (Outcome, Arc<PolicyCell>, Worker) {
    let first = policy(80, false);
    let table = FlowTable::with_capacity(64).unwrap();
    let cell = Arc::new(PolicyCell::new(first.clone()).unwrap());
    let mut w = Worker::new(table, WorkerOptions::default());
    let p = cell.load();
    let syn = w.process(&p, &segment(true, true, false), Timestamp(1));
    assert!(matches!(
        syn.outcome,
        Outcome::Allowed {
            by_state: false,
            ..
        }
    ));
    let syn_ack = w.process(&p, &segment(false, true, true), Timestamp(2));
    assert!(matches!(
        syn_ack.outcome,
        Outcome::Allowed { by_state: true, .. }
    ));
    let entry = w.table().get(NicId(0), &flow_tuple()).unwrap();
    assert!(!entry.flush_on_change);
    assert_eq!(cell.publish(next), Ok(2));
    let p = cell.load();
    let ack = w.process(&p, &segment(true, false, true), Timestamp(3));
    (ack.outcome, cell, w)
}

#[test]
fn a_reload_that_turns_flush_on_denies_live_flows_its_rules_deny() {
    let (outcome, cell, mut w) = after_reload(policy(81, true));
    let Outcome::Denied {
        decider,
        generation,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(generation, 2);
    assert_eq!(
        decider.name(cell.load().policy()).as_deref(),
        Some("G/DenyAllInBound")
    );
    // The flow is gone: the server's next packet is judged by the rules as
    // a new outbound flow, not passed by state.
    assert!(w.table().get(NicId(0), &flow_tuple()).is_none());
    let reply = w.process(&cell.load(), &segment(false, false, true), Timestamp(4));
    assert!(matches!(
        reply.outcome,
        Outcome::Allowed {
            by_state: false,
            ..
        }
    ));
    let v = &w.stats().verdict;
    assert_eq!((v.allowed, v.denied), (3, 1));
    assert_eq!(w.stats().flow.reevaluations, 1);
}

#[test]
fn a_reload_that_turns_flush_on_keeps_live_flows_its_rules_allow() {
    let (outcome, cell, w) = after_reload(policy(80, true));
    let Outcome::Allowed {
        generation,
        by_state,
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((generation, by_state), (2, false));
    // Decided again under generation 2, which flushes: counted once.
    let entry = w.table().get(NicId(0), &flow_tuple()).unwrap();
    assert_eq!(entry.generation, 2);
    assert!(entry.flush_on_change);
    assert_eq!(entry.packets, [2, 1]);
    drop(cell);
}

#[test]
fn a_reload_without_flush_keeps_live_flows_its_rules_deny() {
    let (outcome, _cell, w) = after_reload(policy(81, false));
    assert!(matches!(
        outcome,
        Outcome::Allowed {
            generation: 1,
            by_state: true,
            ..
        }
    ));
    assert_eq!(
        w.table().get(NicId(0), &flow_tuple()).unwrap().generation,
        1
    );
}

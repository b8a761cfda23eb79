//! Stateful scenarios through the pipeline on synthesised captures over
//! config/three-tier.toml: replies allowed by state, denied SYNs creating no
//! flow, flows outliving the removal of their rule (and cut with
//! flush_connections), fragments following their first fragment, ICMP errors
//! for live flows, and flow logs.

use nsg_capture::capture::{CapturedFrame, FrameRef, Link};
use nsg_capture::flowlog::{parse_flow_log, FlowState};
use nsg_capture::replay::{replay_frames, ReplayOptions};
use nsg_dataplane::flow_setup::flow_tables_for;
use nsg_dataplane::pipeline::{DropCause, FrameResult, Outcome, WorkerOptions};
use nsg_dataplane::policy::PolicyCell;
use nsg_dataplane::workers::{run, PolicyChange};
use nsg_policy::Policy;
use nsg_synth::{Capture, Endpoint, FragSpec, IcmpError, Peers, SynSpec, Synth, TcpClose, TcpSpec};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const T0: u64 = 1_714_564_800_000_000_000;

fn three_tier_text() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/three-tier.toml");
    std::fs::read_to_string(p).expect("config/three-tier.toml")
}

fn load(text: &str) -> Arc<Policy> {
    Arc::new(
        nsg_policy::load_str(text, Path::new("three-tier.toml"), &Default::default())
            .expect("policy loads"),
    )
}

fn ep(ip: &str, last: u8) -> Endpoint {
    Endpoint::new([0x02, 0, 0, 0, 0, last], ip.parse().unwrap())
}

fn frames(cap: &Capture) -> impl Iterator<Item = Result<CapturedFrame, Infallible>> + '_ {
    cap.frames.iter().map(|(ts, d)| {
        Ok(CapturedFrame {
            ts_ns: *ts,
            link: Link::Ethernet,
            data: d.clone(),
            orig_len: d.len() as u32,
            interface: 0,
        })
    })
}

/// The frames of `cap` borrowed, as the workers take them.
fn frame_refs(cap: &Capture) -> impl Iterator<Item = Result<FrameRef<'_>, Infallible>> + '_ {
    cap.frames.iter().map(|(ts, d)| {
        Ok(FrameRef {
            ts_ns: *ts,
            link: Link::Ethernet,
            data: d,
            orig_len: d.len() as u32,
            interface: 0,
        })
    })
}

/// Judge every frame; results in input order.
fn judge(
    policy: Arc<Policy>,
    cap: &Capture,
    switches: &[PolicyChange],
    workers: usize,
) -> Vec<FrameResult> {
    let tables = flow_tables_for(&policy, 10_000, workers).unwrap();
    let cell = Arc::new(PolicyCell::new(policy).unwrap());
    let mut out = Vec::new();
    let (totals, err) = run(
        &cell,
        tables,
        WorkerOptions::default(),
        frame_refs(cap),
        switches,
        |j| out.push(j.result),
    );
    assert!(err.is_none());
    assert_eq!(totals.stats.verdict.frames as usize, cap.len());
    out
}

fn rule_of(policy: &Policy, r: &FrameResult) -> String {
    match r.outcome {
        Outcome::Allowed { decider, .. } | Outcome::Denied { decider, .. } => {
            decider.name(policy).unwrap_or_else(|| "-".to_string())
        }
        o => format!("{o:?}"),
    }
}

#[test]
fn replies_pass_by_state_while_new_inbound_is_denied() {
    let policy = load(&three_tier_text());
    let nic1 = ep("10.0.1.4", 4);
    let remote = ep("52.1.2.3", 9);
    let mut cap = Capture::new();
    let mut s = Synth::new(1);
    let out = Peers::new(nic1, remote).unwrap();
    let conn = s.tcp_connection(
        &mut cap,
        T0,
        &out,
        &TcpSpec {
            exchanges: vec![(300, 4000)],
            close: TcpClose::Fin { client_first: true },
            ..TcpSpec::new(443)
        },
    );
    let inbound = Peers::new(remote, nic1).unwrap();
    let probe = s.tcp_unanswered(&mut cap, T0 + 5_000_000_000, &inbound, &SynSpec::new(443));
    cap.sort_by_time();
    for workers in [1, 2] {
        let r = judge(policy.clone(), &cap, &[], workers);
        for i in conn.frames.clone() {
            assert!(
                matches!(r[i].outcome, Outcome::Allowed { .. }),
                "frame {i}: {:?}",
                r[i]
            );
        }
        // The SYN-ACK from the Internet passed by state, not by a rule.
        assert!(matches!(
            r[1].outcome,
            Outcome::Allowed { by_state: true, .. }
        ));
        assert_eq!(rule_of(&policy, &r[0]), "NSG1/AllowInternetOutBound");
        for i in probe.frames.clone() {
            assert_eq!(rule_of(&policy, &r[i]), "NSG1/DenyAllInBound", "frame {i}");
        }
    }
}

#[test]
fn a_denied_syn_creates_no_flow() {
    let policy = load(&three_tier_text());
    let mut cap = Capture::new();
    let peers = Peers::new(ep("203.0.113.9", 9), ep("10.0.2.5", 5)).unwrap();
    Synth::new(2).tcp_unanswered(&mut cap, T0, &peers, &SynSpec::new(1433));
    let web_db = Peers::new(ep("10.0.1.4", 4), ep("10.0.2.5", 5)).unwrap();
    Synth::new(3).tcp_unanswered(&mut cap, T0 + 10, &web_db, &SynSpec::new(1433));
    cap.sort_by_time();
    let opts = ReplayOptions {
        workers: 1,
        ..ReplayOptions::default()
    };
    let report =
        replay_frames(policy.clone(), frames(&cap).map(|f| Ok(f.unwrap())), &opts).unwrap();
    let v = &report.stats.verdict;
    assert_eq!(v.denied as usize, cap.len());
    assert_eq!(v.flows_created, 0);
    assert_eq!(report.flows(), 0);
    assert!(report.adds_up());
    // Both are stopped by Deny-Database-All (Internet and web alike).
    let by: Vec<String> = v
        .by_rule
        .keys()
        .map(|k| {
            nsg_dataplane::policy::decider(k.rule)
                .name(&policy)
                .unwrap_or_else(|| "-".to_string())
        })
        .collect();
    assert_eq!(by, vec!["NSG1/Deny-Database-All".to_string()]);
}

fn web_session(cap: &mut Capture, seed: u64, client: &str, t0: u64) -> std::ops::Range<usize> {
    let peers = Peers::new(ep(client, 9), ep("10.0.1.4", 4)).unwrap();
    Synth::new(seed)
        .tcp_connection(
            cap,
            t0,
            &peers,
            &TcpSpec {
                exchanges: vec![(200, 2000), (200, 2000), (200, 2000)],
                close: TcpClose::Fin { client_first: true },
                ..TcpSpec::new(80)
            },
        )
        .frames
}

#[test]
fn a_flow_outlives_the_removal_of_its_rule_unless_flushed() {
    let text = three_tier_text();
    let policy = load(&text);
    // The same policy without rule 100's port: new web connections fall to DenyAllInBound.
    let cut = text.replacen("destination_ports = 80\n", "destination_ports = 81\n", 1);
    assert_ne!(cut, text);
    let flushing = cut.replace(
        "name = \"NSG1\"\n",
        "name = \"NSG1\"\nflush_connections = true\n",
    );
    let mut cap = Capture::new();
    let first = web_session(&mut cap, 4, "198.51.100.7", T0);
    let switch_at = first.start + 6;
    let later = web_session(&mut cap, 5, "198.51.100.8", T0 + 60_000_000_000);
    for (next, flushed) in [(cut, false), (flushing, true)] {
        let switches = [PolicyChange {
            at_frame: switch_at as u64,
            policy: load(&next),
        }];
        for workers in [1, 2] {
            let r = judge(policy.clone(), &cap, &switches, workers);
            let from_client = |i: usize| cap.frames[i].1[26..30] == [198, 51, 100, 7];
            let first_inbound_after = (switch_at..first.end).find(|&i| from_client(i)).unwrap();
            for i in first.clone() {
                let allowed = matches!(r[i].outcome, Outcome::Allowed { .. });
                if flushed && i == first_inbound_after {
                    // Re-evaluated as its first packet was: no rule allows it now.
                    assert_eq!(rule_of(&policy, &r[i]), "NSG1/DenyAllInBound", "frame {i}");
                } else if i < switch_at || !flushed {
                    assert!(allowed, "frame {i} (flushed {flushed}): {:?}", r[i]);
                }
            }
            // A new connection after the change is refused.
            assert_eq!(rule_of(&policy, &r[later.start]), "NSG1/DenyAllInBound");
        }
    }
}

#[test]
fn fragments_follow_their_first_fragment() {
    let policy = load(&three_tier_text());
    let mut cap = Capture::new();
    let spec = FragSpec {
        client_port: Some(40000),
        server_port: 5001,
        payload_len: 4000,
        mtu: 1500,
        response: None,
        delay_ns: 1_000_000,
    };
    let logic_db = Peers::new(ep("10.0.2.4", 3), ep("10.0.2.5", 5)).unwrap();
    let ok = Synth::new(6).udp_fragments(&mut cap, T0, &logic_db, &spec);
    let internet = Peers::new(ep("203.0.113.50", 9), ep("10.0.1.4", 4)).unwrap();
    let bad = Synth::new(7).udp_fragments(&mut cap, T0 + 1_000_000_000, &internet, &spec);
    let r = judge(policy.clone(), &cap, &[], 1);
    assert!(ok.frames.len() >= 3);
    for i in ok.frames.clone() {
        assert!(
            matches!(r[i].outcome, Outcome::Allowed { .. }),
            "frame {i}: {:?}",
            r[i]
        );
    }
    assert_eq!(
        rule_of(&policy, &r[bad.frames.start]),
        "NSG1/DenyAllInBound"
    );
    for (i, res) in r
        .iter()
        .enumerate()
        .take(bad.frames.end)
        .skip(bad.frames.start + 1)
    {
        assert_eq!(
            res.outcome,
            Outcome::Dropped(DropCause::OrphanFragment),
            "frame {i}"
        );
    }
}

#[test]
fn icmp_errors_for_live_flows_pass() {
    let policy = load(&three_tier_text());
    let mut cap = Capture::new();
    let conn = web_session(&mut cap, 8, "198.51.100.9", T0);
    // A router on the path reports the server's data segment (frame 4 goes
    // server -> client) back to the server.
    let server_data = cap.frames[conn.start + 4].1.clone();
    let router = ep("192.0.2.1", 7);
    let mut s = Synth::new(9);
    let t = cap.frames[conn.start + 4].0 + 1_000;
    s.icmp_error(
        &mut cap,
        t,
        &router,
        &server_data,
        IcmpError::PacketTooBig { mtu: 1400 },
    )
    .unwrap();
    // The same error after the flow is gone (long after its timeouts).
    let late = cap.frames.last().unwrap().0 + 3_600_000_000_000;
    s.icmp_error(
        &mut cap,
        late,
        &router,
        &server_data,
        IcmpError::PacketTooBig { mtu: 1400 },
    )
    .unwrap();
    cap.sort_by_time();
    let r = judge(policy.clone(), &cap, &[], 1);
    let pos = |ts: u64| cap.frames.iter().position(|f| f.0 == ts).unwrap();
    assert!(
        matches!(r[pos(t)].outcome, Outcome::Allowed { by_state: true, .. }),
        "{:?}",
        r[pos(t)]
    );
    assert_eq!(rule_of(&policy, &r[pos(late)]), "NSG1/DenyAllInBound");
}

#[test]
fn flow_logs_record_begin_end_and_open_flows() {
    let policy = load(&three_tier_text());
    let mut cap = Capture::new();
    let closed = web_session(&mut cap, 10, "198.51.100.20", T0);
    let open_peers = Peers::new(ep("198.51.100.21", 9), ep("10.0.1.5", 5)).unwrap();
    Synth::new(11).tcp_connection(
        &mut cap,
        T0 + 1_000,
        &open_peers,
        &TcpSpec {
            exchanges: vec![(100, 1000)],
            close: TcpClose::Open,
            ..TcpSpec::new(80)
        },
    );
    let probe = Peers::new(ep("198.51.100.22", 9), ep("10.0.2.5", 5)).unwrap();
    Synth::new(12).tcp_unanswered(&mut cap, T0 + 2_000, &probe, &SynSpec::new(1433));
    cap.sort_by_time();
    let path = std::env::temp_dir().join(format!("nsg-stateful-{}.json", std::process::id()));
    let opts = ReplayOptions {
        workers: 1,
        flow_log: Some(path.clone()),
        ..ReplayOptions::default()
    };
    replay_frames(policy, frames(&cap).map(|f| Ok(f.unwrap())), &opts).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let tuples = parse_flow_log(&json).expect("our flow log parses");
    let find = |src: &str, state: FlowState| {
        tuples
            .iter()
            .find(|t| t.tuple.src.to_string() == src && t.tuple.state == state)
            .unwrap_or_else(|| panic!("no {state:?} tuple from {src} in {json}"))
    };
    let b = find("198.51.100.20", FlowState::Begin);
    assert_eq!(b.rule, "UserRule_Allow-HTTP-Inbound-Internet");
    assert_eq!(b.nsg, "NSG1");
    assert!(b.tuple.inbound && b.tuple.allowed && b.tuple.tcp);
    assert_eq!(b.mac, Some([0x02, 0x00, 0x0a, 0x00, 0x01, 0x04]));
    let e = find("198.51.100.20", FlowState::End);
    let c = e.tuple.counters.expect("E carries counters");
    let client_frames = cap.frames[closed.clone()]
        .iter()
        .filter(|f| f.1[26..30] == [198, 51, 100, 20])
        .count() as u64;
    assert!(
        c.packets_sd >= client_frames - 1,
        "{c:?} vs {client_frames}"
    );
    assert!(c.packets_ds > 0 && c.bytes_ds > c.bytes_sd);
    let open = find("198.51.100.21", FlowState::Continuing);
    assert!(open.tuple.counters.is_some());
    let d = find("198.51.100.22", FlowState::Begin);
    assert!(!d.tuple.allowed);
    assert_eq!(d.rule, "UserRule_Deny-Database-All");
    // One denied record for the SYN and its retransmissions.
    assert_eq!(
        tuples
            .iter()
            .filter(|t| t.tuple.src.to_string() == "198.51.100.22")
            .count(),
        1
    );
}

#[test]
fn demo_traffic_verdicts_are_the_reference_evaluator_s() {
    use nsg_dataplane::pipeline::eval_packet;
    use nsg_policy::{evaluate, Access, Direction};
    use nsg_synth::demo_traffic;
    let policy = load(&three_tier_text());
    let cap = demo_traffic(&policy, 3);
    let r = judge(policy.clone(), &cap, &[], 2);
    let mut judged_by_rule = 0;
    for (i, (res, (_, frame))) in r.iter().zip(&cap.frames).enumerate() {
        let (access, decider) = match res.outcome {
            Outcome::Allowed {
                decider,
                by_state: false,
                ..
            } => (Access::Allow, decider),
            Outcome::Denied { decider, .. } => (Access::Deny, decider),
            _ => continue,
        };
        let Ok(nsg_packet::Frame::Ip(m)) = nsg_packet::parse(frame) else {
            panic!("frame {i} judged but not IP");
        };
        let pkt = eval_packet(&m);
        // The path: outbound at the sender's NIC, then inbound at the receiver's.
        let mut want = (Access::Allow, nsg_policy::Decider::NoNsg);
        for (ip, dir) in [
            (pkt.src, Direction::Outbound),
            (pkt.dst, Direction::Inbound),
        ] {
            if let Some(nic) = policy.nic_of_ip(&ip) {
                let v = evaluate(&policy, nic, dir, &pkt);
                want = (v.access, v.decider);
                if v.access == Access::Deny {
                    break;
                }
            }
        }
        // A hit at one NIC and an evaluation at the other report the last
        // step; compare only frames evaluated at every step of their path.
        if access == Access::Deny || res.state.is_none() || want.0 == Access::Deny {
            assert_eq!(access, want.0, "frame {i}: {:?} vs {want:?}", res.outcome);
        }
        if access == want.0 && decider == want.1 {
            judged_by_rule += 1;
        }
    }
    assert!(judged_by_rule > 500, "{judged_by_rule}");
}

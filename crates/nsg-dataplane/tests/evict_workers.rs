//! Eviction classes and refusals with one flow table per worker: each
//! worker's table fills on its own; when one is full of established flows a
//! new flow is refused there (and only there), and when it also holds
//! closing or half-open flows the new flow evicts a closing one first, then
//! a half-open one, never an established one.

use etherparse::PacketBuilder;
use nsg_dataplane::flow_setup::flow_tables_for;
use nsg_dataplane::pipeline::{DropCause, Outcome, WorkerOptions};
use nsg_dataplane::policy::PolicyCell;
use nsg_dataplane::workers::{run, shard_hash};
use nsg_flow::{FlowTable, NicId};
use nsg_packet::link::{CapturedFrame, Link};
use nsg_packet::FiveTuple;
use nsg_policy::Policy;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

const WORKERS: usize = 2;
/// Flows per worker's table.
const EACH: usize = 8;
const SERVER: [u8; 4] = [10, 0, 1, 4];
const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_714_564_800 * SECOND;

/// One NIC (10.0.1.4) whose NSG allows inbound TCP 80.
fn policy() -> Arc<Policy> {
    let text = "[[vnet]]\nname = \"V1\"\naddress_space = [\"10.0.0.0/16\"]\n\
         [[subnet]]\nname = \"S\"\nvnet = \"V1\"\nprefixes = [\"10.0.1.0/24\"]\nnsg = \"G\"\n\
         [[nic]]\nname = \"N\"\nsubnet = \"S\"\nips = [\"10.0.1.4\"]\n\
         [[nsg]]\nname = \"G\"\n\
         [[nsg.rule]]\nname = \"Web\"\npriority = 100\n\
         direction = \"inbound\"\naccess = \"allow\"\nprotocol = \"tcp\"\nsource = \"*\"\n\
         destination = \"*\"\ndestination_ports = 80\n";
    Arc::new(nsg_policy::load_str(text, Path::new("p.toml"), &Default::default()).unwrap())
}

/// TCP flags of a segment.
#[derive(Clone, Copy)]
enum Seg {
    Syn,
    SynAck,
    Ack,
    Fin,
}

/// A segment between client `c` (port 50000) and the server's port 80.
fn segment(c: [u8; 4], seg: Seg) -> Vec<u8> {
    let to_server = !matches!(seg, Seg::SynAck);
    let (src, sp, dst, dp) = if to_server {
        (c, 50_000, SERVER, 80)
    } else {
        (SERVER, 80, c, 50_000)
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, 1000, 65_535);
    b = match seg {
        Seg::Syn => b.syn(),
        Seg::SynAck => b.syn().ack(1),
        Seg::Ack => b.ack(1),
        Seg::Fin => b.fin().ack(1),
    };
    let mut frame = Vec::with_capacity(b.size(0));
    b.write(&mut frame, &[])
        .expect("a frame is written to a Vec");
    frame
}

/// The worker that judges client `c`'s frames.
fn worker_of(c: [u8; 4]) -> usize {
    (shard_hash(&segment(c, Seg::Syn)) % WORKERS as u64) as usize
}

/// The first `n` clients (198.18.x.y) whose frames go to worker `w`.
fn clients_of(w: usize, n: usize, skip: usize) -> Vec<[u8; 4]> {
    (0u16..)
        .map(|i| {
            let [hi, lo] = i.to_be_bytes();
            [198, 18, hi, lo]
        })
        .filter(|&c| worker_of(c) == w)
        .skip(skip)
        .take(n)
        .collect()
}

/// The frames of a test, in order, with their times.
struct Traffic {
    frames: Vec<CapturedFrame>,
}

impl Traffic {
    /// Add a segment of client `c` at `ts_ns`; answers its index.
    fn add(&mut self, ts_ns: u64, c: [u8; 4], seg: Seg) -> usize {
        let data = segment(c, seg);
        self.frames.push(CapturedFrame {
            ts_ns,
            link: Link::Ethernet,
            orig_len: data.len() as u32,
            data,
            interface: 0,
        });
        self.frames.len() - 1
    }

    /// Add client `c`'s three-way handshake at `ts_ns`.
    fn handshake(&mut self, ts_ns: u64, c: [u8; 4]) {
        for seg in [Seg::Syn, Seg::SynAck, Seg::Ack] {
            self.add(ts_ns, c, seg);
        }
    }
}

/// The tuple of client `c`'s connection.
fn tuple(c: [u8; 4]) -> FiveTuple {
    match nsg_packet::parse(&segment(c, Seg::Syn)) {
        Ok(nsg_packet::Frame::Ip(m)) => m.tuple,
        other => panic!("a TCP segment parses as IP: {other:?}"),
    }
}

/// Whether table `t` holds client `c`'s flow.
fn holds(t: &FlowTable, c: [u8; 4]) -> bool {
    t.get(NicId(0), &tuple(c)).is_some()
}

#[test]
fn each_worker_evicts_and_refuses_in_its_own_table() {
    let policy = policy();
    let tables = flow_tables_for(&policy, WORKERS * EACH, WORKERS).unwrap();
    assert!(tables.iter().all(|t| t.capacity() == EACH));
    let (est0, est1) = (clients_of(0, EACH, 0), clients_of(1, EACH, 0));
    let new0 = clients_of(0, 4, EACH);
    let new1 = clients_of(1, 1, EACH);
    let mut tr = Traffic { frames: Vec::new() };
    // Both tables fill with established flows.
    for &c in est0.iter().chain(&est1) {
        tr.handshake(T0, c);
    }
    // Full of established flows: a new flow is refused at each worker.
    let refused0 = tr.add(T0 + SECOND, new0[0], Seg::Syn);
    let refused1 = tr.add(T0 + SECOND, new1[0], Seg::Syn);
    // Worker 0's first two flows start closing (FIN from the client).
    tr.add(T0 + 2 * SECOND, est0[0], Seg::Fin);
    tr.add(T0 + 2 * SECOND, est0[1], Seg::Fin);
    // Past the retry interval: worker 0's new flow evicts a closing one;
    // worker 1, all established, still refuses.
    let evicts_closing = tr.add(T0 + 3 * SECOND, new0[1], Seg::Syn);
    let still_refused1 = tr.add(T0 + 3 * SECOND, new1[0], Seg::Syn);
    // The next takes the other closing flow, not the half-open one.
    let evicts_closing2 = tr.add(T0 + 4 * SECOND, new0[2], Seg::Syn);
    // With no closing flow left, a half-open one goes; established never.
    let evicts_half_open = tr.add(T0 + 5 * SECOND, new0[3], Seg::Syn);

    let cell = Arc::new(PolicyCell::new(policy).unwrap());
    let mut out = Vec::new();
    let (totals, err) = run(
        &cell,
        tables,
        WorkerOptions::default(),
        tr.frames
            .iter()
            .map(|f| Ok::<_, Infallible>(f.as_frame_ref())),
        &[],
        |j| out.push(j.result.outcome),
    );
    assert!(err.is_none());
    let table_full = Outcome::Dropped(DropCause::TableFull);
    for i in [refused0, refused1, still_refused1] {
        assert_eq!(out[i], table_full, "frame {i} refused");
    }
    for i in [evicts_closing, evicts_closing2, evicts_half_open] {
        assert!(
            matches!(out[i], Outcome::Allowed { .. }),
            "frame {i}: {:?}",
            out[i]
        );
    }
    let f = &totals.stats.flow;
    assert_eq!(f.evicted_closing, 2, "{f:?}");
    assert_eq!(f.evicted_half_open, 1, "{f:?}");
    assert!(f.refusals >= 3, "{f:?}");
    let (t0, t1) = (&totals.tables[0], &totals.tables[1]);
    assert!(t0.len() <= EACH && t1.len() == EACH);
    // Worker 0 kept every established flow that did not close, lost both
    // closing ones, and holds the last two new flows: one of the two
    // half-open flows before them was evicted.
    assert!(est0[2..].iter().all(|&c| holds(t0, c)));
    assert!(!holds(t0, est0[0]) && !holds(t0, est0[1]));
    assert!(holds(t0, new0[3]));
    assert_eq!(
        [new0[1], new0[2]].iter().filter(|&&c| holds(t0, c)).count(),
        1
    );
    // Worker 1 kept all its flows and never took the refused one; neither
    // table holds the other's flows.
    assert!(est1.iter().all(|&c| holds(t1, c) && !holds(t0, c)));
    assert!(!holds(t1, new1[0]));
    assert!(est0.iter().all(|&c| !holds(t1, c)));
}

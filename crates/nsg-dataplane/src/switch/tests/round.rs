//! A round of frames switched together (`handle_round`, its IP packets
//! judged in one batch) against the same frames one at a time (`handle`):
//! the same action, rewritten frame and emitted frame for each, the same
//! counters after.

use super::*;

/// What the switch did with one frame: its action, the frame as rewritten,
/// and what an `Emit` sent.
type Done = (Action, Vec<u8>, Vec<u8>);

/// The frames of a round from NIC1's port: an ARP request, an allowed
/// connection's SYN and its next segment, a denied SYN, a spoofed source, a
/// frame to the Internet whose next hop is not known yet (held, solicited).
fn from_nic1() -> Vec<Vec<u8>> {
    let mut arp = Vec::new();
    neigh::arp_request(
        &mut arp,
        NIC1_MAC,
        ip4("10.0.1.4").into(),
        ip4("10.0.2.4").into(),
    );
    vec![
        tcp4(NIC1_MAC, NIC2_MAC, "10.0.1.4", "10.0.1.5", 22, SYN),
        arp,
        tcp4(NIC1_MAC, NIC2_MAC, "10.0.1.4", "10.0.1.5", 22, 0x10),
        tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "10.0.2.5", 1433, SYN),
        tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.5", "10.0.2.4", 80, SYN),
        tcp4(NIC1_MAC, GATEWAY_MAC, "10.0.1.4", "203.0.113.10", 443, SYN),
        tcp4(NIC1_MAC, NIC2_MAC, "10.0.1.4", "10.0.1.5", 22, 0x10),
    ]
}

/// The frames of a round from the uplink: allowed to web, denied to the
/// database, and to an address that is not a NIC's.
fn from_uplink() -> Vec<Vec<u8>> {
    vec![
        tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.4", 80, SYN),
        tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.2.5", 1433, SYN),
        tcp4(INET_MAC, GATEWAY_MAC, "203.0.113.10", "10.0.1.4", 80, 0x10),
        tcp4(
            INET_MAC,
            GATEWAY_MAC,
            "203.0.113.10",
            "198.51.100.1",
            80,
            SYN,
        ),
    ]
}

fn one_by_one(l: &mut Lab, port: PortId, frames: &[Vec<u8>]) -> Vec<Done> {
    frames
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let a = l.send(port, &mut f);
            let emitted = match a {
                Action::Emit(_) => l.sw.emitted().to_vec(),
                _ => Vec::new(),
            };
            (a, f, emitted)
        })
        .collect()
}

fn as_round(l: &mut Lab, port: PortId, frames: &[Vec<u8>]) -> Vec<Done> {
    let mut bytes: Vec<Vec<u8>> = frames.to_vec();
    let mut hdrs: Vec<Vec<u8>> = vec![Vec::new(); frames.len()];
    let mut round: Vec<(&mut [u8], &mut [u8])> = hdrs
        .iter_mut()
        .zip(bytes.iter_mut())
        .map(|(h, f)| (h.as_mut_slice(), f.as_mut_slice()))
        .collect();
    let mut got: Vec<Option<(Action, Vec<u8>)>> = vec![None; frames.len()];
    let p = l.cell.load();
    l.sw.handle_round(
        &p,
        port,
        &mut round,
        Timestamp(1_000),
        |k, a, emitted, _| {
            assert!(got[k].is_none(), "frame {k} answered twice");
            let emitted = match a {
                Action::Emit(_) => emitted.to_vec(),
                _ => Vec::new(),
            };
            got[k] = Some((a, emitted));
        },
    );
    drop(round);
    got.into_iter()
        .zip(bytes)
        .enumerate()
        .map(|(k, (g, f))| {
            let (a, e) = g.unwrap_or_else(|| panic!("frame {k} not answered"));
            (a, f, e)
        })
        .collect()
}

#[test]
fn a_round_is_switched_as_its_frames_one_at_a_time() {
    for uplink_mac in [None, Some(INET_MAC)] {
        let (mut a, mut b) = (lab(uplink_mac), lab(uplink_mac));
        for (port, frames) in [(0, from_nic1()), (UPLINK, from_uplink()), (0, from_nic1())] {
            let want = one_by_one(&mut a, port, &frames);
            let got = as_round(&mut b, port, &frames);
            assert_eq!(got, want, "port {port}, uplink MAC {uplink_mac:?}");
        }
        assert_eq!(b.sw.stats, a.sw.stats);
        let (sa, sb) = (a.sw.pipeline.stats().clone(), b.sw.pipeline.stats().clone());
        assert_eq!(sb.parse, sa.parse);
        assert_eq!(sb.flow, sa.flow);
        assert_eq!(sb.verdict, sa.verdict);
        // The round saw every kind of answer.
        let kinds = one_by_one(&mut lab(uplink_mac), 0, &from_nic1());
        assert!(kinds.iter().any(|d| matches!(d.0, Action::Forward(_))));
        assert!(kinds.iter().any(|d| matches!(d.0, Action::Emit(_))));
        assert!(kinds.iter().any(|d| d.0 == Action::Drop));
    }
}

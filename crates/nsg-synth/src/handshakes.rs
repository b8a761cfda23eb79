//! The replay benchmark's capture: `connections` TCP connections from
//! Internet clients to the benchmark server's port 80, each opened by a
//! handshake (SYN, SYN-ACK, ACK), then ACKs both ways between random
//! connections until the capture holds `frames` frames. Every frame is 64
//! bytes; the seed fixes the order. The benchmark policy
//! ([`policy_text`](crate::bench::policy_text)) allows every connection.

use crate::bench::{client, tcp_frame, ACK, SERVER, SYN};
use crate::rng::SplitMix64;

/// Length of every frame of the capture.
pub const FRAME_LEN: usize = 64;

/// The frames of the capture, back to back, [`FRAME_LEN`] bytes each:
/// every handshake first, then the ACKs. `connections` is at least one;
/// a capture of fewer frames than the handshakes holds the first ones.
pub fn handshake_frames(connections: usize, frames: usize, seed: u64) -> Vec<u8> {
    let connections = connections.max(1);
    let mut out = Vec::with_capacity(frames * FRAME_LEN);
    let push = |out: &mut Vec<u8>, i: usize, to_server: bool, flags: u8| {
        let (c, port) = client(i);
        let f = if to_server {
            tcp_frame(c, SERVER, port, 80, flags)
        } else {
            tcp_frame(SERVER, c, 80, port, flags)
        };
        out.extend_from_slice(&f);
    };
    'handshakes: for i in 0..connections {
        for (to_server, flags) in [(true, SYN), (false, SYN | ACK), (true, ACK)] {
            if out.len() >= frames * FRAME_LEN {
                break 'handshakes;
            }
            push(&mut out, i, to_server, flags);
        }
    }
    let mut rng = SplitMix64::new(seed);
    while out.len() < frames * FRAME_LEN {
        let r = rng.next_u64();
        let i = (r >> 1) as usize % connections;
        push(&mut out, i, r & 1 == 0, ACK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_packet::{parse, Frame, TcpFlags};

    #[test]
    fn handshakes_first_then_acks_both_ways() {
        let b = handshake_frames(10, 100, 7);
        assert_eq!(b.len(), 100 * FRAME_LEN);
        let metas: Vec<_> = b
            .chunks(FRAME_LEN)
            .map(|f| match parse(f) {
                Ok(Frame::Ip(m)) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        for (k, m) in metas[..30].iter().enumerate() {
            let want = [TcpFlags::SYN, TcpFlags::SYN | TcpFlags::ACK, TcpFlags::ACK][k % 3];
            assert_eq!(m.tcp_flags().map(|f| f.0), Some(want), "frame {k}");
        }
        let acks = &metas[30..];
        assert!(acks
            .iter()
            .all(|m| m.tcp_flags().map(|f| f.0) == Some(TcpFlags::ACK)));
        let to_server = acks.iter().filter(|m| m.tuple.dst_port == 80).count();
        assert!(to_server > 10 && to_server < 60, "{to_server}");
        // The same seed gives the same capture; another seed another order.
        assert_eq!(b, handshake_frames(10, 100, 7));
        assert_ne!(b, handshake_frames(10, 100, 8));
    }
}

//! Frames shared by the pipeline's tests: one client's TCP connection to a
//! server's port 80.

use etherparse::PacketBuilder;

const CLIENT: [u8; 4] = [198, 51, 100, 7];
const SERVER: [u8; 4] = [10, 0, 1, 4];
const CLIENT_PORT: u16 = 50_000;

/// A TCP segment between the client and the server, as an Ethernet frame.
/// `to_server` picks the way; `syn` and `ack` the flags set.
pub fn segment(to_server: bool, syn: bool, ack: bool) -> Vec<u8> {
    let (src, sp, dst, dp) = if to_server {
        (CLIENT, CLIENT_PORT, SERVER, 80)
    } else {
        (SERVER, 80, CLIENT, CLIENT_PORT)
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, 1000, 65_535);
    if syn {
        b = b.syn();
    }
    if ack {
        b = b.ack(1);
    }
    let mut frame = Vec::with_capacity(b.size(0));
    b.write(&mut frame, &[])
        .expect("a frame is written to a Vec");
    frame
}

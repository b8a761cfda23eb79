//! AF_PACKET ports: nsg attaches to an existing interface (a veth end, a
//! physical NIC, a VM's host-side TAP) through raw packet sockets bound to
//! it. The sockets ignore what this host transmits, so frames nsg writes do
//! not come back as input. With several workers each has its own socket in
//! one fanout group, hashed by flow or taken in turn ([`Fanout`]).
//!
//! Every frame read or written carries a virtio-net header
//! (`PACKET_VNET_HDR`): what a VM or a container sends with a partial
//! checksum or as one GSO segment of up to 64 KiB comes with that metadata,
//! and the kernel completes or segments what nsg writes as the device
//! needs. A frame to a port that takes no header is completed in software
//! ([`super::offload`]).

use super::batch::{self, RxBatch};
use super::offload::or_plain;
use super::ring::RxRing;
use super::sys;
use super::{Fanout, PortError, PortFault, PortSpec};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// One socket on the interface, with its receive ring.
pub struct PacketQueue {
    ring: RxRing,
    fd: OwnedFd,
}

impl PacketQueue {
    /// The socket's descriptor, to poll for input.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One frame after its virtio-net header, or `None` when none waits.
    /// The frame comes with its header, from the receive ring.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.ring.recv(buf)
    }

    /// A round of frames into `rx`'s slots, taken from the receive ring
    /// with no system call. A socket error (the interface went away) is
    /// reported once the ring holds nothing more, as a read would.
    pub fn recv_batch(&mut self, rx: &mut RxBatch) -> io::Result<()> {
        self.ring.recv_batch(rx);
        if rx.is_empty() {
            sys::socket_error(self.fd())?;
        }
        Ok(())
    }

    /// Send a round's frames, each after the virtio-net header it came with
    /// (a header asking nothing when it has none), in one `sendmmsg`; `f`
    /// gets each frame's index and whether it was sent.
    pub fn send_batch(&mut self, frames: &[(&[u8], &[u8])], f: impl FnMut(usize, io::Result<()>)) {
        let fixed: Vec<(&[u8], &[u8])> = frames.iter().map(|&(h, b)| (or_plain(h), b)).collect();
        batch::send_batch(self.fd(), &fixed, f);
    }

    /// Send a frame after `hdr`, the virtio-net header it came with (a
    /// header asking nothing when `hdr` is not one).
    pub fn send(&mut self, hdr: &[u8], frame: &[u8]) -> io::Result<()> {
        sys::write2(self.fd(), or_plain(hdr), frame)
    }
}

/// Attach `queues` sockets to the interface `name`. Returns them and the
/// interface's hardware address.
pub fn open(
    spec: &PortSpec,
    name: &str,
    queues: usize,
    fanout: Fanout,
) -> Result<(Vec<PacketQueue>, Option<[u8; 6]>), PortError> {
    let index = sys::if_index(name).map_err(|_| PortError {
        port: spec.clone(),
        fault: PortFault::NoInterface {
            name: name.to_string(),
        },
    })?;
    let err = |what: String, e: io::Error| PortError::io(spec, what, e);
    sys::set_up(name).map_err(|e| err(format!("bring {name} up"), e))?;
    let group = (std::process::id() as u16) ^ (index as u16).rotate_left(8);
    let queues = queues.max(1);
    let mut out = Vec::new();
    for q in 1..=queues {
        let fd = sys::packet_socket(index)
            .map_err(|e| err(format!("open packet socket {q} of {queues} on {name}"), e))?;
        // The ring before the fanout group: a socket's frames go to its
        // ring only if it has one when it joins.
        let ring = RxRing::new(fd.as_raw_fd()).map_err(|e| {
            err(
                format!("set up the receive ring of socket {q} on {name}"),
                e,
            )
        })?;
        if queues > 1 {
            let mode = match fanout {
                Fanout::Hash => libc::PACKET_FANOUT_HASH,
                Fanout::RoundRobin => libc::PACKET_FANOUT_LB,
            };
            // Reassembly only serves the flow hash; in turn, fragments stay
            // fragments (and meet their owner by hand-off).
            sys::packet_fanout(fd.as_raw_fd(), group, mode, fanout == Fanout::Hash).map_err(
                |e| {
                    err(
                        format!("attach socket {q} of {queues} to {name}, fanout group {group}"),
                        e,
                    )
                },
            )?;
        }
        out.push(PacketQueue { ring, fd });
    }
    Ok((out, sys::get_mac(name).ok()))
}

//! AF_PACKET ports: nsg attaches to an existing interface (a veth end, a
//! physical NIC) through pnet_datalink with a 64 KiB read buffer. The socket
//! ignores what this host transmits, so frames nsg writes do not come back
//! as input. With several workers each has its own socket in one fanout
//! group, hashed by flow or taken in turn ([`Fanout`]).

use super::sys;
use super::{Fanout, PortError, PortFault, PortSpec};
use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender, FanoutOption, FanoutType};
use std::io;
use std::os::fd::{IntoRawFd, RawFd};
use std::time::Duration;

/// The read buffer of each socket (the largest frame it can take).
pub const READ_BUFFER: usize = 65_536;

/// One socket on the interface.
pub struct PacketQueue {
    fd: RawFd,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

impl PacketQueue {
    /// The socket's descriptor, to poll for input.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// One frame, or `None` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.rx.next() {
            Ok(f) => {
                let n = f.len().min(buf.len());
                buf[..n].copy_from_slice(&f[..n]);
                Ok(Some(n))
            }
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Send a frame; a virtio-net header asking for segmentation or a
    /// checksum cannot be honoured here.
    pub fn send(&mut self, hdr: &[u8], frame: &[u8]) -> io::Result<()> {
        if super::needs_offload(hdr) {
            return Err(super::offload_error());
        }
        match self.tx.send_to(frame, None) {
            Some(r) => r,
            None => Err(io::Error::other("the channel cannot send")),
        }
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
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| PortError {
            port: spec.clone(),
            fault: PortFault::NoInterface {
                name: name.to_string(),
            },
        })?;
    let err = |what: String, e: io::Error| PortError::io(spec, what, e);
    sys::set_up(name).map_err(|e| err(format!("bring {name} up"), e))?;
    let group = (std::process::id() as u16) ^ (iface.index as u16).rotate_left(8);
    let queues = queues.max(1);
    let mut out = Vec::new();
    for q in 1..=queues {
        let sock = sys::packet_socket()
            .map_err(|e| err(format!("open packet socket {q} of {queues} for {name}"), e))?;
        // pnet takes ownership of the descriptor and closes it on drop.
        let fd = sock.into_raw_fd();
        let cfg = Config {
            read_buffer_size: READ_BUFFER,
            write_buffer_size: READ_BUFFER,
            // Poll happens outside; a read finds a frame or returns at once.
            read_timeout: Some(Duration::ZERO),
            linux_fanout: (queues > 1).then_some(FanoutOption {
                group_id: group,
                fanout_type: match fanout {
                    Fanout::Hash => FanoutType::HASH,
                    Fanout::RoundRobin => FanoutType::LB,
                },
                // Reassembly only serves the flow hash; in turn, fragments
                // stay fragments (and meet their owner by hand-off).
                defrag: fanout == Fanout::Hash,
                rollover: false,
            }),
            promiscuous: true,
            socket_fd: Some(fd),
            ..Config::default()
        };
        match pnet_datalink::channel(&iface, cfg) {
            Ok(Channel::Ethernet(tx, rx)) => out.push(PacketQueue { fd, tx, rx }),
            Ok(_) => {
                return Err(err(
                    format!("open a channel on {name}"),
                    io::Error::other("not an Ethernet channel"),
                ))
            }
            Err(e) => {
                let fanout = if queues > 1 {
                    format!(", fanout group {group}")
                } else {
                    String::new()
                };
                return Err(err(
                    format!("attach socket {q} of {queues} to {name}{fanout}"),
                    e,
                ));
            }
        }
    }
    let mac = iface.mac.map(|m| m.octets());
    Ok((out, mac))
}

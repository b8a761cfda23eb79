//! Ports: where live frames come from and go to. A port is a TAP device
//! that nsg creates (its kernel side is the host of a NIC, typically moved
//! into a network namespace or handed to a VM) or an existing interface
//! nsg attaches to through AF_PACKET. Each port has one queue per worker;
//! a worker reads and writes only its own queues, so no lock sits on the
//! packet path.

pub mod afpacket;
pub mod batch;
pub mod offload;
pub mod ring;
mod sys;
pub mod tap;

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;

/// The largest read from a port: a TAP with offloads gives TCP segments of
/// up to 64 KiB after a virtio-net header; AF_PACKET up to 64 KiB.
pub const MAX_FRAME: usize = 65_536 + 256;

/// Whether a virtio-net header asks for work (a checksum to compute, a
/// segment to split) that a port without offloads must have done in
/// software ([`offload::Completer`]).
pub fn needs_offload(hdr: &[u8]) -> bool {
    hdr.len() >= 2 && (hdr[0] & 1 != 0 || hdr[1] != 0)
}

/// A fault opening a port: which port, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("port {port}: {fault}")]
pub struct PortError {
    /// The port as given (`tap:NAME`, `if:NAME`).
    pub port: PortSpec,
    /// What failed.
    pub fault: PortFault,
}

/// What went wrong opening a port; each message names the value at stake
/// (interface, address, queue).
#[derive(Debug, thiserror::Error)]
pub enum PortFault {
    /// A step failed; `what` says the step and its value ("set MAC 02:..").
    #[error("cannot {what}: {source}")]
    Io {
        /// The step and its value, as the message prints it after "cannot".
        what: String,
        /// The system's error.
        source: io::Error,
    },
    /// An `if:NAME` port names no interface of this host (or of its
    /// network namespace).
    #[error("this host has no interface named '{name}'")]
    NoInterface {
        /// The interface name as given.
        name: String,
    },
}

impl PortError {
    /// The step `what` of opening `port` failed with `source`.
    pub fn io(port: &PortSpec, what: impl Into<String>, source: io::Error) -> PortError {
        PortError {
            port: port.clone(),
            fault: PortFault::Io {
                what: what.into(),
                source,
            },
        }
    }
}

/// A hardware address as `ip link` writes it.
pub fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// What kind of port, and its interface name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// A TAP device nsg creates (or attaches to, if it exists).
    Tap(String),
    /// An existing interface, through AF_PACKET.
    Interface(String),
}

impl PortSpec {
    /// The device's name, without the `tap:` or `if:` prefix.
    pub fn name(&self) -> &str {
        match self {
            PortSpec::Tap(n) | PortSpec::Interface(n) => n,
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Tap(n) => write!(f, "tap:{n}"),
            PortSpec::Interface(n) => write!(f, "if:{n}"),
        }
    }
}

impl FromStr for PortSpec {
    type Err = String;

    /// `tap:NAME` or `if:NAME`.
    fn from_str(s: &str) -> Result<PortSpec, String> {
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': expected tap:NAME or if:NAME"))?;
        if name.is_empty() || name.len() > sys::IFNAMSIZ_MAX || name.contains('/') {
            return Err(format!(
                "'{s}': an interface name has 1 to {} characters and no '/'",
                sys::IFNAMSIZ_MAX
            ));
        }
        match kind {
            "tap" => Ok(PortSpec::Tap(name.to_string())),
            "if" => Ok(PortSpec::Interface(name.to_string())),
            _ => Err(format!("'{s}': expected tap:NAME or if:NAME")),
        }
    }
}

/// How the kernel spreads an interface's frames over the workers' AF_PACKET
/// sockets (`PACKET_FANOUT` mode). Whatever the mode, a frame that lands on
/// a worker that does not own its connection is handed to the owner
/// ([`crate::handoff`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Fanout {
    /// By the kernel's flow hash (`PACKET_FANOUT_HASH`), fragments
    /// reassembled for hashing: most frames of a connection meet one socket.
    #[default]
    Hash,
    /// One socket after the other (`PACKET_FANOUT_LB`), whatever the flow:
    /// even load, and about half the frames handed over with two workers.
    RoundRobin,
}

impl fmt::Display for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fanout::Hash => "hash",
            Fanout::RoundRobin => "lb",
        })
    }
}

impl FromStr for Fanout {
    type Err = String;

    /// `hash` or `lb`.
    fn from_str(s: &str) -> Result<Fanout, String> {
        match s {
            "hash" => Ok(Fanout::Hash),
            "lb" => Ok(Fanout::RoundRobin),
            _ => Err(format!("'{s}': expected hash or lb")),
        }
    }
}

/// One worker's queue of a port.
pub enum Queue {
    /// One queue of a (multi-queue) TAP device.
    Tap(tap::TapQueue),
    /// One AF_PACKET socket of an interface's fanout group.
    Packet(afpacket::PacketQueue),
}

impl Queue {
    /// The descriptor to poll for input.
    pub fn fd(&self) -> RawFd {
        match self {
            Queue::Tap(q) => q.fd(),
            Queue::Packet(q) => q.fd(),
        }
    }

    /// Bytes of virtio-net header before each frame [`Queue::recv`] reads.
    pub fn header_len(&self) -> usize {
        match self {
            Queue::Tap(q) => q.header_len(),
            Queue::Packet(_) => offload::VNET_HDR_LEN,
        }
    }

    /// One frame into `buf` (after [`Queue::header_len`] bytes of header),
    /// or `None` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self {
            Queue::Tap(q) => q.recv(buf),
            Queue::Packet(q) => q.recv(buf),
        }
    }

    /// A round of frames into `rx`'s slots, with as few system calls as the
    /// port allows (one for a TAP with io_uring, none for an interface,
    /// whose frames wait in its receive ring); each slot holds a header of [`Queue::header_len`] bytes
    /// and the frame.
    pub fn recv_batch(&mut self, rx: &mut batch::RxBatch) -> io::Result<()> {
        match self {
            Queue::Tap(q) => q.recv_batch(rx),
            Queue::Packet(q) => q.recv_batch(rx),
        }
    }

    /// Send a round's frames, each with the virtio-net header it came with
    /// (as [`Queue::send`]), with as few system calls as the port allows;
    /// `f` gets each frame's index and whether it was written.
    pub fn send_batch(&mut self, frames: &[(&[u8], &[u8])], f: impl FnMut(usize, io::Result<()>)) {
        match self {
            Queue::Tap(q) => q.send_batch(frames, f),
            Queue::Packet(q) => q.send_batch(frames, f),
        }
    }

    /// Send one frame with the virtio-net header it came with (empty for
    /// frames nsg made, or from ports without offloads). A port that takes
    /// headers gets it as it is; for one that does not, what it asks is
    /// done here (checksum filled, segment split), and a header that cannot
    /// be honoured is an `InvalidData` error naming why.
    pub fn send(&mut self, hdr: &[u8], frame: &[u8]) -> io::Result<()> {
        match self {
            Queue::Tap(q) => q.send(hdr, frame),
            Queue::Packet(q) => q.send(hdr, frame),
        }
    }
}

/// An opened port: its queues (one per worker) and the hardware address of
/// the host behind it, when known (a TAP's kernel side).
pub struct OpenPort {
    /// The port as given.
    pub spec: PortSpec,
    /// Its queues, one per worker: worker `w` owns `queues[w]`.
    pub queues: Vec<Queue>,
    /// For a TAP: the kernel side's address, which is the host's.
    pub peer_mac: Option<[u8; 6]>,
}

/// Open a port with `queues` queues; a TAP's kernel side takes `mac` when
/// given (the NIC's address from the policy), and offloads with `offload`;
/// an interface's sockets share its frames by `fanout`.
pub fn open(
    spec: &PortSpec,
    queues: usize,
    mac: Option<[u8; 6]>,
    offload: bool,
    fanout: Fanout,
) -> Result<OpenPort, PortError> {
    match spec {
        PortSpec::Tap(name) => {
            let (q, kernel_mac) = tap::open(spec, name, queues, mac, offload)?;
            Ok(OpenPort {
                spec: spec.clone(),
                queues: q.into_iter().map(Queue::Tap).collect(),
                peer_mac: Some(kernel_mac),
            })
        }
        PortSpec::Interface(name) => {
            let (q, _own_mac) = afpacket::open(spec, name, queues, fanout)?;
            Ok(OpenPort {
                spec: spec.clone(),
                queues: q.into_iter().map(Queue::Packet).collect(),
                peer_mac: None,
            })
        }
    }
}

pub use sys::{EventFd, PollSet};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_set_reports_readable_descriptors_until_disabled() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        let (mut a, b) = UnixStream::pair().unwrap();
        let (_c, d) = UnixStream::pair().unwrap();
        let mut set = PollSet::new([b.as_raw_fd(), d.as_raw_fd()]);
        assert_eq!(set.wait(0).unwrap(), 0);
        assert!(!set.is_ready(0) && !set.is_ready(1));
        a.write_all(b"x").unwrap();
        // The same set, waited on again: the byte is seen, on `b` only.
        assert_eq!(set.wait(1000).unwrap(), 1);
        assert!(set.is_ready(0));
        assert!(!set.is_ready(1));
        assert!(!set.is_ready(2));
        set.disable(0);
        assert_eq!(set.wait(0).unwrap(), 0);
        assert!(!set.is_ready(0));
    }

    #[test]
    fn port_specs_parse() {
        assert_eq!("tap:nsg0".parse(), Ok(PortSpec::Tap("nsg0".into())));
        assert_eq!("if:veth1".parse(), Ok(PortSpec::Interface("veth1".into())));
        assert!("veth1".parse::<PortSpec>().is_err());
        assert!("tun:x".parse::<PortSpec>().is_err());
        assert!("tap:".parse::<PortSpec>().is_err());
        assert!("tap:a-name-that-is-too-long".parse::<PortSpec>().is_err());
        assert_eq!(PortSpec::Tap("x".into()).to_string(), "tap:x");
    }

    #[test]
    fn port_faults_name_the_port_and_the_value() {
        let spec = PortSpec::Tap("nsg0".into());
        let mac = [0x03, 0, 0x0a, 0, 0x01, 0x04];
        let e = PortError::io(
            &spec,
            format!("set MAC {} on nsg0", mac_text(mac)),
            io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("port tap:nsg0: cannot set MAC 03:00:0a:00:01:04 on nsg0: "),
            "{text}"
        );
        assert!(text.contains("Cannot assign requested address"), "{text}");
    }
}

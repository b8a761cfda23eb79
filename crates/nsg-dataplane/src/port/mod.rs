//! Ports: where live frames come from and go to. A port is a TAP device
//! that nsg creates (its kernel side is the host of a NIC, typically moved
//! into a network namespace or handed to a VM) or an existing interface
//! nsg attaches to through AF_PACKET. Each port has one queue per worker;
//! a worker reads and writes only its own queues, so no lock sits on the
//! packet path.

pub mod afpacket;
mod sys;
pub mod tap;

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;

/// The largest frame a port reads (a TAP without offloads gives at most
/// MTU + 14; AF_PACKET may give up to 64 KiB when the interface coalesces).
pub const MAX_FRAME: usize = afpacket::READ_BUFFER;

/// Faults opening a port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("{port}: cannot {what}: {source}")]
    Open {
        port: String,
        what: String,
        source: io::Error,
    },
    #[error("{port}: no such interface")]
    NoInterface { port: String },
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

/// One worker's queue of a port.
pub enum Queue {
    Tap(tap::TapQueue),
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

    /// One frame into `buf`, or `None` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self {
            Queue::Tap(q) => q.recv(buf),
            Queue::Packet(q) => q.recv(buf),
        }
    }

    /// Send one frame.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Queue::Tap(q) => q.send(frame),
            Queue::Packet(q) => q.send(frame),
        }
    }
}

/// An opened port: its queues (one per worker) and the hardware address of
/// the host behind it, when known (a TAP's kernel side).
pub struct OpenPort {
    pub spec: PortSpec,
    pub queues: Vec<Queue>,
    /// For a TAP: the kernel side's address, which is the host's.
    pub peer_mac: Option<[u8; 6]>,
}

/// Open a port with `queues` queues; a TAP's kernel side takes `mac` when
/// given (the NIC's address from the policy).
pub fn open(spec: &PortSpec, queues: usize, mac: Option<[u8; 6]>) -> Result<OpenPort, PortError> {
    match spec {
        PortSpec::Tap(name) => {
            let (q, kernel_mac) = tap::open(name, queues, mac)?;
            Ok(OpenPort {
                spec: spec.clone(),
                queues: q.into_iter().map(Queue::Tap).collect(),
                peer_mac: Some(kernel_mac),
            })
        }
        PortSpec::Interface(name) => {
            let (q, _own_mac) = afpacket::open(name, queues)?;
            Ok(OpenPort {
                spec: spec.clone(),
                queues: q.into_iter().map(Queue::Packet).collect(),
                peer_mac: None,
            })
        }
    }
}

/// Wait for input on any of `fds`.
pub fn poll_readable(fds: &[RawFd], ready: &mut Vec<bool>, timeout_ms: i32) -> io::Result<usize> {
    sys::poll_readable(fds, ready, timeout_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

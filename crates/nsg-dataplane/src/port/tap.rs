//! TAP ports: nsg creates the device (or attaches to an existing one of that
//! name) and owns its descriptors; the kernel side is the NIC's host. With
//! several workers the device is multi-queue, one queue per worker, and the
//! kernel spreads flows over the queues.
//!
//! Each queue has an io_uring: a round's reads are submitted in one call,
//! and so are the frames written to it in a round ([`super::batch`]). A
//! kernel that refuses io_uring leaves the queue reading and writing one
//! frame per call, as the fallback.

use super::batch::{RxBatch, Uring};
use super::offload::{or_plain, Completer, VnetHdr};
use super::sys;
use super::{mac_text, PortError, PortSpec};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// One queue of a TAP device.
pub struct TapQueue {
    fd: OwnedFd,
    offload: bool,
    /// Completes offloaded frames in software when `offload` is off.
    completer: Completer,
    /// The queue's ring; `None` where the kernel refuses io_uring.
    ring: Option<Box<Uring>>,
}

impl TapQueue {
    /// The queue's descriptor, to poll for input.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One frame, or `None` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        sys::read(self.fd(), buf)
    }

    /// A round of reads into `rx`'s slots: one call with io_uring, else
    /// one read per frame until none waits.
    pub fn recv_batch(&mut self, rx: &mut RxBatch) -> io::Result<()> {
        let fd = self.fd();
        match &mut self.ring {
            Some(ring) => ring.read_batch(rx, rx.capacity()),
            None => {
                rx.clear();
                for k in 0..rx.capacity() {
                    let got = sys::read(fd, rx.slot_mut(k));
                    let more = matches!(got, Ok(Some(_)));
                    rx.push(got);
                    if !more {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Send a round's frames (each after the virtio-net header it came
    /// with, empty if none); `f` gets each frame's index and whether it was
    /// written. With offloads and a ring, one call for the round; frames
    /// to complete in software go one by one.
    pub fn send_batch(
        &mut self,
        frames: &[(&[u8], &[u8])],
        mut f: impl FnMut(usize, io::Result<()>),
    ) {
        if let (true, Some(ring)) = (self.offload, &mut self.ring) {
            let fixed: Vec<(&[u8], &[u8])> =
                frames.iter().map(|&(h, b)| (or_plain(h), b)).collect();
            if let Err(e) = ring.write_batch(&fixed, &mut f) {
                tracing::debug!("io_uring write: {e}; writing one frame per call");
                for (k, &(h, b)) in frames.iter().enumerate() {
                    f(k, self.send(h, b));
                }
            }
            return;
        }
        for (k, &(h, b)) in frames.iter().enumerate() {
            f(k, self.send(h, b));
        }
    }

    /// Whether the queue's ring has its descriptor and a read buffer
    /// registered; `None` without a ring.
    #[cfg(test)]
    pub(crate) fn ring_registered(&self) -> Option<(bool, bool)> {
        self.ring.as_ref().map(|r| r.registered())
    }

    /// Bytes of virtio-net header before each frame read (0 or 10).
    pub fn header_len(&self) -> usize {
        if self.offload {
            sys::VNET_HDR_LEN
        } else {
            0
        }
    }

    /// Send a frame; `hdr` is the virtio-net header it came with (empty if
    /// none). Without offloads, what the header asks is done here: the
    /// checksum filled, the segment split into frames written one by one.
    pub fn send(&mut self, hdr: &[u8], frame: &[u8]) -> io::Result<()> {
        if self.offload {
            return sys::write2(self.fd(), or_plain(hdr), frame);
        }
        if !super::needs_offload(hdr) {
            return sys::write(self.fd(), frame);
        }
        let h = VnetHdr::parse(hdr).ok_or(super::offload::Malformed::ShortHeader)?;
        let fd = self.fd.as_raw_fd();
        self.completer
            .complete(&h, frame, |f| sys::write(fd, f))
            .map(|_| ())
    }
}

/// Open `queues` queues of the TAP `name`, set the kernel side's address to
/// `mac` when given, and bring it up. Returns the queues and the kernel
/// side's hardware address.
pub fn open(
    spec: &PortSpec,
    name: &str,
    queues: usize,
    mac: Option<[u8; 6]>,
    offload: bool,
) -> Result<(Vec<TapQueue>, [u8; 6]), PortError> {
    let err = |what: String, e: io::Error| PortError::io(spec, what, e);
    let multi = queues > 1;
    let queues = queues.max(1);
    let mut out = Vec::with_capacity(queues);
    for q in 0..queues {
        let (fd, _) = sys::tap_open(name, multi, offload).map_err(|e| {
            let offload = if offload { "on" } else { "off" };
            err(
                format!(
                    "open queue {} of {queues} of TAP {name} through /dev/net/tun \
                     (offloads {offload})",
                    q + 1
                ),
                e,
            )
        })?;
        let ring = match Uring::new(2 * crate::run::BATCH, fd.as_raw_fd()) {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                tracing::info!("TAP {name}: no io_uring ({e}); one system call per frame");
                None
            }
        };
        out.push(TapQueue {
            fd,
            offload,
            completer: Completer::default(),
            ring,
        });
    }
    if let Some(m) = mac {
        sys::set_mac(name, m).map_err(|e| err(format!("set MAC {} on {name}", mac_text(m)), e))?;
    }
    sys::set_up(name).map_err(|e| err(format!("bring {name} up"), e))?;
    let kernel_mac = sys::get_mac(name).map_err(|e| err(format!("read the MAC of {name}"), e))?;
    Ok((out, kernel_mac))
}

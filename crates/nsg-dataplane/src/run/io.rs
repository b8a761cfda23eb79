//! A worker's port I/O: a round read from a port and switched in place,
//! the frames to forward written per output port, frames nsg answers
//! itself or holds written one by one, and what a read or write fault
//! does to a port.

use super::{WorkerCtx, BATCH};
use crate::handoff::Handoff;
use crate::metrics as m;
use crate::policy::Published;
use crate::port::batch::RxBatch;
use crate::port::{self, Queue};
use crate::switch::{Action, SwitchWorker};
use nsg_flow::{Clock, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};

impl WorkerCtx {
    /// Read a round of up to [`BATCH`] frames from this worker's queue of
    /// port `i` (one system call where the port allows): each is handed to
    /// the worker that owns its connection, or switched here in place under
    /// the round's policy and clock reading `at`; what goes out is written
    /// per output port once the round is switched ([`Self::flush`]).
    /// Answers how many frames were read.
    pub(super) fn read_port(
        &self,
        (i, at): (usize, (&Published, Timestamp)),
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        poll: &mut port::PollSet,
        handoff: &mut Handoff,
        rx: &mut RxBatch,
    ) -> usize {
        let off = ports.queues[i].header_len();
        if let Err(e) = ports.queues[i].recv_batch(rx) {
            self.read_failed(sw, poll, i, &e);
            return 0;
        }
        let mut local: Vec<(&mut [u8], &mut [u8])> = Vec::with_capacity(BATCH);
        let mut read = 0;
        for (slot, got) in rx.frames() {
            let n = match got {
                Ok(Some(n)) if n > off && n <= slot.len() => n,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.bad_frame(sw, ports, i, &e);
                    continue;
                }
                Err(e) => {
                    self.read_failed(sw, poll, i, &e);
                    break;
                }
            };
            read += 1;
            let (hdr, frame) = slot[..n].split_at_mut(off);
            if let Err(e) = offload_ok(hdr, frame) {
                self.bad_frame(sw, ports, i, &e.into());
                continue;
            }
            sw.stats.ports[i].rx.add(frame.len());
            match handoff.owner(frame) {
                Some(owner) => handoff.push(owner, i, hdr, frame),
                None => local.push((hdr, frame)),
            }
        }
        self.switch_round(sw, ports, at, i, &mut local);
        read
    }

    /// Switch the frames of a round read from port `i` that this worker
    /// owns, in place, their IP packets judged together: what nsg answers
    /// itself (ARP, DHCP) is written at once, the frames to forward with
    /// the round, one batch per output port ([`Self::flush`]).
    pub(super) fn switch_round(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        (policy, now): (&Published, Timestamp),
        i: usize,
        local: &mut [(&mut [u8], &mut [u8])],
    ) {
        let mut forward: Vec<(usize, usize)> = Vec::with_capacity(local.len());
        sw.handle_round(
            policy,
            i,
            local,
            now,
            |k, action, emitted, stats| match action {
                Action::Forward(o) => forward.push((o, k)),
                Action::Emit(o) => {
                    if self.send(ports, o, &[], emitted) {
                        stats.ports[o].tx.add(emitted.len());
                    } else {
                        stats.ports[o].tx_errors += 1;
                    }
                }
                Action::Drop => {}
            },
        );
        self.flush(sw, ports, local, &forward);
    }

    /// A read from port `i` failed other than for a frame: the device went
    /// away (its namespace was deleted, the interface removed). Stop
    /// polling it rather than spin on its error.
    fn read_failed(
        &self,
        sw: &mut SwitchWorker,
        poll: &mut port::PollSet,
        i: usize,
        e: &std::io::Error,
    ) {
        sw.stats.ports[i].rx_errors += 1;
        poll.disable(i);
        self.port_gone(i, "read", e);
    }

    /// Write the frames of a round to forward (`forward`: output port and
    /// index in `frames`), one batch per output port, and
    /// count each in the port's transmit counters or errors. Nothing is
    /// written to a port whose device is gone.
    fn flush(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        frames: &[(&mut [u8], &mut [u8])],
        forward: &[(usize, usize)],
    ) {
        let mut batch: Vec<(&[u8], &[u8])> = Vec::with_capacity(forward.len());
        for p in 0..ports.queues.len() {
            batch.clear();
            batch.extend(
                forward
                    .iter()
                    .filter(|&&(o, _)| o == p)
                    .map(|&(_, k)| (&*frames[k].0, &*frames[k].1)),
            );
            if batch.is_empty() {
                continue;
            }
            if self.lost.is_lost(p) {
                sw.stats.ports[p].tx_errors += batch.len() as u64;
                continue;
            }
            let mut failed = None;
            let stats = &mut sw.stats.ports[p];
            ports.queues[p].send_batch(&batch, |k, r| match r {
                Ok(()) => stats.tx.add(batch[k].1.len()),
                Err(e) => {
                    stats.tx_errors += 1;
                    failed.get_or_insert(e);
                }
            });
            if let Some(e) = failed {
                self.write_failed(ports, p, &e);
            }
        }
    }

    /// A frame read from port `i` that cannot be taken (cut by the read
    /// buffer, a virtio-net header that cannot be honoured): counted in the
    /// port's receive errors and dropped; the first one per port and worker
    /// is logged with its reason.
    fn bad_frame(&self, sw: &mut SwitchWorker, ports: &mut Ports, i: usize, e: &std::io::Error) {
        sw.stats.ports[i].rx_errors += 1;
        if !std::mem::replace(&mut ports.rx_error_logged[i], true) {
            tracing::warn!(port = %self.switch.names[i], "frame dropped: {e}");
        }
    }

    /// Write the held frames whose destination's address is now known.
    pub(super) fn release_held(
        &self,
        sw: &mut SwitchWorker,
        ports: &mut Ports,
        policy: &Published,
    ) {
        let mut sent = Vec::new();
        sw.release(policy, self.clock.now(), |port, hdr, frame| {
            let r = ports.queues[port].send(hdr, frame);
            sent.push((port, frame.len(), r));
        });
        for (port, len, r) in sent {
            match r {
                Ok(()) => sw.stats.ports[port].tx.add(len),
                Err(e) => {
                    sw.stats.ports[port].tx_errors += 1;
                    if device_gone(&e) {
                        self.port_gone(port, "write", &e);
                    }
                }
            }
        }
    }

    /// Write a frame to this worker's queue of port `out`; false when it
    /// was not written. Nothing is written to a port whose device is gone.
    fn send(&self, ports: &mut Ports, out: usize, hdr: &[u8], frame: &[u8]) -> bool {
        if self.lost.is_lost(out) {
            return false;
        }
        match ports.queues[out].send(hdr, frame) {
            Ok(()) => true,
            Err(e) => {
                self.write_failed(ports, out, &e);
                false
            }
        }
    }

    /// A write to port `out` failed: a device that is gone is marked lost,
    /// any other error is logged once per port and worker.
    fn write_failed(&self, ports: &mut Ports, out: usize, e: &std::io::Error) {
        if device_gone(e) {
            self.port_gone(out, "write", e);
        } else if !std::mem::replace(&mut ports.tx_error_logged[out], true) {
            tracing::warn!(port = %self.switch.names[out], "write: {e}");
        }
    }

    /// Port `i`'s device is gone: the first worker to see it logs it and
    /// counts it, for all of them.
    fn port_gone(&self, i: usize, op: &str, e: &std::io::Error) {
        if !self.lost.mark(i) {
            return;
        }
        let name = &self.switch.names[i];
        tracing::warn!(
            port = %name,
            "{op}: {e}; the device is gone, the port is no longer read or written"
        );
        if self.metrics {
            m::port_lost(name);
        }
    }
}

/// A worker's queue of every port, and the ports whose write errors and
/// dropped input it has already logged.
pub(super) struct Ports {
    queues: Vec<Queue>,
    tx_error_logged: Vec<bool>,
    rx_error_logged: Vec<bool>,
}

impl Ports {
    pub(super) fn new(queues: Vec<Queue>) -> Ports {
        let tx_error_logged = vec![false; queues.len()];
        Ports {
            rx_error_logged: tx_error_logged.clone(),
            queues,
            tx_error_logged,
        }
    }
}

/// Whether the virtio-net header a frame came with (if any) can be
/// honoured: a port without offloads will have to complete it.
fn offload_ok(hdr: &[u8], frame: &[u8]) -> Result<(), port::offload::Malformed> {
    if !port::needs_offload(hdr) {
        return Ok(());
    }
    let h = port::offload::VnetHdr::parse(hdr).ok_or(port::offload::Malformed::ShortHeader)?;
    port::offload::check(&h, frame)
}

/// The ports whose device went away, shared by the workers (each has its
/// own queue of every port and sees the loss on its own).
pub(super) struct LostPorts(Vec<AtomicBool>);

impl LostPorts {
    pub(super) fn new(ports: usize) -> Self {
        LostPorts((0..ports).map(|_| AtomicBool::new(false)).collect())
    }

    fn is_lost(&self, port: usize) -> bool {
        self.0.get(port).is_some_and(|l| l.load(Ordering::Relaxed))
    }

    /// Mark `port` lost; true only for the first call.
    fn mark(&self, port: usize) -> bool {
        self.0
            .get(port)
            .is_some_and(|l| !l.swap(true, Ordering::SeqCst))
    }
}

/// A write error that means the device is no longer there: a TAP whose
/// interface was deleted (EBADFD), an interface removed under a packet
/// socket (ENODEV, ENXIO).
fn device_gone(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD) | Some(libc::ENODEV) | Some(libc::ENXIO)
    )
}

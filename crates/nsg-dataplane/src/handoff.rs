//! Frames that land on a worker that does not own their connection, handed
//! to the worker that does.
//!
//! In `nsg run` the kernel picks the queue a frame arrives on (a TAP's
//! queue, an AF_PACKET socket of a fanout group), and each worker reads its
//! own queue of every port. The flow table of a connection lives with one
//! worker, its owner ([`nsg_packet::owner`]: a symmetric hash of the two
//! addresses, the quoted ones for an ICMP error), so a reply, a non-first
//! fragment or an ICMP error that the kernel put on another worker's queue
//! is copied into a parcel for its owner. Parcels of up to [`PARCEL`]
//! frames go over a bounded crossbeam channel; an eventfd per worker wakes
//! the owner from `poll(2)`. The owner switches the frame as if it had read
//! it from the same port, and writes it on its own queue of the port it
//! goes out on.
//!
//! A worker never blocks on another: when an owner's inbox is full the
//! frame is dropped and counted, as a full NIC ring would drop it.

use crate::port::EventFd;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

/// Frames per parcel.
pub const PARCEL: usize = 64;
/// Parcels an owner's inbox holds before senders drop.
const INBOX: usize = 64;

/// Frames for one worker, copied back to back.
#[derive(Debug, Default)]
struct Parcel {
    /// Each frame's virtio-net header (may be empty) then the frame.
    data: Vec<u8>,
    /// Per frame: the port it came in on, its header and frame lengths.
    frames: Vec<(u16, u16, u32)>,
}

/// What a worker handed over and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandoffStats {
    /// Frames handed to their owner.
    pub sent: u64,
    /// Frames dropped because their owner's inbox was full.
    pub dropped: u64,
    /// Frames dropped because their owner had already stopped (the run was
    /// ending).
    pub stopped: u64,
    /// Frames received from other workers.
    pub received: u64,
}

impl HandoffStats {
    /// Add another worker's counts.
    pub fn merge(&mut self, o: &HandoffStats) {
        self.sent += o.sent;
        self.dropped += o.dropped;
        self.stopped += o.stopped;
        self.received += o.received;
    }
}

/// One worker's end of the hand-off: its inbox, the other workers' inboxes
/// and the parcels it is filling for them.
#[derive(Debug)]
pub struct Handoff {
    me: usize,
    inbox: Receiver<Parcel>,
    outboxes: Vec<Sender<Parcel>>,
    wakers: Arc<[EventFd]>,
    pending: Vec<Parcel>,
    /// The counters so far.
    pub stats: HandoffStats,
}

impl Handoff {
    /// The ends of `workers` workers, in order. With one worker nothing is
    /// ever handed over.
    pub fn group(workers: usize) -> io::Result<Vec<Handoff>> {
        let workers = workers.max(1);
        let wakers: Arc<[EventFd]> = (0..workers)
            .map(|_| EventFd::new())
            .collect::<io::Result<Vec<_>>>()?
            .into();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers).map(|_| bounded(INBOX)).unzip();
        Ok(rxs
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| Handoff {
                me,
                inbox,
                outboxes: txs.clone(),
                wakers: wakers.clone(),
                pending: (0..workers).map(|_| Parcel::default()).collect(),
                stats: HandoffStats::default(),
            })
            .collect())
    }

    /// The descriptor that becomes readable when a parcel arrives.
    pub fn fd(&self) -> RawFd {
        self.wakers[self.me].fd()
    }

    /// The worker that owns the connection of Ethernet frame `frame` when
    /// that is another worker; `None` when it is this one, or when the frame
    /// has no connection (ARP, other EtherTypes), which any worker takes.
    #[inline]
    pub fn owner(&self, frame: &[u8]) -> Option<usize> {
        let n = self.outboxes.len();
        if n < 2 {
            return None;
        }
        let h = nsg_packet::owner::owner_hash(frame)?;
        let w = (h % n as u64) as usize;
        (w != self.me).then_some(w)
    }

    /// Copy a frame that came in on `port` (with its virtio-net header
    /// `hdr`) into the parcel for worker `to`; a full parcel is sent.
    pub fn push(&mut self, to: usize, port: usize, hdr: &[u8], frame: &[u8]) {
        let (Ok(port), Ok(h), Ok(f)) = (
            u16::try_from(port),
            u16::try_from(hdr.len()),
            u32::try_from(frame.len()),
        ) else {
            self.stats.dropped += 1;
            return;
        };
        let Some(p) = self.pending.get_mut(to) else {
            self.stats.dropped += 1;
            return;
        };
        p.data.extend_from_slice(hdr);
        p.data.extend_from_slice(frame);
        p.frames.push((port, h, f));
        if p.frames.len() >= PARCEL {
            self.send(to);
        }
    }

    /// Send every parcel that holds a frame (call once per poll round).
    pub fn flush(&mut self) {
        for to in 0..self.pending.len() {
            if !self.pending[to].frames.is_empty() {
                self.send(to);
            }
        }
    }

    fn send(&mut self, to: usize) {
        let parcel = std::mem::take(&mut self.pending[to]);
        let n = parcel.frames.len() as u64;
        match self.outboxes[to].try_send(parcel) {
            Ok(()) => {
                self.stats.sent += n;
                self.wakers[to].wake();
            }
            Err(TrySendError::Full(_)) => self.stats.dropped += n,
            Err(TrySendError::Disconnected(_)) => self.stats.stopped += n,
        }
    }

    /// Take every parcel received so far and hand `f` each run of its
    /// consecutive frames that came in on one port: the port, and each
    /// frame after its header (both writable, as a frame read from a queue
    /// is), in order, so the owner switches them as one round. Answers how
    /// many frames there were.
    pub fn drain(&mut self, mut f: impl FnMut(usize, &mut [(&mut [u8], &mut [u8])])) -> usize {
        self.wakers[self.me].clear();
        let mut n = 0;
        let mut ports = Vec::new();
        while let Ok(mut parcel) = self.inbox.try_recv() {
            ports.clear();
            let mut frames = Vec::with_capacity(parcel.frames.len());
            let mut rest: &mut [u8] = &mut parcel.data;
            for &(port, h, len) in &parcel.frames {
                let (h, len) = (usize::from(h), len as usize);
                if rest.len() < h + len {
                    break;
                }
                let (bytes, tail) = std::mem::take(&mut rest).split_at_mut(h + len);
                rest = tail;
                ports.push(usize::from(port));
                frames.push(bytes.split_at_mut(h));
            }
            n += frames.len();
            let mut start = 0;
            while start < frames.len() {
                let port = ports[start];
                let end = start + ports[start..].iter().take_while(|&&p| p == port).count();
                f(port, &mut frames[start..end]);
                start = end;
            }
        }
        self.stats.received += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[14 + 16..14 + 20].copy_from_slice(&dst);
        f
    }

    #[test]
    fn frames_reach_their_owner_in_order_with_their_port_and_header() {
        let mut g = Handoff::group(2).unwrap();
        // Find a frame each worker does not own.
        let frames: Vec<Vec<u8>> = (1..=40u8)
            .map(|i| frame([10, 0, 0, i], [8, 8, 8, 8]))
            .collect();
        let (a, b) = g.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        let for_b: Vec<&Vec<u8>> = frames.iter().filter(|f| a.owner(f) == Some(1)).collect();
        assert!(!for_b.is_empty() && for_b.len() < frames.len());
        for f in &frames {
            // Exactly one of the two owns it, both agree which.
            assert_ne!(a.owner(f).is_some(), b.owner(f).is_some());
        }
        for (i, f) in for_b.iter().enumerate() {
            a.push(1, i % 3, &[i as u8; 2][..i % 2 * 2], f);
        }
        a.flush();
        let mut got = Vec::new();
        let n = b.drain(|port, run| {
            got.extend(run.iter().map(|(hdr, f)| (port, hdr.to_vec(), f.to_vec())));
        });
        assert_eq!(n, for_b.len());
        for (i, (port, hdr, f)) in got.iter().enumerate() {
            assert_eq!(*port, i % 3);
            assert_eq!(hdr.len(), i % 2 * 2);
            assert_eq!(f, for_b[i]);
        }
        assert_eq!(a.stats.sent, n as u64);
        assert_eq!(b.stats.received, n as u64);
        // ARP has no owner: whoever reads it takes it.
        let mut arp = frame([0; 4], [0; 4]);
        arp[13] = 0x06;
        assert_eq!(a.owner(&arp), None);
    }

    #[test]
    fn a_full_inbox_drops_and_counts_instead_of_blocking() {
        let mut g = Handoff::group(2).unwrap();
        let f = frame([10, 0, 0, 1], [8, 8, 8, 8]);
        for _ in 0..(INBOX + 3) * PARCEL {
            g[0].push(1, 0, &[], &f);
        }
        g[0].flush();
        assert_eq!(g[0].stats.sent, (INBOX * PARCEL) as u64);
        assert_eq!(g[0].stats.dropped, (3 * PARCEL) as u64);
        assert_eq!(g[1].drain(|_, _| {}), INBOX * PARCEL);
    }

    #[test]
    fn frames_for_a_stopped_owner_are_counted_apart() {
        let mut g = Handoff::group(2).unwrap();
        drop(g.pop());
        let f = frame([10, 0, 0, 1], [8, 8, 8, 8]);
        g[0].push(1, 0, &[], &f);
        g[0].flush();
        assert_eq!(g[0].stats.stopped, 1);
        assert_eq!(g[0].stats.dropped, 0);
        assert_eq!(g[0].stats.sent, 0);
    }

    #[test]
    fn one_worker_hands_nothing_over() {
        let g = Handoff::group(1).unwrap();
        assert_eq!(g[0].owner(&frame([10, 0, 0, 1], [8, 8, 8, 8])), None);
    }
}

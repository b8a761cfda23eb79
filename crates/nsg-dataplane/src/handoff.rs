//! Handing frames to the worker that owns their flow, in `nsg run`.
//!
//! Each worker owns a flow table, so every frame of a connection (both
//! directions, fragments, ICMP errors quoting it) must be judged by one
//! worker. The kernel picks the queue a frame arrives on; a worker that
//! reads a frame owned by another ([`owner`]: the symmetric
//! [`shard_hash`] the replay uses, which takes an ICMP error's quoted
//! header) hands it over in a batch through a crossbeam channel and wakes
//! the owner through a datagram socket pair the owner polls. The owner
//! judges it and writes it on its own queue of the output port. Frames
//! that are not IP stay with the worker that read them.

use crate::workers::shard_hash;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;

/// Batches that may wait in a worker's inbox.
const INBOX_BATCHES: usize = 64;

/// A frame read by one worker for another: the port it came in on, its
/// offload header (empty without one) and the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    /// The port the frame was read from.
    pub port: usize,
    /// The port's per-frame header (virtio-net), as read.
    pub hdr: Vec<u8>,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// The worker of `workers` that owns the flow of Ethernet frame `eth`, or
/// `None` when any worker may judge it (a frame that is not IP, or a single
/// worker).
pub fn owner(eth: &[u8], workers: usize) -> Option<usize> {
    if workers <= 1 {
        return None;
    }
    match shard_hash(eth) {
        0 => None,
        h => Some((h % workers as u64) as usize),
    }
}

/// One worker's end of the handoff: its inbox, and the way to every other
/// worker's.
pub struct Mailbox {
    index: usize,
    inbox: Receiver<Vec<Handed>>,
    to: Vec<Sender<Vec<Handed>>>,
    wake_rx: UnixDatagram,
    wake_tx: Vec<UnixDatagram>,
    outbox: Vec<Vec<Handed>>,
    /// Frames sent to other workers so far.
    handed: u64,
}

/// One mailbox per worker, each able to reach all the others.
pub fn mailboxes(workers: usize) -> io::Result<Vec<Mailbox>> {
    let mut senders = Vec::with_capacity(workers);
    let mut receivers = Vec::with_capacity(workers);
    let mut wakers = Vec::with_capacity(workers);
    let mut sleepers = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = bounded(INBOX_BATCHES);
        senders.push(tx);
        receivers.push(rx);
        let (a, b) = UnixDatagram::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        sleepers.push(a);
        wakers.push(b);
    }
    receivers
        .into_iter()
        .zip(sleepers)
        .enumerate()
        .map(|(index, (inbox, wake_rx))| {
            Ok(Mailbox {
                index,
                inbox,
                to: senders.clone(),
                wake_rx,
                wake_tx: wakers
                    .iter()
                    .map(UnixDatagram::try_clone)
                    .collect::<io::Result<_>>()?,
                outbox: vec![Vec::new(); workers],
                handed: 0,
            })
        })
        .collect()
}

impl Mailbox {
    /// The descriptor that becomes readable when frames were handed to
    /// this worker.
    pub fn fd(&self) -> RawFd {
        self.wake_rx.as_raw_fd()
    }

    /// The worker that must judge `frame` when it is not this one.
    pub fn elsewhere(&self, frame: &[u8]) -> Option<usize> {
        owner(frame, self.to.len()).filter(|&w| w != self.index)
    }

    /// Keep a frame for worker `to` until [`Mailbox::flush`].
    pub fn hand(&mut self, to: usize, port: usize, hdr: &[u8], frame: &[u8]) {
        if let Some(out) = self.outbox.get_mut(to) {
            out.push(Handed {
                port,
                hdr: hdr.to_vec(),
                frame: frame.to_vec(),
            });
        }
    }

    /// Send the frames kept for each worker and wake it. Frames an inbox
    /// has no room for are returned, to be judged here rather than lost.
    pub fn flush(&mut self) -> Vec<Handed> {
        let mut refused = Vec::new();
        for (w, out) in self.outbox.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            let n = out.len() as u64;
            match self.to[w].try_send(std::mem::take(out)) {
                Ok(()) => {
                    self.handed += n;
                    // A full socket buffer means a wake-up is already
                    // pending: nothing is lost by ignoring it.
                    let _ = self.wake_tx[w].send(&[1]);
                }
                Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => refused.extend(b),
            }
        }
        refused
    }

    /// Frames this worker sent to others so far.
    pub fn handed(&self) -> u64 {
        self.handed
    }

    /// The frames handed to this worker so far (clearing its wake-ups).
    pub fn take(&self) -> Vec<Handed> {
        let mut buf = [0u8; 64];
        while self.wake_rx.recv(&mut buf).is_ok() {}
        self.inbox.try_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame of an IPv4 packet from `src` to `dst`.
    fn v4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = 17;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[14 + 16..14 + 20].copy_from_slice(&dst);
        f
    }

    #[test]
    fn both_directions_have_one_owner_and_other_frames_none() {
        let (a, b) = ([10, 0, 1, 4], [10, 0, 2, 4]);
        let owner_ab = owner(&v4(a, b), 2);
        assert!(owner_ab.is_some());
        assert_eq!(owner_ab, owner(&v4(b, a), 2));
        assert_eq!(owner(&v4(a, b), 1), None);
        let mut arp = v4(a, b);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(owner(&arp, 2), None);
    }

    #[test]
    fn a_handed_frame_reaches_its_owner_and_wakes_it() {
        let mut boxes = mailboxes(2).unwrap();
        // Find a flow each worker owns.
        let frames: Vec<Vec<u8>> = (1..=64u8)
            .map(|i| v4([10, 0, 1, i], [8, 8, 8, 8]))
            .collect();
        let of = |w: usize| frames.iter().find(|f| owner(f, 2) == Some(w)).unwrap();
        let (mine, theirs) = (of(0).clone(), of(1).clone());
        assert_eq!(boxes[0].elsewhere(&mine), None);
        assert_eq!(boxes[0].elsewhere(&theirs), Some(1));
        boxes[0].hand(1, 3, &[7, 7], &theirs);
        assert!(boxes[1].take().is_empty(), "nothing before the flush");
        assert!(boxes[0].flush().is_empty());
        assert_eq!(boxes[0].handed(), 1);
        let mut poll = crate::port::PollSet::new([boxes[1].fd()]);
        assert_eq!(poll.wait(1000).unwrap(), 1);
        assert!(poll.is_ready(0));
        let got = boxes[1].take();
        assert_eq!(
            got,
            vec![Handed {
                port: 3,
                hdr: vec![7, 7],
                frame: theirs
            }]
        );
        // The wake-up was consumed with the frames.
        assert_eq!(poll.wait(0).unwrap(), 0);
        assert!(boxes[0].take().is_empty());
    }

    #[test]
    fn a_full_inbox_gives_the_frames_back() {
        let mut boxes = mailboxes(2).unwrap();
        let f = v4([10, 0, 1, 4], [8, 8, 8, 8]);
        for _ in 0..INBOX_BATCHES {
            boxes[0].hand(1, 0, &[], &f);
            assert!(boxes[0].flush().is_empty());
        }
        boxes[0].hand(1, 0, &[], &f);
        assert_eq!(boxes[0].flush().len(), 1);
        assert_eq!(boxes[0].handed(), INBOX_BATCHES as u64);
        assert_eq!(boxes[1].take().len(), INBOX_BATCHES);
    }
}

//! Batched port I/O: many frames per system call. A worker reads a round of
//! frames from a queue into an [`RxBatch`] (from a packet socket's receive
//! ring with no call at all, [`super::ring`]; one `io_uring_enter` for a
//! TAP), switches them in place, and writes what goes to each port in one
//! call (`sendmmsg`, or one `io_uring_enter` for a TAP's writes). One of
//! the crate's modules with `unsafe`, beside [`super::sys`] and
//! [`super::ring`]; every block says why it is sound.

#![allow(unsafe_code)]

use super::MAX_FRAME;
use io_uring::{opcode, types, IoUring};
use std::io;
use std::os::fd::RawFd;

/// What one read of a batch got: `Ok(Some(n))` a frame of `n` bytes (with
/// its header), `Ok(None)` nothing waited, an `InvalidData` error a frame
/// longer than the slot (cut, to be dropped), any other error the device's.
pub type Got = io::Result<Option<usize>>;

/// Read buffers for one round of one queue: `slots` buffers of
/// [`MAX_FRAME`] bytes, and what the read into each got.
pub struct RxBatch {
    data: Vec<u8>,
    got: Vec<Got>,
    slots: usize,
}

impl RxBatch {
    /// Buffers for up to `slots` frames per round.
    pub fn new(slots: usize) -> RxBatch {
        let slots = slots.max(1);
        RxBatch {
            data: vec![0u8; slots * MAX_FRAME],
            got: Vec::with_capacity(slots),
            slots,
        }
    }

    /// Whether the last round read nothing.
    pub fn is_empty(&self) -> bool {
        self.got.is_empty()
    }

    /// How many frames a round reads at most.
    pub fn capacity(&self) -> usize {
        self.slots
    }

    /// Forget the last round's results.
    pub(crate) fn clear(&mut self) {
        self.got.clear();
    }

    /// The start of slot `k`'s buffer, for a read the kernel fills.
    fn slot_ptr(&mut self, k: usize) -> *mut u8 {
        debug_assert!(k < self.slots);
        self.data[k * MAX_FRAME..].as_mut_ptr()
    }

    /// Record what the read into the next slot got.
    pub(crate) fn push(&mut self, got: Got) {
        if self.got.len() < self.slots {
            self.got.push(got);
        }
    }

    /// Slot `k`'s buffer, for reads made one at a time.
    pub(crate) fn slot_mut(&mut self, k: usize) -> &mut [u8] {
        &mut self.data[k * MAX_FRAME..(k + 1) * MAX_FRAME]
    }

    /// The round's reads in order: each slot's buffer and what its read got
    /// (the buffer's first `n` bytes are the frame when it got `Some(n)`).
    /// The buffers stay borrowed, so frames can be written from where they
    /// were read.
    pub fn frames(&mut self) -> impl Iterator<Item = (&mut [u8], Got)> + '_ {
        self.data.chunks_mut(MAX_FRAME).zip(self.got.drain(..))
    }
}

/// Turn a completion's result into what the read got: a negative result is
/// an errno; `EAGAIN` means nothing waited.
fn read_result(res: i32, slot: usize) -> Got {
    if res >= 0 {
        let n = res as usize;
        if n > slot {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {n} bytes is longer than the read buffer"),
            ));
        }
        return Ok(Some(n));
    }
    let e = io::Error::from_raw_os_error(-res);
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
        _ => Err(e),
    }
}

/// An io_uring for one TAP queue: a round's reads, then a round's writes,
/// each submitted with one system call. Reads ask `RWF_NOWAIT` (a TAP
/// takes it), so a read with nothing to take completes at once with
/// `EAGAIN` instead of waiting in the kernel, and every request of a round
/// has completed when the call returns; no buffer is left to the kernel
/// between calls.
///
/// The queue's descriptor is registered with the ring (fixed file 0), and
/// the read buffers of the round are too (fixed buffer 0), where the
/// kernel takes them: the kernel then neither looks the descriptor up nor
/// maps and checks the user buffer for each request.
pub struct Uring {
    ring: IoUring,
    entries: usize,
    fd: RawFd,
    /// Whether `fd` is the ring's fixed file 0.
    fixed_fd: bool,
    /// The read buffer registered as fixed buffer 0 (address and length),
    /// if any; reads into any other buffer go unregistered.
    registered: Option<(usize, usize)>,
    /// Cleared when the kernel refuses to register a buffer.
    may_register: bool,
}

impl Uring {
    /// A ring for rounds of up to `entries` requests on `fd`, which must
    /// stay open for as long as the ring.
    pub fn new(entries: usize, fd: RawFd) -> io::Result<Uring> {
        let entries = entries.clamp(1, 4096).next_power_of_two();
        let ring = IoUring::new(entries as u32)?;
        let fixed_fd = ring.submitter().register_files(&[fd]).is_ok();
        Ok(Uring {
            ring,
            entries,
            fd,
            fixed_fd,
            registered: None,
            may_register: true,
        })
    }

    /// Whether the descriptor and a read buffer are registered with the
    /// ring.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> (bool, bool) {
        (self.fixed_fd, self.registered.is_some())
    }

    /// Register `rx`'s buffers as fixed buffer 0 unless they already are;
    /// whether reads into them may use it.
    fn register(&mut self, rx: &mut RxBatch) -> bool {
        let range = (rx.data.as_ptr() as usize, rx.data.len());
        if self.registered == Some(range) {
            return true;
        }
        if !self.may_register || rx.data.len() > 1 << 30 {
            return false;
        }
        if self.registered.take().is_some() {
            let _ = self.ring.submitter().unregister_buffers();
        }
        let iov = libc::iovec {
            iov_base: rx.data.as_mut_ptr().cast(),
            iov_len: rx.data.len(),
        };
        // SAFETY: the kernel pins the buffer's pages for as long as it is
        // registered, so freeing `rx` later cannot hand them to anybody
        // else while the kernel holds them; the kernel writes them only for
        // a ReadFixed request, which is made only while `rx`, whose address
        // and length are recorded here, is exclusively borrowed by
        // `read_batch`.
        match unsafe { self.ring.submitter().register_buffers(&[iov]) } {
            Ok(()) => {
                self.registered = Some(range);
                true
            }
            Err(e) => {
                tracing::debug!("io_uring buffer registration refused: {e}");
                self.may_register = false;
                false
            }
        }
    }

    /// When frame `b` follows its header `h` in memory and both lie in the
    /// registered buffer (a frame written from the slot it was read into),
    /// their length together, for one write from the fixed buffer.
    fn contiguous_registered(&self, h: &[u8], b: &[u8]) -> Option<u32> {
        let (start, len) = self.registered?;
        let at = h.as_ptr() as usize;
        let end = b.as_ptr() as usize + b.len();
        let adjacent = at + h.len() == b.as_ptr() as usize;
        (adjacent && at >= start && end <= start + len).then_some((end - at) as u32)
    }

    /// Up to `want` reads into `rx`'s slots, in one call. On a failed
    /// submission nothing was read and the error is returned.
    pub fn read_batch(&mut self, rx: &mut RxBatch, want: usize) -> io::Result<()> {
        rx.clear();
        let want = want.min(rx.capacity()).min(self.entries);
        let fixed_buf = self.register(rx);
        let mut n = 0;
        for k in 0..want {
            let ptr = rx.slot_ptr(k);
            let len = MAX_FRAME as u32;
            let sqe = match (self.fixed_fd, fixed_buf) {
                (true, true) => opcode::ReadFixed::new(types::Fixed(0), ptr, len, 0)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
                (true, false) => opcode::Read::new(types::Fixed(0), ptr, len)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
                (false, true) => opcode::ReadFixed::new(types::Fd(self.fd), ptr, len, 0)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
                (false, false) => opcode::Read::new(types::Fd(self.fd), ptr, len)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
            }
            .user_data(k as u64);
            // SAFETY: slot `k` of `rx` is MAX_FRAME bytes (inside the
            // registered buffer when `fixed_buf`) that stay exclusively
            // borrowed until every request of this round has completed,
            // below; `fd` is open for as long as the caller's queue, which
            // owns it and this ring.
            if unsafe { self.ring.submission().push(&sqe) }.is_err() {
                break;
            }
            n += 1;
        }
        self.complete(
            n,
            |k, res| (k, read_result(res, MAX_FRAME)),
            |(k, got)| {
                rx.got.resize_with(rx.got.len().max(k + 1), || Ok(None));
                rx.got[k] = got;
            },
        )
    }

    /// Submit every queued request and wait for all `n` of them (a
    /// non-blocking descriptor completes each at once); hand each result,
    /// by request number, to `f` after mapping it with `map`.
    fn complete<T>(
        &mut self,
        n: usize,
        map: impl Fn(usize, i32) -> T,
        mut f: impl FnMut(T),
    ) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        loop {
            let want = n - done;
            match self.ring.submit_and_wait(want) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if done == 0 && self.ring.completion().is_empty() {
                        return Err(e);
                    }
                }
            }
            for cqe in self.ring.completion() {
                f(map(cqe.user_data() as usize, cqe.result()));
                done += 1;
            }
            if done >= n {
                return Ok(());
            }
        }
    }

    /// Write each frame of `frames` after its header to `fd`, in one call;
    /// `f` gets each frame's index and whether it was written.
    pub fn write_batch(
        &mut self,
        frames: &[(&[u8], &[u8])],
        mut f: impl FnMut(usize, io::Result<()>),
    ) -> io::Result<()> {
        let all: Vec<usize> = (0..frames.len()).collect();
        for chunk in all.chunks(self.entries) {
            let iovs: Vec<[libc::iovec; 2]> = chunk
                .iter()
                .map(|&k| [iovec(frames[k].0), iovec(frames[k].1)])
                .collect();
            for (j, &k) in chunk.iter().enumerate() {
                let iov = iovs[j].as_ptr();
                let (h, b) = frames[k];
                let sqe = match (self.fixed_fd, self.contiguous_registered(h, b)) {
                    (true, Some(len)) => {
                        opcode::WriteFixed::new(types::Fixed(0), h.as_ptr(), len, 0).build()
                    }
                    (false, Some(len)) => {
                        opcode::WriteFixed::new(types::Fd(self.fd), h.as_ptr(), len, 0).build()
                    }
                    (true, None) => opcode::Writev::new(types::Fixed(0), iov, 2).build(),
                    (false, None) => opcode::Writev::new(types::Fd(self.fd), iov, 2).build(),
                }
                .user_data(k as u64);
                // SAFETY: the iovecs and the slices they point at live until
                // every request of this chunk has completed, below (the
                // frames are borrowed for the whole call, the iovecs are not
                // touched before the next chunk); a fixed write reads only
                // the header and frame, which lie in the registered buffer.
                if unsafe { self.ring.submission().push(&sqe) }.is_err() {
                    return Err(io::Error::other("io_uring submission queue full"));
                }
            }
            self.complete(
                chunk.len(),
                |k, res| {
                    let r = if res < 0 {
                        Err(io::Error::from_raw_os_error(-res))
                    } else {
                        Ok(())
                    };
                    (k, r)
                },
                |(k, r)| f(k, r),
            )?;
        }
        Ok(())
    }
}

/// An iovec over `b`, which the kernel only reads.
fn iovec(b: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

/// Send each frame of `frames` after its header on packet socket `fd`,
/// with as few `sendmmsg` calls as the socket takes; `f` gets each frame's
/// index and whether it was sent. A frame the socket refuses is reported
/// and the rest are sent after it.
pub fn send_batch(fd: RawFd, frames: &[(&[u8], &[u8])], mut f: impl FnMut(usize, io::Result<()>)) {
    let mut iovs: Vec<[libc::iovec; 2]> =
        frames.iter().map(|&(h, b)| [iovec(h), iovec(b)]).collect();
    // SAFETY: mmsghdr is plain data; all-zero is a valid value.
    let mut msgs: Vec<libc::mmsghdr> = (0..frames.len())
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        m.msg_hdr.msg_iov = iov.as_mut_ptr();
        m.msg_hdr.msg_iovlen = 2;
    }
    let mut at = 0;
    while at < msgs.len() {
        // SAFETY: the headers from `at` on point at iovecs over the frames,
        // which live and are only read across the call.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                msgs[at..].as_mut_ptr(),
                (msgs.len() - at) as libc::c_uint,
                0,
            )
        };
        if r > 0 {
            for k in at..at + r as usize {
                f(k, Ok(()));
            }
            at += r as usize;
        } else {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            f(at, Err(e));
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::{afpacket, tap, Fanout, PortSpec};

    /// A broadcast frame of the local experimental EtherType 0x88b5, which
    /// no stack answers, numbered `k`.
    fn probe(k: u8) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
        f.extend(std::iter::repeat_n(k, 50));
        f
    }

    /// The probes among a round's frames, after `off` bytes of header.
    fn probes(rx: &mut RxBatch, off: usize) -> Vec<u8> {
        let mut seen = Vec::new();
        for (slot, got) in rx.frames() {
            if let Ok(Some(n)) = got {
                let f = &slot[off..n];
                if f.len() == 64 && f[12..14] == [0x88, 0xb5] {
                    seen.push(f[14]);
                }
            }
        }
        seen
    }

    #[test]
    fn frames_cross_a_tap_and_a_packet_socket_in_batches() {
        // SAFETY: geteuid takes nothing and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (creates a TAP device)");
            return;
        }
        let name = "nsgiob0";
        let tspec = PortSpec::Tap(name.into());
        let (mut taps, _) = tap::open(&tspec, name, 1, None, true).expect("open the TAP");
        let ispec = PortSpec::Interface(name.into());
        let (mut socks, _) = afpacket::open(&ispec, name, 1, Fanout::Hash).expect("attach");
        let (t, s) = (&mut taps[0], &mut socks[0]);
        let mut rx = RxBatch::new(8);
        // Nothing waits: a round completes at once with nothing read.
        t.recv_batch(&mut rx).unwrap();
        assert!(probes(&mut rx, VNET_HDR).is_empty());
        // As root, the kernel takes the descriptor and the read buffers as
        // fixed: the reads and writes below go through them.
        assert_eq!(t.ring_registered(), Some((true, true)));
        let frames: Vec<Vec<u8>> = (1..=3).map(probe).collect();
        let batch: Vec<(&[u8], &[u8])> = frames.iter().map(|f| (&[][..], &f[..])).collect();
        // Out of the packet socket: the TAP reads them, in order.
        let mut sent = Vec::new();
        s.send_batch(&batch, |k, r| sent.push((k, r.is_ok())));
        assert_eq!(sent, [(0, true), (1, true), (2, true)]);
        t.recv_batch(&mut rx).unwrap();
        assert_eq!(probes(&mut rx, VNET_HDR), [1, 2, 3]);
        // Into the TAP: the packet socket receives them, in order.
        let mut written = Vec::new();
        t.send_batch(&batch, |k, r| written.push((k, r.is_ok())));
        assert_eq!(written, [(0, true), (1, true), (2, true)]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        s.recv_batch(&mut rx).unwrap();
        assert_eq!(probes(&mut rx, VNET_HDR), [1, 2, 3]);
    }

    const VNET_HDR: usize = crate::port::offload::VNET_HDR_LEN;
}

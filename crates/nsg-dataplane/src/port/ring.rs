//! The TPACKET_V3 receive ring of a packet socket: the kernel writes
//! frames into blocks of a memory map shared with nsg and hands over a
//! whole block at a time (`TP_STATUS_USER` in its descriptor), when it is
//! full or `RETIRE_MS` after its first frame. A round walks the ready
//! blocks' frames by their `tp_next_offset` and gives each block back
//! (`TP_STATUS_KERNEL`) once its frames are taken, with no system call.
//!
//! With `PACKET_VNET_HDR` on, the kernel writes each frame's virtio-net
//! header just before the frame (`tp_mac - 10`, as `tpacket_rcv` does in
//! `net/packet/af_packet.c`), so a frame and its header are one run of
//! bytes, as a `recv` would give them.
//!
//! The walk over a block ([`BlockWalk`]) reads only the block's bytes and
//! refuses any offset or length that leaves them; the module's `unsafe`
//! is the memory map and the status words the kernel shares.

#![allow(unsafe_code)]

use super::batch::RxBatch;
use super::offload::VNET_HDR_LEN;
use super::MAX_FRAME;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes per block: many frames per hand-over, each one up to 64 KiB.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Blocks per socket.
pub const BLOCK_NR: usize = 8;
/// The ring's frame size, which only bounds the kernel's accounting in
/// TPACKET_V3 (frames are packed in the block); large enough for a
/// 64 KiB GSO frame with its headers.
pub const FRAME_SIZE: usize = 1 << 17;
/// How long the kernel keeps a block that has frames before it hands it
/// over, in milliseconds.
pub const RETIRE_MS: u32 = 2;

/// Offset of `block_status` in `struct tpacket_block_desc`.
const BLOCK_STATUS: usize = 8;
/// Offset of `num_pkts`.
const NUM_PKTS: usize = 12;
/// Offset of `offset_to_first_pkt`.
const FIRST_PKT: usize = 16;
/// Offset of `blk_len` (bytes of the block in use, descriptor included).
const BLK_LEN: usize = 20;
/// Bytes of `struct tpacket_block_desc` read here.
const BLOCK_DESC_LEN: usize = 24;

/// Offsets in `struct tpacket3_hdr`: `tp_next_offset`, `tp_snaplen`,
/// `tp_len`, `tp_mac`; and the bytes read of it.
const NEXT_OFFSET: usize = 0;
/// Offset of `tp_snaplen`.
const SNAPLEN: usize = 12;
/// Offset of `tp_len`.
const LEN: usize = 16;
/// Offset of `tp_mac`.
const MAC: usize = 24;
/// Bytes of `struct tpacket3_hdr` read here.
const FRAME_HDR_LEN: usize = 26;

/// A `u32` in native order at `at` in `b`, if all four bytes are in it.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// A `u16` in native order at `at` in `b`, if both bytes are in it.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// One frame found in a block.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    /// The virtio-net header and the frame after it, as the byte range of
    /// the block they fill.
    Frame(std::ops::Range<usize>),
    /// A frame the ring cut (`tp_snaplen < tp_len`), to count and drop.
    Cut {
        /// Bytes the ring kept.
        snaplen: u32,
        /// Bytes the frame had.
        len: u32,
    },
}

/// Why a block's frames cannot be walked.
pub type Malformed = &'static str;

/// The frames of one block handed over by the kernel, in order. Every
/// offset and length is checked against the block; a bad one ends the walk
/// with an error instead of reading past it.
pub struct BlockWalk {
    /// Frames not yet walked.
    left: u32,
    /// Where the next frame's `tpacket3_hdr` starts.
    at: usize,
    /// The block's bytes in use.
    end: usize,
}

impl BlockWalk {
    /// Start a walk over `block`, checking its descriptor.
    pub fn new(block: &[u8]) -> Result<BlockWalk, Malformed> {
        let left = u32_at(block, NUM_PKTS).ok_or("block shorter than its descriptor")?;
        let first = u32_at(block, FIRST_PKT).ok_or("block shorter than its descriptor")? as usize;
        let end = u32_at(block, BLK_LEN).ok_or("block shorter than its descriptor")? as usize;
        if end > block.len() {
            return Err("block length past the block");
        }
        if left > 0 && (first < BLOCK_DESC_LEN || first >= end) {
            return Err("first frame outside the block");
        }
        Ok(BlockWalk {
            left,
            at: first,
            end,
        })
    }

    /// Frames left to walk.
    pub fn left(&self) -> u32 {
        self.left
    }

    /// The next frame of `block` (the block [`BlockWalk::new`] checked), or
    /// `None` when all are walked. After an error the walk is over.
    pub fn next(&mut self, block: &[u8]) -> Option<Result<Slot, Malformed>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = self.frame(&block[..self.end.min(block.len())]);
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }

    /// Read the frame whose header starts at `self.at` and move on.
    fn frame(&mut self, block: &[u8]) -> Result<Slot, Malformed> {
        let at = self.at;
        let h = block
            .get(at..at.saturating_add(FRAME_HDR_LEN))
            .ok_or("frame header past the block")?;
        let next = u32_at(h, NEXT_OFFSET).ok_or("frame header")? as usize;
        let snaplen = u32_at(h, SNAPLEN).ok_or("frame header")?;
        let len = u32_at(h, LEN).ok_or("frame header")?;
        let mac = usize::from(u16_at(h, MAC).ok_or("frame header")?);
        if self.left > 0 {
            if next < FRAME_HDR_LEN {
                return Err("next frame overlaps this one");
            }
            self.at = at.checked_add(next).ok_or("next frame past the block")?;
        }
        if mac < FRAME_HDR_LEN + VNET_HDR_LEN {
            return Err("frame data overlaps its header");
        }
        let start = at + mac - VNET_HDR_LEN;
        let stop = (at + mac)
            .checked_add(snaplen as usize)
            .filter(|&s| s <= block.len())
            .ok_or("frame data past the block")?;
        if snaplen < len {
            return Ok(Slot::Cut { snaplen, len });
        }
        Ok(Slot::Frame(start..stop))
    }
}

/// A socket's receive ring: the memory map and where the walk stands.
pub struct RxRing {
    /// The start of the map, `BLOCK_SIZE * BLOCK_NR` bytes.
    map: *mut u8,
    /// The block the walk is in (or waits for).
    cur: usize,
    /// The walk through `cur`, once the kernel handed it over.
    walk: Option<BlockWalk>,
}

// SAFETY: the map belongs to this ring alone (the socket is owned by the
// same queue, read by one worker at a time); nothing in it is tied to the
// thread that made it.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Set up the ring on packet socket `fd` (version, `PACKET_RX_RING`)
    /// and map it. `PACKET_VNET_HDR` must already be set: the kernel takes
    /// no change of it once the ring exists.
    pub fn new(fd: RawFd) -> io::Result<RxRing> {
        set_opt(
            fd,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V3 as libc::c_int),
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: BLOCK_NR as u32,
            tp_frame_size: FRAME_SIZE as u32,
            tp_frame_nr: (BLOCK_NR * (BLOCK_SIZE / FRAME_SIZE)) as u32,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_opt(fd, libc::PACKET_RX_RING, &req)?;
        // SAFETY: a fresh shared mapping of the ring the socket just set
        // up, of exactly its size; the kernel checks the length.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                BLOCK_SIZE * BLOCK_NR,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(RxRing {
            map: map as *mut u8,
            cur: 0,
            walk: None,
        })
    }

    /// The status word of block `k`, which the kernel shares.
    fn status(&self, k: usize) -> &AtomicU32 {
        // SAFETY: block `k` (k < BLOCK_NR) starts a page-aligned
        // BLOCK_SIZE run of the live map; its status word is a 4-aligned
        // u32 inside the descriptor, and the kernel and nsg only ever touch
        // it whole, as an atomic.
        unsafe { AtomicU32::from_ptr(self.map.add(k * BLOCK_SIZE + BLOCK_STATUS) as *mut u32) }
    }

    /// Block `k`'s bytes, while nsg owns it (its status says
    /// `TP_STATUS_USER`, read with acquire ordering).
    fn block(&self, k: usize) -> &[u8] {
        // SAFETY: the block lies in the live map; the kernel does not write
        // a block it handed over until the status is set back to
        // TP_STATUS_KERNEL (`release`), which takes `&mut self` and so ends
        // this borrow.
        unsafe { std::slice::from_raw_parts(self.map.add(k * BLOCK_SIZE), BLOCK_SIZE) }
    }

    /// Give block `cur` back to the kernel and move to the next one.
    fn release(&mut self) {
        self.status(self.cur)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.cur = (self.cur + 1) % BLOCK_NR;
        self.walk = None;
    }

    /// The walk through the current block, once the kernel handed it
    /// over; a malformed block is reported and given back.
    fn ready(&mut self) -> Option<Result<(), Malformed>> {
        if self.walk.is_some() {
            return Some(Ok(()));
        }
        let st = self.status(self.cur).load(Ordering::Acquire);
        if st & libc::TP_STATUS_USER == 0 {
            return None;
        }
        match BlockWalk::new(self.block(self.cur)) {
            Ok(w) => {
                self.walk = Some(w);
                Some(Ok(()))
            }
            Err(e) => {
                self.release();
                Some(Err(e))
            }
        }
    }

    /// Take the next frame waiting in the ring, if any, and hand it to
    /// `f` (header and frame as one slice) or the reason it is dropped;
    /// answers whether there was one.
    pub fn take(&mut self, f: impl FnOnce(Result<&[u8], io::Error>)) -> bool {
        loop {
            match self.ready() {
                None => return false,
                Some(Err(e)) => {
                    f(Err(invalid(e.to_string())));
                    return true;
                }
                Some(Ok(())) => {}
            }
            let Some(mut walk) = self.walk.take() else {
                return false;
            };
            let block = self.block(self.cur);
            let Some(slot) = walk.next(block) else {
                self.release();
                continue;
            };
            match slot {
                Ok(Slot::Frame(r)) => f(Ok(&block[r])),
                Ok(Slot::Cut { snaplen, len }) => f(Err(invalid(format!(
                    "a frame of {len} bytes was cut to {snaplen} by the receive ring"
                )))),
                Err(e) => f(Err(invalid(e.to_string()))),
            }
            if walk.left() == 0 {
                self.release();
            } else {
                self.walk = Some(walk);
            }
            return true;
        }
    }

    /// A round of frames into `rx`'s slots (header and frame in each),
    /// copied out of the ring so each block goes back to the kernel as
    /// soon as it is walked; no system call.
    pub fn recv_batch(&mut self, rx: &mut RxBatch) {
        rx.clear();
        let mut k = 0;
        while k < rx.capacity() {
            let slot = rx.slot_mut(k);
            let mut got = Ok(None);
            if !self.take(|r| got = r.and_then(|b| copy_into(slot, b))) {
                break;
            }
            rx.push(got);
            k += 1;
        }
    }

    /// One frame (header and frame) into `buf`, or `None` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut got = Ok(None);
        self.take(|r| got = r.and_then(|b| copy_into(buf, b)));
        got
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: the map was made by `new` with this length and is not
        // used after the ring is dropped.
        unsafe {
            libc::munmap(self.map as *mut libc::c_void, BLOCK_SIZE * BLOCK_NR);
        }
    }
}

/// Copy `b` into the start of `slot`; a frame longer than the slot is an
/// `InvalidData` error, as a cut read is.
fn copy_into(slot: &mut [u8], b: &[u8]) -> io::Result<Option<usize>> {
    let n = b.len();
    if n > slot.len().min(MAX_FRAME) {
        return Err(invalid(format!(
            "a frame of {n} bytes is longer than the read buffer"
        )));
    }
    slot[..n].copy_from_slice(b);
    Ok(Some(n))
}

/// An `InvalidData` error: a frame to count and drop.
fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Set socket option `opt` of `SOL_PACKET` to `val`.
fn set_opt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live value of the option's type, and its size is
    // passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;

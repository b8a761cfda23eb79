//! The operating-system seam of the ports: the TAP ioctls, interface flags
//! and hardware addresses, the AF_PACKET socket option that hides our own
//! transmissions, `poll`, `read` and `write` on raw descriptors. One of
//! the crate's modules with `unsafe`, beside [`super::batch`] and
//! [`super::ring`]; every block says why it is sound.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_TSO_ECN: libc::c_uint = 0x08;

pub use super::offload::VNET_HDR_LEN;
/// `SOL_PACKET` option: do not deliver packets this host sends (Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// Longest interface name, without the terminating NUL.
pub const IFNAMSIZ_MAX: usize = 15;

/// `struct ifreq`: a name and a 24-byte union.
#[repr(C, align(8))]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > IFNAMSIZ_MAX || b.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name '{name}' must have 1 to {IFNAMSIZ_MAX} bytes"),
            ));
        }
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        r.name[..b.len()].copy_from_slice(b);
        Ok(r)
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Open one queue of a TAP device (created if it does not exist), without
/// packet information headers, non-blocking. With `offload`, frames carry a
/// virtio-net header and the kernel side may hand over TCP segments of up to
/// 64 KiB with their checksum left to compute (TSO, checksum offload), which
/// nsg passes on whole to another such TAP. Returns the descriptor and the
/// name the kernel gave.
pub fn tap_open(name: &str, multi_queue: bool, offload: bool) -> io::Result<(OwnedFd, String)> {
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a NUL-terminated string; open has no other inputs.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReq::new(name)?;
    let mut flags = IFF_TAP | IFF_NO_PI;
    if multi_queue {
        flags |= IFF_MULTI_QUEUE;
    }
    if offload {
        flags |= IFF_VNET_HDR;
    }
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `req` is
    // (same size and alignment); it lives across the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) })?;
    if offload {
        let f: libc::c_uint = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD as _, f as libc::c_ulong) })?;
    }
    Ok((fd, req.name()))
}

fn inet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_ioctl(name: &str, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    let s = inet_socket()?;
    *req = IfReq {
        name: IfReq::new(name)?.name,
        data: req.data,
    };
    // SAFETY: the SIOC[GS]IF* requests used here read or write a
    // `struct ifreq`, which `req` is; it lives across the call.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), request as _, req as *mut IfReq) })?;
    Ok(())
}

/// The hardware address of an interface.
pub fn get_mac(name: &str) -> io::Result<[u8; 6]> {
    let mut req = IfReq::new(name)?;
    ifreq_ioctl(name, libc::SIOCGIFHWADDR as _, &mut req)?;
    // The union holds a `struct sockaddr`: family (2 bytes), then the address.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&req.data[2..8]);
    Ok(mac)
}

/// Set the hardware address of an Ethernet interface.
pub fn set_mac(name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut req = IfReq::new(name)?;
    req.data[..2].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
    req.data[2..8].copy_from_slice(&mac);
    ifreq_ioctl(name, libc::SIOCSIFHWADDR as _, &mut req)
}

/// Bring an interface up.
pub fn set_up(name: &str) -> io::Result<()> {
    let mut req = IfReq::new(name)?;
    ifreq_ioctl(name, libc::SIOCGIFFLAGS as _, &mut req)?;
    let flags = i16::from_ne_bytes([req.data[0], req.data[1]]) | libc::IFF_UP as i16;
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ifreq_ioctl(name, libc::SIOCSIFFLAGS as _, &mut req)
}

/// Set an integer socket option.
fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int that lives across the call, and
    // its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &val as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The index of interface `name`.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

/// An AF_PACKET raw socket for every EtherType on interface `ifindex`
/// that does not see what this host sends there (so frames nsg writes do
/// not come back), with a virtio-net header before every frame read or
/// written (`PACKET_VNET_HDR`: partial checksums and GSO segments keep
/// their offload metadata), in promiscuous mode.
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::c_int::from(proto),
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    set_int_opt(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
    set_int_opt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `sll` is a sockaddr_ll that lives across the call; its size
    // is passed.
    cvt(unsafe {
        libc::bind(
            raw,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    // SAFETY: the option value is a packet_mreq that lives across the
    // call, and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mreq as *const libc::packet_mreq as *const libc::c_void,
            std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Join the socket to fanout group `group` with mode `mode`
/// (`PACKET_FANOUT_HASH`, `PACKET_FANOUT_LB`), reassembling fragments for
/// the hash with `defrag`.
pub fn packet_fanout(fd: RawFd, group: u16, mode: u32, defrag: bool) -> io::Result<()> {
    let flags = if defrag {
        libc::PACKET_FANOUT_FLAG_DEFRAG
    } else {
        0
    };
    let val = u32::from(group) | ((mode | flags) << 16);
    set_int_opt(
        fd,
        libc::SOL_PACKET,
        libc::PACKET_FANOUT,
        val as libc::c_int,
    )
}

/// The pending error of socket `fd` (`SO_ERROR`, which reading clears):
/// `ENETDOWN` once its interface went down or away.
pub fn socket_error(fd: RawFd) -> io::Result<()> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the value and its length are live across the call, and the
    // length is the value's size.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut val as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    })?;
    if val != 0 {
        return Err(io::Error::from_raw_os_error(val));
    }
    Ok(())
}

/// Read one frame from a non-blocking descriptor; `None` when none waits.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
        _ => Err(e),
    }
}

/// Write one frame.
pub fn write(fd: RawFd, frame: &[u8]) -> io::Result<()> {
    // SAFETY: `frame` is valid for reads of `frame.len()` bytes.
    let n = unsafe { libc::write(fd, frame.as_ptr() as *const libc::c_void, frame.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Write one frame in two parts (a virtio-net header and the frame).
pub fn write2(fd: RawFd, a: &[u8], b: &[u8]) -> io::Result<()> {
    let iov = [
        libc::iovec {
            iov_base: a.as_ptr() as *mut libc::c_void,
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        },
    ];
    // SAFETY: both iovecs point at live slices of their stated lengths,
    // which writev only reads.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The descriptors a worker waits on, kept across polls so that waiting
/// allocates nothing: `poll(2)`'s array is built once, its results are
/// read in place.
#[derive(Debug, Clone)]
pub struct PollSet {
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    /// A set waiting for input on each of `fds`, in order (index `i` is the
    /// `i`-th descriptor).
    pub fn new(fds: impl IntoIterator<Item = RawFd>) -> PollSet {
        PollSet {
            fds: fds
                .into_iter()
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        }
    }

    /// Stop waiting on descriptor `i` (its device is gone): `poll(2)`
    /// ignores a negative descriptor, which is then never ready.
    pub fn disable(&mut self, i: usize) {
        if let Some(p) = self.fds.get_mut(i) {
            p.fd = -1;
            p.revents = 0;
        }
    }

    /// Wait up to `timeout_ms` (0: do not wait, negative: no limit) for any
    /// descriptor to be readable; returns how many are. Interrupted by a
    /// signal, it returns 0 with none ready.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        for p in &mut self.fds {
            p.revents = 0;
        }
        // SAFETY: `self.fds` is a live, exclusively borrowed array of
        // `self.fds.len()` pollfd structures, which poll writes `revents` of.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            for p in &mut self.fds {
                p.revents = 0;
            }
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(n as usize)
    }

    /// Whether descriptor `i` had input, an error or a hang-up at the last
    /// [`PollSet::wait`] (a read then tells which).
    #[inline]
    pub fn is_ready(&self, i: usize) -> bool {
        self.fds
            .get(i)
            .is_some_and(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
    }
}

/// An eventfd: a descriptor one thread makes readable to wake another
/// from `poll(2)`.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A new, non-blocking eventfd with its counter at 0.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // descriptor owned by nobody else.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned here only.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Add one to the counter, making the descriptor readable. A counter
    /// at its limit (EAGAIN) is readable already, so the error is ignored.
    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local array to an eventfd.
        let _ = unsafe { libc::write(self.fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Reset the counter: the descriptor is no longer readable.
    pub fn clear(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live local array.
        let _ = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

//! Ethernet II headers: the MAC addresses of a frame, read and rewritten.

/// Length of an untagged Ethernet II header.
pub const ETH_LEN: usize = 14;

/// The broadcast MAC address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A MAC address's multicast (group) bit.
pub fn is_multicast_mac(m: &[u8; 6]) -> bool {
    m[0] & 1 == 1
}

/// The destination MAC of a frame, if it is long enough to have one.
pub fn dst_mac(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(0..6)?.try_into().ok()
}

/// The source MAC of a frame, if it is long enough to have one.
pub fn src_mac(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(6..12)?.try_into().ok()
}

/// Rewrite a frame's destination MAC and, when given, its source MAC; a
/// frame shorter than an Ethernet header is left as it is.
pub fn set_macs(frame: &mut [u8], dst: [u8; 6], src: Option<[u8; 6]>) {
    if frame.len() >= ETH_LEN {
        frame[0..6].copy_from_slice(&dst);
        if let Some(s) = src {
            frame[6..12].copy_from_slice(&s);
        }
    }
}

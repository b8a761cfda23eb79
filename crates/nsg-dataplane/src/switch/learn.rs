//! Hardware addresses learned from the ports, shared by the workers:
//! one per NIC port (the host behind it) and, on the uplink, one per
//! address with the last sender as fallback (a router, typically).

use super::{neigh, PortId};
use ahash::AHashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

const MAC_KNOWN: u64 = 1 << 48;

fn mac_to_u64(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m);
    u64::from_be_bytes(b) | MAC_KNOWN
}

fn u64_to_mac(v: u64) -> Option<[u8; 6]> {
    if v & MAC_KNOWN == 0 {
        return None;
    }
    let b = v.to_be_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[2..]);
    Some(m)
}

/// Hardware addresses learned from the ports, shared by the workers.
pub struct Neighbors {
    /// Per port: the host behind a NIC's port; for the uplink, the last
    /// sender seen (a router, typically).
    port_mac: Vec<AtomicU64>,
    /// On the uplink: address -> hardware address.
    uplink: RwLock<AHashMap<IpAddr, [u8; 6]>>,
}

impl Neighbors {
    /// Neighbours with, per port, the host's address when known at start
    /// (`initial[port]`, a TAP's kernel side); nothing learned on the
    /// uplink yet.
    pub fn new(initial: &[Option<[u8; 6]>]) -> Neighbors {
        Neighbors {
            port_mac: initial
                .iter()
                .map(|m| AtomicU64::new(m.map_or(0, mac_to_u64)))
                .collect(),
            uplink: RwLock::new(AHashMap::new()),
        }
    }

    /// The host behind `port` (for the uplink, its last sender), if known.
    pub fn port_mac(&self, port: PortId) -> Option<[u8; 6]> {
        u64_to_mac(self.port_mac.get(port)?.load(Ordering::Relaxed))
    }

    pub(super) fn learn_port(&self, port: PortId, mac: [u8; 6]) {
        if neigh::is_multicast_mac(&mac) || mac == [0; 6] {
            return;
        }
        if let Some(a) = self.port_mac.get(port) {
            let v = mac_to_u64(mac);
            if a.load(Ordering::Relaxed) != v {
                a.store(v, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn learn_uplink(&self, port: PortId, ip: IpAddr, mac: [u8; 6]) {
        if neigh::is_multicast_mac(&mac) || ip.is_unspecified() {
            return;
        }
        self.learn_port(port, mac);
        let known = self
            .uplink
            .read()
            .map(|m| m.get(&ip) == Some(&mac))
            .unwrap_or(true);
        if !known {
            if let Ok(mut m) = self.uplink.write() {
                m.insert(ip, mac);
            }
        }
    }

    pub(super) fn uplink_mac(&self, port: PortId, ip: &IpAddr) -> Option<[u8; 6]> {
        self.uplink
            .read()
            .ok()
            .and_then(|m| m.get(ip).copied())
            .or_else(|| self.port_mac(port))
    }
}

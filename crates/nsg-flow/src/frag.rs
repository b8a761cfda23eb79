//! Fragment tracking: a first fragment records which flow it belongs to, so
//! that later fragments (which carry no ports) follow that flow's verdict.
//! Bounded and timed out; a later fragment whose first fragment is unknown
//! (never seen, denied, out of order or timed out) is not let through.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use nsg_packet::{Addr, Family, PacketMeta};

use crate::hash::FlowHasher;
use crate::key::{FlowKey, NicId};
use crate::stats::FlowStats;

/// A datagram being fragmented: (NIC, source, destination, protocol, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    src: Addr,
    dst: Addr,
    id: u32,
    nic: NicId,
    proto: u8,
    family: Family,
}

impl FragKey {
    fn new(nic: NicId, meta: &PacketMeta, id: u32) -> FragKey {
        FragKey {
            src: meta.tuple.src,
            dst: meta.tuple.dst,
            id,
            nic,
            proto: meta.tuple.proto,
            family: meta.tuple.family,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FragRecord {
    /// The flow the datagram belongs to.
    pub flow: FlowKey,
    /// Whether the datagram runs from the key's `a` end.
    pub forward: bool,
    expires: u64,
}

pub(crate) struct FragmentTable {
    map: DashMap<FragKey, FragRecord, FlowHasher>,
    len: AtomicUsize,
    capacity: usize,
    timeout: u64,
}

impl FragmentTable {
    pub fn new(capacity: usize, timeout: u64, shards: usize) -> FragmentTable {
        FragmentTable {
            // Room for churn at capacity, as the flow map has.
            map: DashMap::with_capacity_and_hasher_and_shard_amount(
                crate::table::shard_reserve(capacity.min(1 << 16), shards) * shards,
                FlowHasher::new(),
                shards,
            ),
            len: AtomicUsize::new(0),
            capacity,
            timeout,
        }
    }

    /// Record a first fragment of a flow that the table lets through.
    pub fn record(
        &self,
        nic: NicId,
        meta: &PacketMeta,
        flow: FlowKey,
        forward: bool,
        now: u64,
        stats: &mut FlowStats,
    ) {
        let Some(frag) = meta.fragment else { return };
        let key = FragKey::new(nic, meta, frag.id);
        let rec = FragRecord {
            flow,
            forward,
            expires: now.saturating_add(self.timeout),
        };
        if let Some(mut r) = self.map.get_mut(&key) {
            *r = rec;
            stats.fragments_recorded += 1;
            return;
        }
        if self.len.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.len.fetch_sub(1, Ordering::Relaxed);
            stats.fragment_refusals += 1;
            return;
        }
        if self.map.insert(key, rec).is_some() {
            // Another worker recorded it in between.
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        stats.fragments_recorded += 1;
    }

    /// The flow a non-first fragment belongs to.
    pub fn find(&self, nic: NicId, meta: &PacketMeta, now: u64) -> Option<FragRecord> {
        let frag = meta.fragment?;
        let key = FragKey::new(nic, meta, frag.id);
        let rec = *self.map.get(&key)?;
        if now >= rec.expires {
            if self.map.remove_if(&key, |_, r| now >= r.expires).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
            return None;
        }
        Some(rec)
    }

    /// Remove records past their timeout; returns how many.
    pub fn sweep(&self, now: u64) -> usize {
        let mut n = 0;
        self.map.retain(|_, r| {
            let keep = now < r.expires;
            n += usize::from(!keep);
            keep
        });
        self.len.fetch_sub(n, Ordering::Relaxed);
        n
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Bytes the shards have allocated: key, record and control byte a slot.
    pub fn memory_bytes(&self) -> usize {
        let buckets: usize = self.map.shards().iter().map(|s| s.read().buckets()).sum();
        buckets * (std::mem::size_of::<(FragKey, FragRecord)>() + 1)
    }
}

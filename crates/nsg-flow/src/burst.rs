//! A burst of packets of one NIC through the prepared API: hash them all,
//! prefetch every candidate bucket, then every matching entry, then look
//! each up, so the memory misses of a burst overlap instead of each packet
//! waiting for its own. Packets are looked up in burst order, so the
//! results and counters are those of [`FlowTable::lookup`] one by one.

use nsg_packet::PacketMeta;

use crate::clock::Timestamp;
use crate::key::NicId;
use crate::prepared::Prepared;
use crate::stats::FlowStats;
use crate::table::{Epoch, FlowTable, Lookup};

/// Packets prepared and prefetched together.
const CHUNK: usize = 32;

impl FlowTable {
    /// [`FlowTable::lookup`] for each packet of `packets` (all of `nic`),
    /// results in `out` in the same order (`out` is cleared first; give it
    /// capacity for the burst so nothing is allocated).
    pub fn lookup_burst(
        &mut self,
        nic: NicId,
        packets: &[PacketMeta],
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
        out: &mut Vec<Lookup>,
    ) {
        let epoch = epoch.into();
        out.clear();
        let mut prepared = [Prepared {
            key: crate::key::FlowKey::new(nic, &nsg_packet::FiveTuple::default()).0,
            forward: true,
            hash: 0,
            wide: false,
        }; CHUNK];
        for chunk in packets.chunks(CHUNK) {
            for (p, m) in prepared.iter_mut().zip(chunk) {
                *p = self.prepare(nic, m);
                self.prefetch(p);
            }
            let prepared = &prepared[..chunk.len()];
            for p in prepared {
                self.prefetch_entry(p);
            }
            for (p, m) in prepared.iter().zip(chunk) {
                out.push(self.lookup_prepared(p, m, now, epoch, stats));
            }
        }
    }
}

//! The burst fast path: look up a burst of packets of one NIC with one lock
//! acquisition per shard touched, so the cache misses of the packets that
//! share a shard overlap instead of queueing behind one lock operation each.
//! Anything unusual (fragments, ICMP errors, expiry, reopening, flush) is
//! handed to [`FlowTable::lookup`], so both paths share one set of rules.

use nsg_packet::PacketMeta;

use crate::clock::Timestamp;
use crate::conntrack::quoted_tuple;
use crate::entry::RuleId;
use crate::key::{FlowKey, NicId};
use crate::stats::FlowStats;
use crate::table::{Epoch, FlowTable, Hit, Lookup};

/// Packets handled per sorting round of [`FlowTable::lookup_burst`].
const CHUNK: usize = 64;

impl FlowTable {
    /// [`FlowTable::lookup`] for each packet of `packets` (all of `nic`),
    /// results in `out` in the same order (`out` is cleared first; give it
    /// capacity for the burst so nothing is allocated).
    ///
    /// Packets of one flow are counted in burst order, except those handed to
    /// the single-packet path (fragments, ICMP errors, expired, reopened or
    /// flushed entries), which are handled after the rest of their chunk of
    /// 64. Fewer shards put more packets under each lock and overlap more of
    /// their memory latency.
    pub fn lookup_burst(
        &self,
        nic: NicId,
        packets: &[PacketMeta],
        now: Timestamp,
        epoch: impl Into<Epoch>,
        stats: &mut FlowStats,
        out: &mut Vec<Lookup>,
    ) {
        let epoch = epoch.into();
        out.clear();
        out.resize(packets.len(), Lookup::Miss);
        for (chunk, results) in packets.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            self.lookup_chunk(nic, chunk, now, epoch, stats, results);
        }
    }

    fn lookup_chunk(
        &self,
        nic: NicId,
        packets: &[PacketMeta],
        now: Timestamp,
        epoch: Epoch,
        stats: &mut FlowStats,
        out: &mut [Lookup],
    ) {
        let n = packets.len();
        let mut keys = [(FlowKey::new(nic, &packets[0].tuple).0, false); CHUNK];
        let mut hashes = [0u64; CHUNK];
        // (shard, index) pairs; unusual packets get shard usize::MAX.
        let mut order = [(0usize, 0u8); CHUNK];
        let t = self.timeouts_ns(nic);
        for (i, m) in packets.iter().enumerate() {
            let usual = m.fragment.is_none() && quoted_tuple(m).is_none();
            keys[i] = FlowKey::new(nic, &m.tuple);
            let h = self.map.hash_usize(&keys[i].0);
            hashes[i] = h as u64;
            let shard = if usual {
                self.map.determine_shard(h)
            } else {
                usize::MAX
            };
            // CHUNK is 64, so the index fits in a byte.
            order[i] = (shard, i as u8);
        }
        let order = &mut order[..n];
        order.sort_unstable();
        let shards = self.map.shards();
        let mut slow = [false; CHUNK];
        let mut g = 0;
        while g < n {
            let shard = order[g].0;
            let end = g + order[g..].iter().take_while(|o| o.0 == shard).count();
            if shard == usize::MAX {
                for &(_, i) in &order[g..end] {
                    slow[usize::from(i)] = true;
                }
                break;
            }
            let mut table = shards[shard].write();
            for &(_, i) in &order[g..end] {
                let i = usize::from(i);
                let (key, forward) = keys[i];
                let m = &packets[i];
                let Some((_, v)) = table.get_mut(hashes[i], |(k, _)| *k == key) else {
                    stats.lookups += 1;
                    stats.misses += 1;
                    out[i] = Lookup::Miss;
                    continue;
                };
                let e = v.get_mut();
                let flags = m.tcp_flags();
                let syn_only = flags.is_some_and(|f| f.syn() && !f.ack());
                if e.expired(now.0, key.proto, &t)
                    || (syn_only && e.state.reopens_on_syn())
                    || epoch.reevaluates(e)
                {
                    slow[i] = true;
                    continue;
                }
                let dir = e.direction(forward);
                e.account(dir, flags, m.frame_len, now.0);
                stats.lookups += 1;
                stats.hits += 1;
                out[i] = Lookup::Hit(Hit {
                    verdict: e.verdict(),
                    rule: RuleId(e.rule),
                    generation: e.generation,
                    direction: dir,
                    state: e.state,
                });
            }
            drop(table);
            g = end;
        }
        for i in 0..n {
            if slow[i] {
                out[i] = self.lookup(nic, &packets[i], now, epoch, stats);
            }
        }
    }
}

//! Fragment tracking: a first fragment records which flow it belongs to, so
//! that later fragments (which carry no ports) follow that flow's verdict.
//! Bounded and timed out; a later fragment whose first fragment is unknown
//! (never seen, denied, out of order or timed out) is not let through.
//!
//! One owner, no lock: an open-addressing array with linear probing,
//! allocated once with twice as many slots as records (a power of two), so
//! probes stay short; removal shifts the following records back instead of
//! leaving tombstones, so churn never degrades or grows it.

use nsg_packet::{Addr, PacketMeta};

use crate::hash::FlowHasher;
use crate::key::{FlowKey, NicId};
use crate::stats::FlowStats;

/// A datagram being fragmented: (NIC, source, destination, protocol, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct FragKey {
    src: Addr,
    dst: Addr,
    id: u32,
    nic: NicId,
    proto: u8,
    family: u8,
}

impl FragKey {
    fn new(nic: NicId, meta: &PacketMeta, id: u32) -> FragKey {
        FragKey {
            src: meta.tuple.src,
            dst: meta.tuple.dst,
            id,
            nic,
            proto: meta.tuple.proto,
            family: meta.tuple.family as u8,
        }
    }
}

/// A slot: the datagram's key, the ports of its first fragment (from which
/// the flow's key is rebuilt) and when the record expires. 56 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: FragKey,
    ports: [u16; 2],
    expires: u64,
    used: bool,
}

/// The flow a non-first fragment belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragRecord {
    /// The flow the datagram belongs to.
    pub flow: FlowKey,
    /// Whether the datagram runs from the key's `a` end.
    pub forward: bool,
}

/// The fragment records of one flow table.
pub(crate) struct FragmentTable {
    slots: Box<[Slot]>,
    hasher: FlowHasher,
    len: usize,
    capacity: usize,
    timeout: u64,
}

impl FragmentTable {
    /// Room for `capacity` records living `timeout` nanoseconds each,
    /// placed by `hasher`.
    pub(crate) fn new(capacity: usize, timeout: u64, hasher: FlowHasher) -> FragmentTable {
        let n = capacity.max(1).saturating_mul(2).next_power_of_two();
        FragmentTable {
            slots: vec![Slot::default(); n].into_boxed_slice(),
            hasher,
            len: 0,
            capacity,
            timeout,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, key: &FragKey) -> usize {
        self.hasher.hash_one(key) as usize & self.mask()
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn probe(&self, key: &FragKey) -> (usize, bool) {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if !s.used {
                return (i, false);
            }
            if s.key == *key {
                return (i, true);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Record a first fragment of a flow that the table lets through.
    pub fn record(&mut self, nic: NicId, meta: &PacketMeta, now: u64, stats: &mut FlowStats) {
        let Some(frag) = meta.fragment else { return };
        let key = FragKey::new(nic, meta, frag.id);
        let (i, found) = self.probe(&key);
        if !found && self.len >= self.capacity {
            stats.fragment_refusals += 1;
            return;
        }
        self.len += usize::from(!found);
        self.slots[i] = Slot {
            key,
            ports: [meta.tuple.src_port, meta.tuple.dst_port],
            expires: now.saturating_add(self.timeout),
            used: true,
        };
        stats.fragments_recorded += 1;
    }

    /// The flow a non-first fragment belongs to; an expired record is
    /// removed and not answered.
    pub fn find(&mut self, nic: NicId, meta: &PacketMeta, now: u64) -> Option<FragRecord> {
        let frag = meta.fragment?;
        let key = FragKey::new(nic, meta, frag.id);
        let (i, found) = self.probe(&key);
        if !found {
            return None;
        }
        let s = self.slots[i];
        if now >= s.expires {
            self.remove_at(i);
            return None;
        }
        let mut t = meta.tuple;
        [t.src_port, t.dst_port] = s.ports;
        let (flow, forward) = FlowKey::new(nic, &t);
        Some(FragRecord { flow, forward })
    }

    /// Empties slot `i` and shifts back the records after it whose probe
    /// sequence passes through `i`, so every record stays reachable from
    /// its home slot without tombstones.
    fn remove_at(&mut self, mut hole: usize) {
        self.slots[hole].used = false;
        self.len -= 1;
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask();
            if !self.slots[j].used {
                return;
            }
            let home = self.home(&self.slots[j].key);
            // The record at j may move to the hole if its home is not
            // cyclically within (hole, j].
            if (j.wrapping_sub(home) & self.mask()) >= (j.wrapping_sub(hole) & self.mask()) {
                self.slots[hole] = self.slots[j];
                self.slots[j].used = false;
                hole = j;
            }
        }
    }

    /// Remove records past their timeout; returns how many.
    pub fn sweep(&mut self, now: u64) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.slots.len() {
            // A removal may shift another expired record into slot i: look
            // at it again before moving on.
            if self.slots[i].used && now >= self.slots[i].expires {
                self.remove_at(i);
                n += 1;
            } else {
                i += 1;
            }
        }
        n
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the slot array, allocated at construction.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_packet::{Family, FiveTuple, Fragment, Transport, Vlans};

    fn first(id: u32, port: u16) -> PacketMeta {
        PacketMeta {
            tuple: FiveTuple {
                src: Addr::from_v4([10, 0, 0, 1]),
                dst: Addr::from_v4([10, 0, 0, 2]),
                src_port: port,
                dst_port: 53,
                proto: 17,
                family: Family::V4,
            },
            transport: Transport::Udp,
            fragment: Some(Fragment {
                id,
                offset: 0,
                more: true,
            }),
            vlans: Vlans::default(),
            frame_len: 100,
        }
    }

    #[test]
    fn records_survive_removals_of_their_neighbours() {
        // 64 slots for 32 records: long probe runs, many shifts.
        let mut t = FragmentTable::new(32, 100, FlowHasher::new());
        let mut s = FlowStats::default();
        for id in 0..32 {
            t.record(NicId(0), &first(id, 1000 + id as u16), id.into(), &mut s);
        }
        assert_eq!(t.len(), 32);
        t.record(NicId(0), &first(99, 1), 0, &mut s);
        assert_eq!(s.fragment_refusals, 1);
        // Records 0..16 expire at 100..=115: a sweep at 115 removes them.
        assert_eq!(t.sweep(115), 16);
        for id in 0..32u32 {
            let r = t.find(NicId(0), &first(id, 0), 115);
            assert_eq!(r.is_some(), id >= 16, "id {id}");
            if let Some(r) = r {
                assert_eq!(r.flow.a_port, 1000 + id as u16);
                assert!(r.forward);
            }
        }
        assert_eq!(t.len(), 16);
        assert_eq!(t.memory_bytes(), 64 * std::mem::size_of::<Slot>());
        assert_eq!(std::mem::size_of::<Slot>(), 56);
    }
}

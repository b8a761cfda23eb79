//! Flow keys: (NIC, canonical 5-tuple), the same for both directions.

use std::hash::{Hash, Hasher};

use nsg_packet::{Addr, Family, FiveTuple};
use thiserror::Error;

/// A NIC the dataplane filters for: the NIC's index in the policy, which
/// the pipeline keeps stable across reloads. Built from an index with
/// [`NicId::try_from`], which refuses indices past `u16::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NicId(pub u16);

/// A NIC index too large for a [`NicId`]: a policy with more NICs than
/// the flow table can key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("NIC index {index} is past the last NIC id {max}: a policy may have at most {count} NICs", max = u16::MAX, count = usize::from(u16::MAX) + 1)]
pub struct NicIdError {
    /// The index that does not fit.
    pub index: usize,
}

impl TryFrom<usize> for NicId {
    type Error = NicIdError;

    /// The id of the NIC at `index` in the policy.
    #[inline]
    fn try_from(index: usize) -> Result<NicId, NicIdError> {
        u16::try_from(index)
            .map(NicId)
            .map_err(|_| NicIdError { index })
    }
}

/// Which way a packet travels relative to its flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The same way as the first packet.
    Original,
    /// The other way.
    Reply,
}

impl Direction {
    /// Index for per-direction counters: 0 original, 1 reply.
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            Direction::Original => 0,
            Direction::Reply => 1,
        }
    }
}

/// The key of a flow entry: a NIC and a 5-tuple ordered so that both
/// directions give the same key (the lower (address, port) end first).
///
/// 40 bytes, hashed as five 64-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// The lower (address, port) end.
    pub a: Addr,
    /// The higher (address, port) end.
    pub b: Addr,
    /// Port (or echo identifier) of `a`.
    pub a_port: u16,
    /// Port (or echo identifier) of `b`.
    pub b_port: u16,
    /// The NIC.
    pub nic: NicId,
    /// IP protocol number.
    pub proto: u8,
    /// Address family.
    pub family: Family,
}

impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.a.hi);
        state.write_u64(self.a.lo);
        state.write_u64(self.b.hi);
        state.write_u64(self.b.lo);
        state.write_u64(
            u64::from(self.a_port)
                | u64::from(self.b_port) << 16
                | u64::from(self.nic.0) << 32
                | u64::from(self.proto) << 48
                | (self.family as u64) << 56,
        );
    }
}

impl FlowKey {
    /// The key of `tuple` at `nic`, and whether the tuple runs from `a` to
    /// `b` (its source is the lower end).
    #[inline]
    pub fn new(nic: NicId, t: &FiveTuple) -> (FlowKey, bool) {
        let forward = (t.src, t.src_port) <= (t.dst, t.dst_port);
        let key = if forward {
            FlowKey {
                a: t.src,
                b: t.dst,
                a_port: t.src_port,
                b_port: t.dst_port,
                nic,
                proto: t.proto,
                family: t.family,
            }
        } else {
            FlowKey {
                a: t.dst,
                b: t.src,
                a_port: t.dst_port,
                b_port: t.src_port,
                nic,
                proto: t.proto,
                family: t.family,
            }
        };
        (key, forward)
    }

    /// The tuple running from `a` to `b` when `forward`, else from `b` to `a`.
    #[inline]
    pub fn tuple(&self, forward: bool) -> FiveTuple {
        let t = FiveTuple {
            src: self.a,
            dst: self.b,
            src_port: self.a_port,
            dst_port: self.b_port,
            proto: self.proto,
            family: self.family,
        };
        if forward {
            t
        } else {
            t.reversed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nic_ids_cover_u16_and_refuse_past_it() {
        assert_eq!(NicId::try_from(0), Ok(NicId(0)));
        assert_eq!(NicId::try_from(65_535), Ok(NicId(u16::MAX)));
        let e = NicId::try_from(65_536).unwrap_err();
        assert_eq!(e, NicIdError { index: 65_536 });
        assert_eq!(
            e.to_string(),
            "NIC index 65536 is past the last NIC id 65535: a policy may have at most 65536 NICs"
        );
        assert!(NicId::try_from(usize::MAX).is_err());
    }

    #[test]
    fn key_is_40_bytes() {
        assert_eq!(std::mem::size_of::<FlowKey>(), 40);
    }
}

//! Connection tracking: the state a flow is in, how each packet moves it,
//! which timeout applies, and how readily it is evicted.

use nsg_packet::{proto, IcmpKind, PacketMeta, TcpFlags, Transport};

use crate::key::Direction;
use crate::timeouts::TimeoutsNs;

/// The state of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnState {
    /// TCP: SYN seen, not answered.
    SynSent,
    /// TCP: SYN answered with SYN-ACK, handshake not finished.
    SynReceived,
    /// TCP: handshake done, or picked up mid-stream.
    Established,
    /// TCP: FIN from one side.
    FinWait,
    /// TCP: FIN from one side, and the other side still talking.
    CloseWait,
    /// TCP: FIN from both sides.
    TimeWait,
    /// TCP: RST seen.
    Closed,
    /// UDP, ICMP or another protocol: packets from the first side only.
    Unreplied,
    /// UDP, ICMP or another protocol: packets seen both ways.
    Replied,
}

/// How readily an entry is evicted when the table is full (lower first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EvictClass {
    /// TCP after RST or FIN from both sides: about to end anyway.
    Closed,
    /// TCP with a FIN from one side.
    Closing,
    /// TCP handshake unfinished; UDP, ICMP or other without a reply.
    HalfOpen,
    /// Everything else: never evicted.
    Established,
}

/// FIN seen from the original side.
pub(crate) const FIN_ORIGINAL: u8 = 1;
/// FIN seen from the reply side.
pub(crate) const FIN_REPLY: u8 = 2;

impl ConnState {
    /// The state a flow starts in, from the first packet the table sees
    /// (any flags: mid-stream pickup), with the FIN bits it sets.
    pub fn initial(meta: &PacketMeta) -> (ConnState, u8) {
        match meta.transport {
            Transport::Tcp { flags } => tcp_initial(flags),
            _ => (ConnState::Unreplied, 0),
        }
    }

    /// The state after a packet in direction `dir` with TCP `flags` (None for
    /// other protocols), and the FIN bits updated.
    pub fn next(self, dir: Direction, flags: Option<TcpFlags>, fins: u8) -> (ConnState, u8) {
        use ConnState::*;
        let Some(f) = flags else {
            return match (self, dir) {
                (Unreplied, Direction::Reply) => (Replied, fins),
                (s, _) => (s, fins),
            };
        };
        // The established path: a plain segment of an open connection.
        if self == Established && fins == 0 && !(f.syn() || f.fin() || f.rst()) {
            return (Established, 0);
        }
        if f.rst() {
            return (Closed, fins);
        }
        let fins = if f.fin() {
            fins | match dir {
                Direction::Original => FIN_ORIGINAL,
                Direction::Reply => FIN_REPLY,
            }
        } else {
            fins
        };
        let state = match self {
            // Only a SYN (retransmitted, or a new connection reusing the
            // tuple) reopens a closed flow; the table reevaluates those.
            Closed => Closed,
            _ if fins == FIN_ORIGINAL | FIN_REPLY => TimeWait,
            _ if fins != 0 => {
                let fin_side = if fins == FIN_ORIGINAL {
                    Direction::Original
                } else {
                    Direction::Reply
                };
                if (dir != fin_side && !f.fin()) || self == CloseWait {
                    CloseWait
                } else {
                    FinWait
                }
            }
            SynSent if f.syn() && dir == Direction::Reply => SynReceived,
            SynSent => SynSent,
            SynReceived if dir == Direction::Original && f.ack() && !f.syn() => Established,
            SynReceived => SynReceived,
            Unreplied | Replied => Established,
            s => s,
        };
        (state, fins)
    }

    /// Whether a SYN on this entry is a new connection reusing the tuple.
    #[inline]
    pub fn reopens_on_syn(self) -> bool {
        matches!(self, ConnState::TimeWait | ConnState::Closed)
    }

    /// Eviction class of the state.
    #[inline]
    pub fn evict_class(self) -> EvictClass {
        use ConnState::*;
        match self {
            TimeWait | Closed => EvictClass::Closed,
            FinWait | CloseWait => EvictClass::Closing,
            SynSent | SynReceived | Unreplied => EvictClass::HalfOpen,
            Established | Replied => EvictClass::Established,
        }
    }

    /// The idle timeout of a flow of protocol `ip_proto` in this state.
    #[inline]
    pub(crate) fn timeout(self, ip_proto: u8, t: &TimeoutsNs) -> u64 {
        use ConnState::*;
        match self {
            SynSent | SynReceived => t.half_open,
            TimeWait | Closed => t.closing,
            Established | FinWait | CloseWait => t.idle,
            Unreplied | Replied => {
                if ip_proto == proto::ICMP || ip_proto == proto::ICMPV6 {
                    t.icmp
                } else {
                    t.idle
                }
            }
        }
    }
}

fn tcp_initial(f: TcpFlags) -> (ConnState, u8) {
    if f.rst() {
        (ConnState::Closed, 0)
    } else if f.fin() {
        (ConnState::FinWait, FIN_ORIGINAL)
    } else if f.syn() && f.ack() {
        (ConnState::SynReceived, 0)
    } else if f.syn() {
        (ConnState::SynSent, 0)
    } else {
        (ConnState::Established, 0)
    }
}

/// Whether `meta` is an ICMP error quoting a packet (the RELATED case).
#[inline]
pub(crate) fn quoted_tuple(meta: &PacketMeta) -> Option<nsg_packet::FiveTuple> {
    match meta.transport {
        Transport::Icmp(nsg_packet::Icmp {
            kind: IcmpKind::Error { quoted },
            ..
        }) => quoted,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState::*;
    use Direction::{Original as O, Reply as R};

    fn f(bits: u8) -> Option<TcpFlags> {
        Some(TcpFlags(bits))
    }
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;
    const RST: u8 = TcpFlags::RST;

    #[test]
    fn three_way_handshake_and_close() {
        let (s, fins) = tcp_initial(TcpFlags(SYN));
        assert_eq!(s, SynSent);
        let (s, fins) = s.next(O, f(SYN), fins);
        assert_eq!(s, SynSent);
        let (s, fins) = s.next(R, f(SYN | ACK), fins);
        assert_eq!(s, SynReceived);
        let (s, fins) = s.next(O, f(ACK), fins);
        assert_eq!(s, Established);
        let (s, fins) = s.next(R, f(ACK), fins);
        assert_eq!(s, Established);
        let (s, fins) = s.next(O, f(FIN | ACK), fins);
        assert_eq!(s, FinWait);
        let (s, fins) = s.next(R, f(ACK), fins);
        assert_eq!(s, CloseWait);
        let (s, fins) = s.next(R, f(ACK), fins);
        assert_eq!(s, CloseWait);
        let (s, fins) = s.next(R, f(FIN | ACK), fins);
        assert_eq!(s, TimeWait);
        let (s, _) = s.next(O, f(ACK), fins);
        assert_eq!(s, TimeWait);
    }

    #[test]
    fn rst_closes_from_any_state() {
        for s in [
            SynSent,
            SynReceived,
            Established,
            FinWait,
            CloseWait,
            TimeWait,
        ] {
            assert_eq!(s.next(R, f(RST), 0).0, Closed);
        }
        assert_eq!(tcp_initial(TcpFlags(RST | ACK)).0, Closed);
        assert_eq!(Closed.next(O, f(ACK), 0).0, Closed);
    }

    #[test]
    fn mid_stream_pickup_and_simultaneous_open() {
        assert_eq!(tcp_initial(TcpFlags(ACK)).0, Established);
        assert_eq!(tcp_initial(TcpFlags(SYN | ACK)).0, SynReceived);
        assert_eq!(tcp_initial(TcpFlags(FIN | ACK)), (FinWait, FIN_ORIGINAL));
        assert_eq!(SynSent.next(R, f(SYN), 0).0, SynReceived);
        // FIN from the side that already sent one keeps FinWait.
        assert_eq!(FinWait.next(O, f(FIN | ACK), FIN_ORIGINAL).0, FinWait);
    }

    #[test]
    fn datagram_flows_become_replied() {
        assert_eq!(Unreplied.next(O, None, 0).0, Unreplied);
        assert_eq!(Unreplied.next(R, None, 0).0, Replied);
        assert_eq!(Replied.next(O, None, 0).0, Replied);
    }

    #[test]
    fn eviction_classes_and_timeouts() {
        let t = TimeoutsNs {
            idle: 1,
            half_open: 2,
            closing: 3,
            icmp: 4,
        };
        assert_eq!(SynSent.timeout(proto::TCP, &t), 2);
        assert_eq!(Established.timeout(proto::TCP, &t), 1);
        assert_eq!(TimeWait.timeout(proto::TCP, &t), 3);
        assert_eq!(Closed.timeout(proto::TCP, &t), 3);
        assert_eq!(Unreplied.timeout(proto::UDP, &t), 1);
        assert_eq!(Replied.timeout(proto::ICMP, &t), 4);
        assert_eq!(Replied.timeout(proto::ICMPV6, &t), 4);
        assert_eq!(Unreplied.timeout(proto::ESP, &t), 1);
        assert!(EvictClass::Closed < EvictClass::Closing);
        assert!(EvictClass::Closing < EvictClass::HalfOpen);
        assert_eq!(Established.evict_class(), EvictClass::Established);
        assert_eq!(Unreplied.evict_class(), EvictClass::HalfOpen);
    }
}

//! Property tests of key normalisation: both directions of any tuple give
//! one key, the key gives the tuple back, and distinct flows stay distinct.

use nsg_flow::{FlowKey, NicId};
use nsg_packet::{Addr, Family, FiveTuple};
use proptest::prelude::*;

fn tuple() -> impl Strategy<Value = FiveTuple> {
    (
        any::<(u64, u64, u64, u64)>(),
        any::<(u16, u16, u8, bool)>(),
        0u8..4,
    )
        .prop_map(|((a, b, c, d), (sp, dp, p, v6), same)| {
            let (src, dst) = if v6 {
                (Addr { hi: a, lo: b }, Addr { hi: c, lo: d })
            } else {
                (
                    Addr::from_v4((a as u32).to_be_bytes()),
                    Addr::from_v4((c as u32).to_be_bytes()),
                )
            };
            // Sometimes equal addresses or ports, to reach the tie-breaks.
            let dst = if same == 0 { src } else { dst };
            let dp = if same == 1 { sp } else { dp };
            FiveTuple {
                src,
                dst,
                src_port: sp,
                dst_port: dp,
                proto: p,
                family: if v6 { Family::V6 } else { Family::V4 },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn both_directions_share_a_key(t in tuple(), nic in any::<u16>()) {
        let (k1, f1) = FlowKey::new(NicId(nic), &t);
        let (k2, f2) = FlowKey::new(NicId(nic), &t.reversed());
        prop_assert_eq!(k1, k2);
        if t != t.reversed() {
            prop_assert_ne!(f1, f2);
        }
        prop_assert_eq!(k1.tuple(f1), t);
        prop_assert_eq!(k2.tuple(f2), t.reversed());
        prop_assert!((k1.a, k1.a_port) <= (k1.b, k1.b_port));
    }

    #[test]
    fn distinct_flows_have_distinct_keys(t in tuple(), u in tuple(), nic in any::<u16>()) {
        let same_flow = t == u || t == u.reversed();
        let (k1, _) = FlowKey::new(NicId(nic), &t);
        let (k2, _) = FlowKey::new(NicId(nic), &u);
        prop_assert_eq!(k1 == k2, same_flow);
        let (k3, _) = FlowKey::new(NicId(nic.wrapping_add(1)), &t);
        prop_assert_ne!(k1, k3);
    }
}

//! The hash of the flow and fragment maps, on the per-packet path.
//!
//! ahash, seeded per table. ahash picks its AES-NI rounds at compile time
//! (`target_feature = "aes"`) and its portable folded-multiply hash
//! otherwise; the default build is portable, so the fallback runs. It was
//! kept by measurement: under callgrind, `nsg bench pipeline --flows 20000
//! --rules 1000 --workers 1 --seconds 0.01` spends 31 instructions per frame
//! in the fallback's code against 23 in the AES rounds of a build with
//! `target-cpu=x86-64-v3` and AES, out of about 1,400 per frame.

/// The hasher builder of the flow table's and the fragment table's maps.
pub(crate) type FlowHasher = ahash::RandomState;

/// The hasher of a table: seeded with `seed` (each of ahash's four keys
/// derived from it), or randomly.
pub(crate) fn hasher(seed: Option<u64>) -> FlowHasher {
    match seed {
        Some(s) => FlowHasher::with_seeds(
            s,
            s ^ 0x9e37_79b9_7f4a_7c15,
            s.rotate_left(21) ^ 0xc2b2_ae3d_27d4_eb4f,
            s.rotate_left(42) ^ 0x1656_67b1_9e37_79f9,
        ),
        None => FlowHasher::new(),
    }
}

/// Which hash the maps run, as benchmarks print it on stderr.
pub const FLOW_HASH: &str = if cfg!(all(
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "aarch64"
    ),
    target_feature = "aes"
)) {
    "ahash, AES rounds (chosen at compile time)"
} else {
    "ahash, portable fallback (no AES at compile time)"
};

//! `nsg synth`: captures to measure with. `nsg synth handshakes` writes the
//! replay benchmark's capture (64-byte frames of TCP connections, each
//! opened by a handshake, then ACKs both ways in random order) and,
//! optionally, the policy that allows them.

use super::{CmdResult, Out};
use nsg_capture::capture::LINKTYPE_ETHERNET;
use nsg_synth::handshakes::{handshake_frames, FRAME_LEN};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// TCP connections from Internet clients to 10.0.1.4:80: handshakes, then ACKs both ways.
    Handshakes(Handshakes),
}

#[derive(clap::Args)]
struct Handshakes {
    /// Connections (each opened by SYN, SYN-ACK, ACK).
    #[arg(long, default_value_t = 100_000)]
    connections: usize,
    /// Frames in all (handshakes first, the rest ACKs).
    #[arg(long, default_value_t = 1_000_000)]
    frames: usize,
    /// Seed of the ACKs' order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The pcap to write.
    #[arg(long, value_name = "FILE.pcap")]
    out: PathBuf,
    /// Also write the policy that allows the connections (TOML).
    #[arg(long, value_name = "FILE.toml")]
    policy_out: Option<PathBuf>,
}

/// First frame's time: 2023-11-14T22:13:20Z; frames 1 µs apart.
const START_NS: u64 = 1_700_000_000_000_000_000;

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let What::Handshakes(h) = a.what;
    let bytes = handshake_frames(h.connections, h.frames, h.seed);
    let frames = bytes
        .chunks(FRAME_LEN)
        .zip(0u64..)
        .map(|(f, i)| (START_NS + i * 1_000, f));
    nsg_synth::write_pcap(&h.out, LINKTYPE_ETHERNET, frames)
        .map_err(|e| format!("cannot write {}: {e}", h.out.display()))?;
    if let Some(p) = &h.policy_out {
        std::fs::write(p, nsg_synth::bench::policy_text(1))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    writeln!(
        out,
        "{}: {} frames of {FRAME_LEN} bytes, {} connections",
        h.out.display(),
        bytes.len() / FRAME_LEN,
        h.connections.max(1)
    )?;
    Ok(())
}

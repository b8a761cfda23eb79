//! `nsg demo`: the main job on the built-in example. Traffic for
//! config/three-tier.toml (Internet clients and the web, logic and database
//! tiers; allowed and denied connections with real TCP handshakes and
//! teardowns, ICMP, UDP, fragments) is synthesised from a seed, replayed
//! through the pipeline, and the verdicts per rule and the throughput shown.

use super::{CmdResult, Out};
use nsg_capture::capture::{CapturedFrame, Link};
use nsg_capture::replay::{replay_frames, ReplayOptions};
use nsg_synth::demo_traffic;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in example policy.
pub const THREE_TIER: &str = include_str!("../../config/three-tier.toml");

#[derive(clap::Args)]
pub struct Args {
    /// Seed of the synthesised traffic (same seed, same frames, same verdicts).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the synthesised traffic to this pcap.
    #[arg(long, value_name = "FILE.pcap")]
    write_pcap: Option<PathBuf>,
    /// Workers (default: the machine's cores).
    #[arg(long)]
    workers: Option<usize>,
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let policy = nsg_policy::load_str(
        THREE_TIER,
        Path::new("config/three-tier.toml"),
        &nsg_policy::LoadOptions::default(),
    )?;
    let capture = demo_traffic(&policy, a.seed);
    if let Some(p) = &a.write_pcap {
        capture
            .write_pcap(p)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    writeln!(
        out,
        "nsg demo: config/three-tier.toml (NSG1 on both subnets: Allow-HTTP-Inbound-Internet, \
         Allow-Database-BusinessLogic, Deny-Database-All)"
    )?;
    writeln!(
        out,
        "synthesised {} frames (seed {}): Internet clients to the web tier, probes of the \
         database, web/logic to database, pings, DNS, HTTPS out, fragments, ICMP errors",
        capture.len(),
        a.seed
    )?;
    // The frames take a while to judge: show what is known so far.
    out.flush()?;
    let frames = capture.frames.into_iter().map(|(ts_ns, data)| {
        Ok(CapturedFrame {
            ts_ns,
            link: Link::Ethernet,
            orig_len: data.len() as u32,
            interface: 0,
            data,
        })
    });
    let opts = ReplayOptions {
        capture: PathBuf::from("demo"),
        workers: a.workers.unwrap_or_else(super::replay::default_workers),
        ..ReplayOptions::default()
    };
    let report = replay_frames(Arc::new(policy), frames, &opts)?;
    out.text(&super::summary::replay(&report))?;
    Ok(())
}

//! `nsg run POLICY --port NIC=tap:NAME|if:NAME ... [--uplink ...]`: the
//! switch on live ports, until SIGINT or SIGTERM; SIGHUP (or a change of
//! the file, with --watch) reloads the policy.

use super::{load_policy, CmdResult, Out};
use crate::PolicyArgs;
use nsg_dataplane::port::{Fanout, PortSpec};
use nsg_dataplane::run::{PortConfig, RunOptions, Runner};
use nsg_dataplane::switch::Role;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing_subscriber::EnvFilter;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Bind a NIC of the policy to a port: a TAP nsg creates, or an existing
    /// interface (AF_PACKET); may repeat.
    #[arg(long = "port", value_name = "NIC=tap:NAME|if:NAME", required = true)]
    ports: Vec<String>,
    /// The port to everything outside the VNets.
    #[arg(long, value_name = "tap:NAME|if:NAME")]
    uplink: Option<String>,
    /// Reload the policy when its file (or a service tags file) changes.
    #[arg(long)]
    watch: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Packet threads; each port gets one queue per thread.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Keep TAP offloads off (by default TAPs take TCP segments of up to
    /// 64 KiB and partial checksums; nsg then completes them itself for a
    /// TAP).
    #[arg(long)]
    no_offload: bool,
    /// How an interface port (if:NAME) spreads its frames over the workers'
    /// sockets: `hash` (the kernel's flow hash) or `lb` (in turn). Frames
    /// that land on a worker other than their connection's owner are
    /// handed to the owner.
    #[arg(long, value_name = "hash|lb", default_value = "hash")]
    fanout: Fanout,
    /// Flow table capacity: the most flows held at once, over all workers.
    /// Past it, new flows evict half-open and closing ones, or are refused.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    flow_capacity: usize,
    /// Do not answer DHCPv4, DHCPv6 or router solicitations on NIC ports
    /// (by default nsg answers them as Azure's platform does); those frames
    /// then take the normal path.
    #[arg(long)]
    no_dhcp: bool,
}

fn parse_ports(a: &Args) -> Result<Vec<PortConfig>, String> {
    let mut out = Vec::new();
    for s in &a.ports {
        let (nic, spec) = s
            .split_once('=')
            .ok_or_else(|| format!("--port {s}: expected NIC=tap:NAME or NIC=if:NAME"))?;
        let spec: PortSpec = spec.parse().map_err(|e| format!("--port {s}: {e}"))?;
        out.push(PortConfig {
            role: Role::Nic(nic.to_string()),
            spec,
        });
    }
    if let Some(u) = &a.uplink {
        let spec: PortSpec = u.parse().map_err(|e| format!("--uplink {e}"))?;
        out.push(PortConfig {
            role: Role::Uplink,
            spec,
        });
    }
    Ok(out)
}

/// What --watch compares: modification time and length of each file.
fn stamp(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| m.modified().ok().map(|t| (t, m.len())))
        })
        .collect()
}

fn reload(runner: &Runner, args: &PolicyArgs, why: &str) {
    let t0 = Instant::now();
    let policy = match load_policy(args) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                file = %args.policy.display(),
                trigger = why,
                faults = e.faults.len(),
                "reload refused, the running policy stays"
            );
            for f in &e.faults {
                tracing::error!("  {f}");
            }
            nsg_dataplane::metrics::reload(false, runner.generation());
            return;
        }
    };
    let nics = policy.nics.len();
    match runner.reload(policy) {
        Ok(generation) => {
            tracing::info!(
                file = %args.policy.display(),
                trigger = why,
                generation,
                nics,
                flows = runner.flows(),
                ms = format!("{:.1}", t0.elapsed().as_secs_f64() * 1e3),
                "policy reloaded"
            );
            nsg_dataplane::metrics::reload(true, generation);
        }
        Err(e) => {
            tracing::error!(
                file = %args.policy.display(),
                trigger = why,
                "reload refused, the running policy stays: {e}"
            );
            nsg_dataplane::metrics::reload(false, runner.generation());
        }
    }
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let ports = parse_ports(&a)?;
    let policy = Arc::new(load_policy(&a.policy)?);
    if let Some(addr) = a.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("--metrics {addr}: {e}"))?;
        tracing::info!(%addr, "serving Prometheus metrics");
    }
    // Signals are taken before the ports exist, so none is missed.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let opts = RunOptions {
        workers: a.workers.max(1),
        capacity: a.flow_capacity,
        metrics: a.metrics.is_some(),
        offload: !a.no_offload,
        fanout: a.fanout,
        dhcp: !a.no_dhcp,
    };
    let runner = Runner::start(policy, &ports, &opts)?;
    tracing::info!(
        file = %a.policy.policy.display(),
        ports = ports.len(),
        workers = opts.workers,
        "running"
    );
    let mut watched = vec![a.policy.policy.clone()];
    watched.extend(a.policy.service_tags.iter().cloned());
    let mut last = stamp(&watched);
    'main: loop {
        for sig in signals.pending() {
            match sig {
                SIGHUP => reload(&runner, &a.policy, "SIGHUP"),
                _ => {
                    tracing::info!(signal = sig, "stopping");
                    break 'main;
                }
            }
        }
        if a.watch {
            let now = stamp(&watched);
            if now != last {
                // Let a writer finish before reading.
                std::thread::sleep(Duration::from_millis(100));
                last = stamp(&watched);
                reload(&runner, &a.policy, "watch");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = runner.stop();
    writeln!(
        out,
        "nsg run: stopped after {:.1} s",
        report.elapsed.as_secs_f64()
    )?;
    out.text(&super::summary::run(&report))?;
    Ok(())
}

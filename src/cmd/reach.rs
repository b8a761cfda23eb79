//! `nsg reach POLICY [--by nic|asg|subnet] [--json | --svg FILE]`.

use super::{load_policy, CmdResult, Out};
use crate::PolicyArgs;
use nsg_analysis::reach::{reach, svg, By, Reach};
use std::path::PathBuf;

/// Widest matrix printed as a matrix; wider ones are listed pair by pair.
const MAX_WIDTH: usize = 120;

#[derive(clap::Args)]
#[command(
    after_help = "Each cell lists the protocols and destination ports on which some member \
NIC of the row can open a connection to some member NIC of the column, allowed outbound at the \
sender and inbound at the receiver (source ports ignored): `-` nothing, `all` every protocol \
and port, otherwise groups such as `tcp:80,443 udp:53 icmp`. The `Internet` row sends from \
any address of the Internet tag, judged inbound at the receiver. A NIC to itself is no pair."
)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Rows and columns: each NIC, each ASG (its member NICs) or each subnet (the NICs in it).
    #[arg(long, value_enum, default_value_t = ByArg::Nic)]
    by: ByArg,
    /// Print JSON: {"pairs":[{"from","to","allowed":[{"protocols","destination_ports"}]}]}.
    #[arg(long, conflicts_with = "svg")]
    json: bool,
    /// Write the matrix as an SVG picture to FILE (one cell per pair, with a tooltip).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// `--by` as the command line spells it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ByArg {
    Nic,
    Asg,
    Subnet,
}

impl From<ByArg> for By {
    fn from(b: ByArg) -> By {
        match b {
            ByArg::Nic => By::Nic,
            ByArg::Asg => By::Asg,
            ByArg::Subnet => By::Subnet,
        }
    }
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let p = load_policy(&a.policy)?;
    let r = reach(&p, a.by.into());
    if let Some(path) = &a.svg {
        std::fs::write(path, svg::render(&r))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        writeln!(
            out,
            "wrote {} ({} cells, {} sources x {} destinations)",
            path.display(),
            r.pairs.len(),
            r.sources.len(),
            r.destinations.len()
        )?;
    } else if a.json {
        writeln!(out, "{}", r.to_json())?;
    } else {
        out.text(&text(&r))?;
    }
    Ok(())
}

/// The matrix, or the pairs one per line when the matrix is too wide.
fn text(r: &Reach) -> String {
    let cell = |from: &str, to: &str| r.cell(from, to).map(|a| a.summary()).unwrap_or_default();
    let head = r.sources.iter().map(|s| s.len()).max().unwrap_or(0).max(4);
    let widths: Vec<usize> = r
        .destinations
        .iter()
        .map(|d| {
            let cells = r.sources.iter().map(|s| cell(s, d).len());
            cells.chain([d.len()]).max().unwrap_or(1)
        })
        .collect();
    let total = head + widths.iter().map(|w| w + 2).sum::<usize>();
    let mut s = format!("reach by {}: rows send, columns receive\n", r.by.name());
    if r.destinations.is_empty() {
        return format!("reach by {0}: no {0} in the policy\n", r.by.name());
    }
    if total > MAX_WIDTH {
        let w = r
            .pairs
            .iter()
            .map(|p| p.from.len() + p.to.len())
            .max()
            .unwrap_or(0)
            + 4;
        for p in &r.pairs {
            let ends = format!("{} -> {}", p.from, p.to);
            s += &format!("{ends:<w$}  {}\n", p.allowed.summary());
        }
        return s;
    }
    s += &format!("{:<head$}", "");
    for (d, w) in r.destinations.iter().zip(&widths) {
        s += &format!("  {d:<w$}");
    }
    s = s.trim_end().to_string() + "\n";
    for src in &r.sources {
        let mut line = format!("{src:<head$}");
        for (d, w) in r.destinations.iter().zip(&widths) {
            line += &format!("  {:<w$}", cell(src, d));
        }
        s += line.trim_end();
        s.push('\n');
    }
    s
}

//! `nsg verify`: one query from flags, or `--batch FILE.jsonl` (one query per
//! line, one verdict per line, in order; `-` reads stdin).

use super::{load_policy, CmdResult, Format};
use crate::PolicyArgs;
use nsg_classify::nsg::CompiledPolicy;
use nsg_policy::azure::export::verdict_azure;
use nsg_policy::query::{verdict_json, verdict_text, Query};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// A JSON-lines file of queries (`-` for stdin); answers one JSON verdict per line.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["nic", "direction", "protocol", "local", "remote"])]
    batch: Option<PathBuf>,
    /// The NIC evaluated.
    #[arg(long, required_unless_present = "batch")]
    nic: Option<String>,
    /// inbound or outbound.
    #[arg(long, required_unless_present = "batch")]
    direction: Option<String>,
    /// tcp, udp, icmp, esp, ah or an IP protocol number.
    #[arg(long, required_unless_present = "batch")]
    protocol: Option<String>,
    /// The NIC's end: IP[:PORT] or [IPv6]:PORT.
    #[arg(long, required_unless_present = "batch")]
    local: Option<String>,
    /// The other end: IP[:PORT] or [IPv6]:PORT.
    #[arg(long, required_unless_present = "batch")]
    remote: Option<String>,
    /// Print the verdict as JSON (as --format json).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// text, json, or azure (`{"access","ruleName"}` as Network Watcher's IP
    /// flow verify answers). A batch answers json unless azure is asked.
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Answer one query line: a verdict, or `{"error": ...}`.
fn answer(c: &CompiledPolicy, line: &str, azure: bool) -> serde_json::Value {
    let p = &c.policy;
    match Query::from_json_line(p, line) {
        Ok(q) => {
            let v = c.evaluate(q.nic, q.direction, &q.packet);
            if azure {
                verdict_azure(p, &v)
            } else {
                verdict_json(p, &v)
            }
        }
        Err(e) => serde_json::json!({ "error": e }),
    }
}

pub fn run(a: Args) -> CmdResult {
    let c = CompiledPolicy::build(Arc::new(load_policy(&a.policy)?));
    let p = &c.policy;
    let format = Format::pick(a.format, a.json);
    if let Some(batch) = &a.batch {
        let input: Box<dyn BufRead> = if batch.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(batch)
                .map_err(|e| format!("cannot read {}: {e}", batch.display()))?;
            Box::new(std::io::BufReader::new(f))
        };
        let mut out = BufWriter::new(std::io::stdout().lock());
        for line in input.lines() {
            let line = line.map_err(|e| format!("cannot read {}: {e}", batch.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            serde_json::to_writer(&mut out, &answer(&c, &line, format == Format::Azure))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(());
    }
    // clap guarantees these when --batch is absent.
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    let q = Query::parse(
        p,
        &field(&a.nic),
        &field(&a.direction),
        &field(&a.protocol),
        &field(&a.local),
        &field(&a.remote),
    )?;
    let v = c.evaluate(q.nic, q.direction, &q.packet);
    match format {
        Format::Text => print!("{}", verdict_text(p, &v)),
        Format::Json => println!("{}", verdict_json(p, &v)),
        Format::Azure => println!("{}", verdict_azure(p, &v)),
    }
    Ok(())
}

//! `nsg verify`: one query from flags, or `--batch FILE.jsonl` (one query per
//! line, one verdict per line, in order; `-` reads stdin).

use super::lines::{next_line, Line, MAX_LINE};
use super::{load_policy, CmdResult, Format, Out};
use crate::PolicyArgs;
use nsg_azure::export::verdict_azure;
use nsg_classify::nsg::CompiledPolicy;
use nsg_policy::query::{verdict_json, verdict_text, Query};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
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

/// The answer to one line of a batch, whatever it holds: a verdict, or
/// `{"error": ...}` for a line that is too long, not UTF-8, blank, or not a
/// query.
fn answer_line(c: &CompiledPolicy, line: Line<'_>, azure: bool) -> serde_json::Value {
    let error = |e: String| serde_json::json!({ "error": e });
    let bytes = match line {
        Line::TooLong(len) => {
            return error(format!(
                "line of {len} bytes: longer than the {MAX_LINE} bytes a query may have"
            ))
        }
        Line::Bytes(b) => b,
    };
    match std::str::from_utf8(bytes) {
        Err(e) => error(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )),
        Ok(s) if s.trim().is_empty() => error("empty line".into()),
        Ok(s) => answer(c, s, azure),
    }
}

/// One answer line per input line, in order.
fn batch(c: &CompiledPolicy, path: &Path, azure: bool, out: &mut Out) -> CmdResult {
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        )
    };
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::new();
    let mut json = Vec::new();
    loop {
        // Answers go out before nsg waits for more input (a client may wait
        // for them before it writes the next query).
        if input.buffer().is_empty() {
            out.flush()?;
        }
        let next = next_line(&mut input, &mut line, MAX_LINE)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let Some(l) = next else {
            return Ok(());
        };
        json.clear();
        // Writing a JSON value into a Vec cannot fail.
        serde_json::to_writer(&mut json, &answer_line(c, l, azure))?;
        json.push(b'\n');
        out.write_bytes(&json)?;
    }
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let c = CompiledPolicy::build(Arc::new(load_policy(&a.policy)?));
    let p = &c.policy;
    let format = Format::pick(a.format, a.json);
    if let Some(path) = &a.batch {
        return batch(&c, path, format == Format::Azure, out);
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
        Format::Text => out.text(&verdict_text(p, &v))?,
        Format::Json => writeln!(out, "{}", verdict_json(p, &v))?,
        Format::Azure => writeln!(out, "{}", verdict_azure(p, &v))?,
    }
    Ok(())
}

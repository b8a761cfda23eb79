//! `nsg import FILE|DIR ... [--param NAME=VALUE] [--service-tags FILE] [-o policy.toml]`:
//! Azure JSON (`az ... list` output, API resources, ARM templates) to the
//! TOML policy format. What is skipped or missing goes to stderr.

use super::{print_notes, CmdResult, Out};
use nsg_azure::written::to_checked_toml;
use nsg_azure::{import, ImportOptions, Imported};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Azure JSON files or directories (their *.json files, recursively); together they make one policy.
    #[arg(value_name = "FILE|DIR", required = true)]
    inputs: Vec<PathBuf>,
    /// A template parameter's value, over its default; may repeat.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// An Azure ServiceTags JSON file to resolve tags with; the policy names it.
    #[arg(long = "service-tags", value_name = "FILE")]
    service_tags: Option<PathBuf>,
    /// Write the policy here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "policy.toml")]
    output: Option<PathBuf>,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let opts = ImportOptions {
        params: a.params.clone(),
        service_tags: a.service_tags.iter().cloned().collect(),
    };
    let imported = import(&a.inputs, &opts)?;
    print_notes(&imported.report);
    let summary = imported.summary();
    // Only the raw policy is written: the validated model and the notes
    // are freed before the text is made.
    let Imported {
        policy,
        mut raw,
        report,
    } = imported;
    drop(policy);
    if let Some(t) = &a.service_tags {
        raw.service_tags = Some(tags_path(t, a.output.as_deref())?);
    }
    let mut header = vec![format!(
        "Imported by `nsg import` from {}.",
        a.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )];
    header.push(summary.clone());
    if !report.notes.is_empty() {
        header.push("What was not imported as written:".into());
        header.extend(report.notes.iter().map(|n| format!("  {n}")));
    }
    drop(report);
    // The written policy must load as the imported one did; it is read back
    // part by part as it is made (see `written`).
    let parts = to_checked_toml(
        raw,
        &header,
        a.output.as_deref().unwrap_or(Path::new("policy.toml")),
    )
    .map_err(|e| format!("the written policy does not load back (a bug):\n{e}"))?;
    match &a.output {
        Some(o) => write_parts(o, &parts)?,
        None => {
            for p in &parts {
                out.text(p)?;
            }
        }
    }
    crate::note!("{summary}");
    Ok(())
}

/// Write the parts of the policy text to the file `o`, one after another.
fn write_parts(o: &Path, parts: &[String]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", o.display());
    let mut f = std::io::BufWriter::new(std::fs::File::create(o).map_err(fail)?);
    for p in parts {
        f.write_all(p.as_bytes()).map_err(fail)?;
    }
    f.flush().map_err(fail)
}

/// The service tags path as the policy names it: relative to the output's
/// folder when there is one, absolute otherwise.
fn tags_path(tags: &Path, output: Option<&Path>) -> Result<String, String> {
    let abs =
        std::fs::canonicalize(tags).map_err(|e| format!("cannot read {}: {e}", tags.display()))?;
    let Some(out) = output else {
        return Ok(abs.display().to_string());
    };
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Ok(abs.display().to_string());
    };
    // Relative only when the two share more than the root.
    let shared = abs
        .components()
        .zip(dir.components())
        .take_while(|(a, b)| a == b)
        .count();
    if shared <= 1 {
        return Ok(abs.display().to_string());
    }
    Ok(relative(&abs, &dir).display().to_string())
}

/// `to` relative to the directory `from` (both absolute).
fn relative(to: &Path, from: &Path) -> PathBuf {
    let a: Vec<Component> = to.components().collect();
    let b: Vec<Component> = from.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b/tags.json"), Path::new("/a/c")),
            PathBuf::from("../b/tags.json")
        );
        assert_eq!(
            relative(Path::new("/a/tags.json"), Path::new("/a")),
            PathBuf::from("tags.json")
        );
    }

    #[test]
    fn params() {
        assert_eq!(
            parse_param("vmName=web=1").unwrap(),
            ("vmName".into(), "web=1".into())
        );
        assert!(parse_param("novalue").is_err());
    }
}

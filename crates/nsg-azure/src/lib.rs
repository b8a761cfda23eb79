//! # nsg-azure
//!
//! Azure's own JSON: the importer (resources as Azure's API and
//! `az network {vnet,nic,nsg,asg} list` return them, and ARM templates) and
//! the Azure-shaped output of effective rules and verdicts.
//!
//! ## What import guarantees
//! - The result is a [`RawPolicy`] that passes the same validation as a TOML
//!   policy: [`import`] gives a valid [`Policy`] or every fault.
//! - Nothing is invented. A value a template leaves to deployment time
//!   (`reference()`, a dynamic private IP, a parameter without a default) is
//!   never guessed: the rule, NIC or subnet that needs it is left out and a
//!   [`Note`] says which file, resource, field and expression.
//! - A rule Azure itself would refuse (priority 5, a duplicate name) is left
//!   out with a note naming the fault, and the rest still imports.
//! - NSGs, their rules and ASGs import even when the topology they apply to is
//!   missing; the policy then holds NSGs applied nowhere, which is valid, and
//!   notes say what is missing.
//!
//! ## Not here
//! Routes, load balancers, firewalls and the other resources of a deployment
//! are ignored (and counted in a note); linked templates are not fetched.

#![deny(unsafe_code)]

pub mod arm;
pub mod export;
pub mod expr;
pub mod origin;
mod recover;
pub mod resources;
pub mod written;

use nsg_policy::error::{Fault, Item, PolicyError};
use nsg_policy::raw::RawPolicy;
use nsg_policy::validate::names;
use nsg_policy::{LoadOptions, Policy};
use recover::drop_faulty;
use resources::Builder;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--param NAME=VALUE`: template parameter values, over their defaults
    /// and over parameters files.
    pub params: Vec<(String, String)>,
    /// Service tags files to resolve tags with.
    pub service_tags: Vec<PathBuf>,
}

/// What a note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteKind {
    /// An item of the input that is not imported because a value cannot be
    /// evaluated or is invalid.
    Skipped,
    /// Topology the input lacks (a dynamic IP, a VNet not given): left out,
    /// not invented.
    Missing,
    /// A name given another to keep names unique in the policy.
    Renamed,
    /// Input deliberately not read (other resource types, a false condition,
    /// a duplicate).
    Ignored,
}

impl NoteKind {
    /// The kind as notes print it (`skipped`, `missing topology`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NoteKind::Skipped => "skipped",
            NoteKind::Missing => "missing topology",
            NoteKind::Renamed => "renamed",
            NoteKind::Ignored => "ignored",
        }
    }
}

/// One thing the import did not take as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What kind of departure from the input this is.
    pub kind: NoteKind,
    /// The input file the item is in.
    pub file: PathBuf,
    /// The item: `resource Microsoft.Network/networkSecurityGroups 'x' rule 'y'`.
    pub item: String,
    /// What was done and why, naming the field or expression.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.file.display(), self.kind.name())?;
        if !self.item.is_empty() {
            write!(f, "{}: ", names::visible(&self.item))?;
        }
        f.write_str(&names::visible(&self.message))
    }
}

/// Everything the import noted.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every note, in the order the import made them.
    pub notes: Vec<Note>,
}

impl Report {
    /// How many notes are of `kind`.
    pub fn count(&self, kind: NoteKind) -> usize {
        self.notes.iter().filter(|n| n.kind == kind).count()
    }

    /// The notes of `kind` (all of them with `None`) as `nsg import`
    /// prints them, one line each.
    pub fn lines(&self, kind: Option<NoteKind>) -> Vec<String> {
        self.notes
            .iter()
            .filter(|n| kind.is_none_or(|k| n.kind == k))
            .map(|n| n.to_string())
            .collect()
    }
}

/// An imported policy.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The validated policy.
    pub policy: Policy,
    /// The policy as written, for `nsg import` to write as TOML.
    pub raw: RawPolicy,
    /// What the import left out, renamed or ignored.
    pub report: Report,
}

impl Imported {
    /// One line: what was imported and how much was left out.
    pub fn summary(&self) -> String {
        let r = &self.raw;
        let rules: usize = r.nsgs.iter().map(|g| g.rules.len()).sum();
        format!(
            "imported {} nsg(s) with {} rule(s), {} asg(s), {} vnet(s), {} subnet(s), {} nic(s); {} skipped, {} missing topology, {} renamed, {} ignored",
            r.nsgs.len(),
            rules,
            r.asgs.len(),
            r.vnets.len(),
            r.subnets.len(),
            r.nics.len(),
            self.report.count(NoteKind::Skipped),
            self.report.count(NoteKind::Missing),
            self.report.count(NoteKind::Renamed),
            self.report.count(NoteKind::Ignored),
        )
    }
}

/// Whether a POLICY path holds Azure JSON rather than TOML: a directory, a
/// `.json` file, or a file whose first non-space character is `{` or `[`.
pub fn is_azure_json(path: &Path) -> bool {
    if path.is_dir() {
        return true;
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return true;
    }
    // The first non-space characters decide; a policy never starts with
    // 64 KiB of spaces.
    let Ok((bytes, _)) = nsg_policy::limits::read_prefix(path, 64 * 1024) else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    // A TOML file may start with `[table]` or `[[table]]`; Azure's JSON
    // lists are lists of objects.
    let mut chars = text.chars().filter(|c| !c.is_whitespace());
    match chars.next() {
        Some('{') => true,
        Some('[') => matches!(chars.next(), Some('{' | ']')),
        _ => false,
    }
}

/// Read and parse every JSON file of the inputs (directories recursively,
/// their `*.json` files in name order). A malformed file is a fault with its
/// line and column; every file is checked. A file over
/// [`MAX_AZURE_JSON_BYTES`](nsg_policy::limits::MAX_AZURE_JSON_BYTES), and every
/// file after [`MAX_AZURE_JSON_TOTAL_BYTES`](nsg_policy::limits::MAX_AZURE_JSON_TOTAL_BYTES)
/// were read, is a fault.
pub fn read_documents(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Value)>, PolicyError> {
    let mut files = Vec::new();
    let mut faults = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = files.len();
            collect_dir(p, &mut files, &mut faults);
            if files.len() == before {
                faults.push(fault(p, None, "the directory holds no .json file".into()));
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut docs = Vec::new();
    let mut total: u64 = 0;
    for f in files {
        use nsg_policy::limits::{self, ReadError, Size};
        if total > limits::MAX_AZURE_JSON_TOTAL_BYTES {
            let limit = Size(limits::MAX_AZURE_JSON_TOTAL_BYTES);
            let msg = format!(
                "not read: the files before it hold more than {limit}, the limit for one import"
            );
            faults.push(fault(&f, None, msg));
            continue;
        }
        match limits::read_bounded(&f, limits::MAX_AZURE_JSON_BYTES, "an Azure JSON file") {
            Err(ReadError::Io { source, .. }) => {
                faults.push(fault(&f, None, format!("cannot read: {source}")))
            }
            Err(ReadError::TooLarge { limit, .. }) => faults.push(fault(
                &f,
                None,
                format!(
                    "larger than {}, the limit for an Azure JSON file",
                    Size(limit)
                ),
            )),
            Ok(bytes) => {
                total += bytes.len() as u64;
                let text = String::from_utf8_lossy(&bytes);
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => docs.push((f, v)),
                    Err(e) => {
                        let msg = e.to_string();
                        let msg = msg
                            .rsplit_once(" at line ")
                            .map_or(msg.as_str(), |(m, _)| m)
                            .to_string();
                        faults.push(fault(
                            &f,
                            Some((e.line(), e.column())),
                            format!("malformed JSON: {msg}"),
                        ));
                    }
                }
            }
        }
    }
    if faults.is_empty() {
        Ok(docs)
    } else {
        Err(PolicyError { faults })
    }
}

fn fault(file: &Path, position: Option<(usize, usize)>, message: String) -> Fault {
    Fault {
        file: file.to_path_buf(),
        position,
        item: Item::File,
        message,
    }
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>, faults: &mut Vec<Fault>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            faults.push(fault(dir, None, format!("cannot read the directory: {e}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_dir(&p, files, faults);
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            files.push(p);
        }
    }
}

/// Turn parsed documents into a raw policy, with notes. A template that runs
/// past its evaluation budget ([`arm::budget`]) is refused: a fault.
pub fn convert(
    docs: &[(PathBuf, Value)],
    opts: &ImportOptions,
) -> Result<resources::Built, PolicyError> {
    let mut refused = Vec::new();
    let mut b = Builder::new();
    let mut file_params: Vec<(String, Value)> = Vec::new();
    for (_, v) in docs {
        if arm::is_parameters_file(v) {
            file_params.extend(arm::parameter_file_values(v));
        }
    }
    let mut declared: Vec<String> = Vec::new();
    for (file, v) in docs {
        if arm::is_parameters_file(v) {
            continue;
        }
        if arm::is_template(v) {
            // Each resource goes to the builder as soon as it is
            // materialised, so the expansion is never held whole.
            let mut add = |r: arm::Materialized| b.add(file, Some(r.origin), &r.value);
            let x = arm::expand_each(v, &opts.params, &file_params, Some(&mut add));
            let (notes, refused_by) = (x.notes, x.refused);
            declared.extend(x.declared);
            if let Some(r) = refused_by {
                refused.push(Fault {
                    file: file.clone(),
                    position: None,
                    item: Item::Other(r.item),
                    message: r.message,
                });
                continue;
            }
            for n in notes {
                b.notes_mut().push(Note {
                    kind: n.kind,
                    file: file.clone(),
                    item: n.item,
                    message: n.message,
                });
            }
        } else {
            walk(file, v, &mut b, 0);
        }
    }
    let first = docs.first().map(|(f, _)| f.clone()).unwrap_or_default();
    for (k, _) in &opts.params {
        if !declared.contains(&k.to_ascii_lowercase()) {
            b.notes_mut().push(Note {
                kind: NoteKind::Ignored,
                file: first.clone(),
                item: String::new(),
                message: format!("--param {k}: no template of the input declares it"),
            });
        }
    }
    if !refused.is_empty() {
        return Err(PolicyError { faults: refused });
    }
    Ok(b.finish())
}

/// Find the resources of a non-template document: one resource, a list
/// (`az ... list`), `{"value": [...]}` (REST list) or a REST example
/// (`{"responses": {"200": {"body": ...}}}`).
fn walk(file: &Path, v: &Value, b: &mut Builder, depth: usize) {
    let ignore = |b: &mut Builder, what: &str| {
        b.notes_mut().push(Note {
            kind: NoteKind::Ignored,
            file: file.to_path_buf(),
            item: String::new(),
            message: format!("{what}: not an Azure resource, ignored"),
        })
    };
    if depth > 4 {
        return ignore(b, "deeply nested JSON");
    }
    match v {
        Value::Array(a) => {
            for x in a {
                walk(file, x, b, depth + 1);
            }
        }
        Value::Object(o) => {
            if let Some(Value::Object(rs)) = o.get("responses") {
                if let Some(body) = rs
                    .get("200")
                    .or_else(|| rs.values().next())
                    .and_then(|r| r.get("body"))
                {
                    walk(file, body, b, depth + 1);
                }
            } else if o.get("value").is_some_and(Value::is_array)
                && !o.contains_key("type")
                && !o.contains_key("properties")
            {
                walk(file, &o["value"], b, depth + 1);
            } else if resources::type_of(v).is_some() {
                b.add(file, None, v);
            } else {
                ignore(b, "an object without type, id or known fields")
            }
        }
        _ => ignore(b, "a JSON value that is neither an object nor a list"),
    }
}

/// Import Azure JSON files and directories into a validated policy.
///
/// Items validation refuses (a rule Azure would refuse too, a NIC whose IP is
/// outside its subnet) are left out and noted, and validation runs again;
/// faults no item can be blamed for (an unreadable service tags file) refuse
/// the import.
pub fn import(paths: &[PathBuf], opts: &ImportOptions) -> Result<Imported, PolicyError> {
    let docs = read_documents(paths)?;
    let built = convert(&docs, opts)?;
    let mut raw = built.raw;
    let mut report = Report { notes: built.notes };
    let file = paths.first().cloned().unwrap_or_default();
    let lo = LoadOptions {
        service_tags: opts.service_tags.clone(),
    };
    loop {
        match nsg_policy::from_raw(&raw, &file, &lo) {
            Ok(policy) => {
                return Ok(Imported {
                    policy,
                    raw,
                    report,
                })
            }
            // Each round removes at least one item, so this ends.
            Err(e) => {
                if !drop_faulty(&mut raw, &e.faults, &built.origins, &mut report.notes) {
                    return Err(e);
                }
            }
        }
    }
}

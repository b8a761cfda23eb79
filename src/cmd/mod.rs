//! One module per subcommand.

pub mod bench;
pub mod bench_analysis;
pub mod check;
pub mod demo;
pub mod diff;
pub mod effective;
pub mod import;
mod lines;
pub mod lint;
pub mod reach;
pub mod replay;
pub mod run;
pub mod summary;
pub mod synth;
pub mod verify;

pub use crate::out::Out;
use crate::PolicyArgs;
use nsg_azure as azure;
use nsg_policy::{LoadOptions, Policy};

/// A command's failure: printed on stderr, exit status 1.
pub type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// Load and validate the policy a command names: TOML, or Azure JSON (a
/// `.json` file, a file starting with `{` or `[`, or a directory), which goes
/// through the importer with its notes on stderr.
pub fn load_policy(args: &PolicyArgs) -> Result<Policy, nsg_policy::PolicyError> {
    if azure::is_azure_json(&args.policy) {
        let imported = azure::import(
            std::slice::from_ref(&args.policy),
            &azure::ImportOptions {
                params: Vec::new(),
                service_tags: args.service_tags.clone(),
            },
        )?;
        print_notes(&imported.report);
        return Ok(imported.policy);
    }
    nsg_policy::load(
        &args.policy,
        &LoadOptions {
            service_tags: args.service_tags.clone(),
        },
    )
}

/// An import's notes, one per line, on stderr.
pub fn print_notes(report: &azure::Report) {
    for n in &report.notes {
        crate::note!("{n}");
    }
}

/// Find a NIC by name or fail with the list of NICs.
pub fn nic(policy: &Policy, name: &str) -> Result<usize, String> {
    policy.nic_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = policy.nics.iter().map(|n| n.name.as_str()).collect();
        format!(
            "unknown nic '{name}' (the policy has: {})",
            names.join(", ")
        )
    })
}

/// How a command prints its answer.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Readable text.
    #[default]
    Text,
    /// nsg's JSON (as --json).
    Json,
    /// Azure's JSON: `az network nic list-effective-nsg`, Network Watcher IP flow verify.
    Azure,
}

impl Format {
    /// The format asked for, `--json` meaning `--format json`.
    pub fn pick(format: Option<Format>, json: bool) -> Format {
        match (format, json) {
            (Some(f), _) => f,
            (None, true) => Format::Json,
            (None, false) => Format::Text,
        }
    }
}

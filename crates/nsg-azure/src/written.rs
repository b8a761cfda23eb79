//! The TOML text `nsg import` writes, checked as it is made.
//!
//! Reading the whole text back at once would hold the TOML parse tree of the
//! whole policy (several KiB per rule, most of the memory of a large import)
//! beside the imported policy. The text is made of parts instead, each
//! `[[nsg]]` table with its rules one part, and each part is read back by
//! itself and compared with what it was written from; the parts together are
//! exactly the text [`to_toml`] writes for the whole policy, and a `[[nsg]]`
//! table stands alone in it, so reading the parts is reading the text.
//!
//! What the policy names outside its rules (service tags file, VNets,
//! subnets, NICs, ASGs and the NSG names) is loaded and validated as a
//! policy of its own, from the output path, so that a service tags path
//! written relative to the output is checked there. The rules were validated
//! by the import; reading them back equal is what is left to check.

use nsg_policy::error::{Fault, Item, PolicyError};
use nsg_policy::raw::{RawNsg, RawPolicy};
use nsg_policy::toml_write::to_toml;
use nsg_policy::LoadOptions;
use std::path::Path;

/// The parts of `to_toml(raw, header)`, in order, each read back equal to
/// what it was written from; `path` (the output) names the text in faults
/// and anchors the service tags path. Each NSG is freed once its part is
/// made, so the policy and its text are never both held whole.
pub fn to_checked_toml(
    mut raw: RawPolicy,
    header: &[String],
    path: &Path,
) -> Result<Vec<String>, PolicyError> {
    let nsgs = std::mem::take(&mut raw.nsgs);
    let top = to_toml(&raw, header);
    read_back(&top, &raw, path)?;
    // The policy without rules, validated from where it is written.
    raw.nsgs = nsgs
        .iter()
        .map(|g| RawNsg {
            name: g.name.clone(),
            flush_connections: g.flush_connections,
            rules: Vec::new(),
        })
        .collect();
    nsg_policy::load_str(&to_toml(&raw, &[]), path, &LoadOptions::default())?;
    drop(raw);
    let mut parts = Vec::with_capacity(nsgs.len() + 1);
    parts.push(top);
    let mut one = RawPolicy::default();
    for g in nsgs {
        one.nsgs.push(g);
        let part = to_toml(&one, &[]);
        read_back(&part, &one, path)?;
        parts.push(part);
        one.nsgs.clear();
    }
    Ok(parts)
}

/// Read `part` as TOML; it must give `expected`.
fn read_back(part: &str, expected: &RawPolicy, path: &Path) -> Result<(), PolicyError> {
    let back = nsg_policy::read_raw(part, path)?;
    if back != *expected {
        let what = match expected.nsgs.first() {
            Some(g) => format!("nsg {}", g.name.as_deref().unwrap_or_default()),
            None => "the part before the NSGs".to_string(),
        };
        return Err(PolicyError {
            faults: vec![Fault {
                file: path.to_path_buf(),
                position: None,
                item: Item::File,
                message: format!("{what} reads back different from what was written"),
            }],
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsg_policy::raw::{RawAsg, RawRule};

    fn rule(name: &str, priority: i64) -> RawRule {
        RawRule {
            name: Some(name.into()),
            priority: Some(priority),
            direction: Some("Inbound".into()),
            access: Some("Allow".into()),
            protocol: Some("Tcp".into()),
            source: Some(vec!["A".into()]),
            source_ports: None,
            destination: Some(vec!["*".into()]),
            destination_ports: Some(vec!["80".into()]),
            description: Some("line\nbreak [[nsg]]".into()),
        }
    }

    #[test]
    fn parts_make_the_whole_text_and_read_back() {
        let raw = RawPolicy {
            asgs: vec![RawAsg {
                name: Some("A".into()),
            }],
            nsgs: (0..3)
                .map(|i| RawNsg {
                    name: Some(format!("g{i}")),
                    flush_connections: i == 1,
                    rules: (0..4).map(|j| rule(&format!("r{j}"), 100 + j)).collect(),
                })
                .collect(),
            ..RawPolicy::default()
        };
        let header = vec!["imported".to_string()];
        let whole = to_toml(&raw, &header);
        let parts = to_checked_toml(raw, &header, Path::new("p.toml")).unwrap();
        assert_eq!(parts.len(), 4, "the part before the NSGs, then one per NSG");
        let text = parts.concat();
        assert_eq!(text, whole);
        let back = nsg_policy::load_str(&text, Path::new("p.toml"), &LoadOptions::default());
        assert_eq!(back.unwrap().user_rule_count(), 12);
    }

    #[test]
    fn a_policy_that_does_not_validate_is_refused() {
        let mut raw = RawPolicy {
            nsgs: vec![RawNsg {
                name: Some("g".into()),
                flush_connections: false,
                rules: vec![rule("r", 100)],
            }],
            ..RawPolicy::default()
        };
        raw.service_tags = Some("no-such-tags-file.json".into());
        let e = to_checked_toml(raw, &[], Path::new("/nonexistent/p.toml")).unwrap_err();
        assert!(e.to_string().contains("no-such-tags-file.json"), "{e}");
    }
}

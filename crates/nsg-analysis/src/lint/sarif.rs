//! SARIF 2.1.0 for `nsg lint --sarif`: one result per finding, located at
//! the rule's line of a TOML policy, or at the file (and the rule's line
//! where its `"name"` can be found) for Azure JSON.

use super::{Code, Finding};
use nsg_policy::model::Policy;
use serde_json::{json, Value};

/// Whether a TOML line is `name = "value"` (spaces free, either quote,
/// a trailing comment allowed).
fn is_name_line(line: &str, value: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix("name") else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix('=') else {
        return false;
    };
    let v = rest.trim();
    let v = v.split('#').next().unwrap_or(v).trim();
    v.len() >= 2 && (v.starts_with('"') || v.starts_with('\'')) && &v[1..v.len() - 1] == value
}

/// The line of an NSG's `[[nsg]]` header and of its rule's `[[nsg.rule]]`
/// header in a TOML policy text (1-based).
pub fn toml_line(text: &str, nsg: &str, rule: Option<&str>) -> Option<usize> {
    let mut nsg_at: Option<usize> = None;
    let mut in_nsg = false;
    let mut rule_at: Option<usize> = None;
    let mut block = "";
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            block = if t.starts_with("[[nsg]]") {
                nsg_at = Some(i + 1);
                in_nsg = false;
                "nsg"
            } else if t.starts_with("[[nsg.rule]]") {
                rule_at = Some(i + 1);
                "rule"
            } else {
                in_nsg = false;
                ""
            };
            continue;
        }
        match block {
            "nsg" if is_name_line(t, nsg) => {
                in_nsg = true;
                if rule.is_none() {
                    return nsg_at;
                }
            }
            "rule" if in_nsg && rule.is_some_and(|r| is_name_line(t, r)) => return rule_at,
            _ => {}
        }
    }
    None
}

/// The line of `"name": "value"` in a JSON text (1-based), the first after
/// the line of `"name": "after"` when `after` is given.
pub fn json_line(text: &str, value: &str, after: Option<&str>) -> Option<usize> {
    let quoted = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let is = |line: &str, v: &str| {
        let t: String = line.split_whitespace().collect();
        t.contains(&format!("\"name\":{}", quoted(v)))
    };
    let mut start = 0;
    let lines: Vec<&str> = text.lines().collect();
    if let Some(a) = after {
        start = lines.iter().position(|l| is(l, a))?;
    }
    (start..lines.len())
        .find(|&i| is(lines[i], value))
        .map(|i| i + 1)
}

/// The location of a finding: the file, and a line where one is known.
fn location(policy: &Policy, f: &Finding, uri: &str, text: Option<&str>, toml: bool) -> Value {
    let nsg = f.nsg.map(|g| &policy.nsgs[g]);
    let rule = nsg
        .zip(f.rule)
        .map(|(g, i)| &g.rules(f.direction)[i])
        .filter(|r| !r.is_default)
        .map(|r| r.name.as_str());
    let line = match (text, nsg) {
        (Some(t), Some(g)) if toml => {
            toml_line(t, &g.name, rule).or_else(|| toml_line(t, &g.name, None))
        }
        (Some(t), Some(g)) => match rule {
            Some(r) => json_line(t, r, Some(&g.name)).or_else(|| json_line(t, &g.name, None)),
            None => json_line(t, &g.name, None),
        },
        _ => None,
    };
    let mut phys = json!({ "artifactLocation": { "uri": uri } });
    if let Some(l) = line {
        phys["region"] = json!({ "startLine": l });
    }
    json!({ "physicalLocation": phys })
}

/// The SARIF log of `findings` for the policy file at `uri` (its text,
/// if it could be read; `toml` says whether it is a TOML policy).
pub fn sarif(
    policy: &Policy,
    findings: &[Finding],
    uri: &str,
    text: Option<&str>,
    toml: bool,
) -> Value {
    let used: Vec<Code> = Code::ALL
        .into_iter()
        .filter(|c| findings.iter().any(|f| f.code == *c))
        .collect();
    let rules: Vec<Value> = used
        .iter()
        .map(|c| {
            json!({
                "id": c.name(),
                "shortDescription": { "text": c.description() },
                "defaultConfiguration": { "level": c.severity().name() },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.code.name(),
                "ruleIndex": used.iter().position(|c| *c == f.code),
                "level": f.severity().name(),
                "message": { "text": format!("{} Fix: {}", f.message, f.fix) },
                "locations": [location(policy, f, uri, text, toml)],
                "properties": f.to_json(policy),
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "nsg",
                "informationUri": "https://github.com/",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

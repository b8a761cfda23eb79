//! `nsg lint`: findings about rules that never decide anything, rules whose
//! removal changes nothing, allow rules the other layer always overrides,
//! and management ports open to the Internet.
//!
//! Every finding is computed over whole sets of packets with the engine
//! ([`crate::decide`]), grouped per (NSG, direction, VNet) and per class of
//! NICs with the same layers, never per NIC and rule.

mod context;
mod layers;
mod rules;
pub mod sarif;
mod witness;

use nsg_policy::model::{Direction, NicId, NsgId, Policy};
use serde_json::{json, Value};

/// How serious a finding is, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing (`redundant`).
    Note,
    /// Probably a mistake (`unmatchable`, `shadowed`, `layer-conflict`).
    Warning,
    /// A risk (`exposed`).
    Error,
}

impl Severity {
    /// The name outputs and SARIF use (`note`, `warning`, `error`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parse `note`, `warning` or `error`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "note" => Some(Severity::Note),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// What a finding says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The rule matches no packet, or its NSG is attached to nothing.
    Unmatchable,
    /// The rule is never the first match of its NSG at any NIC.
    Shadowed,
    /// Removing the rule changes no verdict.
    Redundant,
    /// An allow rule whose packets the other layer always denies at a NIC.
    LayerConflict,
    /// A management or database port open to the Internet at a NIC.
    Exposed,
}

impl Code {
    /// Every code, in the order findings are listed.
    pub const ALL: [Code; 5] = [
        Code::Exposed,
        Code::Unmatchable,
        Code::Shadowed,
        Code::LayerConflict,
        Code::Redundant,
    ];

    /// The code as outputs write it.
    pub fn name(self) -> &'static str {
        match self {
            Code::Unmatchable => "unmatchable",
            Code::Shadowed => "shadowed",
            Code::Redundant => "redundant",
            Code::LayerConflict => "layer-conflict",
            Code::Exposed => "exposed",
        }
    }

    /// The code's severity.
    pub fn severity(self) -> Severity {
        match self {
            Code::Redundant => Severity::Note,
            Code::Exposed => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// What the code means, in one line (SARIF's rule description).
    pub fn description(self) -> &'static str {
        match self {
            Code::Unmatchable => "The rule matches no packet, or its NSG is attached to nothing.",
            Code::Shadowed => {
                "Higher-priority rules of the same NSG take every packet of the rule."
            }
            Code::Redundant => "Removing the rule changes no verdict at any NIC.",
            Code::LayerConflict => "An allow rule whose packets the other NSG layer always denies.",
            Code::Exposed => "A management or database port reachable from the Internet.",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What it says.
    pub code: Code,
    /// The NSG (`None` only for an `exposed` NIC without any NSG).
    pub nsg: Option<NsgId>,
    /// The rule's index in the NSG's rule list of `direction`, `None` for a
    /// finding about a whole NSG.
    pub rule: Option<usize>,
    /// The direction.
    pub direction: Direction,
    /// The NICs it concerns, in policy order.
    pub nics: Vec<NicId>,
    /// One line of explanation.
    pub message: String,
    /// `shadowed`: the covering higher-priority rules (`NSG/RULE`).
    pub covered_by: Vec<String>,
    /// `layer-conflict`: the other layer's rules that deny the packets.
    pub denied_by: Vec<String>,
    /// `exposed`: the rules of the layers that allowed the packets.
    pub decided_by: Vec<String>,
    /// A packet as an `nsg verify` query, checked by the evaluator.
    pub witness: Option<Value>,
    /// A suggested fix, in one line.
    pub fix: String,
}

impl Finding {
    /// The finding's severity.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// The finding as the JSON of `nsg lint --json`.
    pub fn to_json(&self, policy: &Policy) -> Value {
        let nsg = self.nsg.map(|g| &policy.nsgs[g]);
        let rule = nsg
            .zip(self.rule)
            .map(|(g, i)| g.rules(self.direction)[i].name.clone());
        let mut v = json!({
            "code": self.code.name(),
            "severity": self.severity().name(),
            "nsg": nsg.map(|g| g.name.clone()),
            "rule": rule,
            "direction": self.direction.name(),
            "nics": self.nics.iter().map(|&n| policy.nics[n].name.clone()).collect::<Vec<_>>(),
            "message": self.message,
            "covered_by": self.covered_by,
            "witness": self.witness,
            "fix": self.fix,
        });
        if self.code == Code::LayerConflict {
            v["denied_by"] = json!(self.denied_by);
        }
        if self.code == Code::Exposed {
            v["decided_by"] = json!(self.decided_by);
        }
        v
    }

    /// Whether the finding concerns `nic`: it names the NIC, or (for
    /// `unmatchable`, `shadowed`, `redundant`, which hold wherever the NSG
    /// applies) it is about a rule of an NSG that applies there.
    pub fn concerns(&self, policy: &Policy, nic: NicId) -> bool {
        if self.nics.contains(&nic) {
            return true;
        }
        if matches!(self.code, Code::LayerConflict | Code::Exposed) {
            return false;
        }
        match (self.nsg, self.rule) {
            (Some(g), Some(_)) => policy
                .layers(nic, self.direction)
                .iter()
                .any(|&(_, x)| x == g),
            _ => false,
        }
    }
}

/// `NSG/RULE` of a rule.
pub(crate) fn rule_name(policy: &Policy, g: NsgId, dir: Direction, i: usize) -> String {
    format!(
        "{}/{}",
        policy.nsgs[g].name,
        policy.nsgs[g].rules(dir)[i].name
    )
}

/// Every finding of `policy`, most severe first, then by code, NSG,
/// direction and rule.
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let classes = context::classes(policy);
    let ctxs = context::contexts(policy, &classes);
    let mut out = rules::rule_findings(policy, &classes, &ctxs);
    out.extend(layers::layer_conflicts(policy, &classes));
    out.extend(layers::exposed(policy, &classes));
    out.sort_by_key(|f| {
        (
            std::cmp::Reverse(f.severity()),
            Code::ALL.iter().position(|&c| c == f.code),
            f.nsg,
            f.direction == Direction::Outbound,
            f.rule,
            f.nics.first().copied(),
        )
    });
    out
}

/// The findings that concern `nic` (see [`Finding::concerns`]).
pub fn for_nic(policy: &Policy, findings: Vec<Finding>, nic: NicId) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| f.concerns(policy, nic))
        .collect()
}

/// `{"findings":[...]}`.
pub fn to_json(policy: &Policy, findings: &[Finding]) -> Value {
    json!({ "findings": findings.iter().map(|f| f.to_json(policy)).collect::<Vec<_>>() })
}

/// The findings as text: one line each, then its detail lines indented.
pub fn to_text(policy: &Policy, findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let j = f.to_json(policy);
        let what = match (&j["nsg"], &j["rule"]) {
            (Value::String(g), Value::String(r)) => format!("{g}/{r}"),
            (Value::String(g), _) => g.clone(),
            _ => "(no NSG)".to_string(),
        };
        s += &format!(
            "{} {} {} {}: {}\n",
            f.severity().name(),
            f.code.name(),
            what,
            f.direction.name(),
            f.message
        );
        let names: Vec<&str> = f
            .nics
            .iter()
            .map(|&n| policy.nics[n].name.as_str())
            .collect();
        if !names.is_empty() {
            s += &format!("  nics: {}\n", names.join(", "));
        }
        for (label, list) in [
            ("covered by", &f.covered_by),
            ("denied by", &f.denied_by),
            ("decided by", &f.decided_by),
        ] {
            if !list.is_empty() {
                s += &format!("  {label}: {}\n", list.join(", "));
            }
        }
        if let Some(w) = &f.witness {
            s += &format!("  witness: {w}\n");
        }
        s += &format!("  fix: {}\n", f.fix);
    }
    if findings.is_empty() {
        s += "no findings\n";
    }
    s
}

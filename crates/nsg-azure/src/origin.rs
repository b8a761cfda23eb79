//! Where each imported item came from, for the notes of items that
//! validation refuses after the import.

use std::collections::HashMap;
use std::path::PathBuf;

/// Where a resource or rule came from, for notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The input file.
    pub file: PathBuf,
    /// The item in that file: `resource Microsoft.Network/... 'x' rule 'y'`.
    pub what: String,
}

impl Origin {
    pub(crate) fn child(&self, what: &str) -> Origin {
        Origin {
            file: self.file.clone(),
            what: format!("{} {what}", self.what),
        }
    }
}

/// The origin of each imported item, by its name in the policy (lower case).
#[derive(Debug, Default, Clone)]
pub struct Origins {
    /// VNets.
    pub vnets: HashMap<String, Origin>,
    /// Subnets.
    pub subnets: HashMap<String, Origin>,
    /// NICs.
    pub nics: HashMap<String, Origin>,
    /// ASGs, defined or only referenced.
    pub asgs: HashMap<String, Origin>,
    /// NSGs.
    pub nsgs: HashMap<String, Origin>,
    /// By (NSG name, rule name): those not derived from their NSG's origin.
    pub rules: HashMap<(String, String), Origin>,
}

impl Origins {
    /// The origin of rule `rule` of NSG `nsg` (names in the policy).
    pub fn rule(&self, nsg: &str, rule: &str) -> Option<Origin> {
        let (g, r) = (nsg.to_ascii_lowercase(), rule.to_ascii_lowercase());
        match self.rules.get(&(g.clone(), r)) {
            Some(o) => Some(o.clone()),
            None => Some(self.nsgs.get(&g)?.child(&format!("rule '{rule}'"))),
        }
    }
}

//! Faults found while loading a policy: every one names the file, the item and
//! what is wrong, so an operator can fix them all in one pass.

use crate::validate::names::visible;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The file the fault is in.
    pub file: PathBuf,
    /// Line and column (1-based), where the parser gives them.
    pub position: Option<(usize, usize)>,
    /// The item at fault, e.g. `nsg NSG1 rule Allow-HTTP`; empty for the whole file.
    pub item: String,
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        // Names and values are the file's: characters that do not print are
        // shown escaped.
        if !self.item.is_empty() {
            write!(f, ": {}", visible(&self.item))?;
        }
        write!(f, ": {}", visible(&self.message))
    }
}

/// A policy refused as a whole, with every fault found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PolicyError {
    pub faults: Vec<Fault>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.faults.len();
        writeln!(
            f,
            "policy refused: {n} fault{}",
            if n == 1 { "" } else { "s" }
        )?;
        for fault in &self.faults {
            writeln!(f, "  {fault}")?;
        }
        Ok(())
    }
}

/// Collects faults for one file.
#[derive(Debug)]
pub(crate) struct Faults {
    file: PathBuf,
    pub(crate) list: Vec<Fault>,
}

impl Faults {
    pub(crate) fn new(file: &Path) -> Self {
        Faults {
            file: file.to_path_buf(),
            list: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, item: impl Into<String>, message: impl Into<String>) {
        self.list.push(Fault {
            file: self.file.clone(),
            position: None,
            item: item.into(),
            message: message.into(),
        });
    }

    pub(crate) fn push_at(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.list.push(Fault {
            file: self.file.clone(),
            position: Some(position),
            item: String::new(),
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn into_error(self) -> PolicyError {
        PolicyError { faults: self.list }
    }
}

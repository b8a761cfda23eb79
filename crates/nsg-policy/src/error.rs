//! Faults found while loading a policy: every one names the file, the item and
//! what is wrong, so an operator can fix them all in one pass.

use crate::validate::names::{shown, visible};
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The file the fault is in.
    pub file: PathBuf,
    /// Line and column (1-based), where the parser gives them.
    pub position: Option<(usize, usize)>,
    /// The item at fault, shown as e.g. `nsg NSG1 rule Allow-HTTP`;
    /// [`Item::File`] for the whole file.
    pub item: Item,
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
        let item = self.item.to_string();
        if !item.is_empty() {
            write!(f, ": {}", visible(&item))?;
        }
        write!(f, ": {}", visible(&self.message))
    }
}

/// How a fault names an item of a list: by its name, or by its place in the
/// list (1-based) when the name is empty or missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemName {
    /// The item's name as written (shown escaped when it does not print
    /// plainly, see [`shown`]).
    Named(String),
    /// The item has an empty name; shown `"" (#N)`.
    Empty(usize),
    /// The item has no name at all; shown `#N`.
    Missing(usize),
}

impl ItemName {
    /// The name of the item at `index` (0-based) of its list, as faults name
    /// it.
    pub fn of(name: Option<&str>, index: usize) -> ItemName {
        match name {
            Some(n) if !n.is_empty() => ItemName::Named(n.to_string()),
            Some(_) => ItemName::Empty(index + 1),
            None => ItemName::Missing(index + 1),
        }
    }

    /// The name as written, when the item has a non-empty one.
    pub fn name(&self) -> Option<&str> {
        match self {
            ItemName::Named(n) => Some(n),
            ItemName::Empty(_) | ItemName::Missing(_) => None,
        }
    }
}

impl fmt::Display for ItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemName::Named(n) => write!(f, "{}", shown(n)),
            ItemName::Empty(i) => write!(f, "\"\" (#{i})"),
            ItemName::Missing(i) => write!(f, "#{i}"),
        }
    }
}

/// The item a fault is about. Its text (`Display`) is how faults show it:
/// `vnet VNet1`, `nsg NSG1 rule Allow-HTTP`, `policy`; nothing for the whole
/// file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The whole file (a syntax error, an unreadable file).
    File,
    /// The policy's top-level keys.
    Policy,
    /// The service tags files the policy or the command line names.
    ServiceTags,
    /// A virtual network.
    VNet(ItemName),
    /// A subnet.
    Subnet(ItemName),
    /// A network interface.
    Nic(ItemName),
    /// An application security group.
    Asg(ItemName),
    /// A network security group.
    Nsg(ItemName),
    /// A security rule of an NSG.
    Rule {
        /// The NSG holding the rule.
        nsg: ItemName,
        /// The rule.
        rule: ItemName,
    },
    /// Anything else, named by its text (e.g. a template's resource).
    Other(String),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::File => Ok(()),
            Item::Policy => f.write_str("policy"),
            Item::ServiceTags => f.write_str("service_tags"),
            Item::VNet(n) => write!(f, "vnet {n}"),
            Item::Subnet(n) => write!(f, "subnet {n}"),
            Item::Nic(n) => write!(f, "nic {n}"),
            Item::Asg(n) => write!(f, "asg {n}"),
            Item::Nsg(n) => write!(f, "nsg {n}"),
            Item::Rule { nsg, rule } => write!(f, "nsg {nsg} rule {rule}"),
            Item::Other(text) => f.write_str(text),
        }
    }
}

impl Item {
    /// Whether faults show this item as exactly `text`.
    pub fn shows_as(&self, text: &str) -> bool {
        /// The text not yet matched; a write that does not continue it fails.
        struct Rest<'a>(&'a str);
        impl fmt::Write for Rest<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let rest = self.0.strip_prefix(s).ok_or(fmt::Error)?;
                self.0 = rest;
                Ok(())
            }
        }
        let mut rest = Rest(text);
        fmt::write(&mut rest, format_args!("{self}")).is_ok() && rest.0.is_empty()
    }
}

/// An item equals the text faults show it by.
impl PartialEq<str> for Item {
    fn eq(&self, other: &str) -> bool {
        self.shows_as(other)
    }
}

/// An item equals the text faults show it by.
impl PartialEq<&str> for Item {
    fn eq(&self, other: &&str) -> bool {
        self.shows_as(other)
    }
}

/// An item equals the text faults show it by.
impl PartialEq<String> for Item {
    fn eq(&self, other: &String) -> bool {
        self.shows_as(other)
    }
}

/// A policy refused as a whole, with every fault found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PolicyError {
    /// Every fault found, in the order found.
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

    pub(crate) fn push(&mut self, item: &Item, message: impl Into<String>) {
        self.list.push(Fault {
            file: self.file.clone(),
            position: None,
            item: item.clone(),
            message: message.into(),
        });
    }

    pub(crate) fn push_at(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.list.push(Fault {
            file: self.file.clone(),
            position: Some(position),
            item: Item::File,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_show_as_faults_have_always_named_them() {
        let named = |n: &str| ItemName::Named(n.to_string());
        let rule = Item::Rule {
            nsg: named("NSG1"),
            rule: named("Allow-HTTP"),
        };
        assert_eq!(rule.to_string(), "nsg NSG1 rule Allow-HTTP");
        assert_eq!(Item::Nic(named("n\u{1}x")).to_string(), "nic \"n\\u{1}x\"");
        assert_eq!(Item::Asg(ItemName::Empty(3)).to_string(), "asg \"\" (#3)");
        let unnamed = Item::Rule {
            nsg: ItemName::Missing(1),
            rule: ItemName::Missing(2),
        };
        assert_eq!(unnamed.to_string(), "nsg #1 rule #2");
        assert_eq!(Item::File.to_string(), "");
        assert!(rule.shows_as("nsg NSG1 rule Allow-HTTP"));
        assert!(!rule.shows_as("nsg NSG1 rule Allow-HTT"));
        assert!(!rule.shows_as("nsg NSG1 rule Allow-HTTPS"));
    }
}

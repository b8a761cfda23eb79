//! Names as Azure validates them, and the MAC addresses a NIC may have.
//!
//! Azure's naming rules for `Microsoft.Network` resources: a VNet name is 2 to
//! 64 characters; a subnet, NIC, ASG, NSG or security rule name 1 to 80. Every
//! name takes only ASCII letters, digits, `_`, `.` and `-`, starts with a
//! letter or digit and ends with a letter, digit or `_`.
//!
//! `nsg import`'s placeholders for values fixed only at deployment
//! (`param-NAME`, `resourcegroup`, `uniquestring-HASH`, ...) keep to this rule.
//!
//! A name that breaks the rule is shown in faults with Rust's debug escaping
//! (`"n\u{1}x"`), so control and direction-override characters are visible.

use crate::error::{Faults, Item, ItemName};
use std::borrow::Cow;
use std::collections::HashMap;

/// The hardware address nsg answers ARP and neighbour solicitations for the
/// gateways with (Azure's host answers with this one too). No NIC may have it.
pub const GATEWAY_MAC: [u8; 6] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];

/// The kinds of named item, each with Azure's length limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A VNet (2 to 64 characters).
    VNet,
    /// A subnet.
    Subnet,
    /// A NIC.
    Nic,
    /// An ASG.
    Asg,
    /// An NSG.
    Nsg,
    /// A security rule.
    Rule,
}

impl NameKind {
    /// The kind as items name it (`vnet`, `rule`).
    pub fn word(self) -> &'static str {
        match self {
            NameKind::VNet => "vnet",
            NameKind::Subnet => "subnet",
            NameKind::Nic => "nic",
            NameKind::Asg => "asg",
            NameKind::Nsg => "nsg",
            NameKind::Rule => "rule",
        }
    }

    /// Shortest and longest name, in characters.
    pub fn lengths(self) -> (usize, usize) {
        match self {
            NameKind::VNet => (2, 64),
            _ => (1, 80),
        }
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether a name shows as written: printable ASCII without spaces or quotes.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'')
}

/// A name as items show it (`nsg NSG1`): as written when [`plain`], else
/// quoted with debug escapes (`nsg "n\u{1}x"`).
pub fn shown(name: &str) -> Cow<'_, str> {
    if plain(name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name:?}"))
    }
}

/// A name or value as messages quote it: `'NSG1'`, or `"n\u{1}x"` with debug
/// escapes when it is not plain.
pub fn quoted(name: &str) -> String {
    if name.is_empty() || plain(name) {
        format!("'{name}'")
    } else {
        format!("{name:?}")
    }
}

/// Text with every character that does not print (controls, direction
/// overrides, other format characters) written as its debug escape, so a
/// message or item cannot hide or reorder what a terminal shows.
pub fn visible(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| !matches!(c, '\'' | '"' | '\\') && c.escape_debug().nth(1).is_some();
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What is wrong with a name by Azure's rule, one message per problem.
pub fn problems(name: &str, kind: NameKind) -> Vec<String> {
    let mut out = Vec::new();
    let s = quoted(name);
    let (lo, hi) = kind.lengths();
    let chars: Vec<(usize, char)> = name.chars().enumerate().map(|(i, c)| (i + 1, c)).collect();
    let len = chars.len();
    if len < lo || len > hi {
        out.push(format!(
            "name {s} must be {lo} to {hi} characters, has {len} (the {} name rule)",
            kind.word()
        ));
    }
    if let Some((i, c)) = chars.iter().find(|(_, c)| !name_char(*c)) {
        out.push(format!(
            "name {s} has {c:?} at character {i}; names take only ASCII letters, digits, '_', '.' and '-'"
        ));
        return out;
    }
    if let Some((_, c)) = chars.first().filter(|(_, c)| !c.is_ascii_alphanumeric()) {
        out.push(format!(
            "name {s} starts with {c:?}; a name starts with a letter or digit"
        ));
    }
    if let Some((_, c)) = chars
        .last()
        .filter(|(_, c)| !c.is_ascii_alphanumeric() && *c != '_')
    {
        out.push(format!(
            "name {s} ends with {c:?}; a name ends with a letter, digit or '_'"
        ));
    }
    out
}

/// Record every problem of a name as a fault of `item`.
pub(crate) fn check_name(name: &str, kind: NameKind, item: &Item, f: &mut Faults) {
    for p in problems(name, kind) {
        f.push(item, p);
    }
}

/// Case-insensitive name index of one kind, reporting bad and duplicate names
/// as faults of the item `item` makes of a name.
pub(crate) fn index_names<'a>(
    names: impl Iterator<Item = Option<&'a String>>,
    kind: NameKind,
    item: fn(ItemName) -> Item,
    f: &mut Faults,
) -> HashMap<String, usize> {
    let mut map: HashMap<String, usize> = HashMap::new();
    let word = kind.word();
    for (i, name) in names.enumerate() {
        let Some(name) = name else { continue };
        let item = item(ItemName::of(Some(name), i));
        check_name(name, kind, &item, f);
        let key = name.to_ascii_lowercase();
        if let std::collections::hash_map::Entry::Vacant(e) = map.entry(key) {
            e.insert(i);
        } else {
            f.push(
                &item,
                format!(
                    "duplicate {word} name {} (names are case-insensitive)",
                    quoted(name)
                ),
            );
        }
    }
    map
}

/// The name of the `i`th item of a list (empty when it has none) and how
/// faults name it.
pub(crate) fn name_or(name: &Option<String>, i: usize) -> (String, ItemName) {
    (
        name.clone().unwrap_or_default(),
        ItemName::of(name.as_deref(), i),
    )
}

/// Parse `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// A MAC written the usual way, `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Why a NIC cannot have this MAC, if it cannot: the dataplane sets it as the
/// address of a TAP device and answers for the gateway with [`GATEWAY_MAC`].
pub fn mac_problem(m: &[u8; 6]) -> Option<String> {
    let t = mac_text(m);
    if *m == [0; 6] {
        Some(format!(
            "mac {t} is the all-zero address, which no interface can have"
        ))
    } else if *m == [0xff; 6] {
        Some(format!(
            "mac {t} is the broadcast address, which no interface can have"
        ))
    } else if m[0] & 1 != 0 {
        Some(format!(
            "mac {t} is a multicast address (the I/G bit of its first octet is set), which no interface can have"
        ))
    } else if *m == GATEWAY_MAC {
        Some(format!(
            "mac {t} is the gateway's address, which nsg answers ARP and ND for the gateway with"
        ))
    } else {
        None
    }
}

/// Parse and check a NIC's MAC: a fault of `item` naming the MAC when it is
/// not a MAC, is one no interface can have, or another NIC (in `owners`)
/// already has it.
pub(crate) fn check_mac(
    text: &str,
    nic: &str,
    item: &Item,
    owners: &mut HashMap<[u8; 6], String>,
    f: &mut Faults,
) -> Option<[u8; 6]> {
    let Some(m) = parse_mac(text) else {
        f.push(item, format!("mac {} is not a MAC address", quoted(text)));
        return None;
    };
    if let Some(p) = mac_problem(&m) {
        f.push(item, p);
        return None;
    }
    if let Some(prev) = owners.get(&m) {
        f.push(
            item,
            format!(
                "mac {} is already used by nic {}",
                mac_text(&m),
                shown(prev)
            ),
        );
        return None;
    }
    owners.insert(m, nic.to_string());
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_names_pass() {
        for (n, k) in [
            ("a", NameKind::Nsg),
            ("ab", NameKind::VNet),
            ("Allow-HTTP_8080.v2", NameKind::Rule),
            ("x_", NameKind::Subnet),
            ("9", NameKind::Nic),
            (&"a".repeat(80), NameKind::Asg),
            (&"v".repeat(64), NameKind::VNet),
            // Placeholders `nsg import` writes for deployment values.
            ("param-bastion-host-name-nsg", NameKind::Nsg),
            ("resourcegroup", NameKind::VNet),
            ("nic-uniquestring-0a1b2c3d", NameKind::Nic),
        ] {
            assert!(problems(n, k).is_empty(), "{n}: {:?}", problems(n, k));
        }
    }

    #[test]
    fn braces_are_not_name_characters() {
        assert!(!problems("{v}", NameKind::VNet).is_empty());
        assert!(!problems("nic-{uniqueString-0a1b2c3d}", NameKind::Nic).is_empty());
    }

    #[test]
    fn names_azure_refuses_are_named_with_escapes() {
        let one = |n: &str, k| {
            let p = problems(n, k);
            assert_eq!(p.len(), 1, "{n:?}: {p:?}");
            p.into_iter().next().unwrap_or_default()
        };
        assert!(one("n\u{1}x", NameKind::Nsg).contains(r#""n\u{1}x" has '\u{1}' at character 2"#));
        assert!(one("\t", NameKind::Rule).contains(r#""\t" has '\t'"#));
        assert!(one(" ", NameKind::Nic).contains(r#"" " has ' '"#));
        assert!(one("\0", NameKind::Asg).contains(r#""\0" has '\0'"#));
        assert!(one("\u{202e}abc", NameKind::Subnet).contains(r#"has '\u{202e}' at character 1"#));
        assert!(one("a/b", NameKind::Nsg).contains("'/'"));
        assert!(one("é", NameKind::Nsg).contains("ASCII"));
        assert!(one("v", NameKind::VNet).contains("name 'v' must be 2 to 64 characters, has 1"));
        assert!(one(&"v".repeat(65), NameKind::VNet).contains("2 to 64 characters, has 65"));
        assert!(one(&"n".repeat(81), NameKind::Nsg).contains("1 to 80 characters, has 81"));
        assert!(one("", NameKind::Rule).contains("name '' must be 1 to 80 characters, has 0"));
        assert!(one("_a", NameKind::Nsg).contains("starts with '_'"));
        assert!(one(".a", NameKind::Nsg).contains("starts with '.'"));
        assert!(one("a.", NameKind::Nsg).contains("ends with '.'"));
        assert!(one("a-", NameKind::Nsg).contains("ends with '-'"));
        assert_eq!(problems("-a-", NameKind::Nsg).len(), 2);
        assert!(one("a{b", NameKind::Nsg).contains("has '{' at character 2"));
        assert!(one("{}x", NameKind::Nsg).contains("has '{' at character 1"));
        assert!(one("{a b}x", NameKind::Nsg).contains("has '{' at character 1"));
    }

    #[test]
    fn shown_quotes_only_names_outside_the_rule() {
        assert_eq!(shown("NSG1"), "NSG1");
        assert_eq!(shown("a/b*"), "a/b*");
        assert_eq!(quoted("NSG1"), "'NSG1'");
        assert_eq!(quoted("n\u{1}x"), "\"n\\u{1}x\"");
        assert_eq!(shown("a b"), "\"a b\"");
        assert_eq!(shown(""), "\"\"");
        assert_eq!(shown("\u{202e}x"), "\"\\u{202e}x\"");
    }

    #[test]
    fn visible_escapes_only_what_does_not_print() {
        assert_eq!(visible("nsg 'a b' \"c\" \\ é"), "nsg 'a b' \"c\" \\ é");
        assert_eq!(
            visible("nsg 'n\u{1}x'\t\u{202e}"),
            "nsg 'n\\u{1}x'\\t\\u{202e}"
        );
    }

    #[test]
    fn macs_no_interface_can_have_are_refused() {
        for bad in [
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "33:33:00:00:00:01",
            "00:00:00:00:00:00",
            "12:34:56:78:9a:bc",
        ] {
            let m = parse_mac(bad).unwrap();
            let p = mac_problem(&m).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(p.contains(bad), "{p}");
        }
        assert_eq!(GATEWAY_MAC, parse_mac("12:34:56:78:9A:BC").unwrap());
        assert_eq!(mac_problem(&parse_mac("02:00:00:00:01:04").unwrap()), None);
    }
}

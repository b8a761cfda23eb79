//! Parsed template expressions, kept by their text: a copy loop evaluates
//! the same few expressions once per iteration (a rule's name, priority and
//! prefixes, 800 × 800 times in a template at ARM's limits), and parsing
//! them each time was a large part of the evaluation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::expr::{self, Expr};

/// At most this many distinct texts are kept; past it, texts are parsed
/// each time. A template holds far fewer expressions than this (ARM's 4 MB
/// limit and the expressions' own length), but a string made by the
/// evaluation is never a reason to grow without bound.
pub const MAX_KEPT: usize = 4096;

/// The parse of each template string met so far, error included.
#[derive(Debug, Default)]
pub struct Parsed {
    kept: RefCell<HashMap<String, Result<Rc<Expr>, expr::ParseError>>>,
}

impl Parsed {
    /// The parse of the template string `s` (`[...]`).
    pub fn get(&self, s: &str) -> Result<Rc<Expr>, expr::ParseError> {
        if let Some(r) = self.kept.borrow().get(s) {
            return r.clone();
        }
        let r = expr::parse_template_string(s).map(Rc::new);
        let mut kept = self.kept.borrow_mut();
        if kept.len() < MAX_KEPT {
            kept.insert(s.to_string(), r.clone());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_the_same_parse_comes_back() {
        let p = Parsed::default();
        let a = p.get("[concat('a', 'b')]").unwrap();
        let b = p.get("[concat('a', 'b')]").unwrap();
        assert!(Rc::ptr_eq(&a, &b));
        assert_eq!(
            *a,
            expr::parse_template_string("[concat('a', 'b')]").unwrap()
        );
        assert!(p.get("[concat('a'").is_err());
        assert_eq!(
            p.get("[concat('a'"),
            expr::parse_template_string("[concat('a'").map(Rc::new)
        );
    }

    #[test]
    fn past_the_bound_texts_are_still_parsed() {
        let p = Parsed::default();
        for i in 0..MAX_KEPT + 10 {
            let e = p.get(&format!("[add({i}, 1)]")).unwrap();
            assert_eq!(
                *e,
                expr::parse_template_string(&format!("[add({i}, 1)]")).unwrap()
            );
        }
        assert_eq!(p.kept.borrow().len(), MAX_KEPT);
    }
}

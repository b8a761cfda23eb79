//! The budget of one ARM template's evaluation: how large a value may grow,
//! how much all values together may add up to, how many steps the evaluation
//! may take and how deep it may nest. A template past its budget is refused
//! as a whole (the import fails, naming the template, the resource and the
//! expression), so a few hundred bytes of `replace()`, `concat()` or nested
//! variables cannot make the import allocate gigabytes.
//!
//! Sizes are counted as the memory a value takes, approximately: [`NODE`]
//! bytes for each JSON node (string, number, array element, object member)
//! plus the text of strings and keys, and [`OBJECT`] more for each non-empty
//! object (a B-tree node). ARM's own limits are the guide: a template of at
//! most 4 MB, 800 iterations per copy loop.

use std::cell::{Cell, RefCell};

use serde_json::Value;

/// The bytes counted for one JSON node besides its text.
pub const NODE: usize = 32;

/// The bytes counted for a non-empty object besides its members.
pub const OBJECT: usize = 640;

/// The largest value one expression, variable or resource field may produce
/// (8 MiB as counted here: a 4 MB template of short strings, ARM's limit).
pub const MAX_VALUE: usize = 8 << 20;

/// The bytes all the values one template's evaluation produces may add up to
/// (each function result, each variable reference, each field of a resource).
pub const MAX_TOTAL: u64 = 1 << 30;

/// The evaluation steps of one template (one per expression evaluated and
/// per JSON node of the template materialised).
pub const MAX_STEPS: u64 = 100_000_000;

/// How deeply a value may nest (arrays and objects).
pub const MAX_NESTING: usize = 64;

/// How deeply evaluations may nest (expressions within variables within
/// expressions ...).
pub const MAX_EVAL_DEPTH: usize = 512;

use super::error::{EvalError, R};

/// The budget of one template (its nested inline templates included).
#[derive(Debug, Default)]
pub struct Budget {
    total: Cell<u64>,
    steps: Cell<u64>,
    depth: Cell<usize>,
    /// Set once exceeded: why, and the innermost expression being evaluated.
    exceeded: RefCell<Option<(String, Option<String>)>>,
}

impl Budget {
    /// Whether the budget is exceeded: why, and in which expression.
    pub fn exceeded(&self) -> Option<(String, Option<String>)> {
        self.exceeded.borrow().clone()
    }

    fn fail(&self, why: String) -> EvalError {
        let mut e = self.exceeded.borrow_mut();
        if e.is_none() {
            *e = Some((why.clone(), None));
        }
        EvalError::OverBudget(why)
    }

    /// Record the expression the budget ran out in (the first one given:
    /// the innermost).
    pub fn blame(&self, expression: &str) {
        if let Some((_, e @ None)) = &mut *self.exceeded.borrow_mut() {
            *e = Some(expression.to_string());
        }
    }

    /// Refuse further work once exceeded.
    fn check_open(&self) -> R<()> {
        match &*self.exceeded.borrow() {
            Some((why, _)) => Err(EvalError::OverBudget(why.clone())),
            None => Ok(()),
        }
    }

    /// One evaluation step.
    pub fn step(&self) -> R<()> {
        self.check_open()?;
        let s = self.steps.get() + 1;
        self.steps.set(s);
        if s > MAX_STEPS {
            return Err(self.fail(format!("the evaluation takes more than {MAX_STEPS} steps")));
        }
        Ok(())
    }

    /// A size a function is about to build: refused past [`MAX_VALUE`].
    pub fn will_build(&self, what: &str, bytes: usize) -> R<()> {
        self.check_open()?;
        if bytes > MAX_VALUE {
            return Err(self.fail(format!(
                "{what} would be {bytes} bytes, over the limit of {MAX_VALUE} bytes per value"
            )));
        }
        Ok(())
    }

    /// Count a value produced: its size within [`MAX_VALUE`], its nesting
    /// within [`MAX_NESTING`], and its size added to the template's total.
    pub fn produced(&self, v: &Value) -> R<usize> {
        let n = self.measure(v)?;
        self.charge(n as u64)?;
        Ok(n)
    }

    /// Add bytes to the template's total.
    pub fn charge(&self, bytes: u64) -> R<()> {
        self.check_open()?;
        let t = self.total.get().saturating_add(bytes);
        self.total.set(t);
        if t > MAX_TOTAL {
            return Err(self.fail(format!(
                "the values the template's evaluation produces add up to more than {MAX_TOTAL} bytes"
            )));
        }
        Ok(())
    }

    /// The size of a value, refused past [`MAX_VALUE`] or [`MAX_NESTING`].
    pub fn measure(&self, v: &Value) -> R<usize> {
        match size(v, 0, MAX_VALUE) {
            Ok(n) => Ok(n),
            Err(Too::Large) => Err(self.fail(format!(
                "a value is larger than the limit of {MAX_VALUE} bytes per value"
            ))),
            Err(Too::Deep) => {
                Err(self.fail(format!("a value nests deeper than {MAX_NESTING} levels")))
            }
        }
    }

    /// Run `f` one evaluation level deeper, refused past [`MAX_EVAL_DEPTH`].
    pub fn nested<T>(&self, f: impl FnOnce() -> R<T>) -> R<T> {
        let d = self.depth.get();
        if d >= MAX_EVAL_DEPTH {
            return Err(self.fail(format!(
                "evaluations nest deeper than {MAX_EVAL_DEPTH} levels"
            )));
        }
        self.depth.set(d + 1);
        let r = f();
        self.depth.set(d);
        r
    }

    /// The bytes and steps used so far.
    pub fn used(&self) -> (u64, u64) {
        (self.total.get(), self.steps.get())
    }
}

enum Too {
    Large,
    Deep,
}

/// The size of a value, stopping as soon as it passes `limit` or nests past
/// [`MAX_NESTING`].
fn size(v: &Value, depth: usize, limit: usize) -> Result<usize, Too> {
    if depth > MAX_NESTING {
        return Err(Too::Deep);
    }
    let mut n = NODE;
    match v {
        Value::String(s) => n += s.len(),
        Value::Array(a) => {
            for x in a {
                n += size(x, depth + 1, limit.saturating_sub(n))?;
                if n > limit {
                    return Err(Too::Large);
                }
            }
        }
        Value::Object(m) => {
            if !m.is_empty() {
                n += OBJECT;
            }
            for (k, x) in m {
                n += k.len() + size(x, depth + 1, limit.saturating_sub(n))?;
                if n > limit {
                    return Err(Too::Large);
                }
            }
        }
        _ => {}
    }
    if n > limit {
        return Err(Too::Large);
    }
    Ok(n)
}

/// The size a string of `len` bytes is counted as.
pub fn string_size(len: usize) -> usize {
    NODE.saturating_add(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_count_nodes_and_text() {
        let b = Budget::default();
        assert_eq!(b.measure(&json!("abc")).unwrap(), NODE + 3);
        assert_eq!(
            b.measure(&json!({"k": [1, "xy"]})).unwrap(),
            NODE + OBJECT + 1 + NODE + NODE + NODE + 2
        );
        assert_eq!(b.used(), (0, 0));
        b.produced(&json!("abc")).unwrap();
        assert_eq!(b.used().0, (NODE + 3) as u64);
    }

    #[test]
    fn limits_refuse_and_stick() {
        let b = Budget::default();
        let mut deep = json!(1);
        for _ in 0..=MAX_NESTING {
            deep = json!([deep]);
        }
        assert!(b
            .measure(&deep)
            .unwrap_err()
            .to_string()
            .contains("nests deeper"));
        // Once exceeded, everything is refused, and the first expression
        // blamed is kept.
        assert!(b.step().is_err());
        b.blame("[inner()]");
        b.blame("[outer()]");
        assert_eq!(b.exceeded().unwrap().1.as_deref(), Some("[inner()]"));
        let b = Budget::default();
        assert!(b.will_build("x", MAX_VALUE + 1).is_err());
        let b = Budget::default();
        assert!(b.charge(MAX_TOTAL + 1).is_err());
        let b = Budget::default();
        let big = Value::String("a".repeat(MAX_VALUE));
        assert!(b
            .measure(&big)
            .unwrap_err()
            .to_string()
            .contains("larger than"));
    }
}

//! The ARM template functions that take evaluated arguments, and the value
//! helpers the evaluation in [`super`] shares with them. Each function
//! checks the size of what it would build against the evaluation budget
//! ([`super::budget`]) before building it.

use super::budget::{self, Budget};
use super::get_ci;
use serde_json::{Map, Value};

use super::error::{EvalError, R};

/// Refuse a call whose result would be larger than a value may be, before
/// building it. Functions whose results are no larger than their arguments
/// (or bounded, as `padLeft()` and `range()`) need no check here.
fn precheck(f: &str, v: &[Value], b: &Budget) -> R<()> {
    let text = |x: &Value| match x {
        Value::String(s) => s.len(),
        other => display_string(other).len(),
    };
    let bytes = match (f, v) {
        ("replace", [Value::String(t), Value::String(from), Value::String(to)]) => {
            let hits = if from.is_empty() {
                t.chars().count() + 1
            } else {
                t.matches(from.as_str()).count()
            };
            budget::string_size(
                (t.len() - hits * from.len()).saturating_add(hits.saturating_mul(to.len())),
            )
        }
        ("format", [Value::String(fmt), args @ ..]) => {
            let widest = args.iter().map(text).max().unwrap_or(0).max(100);
            let holes = fmt.matches('{').count();
            budget::string_size(fmt.len().saturating_add(holes.saturating_mul(widest)))
        }
        ("split", [Value::String(t), d]) => {
            let delims: Vec<String> = match d {
                Value::Array(a) => a.iter().map(display_string).collect(),
                d => vec![display_string(d)],
            };
            let pieces: usize = 1 + delims
                .iter()
                .filter(|d| !d.is_empty())
                .map(|d| t.matches(d.as_str()).count())
                .sum::<usize>();
            budget::string_size(t.len()).saturating_add(pieces.saturating_mul(budget::NODE))
        }
        ("concat", _) if !v.is_empty() && v.iter().all(|x| x.is_array() || x.is_null()) => {
            sum_sizes(v, b)?
        }
        ("concat", _) => budget::string_size(v.iter().map(text).sum()),
        ("union" | "createarray" | "array" | "createobject", _) => sum_sizes(v, b)?,
        _ => return Ok(()),
    };
    b.will_build(&format!("the result of {f}()"), bytes)
}

fn sum_sizes(v: &[Value], b: &Budget) -> R<usize> {
    v.iter()
        .map(|x| b.measure(x))
        .try_fold(0usize, |acc, n| Ok(acc.saturating_add(n?)))
}

/// A call's function (lower case), its name as written and its evaluated
/// arguments, with the argument checks every family shares.
struct Call<'a> {
    f: &'a str,
    name: &'a str,
    v: &'a [Value],
}

impl Call<'_> {
    /// Refuse a call without exactly `n` arguments.
    fn arity(&self, n: usize) -> R<()> {
        if self.v.len() == n {
            Ok(())
        } else {
            Err(EvalError::Invalid(format!(
                "{}() takes {n} argument(s), got {}",
                self.name,
                self.v.len()
            )))
        }
    }

    /// Argument `i` (0-based), which must be a string.
    fn s(&self, i: usize) -> R<&str> {
        self.v.get(i).and_then(Value::as_str).ok_or_else(|| {
            EvalError::Invalid(format!(
                "{}(): argument {} is not a string",
                self.name,
                i + 1
            ))
        })
    }

    /// Argument `i` (0-based) as an integer.
    fn n(&self, i: usize) -> R<i64> {
        self.v
            .get(i)
            .ok_or_else(|| {
                EvalError::Invalid(format!("{}(): missing argument {}", self.name, i + 1))
            })
            .and_then(to_int)
    }
}

/// Evaluate ARM function `f` (lower case; `name` as written) on evaluated
/// arguments, after checking the size of its result against the budget.
pub(super) fn builtin(f: &str, name: &str, v: &[Value], b: &Budget) -> R<Value> {
    precheck(f, v, b)?;
    let c = Call { f, name, v };
    match f {
        "string" | "int" | "bool" | "json" | "true" | "false" | "null" => conversion(&c),
        "format" | "tolower" | "toupper" | "trim" | "startswith" | "endswith" | "indexof"
        | "lastindexof" | "substring" | "replace" | "split" | "padleft" => string(&c),
        "concat" | "length" | "empty" | "contains" | "first" | "last" | "take" | "skip"
        | "createarray" | "array" | "createobject" | "union" | "range" => collection(&c),
        "equals" | "not" | "less" | "lessorequals" | "greater" | "greaterorequals" | "add"
        | "sub" | "mul" | "div" | "mod" | "min" | "max" => numeric_logical(&c),
        _ => deployment(&c),
    }
}

/// Conversions and literals: `string()`, `int()`, `bool()`, `json()`,
/// `true()`, `false()`, `null()`.
fn conversion(c: &Call) -> R<Value> {
    let v = c.v;
    Ok(match c.f {
        "string" => {
            c.arity(1)?;
            Value::String(display_string(&v[0]))
        }
        "int" => {
            c.arity(1)?;
            Value::from(c.n(0)?)
        }
        "bool" => {
            c.arity(1)?;
            Value::Bool(to_bool(&v[0])?)
        }
        "json" => {
            c.arity(1)?;
            serde_json::from_str(c.s(0)?).map_err(|e| EvalError::Invalid(format!("json(): {e}")))?
        }
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::Null,
    })
}

/// String functions: `format()`, case, `trim()`, searching, `substring()`,
/// `replace()`, `split()`, `padLeft()`.
fn string(c: &Call) -> R<Value> {
    let v = c.v;
    Ok(match c.f {
        "format" => Value::String(format_dotnet(c.s(0)?, &v[1..])?),
        "tolower" => Value::String(c.s(0)?.to_lowercase()),
        "toupper" => Value::String(c.s(0)?.to_uppercase()),
        "trim" => Value::String(c.s(0)?.trim().to_string()),
        "startswith" | "endswith" | "indexof" | "lastindexof" => {
            c.arity(2)?;
            let (a, b) = (c.s(0)?.to_lowercase(), c.s(1)?.to_lowercase());
            match c.f {
                "startswith" => Value::Bool(a.starts_with(&b)),
                "endswith" => Value::Bool(a.ends_with(&b)),
                "indexof" => Value::from(a.find(&b).map_or(-1, |i| i as i64)),
                _ => Value::from(a.rfind(&b).map_or(-1, |i| i as i64)),
            }
        }
        "substring" => substring(c)?,
        "replace" => {
            c.arity(3)?;
            Value::String(c.s(0)?.replace(c.s(1)?, c.s(2)?))
        }
        "split" => split(c)?,
        _ => pad_left(c)?,
    })
}

/// `substring(text, start[, length])`.
fn substring(c: &Call) -> R<Value> {
    let text: Vec<char> = c.s(0)?.chars().collect();
    let start = usize::try_from(c.n(1)?).map_err(|_| "substring(): negative start")?;
    let len = if c.v.len() > 2 {
        usize::try_from(c.n(2)?).map_err(|_| "substring(): negative length")?
    } else {
        text.len().saturating_sub(start)
    };
    if start.checked_add(len).is_none_or(|end| end > text.len()) {
        return Err(EvalError::Invalid(format!(
            "substring(): {start}+{len} is past the end of '{}'",
            c.s(0)?
        )));
    }
    Ok(Value::String(text[start..start + len].iter().collect()))
}

/// `split(text, delimiter or delimiters)`.
fn split(c: &Call) -> R<Value> {
    c.arity(2)?;
    let text = c.s(0)?;
    let delims: Vec<String> = match &c.v[1] {
        Value::String(d) => vec![d.clone()],
        Value::Array(a) => a.iter().map(display_string).collect(),
        d => return Err(EvalError::Invalid(format!("split(): delimiter {d}"))),
    };
    let mut parts = vec![text.to_string()];
    for d in delims.iter().filter(|d| !d.is_empty()) {
        parts = parts
            .iter()
            .flat_map(|p| p.split(d.as_str()).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    Ok(Value::Array(parts.into_iter().map(Value::String).collect()))
}

/// `padLeft(value, length[, char])`, the length at most 10000.
fn pad_left(c: &Call) -> R<Value> {
    let text = display_string(c.v.first().ok_or("padLeft() takes a value")?);
    let total = usize::try_from(c.n(1)?)
        .ok()
        .filter(|&t| t <= 10_000)
        .ok_or("padLeft(): the length is outside 0..=10000")?;
    let pad = if c.v.len() > 2 {
        c.s(2)?.chars().next().unwrap_or(' ')
    } else {
        ' '
    };
    let have = text.chars().count();
    let mut out: String = std::iter::repeat_n(pad, total.saturating_sub(have)).collect();
    out.push_str(&text);
    Ok(Value::String(out))
}

/// Array, object and string-as-sequence functions: `concat()`, `length()`,
/// `empty()`, `contains()`, `first()`/`last()`, `take()`/`skip()`, building
/// arrays and objects, `union()`, `range()`.
fn collection(c: &Call) -> R<Value> {
    let v = c.v;
    Ok(match c.f {
        "concat" => {
            if !v.is_empty() && v.iter().all(|x| x.is_array() || x.is_null()) {
                Value::Array(
                    v.iter()
                        .flat_map(|x| x.as_array().cloned().unwrap_or_default())
                        .collect(),
                )
            } else {
                Value::String(v.iter().map(display_string).collect())
            }
        }
        "length" => {
            c.arity(1)?;
            Value::from(match &v[0] {
                Value::String(x) => x.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                other => return Err(EvalError::Invalid(format!("length() of {other}"))),
            })
        }
        "empty" => {
            c.arity(1)?;
            Value::Bool(match &v[0] {
                Value::Null => true,
                Value::String(x) => x.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            })
        }
        "contains" => {
            c.arity(2)?;
            Value::Bool(match (&v[0], &v[1]) {
                (Value::String(a), b) => a.contains(&display_string(b)),
                (Value::Array(a), b) => a.iter().any(|x| json_eq(x, b)),
                (Value::Object(o), Value::String(k)) => get_ci(o, k).is_some(),
                (a, _) => return Err(EvalError::Invalid(format!("contains() of {a}"))),
            })
        }
        "first" | "last" | "take" | "skip" => ends(c)?,
        "createarray" | "array" => {
            if c.f == "array" && v.len() == 1 && v[0].is_array() {
                v[0].clone()
            } else {
                Value::Array(v.to_vec())
            }
        }
        "createobject" => create_object(v)?,
        "union" => union(v)?,
        _ => range(c)?,
    })
}

/// `first()`, `last()`, `take()` and `skip()` of a string or an array.
fn ends(c: &Call) -> R<Value> {
    let (f, name) = (c.f, c.name);
    Ok(match f {
        "first" | "last" => {
            c.arity(1)?;
            match &c.v[0] {
                Value::String(x) => {
                    let ch = if f == "first" {
                        x.chars().next()
                    } else {
                        x.chars().last()
                    };
                    Value::String(ch.map(String::from).unwrap_or_default())
                }
                Value::Array(a) => {
                    let x = if f == "first" { a.first() } else { a.last() };
                    x.cloned().unwrap_or(Value::Null)
                }
                other => return Err(EvalError::Invalid(format!("{name}() of {other}"))),
            }
        }
        _ => {
            c.arity(2)?;
            let k = usize::try_from(c.n(1)?.max(0)).unwrap_or(0);
            match &c.v[0] {
                Value::String(x) => Value::String(if f == "take" {
                    x.chars().take(k).collect()
                } else {
                    x.chars().skip(k).collect()
                }),
                Value::Array(a) => Value::Array(if f == "take" {
                    a.iter().take(k).cloned().collect()
                } else {
                    a.iter().skip(k).cloned().collect()
                }),
                other => return Err(EvalError::Invalid(format!("{name}() of {other}"))),
            }
        }
    })
}

/// `createObject(key, value, ...)`.
fn create_object(v: &[Value]) -> R<Value> {
    if v.chunks(2).any(|kv| kv.len() != 2) {
        return Err("createObject() takes key/value pairs".into());
    }
    let mut m = Map::new();
    for kv in v.chunks(2) {
        m.insert(display_string(&kv[0]), kv[1].clone());
    }
    Ok(Value::Object(m))
}

/// `union()` of objects (later keys win) or of arrays (without repeats).
fn union(v: &[Value]) -> R<Value> {
    if v.iter().all(Value::is_object) {
        let mut m = Map::new();
        for o in v.iter().filter_map(Value::as_object) {
            for (k, x) in o {
                m.insert(k.clone(), x.clone());
            }
        }
        Ok(Value::Object(m))
    } else if v.iter().all(Value::is_array) {
        let mut out: Vec<Value> = Vec::new();
        for x in v.iter().filter_map(Value::as_array).flatten() {
            if !out.iter().any(|y| json_eq(x, y)) {
                out.push(x.clone());
            }
        }
        Ok(Value::Array(out))
    } else {
        Err("union() takes objects or arrays".into())
    }
}

/// `range(start, count)`, the count at most 10000.
fn range(c: &Call) -> R<Value> {
    c.arity(2)?;
    let (start, count) = (c.n(0)?, c.n(1)?);
    if !(0..=10_000).contains(&count) {
        return Err(EvalError::Invalid(format!(
            "range(): count {count} is outside 0..=10000"
        )));
    }
    let end = start
        .checked_add(count)
        .ok_or("range(): the end overflows")?;
    Ok(Value::Array((start..end).map(Value::from).collect()))
}

/// Comparison, logic and arithmetic: `equals()`, `not()`, `less()` and the
/// other orderings, `add()` ... `mod()` (checked), `min()`/`max()`.
fn numeric_logical(c: &Call) -> R<Value> {
    let (f, name, v) = (c.f, c.name, c.v);
    Ok(match f {
        "equals" => {
            c.arity(2)?;
            Value::Bool(json_eq(&v[0], &v[1]))
        }
        "not" => {
            c.arity(1)?;
            Value::Bool(!to_bool(&v[0])?)
        }
        "less" | "lessorequals" | "greater" | "greaterorequals" => {
            c.arity(2)?;
            let ord = match (&v[0], &v[1]) {
                (Value::String(a), Value::String(b)) => a.cmp(b),
                (a, b) => to_int(a)?.cmp(&to_int(b)?),
            };
            use std::cmp::Ordering::*;
            Value::Bool(match f {
                "less" => ord == Less,
                "lessorequals" => ord != Greater,
                "greater" => ord == Greater,
                _ => ord != Less,
            })
        }
        "min" | "max" => {
            let nums: Vec<i64> = match v {
                [Value::Array(a)] => a.iter().map(to_int).collect::<R<_>>()?,
                _ => v.iter().map(to_int).collect::<R<_>>()?,
            };
            let r = if f == "min" {
                nums.iter().min()
            } else {
                nums.iter().max()
            };
            Value::from(*r.ok_or_else(|| EvalError::Invalid(format!("{name}() of nothing")))?)
        }
        _ => {
            c.arity(2)?;
            let (a, b) = (c.n(0)?, c.n(1)?);
            let r = match f {
                "add" => a.checked_add(b),
                "sub" => a.checked_sub(b),
                "mul" => a.checked_mul(b),
                "div" => a.checked_div(b),
                _ => a.checked_rem(b),
            };
            Value::from(r.ok_or_else(|| {
                EvalError::Invalid(format!("{name}({a}, {b}) overflows or divides by zero"))
            })?)
        }
    })
}

/// Resource IDs, and the functions whose values only a deployment knows
/// (refused, saying why), and any other function (not supported).
fn deployment(c: &Call) -> R<Value> {
    let (f, name) = (c.f, c.name);
    match f {
        "resourceid" | "subscriptionresourceid" | "tenantresourceid" => {
            let strs: Vec<String> = c.v.iter().map(display_string).collect();
            Ok(Value::String(resource_id(f, &strs)?))
        }
        "reference" => Err(EvalError::DeploymentOnly("reference() reads the state of deployed resources, which an import from files cannot know".into())),
        "resourcegroup" | "subscription" | "deployment" | "environment" | "managementgroup"
        | "tenant" => Err(EvalError::DeploymentOnly(format!(
            "{name}() describes the deployment, which an import from files does not know"
        ))),
        "uniquestring" | "guid" | "newguid" | "utcnow" => Err(EvalError::DeploymentOnly(
            format!("{name}() gives a value fixed only at deployment"),
        )),
        _ if f.starts_with("list") => Err(EvalError::DeploymentOnly(format!(
            "{name}() reads the state of deployed resources, which an import from files cannot know"
        ))),
        _ => Err(EvalError::Unsupported(format!(
            "function {name}() is not supported"
        ))),
    }
}

/// ARM `resourceId()`: `[subscriptionId], [resourceGroupName], type, name...`.
pub(super) fn resource_id(f: &str, a: &[String]) -> R<String> {
    let t = a
        .iter()
        .position(|x| {
            let first = x.split('/').next().unwrap_or_default();
            x.contains('/') && first.contains('.')
        })
        .ok_or_else(|| EvalError::Invalid(format!("{f}(): no resource type among {a:?}")))?;
    let (sub, rg) = match (f, &a[..t]) {
        (_, []) => (None, None),
        ("subscriptionresourceid", [s]) => (Some(s.as_str()), None),
        (_, [g]) => (None, Some(g.as_str())),
        (_, [s, g]) => (Some(s.as_str()), Some(g.as_str())),
        _ => {
            return Err(EvalError::Invalid(format!(
                "{f}(): too many arguments before the type"
            )))
        }
    };
    let names = a[t + 1..].join("/");
    build_id(sub, rg, &a[t], &names)
}

/// A resource ID from a type (`Ns/type/child`) and a name (`name/child`).
pub fn build_id(sub: Option<&str>, rg: Option<&str>, ty: &str, name: &str) -> R<String> {
    let ty = ty.trim().trim_matches('/');
    let mut tparts = ty.split('/');
    let ns = tparts.next().unwrap_or_default();
    let types: Vec<&str> = tparts.collect();
    let names: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    if types.len() != names.len() {
        return Err(EvalError::Invalid(format!(
            "type {ty} needs {} name segment(s), got '{name}'",
            types.len()
        )));
    }
    let mut id = String::new();
    if let Some(s) = sub {
        id.push_str(&format!("/subscriptions/{s}"));
    }
    if let Some(g) = rg {
        id.push_str(&format!("/resourceGroups/{g}"));
    }
    id.push_str(&format!("/providers/{ns}"));
    for (t, n) in types.iter().zip(names) {
        id.push_str(&format!("/{t}/{n}"));
    }
    Ok(id)
}

/// .NET composite formatting as `format()` uses it: `{0}`, `{1:D3}`, `{{`.
pub(super) fn format_dotnet(fmt: &str, args: &[Value]) -> R<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut spec = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    spec.push(c);
                }
                let (idx, fmt_spec) = spec.split_once(':').unwrap_or((&spec, ""));
                let i: usize = idx.trim().parse().map_err(|_| {
                    EvalError::Invalid(format!("format(): bad placeholder {{{spec}}}"))
                })?;
                let a = args
                    .get(i)
                    .ok_or_else(|| EvalError::Invalid(format!("format(): no argument {i}")))?;
                let text = display_string(a);
                let width = fmt_spec
                    .strip_prefix(['D', 'd'])
                    .and_then(|w| w.parse::<usize>().ok())
                    .filter(|&w| w <= 100);
                match (width, a.as_i64()) {
                    (Some(w), Some(n)) if n >= 0 => out.push_str(&format!("{n:0w$}")),
                    _ => out.push_str(&text),
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A value as `concat()` and `string()` write it.
pub fn display_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

pub(super) fn to_int(v: &Value) -> R<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| EvalError::Invalid(format!("{n} is not an integer"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| EvalError::Invalid(format!("'{s}' is not an integer"))),
        other => Err(EvalError::Invalid(format!("{other} is not an integer"))),
    }
}

pub(super) fn to_bool(v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        other => Err(EvalError::Invalid(format!("{other} is not a boolean"))),
    }
}

/// Equality as `equals()` has it: numbers by value, strings exactly.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

pub(super) fn member(v: &Value, prop: &str) -> R<Value> {
    match v {
        Value::Object(m) => get_ci(m, prop)
            .cloned()
            .ok_or_else(|| EvalError::Invalid(format!("the object has no property '{prop}'"))),
        other => Err(EvalError::Invalid(format!(
            "cannot read property '{prop}' of {}",
            kind(other)
        ))),
    }
}

pub(super) fn index(v: &Value, i: &Value) -> R<Value> {
    match (v, i) {
        (Value::Array(a), i) => {
            let n = to_int(i)?;
            usize::try_from(n)
                .ok()
                .and_then(|n| a.get(n))
                .cloned()
                .ok_or_else(|| {
                    EvalError::Invalid(format!("index {n} is outside an array of {}", a.len()))
                })
        }
        (Value::Object(_), Value::String(k)) => member(v, k),
        (v, i) => Err(EvalError::Invalid(format!(
            "cannot index {} with {i}",
            kind(v)
        ))),
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A template value for a report: strings as written, others as JSON.
pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        other => format!("`{other}`"),
    }
}

pub(super) fn show_str(s: &str) -> String {
    format!("`{s}`")
}

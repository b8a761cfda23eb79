//! ARM templates: parameters (defaults, `--param` values, parameter files),
//! variables (with copy loops), the expression functions real templates use
//! for network resources, resource and property copy loops, conditions,
//! child resources and inline nested deployments.
//!
//! Expansion turns a template into the network resources it deploys, in the
//! shape Azure's API returns them (`type`, `name`, `id`, `properties`), so the
//! same reader handles templates and `az ... list` output. A value that cannot
//! be evaluated (`reference()`, a parameter without a default) is replaced by
//! an *unevaluated* marker naming the expression and the reason; the reader
//! skips whatever needs it and reports it. Nothing here guesses a value.

use super::expr::{self, Expr};
use super::NoteKind;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// The key of the marker object that stands for a value that could not be
/// evaluated: `{"$nsgUnevaluated": {"expression": "...", "error": "..."}}`.
pub const UNEVALUATED: &str = "$nsgUnevaluated";

/// The resource types the importer reads (lower case).
pub const NETWORK_TYPES: &[&str] = &[
    "microsoft.network/networksecuritygroups",
    "microsoft.network/networksecuritygroups/securityrules",
    "microsoft.network/applicationsecuritygroups",
    "microsoft.network/virtualnetworks",
    "microsoft.network/virtualnetworks/subnets",
    "microsoft.network/virtualnetworks/virtualnetworkpeerings",
    "microsoft.network/networkinterfaces",
];

const DEPLOYMENTS: &str = "microsoft.resources/deployments";

/// Most iterations of one copy loop (Azure's limit).
pub const MAX_COPY: i64 = 800;

/// The count of a copy loop, within Azure's limit.
fn copy_count(n: i64) -> R<i64> {
    if (0..=MAX_COPY).contains(&n) {
        Ok(n)
    } else {
        Err(format!("copy count {n} is outside 0..={MAX_COPY}"))
    }
}

/// The marker for a value that could not be evaluated.
pub fn unevaluated(expression: &str, error: &str) -> Value {
    let mut inner = Map::new();
    inner.insert("expression".into(), Value::String(expression.to_string()));
    inner.insert("error".into(), Value::String(error.to_string()));
    let mut m = Map::new();
    m.insert(UNEVALUATED.into(), Value::Object(inner));
    Value::Object(m)
}

/// The expression and error of an unevaluated marker.
pub fn as_unevaluated(v: &Value) -> Option<(&str, &str)> {
    let inner = v.as_object()?.get(UNEVALUATED)?;
    Some((
        inner.get("expression")?.as_str()?,
        inner.get("error")?.as_str()?,
    ))
}

/// One network resource a template deploys, materialised.
#[derive(Debug, Clone)]
pub struct Materialized {
    pub value: Value,
    /// Where it comes from: `resource Microsoft.Network/... 'name'`, with the
    /// nested deployment and copy index when there are.
    pub origin: String,
}

/// Something the expansion could not do, or chose not to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmNote {
    pub kind: NoteKind,
    pub item: String,
    pub message: String,
}

/// What expanding one template gives.
#[derive(Debug, Default)]
pub struct Expansion {
    pub resources: Vec<Materialized>,
    pub notes: Vec<ArmNote>,
    /// Parameter names the template (and its inner-scope nested templates)
    /// declares, lower case.
    pub declared: Vec<String>,
}

/// Whether a JSON document is an ARM deployment template.
pub fn is_template(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    let schema = o
        .get("$schema")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if schema.contains("deploymentparameters") {
        return false;
    }
    o.get("resources")
        .is_some_and(|r| r.is_array() || r.is_object())
        && (schema.contains("deploymenttemplate") || o.contains_key("contentVersion"))
}

/// Whether a JSON document is an ARM parameters file.
pub fn is_parameters_file(v: &Value) -> bool {
    v.get("$schema")
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains("deploymentparameters"))
}

/// The values of a parameters file: `{"parameters": {"x": {"value": ...}}}`.
pub fn parameter_file_values(v: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(Value::Object(ps)) = v.get("parameters") {
        for (k, p) in ps {
            if let Some(val) = p.get("value") {
                out.push((k.clone(), val.clone()));
            }
        }
    }
    out
}

/// Expand a template. `cli` are `--param NAME=VALUE` pairs (typed by the
/// parameter's declared type); `files` are values of parameters files (JSON).
pub fn expand(template: &Value, cli: &[(String, String)], files: &[(String, Value)]) -> Expansion {
    let mut x = Expansion::default();
    let mut values: HashMap<String, Result<Value, String>> = HashMap::new();
    let defs = template.get("parameters").and_then(Value::as_object);
    for (k, v) in files {
        values.insert(k.to_ascii_lowercase(), Ok(v.clone()));
    }
    for (k, v) in cli {
        let ty = defs
            .and_then(|d| get_ci(d, k))
            .and_then(|d| d.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        values.insert(k.to_ascii_lowercase(), typed_param(k, v, ty));
    }
    let t = Template::new(template, values);
    t.declare(&mut x.declared);
    t.resources(
        template.get("resources"),
        None,
        &Scope::default(),
        "",
        &mut x,
    );
    x
}

/// A `--param` value as the parameter's declared type.
fn typed_param(name: &str, value: &str, ty: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("--param {name}={value}: not {what}");
    match ty.to_ascii_lowercase().as_str() {
        "int" => value
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| bad("an integer")),
        "bool" => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad("true or false")),
        },
        "array" | "object" | "secureobject" => {
            serde_json::from_str(value).map_err(|e| bad(&format!("JSON ({e})")))
        }
        _ => Ok(Value::String(value.to_string())),
    }
}

/// Case-insensitive member lookup (ARM names are case-insensitive).
pub fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A copy loop the evaluation is inside.
#[derive(Debug, Clone)]
struct Loop {
    name: Option<String>,
    index: i64,
    /// A resource loop (what `copyIndex()` without a name means).
    resource: bool,
}

/// The copy loops around the value being evaluated, and whether it is an
/// identifier (a name or a resource ID).
#[derive(Debug, Clone, Default)]
struct Scope {
    loops: Vec<Loop>,
    /// Evaluating an identifier: values fixed only at deployment
    /// (`resourceGroup()`, `uniqueString()`, a parameter without a default)
    /// get placeholders such as `{resourceGroup}`, so that resources still
    /// have names and references between them still match. Never in any
    /// other field.
    ids: bool,
}

impl Scope {
    fn with(&self, l: Loop) -> Scope {
        let mut s = self.clone();
        s.loops.push(l);
        s
    }

    /// The same loops, evaluating an identifier.
    fn ids(&self) -> Scope {
        Scope {
            loops: self.loops.clone(),
            ids: true,
        }
    }

    /// No loops (variables, parameter defaults), in the same mode.
    fn top(&self) -> Scope {
        Scope {
            loops: Vec::new(),
            ids: self.ids,
        }
    }
}

/// A value during evaluation: still the template's JSON (so member access
/// need not evaluate siblings), or computed.
enum Lazy<'t> {
    Raw(&'t Value),
    Val(Value),
}

type R<T> = Result<T, String>;

/// A template with the values of its parameters.
struct Template<'t> {
    values: HashMap<String, R<Value>>,
    vars: Option<&'t Map<String, Value>>,
    defs: Option<&'t Map<String, Value>>,
    cache: RefCell<HashMap<(bool, String), R<Value>>>,
    forced: RefCell<HashMap<(bool, usize), R<Value>>>,
    stack: RefCell<Vec<String>>,
    /// Set when a placeholder stood in for a deployment value.
    placeholder: Cell<bool>,
}

impl<'t> Template<'t> {
    fn new(json: &'t Value, values: HashMap<String, R<Value>>) -> Self {
        Template {
            values,
            vars: json.get("variables").and_then(Value::as_object),
            defs: json.get("parameters").and_then(Value::as_object),
            cache: RefCell::default(),
            forced: RefCell::default(),
            stack: RefCell::default(),
            placeholder: Cell::new(false),
        }
    }

    fn declare(&self, out: &mut Vec<String>) {
        if let Some(d) = self.defs {
            out.extend(d.keys().map(|k| k.to_ascii_lowercase()));
        }
    }

    // ---- resources ------------------------------------------------------

    fn resources(
        &self,
        list: Option<&'t Value>,
        parent: Option<(&str, &str)>,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion,
    ) {
        let items: Vec<&'t Value> = match list {
            Some(Value::Array(a)) => a.iter().collect(),
            // Language version 2.0: resources as an object keyed by symbolic name.
            Some(Value::Object(m)) => m.values().collect(),
            _ => return,
        };
        for r in items {
            self.resource(r, parent, sc, prefix, x);
        }
    }

    fn resource(
        &self,
        r: &'t Value,
        parent: Option<(&str, &str)>,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion,
    ) {
        let Some(obj) = r.as_object() else { return };
        let raw_type = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        let ty = match self.eval_template_string(raw_type, &sc.ids()) {
            Ok(Value::String(s)) => s,
            _ => return,
        };
        let full_type = match parent {
            Some((pt, _)) if !ty.contains('.') => format!("{pt}/{ty}"),
            _ => ty.clone(),
        };
        let lt = full_type.to_ascii_lowercase();
        let relevant = NETWORK_TYPES.contains(&lt.as_str());
        let deployment = lt == DEPLOYMENTS;
        // Child resources of other types may hold network ones (rare); walk
        // them only under network parents and deployments.
        if !relevant && !deployment {
            return;
        }
        let raw_name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
        let what = format!("{prefix}resource {full_type} '{raw_name}'");
        match obj.get("copy") {
            Some(Value::Object(c)) => {
                let count = c
                    .get("count")
                    .ok_or_else(|| "copy has no count".to_string())
                    .and_then(|v| self.deep(v, sc))
                    .and_then(|v| to_int(&v))
                    .and_then(copy_count);
                let count = match count {
                    Ok(n) => n,
                    Err(e) => {
                        x.notes.push(ArmNote {
                            kind: NoteKind::Skipped,
                            item: what,
                            message: format!(
                                "field copy.count {}: {e}",
                                show(c.get("count").unwrap_or(&Value::Null))
                            ),
                        });
                        return;
                    }
                };
                let loop_name = c.get("name").and_then(Value::as_str).map(str::to_string);
                for i in 0..count {
                    let sc2 = sc.with(Loop {
                        name: loop_name.clone(),
                        index: i,
                        resource: true,
                    });
                    self.instance(obj, &full_type, parent, &sc2, prefix, Some(i), x);
                }
            }
            _ => self.instance(obj, &full_type, parent, sc, prefix, None, x),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn instance(
        &self,
        obj: &'t Map<String, Value>,
        full_type: &str,
        parent: Option<(&str, &str)>,
        sc: &Scope,
        prefix: &str,
        copy: Option<i64>,
        x: &mut Expansion,
    ) {
        let raw_name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
        let at = copy
            .map(|i| format!(" (copy index {i})"))
            .unwrap_or_default();
        let what = format!("{prefix}resource {full_type} '{raw_name}'{at}");
        self.placeholder.set(false);
        let name = match self.eval_template_string(raw_name, &sc.ids()) {
            Ok(v) => display_string(&v),
            Err(e) => {
                x.notes.push(ArmNote {
                    kind: NoteKind::Skipped,
                    item: what,
                    message: format!("field name {}: {e}", show_str(raw_name)),
                });
                return;
            }
        };
        let full_name = match parent {
            Some((pt, pn)) if full_type.len() > pt.len() && !name.contains('/') => {
                format!("{pn}/{name}")
            }
            _ => name.clone(),
        };
        let what = format!("{prefix}resource {full_type} '{full_name}'{at}");
        let placeholder = self.placeholder.get();
        if let Some(cond) = obj.get("condition") {
            match self.deep(cond, sc) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    x.notes.push(ArmNote {
                        kind: NoteKind::Ignored,
                        item: what,
                        message: format!(
                            "condition {} is false: not deployed, not imported",
                            show(cond)
                        ),
                    });
                    return;
                }
                Ok(v) => {
                    x.notes.push(ArmNote {
                        kind: NoteKind::Skipped,
                        item: what,
                        message: format!("field condition {}: not a boolean ({v})", show(cond)),
                    });
                    return;
                }
                Err(e) => {
                    x.notes.push(ArmNote {
                        kind: NoteKind::Skipped,
                        item: what,
                        message: format!("field condition {}: {e}", show(cond)),
                    });
                    return;
                }
            }
        }
        if placeholder {
            x.notes.push(ArmNote {
                kind: NoteKind::Renamed,
                item: what.clone(),
                message: format!(
                    "the name {} is fixed only at deployment: placeholders in braces stand in for those values (pass --param to give them)",
                    show_str(raw_name)
                ),
            });
        }
        if full_type.eq_ignore_ascii_case(DEPLOYMENTS) {
            self.deployment(obj, &full_name, sc, prefix, x);
            return;
        }
        let id = build_id(None, None, full_type, &full_name).unwrap_or_default();
        let mut out = Map::new();
        out.insert("type".into(), Value::String(full_type.to_string()));
        out.insert(
            "name".into(),
            Value::String(
                full_name
                    .rsplit('/')
                    .next()
                    .unwrap_or(&full_name)
                    .to_string(),
            ),
        );
        out.insert("id".into(), Value::String(id));
        if let Some(p) = obj.get("properties") {
            out.insert("properties".into(), self.materialize(p, sc));
        }
        x.resources.push(Materialized {
            value: Value::Object(out),
            origin: what,
        });
        if obj.get("resources").is_some() {
            self.resources(
                obj.get("resources"),
                Some((full_type, &full_name)),
                sc,
                prefix,
                x,
            );
        }
    }

    fn deployment(
        &self,
        obj: &'t Map<String, Value>,
        name: &str,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion,
    ) {
        let props = obj.get("properties");
        let inner = props.and_then(|p| p.get("template"));
        let prefix2 = format!("{prefix}deployment '{name}' > ");
        let Some(inner) = inner else {
            if let Some(link) = props.and_then(|p| p.get("templateLink")) {
                let uri = link.get("uri").map(show).unwrap_or_default();
                x.notes.push(ArmNote {
                    kind: NoteKind::Skipped,
                    item: format!("{prefix}deployment '{name}'"),
                    message: format!(
                        "linked template {uri} is not followed (import that template's file too)"
                    ),
                });
            }
            return;
        };
        let scope = props
            .and_then(|p| p.get("expressionEvaluationOptions"))
            .and_then(|o| o.get("scope"))
            .and_then(Value::as_str)
            .unwrap_or("outer");
        if scope.eq_ignore_ascii_case("inner") {
            // Its own parameters, given values computed here.
            let mut values = HashMap::new();
            if let Some(Value::Object(ps)) = props.and_then(|p| p.get("parameters")) {
                for (k, p) in ps {
                    if let Some(v) = p.get("value") {
                        values.insert(k.to_ascii_lowercase(), self.deep(v, sc));
                    } else {
                        values.insert(
                            k.to_ascii_lowercase(),
                            Err(format!("parameter '{k}' of deployment '{name}' has no value (a Key Vault reference?)")),
                        );
                    }
                }
            }
            let t = Template::new(inner, values);
            t.declare(&mut x.declared);
            t.resources(inner.get("resources"), None, &Scope::default(), &prefix2, x);
        } else {
            // Outer scope: the nested resources see this template's
            // parameters and variables.
            self.resources(inner.get("resources"), None, sc, &prefix2, x);
        }
    }

    // ---- values ----------------------------------------------------------

    /// Evaluate the JSON of a field, turning each expression that fails into
    /// an unevaluated marker.
    fn materialize(&self, v: &'t Value, sc: &Scope) -> Value {
        match v {
            Value::String(s) if expr::is_expression(s) => match self.eval_template_string(s, sc) {
                Ok(v) => v,
                Err(e) => unevaluated(s, &e),
            },
            Value::String(s) => Value::String(expr::literal(s).to_string()),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.materialize(x, sc)).collect()),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if k == "copy" && x.is_array() {
                        for l in x.as_array().into_iter().flatten() {
                            let name = l.get("name").and_then(Value::as_str).unwrap_or("copy");
                            let v = match self.property_loop(l, sc, false) {
                                Ok(items) => Value::Array(items),
                                Err(e) => {
                                    unevaluated(&show(l.get("count").unwrap_or(&Value::Null)), &e)
                                }
                            };
                            out.insert(name.to_string(), v);
                        }
                        continue;
                    }
                    let sc2 = if k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("name") {
                        sc.ids()
                    } else {
                        sc.clone()
                    };
                    out.insert(k.clone(), self.materialize(x, &sc2));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// Evaluate the JSON of a value, failing on the first expression that fails.
    fn deep(&self, v: &'t Value, sc: &Scope) -> R<Value> {
        match v {
            Value::String(s) => self.eval_template_string(s, sc),
            Value::Array(a) => a
                .iter()
                .map(|x| self.deep(x, sc))
                .collect::<R<Vec<_>>>()
                .map(Value::Array),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if k == "copy" && x.is_array() {
                        for l in x.as_array().into_iter().flatten() {
                            let name = l.get("name").and_then(Value::as_str).unwrap_or("copy");
                            out.insert(
                                name.to_string(),
                                Value::Array(self.property_loop(l, sc, true)?),
                            );
                        }
                        continue;
                    }
                    out.insert(k.clone(), self.deep(x, sc)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// A property (or variable) copy loop: `{"name", "count", "input"}`.
    fn property_loop(&self, l: &'t Value, sc: &Scope, strict: bool) -> R<Vec<Value>> {
        let name = l
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a copy loop has no name")?;
        let count = copy_count(to_int(
            &self.deep(l.get("count").ok_or("a copy loop has no count")?, sc)?,
        )?)?;
        let input = l.get("input").ok_or("a copy loop has no input")?;
        let mut out = Vec::new();
        for i in 0..count {
            let sc2 = sc.with(Loop {
                name: Some(name.to_string()),
                index: i,
                resource: false,
            });
            out.push(if strict {
                self.deep(input, &sc2)?
            } else {
                self.materialize(input, &sc2)
            });
        }
        Ok(out)
    }

    /// A template string: an expression, or a literal.
    fn eval_template_string(&self, s: &str, sc: &Scope) -> R<Value> {
        if expr::is_expression(s) {
            let e = expr::parse_template_string(s)?;
            self.eval(&e, sc)
        } else {
            Ok(Value::String(expr::literal(s).to_string()))
        }
    }

    fn eval(&self, e: &Expr, sc: &Scope) -> R<Value> {
        let l = self.lazy(e, sc)?;
        self.force(l, sc)
    }

    fn force(&self, l: Lazy<'t>, sc: &Scope) -> R<Value> {
        match l {
            Lazy::Val(v) => Ok(v),
            Lazy::Raw(r) => {
                let key = (sc.ids, r as *const Value as usize);
                if let Some(v) = self.forced.borrow().get(&key) {
                    return v.clone();
                }
                // Raw JSON comes from variables and parameter defaults, which
                // no resource copy loop reaches.
                let v = self.deep(r, &sc.top());
                self.forced.borrow_mut().insert(key, v.clone());
                v
            }
        }
    }

    /// A raw JSON node reached by member access: an expression string is
    /// evaluated, anything else stays raw.
    fn raw_node(&self, v: &'t Value, sc: &Scope) -> R<Lazy<'t>> {
        match v {
            Value::String(s) => self.eval_template_string(s, &sc.top()).map(Lazy::Val),
            _ => Ok(Lazy::Raw(v)),
        }
    }

    fn lazy(&self, e: &Expr, sc: &Scope) -> R<Lazy<'t>> {
        match e {
            Expr::Call { name, args } if name.eq_ignore_ascii_case("variables") => {
                let n = self.name_arg(name, args, sc)?;
                self.variable(&n, sc)
            }
            Expr::Call { name, args } if name.eq_ignore_ascii_case("parameters") => {
                let n = self.name_arg(name, args, sc)?;
                self.parameter(&n, sc)
            }
            Expr::Member(base, prop) => {
                let l = self.lazy(base, sc)?;
                if let Lazy::Raw(Value::Object(m)) = &l {
                    if let Some(c) = get_ci(m, prop) {
                        return self.raw_node(c, sc);
                    }
                }
                let v = self.force(l, sc)?;
                member(&v, prop).map(Lazy::Val)
            }
            Expr::Index(base, idx) => {
                let i = self.eval(idx, sc)?;
                match self.lazy(base, sc)? {
                    Lazy::Raw(Value::Array(a)) if i.is_i64() => {
                        let n = i.as_i64().unwrap_or(-1);
                        let item =
                            usize::try_from(n)
                                .ok()
                                .and_then(|n| a.get(n))
                                .ok_or_else(|| {
                                    format!("index {n} is outside an array of {}", a.len())
                                })?;
                        self.raw_node(item, sc)
                    }
                    Lazy::Raw(Value::Object(m)) if i.is_string() => {
                        let k = i.as_str().unwrap_or_default();
                        match get_ci(m, k) {
                            Some(v) => self.raw_node(v, sc),
                            None => Err(format!("the object has no property '{k}'")),
                        }
                    }
                    l => {
                        let v = self.force(l, sc)?;
                        index(&v, &i).map(Lazy::Val)
                    }
                }
            }
            _ => self.value(e, sc).map(Lazy::Val),
        }
    }

    fn name_arg(&self, f: &str, args: &[Expr], sc: &Scope) -> R<String> {
        match args {
            [a] => match self.eval(a, sc)? {
                Value::String(s) => Ok(s),
                v => Err(format!("{f}() takes a name, got {v}")),
            },
            _ => Err(format!("{f}() takes one argument")),
        }
    }

    fn variable(&self, name: &str, sc: &Scope) -> R<Lazy<'t>> {
        let key = name.to_ascii_lowercase();
        let ckey = (sc.ids, key.clone());
        if let Some(v) = self.cache.borrow().get(&ckey) {
            return v.clone().map(Lazy::Val);
        }
        let vars = self.vars;
        let raw = vars.and_then(|m| get_ci(m, name).filter(|_| !name.eq_ignore_ascii_case("copy")));
        match raw {
            Some(Value::String(s)) if expr::is_expression(s) => {
                let v = self.guarded(&key, || self.eval_template_string(s, &sc.top()));
                self.cache.borrow_mut().insert(ckey, v.clone());
                v.map(Lazy::Val)
            }
            Some(v) => self.raw_node(v, sc),
            None => {
                // A variable copy loop: "copy": [{"name": ..., "count", "input"}].
                let l = vars
                    .and_then(|m| m.get("copy"))
                    .and_then(Value::as_array)
                    .and_then(|ls| {
                        ls.iter().find(|l| {
                            l.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        })
                    });
                match l {
                    Some(l) => {
                        let v = self.guarded(&key, || {
                            self.property_loop(l, &sc.top(), true).map(Value::Array)
                        });
                        self.cache.borrow_mut().insert(ckey, v.clone());
                        v.map(Lazy::Val)
                    }
                    None => Err(format!("the template has no variable '{name}'")),
                }
            }
        }
    }

    /// Evaluate a variable, refusing a variable that needs itself.
    fn guarded(&self, key: &str, f: impl FnOnce() -> R<Value>) -> R<Value> {
        if self.stack.borrow().iter().any(|k| k == key) {
            return Err(format!("variable '{key}' refers to itself"));
        }
        self.stack.borrow_mut().push(key.to_string());
        let v = f();
        self.stack.borrow_mut().pop();
        v
    }

    fn parameter(&self, name: &str, sc: &Scope) -> R<Lazy<'t>> {
        if let Some(v) = self.values.get(&name.to_ascii_lowercase()) {
            return v.clone().map(Lazy::Val);
        }
        match self.defs.and_then(|d| get_ci(d, name)) {
            Some(def) => match def.get("defaultValue") {
                Some(d) => self.raw_node(d, sc),
                None if sc.ids => Ok(Lazy::Val(self.stand_in(&format!("{{{name}}}")))),
                None => Err(format!(
                    "parameter '{name}' has no default value (pass --param {name}=VALUE)"
                )),
            },
            None => Err(format!("the template has no parameter '{name}'")),
        }
    }

    fn copy_index(&self, args: &[Value], sc: &Scope) -> R<Value> {
        let (name, offset) = match args {
            [] => (None, 0),
            [Value::String(n)] => (Some(n.as_str()), 0),
            [Value::String(n), o] => (Some(n.as_str()), to_int(o)?),
            [o] => (None, to_int(o)?),
            _ => return Err("copyIndex() takes a loop name and an offset".into()),
        };
        let l = match name {
            Some(n) => sc
                .loops
                .iter()
                .rev()
                .find(|l| l.name.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(n))),
            None => sc
                .loops
                .iter()
                .rev()
                .find(|l| l.resource)
                .or(sc.loops.last()),
        };
        match l {
            Some(l) => l
                .index
                .checked_add(offset)
                .map(Value::from)
                .ok_or_else(|| "copyIndex(): the offset overflows".into()),
            None => Err(match name {
                Some(n) => format!("copyIndex('{n}') outside that copy loop"),
                None => "copyIndex() outside a copy loop".into(),
            }),
        }
    }

    fn value(&self, e: &Expr, sc: &Scope) -> R<Value> {
        match e {
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Int(i) => Ok(Value::from(*i)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Null => Ok(Value::Null),
            Expr::Member(..) | Expr::Index(..) => self.eval(e, sc),
            Expr::Call { name, args } => self.call(name, args, sc),
        }
    }

    fn call(&self, name: &str, args: &[Expr], sc: &Scope) -> R<Value> {
        let f = name.to_ascii_lowercase();
        // Functions that evaluate only some of their arguments.
        match f.as_str() {
            "if" => {
                let [c, a, b] = args else {
                    return Err("if() takes three arguments".into());
                };
                let c = to_bool(&self.eval(c, sc)?)?;
                return self.eval(if c { a } else { b }, sc);
            }
            "coalesce" => {
                for a in args {
                    let v = self.eval(a, sc)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                return Ok(Value::Null);
            }
            "and" | "or" => {
                let want = f == "or";
                for a in args {
                    if to_bool(&self.eval(a, sc)?)? == want {
                        return Ok(Value::Bool(want));
                    }
                }
                return Ok(Value::Bool(!want));
            }
            _ => {}
        }
        let id_args = matches!(
            f.as_str(),
            "resourceid" | "subscriptionresourceid" | "tenantresourceid"
        );
        let asc = if id_args { sc.ids() } else { sc.clone() };
        let v: Vec<Value> = args.iter().map(|a| self.eval(a, &asc)).collect::<R<_>>()?;
        if f == "copyindex" {
            return self.copy_index(&v, sc);
        }
        if sc.ids {
            if let Some(p) = self.deployment_placeholder(&f, &v) {
                return Ok(p);
            }
        }
        builtin(&f, name, &v)
    }

    /// A value that records that a placeholder was used.
    fn stand_in(&self, text: &str) -> Value {
        self.placeholder.set(true);
        Value::String(text.to_string())
    }

    /// Placeholders for deployment values inside identifiers.
    fn deployment_placeholder(&self, f: &str, args: &[Value]) -> Option<Value> {
        let v = match f {
            "resourcegroup" => serde_json::json!({
                "name": "{resourceGroup}",
                "id": "/subscriptions/{subscription}/resourceGroups/{resourceGroup}",
                "location": "{location}",
                "type": "Microsoft.Resources/resourceGroups",
            }),
            "subscription" => serde_json::json!({
                "subscriptionId": "{subscription}",
                "id": "/subscriptions/{subscription}",
                "displayName": "{subscription}",
                "tenantId": "{tenant}",
            }),
            "deployment" => serde_json::json!({ "name": "{deployment}" }),
            "uniquestring" | "guid" => {
                // Distinct per arguments, like the real functions, so that
                // different resources keep different names.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in args
                    .iter()
                    .map(display_string)
                    .collect::<Vec<_>>()
                    .join("|")
                    .bytes()
                {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                let fname = if f == "guid" { "guid" } else { "uniqueString" };
                Value::String(format!("{{{fname}-{:08x}}}", h as u32))
            }
            _ => return None,
        };
        self.placeholder.set(true);
        Some(v)
    }
}

// ---- the function library ----------------------------------------------

fn builtin(f: &str, name: &str, v: &[Value]) -> R<Value> {
    let arity = |n: usize| -> R<()> {
        if v.len() == n {
            Ok(())
        } else {
            Err(format!("{name}() takes {n} argument(s), got {}", v.len()))
        }
    };
    let s = |i: usize| -> R<&str> {
        v.get(i)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}(): argument {} is not a string", i + 1))
    };
    let n = |i: usize| -> R<i64> {
        v.get(i)
            .ok_or_else(|| format!("{name}(): missing argument {}", i + 1))
            .and_then(to_int)
    };
    Ok(match f {
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
        "format" => Value::String(format_dotnet(s(0)?, &v[1..])?),
        "string" => {
            arity(1)?;
            Value::String(display_string(&v[0]))
        }
        "int" => {
            arity(1)?;
            Value::from(n(0)?)
        }
        "bool" => {
            arity(1)?;
            Value::Bool(to_bool(&v[0])?)
        }
        "json" => {
            arity(1)?;
            serde_json::from_str(s(0)?).map_err(|e| format!("json(): {e}"))?
        }
        "tolower" => Value::String(s(0)?.to_lowercase()),
        "toupper" => Value::String(s(0)?.to_uppercase()),
        "trim" => Value::String(s(0)?.trim().to_string()),
        "equals" => {
            arity(2)?;
            Value::Bool(json_eq(&v[0], &v[1]))
        }
        "not" => {
            arity(1)?;
            Value::Bool(!to_bool(&v[0])?)
        }
        "less" | "lessorequals" | "greater" | "greaterorequals" => {
            arity(2)?;
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
        "add" | "sub" | "mul" | "div" | "mod" => {
            arity(2)?;
            let (a, b) = (n(0)?, n(1)?);
            let r = match f {
                "add" => a.checked_add(b),
                "sub" => a.checked_sub(b),
                "mul" => a.checked_mul(b),
                "div" => a.checked_div(b),
                _ => a.checked_rem(b),
            };
            Value::from(r.ok_or_else(|| format!("{name}({a}, {b}) overflows or divides by zero"))?)
        }
        "length" => {
            arity(1)?;
            Value::from(match &v[0] {
                Value::String(x) => x.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                other => return Err(format!("length() of {other}")),
            })
        }
        "empty" => {
            arity(1)?;
            Value::Bool(match &v[0] {
                Value::Null => true,
                Value::String(x) => x.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            })
        }
        "contains" => {
            arity(2)?;
            Value::Bool(match (&v[0], &v[1]) {
                (Value::String(a), b) => a.contains(&display_string(b)),
                (Value::Array(a), b) => a.iter().any(|x| json_eq(x, b)),
                (Value::Object(o), Value::String(k)) => get_ci(o, k).is_some(),
                (a, _) => return Err(format!("contains() of {a}")),
            })
        }
        "startswith" | "endswith" | "indexof" | "lastindexof" => {
            arity(2)?;
            let (a, b) = (s(0)?.to_lowercase(), s(1)?.to_lowercase());
            match f {
                "startswith" => Value::Bool(a.starts_with(&b)),
                "endswith" => Value::Bool(a.ends_with(&b)),
                "indexof" => Value::from(a.find(&b).map_or(-1, |i| i as i64)),
                _ => Value::from(a.rfind(&b).map_or(-1, |i| i as i64)),
            }
        }
        "substring" => {
            let text: Vec<char> = s(0)?.chars().collect();
            let start = usize::try_from(n(1)?).map_err(|_| "substring(): negative start")?;
            let len = if v.len() > 2 {
                usize::try_from(n(2)?).map_err(|_| "substring(): negative length")?
            } else {
                text.len().saturating_sub(start)
            };
            if start.checked_add(len).is_none_or(|end| end > text.len()) {
                return Err(format!("substring(): {start}+{len} is past the end of '{}'", s(0)?));
            }
            Value::String(text[start..start + len].iter().collect())
        }
        "replace" => {
            arity(3)?;
            Value::String(s(0)?.replace(s(1)?, s(2)?))
        }
        "split" => {
            arity(2)?;
            let text = s(0)?;
            let delims: Vec<String> = match &v[1] {
                Value::String(d) => vec![d.clone()],
                Value::Array(a) => a.iter().map(display_string).collect(),
                d => return Err(format!("split(): delimiter {d}")),
            };
            let mut parts = vec![text.to_string()];
            for d in delims.iter().filter(|d| !d.is_empty()) {
                parts = parts
                    .iter()
                    .flat_map(|p| p.split(d.as_str()).map(str::to_string).collect::<Vec<_>>())
                    .collect();
            }
            Value::Array(parts.into_iter().map(Value::String).collect())
        }
        "padleft" => {
            let text = display_string(v.first().ok_or("padLeft() takes a value")?);
            let total = usize::try_from(n(1)?)
                .ok()
                .filter(|&t| t <= 10_000)
                .ok_or("padLeft(): the length is outside 0..=10000")?;
            let pad = if v.len() > 2 { s(2)?.chars().next().unwrap_or(' ') } else { ' ' };
            let have = text.chars().count();
            let mut out: String = std::iter::repeat_n(pad, total.saturating_sub(have)).collect();
            out.push_str(&text);
            Value::String(out)
        }
        "first" | "last" => {
            arity(1)?;
            match &v[0] {
                Value::String(x) => {
                    let c = if f == "first" { x.chars().next() } else { x.chars().last() };
                    Value::String(c.map(String::from).unwrap_or_default())
                }
                Value::Array(a) => {
                    let x = if f == "first" { a.first() } else { a.last() };
                    x.cloned().unwrap_or(Value::Null)
                }
                other => return Err(format!("{name}() of {other}")),
            }
        }
        "take" | "skip" => {
            arity(2)?;
            let k = usize::try_from(n(1)?.max(0)).unwrap_or(0);
            match &v[0] {
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
                other => return Err(format!("{name}() of {other}")),
            }
        }
        "createarray" | "array" => {
            if f == "array" && v.len() == 1 && v[0].is_array() {
                v[0].clone()
            } else {
                Value::Array(v.to_vec())
            }
        }
        "createobject" => {
            if v.chunks(2).any(|kv| kv.len() != 2) {
                return Err("createObject() takes key/value pairs".into());
            }
            let mut m = Map::new();
            for kv in v.chunks(2) {
                m.insert(display_string(&kv[0]), kv[1].clone());
            }
            Value::Object(m)
        }
        "union" => {
            if v.iter().all(Value::is_object) {
                let mut m = Map::new();
                for o in v.iter().filter_map(Value::as_object) {
                    for (k, x) in o {
                        m.insert(k.clone(), x.clone());
                    }
                }
                Value::Object(m)
            } else if v.iter().all(Value::is_array) {
                let mut out: Vec<Value> = Vec::new();
                for x in v.iter().filter_map(Value::as_array).flatten() {
                    if !out.iter().any(|y| json_eq(x, y)) {
                        out.push(x.clone());
                    }
                }
                Value::Array(out)
            } else {
                return Err("union() takes objects or arrays".into());
            }
        }
        "min" | "max" => {
            let nums: Vec<i64> = match v {
                [Value::Array(a)] => a.iter().map(to_int).collect::<R<_>>()?,
                _ => v.iter().map(to_int).collect::<R<_>>()?,
            };
            let r = if f == "min" { nums.iter().min() } else { nums.iter().max() };
            Value::from(*r.ok_or_else(|| format!("{name}() of nothing"))?)
        }
        "range" => {
            arity(2)?;
            let (start, count) = (n(0)?, n(1)?);
            if !(0..=10_000).contains(&count) {
                return Err(format!("range(): count {count} is outside 0..=10000"));
            }
            let end = start
                .checked_add(count)
                .ok_or("range(): the end overflows")?;
            Value::Array((start..end).map(Value::from).collect())
        }
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        "resourceid" | "subscriptionresourceid" | "tenantresourceid" => {
            let strs: Vec<String> = v.iter().map(display_string).collect();
            Value::String(resource_id(f, &strs)?)
        }
        "reference" => return Err("reference() reads the state of deployed resources, which an import from files cannot know".into()),
        "resourcegroup" | "subscription" | "deployment" | "environment" | "managementgroup"
        | "tenant" => {
            return Err(format!("{name}() describes the deployment, which an import from files does not know"))
        }
        "uniquestring" | "guid" | "newguid" | "utcnow" => {
            return Err(format!("{name}() gives a value fixed only at deployment"))
        }
        _ if f.starts_with("list") => {
            return Err(format!("{name}() reads the state of deployed resources, which an import from files cannot know"))
        }
        _ => return Err(format!("function {name}() is not supported")),
    })
}

/// ARM `resourceId()`: `[subscriptionId], [resourceGroupName], type, name...`.
fn resource_id(f: &str, a: &[String]) -> R<String> {
    let t = a
        .iter()
        .position(|x| {
            let first = x.split('/').next().unwrap_or_default();
            x.contains('/') && first.contains('.')
        })
        .ok_or_else(|| format!("{f}(): no resource type among {a:?}"))?;
    let (sub, rg) = match (f, &a[..t]) {
        (_, []) => (None, None),
        ("subscriptionresourceid", [s]) => (Some(s.as_str()), None),
        (_, [g]) => (None, Some(g.as_str())),
        (_, [s, g]) => (Some(s.as_str()), Some(g.as_str())),
        _ => return Err(format!("{f}(): too many arguments before the type")),
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
        return Err(format!(
            "type {ty} needs {} name segment(s), got '{name}'",
            types.len()
        ));
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
fn format_dotnet(fmt: &str, args: &[Value]) -> R<String> {
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
                let i: usize = idx
                    .trim()
                    .parse()
                    .map_err(|_| format!("format(): bad placeholder {{{spec}}}"))?;
                let a = args
                    .get(i)
                    .ok_or_else(|| format!("format(): no argument {i}"))?;
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

fn to_int(v: &Value) -> R<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not an integer")),
        other => Err(format!("{other} is not an integer")),
    }
}

fn to_bool(v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        other => Err(format!("{other} is not a boolean")),
    }
}

/// Equality as `equals()` has it: numbers by value, strings exactly.
fn json_eq(a: &Value, b: &Value) -> bool {
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

fn member(v: &Value, prop: &str) -> R<Value> {
    match v {
        Value::Object(m) => get_ci(m, prop)
            .cloned()
            .ok_or_else(|| format!("the object has no property '{prop}'")),
        other => Err(format!("cannot read property '{prop}' of {}", kind(other))),
    }
}

fn index(v: &Value, i: &Value) -> R<Value> {
    match (v, i) {
        (Value::Array(a), i) => {
            let n = to_int(i)?;
            usize::try_from(n)
                .ok()
                .and_then(|n| a.get(n))
                .cloned()
                .ok_or_else(|| format!("index {n} is outside an array of {}", a.len()))
        }
        (Value::Object(_), Value::String(k)) => member(v, k),
        (v, i) => Err(format!("cannot index {} with {i}", kind(v))),
    }
}

fn kind(v: &Value) -> &'static str {
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
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        other => format!("`{other}`"),
    }
}

fn show_str(s: &str) -> String {
    format!("`{s}`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval_in(t: &Value, s: &str) -> R<Value> {
        let tpl = Template::new(t, HashMap::new());
        tpl.eval_template_string(s, &Scope::default())
    }

    fn template() -> Value {
        json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {
                "prefix": {"type": "string", "defaultValue": "web"},
                "count": {"type": "int", "defaultValue": 2},
                "noDefault": {"type": "string"},
                "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}
            },
            "variables": {
                "nsgName": "[concat(parameters('prefix'), '-nsg')]",
                "settings": {
                    "good": "10.0.0.0/16",
                    "bad": "[parameters('noDefault')]",
                    "nested": {"port": "[string(add(8000, 80))]"}
                },
                "loop": "[variables('loop')]",
                "copy": [{"name": "ports", "count": 3, "input": "[string(add(100, copyIndex('ports')))]"}]
            },
            "resources": []
        })
    }

    #[test]
    fn evaluates_the_functions_templates_use() {
        let t = template();
        let ok = |s: &str| eval_in(&t, s).unwrap();
        assert_eq!(ok("[variables('nsgName')]"), json!("web-nsg"));
        assert_eq!(ok("[toUpper(variables('nsgName'))]"), json!("WEB-NSG"));
        assert_eq!(ok("[format('{0}-{1:D3}', 'vm', 7)]"), json!("vm-007"));
        assert_eq!(ok("[int('42')]"), json!(42));
        assert_eq!(ok("[string(42)]"), json!("42"));
        assert_eq!(
            ok("[if(equals(parameters('count'), 2), 'two', reference('x'))]"),
            json!("two")
        );
        assert_eq!(ok("[json('null')]"), Value::Null);
        assert_eq!(ok("[json('{\"a\":[1,2]}').a[1]]"), json!(2));
        assert_eq!(ok("[variables('settings').nested.port]"), json!("8080"));
        assert_eq!(ok("[variables('settings')['good']]"), json!("10.0.0.0/16"));
        assert_eq!(ok("[variables('ports')]"), json!(["100", "101", "102"]));
        assert_eq!(
            ok("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]"),
            json!("/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
        );
        assert_eq!(
            ok("[resourceId('rg1', 'Microsoft.Network/networkSecurityGroups', 'n')]"),
            json!("/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/n")
        );
        assert_eq!(
            ok("[concat(createArray(1), createArray(2))]"),
            json!([1, 2])
        );
        assert_eq!(
            ok("[split('a,b;c', createArray(',', ';'))]"),
            json!(["a", "b", "c"])
        );
        assert_eq!(ok("[padLeft('7', 3, '0')]"), json!("007"));
        assert_eq!(ok("[toLower('ABC')]"), json!("abc"));
        // Overflow and huge sizes are errors, not panics or allocations.
        let err = |s: &str| eval_in(&t, s).unwrap_err();
        assert!(err("[range(9223372036854775807, 2)]").contains("overflows"));
        assert!(err("[add(9223372036854775807, 1)]").contains("overflows"));
        assert!(err("[padLeft('x', 9999999999)]").contains("outside"));
        assert_eq!(ok("[format('{0:D999999999}', 7)]"), json!("7"));
        assert_eq!(ok("[[literal]"), json!("[literal]"));
    }

    #[test]
    fn reports_what_it_cannot_evaluate() {
        let t = template();
        let err = |s: &str| eval_in(&t, s).unwrap_err();
        assert!(err("[variables('settings').bad]").contains("pass --param noDefault=VALUE"));
        assert!(err("[variables('settings')]").contains("noDefault"));
        assert!(err("[reference('x').addressPrefix]").contains("reference()"));
        assert!(err("[parameters('location')]").contains("resourceGroup()"));
        assert!(err("[variables('loop')]").contains("refers to itself"));
        assert!(err("[variables('missing')]").contains("no variable"));
        assert!(err("[uniqueString('a')]").contains("deployment"));
        assert!(err("[copyIndex()]").contains("outside a copy loop"));
    }

    proptest::proptest! {
        /// Evaluating any expression built from the functions' names and
        /// odd arguments gives a value or an error, never a panic.
        #[test]
        fn evaluation_never_panics(tokens in proptest::collection::vec(proptest::sample::select(vec![
            "concat(", "format(", "substring(", "padLeft(", "range(", "split(", "replace(",
            "take(", "skip(", "first(", "last(", "min(", "max(", "add(", "div(", "mod(",
            "int(", "string(", "json(", "if(", "equals(", "union(", "createArray(",
            "createObject(", "copyIndex(", "resourceId(", "length(", "empty(", "contains(",
            "variables('settings')", "variables('ports')", "parameters('count')",
            "'a'", "'{0}'", "'Microsoft.Network/x'", "'[1,2]'", "'null'", "0", "1", "-1",
            "9223372036854775807", "-9223372036854775808", "true", "null", "'{0:D99999999999}'",
            ",", ",", ")", ")", ")", "[0]", "[-1]", ".x", ".good",
        ]), 0..16)) {
            let t = template();
            let text = format!("[{}]", tokens.concat());
            let _ = eval_in(&t, &text);
        }
    }

    #[test]
    fn expands_copy_loops_conditions_and_child_resources() {
        let t = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"n": {"type": "int", "defaultValue": 2}, "addRdp": {"type": "string", "defaultValue": "No"}},
            "resources": [
                {
                    "type": "Microsoft.Network/networkSecurityGroups",
                    "name": "[concat('nsg', copyIndex(1))]",
                    "copy": {"name": "nsgLoop", "count": "[parameters('n')]"},
                    "properties": {
                        "copy": [{
                            "name": "securityRules",
                            "count": 2,
                            "input": {
                                "name": "[concat('r', copyIndex('securityRules'))]",
                                "properties": {"priority": "[add(100, copyIndex('securityRules'))]",
                                               "sourceAddressPrefix": "[reference('x').prefix]"}
                            }
                        }]
                    },
                    "resources": [
                        {"type": "securityRules", "name": "child", "properties": {"priority": 300}}
                    ]
                },
                {
                    "type": "Microsoft.Network/networkSecurityGroups",
                    "name": "rdp",
                    "condition": "[equals(parameters('addRdp'), 'Yes')]",
                    "properties": {}
                },
                {"type": "Microsoft.Compute/virtualMachines", "name": "[reference('vm')]"}
            ]
        });
        assert!(is_template(&t));
        let x = expand(&t, &[], &[]);
        let names: Vec<&str> = x
            .resources
            .iter()
            .map(|r| r.value["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "/providers/Microsoft.Network/networkSecurityGroups/nsg1",
                "/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/child",
                "/providers/Microsoft.Network/networkSecurityGroups/nsg2",
                "/providers/Microsoft.Network/networkSecurityGroups/nsg2/securityRules/child",
            ]
        );
        let rules = &x.resources[0].value["properties"]["securityRules"];
        assert_eq!(rules[1]["properties"]["priority"], json!(101));
        let (e, why) = as_unevaluated(&rules[1]["properties"]["sourceAddressPrefix"]).unwrap();
        assert_eq!(e, "[reference('x').prefix]");
        assert!(why.contains("reference()"));
        assert_eq!(x.notes.len(), 1, "{:?}", x.notes);
        assert!(x.notes[0].message.contains("is false"));
        assert_eq!(x.notes[0].kind, NoteKind::Ignored);
        // --param overrides the default, typed by the declaration.
        let x = expand(
            &t,
            &[("n".into(), "1".into()), ("addRdp".into(), "Yes".into())],
            &[],
        );
        assert_eq!(x.resources.len(), 3);
        assert!(x.notes.is_empty());
    }

    #[test]
    fn nested_inline_deployments() {
        let t = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"p": {"type": "string", "defaultValue": "outer"}},
            "resources": [
                {"type": "Microsoft.Resources/deployments", "name": "outerScope",
                 "properties": {"template": {"resources": [
                     {"type": "Microsoft.Network/applicationSecurityGroups", "name": "[parameters('p')]"}]}}},
                {"type": "Microsoft.Resources/deployments", "name": "innerScope",
                 "properties": {"expressionEvaluationOptions": {"scope": "inner"},
                   "parameters": {"q": {"value": "[concat(parameters('p'), '-inner')]"}},
                   "template": {"parameters": {"q": {"type": "string"}}, "resources": [
                     {"type": "Microsoft.Network/applicationSecurityGroups", "name": "[parameters('q')]"}]}}},
                {"type": "Microsoft.Resources/deployments", "name": "linked",
                 "properties": {"templateLink": {"uri": "https://example.invalid/t.json"}}}
            ]
        });
        let x = expand(&t, &[], &[]);
        let names: Vec<&str> = x
            .resources
            .iter()
            .map(|r| r.value["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["outer", "outer-inner"]);
        assert!(x.resources[1]
            .origin
            .starts_with("deployment 'innerScope' > "));
        assert_eq!(x.notes.len(), 1);
        assert!(x.notes[0].message.contains("linked template"));
    }
}

//! Evaluating a template: parameters, variables, expressions and copy loops,
//! each within the template's budget.

use super::*;

impl<'t> Template<'t> {
    pub(super) fn new(
        json: &'t Value,
        values: HashMap<String, R<Value>>,
        budget: Rc<Budget>,
    ) -> Self {
        Template {
            values,
            vars: json.get("variables").and_then(Value::as_object),
            defs: json.get("parameters").and_then(Value::as_object),
            cache: RefCell::default(),
            forced: RefCell::default(),
            stack: RefCell::default(),
            placeholder: Cell::new(false),
            budget,
            item: RefCell::default(),
            parsed: parsed::Parsed::default(),
        }
    }

    /// Whether the budget is exceeded; the first time, the template is
    /// refused naming the resource being expanded and the expression.
    pub(super) fn refused(&self, x: &mut Expansion<'_>) -> bool {
        let Some((why, expression)) = self.budget.exceeded() else {
            return false;
        };
        if x.refused.is_none() {
            let within = expression
                .map(|e| format!(" in the expression {}", show_str(&e)))
                .unwrap_or_default();
            x.refused = Some(Refused {
                item: self.item.borrow().clone(),
                message: format!("template evaluation refused{within}: {why}"),
            });
        }
        true
    }

    pub(super) fn declare(&self, out: &mut Vec<String>) {
        if let Some(d) = self.defs {
            out.extend(d.keys().map(|k| k.to_ascii_lowercase()));
        }
    }

    // ---- resources ------------------------------------------------------

    pub(super) fn resources(
        &self,
        list: Option<&'t Value>,
        parent: Option<(&str, &str)>,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion<'_>,
    ) {
        let items: Vec<&'t Value> = match list {
            Some(Value::Array(a)) => a.iter().collect(),
            // Language version 2.0: resources as an object keyed by symbolic name.
            Some(Value::Object(m)) => m.values().collect(),
            _ => return,
        };
        for r in items {
            self.resource(r, parent, sc, prefix, x);
            if self.refused(x) {
                return;
            }
        }
    }

    pub(super) fn resource(
        &self,
        r: &'t Value,
        parent: Option<(&str, &str)>,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion<'_>,
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
        self.item.replace(what.clone());
        match obj.get("copy") {
            Some(Value::Object(c)) => {
                let count = c
                    .get("count")
                    .ok_or_else(|| EvalError::Invalid("copy has no count".to_string()))
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
                    self.instance(obj, (&full_type, parent), &sc2, prefix, Some(i), x);
                    if self.refused(x) {
                        return;
                    }
                }
            }
            _ => self.instance(obj, (&full_type, parent), sc, prefix, None, x),
        }
    }

    /// One instance of a resource (the `copy`th of a copy loop, or the only
    /// one) of type `full_type`, under `parent` (type, name) if a child.
    pub(super) fn instance(
        &self,
        obj: &'t Map<String, Value>,
        (full_type, parent): (&str, Option<(&str, &str)>),
        sc: &Scope,
        prefix: &str,
        copy: Option<i64>,
        x: &mut Expansion<'_>,
    ) {
        let raw_name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
        let at = copy
            .map(|i| format!(" (copy index {i})"))
            .unwrap_or_default();
        let what = format!("{prefix}resource {full_type} '{raw_name}'{at}");
        self.item.replace(what.clone());
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
        self.item.replace(what.clone());
        let placeholder = self.placeholder.get();
        if !self.condition_holds(obj, sc, &what, x) {
            return;
        }
        if placeholder {
            x.notes.push(ArmNote {
                kind: NoteKind::Renamed,
                item: what.clone(),
                message: format!(
                    "the name {} is fixed only at deployment: placeholders (`param-NAME`, `resourcegroup`, `uniquestring-HASH`, ...) stand in for those values (pass --param to give them)",
                    show_str(raw_name)
                ),
            });
        }
        if full_type.eq_ignore_ascii_case(DEPLOYMENTS) {
            self.deployment(obj, &full_name, sc, prefix, x);
            return;
        }
        self.emit(obj, (full_type, &full_name), sc, prefix, what, x);
    }

    /// Whether a resource's `condition` (if any) holds; noted when it is
    /// false or cannot be evaluated to a boolean.
    fn condition_holds(
        &self,
        obj: &'t Map<String, Value>,
        sc: &Scope,
        what: &str,
        x: &mut Expansion<'_>,
    ) -> bool {
        let Some(cond) = obj.get("condition") else {
            return true;
        };
        let (kind, message) = match self.deep(cond, sc) {
            Ok(Value::Bool(true)) => return true,
            Ok(Value::Bool(false)) => (
                NoteKind::Ignored,
                format!(
                    "condition {} is false: not deployed, not imported",
                    show(cond)
                ),
            ),
            Ok(v) => (
                NoteKind::Skipped,
                format!("field condition {}: not a boolean ({v})", show(cond)),
            ),
            Err(e) => (
                NoteKind::Skipped,
                format!("field condition {}: {e}", show(cond)),
            ),
        };
        x.notes.push(ArmNote {
            kind,
            item: what.to_string(),
            message,
        });
        false
    }

    /// Emit a resource instance of `(full type, full name)` (type, name, ID
    /// and materialized properties), then its child resources.
    fn emit(
        &self,
        obj: &'t Map<String, Value>,
        (full_type, full_name): (&str, &str),
        sc: &Scope,
        prefix: &str,
        what: String,
        x: &mut Expansion<'_>,
    ) {
        let id = build_id(None, None, full_type, full_name).unwrap_or_default();
        let mut out = Map::new();
        out.insert("type".into(), Value::String(full_type.to_string()));
        out.insert(
            "name".into(),
            Value::String(
                full_name
                    .rsplit('/')
                    .next()
                    .unwrap_or(full_name)
                    .to_string(),
            ),
        );
        out.insert("id".into(), Value::String(id));
        if let Some(p) = obj.get("properties") {
            out.insert("properties".into(), self.materialize(p, sc));
        }
        if self.refused(x) {
            return;
        }
        x.emit(Materialized {
            value: Value::Object(out),
            origin: what,
        });
        if obj.get("resources").is_some() {
            self.resources(
                obj.get("resources"),
                Some((full_type, full_name)),
                sc,
                prefix,
                x,
            );
        }
    }

    pub(super) fn deployment(
        &self,
        obj: &'t Map<String, Value>,
        name: &str,
        sc: &Scope,
        prefix: &str,
        x: &mut Expansion<'_>,
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
                            Err(EvalError::Invalid(format!("parameter '{k}' of deployment '{name}' has no value (a Key Vault reference?)"))),
                        );
                    }
                }
            }
            let t = Template::new(inner, values, self.budget.clone());
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
    /// Once the budget is exceeded, what is left unevaluated is `null` (the
    /// template is refused anyway).
    pub(super) fn materialize(&self, v: &'t Value, sc: &Scope) -> Value {
        if self.budget.step().is_err() {
            return Value::Null;
        }
        match v {
            Value::String(s) if expr::is_expression(s) => match self.eval_template_string(s, sc) {
                Ok(v) => v,
                Err(e) => unevaluated(s, &e.to_string()),
            },
            Value::String(s) => self.literal(s).unwrap_or(Value::Null),
            Value::Array(a) => {
                let mut size = Sum::default();
                let mut out = Vec::with_capacity(a.len());
                for x in a {
                    let v = self.materialize(x, sc);
                    if size.add(&self.budget, &v).is_err() {
                        break;
                    }
                    out.push(v);
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                let mut size = Sum::default();
                let mut out = Map::new();
                for (k, x) in m {
                    if self.budget.exceeded().is_some() {
                        break;
                    }
                    if k == "copy" && x.is_array() {
                        for l in x.as_array().into_iter().flatten() {
                            let name = l.get("name").and_then(Value::as_str).unwrap_or("copy");
                            let v = match self.property_loop(l, sc, false) {
                                Ok(items) => Value::Array(items),
                                Err(e) => unevaluated(
                                    &show(l.get("count").unwrap_or(&Value::Null)),
                                    &e.to_string(),
                                ),
                            };
                            let _ = size.add(&self.budget, &v);
                            out.insert(name.to_string(), v);
                        }
                        continue;
                    }
                    let sc2 = if k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("name") {
                        sc.ids()
                    } else {
                        sc.clone()
                    };
                    let v = self.materialize(x, &sc2);
                    let _ = size.add(&self.budget, &v);
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// A literal string of the template, counted.
    pub(super) fn literal(&self, s: &str) -> R<Value> {
        let s = expr::literal(s);
        self.budget.charge(budget::string_size(s.len()) as u64)?;
        Ok(Value::String(s.to_string()))
    }

    /// Evaluate the JSON of a value, failing on the first expression that fails.
    pub(super) fn deep(&self, v: &'t Value, sc: &Scope) -> R<Value> {
        self.budget.step()?;
        match v {
            Value::String(s) => self.eval_template_string(s, sc),
            Value::Array(a) => {
                let mut size = Sum::default();
                let mut out = Vec::with_capacity(a.len());
                for x in a {
                    let v = self.deep(x, sc)?;
                    size.add(&self.budget, &v)?;
                    out.push(v);
                }
                Ok(Value::Array(out))
            }
            Value::Object(m) => {
                let mut size = Sum::default();
                let mut out = Map::new();
                for (k, x) in m {
                    if k == "copy" && x.is_array() {
                        for l in x.as_array().into_iter().flatten() {
                            let name = l.get("name").and_then(Value::as_str).unwrap_or("copy");
                            let v = Value::Array(self.property_loop(l, sc, true)?);
                            size.add(&self.budget, &v)?;
                            out.insert(name.to_string(), v);
                        }
                        continue;
                    }
                    let v = self.deep(x, sc)?;
                    size.add(&self.budget, &v)?;
                    out.insert(k.clone(), v);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// A property (or variable) copy loop: `{"name", "count", "input"}`.
    pub(super) fn property_loop(&self, l: &'t Value, sc: &Scope, strict: bool) -> R<Vec<Value>> {
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
            if self.budget.exceeded().is_some() {
                break;
            }
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
    pub(super) fn eval_template_string(&self, s: &str, sc: &Scope) -> R<Value> {
        if !expr::is_expression(s) {
            return self.literal(s);
        }
        self.eval(&*self.parsed.get(s)?, sc)
            .inspect_err(|_| self.budget.blame(s))
    }

    /// Evaluate an expression within the budget: one step, one level of
    /// nesting, and its value counted.
    pub(super) fn eval(&self, e: &Expr, sc: &Scope) -> R<Value> {
        self.budget.step()?;
        let v = self.budget.nested(|| {
            let l = self.lazy(e, sc)?;
            self.force(l, sc)
        })?;
        self.budget.produced(&v)?;
        Ok(v)
    }

    pub(super) fn force(&self, l: Lazy<'t>, sc: &Scope) -> R<Value> {
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
    pub(super) fn raw_node(&self, v: &'t Value, sc: &Scope) -> R<Lazy<'t>> {
        match v {
            Value::String(s) => self.eval_template_string(s, &sc.top()).map(Lazy::Val),
            _ => Ok(Lazy::Raw(v)),
        }
    }

    pub(super) fn lazy(&self, e: &Expr, sc: &Scope) -> R<Lazy<'t>> {
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
                            None => Err(EvalError::Invalid(format!(
                                "the object has no property '{k}'"
                            ))),
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

    pub(super) fn name_arg(&self, f: &str, args: &[Expr], sc: &Scope) -> R<String> {
        match args {
            [a] => match self.eval(a, sc)? {
                Value::String(s) => Ok(s),
                v => Err(EvalError::Invalid(format!("{f}() takes a name, got {v}"))),
            },
            _ => Err(EvalError::Invalid(format!("{f}() takes one argument"))),
        }
    }

    pub(super) fn variable(&self, name: &str, sc: &Scope) -> R<Lazy<'t>> {
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
                    None => Err(EvalError::Invalid(format!(
                        "the template has no variable '{name}'"
                    ))),
                }
            }
        }
    }

    /// Evaluate a variable, refusing a variable that needs itself.
    pub(super) fn guarded(&self, key: &str, f: impl FnOnce() -> R<Value>) -> R<Value> {
        if self.stack.borrow().iter().any(|k| k == key) {
            return Err(EvalError::Invalid(format!(
                "variable '{key}' refers to itself"
            )));
        }
        self.stack.borrow_mut().push(key.to_string());
        let v = f();
        self.stack.borrow_mut().pop();
        v
    }

    pub(super) fn parameter(&self, name: &str, sc: &Scope) -> R<Lazy<'t>> {
        if let Some(v) = self.values.get(&name.to_ascii_lowercase()) {
            return v.clone().map(Lazy::Val);
        }
        match self.defs.and_then(|d| get_ci(d, name)) {
            Some(def) => match def.get("defaultValue") {
                Some(d) => self.raw_node(d, sc),
                None if sc.ids => Ok(Lazy::Val(self.stand_in(&format!("param-{name}")))),
                None => Err(EvalError::Invalid(format!(
                    "parameter '{name}' has no default value (pass --param {name}=VALUE)"
                ))),
            },
            None => Err(EvalError::Invalid(format!(
                "the template has no parameter '{name}'"
            ))),
        }
    }

    pub(super) fn copy_index(&self, args: &[Value], sc: &Scope) -> R<Value> {
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
            None => Err(EvalError::Invalid(match name {
                Some(n) => format!("copyIndex('{n}') outside that copy loop"),
                None => "copyIndex() outside a copy loop".into(),
            })),
        }
    }

    pub(super) fn value(&self, e: &Expr, sc: &Scope) -> R<Value> {
        match e {
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Int(i) => Ok(Value::from(*i)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Null => Ok(Value::Null),
            Expr::Member(..) | Expr::Index(..) => self.eval(e, sc),
            Expr::Call { name, args } => self.call(name, args, sc),
        }
    }

    pub(super) fn call(&self, name: &str, args: &[Expr], sc: &Scope) -> R<Value> {
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
        let asc = if id_args { &sc.ids() } else { sc };
        let v: Vec<Value> = args.iter().map(|a| self.eval(a, asc)).collect::<R<_>>()?;
        if f == "copyindex" {
            return self.copy_index(&v, sc);
        }
        if sc.ids {
            if let Some(p) = self.deployment_placeholder(&f, &v) {
                return Ok(p);
            }
        }
        builtin(&f, name, &v, &self.budget)
    }

    /// A value that records that a placeholder was used.
    pub(super) fn stand_in(&self, text: &str) -> Value {
        self.placeholder.set(true);
        Value::String(text.to_string())
    }

    /// Placeholders for deployment values inside identifiers.
    pub(super) fn deployment_placeholder(&self, f: &str, args: &[Value]) -> Option<Value> {
        let v = match f {
            "resourcegroup" => serde_json::json!({
                "name": "resourcegroup",
                "id": "/subscriptions/subscription/resourceGroups/resourcegroup",
                "location": "location",
                "type": "Microsoft.Resources/resourceGroups",
            }),
            "subscription" => serde_json::json!({
                "subscriptionId": "subscription",
                "id": "/subscriptions/subscription",
                "displayName": "subscription",
                "tenantId": "tenant",
            }),
            "deployment" => serde_json::json!({ "name": "deployment" }),
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
                let fname = if f == "guid" { "guid" } else { "uniquestring" };
                Value::String(format!("{fname}-{:08x}", h as u32))
            }
            _ => return None,
        };
        self.placeholder.set(true);
        Some(v)
    }
}

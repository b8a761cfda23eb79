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
use budget::Budget;
pub use error::EvalError;
use error::R;
use functions::*;
pub use functions::{build_id, display_string};

pub mod budget;
mod error;
mod functions;
mod parsed;
mod template;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

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
        Err(EvalError::Invalid(format!(
            "copy count {n} is outside 0..={MAX_COPY}"
        )))
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
    /// The resource as the importer reads it: `type`, `name`, `id` and the evaluated `properties`.
    pub value: Value,
    /// Where it comes from: `resource Microsoft.Network/... 'name'`, with the
    /// nested deployment and copy index when there are.
    pub origin: String,
}

/// Something the expansion could not do, or chose not to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmNote {
    /// Whether the resource was skipped, ignored or renamed.
    pub kind: NoteKind,
    /// The resource (with its deployment path) the note is about.
    pub item: String,
    /// What was not taken as written, and why.
    pub message: String,
}

/// What expanding one template gives.
#[derive(Default)]
pub struct Expansion<'s> {
    /// The resources, unless a sink takes each as it is materialised.
    pub resources: Vec<Materialized>,
    /// What the expansion did not take as written, in template order.
    pub notes: Vec<ArmNote>,
    /// Parameter names the template (and its inner-scope nested templates)
    /// declares, lower case.
    pub declared: Vec<String>,
    /// Set when the evaluation ran past its [`budget`]: the template is
    /// refused as a whole, and `resources` holds only what came before.
    pub refused: Option<Refused>,
    sink: Option<&'s mut dyn FnMut(Materialized)>,
}

impl Expansion<'_> {
    fn emit(&mut self, m: Materialized) {
        match &mut self.sink {
            Some(f) => f(m),
            None => self.resources.push(m),
        }
    }
}

/// A template refused for running past its evaluation budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The resource being expanded.
    pub item: String,
    /// Which limit, in which expression.
    pub message: String,
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
pub fn expand(
    template: &Value,
    cli: &[(String, String)],
    files: &[(String, Value)],
) -> Expansion<'static> {
    expand_each(template, cli, files, None)
}

/// [`expand`], giving each resource to `sink` as soon as it is materialised
/// (so that a large template's resources are not all held at once).
pub fn expand_each<'s>(
    template: &Value,
    cli: &[(String, String)],
    files: &[(String, Value)],
    sink: Option<&'s mut dyn FnMut(Materialized)>,
) -> Expansion<'s> {
    let mut x = Expansion {
        sink,
        ..Expansion::default()
    };
    let mut values: HashMap<String, R<Value>> = HashMap::new();
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
    let t = Template::new(template, values, Rc::default());
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
fn typed_param(name: &str, value: &str, ty: &str) -> R<Value> {
    let bad = |what: &str| EvalError::Invalid(format!("--param {name}={value}: not {what}"));
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
    /// Shared with the inline templates nested in this one.
    budget: Rc<Budget>,
    /// The resource being expanded, for a refusal.
    item: RefCell<String>,
    parsed: parsed::Parsed,
}

/// The size of a value being built from parts, within the budget's limit
/// per value.
#[derive(Default)]
struct Sum(usize);

impl Sum {
    fn add(&mut self, b: &Budget, part: &Value) -> R<()> {
        self.0 = self.0.saturating_add(b.measure(part)?);
        b.will_build("a value built from template JSON", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval_in(t: &Value, s: &str) -> R<Value> {
        let tpl = Template::new(t, HashMap::new(), Rc::default());
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
        let err = |s: &str| eval_in(&t, s).unwrap_err().to_string();
        assert!(err("[range(9223372036854775807, 2)]").contains("overflows"));
        assert!(err("[add(9223372036854775807, 1)]").contains("overflows"));
        assert!(err("[padLeft('x', 9999999999)]").contains("outside"));
        assert_eq!(ok("[format('{0:D999999999}', 7)]"), json!("7"));
        assert_eq!(ok("[[literal]"), json!("[literal]"));
    }

    #[test]
    fn reports_what_it_cannot_evaluate() {
        let t = template();
        let err = |s: &str| eval_in(&t, s).unwrap_err().to_string();
        assert!(err("[variables('settings').bad]").contains("pass --param noDefault=VALUE"));
        assert!(err("[variables('settings')]").contains("noDefault"));
        assert!(err("[reference('x').addressPrefix]").contains("reference()"));
        assert!(err("[parameters('location')]").contains("resourceGroup()"));
        assert!(err("[variables('loop')]").contains("refers to itself"));
        assert!(err("[variables('missing')]").contains("no variable"));
        assert!(err("[uniqueString('a')]").contains("deployment"));
        assert!(err("[copyIndex()]").contains("outside a copy loop"));
    }

    #[test]
    fn errors_say_what_kind_of_failure_they_are() {
        let t = template();
        let kind = |s: &str| match eval_in(&t, s).unwrap_err() {
            EvalError::OverBudget(_) => "over budget",
            EvalError::DeploymentOnly(_) => "deployment only",
            EvalError::Unsupported(_) => "unsupported",
            EvalError::Syntax(_) => "syntax",
            EvalError::Invalid(_) => "invalid",
        };
        assert_eq!(kind("[concat('a']"), "syntax");
        assert_eq!(kind("[reference('x').addressPrefix]"), "deployment only");
        assert_eq!(kind("[uniqueString('a')]"), "deployment only");
        assert_eq!(kind("[listKeys('x', '2020-01-01')]"), "deployment only");
        assert_eq!(kind("[noSuchFunction(1)]"), "unsupported");
        assert_eq!(kind("[add(9223372036854775807, 1)]"), "invalid");
        assert_eq!(kind("[variables('missing')]"), "invalid");
        let e = eval_in(&t, "[noSuchFunction(1)]").unwrap_err();
        assert_eq!(e.to_string(), "function noSuchFunction() is not supported");
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

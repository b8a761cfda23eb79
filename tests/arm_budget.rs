//! ARM templates that would make the evaluation allocate without bound are
//! refused within a small memory limit, naming the file, the resource and the
//! expression; a large template within ARM's limits still imports.
//!
//! Each command runs under an address-space limit (RLIMIT_AS), so going past
//! the memory bound fails the test (the allocation fails and the process
//! aborts) rather than only slowing it down.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// The address space the refusals must fit in.
const REFUSAL_AS: u64 = 256 << 20;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-arm-budget-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn template(variables: Value, resources: Value) -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "variables": variables,
        "resources": resources,
    })
}

fn nsg(name: &str, properties: Value) -> Value {
    json!({"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-04-01",
           "name": name, "location": "westeurope", "properties": properties})
}

fn write(d: &Path, name: &str, v: &Value) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p
}

/// Run `nsg ARGS` with its address space limited to `limit` bytes.
fn nsg_limited(args: &[&str], limit: u64) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nsg"));
    c.args(args);
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls setrlimit, which is async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

/// Both `check` and `import` refuse the template with status 1, naming the
/// file, the resource and the expression.
fn assert_refused(path: &Path, resource: &str, expression: &str, why: &str) {
    let p = path.to_str().unwrap();
    for args in [vec!["check", p], vec!["import", p]] {
        let out = nsg_limited(&args, REFUSAL_AS);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(p), "{args:?} names the file: {err}");
        assert!(err.contains(resource), "{args:?} names the resource: {err}");
        assert!(
            err.contains(expression),
            "{args:?} names the expression: {err}"
        );
        assert!(err.contains(why), "{args:?} says why: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing imported");
    }
}

fn rule_with_description(desc: &str) -> Value {
    json!({"securityRules": [{"name": "r1", "properties": {
        "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourcePortRange": "*", "destinationPortRange": "80",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "description": desc}}]})
}

#[test]
fn pad_left_replaced_into_itself_twice_is_refused() {
    let d = dir("replace");
    let t = template(
        json!({
            "a": "[padLeft('', 10000, 'a')]",
            "b": "[replace(variables('a'), 'a', variables('a'))]",
            "c": "[replace(variables('b'), 'a', variables('b'))]",
        }),
        json!([nsg("big-nsg", rule_with_description("[variables('c')]"))]),
    );
    let p = write(&d, "replace.json", &t);
    assert!(std::fs::metadata(&p).unwrap().len() < 1024);
    assert_refused(
        &p,
        "resource Microsoft.Network/networkSecurityGroups 'big-nsg'",
        "`[replace(variables('a'), 'a', variables('a'))]`",
        "the result of replace() would be 100000032 bytes",
    );
}

#[test]
fn forty_concat_doublings_are_refused() {
    let d = dir("concat");
    let mut vars = serde_json::Map::new();
    vars.insert("s0".into(), json!("ab"));
    for i in 1..=40 {
        vars.insert(
            format!("s{i}"),
            json!(format!(
                "[concat(variables('s{0}'), variables('s{0}'))]",
                i - 1
            )),
        );
    }
    let t = template(
        Value::Object(vars),
        json!([nsg("doubling", rule_with_description("[variables('s40')]"))]),
    );
    let p = write(&d, "concat.json", &t);
    assert_refused(
        &p,
        "resource Microsoft.Network/networkSecurityGroups 'doubling'",
        "`[concat(variables('s21'), variables('s21'))]`",
        "over the limit of 8388608 bytes per value",
    );
}

#[test]
fn thirty_levels_of_nested_object_variables_are_refused() {
    let d = dir("nested");
    let mut vars = serde_json::Map::new();
    vars.insert("o0".into(), json!({"x": "abcdefgh"}));
    for i in 1..=30 {
        let inner = format!("[variables('o{}')]", i - 1);
        vars.insert(format!("o{i}"), json!({"l": inner, "r": inner}));
    }
    let t = template(
        Value::Object(vars),
        json!([nsg(
            "nested",
            json!({"securityRules": [], "tags": "[variables('o30')]"})
        )]),
    );
    let p = write(&d, "nested.json", &t);
    assert_refused(
        &p,
        "resource Microsoft.Network/networkSecurityGroups 'nested'",
        "[variables('o1",
        "over the limit of 8388608 bytes per value",
    );
}

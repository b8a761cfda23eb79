//! An ARM template at ARM's copy limits (a copy loop of N NSGs, each with a
//! property copy loop of N security rules) imports within a memory bound
//! that grows with the number of rules.
//!
//! The commands run under an address-space limit (RLIMIT_AS): going past it
//! makes an allocation fail and the process abort, so the test fails rather
//! than only slowing down.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::json;

/// NSGs in the template, and rules in each: 40,000 rules, a few seconds in
/// the test build.
const N: usize = 200;

/// The address space allowed for N × N rules: 1.5 KiB a rule plus 64 MiB
/// for the program itself. That is the acceptance budget of the 800 × 800
/// template (640,000 rules within 1 GiB, 937.5 MiB + 64 MiB) scaled down to
/// N × N. At 200 × 200 the import needs about 60 MiB of address space in a
/// release build; before the per-rule records were slimmed and the written
/// file was read back part by part, it needed several times the limit
/// (above 1.2 GiB at 300 × 300), so the limit tells the two apart.
fn limit(rules: usize) -> u64 {
    (rules as u64) * 1536 + (64 << 20)
}

/// A template of `n` NSGs (`nsg0`..), each with `n` inbound rules `rule0`..
/// of distinct priorities 100.., destination ports 1000.. and source
/// prefixes 10.x.y.0/24, all made by ARM copy loops.
fn template(n: usize) -> String {
    let i = "copyIndex('securityRules')";
    let t = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.Network/networkSecurityGroups",
            "apiVersion": "2023-04-01",
            "name": "[concat('nsg', copyIndex())]",
            "location": "westeurope",
            "copy": {"name": "nsgs", "count": n},
            "properties": {"copy": [{
                "name": "securityRules",
                "count": n,
                "input": {
                    "name": format!("[concat('rule', {i})]"),
                    "properties": {
                        "priority": format!("[add(100, {i})]"),
                        "direction": "Inbound",
                        "access": "Allow",
                        "protocol": "Tcp",
                        "sourcePortRange": "*",
                        "destinationPortRange": format!("[string(add(1000, {i}))]"),
                        "sourceAddressPrefix": format!(
                            "[concat('10.', string(div({i}, 256)), '.', string(mod({i}, 256)), '.0/24')]"
                        ),
                        "destinationAddressPrefix": "*",
                    }
                }
            }]}
        }]
    });
    serde_json::to_string(&t).unwrap()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-arm-large-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `nsg ARGS`, with its address space limited to `limit` bytes if given.
fn nsg(args: &[&str], limit: Option<u64>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nsg"));
    c.args(args);
    if let Some(limit) = limit {
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls setrlimit, which is async-signal-safe.
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
    }
    c.output().unwrap()
}

#[test]
fn the_generator_makes_the_template_it_says() {
    let v: serde_json::Value = serde_json::from_str(&template(3)).unwrap();
    let r = &v["resources"][0];
    assert_eq!(r["copy"]["count"], 3);
    assert_eq!(r["properties"]["copy"][0]["count"], 3);
    assert_eq!(r["properties"]["copy"][0]["name"], "securityRules");
}

#[test]
fn n_nsgs_of_n_rules_import_within_the_limit() {
    let d = dir();
    let src = d.join("large.json");
    std::fs::write(&src, template(N)).unwrap();
    let out = d.join("large.toml");
    let (s, o) = (src.to_str().unwrap(), out.to_str().unwrap());
    let lim = limit(N * N);

    let r = nsg(&["import", s, "-o", o], Some(lim));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "import: {err}");
    let summary = format!("imported {N} nsg(s) with {} rule(s)", N * N);
    assert!(err.contains(&summary), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let count = |header: &str| text.lines().filter(|l| *l == header).count();
    assert_eq!(count("[[nsg]]"), N);
    assert_eq!(count("[[nsg.rule]]"), N * N);
    let last = format!("name = \"rule{}\"\npriority = {}\n", N - 1, 100 + N - 1);
    assert_eq!(
        text.matches(&last).count(),
        N,
        "every NSG has its last rule"
    );

    // `check` of the template, under the same limit.
    let r = nsg(&["check", s], Some(lim));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(stdout.contains(&format!("nsgs     {N}\n")), "{stdout}");
    assert!(stdout.contains(&format!("rules    {} ", N * N)), "{stdout}");

    // The written file loads as a policy (no limit: this is the TOML loader).
    let r = nsg(&["check", o], None);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("rules    {} ", N * N)), "{stdout}");
    let _ = std::fs::remove_dir_all(&d);
}

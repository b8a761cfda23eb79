//! `nsg lint` end to end: text, JSON, SARIF, `--nic`, `--fail-on` exit
//! statuses, on `config/layering.toml`.

mod common;

use common::nsg;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const LAYERING: &str = "config/layering.toml";

#[test]
fn json_has_the_issue_keys_and_the_layer_conflicts() {
    let o = nsg(&["lint", LAYERING, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let f = v["findings"].as_array().expect("findings");
    assert_eq!(f.len(), 3);
    for x in f {
        for k in [
            "code",
            "severity",
            "nsg",
            "rule",
            "direction",
            "nics",
            "message",
            "covered_by",
            "witness",
            "fix",
        ] {
            assert!(x.get(k).is_some(), "{k} missing in {x}");
        }
    }
    assert_eq!(f[1]["code"], "layer-conflict");
    assert_eq!(f[1]["severity"], "warning");
    assert_eq!(f[1]["nsg"], "NSG1");
    assert_eq!(f[1]["rule"], "Allow-8080-Inbound-Internet");
    assert_eq!(f[1]["nics"], serde_json::json!(["VM1"]));
    assert_eq!(
        f[1]["denied_by"],
        serde_json::json!(["NSG2/DenyAllInBound"])
    );
    assert_eq!(f[2]["rule"], "Allow-8443-Inbound-Internet");
    assert_eq!(f[0]["code"], "exposed");
    assert_eq!(f[0]["nsg"], serde_json::Value::Null);
    // The witness is a query `nsg verify --batch` answers as claimed.
    let w = f[1]["witness"].to_string();
    let dir = std::env::temp_dir().join(format!("nsg-cli-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let q = dir.join("q.jsonl");
    std::fs::write(&q, format!("{w}\n")).unwrap();
    let o = nsg(&["verify", LAYERING, "--batch", q.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let verdict: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("verdict");
    assert_eq!(verdict["access"], "Deny");
    assert_eq!(verdict["rule"], "NSG2/DenyAllInBound");
}

#[test]
fn sarif_is_2_1_0_with_the_rules_line() {
    let o = nsg(&["lint", LAYERING, "--sarif"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("SARIF is JSON");
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "nsg");
    let ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["exposed", "layer-conflict"]);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let text = std::fs::read_to_string(LAYERING).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for r in &results[1..] {
        assert_eq!(r["ruleId"], "layer-conflict");
        assert_eq!(r["level"], "warning");
        assert!(r["message"]["text"].as_str().unwrap().contains("Fix:"));
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], LAYERING);
        let line = loc["region"]["startLine"].as_u64().expect("a line") as usize;
        assert_eq!(lines[line - 1].trim(), "[[nsg.rule]]");
        let name = r["properties"]["rule"].as_str().unwrap();
        assert_eq!(lines[line].trim(), format!("name = \"{name}\""));
    }
    // The NSG-less exposure points at the file only.
    assert!(results[0]["locations"][0]["physicalLocation"]["region"].is_null());
}

#[test]
fn text_and_nic_filter() {
    let o = nsg(&["lint", LAYERING]);
    let t = stdout(&o);
    assert!(
        t.contains("warning layer-conflict NSG1/Allow-8080-Inbound-Internet inbound"),
        "{t}"
    );
    assert!(t.contains("  denied by: NSG2/DenyAllInBound"), "{t}");
    assert!(t.contains("  fix: "), "{t}");
    let o = nsg(&["lint", LAYERING, "--nic", "VM4", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["nics"], serde_json::json!(["VM4"]));
    let o = nsg(&["lint", LAYERING, "--nic", "VM2"]);
    assert_eq!(stdout(&o), "no findings\n");
    let o = nsg(&["lint", LAYERING, "--nic", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown nic"));
}

#[test]
fn fail_on_exits_3_at_or_above_the_severity() {
    let status = |args: &[&str]| nsg(args).status.code();
    assert_eq!(status(&["lint", LAYERING, "--fail-on", "error"]), Some(3));
    assert_eq!(status(&["lint", LAYERING, "--fail-on", "note"]), Some(3));
    assert_eq!(
        status(&["lint", LAYERING, "--nic", "VM1", "--fail-on", "error"]),
        Some(0)
    );
    assert_eq!(
        status(&["lint", LAYERING, "--nic", "VM1", "--fail-on", "warning"]),
        Some(3)
    );
    assert_eq!(
        status(&["lint", "config/three-tier.toml", "--fail-on", "note"]),
        Some(0)
    );
    assert_eq!(status(&["lint", LAYERING, "--fail-on", "bad"]), Some(2));
    assert_eq!(status(&["lint", LAYERING, "--json", "--sarif"]), Some(2));
    let o = nsg(&["lint", LAYERING, "--fail-on", "error", "--json"]);
    assert!(serde_json::from_str::<serde_json::Value>(&stdout(&o)).is_ok());
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 finding(s) of severity error"));
}

//! The binary with Azure JSON: `nsg import`, JSON given as POLICY, the
//! Azure-shaped output of `effective` and `verify`, and the verdicts Azure
//! recorded (../shared/data/nsg/oracle-cases) reproduced.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn nsg(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nsg");
    let input = stdin.unwrap_or_default().to_string();
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(input.as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsg-azure-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

/// A VNet 10.0.0.0/16 with subnet `default` 10.0.0.0/24, NIC `nic1` at
/// `ip`, and NSG `nsg1` on the NIC with `rules`, as `az ... list` prints them.
fn policy_json(ip: &str, rules: &Value) -> Value {
    let sub = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";
    json!([
        {
            "id": format!("{sub}/virtualNetworks/vnet1"),
            "name": "vnet1",
            "type": "Microsoft.Network/virtualNetworks",
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"id": format!("{sub}/virtualNetworks/vnet1/subnets/default"),
                         "name": "default", "addressPrefix": "10.0.0.0/24"}]
        },
        {
            "id": format!("{sub}/networkInterfaces/nic1"),
            "name": "nic1",
            "type": "Microsoft.Network/networkInterfaces",
            "ipConfigurations": [{"name": "ipconfig1", "privateIpAddress": ip, "primary": true,
                "subnet": {"id": format!("{sub}/virtualNetworks/vnet1/subnets/default")}}],
            "networkSecurityGroup": {"id": format!("{sub}/networkSecurityGroups/nsg1")}
        },
        {
            "id": format!("{sub}/networkSecurityGroups/nsg1"),
            "name": "nsg1",
            "type": "Microsoft.Network/networkSecurityGroups",
            "securityRules": rules
        }
    ])
}

#[test]
fn ip_flow_verify_cases_recorded_by_azure() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/nsg/oracle-cases/ip-flow-verify-cases.json");
    let Ok(body) = std::fs::read_to_string(&cases) else {
        eprintln!("skipping: {} is absent", cases.display());
        return;
    };
    let doc: Value = serde_json::from_str(&body).unwrap();
    let mut asserted = 0;
    for (n, case) in doc["cases"].as_array().unwrap().iter().enumerate() {
        // (flow, expected, asserted) of the case.
        let flows: Vec<(&Value, &Value, bool)> = match case.get("flows") {
            Some(Value::Array(fs)) => fs
                .iter()
                .map(|f| (&f["flow"], &f["expected"], f["asserted"] == json!(true)))
                .collect(),
            _ if case.get("flow").is_some() => vec![(
                &case["flow"],
                &case["expected"],
                case["asserted"] == json!(true),
            )],
            // Response examples without a flow (legacy rule names): out of scope.
            _ => continue,
        };
        // The NIC's address; the PowerShell test leaves it a placeholder,
        // which its verdicts do not depend on.
        let ip = case["nic_ip"].as_str().unwrap_or("10.0.0.4");
        let rules = case.get("nsg_rules_added").cloned().unwrap_or(json!([]));
        let policy = temp(
            &format!("case{n}.json"),
            &policy_json(ip, &rules).to_string(),
        );
        let mut queries = String::new();
        for (flow, _, _) in &flows {
            let fix = |k: &str| flow[k].as_str().unwrap().replace("<nic private ip>", ip);
            queries.push_str(
                &json!({"nic": "nic1", "direction": fix("direction"), "protocol": fix("protocol"),
                        "local": fix("local"), "remote": fix("remote")})
                .to_string(),
            );
            queries.push('\n');
        }
        let out = nsg(
            &[
                "verify",
                policy.to_str().unwrap(),
                "--batch",
                "-",
                "--format",
                "azure",
            ],
            Some(&queries),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let answers: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(answers.len(), flows.len());
        for ((flow, expected, is_asserted), got) in flows.iter().zip(&answers) {
            let want = json!({"access": expected["access"], "ruleName": expected["ruleName"]});
            assert_eq!(got, &want, "case {} flow {flow}", case["id"]);
            asserted += usize::from(*is_asserted);
        }
    }
    assert_eq!(asserted, 4, "every asserted case is checked");
}

const NSG: &str = r#"{
  "name": "web-nsg",
  "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg",
  "type": "Microsoft.Network/networkSecurityGroups",
  "properties": {
    "securityRules": [
      {"name": "AllowHttp", "properties": {"protocol": "Tcp", "sourcePortRange": "*",
        "destinationPortRange": "80", "sourceAddressPrefix": "Internet",
        "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}}
    ],
    "defaultSecurityRules": []
  }
}"#;

#[test]
fn json_policy_effective_and_verify_in_azure_shape() {
    let rules: Value =
        serde_json::from_str::<Value>(NSG).unwrap()["properties"]["securityRules"].clone();
    let p = temp("web.json", &policy_json("10.0.0.4", &rules).to_string());
    let p = p.to_str().unwrap();

    let out = nsg(&["check", p], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rules    1 (plus 6 default)"));

    let out = nsg(
        &["effective", p, "--nic", "nic1", "--format", "azure"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let group = &v["value"][0];
    assert_eq!(
        group["networkSecurityGroup"]["id"],
        "/providers/Microsoft.Network/networkSecurityGroups/nsg1"
    );
    assert_eq!(
        group["association"]["networkInterface"]["id"],
        "/providers/Microsoft.Network/networkInterfaces/nic1"
    );
    let rules = group["effectiveSecurityRules"].as_array().unwrap();
    assert_eq!(rules.len(), 7);
    assert_eq!(rules[0]["name"], "securityRules/AllowHttp");
    assert_eq!(rules[0]["protocol"], "Tcp");
    assert_eq!(rules[0]["destinationPortRange"], "80-80");
    assert_eq!(rules[0]["sourcePortRanges"], json!(["0-65535"]));
    assert_eq!(rules[0]["sourceAddressPrefix"], "Internet");
    assert_eq!(rules[0]["destinationAddressPrefix"], "0.0.0.0/0");
    assert!(rules[0]["expandedSourceAddressPrefix"]
        .as_array()
        .unwrap()
        .contains(&json!("12.0.0.0/6")));
    assert_eq!(rules[0]["expandedDestinationAddressPrefix"], json!([]));
    assert_eq!(rules[1]["name"], "defaultSecurityRules/AllowVnetInBound");
    assert_eq!(rules[1]["protocol"], "All");
    assert_eq!(
        rules[1]["expandedSourceAddressPrefix"],
        json!(["10.0.0.0/16"])
    );
    assert_eq!(rules[6]["name"], "defaultSecurityRules/DenyAllOutBound");
    assert_eq!(rules[6]["direction"], "Outbound");

    let verify = |format: &str| {
        nsg(
            &[
                "verify",
                p,
                "--nic",
                "nic1",
                "--direction",
                "inbound",
                "--protocol",
                "tcp",
                "--local",
                "10.0.0.4:80",
                "--remote",
                "203.0.113.9:50000",
                "--format",
                format,
            ],
            None,
        )
    };
    let out = verify("azure");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"access":"Allow","ruleName":"securityRules/AllowHttp"}"#
    );
    // nsg's own JSON is unchanged.
    let out = verify("json");
    let v: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["rule"], "nsg1/AllowHttp");
    assert_eq!(v["layers"][0]["scope"], "nic");
    // --json and --format do not go together.
    let out = nsg(
        &[
            "effective",
            p,
            "--nic",
            "nic1",
            "--json",
            "--format",
            "azure",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn import_writes_a_policy_that_checks() {
    let nsg_file = temp("nsg-only.json", NSG);
    let out_file = nsg_file.with_file_name("imported.toml");
    let out = nsg(
        &[
            "import",
            nsg_file.to_str().unwrap(),
            "-o",
            out_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(e.contains("imported 1 nsg(s) with 1 rule(s)"), "{e}");
    assert!(
        e.contains("missing topology: nsg 'web-nsg': applied to no subnet or NIC"),
        "{e}"
    );
    let toml = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        toml.contains("[[nsg.rule]]\nname = \"AllowHttp\""),
        "{toml}"
    );
    assert!(toml.starts_with("# Imported by `nsg import`"), "{toml}");
    let out = nsg(&["check", out_file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nsgs     1"));

    // To stdout when no -o.
    let out = nsg(&["import", nsg_file.to_str().unwrap()], None);
    assert!(text(&out.stdout).contains("name = \"web-nsg\""));
}

#[test]
fn import_names_the_service_tags_file() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let template =
        base.join("nsg/arm-quickstart-templates/101-azure-bastion-nsg__azuredeploy.json");
    let tags = base.join("servicetags/ServiceTags_Public_20251028.json");
    if !template.is_file() || !tags.is_file() {
        eprintln!("skipping: {} is absent", base.display());
        return;
    }
    let out_file = temp("bastion.toml", "");
    let out = nsg(
        &[
            "import",
            template.to_str().unwrap(),
            "--service-tags",
            tags.to_str().unwrap(),
            "--param",
            "bastion-host-name=bastion1",
            "-o",
            out_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = std::fs::read_to_string(&out_file).unwrap();
    let line = toml
        .lines()
        .find(|l| l.starts_with("service_tags = "))
        .expect("names the tags file");
    assert!(
        line.ends_with("ServiceTags_Public_20251028.json\""),
        "{line}"
    );
    assert!(toml.contains("name = \"bastion1-nsg\""), "{toml}");
    let out = nsg(&["check", out_file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("rules    10"), "{s}");
    assert!(
        s.contains("tags     3039 from 1 service tags file(s)"),
        "{s}"
    );
}

#[test]
fn malformed_json_policy_is_refused_with_its_position() {
    let p = temp("broken.json", "[\n  {\"name\": \"x\",\n   \"type\": }\n]\n");
    for cmd in [
        vec!["check", p.to_str().unwrap()],
        vec!["import", p.to_str().unwrap()],
    ] {
        let out = nsg(&cmd, None);
        assert_eq!(out.status.code(), Some(1));
        let e = text(&out.stderr);
        assert!(
            e.contains(&format!("{}:3:12: malformed JSON", p.display())),
            "{e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

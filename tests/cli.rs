//! The `nsg` binary end to end: check, verify (single and batch), effective,
//! exit statuses and fault reports.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn nsg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run nsg")
}

fn nsg_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nsg");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn check_prints_a_summary() {
    let out = nsg(&["check", "config/three-tier.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("nics     4"), "{s}");
    assert!(s.contains("rules    3"), "{s}");
}

#[test]
fn check_refuses_a_broken_policy_with_every_fault() {
    let p = temp_file(
        "broken.toml",
        r#"
[[vnet]]
name = "V"
address_space = ["10.0.0.0/16"]
colour = "blue"
[[nsg]]
name = "G"
[[nsg.rule]]
name = "R"
priority = 5000
direction = "inbound"
access = "allow"
protocol = "tcp"
source = "*"
destination = "*"
destination_ports = "70000"
"#,
    );
    let out = nsg(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("vnet V: unknown key `colour`"), "{e}");
    assert!(e.contains("nsg G rule R: priority 5000"), "{e}");
    assert!(e.contains("70000"), "{e}");
    assert!(e.contains("broken.toml"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn check_reports_syntax_errors_with_position() {
    let p = temp_file(
        "syntax.toml",
        "[[vnet]]\nname = \"V\"\naddress_space = [\"10.0.0.0/16\"\n",
    );
    let out = nsg(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("syntax.toml:"), "{e}");
    assert!(e.contains("TOML syntax error"), "{e}");
}

#[test]
fn check_refuses_missing_and_binary_files() {
    let out = nsg(&["check", "/nonexistent/policy.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"));
    let p = temp_file("binary.toml", "\u{0}\u{1}\u{ff}garbage[[[");
    let out = nsg(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains("panicked"));
}

/// The command-line form of [`db_query`].
const DB_QUERY_ARGS: [&str; 12] = [
    "verify",
    "config/three-tier.toml",
    "--nic",
    "NIC4",
    "--direction",
    "inbound",
    "--protocol",
    "tcp",
    "--local",
    "10.0.2.5:1433",
    "--remote",
    "10.0.1.4:50000",
];

fn db_query() -> &'static str {
    r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.2.5:1433","remote":"10.0.1.4:50000"}"#
}

#[test]
fn verify_batch_answers_every_line_in_order() {
    let queries = [
        db_query(),
        r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.2.5:1433","remote":"10.0.2.4:50000"}"#,
        r#"{"nic":"NIC1","direction":"inbound","protocol":"TCP","local":"10.0.1.4:80","remote":"8.8.8.8:50000"}"#,
        "not json",
        r#"{"nic":"NIC9","direction":"inbound","protocol":"tcp","local":"10.0.2.5:1433","remote":"10.0.1.4:50000"}"#,
        r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.2.5","remote":"10.0.1.4:50000"}"#,
        r#"{"nic":"NIC4","direction":"inbound","protocol":"icmp","local":"10.0.2.5:1","remote":"10.0.1.4"}"#,
        r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.2.5:1433","remote":"[fd00:10:0:1::4]:5"}"#,
        r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.1.4:1433","remote":"10.0.1.5:5"}"#,
        r#"{"nic":"NIC1","direction":"outbound","protocol":"udp","local":"10.0.1.4:5000","remote":"168.63.129.16:53"}"#,
        r#"{"nic":"NIC1","direction":"inbound","protocol":"tcp","local":"[fd00:10:0:1::4]:80","remote":"[2603:1000::1]:40000"}"#,
        r#"{"nic":"nic4","direction":"Inbound","protocol":1,"local":"10.0.2.5","remote":"10.0.1.4"}"#,
    ];
    let path = temp_file("queries.jsonl", &(queries.join("\n") + "\n"));
    let out = nsg(&[
        "verify",
        "config/three-tier.toml",
        "--batch",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each answer is JSON"))
        .collect();
    assert_eq!(lines.len(), queries.len());
    assert_eq!(
        lines[0],
        serde_json::json!({"access":"Deny","rule":"NSG1/Deny-Database-All","layers":[
            {"scope":"subnet","nsg":"NSG1","rule":"Deny-Database-All","access":"Deny"}]})
    );
    assert_eq!(lines[1]["access"], "Allow");
    assert_eq!(lines[1]["rule"], "NSG1/Allow-Database-BusinessLogic");
    assert_eq!(lines[2]["rule"], "NSG1/Allow-HTTP-Inbound-Internet");
    for i in [3, 4, 5, 6, 7, 8] {
        assert!(
            lines[i]["error"].is_string(),
            "line {i} should be an error: {}",
            lines[i]
        );
    }
    assert!(lines[4]["error"].as_str().unwrap().contains("NIC9"));
    assert!(lines[7]["error"].as_str().unwrap().contains("famil"));
    assert!(lines[8]["error"]
        .as_str()
        .unwrap()
        .contains("not an IP of nic"));
    assert_eq!(
        lines[9],
        serde_json::json!({"access":"Allow","rule":"platform/AzurePlatformDNS","layers":[]})
    );
    assert_eq!(lines[10]["rule"], "NSG1/Allow-HTTP-Inbound-Internet");
    assert_eq!(lines[11]["rule"], "NSG1/AllowVnetInBound");
}

#[test]
fn verify_batch_reads_stdin_and_single_matches_batch() {
    let out = nsg_stdin(
        &["verify", "config/three-tier.toml", "--batch", "-"],
        &format!("{}\n", db_query()),
    );
    assert!(out.status.success());
    let batch: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let out = nsg(&[DB_QUERY_ARGS.as_slice(), &["--json"]].concat());
    // A Deny verdict is not a failure.
    assert!(out.status.success());
    let single: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(single, batch);
    let out = nsg(&DB_QUERY_ARGS);
    let s = text(&out.stdout);
    assert!(s.starts_with("Deny by NSG1/Deny-Database-All"), "{s}");
}

#[test]
fn verify_single_refuses_a_bad_query() {
    let out = nsg(&[
        "verify",
        "config/three-tier.toml",
        "--nic",
        "NIC4",
        "--direction",
        "inbound",
        "--protocol",
        "tcp",
        "--local",
        "10.0.2.5",
        "--remote",
        "10.0.1.4:50000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("port"));
}

#[test]
fn effective_lists_both_layers_expanded() {
    let out = nsg(&[
        "effective",
        "config/three-tier.toml",
        "--nic",
        "NIC4",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let rules = v["rules"].as_array().unwrap();
    // NSG1 on the subnet only: 3 user rules inbound + 6 defaults.
    assert_eq!(rules.len(), 9);
    assert_eq!(rules[0]["name"], "Allow-HTTP-Inbound-Internet");
    assert_eq!(
        rules[2]["destination_expanded"],
        serde_json::json!(["10.0.2.5/32", "fd00:10:0:2::5/128"])
    );
    let internet = rules
        .iter()
        .find(|r| r["name"] == "AllowInternetOutBound")
        .unwrap();
    let nets: Vec<&str> = internet["destination_expanded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(nets.contains(&"11.0.0.0/8"));
    assert!(!nets.iter().any(|n| n.starts_with("10.")));
    let out = nsg(&["effective", "config/three-tier.toml", "--nic", "NIC4"]);
    assert!(text(&out.stdout).contains("Deny-Database-All"));
    let out = nsg(&["effective", "config/three-tier.toml", "--nic", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("NIC1"));
}

#[test]
fn every_command_has_help() {
    for cmd in ["check", "verify", "effective"] {
        let out = nsg(&[cmd, "--help"]);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("--service-tags"), "{cmd}");
    }
}

#[test]
fn run_refuses_bad_port_bindings_before_opening_anything() {
    for (args, expect) in [
        (
            vec!["--port", "NIC9=tap:nsgx0"],
            "bound to NIC 'NIC9', which the policy does not have",
        ),
        (
            vec!["--port", "NIC1"],
            "expected NIC=tap:NAME or NIC=if:NAME",
        ),
        (
            vec!["--port", "NIC1=veth:x"],
            "expected tap:NAME or if:NAME",
        ),
        (
            vec!["--port", "NIC1=tap:nsgx0", "--port", "NIC1=tap:nsgx1"],
            "NIC 'NIC1' is bound to two ports",
        ),
        (
            vec!["--port", "NIC1=tap:nsgx0", "--port", "NIC2=tap:nsgx0"],
            "port nsgx0 is given twice",
        ),
        (
            vec!["--port", "NIC1=tap:a-name-much-too-long"],
            "1 to 15 characters",
        ),
    ] {
        let mut a = vec!["run", "config/three-tier.toml"];
        a.extend(args);
        let out = nsg(&a);
        assert!(!out.status.success(), "{a:?}");
        let err = text(&out.stderr);
        assert!(err.contains(expect), "{a:?}: {err}");
    }
}

#[test]
fn verify_batch_answers_every_line_whatever_it_holds() {
    let dir = std::env::temp_dir().join(format!("nsg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mixed.jsonl");
    let mut input = Vec::new();
    input.extend_from_slice(db_query().as_bytes());
    input.extend_from_slice(b"\n\n \t \n");
    input.extend_from_slice(b"{\"nic\":\"NIC4\xff\xfe\"}\n");
    input.extend(std::iter::repeat_n(b'x', 2 << 20));
    input.extend_from_slice(b"\nnot json\n");
    // The last line has no newline: it is still a line.
    input.extend_from_slice(db_query().as_bytes());
    std::fs::write(&path, &input).unwrap();
    let out = nsg(&[
        "verify",
        "config/three-tier.toml",
        "--batch",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{lines:?}");
    for i in [0, 6] {
        assert_eq!(lines[i]["access"], "Deny", "{}", lines[i]);
        assert_eq!(lines[i]["rule"], "NSG1/Deny-Database-All", "{}", lines[i]);
    }
    let error = |i: usize| lines[i]["error"].as_str().unwrap_or_default().to_string();
    assert_eq!(error(1), "empty line");
    assert_eq!(error(2), "empty line");
    assert!(error(3).contains("not UTF-8"), "{}", lines[3]);
    assert!(error(4).contains(&(2u64 << 20).to_string()), "{}", lines[4]);
    assert!(error(5).contains("JSON"), "{}", lines[5]);
    // An empty file answers nothing.
    let empty = temp_file("empty.jsonl", "");
    let out = nsg(&[
        "verify",
        "config/three-tier.toml",
        "--batch",
        empty.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"");
}

#[test]
fn run_names_the_nic_the_port_and_the_value_when_a_port_cannot_open() {
    // An interface that does not exist fails the same way as any user.
    let out = nsg(&[
        "run",
        "config/three-tier.toml",
        "--port",
        "NIC1=if:nosuchif0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("NIC1 (port if:nosuchif0): this host has no interface named 'nosuchif0'"),
        "{err}"
    );
    let out = nsg(&[
        "run",
        "config/three-tier.toml",
        "--port",
        "NIC1=if:lo",
        "--uplink",
        "if:nosuchif1",
    ]);
    let err = text(&out.stderr);
    assert!(
        err.contains("uplink (port if:nosuchif1): this host has no interface named 'nosuchif1'"),
        "{err}"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn run_names_the_tap_and_the_mac_it_cannot_set() {
    if !is_root() {
        eprintln!("skipped: opening TAPs needs root");
        return;
    }
    // `lo` is no TAP: creating a TAP of that name fails.
    let out = nsg(&["run", "config/three-tier.toml", "--port", "NIC1=tap:lo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("NIC1 (port tap:lo): cannot open queue 1 of 1 of TAP lo through /dev/net/tun"),
        "{err}"
    );
    // A multicast address cannot be a TAP's: the message names it.
    let name = format!("nsgmac{}", std::process::id() % 10_000);
    let spec = nsg_dataplane::port::PortSpec::Tap(name.clone());
    let mac = [0x03, 0x00, 0x0a, 0x00, 0x01, 0x04];
    let e = match nsg_dataplane::port::open(&spec, 1, Some(mac), false, Default::default()) {
        Ok(_) => panic!("a multicast MAC was taken"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        e,
        format!(
            "port tap:{name}: cannot set MAC 03:00:0a:00:01:04 on {name}: {}",
            std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)
        )
    );
}

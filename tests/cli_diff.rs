//! `nsg diff` end to end on the `config/` policies against edited copies:
//! JSON shape, text, "no change", `--fail-on` exit statuses, `--nic`.

use serde_json::Value;
use std::path::PathBuf;
mod common;

use common::nsg;
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const LAYERING: &str = "config/layering.toml";

fn layering() -> String {
    std::fs::read_to_string(format!("{}/{LAYERING}", env!("CARGO_MANIFEST_DIR")))
        .expect("config/layering.toml")
}

/// `contents` written to a temporary file named after `tag`, one file per
/// call: tests run in parallel and a file rewritten while another test's
/// `nsg` reads it would be read cut.
fn edited(tag: &str, contents: &str) -> String {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nsg-cli-diff-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join("policy.toml");
    std::fs::write(&path, contents).expect("write policy");
    path.to_string_lossy().into_owned()
}

/// Layering with NSG2's 8443 rule opening 22 instead.
fn ssh_instead_of_8443() -> String {
    let t = layering();
    assert!(t.contains("destination_ports = 8443"));
    edited(
        "ssh",
        &t.replace("destination_ports = 8443", "destination_ports = 22"),
    )
}

/// Layering with NSG1's 8080 rule denying instead of allowing.
fn deny_8080() -> String {
    let t = layering();
    let at = t
        .find("name = \"Allow-8080-Inbound-Internet\"")
        .expect("8080 rule");
    let (head, tail) = t.split_at(at);
    let tail = tail.replacen("access = \"allow\"", "access = \"deny\"", 1);
    edited("deny8080", &format!("{head}{tail}"))
}

/// Layering with one more NIC, VM5, with no NSG on its path.
fn with_vm5() -> String {
    let nic = "[[nic]]\nname = \"VM5\"\nsubnet = \"Subnet3\"\nips = [\"10.1.3.5\"]\n\n";
    edited("vm5", &format!("{nic}{}", layering()))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn json_boxes_have_the_issues_shape() {
    let new = ssh_instead_of_8443();
    let o = nsg(&["diff", LAYERING, &new, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = json(&o);
    assert_eq!(v["nics_only_in_old"], serde_json::json!([]));
    assert_eq!(v["nics_only_in_new"], serde_json::json!([]));
    let changes = v["changes"].as_array().expect("changes");
    // VM1's subnet NSG denies both 8443 and 22 first; only VM3 changes.
    assert_eq!(changes.len(), 2, "{v}");
    let opened = changes
        .iter()
        .find(|c| c["to"] == "Allow")
        .expect("a box to Allow");
    for (k, want) in [
        ("nic", "VM3"),
        ("direction", "inbound"),
        ("from", "Deny"),
        ("old_rule", "NSG2/DenyAllInBound"),
        ("new_rule", "NSG2/Allow-8443-Inbound-Internet"),
    ] {
        assert_eq!(opened[k], want, "{k} in {opened}");
    }
    assert_eq!(opened["destination"], serde_json::json!(["10.1.2.4/32"]));
    assert_eq!(opened["protocols"], serde_json::json!(["6"]));
    assert_eq!(opened["source_ports"], serde_json::json!(["0-65535"]));
    assert_eq!(opened["destination_ports"], serde_json::json!(["22"]));
    let src: Vec<&str> = opened["source"]
        .as_array()
        .expect("source list")
        .iter()
        .map(|s| s.as_str().expect("CIDR string"))
        .collect();
    assert!(src.contains(&"1.0.0.0/8"), "{src:?}");
    assert!(
        src.iter().all(|s| s.contains('/') && !s.contains(':')),
        "{src:?}"
    );
    let closed = changes
        .iter()
        .find(|c| c["to"] == "Deny")
        .expect("a box to Deny");
    assert_eq!(closed["destination_ports"], serde_json::json!(["8443"]));
    assert_eq!(closed["old_rule"], "NSG2/Allow-8443-Inbound-Internet");
}

#[test]
fn portless_boxes_have_null_ports() {
    let rule = "\n[[nsg.rule]]\nname = \"Allow-Ping\"\npriority = 120\ndirection = \"inbound\"\naccess = \"allow\"\nprotocol = \"icmp\"\nsource = \"*\"\ndestination = \"*\"\ndestination_ports = \"*\"\n";
    let new = edited("ping", &format!("{}{rule}", layering()));
    let o = nsg(&["diff", LAYERING, &new, "--json", "--nic", "VM3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = json(&o);
    let changes = v["changes"].as_array().expect("changes");
    assert!(!changes.is_empty(), "{v}");
    for c in changes {
        // Packets the VNet and the load balancer already reached do not change.
        assert!(
            c["protocols"]
                .as_array()
                .expect("protocols")
                .contains(&"1".into()),
            "{c}"
        );
        assert!(
            !c["source"]
                .as_array()
                .expect("source")
                .contains(&"10.1.0.0/16".into()),
            "{c}"
        );
        assert!(
            c["source_ports"].is_null() && c["destination_ports"].is_null(),
            "{c}"
        );
        assert_eq!(c["new_rule"], "NSG2/Allow-Ping");
    }
}

#[test]
fn text_has_a_block_per_nic_and_direction() {
    let new = ssh_instead_of_8443();
    let o = nsg(&["diff", LAYERING, &new]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.starts_with("VM3 inbound: 2 box(es)\n"), "{out}");
    assert!(out.contains("Deny -> Allow  tcp"), "{out}");
    assert!(out.contains("dst 10.1.2.4/32 dport 22"), "{out}");
    assert!(
        out.contains("(NSG2/DenyAllInBound -> NSG2/Allow-8443-Inbound-Internet)"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[test]
fn the_same_policy_is_no_change_whatever_the_threshold() {
    for extra in [
        &[][..],
        &["--fail-on", "any"],
        &["--fail-on", "newly-allowed"],
    ] {
        let mut args = vec!["diff", LAYERING, "config/layering.toml"];
        args.extend_from_slice(extra);
        let o = nsg(&args);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "no change\n");
    }
    let o = nsg(&["diff", LAYERING, LAYERING, "--json"]);
    assert_eq!(
        json(&o),
        serde_json::json!({"changes": [], "nics_only_in_old": [], "nics_only_in_new": []})
    );
}

#[test]
fn fail_on_newly_allowed_exits_3_only_when_new_allows_more() {
    let opened = ssh_instead_of_8443();
    let o = nsg(&["diff", LAYERING, &opened, "--fail-on", "newly-allowed"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("VM3 inbound"),
        "the answer is printed first"
    );
    let closed = deny_8080();
    let o = nsg(&["diff", LAYERING, &closed, "--fail-on", "newly-allowed"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("VM2 inbound"),
        "{}",
        text(&o.stdout)
    );
    let o = nsg(&["diff", LAYERING, &closed, "--fail-on", "any"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn nics_in_one_policy_only_are_listed_and_meet_thresholds() {
    let more = with_vm5();
    let o = nsg(&[
        "diff",
        LAYERING,
        &more,
        "--json",
        "--fail-on",
        "newly-allowed",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "VM5 has no NSG: it allows everything"
    );
    let v = json(&o);
    assert_eq!(v["nics_only_in_new"], serde_json::json!(["VM5"]));
    assert_eq!(v["changes"], serde_json::json!([]));
    let o = nsg(&[
        "diff",
        &more,
        LAYERING,
        "--json",
        "--fail-on",
        "newly-allowed",
    ]);
    assert_eq!(o.status.code(), Some(0), "a NIC removed allows nothing new");
    assert_eq!(json(&o)["nics_only_in_old"], serde_json::json!(["VM5"]));
    let o = nsg(&["diff", &more, LAYERING, "--fail-on", "any"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stdout).contains("VM5: only in OLD"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn nic_filter_and_unknown_nic() {
    let new = ssh_instead_of_8443();
    let o = nsg(&["diff", LAYERING, &new, "--nic", "vm1", "--fail-on", "any"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "no change\n");
    let o = nsg(&["diff", LAYERING, &new, "--nic", "VM3", "--json"]);
    let v = json(&o);
    let changes = v["changes"].as_array().expect("changes");
    assert!(!changes.is_empty() && changes.iter().all(|c| c["nic"] == "VM3"));
    let o = nsg(&["diff", LAYERING, &new, "--nic", "VM9"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("unknown nic 'VM9'") && err.contains("VM1"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn help_says_what_diff_answers() {
    let o = nsg(&["diff", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = text(&o.stdout);
    assert!(
        h.contains("change verdict") && h.contains("--fail-on"),
        "{h}"
    );
}

#[test]
fn addresses_in_one_version_only_are_a_note_not_boxes() {
    let t = layering();
    assert!(t.contains("ips = [\"10.1.1.4\"]"));
    let new = edited(
        "ips",
        &t.replace("ips = [\"10.1.1.4\"]", "ips = [\"10.1.1.4\", \"10.1.1.6\"]"),
    );
    let o = nsg(&["diff", LAYERING, &new, "--fail-on", "any"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.starts_with("no change\n"), "{out}");
    assert!(
        out.contains("note: VM1:") && out.contains("only in NEW: 10.1.1.6"),
        "{out}"
    );
    let o = nsg(&["diff", LAYERING, &new, "--json"]);
    assert_eq!(json(&o)["changes"], serde_json::json!([]));
}

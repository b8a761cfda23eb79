//! `nsg reach` end to end on `config/three-tier.toml`: the JSON cells by
//! ASG as the policy's rules give them, the text matrix, and the SVG file.

use serde_json::{json, Value};
use std::path::PathBuf;
mod common;

use common::nsg;
use std::process::Output;

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "nsg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every protocol, every port.
fn all() -> Value {
    json!([
        {"protocols": ["6", "17"], "destination_ports": ["0-65535"]},
        {"protocols": ["0-5", "7-16", "18-255"], "destination_ports": null},
    ])
}

/// Everything but TCP and UDP 1433 (Deny-Database-All, after
/// AllowVnetInBound would have allowed it).
fn all_but_1433() -> Value {
    json!([
        {"protocols": ["6", "17"], "destination_ports": ["0-1432", "1434-65535"]},
        {"protocols": ["0-5", "7-16", "18-255"], "destination_ports": null},
    ])
}

#[test]
fn three_tier_by_asg_json_has_every_cell_as_the_rules_give_it() {
    let o = nsg(&["reach", "config/three-tier.toml", "--by", "asg", "--json"]);
    let text = stdout(&o);
    let at = |k: &str| text.find(k).unwrap_or(usize::MAX);
    assert!(at("\"from\"") < at("\"to\"") && at("\"to\"") < at("\"allowed\""));
    assert!(at("\"protocols\"") < at("\"destination_ports\""));
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let pairs = v["pairs"].as_array().expect("pairs");
    let cell = |from: &str, to: &str| -> Value {
        let p: Vec<&Value> = pairs
            .iter()
            .filter(|p| p["from"] == from && p["to"] == to)
            .collect();
        assert_eq!(p.len(), 1, "{from} -> {to} once");
        p[0]["allowed"].clone()
    };
    // Four sources (three ASGs and the Internet) by three destinations.
    assert_eq!(pairs.len(), 12);
    // Inside the VNet AllowVnetOutBound and AllowVnetInBound let all pass,
    // but port 1433 to AsgDb is for AsgLogic over TCP only.
    assert_eq!(cell("AsgWeb", "AsgWeb"), all(), "NIC1 and NIC2");
    assert_eq!(cell("AsgWeb", "AsgLogic"), all());
    assert_eq!(cell("AsgWeb", "AsgDb"), all_but_1433());
    assert_eq!(cell("AsgLogic", "AsgWeb"), all());
    assert_eq!(
        cell("AsgLogic", "AsgDb"),
        json!([
            {"protocols": ["6"], "destination_ports": ["0-65535"]},
            {"protocols": ["17"], "destination_ports": ["0-1432", "1434-65535"]},
            {"protocols": ["0-5", "7-16", "18-255"], "destination_ports": null},
        ])
    );
    assert_eq!(cell("AsgDb", "AsgWeb"), all());
    assert_eq!(cell("AsgDb", "AsgLogic"), all());
    // One member each: no pair of distinct NICs, nothing allowed.
    assert_eq!(cell("AsgLogic", "AsgLogic"), json!([]));
    assert_eq!(cell("AsgDb", "AsgDb"), json!([]));
    // The Internet reaches the web tier on TCP 80 only (DenyAllInBound).
    assert_eq!(
        cell("Internet", "AsgWeb"),
        json!([{"protocols": ["6"], "destination_ports": ["80"]}])
    );
    assert_eq!(cell("Internet", "AsgLogic"), json!([]));
    assert_eq!(cell("Internet", "AsgDb"), json!([]));
}

#[test]
fn three_tier_text_is_a_matrix() {
    let t = stdout(&nsg(&["reach", "config/three-tier.toml", "--by", "asg"]));
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "reach by asg: rows send, columns receive");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(lines[1]), ["AsgWeb", "AsgLogic", "AsgDb"]);
    assert_eq!(
        words(lines[2]),
        ["AsgWeb", "all", "all", "tcp/udp:0-1432,1434-65535", "other"]
    );
    assert_eq!(
        words(lines[3]),
        [
            "AsgLogic",
            "all",
            "-",
            "tcp:*",
            "udp:0-1432,1434-65535",
            "other"
        ]
    );
    assert_eq!(words(lines[4]), ["AsgDb", "all", "all", "-"]);
    assert_eq!(words(lines[5]), ["Internet", "tcp:80", "-", "-"]);
    assert_eq!(lines.len(), 6);
    // By NIC (the default), a NIC to itself is a blank cell.
    let t = stdout(&nsg(&["reach", "config/three-tier.toml"]));
    let nic1 = t.lines().find(|l| l.starts_with("NIC1")).expect("NIC1 row");
    assert_eq!(
        words(nic1)[1..4],
        ["all", "all", "tcp/udp:0-1432,1434-65535"]
    );
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsg-cli-reach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn svg_is_written_with_one_titled_cell_per_pair() {
    let path = temp("three-tier.svg");
    let p = path.to_str().expect("utf-8 path");
    let t = stdout(&nsg(&[
        "reach",
        "config/three-tier.toml",
        "--by",
        "asg",
        "--svg",
        p,
    ]));
    assert!(t.contains("12 cells"), "{t}");
    let svg = std::fs::read_to_string(&path).expect("SVG written");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect class=\"cell ").count(), 12);
    assert_eq!(svg.matches("</title></rect>").count(), 12);
    assert!(svg.contains("<title>Internet to AsgWeb: tcp:80</title>"));
    assert!(svg.contains("<rect class=\"cell none\""));
    assert!(svg.contains("<rect class=\"cell all\""));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_svg_that_cannot_be_written_fails_with_a_message() {
    let bad = temp("no-such-dir").join("x.svg");
    let o = nsg(&[
        "reach",
        "config/three-tier.toml",
        "--svg",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot write") && err.contains("x.svg"),
        "{err}"
    );
}

#[test]
fn json_and_svg_do_not_go_together_and_by_is_checked() {
    let o = nsg(&[
        "reach",
        "config/three-tier.toml",
        "--json",
        "--svg",
        "x.svg",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = nsg(&["reach", "config/three-tier.toml", "--by", "vnet"]);
    assert_eq!(o.status.code(), Some(2));
    let h = stdout(&nsg(&["reach", "--help"]));
    assert!(h.contains("--by") && h.contains("--svg") && h.contains("Internet"));
}

#[test]
fn a_matrix_too_wide_is_listed_pair_by_pair() {
    let mut toml = String::from(
        "[[vnet]]\nname = \"VNet\"\naddress_space = [\"10.0.0.0/16\"]\n\n\
         [[subnet]]\nname = \"S1\"\nvnet = \"VNet\"\nprefixes = [\"10.0.1.0/24\"]\n\n",
    );
    for i in 0..8 {
        toml += &format!(
            "[[nic]]\nname = \"a-rather-long-nic-name-{i}\"\nsubnet = \"S1\"\nips = [\"10.0.1.{}\"]\n\n",
            i + 4
        );
    }
    let path = temp("wide.toml");
    std::fs::write(&path, toml).expect("write policy");
    let t = stdout(&nsg(&["reach", path.to_str().unwrap()]));
    let lines: Vec<&str> = t.lines().skip(1).collect();
    // 8 x 7 NIC pairs and 8 from the Internet, one per line.
    assert_eq!(lines.len(), 64, "{t}");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        words(lines[0]),
        [
            "a-rather-long-nic-name-0",
            "->",
            "a-rather-long-nic-name-1",
            "all"
        ]
    );
    assert_eq!(
        words(lines[63]),
        ["Internet", "->", "a-rather-long-nic-name-7", "all"]
    );
    let _ = std::fs::remove_file(&path);
}

//! The one output path of every command: a full disk on stdout ends with
//! exit status 1 and a message, a closed pipe ends quietly with 141, and
//! neither panics; a closed or full stderr does not panic either.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-output-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nsg_with(args: &[String], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .expect("run nsg")
}

/// Stdout on `/dev/full`: every write fails with ENOSPC.
fn full() -> Stdio {
    Stdio::from(File::options().write(true).open("/dev/full").unwrap())
}

/// The write end of a pipe whose read end is already closed: every write
/// fails with EPIPE, whatever the timing.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // Close-on-exec, so that no child spawned meanwhile by another test
    // thread inherits the read end and keeps the pipe open.
    // SAFETY: `fds` is a valid array of two descriptors for pipe2(2) to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe(2) returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

const DB_QUERY: &str = r#"{"nic":"NIC4","direction":"inbound","protocol":"tcp","local":"10.0.2.5:1433","remote":"10.0.1.4:50000"}"#;

/// An Azure JSON policy for `import`.
fn azure_policy() -> PathBuf {
    let sub = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";
    let doc = serde_json::json!([
        {"id": format!("{sub}/virtualNetworks/vnet1"), "name": "vnet1",
         "type": "Microsoft.Network/virtualNetworks",
         "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
         "subnets": [{"id": format!("{sub}/virtualNetworks/vnet1/subnets/default"),
                      "name": "default", "addressPrefix": "10.0.0.0/24"}]},
        {"id": format!("{sub}/networkInterfaces/nic1"), "name": "nic1",
         "type": "Microsoft.Network/networkInterfaces",
         "ipConfigurations": [{"name": "ipconfig1", "privateIpAddress": "10.0.0.4",
            "subnet": {"id": format!("{sub}/virtualNetworks/vnet1/subnets/default")}}],
         "networkSecurityGroup": {"id": format!("{sub}/networkSecurityGroups/nsg1")}},
        {"id": format!("{sub}/networkSecurityGroups/nsg1"), "name": "nsg1",
         "type": "Microsoft.Network/networkSecurityGroups", "securityRules": []}
    ]);
    let p = dir().join("azure.json");
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

/// A capture of the demo's traffic, made once.
fn capture() -> PathBuf {
    static PCAP: OnceLock<PathBuf> = OnceLock::new();
    PCAP.get_or_init(|| {
        let p = dir().join("demo.pcap");
        let args = [
            "demo",
            "--workers",
            "1",
            "--write-pcap",
            p.to_str().unwrap(),
        ];
        let out = nsg_with(&args.map(String::from), Stdio::null(), Stdio::piped());
        assert!(out.status.success(), "{}", text(&out.stderr));
        p
    })
    .clone()
}

/// A batch file of `n` good queries.
fn batch_file(n: usize) -> PathBuf {
    let p = dir().join(format!("batch-{n}.jsonl"));
    let mut f = std::io::BufWriter::new(File::create(&p).unwrap());
    for _ in 0..n {
        writeln!(f, "{DB_QUERY}").unwrap();
    }
    f.flush().unwrap();
    p
}

/// One invocation of every command that writes to stdout.
fn every_command() -> Vec<Vec<String>> {
    let pcap = capture();
    let batch = batch_file(3);
    let azure = azure_policy();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        s(&["check", "config/three-tier.toml"]),
        s(&["effective", "config/three-tier.toml", "--nic", "NIC1"]),
        s(&[
            "effective",
            "config/three-tier.toml",
            "--nic",
            "NIC1",
            "--json",
        ]),
        s(&["import", azure.to_str().unwrap()]),
        s(&[
            "replay",
            "config/three-tier.toml",
            pcap.to_str().unwrap(),
            "--workers",
            "1",
        ]),
        s(&["demo", "--workers", "1"]),
        s(&[
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
        ]),
        s(&[
            "verify",
            "config/three-tier.toml",
            "--batch",
            batch.to_str().unwrap(),
        ]),
        s(&["--help"]),
    ]
}

#[test]
fn a_full_disk_fails_with_a_message_on_every_command() {
    for args in every_command() {
        let out = nsg_with(&args, full(), Stdio::piped());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("nsg: cannot write output: No space left on device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_pipe_ends_quietly_with_141_on_every_command() {
    for args in every_command() {
        let out = nsg_with(&args, closed_pipe(), Stdio::piped());
        assert_eq!(
            out.status.code(),
            Some(141),
            "{args:?}: {}",
            text(&out.stderr)
        );
        // import's notes go to stderr before its output; nothing else may.
        let err = text(&out.stderr);
        if args[0] == "import" {
            assert!(
                !err.contains("panicked") && !err.contains("cannot write"),
                "{err}"
            );
        } else {
            assert_eq!(err, "", "{args:?}");
        }
    }
}

#[test]
fn a_reader_that_stops_after_one_line_ends_the_batch_quietly() {
    // Far more than a pipe holds: the writer meets the closed pipe mid-way.
    let batch = batch_file(50_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsg"))
        .args(["verify", "config/three-tier.toml", "--batch"])
        .arg(&batch)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"access\""), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_full_stderr_does_not_panic() {
    // A fault to report, and notes, with nowhere to write them.
    let out = nsg_with(
        &["check".into(), "no-such-policy.toml".into()],
        Stdio::null(),
        full(),
    );
    assert_eq!(out.status.code(), Some(1));
    let out = nsg_with(
        &["import".into(), azure_policy().to_str().unwrap().into()],
        Stdio::null(),
        full(),
    );
    assert_eq!(out.status.code(), Some(0));
}

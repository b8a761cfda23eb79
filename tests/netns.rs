//! `nsg run` end to end with real kernel TCP/IP stacks: nsg creates one TAP
//! per NIC of config/three-tier.toml and one for the uplink; each TAP's
//! kernel side is moved into a network namespace of its own and configured
//! as Azure configures a VM (address in the subnet prefix, default gateway
//! at the subnet's first address); the "internet" namespace has a public
//! (documentation) address on the uplink. Servers and clients are sockets
//! opened by threads of this test that entered the namespaces (setns), and
//! `ping`.
//!
//! Needs root (CI is root) and `ip` (iproute2); the ping tests also `ping`
//! (iputils-ping), the hand-off test `ethtool`. Each test says why it skips
//! otherwise. Every test has its own prefix for
//! interface and namespace names, so they run in parallel; a guard removes
//! what a test created also when it fails.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const POLICY: &str = include_str!("../config/three-tier.toml");
const INTERNET_V4: &str = "203.0.113.10";
const INTERNET_V6: &str = "2001:db8::10";
const WEB: &str = "10.0.1.4";
const WEB_V6: &str = "fd00:10:0:1::4";
const LOGIC: &str = "10.0.2.4";
const DB: &str = "10.0.2.5";
const DB_V6: &str = "fd00:10:0:2::5";

/// Why this machine cannot run these tests, if it cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces and TAP devices)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("needs /dev/net/tun".into());
    }
    missing("ip", "iproute2")
}

/// Why a tool cannot be run, if it cannot.
fn missing(tool: &str, package: &str) -> Option<String> {
    let ok = Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    (!ok).then(|| format!("needs `{tool}` (Debian package {package})"))
}

macro_rules! require_root {
    () => {
        if let Some(why) = unsupported() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

macro_rules! require_ping {
    () => {
        if let Some(why) = missing("ping", "iputils-ping") {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run a command");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A host: a namespace holding the kernel side of a port.
struct Host {
    ns: String,
    ifname: String,
}

/// nsg run on the three-tier policy, its namespaces and what it printed.
/// Dropping it stops nsg and removes every namespace, interface and file.
struct Lab {
    prefix: String,
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Option<JoinHandle<String>>,
    dir: PathBuf,
    policy: PathBuf,
    hosts: Vec<Host>,
    veth: Option<String>,
}

impl Lab {
    fn ns(&self, host: &str) -> String {
        format!("nsgt-{}-{host}", self.prefix)
    }

    /// Start nsg with TAPs for NIC1, NIC2, NIC3, NIC4 and the uplink (a TAP,
    /// or a veth pair attached through AF_PACKET), then move the TAPs into
    /// namespaces.
    fn start(prefix: &str, extra: &[&str], uplink_veth: bool) -> Lab {
        let dir = std::env::temp_dir().join(format!("nsg-netns-{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = dir.join("policy.toml");
        std::fs::write(&policy, POLICY).unwrap();
        let mut lab = Lab {
            prefix: prefix.to_string(),
            child: None,
            stderr: Arc::new(Mutex::new(Vec::new())),
            stdout: None,
            dir,
            policy,
            hosts: Vec::new(),
            veth: None,
        };
        let tap = |n: &str| format!("t{prefix}{n}");
        let uplink = if uplink_veth {
            let (a, b) = (format!("v{prefix}u"), format!("v{prefix}i"));
            sh(&["ip", "link", "del", &a]);
            must(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
            lab.veth = Some(a.clone());
            format!("if:{a}")
        } else {
            format!("tap:{}", tap("up"))
        };
        lab.spawn(&tap, uplink, extra);
        lab.wait_log("running", 0, Duration::from_secs(20));
        lab.add_vms(&tap);
        lab.add_internet(&tap);
        lab
    }

    /// Run `nsg run` on the policy with the NICs on TAPs named by `tap` and
    /// the given uplink; its stderr lines are collected, its stdout kept.
    fn spawn(&mut self, tap: &dyn Fn(&str) -> String, uplink: String, extra: &[&str]) {
        let lab = self;
        let mut args: Vec<String> = vec!["run".into(), lab.policy.display().to_string()];
        for (nic, n) in [
            ("NIC1", "n1"),
            ("NIC2", "n2"),
            ("NIC3", "n3"),
            ("NIC4", "n4"),
        ] {
            args.push("--port".into());
            args.push(format!("{nic}=tap:{}", tap(n)));
        }
        args.push("--uplink".into());
        args.push(uplink);
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_nsg"))
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nsg run");
        let err = child.stderr.take().unwrap();
        let lines = lab.stderr.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
        let mut out = child.stdout.take().unwrap();
        lab.stdout = Some(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }));
        lab.child = Some(child);
    }

    /// The four VMs, each in its namespace on its NIC's TAP.
    fn add_vms(&mut self, tap: &dyn Fn(&str) -> String) {
        let lab = self;
        // The VMs.
        let vms = [
            (
                "web",
                "n1",
                "10.0.1.4/24",
                "10.0.1.1",
                "fd00:10:0:1::4/64",
                "fd00:10:0:1::1",
            ),
            (
                "web2",
                "n2",
                "10.0.1.5/24",
                "10.0.1.1",
                "fd00:10:0:1::5/64",
                "fd00:10:0:1::1",
            ),
            (
                "logic",
                "n3",
                "10.0.2.4/24",
                "10.0.2.1",
                "fd00:10:0:2::4/64",
                "fd00:10:0:2::1",
            ),
            (
                "db",
                "n4",
                "10.0.2.5/24",
                "10.0.2.1",
                "fd00:10:0:2::5/64",
                "fd00:10:0:2::1",
            ),
        ];
        for (host, n, a4, gw4, a6, gw6) in vms {
            let ns = lab.ns(host);
            lab.add_host(&ns, &tap(n));
            must(&["ip", "-n", &ns, "addr", "add", a4, "dev", &tap(n)]);
            must(&["ip", "-n", &ns, "route", "add", "default", "via", gw4]);
            must(&["ip", "-n", &ns, "addr", "add", a6, "dev", &tap(n), "nodad"]);
            must(&["ip", "-n", &ns, "-6", "route", "add", "default", "via", gw6]);
        }
    }

    /// The Internet host behind the uplink (TAP or veth peer).
    fn add_internet(&mut self, tap: &dyn Fn(&str) -> String) {
        let lab = self;
        let prefix = lab.prefix.clone();
        // The Internet: a public address, the VNet on-link behind the uplink.
        let ns = lab.ns("inet");
        let ifname = match &lab.veth {
            Some(_) => format!("v{prefix}i"),
            None => tap("up"),
        };
        lab.add_host(&ns, &ifname);
        must(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            "203.0.113.10/24",
            "dev",
            &ifname,
        ]);
        must(&[
            "ip",
            "-n",
            &ns,
            "route",
            "add",
            "10.0.0.0/16",
            "dev",
            &ifname,
        ]);
        must(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            "2001:db8::10/64",
            "dev",
            &ifname,
            "nodad",
        ]);
        must(&[
            "ip",
            "-n",
            &ns,
            "-6",
            "route",
            "add",
            "fd00:10::/48",
            "dev",
            &ifname,
        ]);
    }

    fn add_host(&mut self, ns: &str, ifname: &str) {
        sh(&["ip", "netns", "del", ns]);
        must(&["ip", "netns", "add", ns]);
        self.hosts.push(Host {
            ns: ns.to_string(),
            ifname: ifname.to_string(),
        });
        must(&["ip", "link", "set", ifname, "netns", ns]);
        must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        must(&["ip", "-n", ns, "link", "set", ifname, "up"]);
    }

    /// Wait for a log line containing `pat` among lines from `from` on;
    /// returns the index after it.
    fn wait_log(&self, pat: &str, from: usize, timeout: Duration) -> usize {
        let t0 = Instant::now();
        loop {
            {
                let l = self.stderr.lock().unwrap();
                if let Some(i) = l.iter().skip(from).position(|x| x.contains(pat)) {
                    return from + i + 1;
                }
            }
            if t0.elapsed() > timeout {
                panic!(
                    "no log line with '{pat}' in {timeout:?}; nsg said:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_len(&self) -> usize {
        self.stderr.lock().unwrap().len()
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: kill has no memory preconditions; `pid` is our child.
        unsafe { libc::kill(pid, sig) };
    }

    /// Reload with SIGHUP; wait for the line saying how it went.
    fn reload(&self, expect: &str) {
        let from = self.log_len();
        self.signal(libc::SIGHUP);
        self.wait_log(expect, from, Duration::from_secs(10));
    }

    /// Stop nsg with SIGTERM; its exit status and the counters it printed.
    fn stop(&mut self) -> String {
        let mut child = self.child.take().expect("nsg runs");
        // SAFETY: as in `signal`.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("nsg did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = self.stdout.take().unwrap().join().unwrap();
        assert!(status.success(), "nsg exited with {status}: {out}");
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for h in &self.hosts {
            // Processes left in the namespace (a ping) go first.
            if let Ok(o) = Command::new("ip").args(["netns", "pids", &h.ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    sh(&["kill", "-9", pid]);
                }
            }
            sh(&["ip", "-n", &h.ns, "link", "del", &h.ifname]);
            sh(&["ip", "netns", "del", &h.ns]);
        }
        if let Some(v) = &self.veth {
            sh(&["ip", "link", "del", v]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run `f` on a thread that entered the namespace `ns`; sockets it opens
/// live there.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on this thread only; `file` is an open namespace
        // descriptor that outlives the call.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A TCP echo server on every address of a namespace, until dropped.
struct Server {
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(ns: &str, port: u16) -> Server {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    in_ns(ns, move || {
        let l = TcpListener::bind(("::", port)).expect("bind");
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        while !s.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = c.read(&mut buf) {
                            if n == 0 || c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("server up");
    Server { stop }
}

/// Connect from a namespace; `None` when no connection in `timeout`.
fn connect(ns: &str, addr: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let ip: std::net::IpAddr = addr.parse().unwrap();
    in_ns(ns, move || {
        TcpStream::connect_timeout(&SocketAddr::new(ip, port), timeout).ok()
    })
    .join()
    .unwrap()
}

/// A round trip through an echo server.
fn echo(s: &mut TcpStream, msg: &[u8]) -> bool {
    // Generous: a round trip expected to work only waits this long on a
    // machine busy with other builds.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(msg).is_err() {
        return false;
    }
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).is_ok() && got == msg
}

const OK: Duration = Duration::from_secs(10);
const REFUSED: Duration = Duration::from_millis(1500);

fn connects(lab: &Lab, from: &str, addr: &str, port: u16) -> bool {
    match connect(&lab.ns(from), addr, port, OK) {
        Some(mut s) => echo(&mut s, b"hello through nsg"),
        None => false,
    }
}

fn refused(lab: &Lab, from: &str, addr: &str, port: u16) -> bool {
    connect(&lab.ns(from), addr, port, REFUSED).is_none()
}

fn ping(lab: &Lab, from: &str, addr: &str) -> bool {
    ping_with(lab, from, addr, &["-c", "1", "-W", "1"])
}

/// `ping` from a host's namespace with `options`; true when answered.
fn ping_with(lab: &Lab, from: &str, addr: &str, options: &[&str]) -> bool {
    let ns = lab.ns(from);
    let mut args = vec!["ip", "netns", "exec", &ns, "ping", "-n", "-q"];
    args.extend_from_slice(options);
    args.push(addr);
    sh(&args)
}

/// The Prometheus text nsg serves.
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: nsg\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// The counters row of a port in nsg's closing summary.
fn port_row(summary: &str, port: &str) -> Vec<u64> {
    let line = summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(port))
        .unwrap_or_else(|| panic!("no row for {port} in:\n{summary}"));
    line.split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect()
}

/// The three-tier policy without one of its rules.
fn without_rule(rule: &str) -> String {
    let mut parts = POLICY.split("[[nsg.rule]]");
    let mut out = parts.next().unwrap().to_string();
    for p in parts {
        if !p.contains(&format!("name = \"{rule}\"")) {
            out.push_str("[[nsg.rule]]");
            out.push_str(p);
        }
    }
    assert_ne!(out, POLICY, "rule {rule} is in the policy");
    out
}

fn assert_gone(prefix: &str) {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(
        !ns.contains(&format!("nsgt-{prefix}-")),
        "namespaces left: {ns}"
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    for pat in [format!(": t{prefix}"), format!(": v{prefix}")] {
        assert!(!links.contains(&pat), "interfaces left: {links}");
    }
}

#[test]
fn three_tier_connections_follow_the_rules() {
    require_root!();
    // Two workers: every TAP is multi-queue, and the two directions of a
    // connection may meet different workers.
    let mut lab = Lab::start("a", &["--workers", "2"], false);
    let _web = serve(&lab.ns("web"), 80);
    let _db = serve(&lab.ns("db"), 1433);
    // Allow-HTTP-Inbound-Internet, over both families.
    assert!(connects(&lab, "inet", WEB, 80), "Internet -> web:80");
    assert!(
        connects(&lab, "inet", WEB_V6, 80),
        "Internet -> web:80 (IPv6)"
    );
    // Deny-Database-All (the Internet would fall to DenyAllInBound too).
    assert!(refused(&lab, "inet", DB, 1433), "Internet -> db:1433");
    assert!(refused(&lab, "web", DB, 1433), "web -> db:1433");
    assert!(refused(&lab, "web", DB_V6, 1433), "web -> db:1433 (IPv6)");
    // Allow-Database-BusinessLogic.
    assert!(connects(&lab, "logic", DB, 1433), "logic -> db:1433");
    assert!(
        connects(&lab, "logic", DB_V6, 1433),
        "logic -> db:1433 (IPv6)"
    );
    // Two web servers in one subnet reach each other on-link.
    let _web2 = serve(&lab.ns("web2"), 8080);
    assert!(connects(&lab, "web", "10.0.1.5", 8080), "web -> web2:8080");
    let out = lab.stop();
    let n4 = port_row(&out, "tan4");
    // rx, tx, allowed, denied, ...: the database port never saw a denied
    // packet leave (they are dropped at nsg), and sent its replies.
    assert!(n4[2] > 0, "{out}");
    let up = port_row(&out, "taup");
    assert!(up[3] > 0, "denied from the Internet: {out}");
    drop(lab);
    assert_gone("a");
}

#[test]
fn ping_follows_the_icmp_rules_and_spoofing_is_dropped() {
    require_root!();
    require_ping!();
    // The uplink through AF_PACKET on a veth pair.
    let mut lab = Lab::start("b", &[], true);
    // AllowVnetInBound: ICMP inside the VNet, both families. Deny-Database-All
    // names port 1433, which ICMP (no ports) never matches.
    assert!(ping(&lab, "web", DB), "web -> db");
    assert!(ping(&lab, "web", DB_V6), "web -> db (IPv6)");
    assert!(ping(&lab, "logic", WEB), "logic -> web");
    // AllowInternetOutBound, and the reply by flow state.
    assert!(ping(&lab, "web", INTERNET_V4), "web -> Internet");
    assert!(ping(&lab, "web", INTERNET_V6), "web -> Internet (IPv6)");
    // DenyAllInBound: the Internet may not ping in.
    assert!(!ping(&lab, "inet", WEB), "Internet -> web");
    assert!(!ping(&lab, "inet", DB_V6), "Internet -> db (IPv6)");
    // A host with an on-link route to the other subnet (no gateway): its
    // ARP is answered with the gateway's address, the ping routed by IP.
    let web2 = lab.ns("web2");
    must(&[
        "ip",
        "-n",
        &web2,
        "route",
        "add",
        "10.0.2.0/24",
        "dev",
        "tbn2",
    ]);
    assert!(ping(&lab, "web2", LOGIC), "web2 -> logic on-link");
    // A source address that is not the NIC's is dropped at its port.
    let web = lab.ns("web");
    must(&[
        "ip",
        "-n",
        &web,
        "addr",
        "add",
        "10.0.1.77/24",
        "dev",
        "tbn1",
    ]);
    assert!(
        !sh(&[
            "ip",
            "netns",
            "exec",
            &web,
            "ping",
            "-n",
            "-q",
            "-c",
            "1",
            "-W",
            "1",
            "-I",
            "10.0.1.77",
            DB
        ]),
        "spoofed source"
    );
    let out = lab.stop();
    let n1 = port_row(&out, "tbn1");
    assert!(n1[4] >= 1, "spoofed count: {out}");
    drop(lab);
    assert_gone("b");
}

/// Pings of `size` bytes, fragmented both ways; true when any is answered.
fn ping_fragmented(lab: &Lab, from: &str, addr: &str, size: u16) -> bool {
    let size = size.to_string();
    ping_with(
        lab,
        from,
        addr,
        &["-c", "5", "-i", "0.2", "-W", "2", "-s", &size],
    )
}

/// A UDP datagram to a closed port of `addr`: true when the ICMP port
/// unreachable it draws comes back (the connected socket reports it).
fn udp_refused(lab: &Lab, from: &str, addr: &str, port: u16) -> bool {
    let ip: std::net::IpAddr = addr.parse().unwrap();
    in_ns(&lab.ns(from), move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.connect(SocketAddr::new(ip, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 64];
        (0..3).any(|_| {
            s.send(b"anyone?").is_ok()
                && matches!(s.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
    })
    .join()
    .unwrap()
}

/// The number after `label` in nsg's closing summary.
fn summary_count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("no '{label}' in:\n{summary}"));
    summary[at + label.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count after '{label}' in:\n{summary}"))
}

#[test]
fn two_workers_hand_replies_fragments_and_icmp_errors_to_the_owner() {
    require_root!();
    require_ping!();
    if let Some(why) = missing("ethtool", "ethtool") {
        eprintln!("skipping: {why}");
        return;
    }
    // The uplink through AF_PACKET, its frames dealt to the two workers in
    // turn: about half of what comes from the Internet lands on the worker
    // that does not own the connection. The Internet may only open TCP
    // port 80 on web, so every reply below passes by its flow's state,
    // which lives with one worker.
    let mut lab = Lab::start("h", &["--workers", "2", "--fanout", "lb"], true);
    // A veth leaves TCP and UDP checksums to the hardware it does not have
    // (AF_PACKET reads them unfilled): the Internet host fills them itself.
    must(&[
        "ip",
        "netns",
        "exec",
        &lab.ns("inet"),
        "ethtool",
        "-K",
        "vhi",
        "tx",
        "off",
    ]);
    let _server = serve(&lab.ns("inet"), 5001);
    for addr in [INTERNET_V4, INTERNET_V6] {
        let mut s =
            connect(&lab.ns("web"), addr, 5001, OK).unwrap_or_else(|| panic!("web -> {addr}:5001"));
        for round in 0..16 {
            let msg = format!("round {round} to {addr}");
            assert!(echo(&mut s, msg.as_bytes()), "{msg}");
        }
    }
    // Echo replies of 3,000 bytes come back in fragments, dealt to both
    // workers; the later fragments follow their first fragment's flow.
    assert!(
        ping_fragmented(&lab, "web", INTERNET_V4, 3000),
        "fragmented ping"
    );
    // ICMP errors: the outer source is the Internet host, the quoted
    // header names web's flow; each passes as RELATED at that flow's owner.
    for port in [7001, 7002, 7003, 7004] {
        assert!(
            udp_refused(&lab, "web", INTERNET_V4, port),
            "port unreachable for {port}"
        );
    }
    // Unrelated traffic from the Internet is still denied.
    assert!(!ping(&lab, "inet", WEB), "Internet -> web");
    let out = lab.stop();
    let handed = summary_count(&out, "handed to the worker owning their connection");
    assert!(handed > 0, "no frame was handed over:\n{out}");
    assert_eq!(
        summary_count(&out, "dropped with its inbox full"),
        0,
        "{out}"
    );
    drop(lab);
    assert_gone("h");
}

#[test]
fn a_reload_keeps_established_connections_and_refuses_new_ones() {
    require_root!();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let mut lab = Lab::start("c", &["--metrics", &metrics], false);
    let _web = serve(&lab.ns("web"), 80);
    let mut live = connect(&lab.ns("inet"), WEB, 80, OK).expect("Internet -> web:80");
    assert!(echo(&mut live, b"before the reload"));
    std::fs::write(&lab.policy, without_rule("Allow-HTTP-Inbound-Internet")).unwrap();
    lab.reload("generation=2");
    // The flow decided by the removed rule goes on (Azure keeps it).
    assert!(
        echo(&mut live, b"after the reload"),
        "established connection"
    );
    // A new one falls to DenyAllInBound.
    assert!(
        refused(&lab, "inet", WEB, 80),
        "new connection after the reload"
    );
    assert!(echo(&mut live, b"still there"));
    // Inside the VNet nothing changed.
    assert!(connects(&lab, "logic", WEB, 80));
    drop(live);
    // Workers hand their counters to the exporter four times a second.
    std::thread::sleep(Duration::from_millis(600));
    let m = scrape(&metrics);
    for line in [
        "nsg_reloads_total{result=\"ok\"} 1",
        "nsg_policy_generation 2",
        "nsg_rule_hits_total{rule=\"NSG1/Allow-HTTP-Inbound-Internet\",access=\"allow\"}",
        "nsg_rule_hits_total{rule=\"NSG1/DenyAllInBound\",access=\"deny\"}",
        "nsg_packets_total{port=\"tcup\",verdict=\"denied\"}",
        "nsg_port_rx_bytes_total{port=\"tcn1\"}",
        "nsg_flows ",
    ] {
        assert!(m.contains(line), "no {line} in:\n{m}");
    }
    let out = lab.stop();
    assert!(out.contains("policy generation 2"), "{out}");
    assert!(out.contains("deny  NSG1/DenyAllInBound"), "{out}");
    assert!(
        out.contains("allow NSG1/Allow-HTTP-Inbound-Internet"),
        "{out}"
    );
    drop(lab);
    assert_gone("c");
}

#[test]
fn a_broken_reload_leaves_traffic_unchanged() {
    require_root!();
    let mut lab = Lab::start("d", &["--watch"], false);
    let _web = serve(&lab.ns("web"), 80);
    let _db = serve(&lab.ns("db"), 1433);
    let mut live = connect(&lab.ns("inet"), WEB, 80, OK).expect("Internet -> web:80");
    // A typo and a bad priority: refused as a whole, nothing half-loaded.
    let broken = POLICY
        .replace("priority = 100", "priority = 10")
        .replace("[[asg]]\nname = \"AsgDb\"", "[[asg]]\nnmae = \"AsgDb\"");
    let from = lab.log_len();
    std::fs::write(&lab.policy, broken).unwrap();
    let at = lab.wait_log("reload refused", from, Duration::from_secs(10));
    let log = lab.stderr.lock().unwrap()[at..].join("\n");
    assert!(log.contains("nmae"), "the faults are logged: {log}");
    assert!(echo(&mut live, b"the old policy runs"));
    assert!(connects(&lab, "inet", WEB, 80), "Internet -> web:80");
    assert!(refused(&lab, "web", DB, 1433), "web -> db:1433");
    assert!(connects(&lab, "logic", DB, 1433), "logic -> db:1433");
    // A good file again is taken.
    let from = lab.log_len();
    std::fs::write(&lab.policy, without_rule("Deny-Database-All")).unwrap();
    lab.wait_log("policy reloaded", from, Duration::from_secs(10));
    assert!(
        connects(&lab, "web", DB, 1433),
        "web -> db:1433 without the deny"
    );
    drop(live);
    let out = lab.stop();
    assert!(out.contains("policy generation 2"), "{out}");
    drop(lab);
    assert_gone("d");
}

#[test]
fn reloads_under_traffic_lose_nothing() {
    require_root!();
    let mut lab = Lab::start("e", &[], false);
    // A longer queue on the sender's TAP rides out a worker descheduled on
    // a busy machine.
    must(&[
        "ip",
        "-n",
        &lab.ns("web"),
        "link",
        "set",
        "ten1",
        "txqueuelen",
        "10000",
    ]);
    const N: u64 = 3000;
    let got = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let g = got.clone();
    let receiver = in_ns(&lab.ns("logic"), move || {
        let s = UdpSocket::bind(("0.0.0.0", 5000)).unwrap();
        // Room for every datagram, so a late reader loses none: only nsg
        // may lose them here.
        let size: libc::c_int = 8 << 20;
        // SAFETY: the option value is a live c_int of the size given.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        while g.load(Ordering::SeqCst) < N {
            match s.recv(&mut buf) {
                Ok(_) => {
                    g.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => break,
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let sender = in_ns(&lab.ns("web"), move || {
        let s = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
        let to: SocketAddr = format!("{LOGIC}:5000").parse().unwrap();
        for i in 0..N {
            let _ = s.send_to(&i.to_be_bytes(), to);
            std::thread::sleep(Duration::from_micros(300));
        }
    });
    // Reload the same policy, and one without an unrelated rule, while the
    // datagrams flow.
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..6 {
        let text = if i % 2 == 0 {
            without_rule("Allow-HTTP-Inbound-Internet")
        } else {
            POLICY.to_string()
        };
        std::fs::write(&lab.policy, text).unwrap();
        lab.reload(&format!("generation={}", i + 2));
        std::thread::sleep(Duration::from_millis(50));
    }
    sender.join().unwrap();
    receiver.join().unwrap();
    assert_eq!(got.load(Ordering::SeqCst), N, "datagrams received");
    let out = lab.stop();
    let n1 = port_row(&out, "ten1");
    // rx, tx, allowed, denied, spoofed, no route, neighbor, other
    assert_eq!(n1[3], 0, "denied: {out}");
    assert!(n1[2] >= N, "allowed: {out}");
    drop(lab);
    assert_gone("e");
}

/// CPU time of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_port_whose_device_goes_away_is_dropped_and_the_rest_switch_on() {
    require_root!();
    let mut lab = Lab::start("f", &[], false);
    let _db = serve(&lab.ns("db"), 1433);
    // Deleting web's namespace destroys its TAP under nsg.
    must(&["ip", "netns", "del", &lab.ns("web")]);
    lab.wait_log("the port is no longer read", 0, Duration::from_secs(5));
    let pid = lab.child.as_ref().unwrap().id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "nsg used {used} ticks in a second with a dead port"
    );
    assert!(connects(&lab, "logic", DB, 1433), "logic -> db:1433");
    let out = lab.stop();
    assert!(out.contains("tfn1"), "{out}");
    drop(lab);
    assert_gone("f");
}

#[test]
fn a_tap_deleted_in_its_namespace_is_logged_once_and_counted() {
    require_root!();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    // Two workers: each has a queue of the TAP and sees it go on its own.
    let mut lab = Lab::start("s", &["--metrics", &metrics, "--workers", "2"], false);
    let _db = serve(&lab.ns("db"), 1433);
    let mut live = connect(&lab.ns("logic"), DB, 1433, OK).expect("logic -> db:1433");
    assert!(echo(&mut live, b"before"));
    let from = lab.log_len();
    must(&["ip", "-n", &lab.ns("web"), "link", "del", "tsn1"]);
    lab.wait_log("the device is gone", from, Duration::from_secs(5));
    // Frames for the lost port (web's address) are not written to it.
    assert!(!connects(&lab, "logic", WEB, 80), "logic -> lost web:80");
    assert!(echo(&mut live, b"after"), "established connection");
    assert!(connects(&lab, "logic", DB, 1433), "logic -> db:1433");
    std::thread::sleep(Duration::from_millis(600));
    let lines: Vec<String> = lab.stderr.lock().unwrap()[from..]
        .iter()
        .filter(|l| l.contains("tsn1"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "log lines about tsn1: {lines:#?}");
    assert!(lines[0].contains("the device is gone"), "{}", lines[0]);
    let m = scrape(&metrics);
    for line in [
        "nsg_port_lost_total{port=\"tsn1\"} 1\n",
        "nsg_ports_down 1\n",
    ] {
        assert!(m.contains(line), "no {line} in:\n{m}");
    }
    drop(live);
    lab.stop();
    drop(lab);
    assert_gone("s");
}

#[test]
fn an_icmp_error_from_a_router_reaches_the_worker_that_holds_its_flow() {
    require_root!();
    // The owner of a flow between two IPv4 addresses (of two workers).
    let owner = |a: [u8; 4], b: [u8; 4]| {
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[26..30].copy_from_slice(&a);
        f[30..34].copy_from_slice(&b);
        nsg_dataplane::workers::shard_hash(&f) % 2
    };
    let (web, router) = ([10, 0, 1, 4], [203, 0, 113, 10]);
    // A destination beyond the Internet host whose flow one worker holds,
    // while the host's error about it (from the host, to web) would be the
    // other's by its own addresses.
    let dst = (1..=254u8)
        .map(|x| [198, 51, 100, x])
        .find(|d| owner(web, *d) != owner(router, web))
        .expect("a destination owned by the other worker");
    let mut lab = Lab::start("i", &["--workers", "2"], false);
    // The Internet host routes, but not to the destination: it answers
    // with an ICMP "administratively prohibited" quoting web's datagram,
    // which web's connected socket reports as EHOSTUNREACH.
    let inet = lab.ns("inet");
    must(&[
        "ip",
        "netns",
        "exec",
        &inet,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    must(&[
        "ip",
        "-n",
        &inet,
        "route",
        "add",
        "prohibit",
        "198.51.100.0/24",
    ]);
    let to = SocketAddr::from((dst, 9));
    let error = in_ns(&lab.ns("web"), move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.connect(to).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            // A connected UDP socket reports the ICMP error on its next call.
            if let Err(e) = s.send(b"probe").and_then(|_| s.recv(&mut buf)) {
                if let Some(code) = e.raw_os_error().filter(|&c| c != libc::EAGAIN) {
                    return Some(code);
                }
            }
        }
        None
    })
    .join()
    .unwrap();
    let out = lab.stop();
    assert_eq!(
        error,
        Some(libc::EHOSTUNREACH),
        "the error reached web: {out}"
    );
    drop(lab);
    assert_gone("i");
}

/// Why a DHCP client cannot be run, if it cannot.
fn missing_client(tool: &str, args: &[&str], package: &str) -> Option<String> {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    (!ok).then(|| format!("needs `{tool}` (Debian package {package})"))
}

/// The VMs of the lab: name, NIC port suffix, IPv4, IPv6.
const VMS: [(&str, &str, &str, &str); 4] = [
    ("web", "n1", WEB, WEB_V6),
    ("web2", "n2", "10.0.1.5", "fd00:10:0:1::5"),
    ("logic", "n3", LOGIC, "fd00:10:0:2::4"),
    ("db", "n4", DB, DB_V6),
];

/// Forget a VM's addresses and routes (as a host before DHCP).
fn unconfigure(ns: &str, ifname: &str) {
    must(&["ip", "-n", ns, "addr", "flush", "dev", ifname]);
    must(&["ip", "-n", ns, "route", "flush", "dev", ifname]);
    sh(&["ip", "-n", ns, "-6", "route", "flush", "dev", ifname]);
}

#[test]
fn hosts_with_a_32_and_an_on_link_default_route_follow_the_rules() {
    require_root!();
    require_ping!();
    let mut lab = Lab::start("k", &[], false);
    for (host, n, a4, a6) in VMS {
        let (ns, ifname) = (lab.ns(host), format!("tk{n}"));
        unconfigure(&ns, &ifname);
        must(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{a4}/32"),
            "dev",
            &ifname,
        ]);
        must(&["ip", "-n", &ns, "route", "add", "default", "dev", &ifname]);
        let a6 = format!("{a6}/128");
        must(&["ip", "-n", &ns, "addr", "add", &a6, "dev", &ifname, "nodad"]);
        must(&[
            "ip", "-n", &ns, "-6", "route", "add", "default", "dev", &ifname,
        ]);
    }
    let _web = serve(&lab.ns("web"), 80);
    let _db = serve(&lab.ns("db"), 1433);
    // The uplink host and back: Allow-HTTP-Inbound-Internet, replies
    // leaving a host that ARPs for the Internet address itself.
    assert!(connects(&lab, "inet", WEB, 80), "Internet -> web:80");
    assert!(
        connects(&lab, "inet", WEB_V6, 80),
        "Internet -> web:80 (IPv6)"
    );
    assert!(ping(&lab, "web", INTERNET_V4), "web -> Internet");
    assert!(ping(&lab, "web", INTERNET_V6), "web -> Internet (IPv6)");
    assert!(!ping(&lab, "inet", WEB), "Internet -> web (DenyAllInBound)");
    // Another subnet, on-link: allowed and denied as the rules say.
    assert!(connects(&lab, "logic", DB, 1433), "logic -> db:1433");
    assert!(
        connects(&lab, "logic", DB_V6, 1433),
        "logic -> db:1433 (IPv6)"
    );
    assert!(refused(&lab, "web", DB, 1433), "web -> db:1433");
    assert!(ping(&lab, "web", DB), "web -> db");
    // The same subnet goes through the gateway's address too.
    assert!(ping(&lab, "web2", WEB), "web2 -> web");
    // An unassigned VNet address: no route.
    assert!(!ping(&lab, "web", "10.0.2.99"), "web -> nobody");
    let out = lab.stop();
    let n1 = port_row(&out, "tkn1");
    // rx, tx, allowed, denied, spoofed, no route, arp/dhcp, other
    assert!(n1[3] >= 1, "denied: {out}");
    assert!(n1[5] >= 1, "no route: {out}");
    assert!(n1[6] >= 1, "ARP answered: {out}");
    drop(lab);
    assert_gone("k");
}

/// A busybox udhcpc script recording what the client got (`KEY=VALUE`
/// lines) and configuring the interface with it.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
bound|renew)
  echo "ip=$ip mask=$mask router=$router dns=$dns serverid=$serverid lease=$lease" > "$RECORD"
  ip addr add "$ip/$mask" dev "$interface"
  ip route add default via "$router" dev "$interface"
  ;;
esac
exit 0
"#;

#[test]
fn a_host_configured_by_udhcpc_gets_its_nics_address_and_reaches_a_service() {
    require_root!();
    if let Some(why) = missing_client("busybox", &["udhcpc", "--help"], "busybox") {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::start("m", &[], false);
    let ns = lab.ns("web");
    unconfigure(&ns, "tmn1");
    let script = lab.dir.join("udhcpc.sh");
    std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
    must(&["chmod", "755", &script.display().to_string()]);
    let record = lab.dir.join("lease");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns, "busybox", "udhcpc", "-i", "tmn1"])
        .args(["-f", "-q", "-n", "-t", "5", "-T", "1", "-s"])
        .arg(&script)
        .env("RECORD", &record)
        .output()
        .expect("run udhcpc");
    assert!(out.status.success(), "udhcpc: {out:?}");
    let got = std::fs::read_to_string(&record).expect("the script ran");
    assert_eq!(
        got.trim(),
        "ip=10.0.1.4 mask=24 router=10.0.1.1 dns=168.63.129.16 serverid=168.63.129.16 lease=86400"
    );
    let _web = serve(&ns, 80);
    assert!(connects(&lab, "inet", WEB, 80), "Internet -> web:80");
    let out = lab.stop();
    assert!(
        out.contains("DHCP offers 1, acks 1, naks 0"),
        "summary: {out}"
    );
    drop(lab);
    assert_gone("m");
}

#[test]
fn an_ipv6_host_gets_its_route_by_router_advertisement_and_address_by_dhcpv6() {
    require_root!();
    if let Some(why) = missing_client("dhcpcd", &["--version"], "dhcpcd-base") {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::start("q", &[], false);
    let ns = lab.ns("db");
    unconfigure(&ns, "tqn4");
    for (k, v) in [("accept_ra", "2"), ("autoconf", "0")] {
        must(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.tqn4.{k}={v}"),
        ]);
    }
    // A link-local address again, then dhcpcd: router solicitation,
    // advertisement (managed), DHCPv6 for the address.
    must(&["ip", "-n", &ns, "link", "set", "tqn4", "down"]);
    must(&["ip", "-n", &ns, "link", "set", "tqn4", "up"]);
    let out = Command::new("ip")
        .args(["netns", "exec", &ns, "dhcpcd", "-6", "-1", "-B", "-t", "20"])
        .args(["--nohook", "resolv.conf", "-f", "/dev/null", "tqn4"])
        .output()
        .expect("run dhcpcd");
    assert!(out.status.success(), "dhcpcd: {out:?}");
    let addrs = Command::new("ip")
        .args(["-n", &ns, "-6", "addr", "show", "dev", "tqn4"])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains(DB_V6), "addresses: {addrs}");
    let routes = Command::new("ip")
        .args(["-n", &ns, "-6", "route", "show", "default"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        routes.contains("via fe80::1234:5678:9abc"),
        "routes: {routes}"
    );
    let _db = serve(&ns, 1433);
    assert!(
        connects(&lab, "logic", DB_V6, 1433),
        "logic -> db:1433 (IPv6)"
    );
    let out = lab.stop();
    assert!(!out.contains("router advertisements 0,"), "summary: {out}");
    drop(lab);
    assert_gone("q");
}

/// Send `total` bytes through an echo connection while reading the echo
/// back; true when every byte came back in order.
fn bulk_echo(s: &mut TcpStream, total: usize) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut w = s.try_clone().unwrap();
    let out = data.clone();
    let writer = std::thread::spawn(move || w.write_all(&out).is_ok());
    let mut got = vec![0u8; total];
    let read = s.read_exact(&mut got).is_ok();
    writer.join().unwrap() && read && got == data
}

/// A UDP echo server on port `port` of a namespace that replies with UDP
/// segmentation offload (`UDP_SEGMENT`, 1,000 bytes a datagram): a reply
/// longer than that leaves the kernel as one GSO segment.
fn serve_udp_gso(ns: &str, port: u16) -> Server {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    in_ns(ns, move || {
        let sock = UdpSocket::bind(("::", port)).expect("bind udp");
        let seg: libc::c_int = 1000;
        // SAFETY: UDP_SEGMENT (103) at SOL_UDP takes an int that lives
        // across the call; its size is passed.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_UDP,
                103,
                &seg as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tx.send(()).unwrap();
        let mut buf = vec![0u8; 65536];
        while !s.load(Ordering::SeqCst) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("udp server up");
    Server { stop }
}

/// From a namespace, send `len` bytes to a UDP echo server that answers
/// in datagrams of 1,000 bytes; true when all of it comes back, in order.
fn udp_echo_segmented(lab: &Lab, from: &str, addr: &str, port: u16, len: usize) -> bool {
    let ip: std::net::IpAddr = addr.parse().unwrap();
    in_ns(&lab.ns(from), move || {
        let bind: std::net::IpAddr = if ip.is_ipv4() {
            "0.0.0.0".parse().unwrap()
        } else {
            "::".parse().unwrap()
        };
        let sock = UdpSocket::bind((bind, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let msg: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        for _try in 0..3 {
            if sock.send_to(&msg, (ip, port)).is_err() {
                continue;
            }
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            while got.len() < len {
                match sock.recv(&mut buf) {
                    Ok(n) if n <= 1000 => got.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            if got == msg {
                return true;
            }
        }
        false
    })
    .join()
    .unwrap()
}

/// The uplink is a veth with the kernel's default offloads (no ethtool):
/// the Internet host sends partial checksums and GSO segments (TCP of up
/// to 64 KiB, UDP with UDP_SEGMENT), which nsg reads with their
/// virtio-net headers and passes on to a TAP with offloads (`offload`) or
/// completes in software for a TAP without (`--no-offload`). Large TCP
/// transfers both ways and segmented UDP replies arrive whole.
fn offloads_of_a_veth_uplink(prefix: &str, extra: &[&str]) {
    let mut lab = Lab::start(prefix, extra, true);
    let _web = serve(&lab.ns("web"), 80);
    let _inet = serve(&lab.ns("inet"), 5001);
    let _udp = serve_udp_gso(&lab.ns("inet"), 7100);
    for (web, inet) in [(WEB, INTERNET_V4), (WEB_V6, INTERNET_V6)] {
        let mut s =
            connect(&lab.ns("inet"), web, 80, OK).unwrap_or_else(|| panic!("Internet -> {web}:80"));
        assert!(bulk_echo(&mut s, 4 << 20), "4 MiB Internet <-> {web}:80");
        let mut s =
            connect(&lab.ns("web"), inet, 5001, OK).unwrap_or_else(|| panic!("web -> {inet}:5001"));
        assert!(bulk_echo(&mut s, 4 << 20), "4 MiB web <-> {inet}:5001");
        for len in [200, 1000, 3000, 9000] {
            assert!(
                udp_echo_segmented(&lab, "web", inet, 7100, len),
                "UDP {len} bytes web -> {inet} and back in 1,000-byte datagrams"
            );
        }
    }
    // Denied stays denied.
    assert!(refused(&lab, "inet", WEB, 5001), "Internet -> web:5001");
    lab.stop();
    drop(lab);
    assert_gone(prefix);
}

#[test]
fn a_veth_uplink_with_default_offloads_reaches_taps_with_offloads() {
    require_root!();
    offloads_of_a_veth_uplink("og", &[]);
}

#[test]
fn a_veth_uplink_with_default_offloads_reaches_taps_without_offloads() {
    require_root!();
    offloads_of_a_veth_uplink("on", &["--no-offload"]);
}

//! What the fuzz targets share: a per-process scratch directory for the
//! inputs the APIs read from files, and the check run on every policy that
//! loads (compile it, evaluate packets on every NIC, hold the compiled
//! matcher to the reference evaluator, format the verdicts).

use nsg_classify::nsg::CompiledPolicy;
use nsg_azure::export::verdict_azure;
use nsg_policy::query::{verdict_json, verdict_text};
use nsg_policy::{Direction, Packet, Policy};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

/// The scratch directory: `$NSG_FUZZ_TMP` (set by scripts/fuzz.sh, which
/// removes it), else a per-process directory under /dev/shm or the system
/// temporary directory.
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var_os("NSG_FUZZ_TMP") {
            Some(d) => PathBuf::from(d),
            None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("nsg-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        dir
    })
}

/// Write `data` to `name` in the scratch directory and return its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("cannot write the fuzz input file");
    path
}

/// At most this many NICs, and IPs per NIC, are evaluated per policy, so
/// that a large input costs time in the code under test, not in the check.
const MAX_NICS: usize = 8;
const MAX_IPS: usize = 2;

fn remotes(local: &IpAddr) -> [IpAddr; 4] {
    let s = |t: &str| t.parse::<IpAddr>().expect("a literal address");
    if local.is_ipv4() {
        [s("10.0.1.5"), s("8.8.8.8"), s("168.63.129.16"), *local]
    } else {
        [s("fd00:10:0:1::5"), s("2001:db8::1"), s("fe80::1"), *local]
    }
}

/// Compile `policy`, evaluate TCP, UDP and ICMP packets both ways on its
/// NICs, assert the compiled verdict equals the reference evaluator's, and
/// format each verdict as `nsg verify` does.
pub fn check_policy(policy: Policy) {
    let compiled = CompiledPolicy::build(Arc::new(policy));
    let p = &compiled.policy;
    for (nic, n) in p.nics.iter().enumerate().take(MAX_NICS) {
        for local in n.ips.iter().take(MAX_IPS) {
            for remote in remotes(local) {
                for (protocol, lport, rport) in [
                    (6u8, Some(80u16), Some(50000u16)),
                    (6, Some(1433), Some(443)),
                    (17, Some(53), Some(3389)),
                    (if local.is_ipv4() { 1 } else { 58 }, None, None),
                ] {
                    for dir in [Direction::Inbound, Direction::Outbound] {
                        let pkt = match dir {
                            Direction::Inbound => Packet {
                                protocol,
                                src: remote,
                                dst: *local,
                                src_port: rport,
                                dst_port: lport,
                            },
                            Direction::Outbound => Packet {
                                protocol,
                                src: *local,
                                dst: remote,
                                src_port: lport,
                                dst_port: rport,
                            },
                        };
                        let v = compiled.evaluate(nic, dir, &pkt);
                        let r = nsg_policy::evaluate(p, nic, dir, &pkt);
                        assert_eq!(v, r, "compiled and reference verdicts differ on {pkt:?}");
                        format_verdict(p, &v);
                    }
                }
            }
        }
    }
}

/// Render a verdict in the three formats of `nsg verify`.
pub fn format_verdict(p: &Policy, v: &nsg_policy::Verdict) {
    let j = verdict_json(p, v);
    assert!(j.get("access").is_some());
    let t = verdict_text(p, v);
    assert!(!t.is_empty());
    let a = verdict_azure(p, v);
    assert!(a.get("access").is_some());
}

//! ClassBench rule sets and traces (format: `../shared/data/classbench/README.md`).
//!
//! ClassBench compares ports for every protocol, so its rules map to the core
//! directly; line order is priority.

use crate::classifier::{FieldRule, Key4};
use nsg_policy::limits::{read_bounded, ReadError, Size, MAX_CLASSBENCH_BYTES};
use std::path::Path;

/// A ClassBench file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClassBenchError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file, as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is over [`MAX_CLASSBENCH_BYTES`]; it was not read whole.
    #[error("{path}: larger than {}, the limit for a ClassBench file", Size(*limit))]
    TooLarge {
        /// The file, as given.
        path: String,
        /// The limit it exceeds, in bytes.
        limit: u64,
    },
    /// A line that is not a ClassBench rule or trace line.
    #[error("{path}:{line}: {what}")]
    Syntax {
        /// The file, as given.
        path: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with the line.
        what: String,
    },
}

/// One trace line: the key and the rule it was generated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEntry {
    /// The packet's header fields.
    pub key: Key4,
    /// An upper bound on the first matching rule.
    pub filter: u32,
}

/// A whole file of at most [`MAX_CLASSBENCH_BYTES`].
fn read(path: &Path) -> Result<String, ClassBenchError> {
    let shown = path.display().to_string();
    let bytes = match read_bounded(path, MAX_CLASSBENCH_BYTES, "a ClassBench file") {
        Ok(b) => b,
        Err(ReadError::TooLarge { limit, .. }) => {
            return Err(ClassBenchError::TooLarge { path: shown, limit })
        }
        Err(ReadError::Io { source, .. }) => {
            return Err(ClassBenchError::Io {
                path: shown,
                source,
            })
        }
    };
    String::from_utf8(bytes).map_err(|e| ClassBenchError::Io {
        path: shown,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

fn prefix(s: &str) -> Option<(u128, u128)> {
    let (a, l) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = a.trim().parse().ok()?;
    let len: u32 = l.trim().parse().ok()?;
    if len > 32 {
        return None;
    }
    let v = u32::from(ip) as u128;
    let size = 1u128 << (32 - len);
    let lo = v & !(size - 1);
    Some((lo, lo + size - 1))
}

fn port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b && b <= 65535).then_some((a, b))
}

fn hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// Parse a ClassBench rule file.
pub fn parse_rules(text: &str, path: &str) -> Result<Vec<FieldRule>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| ClassBenchError::Syntax {
            path: path.to_string(),
            line: i + 1,
            what: what.to_string(),
        };
        let body = line
            .strip_prefix('@')
            .ok_or_else(|| bad("a rule starts with '@'"))?;
        let f: Vec<&str> = body.split('\t').collect();
        if f.len() < 5 {
            return Err(bad("a rule has at least 5 tab-separated fields"));
        }
        let src = prefix(f[0]).ok_or_else(|| bad("bad source prefix"))?;
        let dst = prefix(f[1]).ok_or_else(|| bad("bad destination prefix"))?;
        let sport = port_range(f[2]).ok_or_else(|| bad("bad source port range"))?;
        let dport = port_range(f[3]).ok_or_else(|| bad("bad destination port range"))?;
        let (p, m) = f[4].split_once('/').ok_or_else(|| bad("bad protocol"))?;
        let (p, m) = (
            hex(p).ok_or_else(|| bad("bad protocol"))?,
            hex(m).ok_or_else(|| bad("bad protocol mask"))?,
        );
        let proto = match m {
            0 => (0u8, 255u8),
            0xff if p <= 255 => (p as u8, p as u8),
            _ => return Err(bad("protocol mask is neither 0x00 nor 0xFF")),
        };
        out.push(FieldRule {
            src: vec![src],
            dst: vec![dst],
            sport: vec![sport],
            dport: vec![dport],
            proto: vec![proto],
        });
    }
    Ok(out)
}

/// Parse a ClassBench trace.
pub fn parse_trace(text: &str, path: &str) -> Result<Vec<TraceEntry>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || ClassBenchError::Syntax {
            path: path.to_string(),
            line: i + 1,
            what: "a trace line is 7 unsigned decimal fields".to_string(),
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if v.len() < 5 || v[0] > u32::MAX as u64 || v[1] > u32::MAX as u64 {
            return Err(bad());
        }
        if v[2] > 65535 || v[3] > 65535 || v[4] > 255 {
            return Err(bad());
        }
        out.push(TraceEntry {
            key: Key4 {
                src: v[0] as u32,
                dst: v[1] as u32,
                sport: v[2] as u32,
                dport: v[3] as u32,
                proto: v[4] as u8,
            },
            filter: v.get(6).copied().unwrap_or(u32::MAX as u64) as u32,
        });
    }
    Ok(out)
}

/// Read and parse a ClassBench rule file (see [`parse_rules`]).
pub fn load_rules(path: &Path) -> Result<Vec<FieldRule>, ClassBenchError> {
    parse_rules(&read(path)?, &path.display().to_string())
}

/// Read and parse a ClassBench trace file (see [`parse_trace`]).
pub fn load_trace(path: &Path) -> Result<Vec<TraceEntry>, ClassBenchError> {
    parse_trace(&read(path)?, &path.display().to_string())
}

/// First matching rule by linear scan, or `NO_MATCH`.
pub fn linear(rules: &[FieldRule], k: &Key4) -> u32 {
    rules
        .iter()
        .position(|r| r.matches(k.src as u128, k.dst as u128, k.sport, k.dport, k.proto))
        .map_or(crate::NO_MATCH, |i| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rule_and_trace_lines() {
        let r = parse_rules(
            "@10.1.0.0/16\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\t\n",
            "r",
        )
        .unwrap();
        assert_eq!(r[0].src, vec![(0x0a01_0000, 0x0a01_ffff)]);
        assert_eq!(r[0].dport, vec![(80, 80)]);
        assert_eq!(r[0].proto, vec![(6, 6)]);
        let t = parse_trace("167837697\t1\t5\t80\t6\t0\t0\n", "t").unwrap();
        assert_eq!(linear(&r, &t[0].key), 0);
        assert!(parse_rules("10.0.0.0/8\n", "r").is_err());
        assert!(parse_trace("1 2 3\n", "t").is_err());
    }

    #[test]
    fn dev_zero_is_refused_at_the_size_limit() {
        let z = Path::new("/dev/zero");
        if !z.exists() {
            eprintln!("skipped: no /dev/zero");
            return;
        }
        let e = read(z).unwrap_err();
        assert!(
            matches!(
                e,
                ClassBenchError::TooLarge {
                    limit: MAX_CLASSBENCH_BYTES,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than 256 MiB, the limit for a ClassBench file"
        );
    }
}

/// What `nsg bench classify` measures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Rules compiled.
    pub rules: usize,
    /// Lookups made in the timed phase (whole passes over the trace).
    pub lookups: u64,
    /// Lookups per second of the timed phase.
    pub lookups_per_sec: f64,
    /// Time to compile the classifier, in milliseconds.
    pub build_ms: f64,
    /// Answers that differ from the linear scan's (or, batched, from the
    /// single lookup's); anything but 0 is a bug.
    pub mismatches: u64,
    /// Heap bytes of the compiled tables.
    pub memory_bytes: usize,
    /// Keys per lookup call (1: one packet per call).
    pub batch: usize,
}

/// Compile `rules`, check every trace key against a linear scan, then time
/// lookups over the trace for about `seconds` (batches of `batch`; 1 means
/// one call per packet).
pub fn bench(rules: &[FieldRule], trace: &[TraceEntry], batch: usize, seconds: f64) -> BenchReport {
    use crate::classifier::{Classifier, Width};
    use std::time::Instant;
    let t0 = Instant::now();
    let c = Classifier::build(Width::V4, rules);
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let keys: Vec<Key4> = trace.iter().map(|t| t.key).collect();
    let mut mismatches = 0;
    for t in trace {
        // The generating rule bounds the first match; scan up to it, then on.
        let bound = (t.filter as usize).min(rules.len().saturating_sub(1));
        let expect = match rules[..=bound.min(rules.len().saturating_sub(1))]
            .iter()
            .position(|r| {
                r.matches(
                    t.key.src as u128,
                    t.key.dst as u128,
                    t.key.sport,
                    t.key.dport,
                    t.key.proto,
                )
            }) {
            Some(i) => i as u32,
            None => linear(rules, &t.key),
        };
        if c.lookup4(&t.key) != expect {
            mismatches += 1;
        }
    }
    let batch = batch.max(1);
    let mut out = vec![0u32; keys.len()];
    let mut lookups = 0u64;
    let mut sink = 0u64;
    let start = Instant::now();
    loop {
        if batch == 1 {
            for k in &keys {
                sink = sink.wrapping_add(std::hint::black_box(c.lookup4(k)) as u64);
            }
        } else {
            for (ks, os) in keys.chunks(batch).zip(out.chunks_mut(batch)) {
                c.lookup4_batch(ks, os);
            }
            sink = sink.wrapping_add(std::hint::black_box(&out)[0] as u64);
        }
        lookups += keys.len() as u64;
        if start.elapsed().as_secs_f64() >= seconds || keys.is_empty() {
            break;
        }
    }
    std::hint::black_box(sink);
    // Batched answers must be the single answers.
    if batch > 1 {
        for (k, o) in keys.iter().zip(&out) {
            if c.lookup4(k) != *o {
                mismatches += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    BenchReport {
        rules: rules.len(),
        lookups,
        lookups_per_sec: lookups as f64 / elapsed,
        build_ms,
        mismatches,
        memory_bytes: c.memory_bytes(),
        batch,
    }
}

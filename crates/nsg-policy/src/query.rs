//! `nsg verify` queries and verdicts in the JSON of `docs/policy.md` ("Verdicts").
//!
//! A query names a NIC, a direction, a protocol and the local and remote
//! endpoints; inbound, the remote end is the source, outbound the local end.

use crate::eval::{Packet, Verdict};
use crate::model::*;
use serde_json::{json, Value};
use std::net::IpAddr;

/// A checked query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The NIC the packet is evaluated at.
    pub nic: NicId,
    /// Whether it enters or leaves that NIC.
    pub direction: Direction,
    /// The packet's header fields.
    pub packet: Packet,
}

/// Parse a protocol as a name or a number 0-255.
pub fn parse_protocol(s: &str) -> Result<u8, String> {
    let s = s.trim();
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(ipproto::TCP),
        "udp" => Ok(ipproto::UDP),
        "icmp" => Ok(ipproto::ICMP),
        "icmpv6" => Ok(ipproto::ICMPV6),
        "esp" => Ok(ipproto::ESP),
        "ah" => Ok(ipproto::AH),
        other => other.parse::<u8>().map_err(|_| {
            format!("protocol '{s}' is not tcp, udp, icmp, esp, ah or a number 0-255")
        }),
    }
}

/// Parse `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address.
pub fn parse_endpoint(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let bad = || format!("'{s}' is not IP, IP:PORT or [IPv6]:PORT");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        s.rsplit_once(':').ok_or_else(bad)?
    };
    let ip: IpAddr = host.parse().map_err(|_| bad())?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port '{port}' in '{s}' is not a number 0-65535"))?;
    Ok((ip, Some(port)))
}

impl Query {
    /// Build a query from its textual fields.
    pub fn parse(
        policy: &Policy,
        nic: &str,
        direction: &str,
        protocol: &str,
        local: &str,
        remote: &str,
    ) -> Result<Query, String> {
        let nic_id = policy
            .nic_by_name(nic)
            .ok_or_else(|| format!("unknown nic '{nic}'"))?;
        let direction = Direction::parse(direction)
            .ok_or_else(|| format!("direction '{direction}' is not inbound or outbound"))?;
        let mut proto = parse_protocol(protocol)?;
        let (lip, lport) = parse_endpoint(local).map_err(|e| format!("local: {e}"))?;
        let (rip, rport) = parse_endpoint(remote).map_err(|e| format!("remote: {e}"))?;
        if lip.is_ipv4() != rip.is_ipv4() {
            return Err(format!(
                "local {lip} and remote {rip} are of different address families"
            ));
        }
        if !policy.nics[nic_id].ips.contains(&lip) {
            return Err(format!(
                "local {lip} is not an IP of nic {}",
                policy.nics[nic_id].name
            ));
        }
        if proto == ipproto::ICMP && lip.is_ipv6() {
            proto = ipproto::ICMPV6;
        }
        if has_ports(proto) {
            if lport.is_none() || rport.is_none() {
                return Err(format!(
                    "protocol {protocol} needs a port on both local and remote"
                ));
            }
        } else if lport.is_some() || rport.is_some() {
            return Err(format!("protocol {protocol} takes no ports"));
        }
        let (src, sport, dst, dport) = match direction {
            Direction::Inbound => (rip, rport, lip, lport),
            Direction::Outbound => (lip, lport, rip, rport),
        };
        Ok(Query {
            nic: nic_id,
            direction,
            packet: Packet {
                protocol: proto,
                src,
                dst,
                src_port: sport,
                dst_port: dport,
            },
        })
    }

    /// Build a query from one line of a `--batch` file.
    pub fn from_json_line(policy: &Policy, line: &str) -> Result<Query, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| "a query is a JSON object".to_string())?;
        for k in obj.keys() {
            if !["nic", "direction", "protocol", "local", "remote"].contains(&k.as_str()) {
                return Err(format!("unknown key '{k}'"));
            }
        }
        let field = |k: &str| -> Result<String, String> {
            match obj.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) if k == "protocol" => Ok(n.to_string()),
                Some(_) => Err(format!("'{k}' must be a string")),
                None => Err(format!("missing '{k}'")),
            }
        };
        Query::parse(
            policy,
            &field("nic")?,
            &field("direction")?,
            &field("protocol")?,
            &field("local")?,
            &field("remote")?,
        )
    }
}

/// The verdict JSON of `docs/policy.md` ("Verdicts").
pub fn verdict_json(policy: &Policy, v: &Verdict) -> Value {
    let layers: Vec<Value> = v
        .layers
        .iter()
        .map(|l| {
            json!({
                "scope": l.scope.name(),
                "nsg": policy.nsgs[l.rule.nsg].name,
                "rule": l.rule.rule(policy).name,
                "access": l.access.name(),
            })
        })
        .collect();
    json!({
        "access": v.access.name(),
        "rule": v.decider.name(policy),
        "layers": layers,
    })
}

/// A readable, multi-line rendering of a verdict.
pub fn verdict_text(policy: &Policy, v: &Verdict) -> String {
    let mut s = format!(
        "{} by {}\n",
        v.access.name(),
        v.decider
            .name(policy)
            .unwrap_or_else(|| "no NSG on the path".to_string())
    );
    for l in &v.layers {
        let r = l.rule.rule(policy);
        s.push_str(&format!(
            "  {:<6} {:<20} {:<5} {:<40} {}\n",
            l.scope.name(),
            policy.nsgs[l.rule.nsg].name,
            r.priority,
            r.name,
            l.access.name()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("10.0.1.4:80").unwrap(),
            ("10.0.1.4".parse().unwrap(), Some(80))
        );
        assert_eq!(
            parse_endpoint("[fd00::4]:443").unwrap(),
            ("fd00::4".parse().unwrap(), Some(443))
        );
        assert_eq!(
            parse_endpoint("fd00::4").unwrap(),
            ("fd00::4".parse().unwrap(), None)
        );
        assert!(parse_endpoint("10.0.1.4:99999").is_err());
        assert!(parse_endpoint("host:80").is_err());
    }

    /// `nsg verify --batch` lines that are blank, not JSON, or were not
    /// UTF-8 (read replaced) are refused with a message, never a panic.
    #[test]
    fn bad_lines_are_refused() {
        let p = crate::load_str(
            include_str!("../../../config/three-tier.toml"),
            std::path::Path::new("three-tier.toml"),
            &crate::LoadOptions::default(),
        )
        .unwrap();
        let lossy =
            String::from_utf8_lossy(b"{\"nic\": \"NIC1\xff\xfe\", \"direction\": \"inbound\"}");
        for (line, want) in [
            ("", "bad JSON"),
            ("   \t", "bad JSON"),
            ("nic=NIC1 direction=inbound", "bad JSON"),
            ("[1, 2]", "a query is a JSON object"),
            (lossy.as_ref(), "missing 'protocol'"),
        ] {
            let e = Query::from_json_line(&p, line).unwrap_err();
            assert!(e.contains(want), "{line:?}: {e}");
        }
        let q = Query::from_json_line(
            &p,
            r#"{"nic":"NIC1","direction":"inbound","protocol":"tcp","local":"10.0.1.4:80","remote":"8.8.8.8:1"}"#,
        )
        .unwrap();
        assert_eq!(q.packet.dst_port, Some(80));
    }

    #[test]
    fn protocols() {
        assert_eq!(parse_protocol("TCP"), Ok(6));
        assert_eq!(parse_protocol("58"), Ok(58));
        assert_eq!(parse_protocol("Esp"), Ok(50));
        assert!(parse_protocol("256").is_err());
        assert!(parse_protocol("sctp").is_err());
    }
}

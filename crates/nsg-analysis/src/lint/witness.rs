//! Witness packets: a cube point at a NIC written as an `nsg verify`
//! query, kept only when the reference evaluator agrees with the claim.

use crate::decide::packet;
use crate::space::{Cube, PROTO};
use nsg_policy::eval::{Packet, Verdict};
use nsg_policy::model::{Direction, NicId, Policy};
use nsg_policy::prefix::Family;
use nsg_policy::query::Query;
use serde_json::{json, Value};
use std::net::IpAddr;

/// `IP[:PORT]` or `[IPv6]:PORT`, as `nsg verify` reads an endpoint.
fn endpoint(ip: IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    }
}

/// The `nsg verify` query (JSON-lines shape) of a packet at a NIC.
pub fn query(policy: &Policy, nic: NicId, dir: Direction, pkt: &Packet) -> Value {
    let (local, lport, remote, rport) = match dir {
        Direction::Inbound => (pkt.dst, pkt.dst_port, pkt.src, pkt.src_port),
        Direction::Outbound => (pkt.src, pkt.src_port, pkt.dst, pkt.dst_port),
    };
    json!({
        "nic": policy.nics[nic].name,
        "direction": dir.name(),
        "protocol": pkt.protocol.to_string(),
        "local": endpoint(local, lport),
        "remote": endpoint(remote, rport),
    })
}

/// A point of `cube` that `nsg verify` can express: ICMP of IPv6 is
/// written 58 (a query of protocol 1 over IPv6 means 58), so an IPv6 cube
/// avoids protocol 1 when it can.
fn pick(cube: &Cube) -> Option<[u128; 5]> {
    let mut c = cube.clone();
    if c.fam == Family::V6 {
        let other = c.f[PROTO].subtract(&crate::space::Ranges::value(1));
        if !other.is_empty() {
            c.f[PROTO] = other;
        }
    }
    c.sample()
}

/// A witness from `cube` (packets at `nic` in `dir`): the query, if the
/// evaluator's verdict on it (read back through the query parser)
/// satisfies `claim`; `None` otherwise.
pub fn witness(
    policy: &Policy,
    nic: NicId,
    dir: Direction,
    cube: &Cube,
    claim: impl Fn(&Packet, &Verdict) -> bool,
) -> Option<Value> {
    let p = pick(cube)?;
    let pkt = packet(cube.fam, &p);
    let q = query(policy, nic, dir, &pkt);
    let back = Query::from_json_line(policy, &q.to_string()).ok()?;
    let v = nsg_policy::evaluate(policy, back.nic, back.direction, &back.packet);
    claim(&back.packet, &v).then_some(q)
}

//! Export of the counters to the `metrics` facade (a Prometheus endpoint
//! when `nsg run --metrics` installs one; nothing otherwise). Workers keep
//! plain counters on the packet path and hand the growth since the last
//! export to the facade a few times a second, so the packet path never
//! touches a shared counter.
//!
//! Series (all counters unless said otherwise):
//! - `nsg_port_rx_packets_total`, `nsg_port_rx_bytes_total`,
//!   `nsg_port_tx_packets_total`, `nsg_port_tx_bytes_total`,
//!   `nsg_port_tx_errors_total`, `nsg_port_rx_errors_total` by `port`;
//! - `nsg_packets_total`, `nsg_bytes_total` by `port` (where the frame came
//!   in) and `verdict` (allowed, denied, dropped, spoofed, no_route,
//!   filtered, neighbor, no_neighbor, platform);
//! - `nsg_host_replies_total` by `kind` (dhcp_offer, dhcp_ack, dhcp_nak,
//!   router_advert, dhcp6_reply): what nsg answered as the hosts'
//!   platform; `nsg_dhcp_malformed_total` (DHCP messages dropped unread);
//! - `nsg_rule_hits_total` by `rule` (`NSG/RULE`, `platform/...`, `-`) and
//!   `access`: packets per deciding rule;
//! - `nsg_parse_drops_total` by `reason`;
//! - `nsg_flows_created_total`; `nsg_flow_evictions_total` by `class`
//!   (closed, closing, half_open); `nsg_flow_refusals_total` (new flows
//!   refused: table full of established flows); `nsg_flows_expired_total`
//!   (idle entries removed at lookup, by eviction passes and by sweeps);
//! - gauges `nsg_flows` (entries in the flow table) and
//!   `nsg_policy_generation`; `nsg_reloads_total` by `result` (ok, refused);
//! - `nsg_port_lost_total` by `port` (its device went away: 1 at most) and
//!   the gauge `nsg_ports_down` (ports no longer switched).

use crate::policy::{decider, PolicyCell, RuleNames};
use crate::stats::PipelineStats;
use crate::switch::stats::{Disposition, HostStats, SwitchStats};

/// What one worker exported last, to export only growth.
#[derive(Default)]
pub struct Exporter {
    switch: SwitchStats,
    pipeline: PipelineStats,
}

fn add(name: &'static str, labels: &[(&'static str, String)], now: u64, before: u64) {
    if now > before {
        metrics::counter!(name, labels).increment(now - before);
    }
}

impl Exporter {
    /// Hand the growth of the counters since the last call to the facade.
    pub fn export(
        &mut self,
        sw: &SwitchStats,
        pipe: &PipelineStats,
        rules: &PolicyCell,
        port_names: &[String],
    ) {
        let empty = Default::default();
        for (i, p) in sw.ports.iter().enumerate() {
            let old = self.switch.ports.get(i).unwrap_or(&empty);
            let name = port_names.get(i).cloned().unwrap_or_else(|| i.to_string());
            let port = [("port", name.clone())];
            add(
                "nsg_port_rx_packets_total",
                &port,
                p.rx.frames,
                old.rx.frames,
            );
            add("nsg_port_rx_bytes_total", &port, p.rx.bytes, old.rx.bytes);
            add(
                "nsg_port_tx_packets_total",
                &port,
                p.tx.frames,
                old.tx.frames,
            );
            add("nsg_port_tx_bytes_total", &port, p.tx.bytes, old.tx.bytes);
            add(
                "nsg_port_tx_errors_total",
                &port,
                p.tx_errors,
                old.tx_errors,
            );
            add(
                "nsg_port_rx_errors_total",
                &port,
                p.rx_errors,
                old.rx_errors,
            );
            for d in Disposition::ALL {
                let (n, o) = (p.get(d), old.get(d));
                if n != o {
                    let l = [("port", name.clone()), ("verdict", d.name().to_string())];
                    add("nsg_packets_total", &l, n.frames, o.frames);
                    add("nsg_bytes_total", &l, n.bytes, o.bytes);
                }
            }
        }
        let (v, ov) = (&pipe.verdict, &self.pipeline.verdict);
        for (k, n) in &v.by_rule {
            let o = ov.by_rule.get(k).copied().unwrap_or(0);
            if *n > o {
                let rule = match rules.policy_at(k.generation) {
                    Some(p) => decider(k.rule).name(&p).unwrap_or_else(|| "-".to_string()),
                    None => RuleNames::default().name(k.generation, k.rule),
                };
                let l = [
                    ("rule", rule),
                    (
                        "access",
                        if k.allowed { "allow" } else { "deny" }.to_string(),
                    ),
                ];
                add("nsg_rule_hits_total", &l, *n, o);
            }
        }
        let (f, of) = (&pipe.flow, &self.pipeline.flow);
        add(
            "nsg_flows_created_total",
            &[],
            v.flows_created,
            ov.flows_created,
        );
        for (class, n, o) in [
            ("closed", f.evicted_closed, of.evicted_closed),
            ("closing", f.evicted_closing, of.evicted_closing),
            ("half_open", f.evicted_half_open, of.evicted_half_open),
        ] {
            add(
                "nsg_flow_evictions_total",
                &[("class", class.to_string())],
                n,
                o,
            );
        }
        add("nsg_flow_refusals_total", &[], f.refusals, of.refusals);
        add(
            "nsg_flows_expired_total",
            &[],
            f.expired + f.expired_on_lookup,
            of.expired + of.expired_on_lookup,
        );
        let old_drops = self.pipeline.parse.drop_counts();
        for (reason, n) in pipe.parse.drop_counts() {
            let o = old_drops
                .iter()
                .find(|(r, _)| *r == reason)
                .map_or(0, |x| x.1);
            add(
                "nsg_parse_drops_total",
                &[("reason", reason.to_string())],
                n,
                o,
            );
        }
        export_host(&sw.host, &self.switch.host);
        self.switch = sw.clone();
        self.pipeline = pipe.clone();
    }
}

/// The growth of the platform answers (DHCP, router advertisements).
fn export_host(h: &HostStats, o: &HostStats) {
    for (kind, n, before) in [
        ("dhcp_offer", h.dhcp_offers, o.dhcp_offers),
        ("dhcp_ack", h.dhcp_acks, o.dhcp_acks),
        ("dhcp_nak", h.dhcp_naks, o.dhcp_naks),
        ("router_advert", h.router_adverts, o.router_adverts),
        ("dhcp6_reply", h.dhcp6_replies, o.dhcp6_replies),
    ] {
        add(
            "nsg_host_replies_total",
            &[("kind", kind.to_string())],
            n,
            before,
        );
    }
    add(
        "nsg_dhcp_malformed_total",
        &[],
        h.dhcp_malformed,
        o.dhcp_malformed,
    );
}

/// Count a reload.
pub fn reload(ok: bool, generation: u64) {
    let result = if ok { "ok" } else { "refused" };
    metrics::counter!("nsg_reloads_total", "result" => result).increment(1);
    self::generation(generation);
}

/// The generation of the policy in force.
pub fn generation(generation: u64) {
    metrics::gauge!("nsg_policy_generation").set(generation as f64);
}

/// The flow table's size.
pub fn flows(entries: usize) {
    metrics::gauge!("nsg_flows").set(entries as f64);
}

/// A port whose device went away: counted once per port, and the number
/// of ports no longer switched.
pub fn port_lost(port: &str) {
    metrics::counter!("nsg_port_lost_total", "port" => port.to_string()).increment(1);
    metrics::gauge!("nsg_ports_down").increment(1.0);
}

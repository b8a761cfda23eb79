//! The summary tables the commands print: the pipeline's counters (`nsg
//! replay`, `nsg demo`, `nsg run`), with what each command adds.

use nsg_capture::replay::ReplayReport;
use nsg_dataplane::policy::RuleNames;
use nsg_dataplane::run::RunReport;
use nsg_dataplane::stats::PipelineStats;
use nsg_dataplane::switch::stats::Disposition;
use std::time::Duration;

/// The summary of a replay: the pipeline's table with the flow table's
/// fill inserted, then what the capture reader tolerated.
pub fn replay(r: &ReplayReport) -> String {
    let mut s = pipeline(&r.stats, &r.rule_names, r.elapsed);
    let at = s.find("  flow evictions").unwrap_or(s.len());
    s.insert_str(
        at,
        &format!(
            "  {:<28} {} of {} flows at the end\n",
            "flow table",
            r.flows(),
            r.flow_capacity()
        ),
    );
    let quirks = r.quirks.lines();
    if !quirks.is_empty() {
        s.push_str("\n  capture read as libpcap reads it\n");
        for (what, n) in quirks {
            s.push_str(&format!("    {what:<54} {n}\n"));
        }
    }
    s
}

/// The summary of `nsg run`: counters per port, then the pipeline's summary.
pub fn run(r: &RunReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "  {:<16} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "port", "rx", "tx", "allowed", "denied", "spoofed", "no route", "arp/dhcp", "other"
    ));
    for (i, p) in r.switch.ports.iter().enumerate() {
        let g = |d: Disposition| p.get(d).frames;
        let other = g(Disposition::Dropped) + g(Disposition::Filtered) + g(Disposition::NoNeighbor);
        s.push_str(&format!(
            "  {:<16} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            r.port_names.get(i).map_or("?", |n| n.as_str()),
            p.rx.frames,
            p.tx.frames,
            g(Disposition::Allowed),
            g(Disposition::Denied),
            g(Disposition::Spoofed),
            g(Disposition::NoRoute),
            g(Disposition::Neighbor) + g(Disposition::Platform),
            other
        ));
    }
    s.push_str(&format!(
        "  ARP answered {}, neighbour solicitations answered {}, solicitations sent {}, \
         frames unresolved {}\n",
        r.switch.arp_replies, r.switch.nd_replies, r.switch.solicitations, r.switch.unresolved
    ));
    let h = &r.switch.host;
    s.push_str(&format!(
        "  DHCP offers {}, acks {}, naks {}, malformed {}; router advertisements {}, \
         DHCPv6 replies {}\n",
        h.dhcp_offers,
        h.dhcp_acks,
        h.dhcp_naks,
        h.dhcp_malformed,
        h.router_adverts,
        h.dhcp6_replies
    ));
    s.push_str(&format!(
        "  frames handed to the worker owning their connection {}, dropped with its inbox full {}, \
         dropped as it stopped {}\n",
        r.switch.handoff.sent, r.switch.handoff.dropped, r.switch.handoff.stopped
    ));
    s.push_str(&format!(
        "  policy generation {}, flows in the table {}, expired by sweeps {}\n\n",
        r.generation, r.flows, r.sweeps.expired
    ));
    s.push_str(&pipeline(&r.pipeline, &r.rule_names, r.elapsed));
    s
}

/// The summary table of pipeline counters: frames, allowed, denied per
/// deciding rule, parse drops per reason, unmanaged, flows created, elapsed,
/// Mpps.
pub fn pipeline(stats: &PipelineStats, names: &RuleNames, elapsed: Duration) -> String {
    let v = &stats.verdict;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    let mut line = |k: &str, val: String| s.push_str(&format!("  {k:<28} {val}\n"));
    line("frames", v.frames.to_string());
    line(
        "allowed",
        format!("{} ({} by flow state)", v.allowed, v.allowed_by_state),
    );
    line("denied", v.denied.to_string());
    line("dropped", v.dropped.to_string());
    line(
        "unmanaged",
        format!("{} ({} dropped)", v.unmanaged, v.unmanaged_dropped),
    );
    line("not IP (ARP, ND, other)", v.not_ip.to_string());
    line("flows created", v.flows_created.to_string());
    let f = &stats.flow;
    line(
        "flow evictions",
        format!(
            "{} ({} closed, {} closing, {} half-open)",
            f.evictions(),
            f.evicted_closed,
            f.evicted_closing,
            f.evicted_half_open
        ),
    );
    line("flow refusals (table full)", f.refusals.to_string());
    line(
        "flows expired",
        (f.expired + f.expired_on_lookup).to_string(),
    );
    line("policy evaluations", v.evaluations.to_string());
    line("elapsed", format!("{:.3} s", secs));
    line("rate", format!("{:.2} Mpps", v.frames as f64 / secs / 1e6));
    let mut named: std::collections::BTreeMap<(String, bool), u64> = Default::default();
    for (k, n) in &v.by_rule {
        *named
            .entry((names.name(k.generation, k.rule), k.allowed))
            .or_default() += n;
    }
    let mut rules: Vec<(String, bool, u64)> =
        named.into_iter().map(|((r, a), n)| (r, a, n)).collect();
    rules.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    if !rules.is_empty() {
        s.push_str("\n  frames by deciding rule\n");
        for (name, allowed, n) in rules {
            s.push_str(&format!(
                "    {:<5} {:<48} {n}\n",
                if allowed { "allow" } else { "deny" },
                name
            ));
        }
    }
    let drops = stats.parse.drop_counts();
    if !drops.is_empty() || v.orphan_fragments > 0 || v.table_full > 0 {
        s.push_str("\n  drops by reason\n");
        for (reason, n) in drops {
            s.push_str(&format!("    {reason:<54} {n}\n"));
        }
        if v.orphan_fragments > 0 {
            s.push_str(&format!(
                "    {:<54} {}\n",
                "fragment without its first fragment", v.orphan_fragments
            ));
        }
        if v.table_full > 0 {
            s.push_str(&format!("    {:<54} {}\n", "flow table full", v.table_full));
        }
    }
    s
}

//! NSG flow logs in Azure's version 2 JSON format: a writer the pipeline
//! feeds one flow tuple at a time, and a parser for Azure's files and ours.
//!
//! A file is `{"records": [...]}`; each record covers one NSG and one minute:
//!
//! ```json
//! {"time": "2024-05-01T12:00:00.0000000Z", "systemId": "...",
//!  "category": "NetworkSecurityGroupFlowEvent",
//!  "resourceId": "/SUBSCRIPTIONS/.../NETWORKSECURITYGROUPS/NSG1",
//!  "operationName": "NetworkSecurityGroupFlowEvents",
//!  "properties": {"Version": 2, "flows": [
//!    {"rule": "UserRule_Allow-HTTP", "flows": [
//!      {"mac": "02000A000104", "flowTuples": [
//!        "1714564800,203.0.113.7,10.0.1.4,40000,80,T,I,A,B,,,,"]}]}]}}
//! ```
//!
//! A tuple is `ts,src,dst,sport,dport,T|U,I|O,A|D,B|C|E,packets s->d,bytes
//! s->d,packets d->s,bytes d->s`: Unix seconds, TCP or UDP, inbound or
//! outbound, allowed or denied, and the flow's state: begun (B, counters
//! empty), continuing (C, counters so far) or ended (E, counters of the
//! whole flow). Rules are named `DefaultRule_<name>` or `UserRule_<name>`;
//! the MAC is the NIC's as 12 upper-case hex digits, or empty.
//!
//! ## Guarantees
//! - [`FlowLog::to_json`] depends only on the set of tuples recorded, not on
//!   the order of [`FlowLog::record`] calls: records by minute then NSG,
//!   rules and MACs by name, tuples in a total order starting with time.
//! - [`parse_flow_log`] reads Azure's version 2 files and everything
//!   [`FlowLog`] writes, giving every field the same meaning.
//!
//! ## Not here
//! Which flows to log and when (Azure logs TCP and UDP only; a deny by the
//! NSG that denied, an allow by the last NSG that allowed) is the
//! pipeline's business. Version 1 files (tuples without state and counters)
//! are refused, not read.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};

/// The resource id prefix of [`FlowLog::default`]: a placeholder
/// subscription (all zeros) and resource group `NSG`, upper-cased as Azure
/// writes resource ids. An NSG's id is this, `/`, and its upper-cased name.
pub const DEFAULT_RESOURCE_PREFIX: &str = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NSG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS";

/// The category of every record.
pub const CATEGORY: &str = "NetworkSecurityGroupFlowEvent";
/// The operation name of every record.
pub const OPERATION_NAME: &str = "NetworkSecurityGroupFlowEvents";
/// The format version written and read.
pub const VERSION: u64 = 2;

/// Where a flow is in its life when a tuple is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlowState {
    /// The flow began (`B`); no counters.
    Begin,
    /// The flow goes on (`C`); counters so far.
    Continuing,
    /// The flow ended (`E`); counters of the whole flow.
    End,
}

impl FlowState {
    /// The letter in a tuple.
    pub fn letter(self) -> char {
        match self {
            FlowState::Begin => 'B',
            FlowState::Continuing => 'C',
            FlowState::End => 'E',
        }
    }

    /// The state of a tuple's letter.
    pub fn from_letter(s: &str) -> Option<FlowState> {
        match s {
            "B" => Some(FlowState::Begin),
            "C" => Some(FlowState::Continuing),
            "E" => Some(FlowState::End),
            _ => None,
        }
    }
}

/// Packets and bytes of a flow in each direction, source to destination
/// (`_sd`) being the direction of the flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Counters {
    /// Packets from source to destination.
    pub packets_sd: u64,
    /// Bytes from source to destination.
    pub bytes_sd: u64,
    /// Packets from destination to source.
    pub packets_ds: u64,
    /// Bytes from destination to source.
    pub bytes_ds: u64,
}

/// One flow tuple. Fields are in the order of the text form, and the
/// derived order (time first) is the order tuples are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowTuple {
    /// Unix time in seconds.
    pub ts: u64,
    /// Source address (of the flow's first packet).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// TCP (`T`), else UDP (`U`).
    pub tcp: bool,
    /// Inbound (`I`), else outbound (`O`).
    pub inbound: bool,
    /// Allowed (`A`), else denied (`D`).
    pub allowed: bool,
    /// Begin, continuing or end.
    pub state: FlowState,
    /// Counters; `None` writes empty fields (as begin tuples have).
    pub counters: Option<Counters>,
}

impl fmt::Display for FlowTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},{},{},{},{},{},",
            self.ts,
            self.src,
            self.dst,
            self.src_port,
            self.dst_port,
            if self.tcp { 'T' } else { 'U' },
            if self.inbound { 'I' } else { 'O' },
            if self.allowed { 'A' } else { 'D' },
            self.state.letter(),
        )?;
        match self.counters {
            Some(c) => write!(
                f,
                "{},{},{},{}",
                c.packets_sd, c.bytes_sd, c.packets_ds, c.bytes_ds
            ),
            None => f.write_str(",,,"),
        }
    }
}

impl std::str::FromStr for FlowTuple {
    type Err = String;

    /// A version 2 tuple: 13 comma-separated fields.
    fn from_str(s: &str) -> Result<FlowTuple, String> {
        let f: Vec<&str> = s.split(',').collect();
        if f.len() != 13 {
            return Err(format!(
                "tuple {s:?} has {} fields, a version 2 tuple has 13",
                f.len()
            ));
        }
        fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
            s.parse()
                .map_err(|_| format!("{what} {s:?} is not a number in range"))
        }
        fn ip(s: &str, what: &str) -> Result<IpAddr, String> {
            s.parse()
                .map_err(|_| format!("{what} {s:?} is not an IP address"))
        }
        fn letter(s: &str, yes: &str, no: &str, what: &str) -> Result<bool, String> {
            if s == yes {
                Ok(true)
            } else if s == no {
                Ok(false)
            } else {
                Err(format!("{what} {s:?} is neither {yes} nor {no}"))
            }
        }
        let counters = match (f[9], f[10], f[11], f[12]) {
            ("", "", "", "") => None,
            (a, b, c, d) => Some(Counters {
                packets_sd: num(a, "packets source to destination")?,
                bytes_sd: num(b, "bytes source to destination")?,
                packets_ds: num(c, "packets destination to source")?,
                bytes_ds: num(d, "bytes destination to source")?,
            }),
        };
        Ok(FlowTuple {
            ts: num(f[0], "time")?,
            src: ip(f[1], "source")?,
            dst: ip(f[2], "destination")?,
            src_port: num(f[3], "source port")?,
            dst_port: num(f[4], "destination port")?,
            tcp: letter(f[5], "T", "U", "protocol")?,
            inbound: letter(f[6], "I", "O", "direction")?,
            allowed: letter(f[7], "A", "D", "decision")?,
            state: FlowState::from_letter(f[8])
                .ok_or_else(|| format!("flow state {:?} is not B, C or E", f[8]))?,
            counters,
        })
    }
}

/// A rule's name as flow logs write it: `DefaultRule_<rule>` or
/// `UserRule_<rule>`.
pub fn logged_rule_name(rule: &str, default_rule: bool) -> String {
    if default_rule {
        format!("DefaultRule_{rule}")
    } else {
        format!("UserRule_{rule}")
    }
}

/// A MAC as flow logs write it: 12 upper-case hex digits, or empty.
pub fn mac_string(mac: Option<[u8; 6]>) -> String {
    mac.map_or_else(String::new, |m| {
        m.iter().map(|b| format!("{b:02X}")).collect()
    })
}

/// The MAC of a flow log's `mac` field (`None` for an empty one).
fn parse_mac(s: &str) -> Result<Option<[u8; 6]>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || format!("mac {s:?} is not 12 hex digits");
    if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Some(mac))
}

/// One logged tuple with what it was logged under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The NSG's name, upper-cased as in resource ids.
    nsg: String,
    /// The rule as logged (`UserRule_...`).
    rule: String,
    /// The MAC as logged.
    mac: String,
    tuple: FlowTuple,
}

/// A flow log being written: tuples recorded in any order, grouped into
/// records per NSG and minute on output.
#[derive(Debug, Clone)]
pub struct FlowLog {
    prefix: String,
    entries: Vec<Entry>,
}

impl Default for FlowLog {
    /// A log with [`DEFAULT_RESOURCE_PREFIX`].
    fn default() -> FlowLog {
        FlowLog::new(DEFAULT_RESOURCE_PREFIX)
    }
}

impl FlowLog {
    /// An empty log whose NSG resource ids are `resource_prefix/NAME`,
    /// upper-cased (a trailing `/` of the prefix is dropped).
    pub fn new(resource_prefix: &str) -> FlowLog {
        FlowLog {
            prefix: resource_prefix.trim_end_matches('/').to_uppercase(),
            entries: Vec::new(),
        }
    }

    /// Number of tuples recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record a tuple logged by NSG `nsg` under its rule `rule` (a default
    /// rule when `default_rule`) at the NIC with MAC `mac`.
    pub fn record(
        &mut self,
        nsg: &str,
        rule: &str,
        default_rule: bool,
        mac: Option<[u8; 6]>,
        t: FlowTuple,
    ) {
        self.entries.push(Entry {
            nsg: nsg.to_uppercase(),
            rule: logged_rule_name(rule, default_rule),
            mac: mac_string(mac),
            tuple: t,
        });
    }

    /// The resource id of an NSG.
    pub fn resource_id(&self, nsg: &str) -> String {
        format!("{}/{}", self.prefix, nsg.to_uppercase())
    }

    /// The log as Azure writes it: `{"records": [...]}`, one record per NSG
    /// and minute.
    pub fn to_json(&self) -> Value {
        type Macs<'a> = BTreeMap<&'a str, Vec<FlowTuple>>;
        let mut groups: BTreeMap<(u64, &str), BTreeMap<&str, Macs>> = BTreeMap::new();
        for e in &self.entries {
            groups
                .entry((e.tuple.ts / 60 * 60, e.nsg.as_str()))
                .or_default()
                .entry(e.rule.as_str())
                .or_default()
                .entry(e.mac.as_str())
                .or_default()
                .push(e.tuple);
        }
        let records: Vec<Value> = groups
            .into_iter()
            .map(|((minute, nsg), rules)| {
                let flows: Vec<Value> = rules
                    .into_iter()
                    .map(|(rule, macs)| {
                        let per_mac: Vec<Value> = macs
                            .into_iter()
                            .map(|(mac, mut tuples)| {
                                tuples.sort_unstable();
                                let t: Vec<String> = tuples.iter().map(|t| t.to_string()).collect();
                                json!({"mac": mac, "flowTuples": t})
                            })
                            .collect();
                        json!({"rule": rule, "flows": per_mac})
                    })
                    .collect();
                json!({
                    "time": iso8601_minute(minute),
                    "systemId": system_id(nsg),
                    "category": CATEGORY,
                    "resourceId": self.resource_id(nsg),
                    "operationName": OPERATION_NAME,
                    "properties": {"Version": VERSION, "flows": flows},
                })
            })
            .collect();
        json!({ "records": records })
    }

    /// Write [`FlowLog::to_json`] to a file, indented.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let mut w = io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer_pretty(&mut w, &self.to_json())?;
        w.write_all(b"\n")?;
        w.flush()
    }
}

/// The increment of SplitMix64's state (Steele, Lea, Flood 2014).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output for the state `x`: the generator's `n`th output is
/// `splitmix(seed + n * GAMMA)`.
fn splitmix(x: u64) -> u64 {
    let z = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable, UUID-shaped system id for an NSG, derived from its name (Azure
/// writes the NSG's resource GUID; ours must not change between runs).
pub(crate) fn system_id(nsg: &str) -> String {
    // FNV-1a, then two SplitMix64 steps for 128 well-mixed bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in nsg.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let (a, b) = (
        splitmix(h.wrapping_add(GAMMA)),
        splitmix(h.wrapping_add(GAMMA.wrapping_mul(2))),
    );
    // Version 4 and variant 1 bits, as a random UUID has.
    let a = (a & !0xf000) | 0x4000;
    let b = (b & !(0xc << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `secs` (a whole minute) as ISO 8601 UTC with Azure's seven fractional
/// digits: `2018-11-13T12:00:00.0000000Z`.
pub(crate) fn iso8601_minute(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.0000000Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Day 1..=31 and month 1..=12 by construction: the conversions hold.
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A tuple read from a flow log, with what it was logged under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTuple {
    /// The record's `time`, as written.
    pub time: String,
    /// The record's `resourceId`.
    pub resource_id: String,
    /// The NSG's name: the last segment of the resource id (upper-case in
    /// Azure's files and ours).
    pub nsg: String,
    /// The rule as logged: `DefaultRule_<name>` or `UserRule_<name>`.
    pub rule: String,
    /// The NIC's MAC; `None` when logged empty.
    pub mac: Option<[u8; 6]>,
    /// The tuple.
    pub tuple: FlowTuple,
}

/// Every tuple of a version 2 flow log (`{"records": [...]}`), in file
/// order. A fault names the record, rule and tuple where it is.
pub fn parse_flow_log(json: &Value) -> Result<Vec<ParsedTuple>, String> {
    let records = json
        .get("records")
        .and_then(Value::as_array)
        .ok_or("not a flow log: no \"records\" array")?;
    let mut out = Vec::new();
    for (ri, rec) in records.iter().enumerate() {
        let at = |what: &str| format!("record {ri}: {what}");
        let text = |key: &str| {
            rec.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| at(&format!("no \"{key}\" string")))
        };
        let time = text("time")?;
        let resource_id = text("resourceId")?;
        let category = text("category")?;
        if category != CATEGORY {
            return Err(at(&format!("category {category:?} is not {CATEGORY:?}")));
        }
        let props = rec
            .get("properties")
            .ok_or_else(|| at("no \"properties\""))?;
        match props.get("Version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(v) => {
                return Err(at(&format!(
                    "version {v} is not supported, only version {VERSION}"
                )))
            }
            None => return Err(at("no numeric \"properties.Version\"")),
        }
        let nsg = resource_id.rsplit('/').next().unwrap_or(resource_id);
        let rules = props
            .get("flows")
            .and_then(Value::as_array)
            .ok_or_else(|| at("no \"properties.flows\" array"))?;
        for (gi, group) in rules.iter().enumerate() {
            let rule = group
                .get("rule")
                .and_then(Value::as_str)
                .ok_or_else(|| at(&format!("flow group {gi} has no \"rule\" string")))?;
            let at_rule = |what: &str| at(&format!("rule {rule}: {what}"));
            let per_mac = group
                .get("flows")
                .and_then(Value::as_array)
                .ok_or_else(|| at_rule("no \"flows\" array"))?;
            for m in per_mac {
                let mac_text = m
                    .get("mac")
                    .and_then(Value::as_str)
                    .ok_or_else(|| at_rule("no \"mac\" string"))?;
                let mac = parse_mac(mac_text).map_err(|e| at_rule(&e))?;
                let tuples = m
                    .get("flowTuples")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at_rule("no \"flowTuples\" array"))?;
                for (ti, t) in tuples.iter().enumerate() {
                    let s = t
                        .as_str()
                        .ok_or_else(|| at_rule(&format!("tuple {ti} is not a string")))?;
                    let tuple = s
                        .parse()
                        .map_err(|e| at_rule(&format!("tuple {ti}: {e}")))?;
                    out.push(ParsedTuple {
                        time: time.to_string(),
                        resource_id: resource_id.to_string(),
                        nsg: nsg.to_string(),
                        rule: rule.to_string(),
                        mac,
                        tuple,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(s: &str) -> FlowTuple {
        s.parse().unwrap()
    }

    #[test]
    fn tuples_round_trip_through_text() {
        for s in [
            "1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,",
            "1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008",
            "1708978215,2001:db8::5,fd00:10:0:1::4,35370,80,T,I,A,E,52,29952,47,27072",
        ] {
            assert_eq!(tuple(s).to_string(), s);
        }
    }

    #[test]
    fn tuple_fields_have_their_meaning() {
        let t = tuple("1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008");
        assert_eq!(t.ts, 1_542_110_379);
        assert_eq!(t.src, "10.5.16.4".parse::<IpAddr>().unwrap());
        assert_eq!(t.dst, "203.0.113.115".parse::<IpAddr>().unwrap());
        assert_eq!((t.src_port, t.dst_port), (44931, 443));
        assert!(t.tcp && !t.inbound && t.allowed);
        assert_eq!(t.state, FlowState::Continuing);
        let c = t.counters.unwrap();
        assert_eq!(
            (c.packets_sd, c.bytes_sd, c.packets_ds, c.bytes_ds),
            (30, 16978, 24, 14008)
        );
    }

    #[test]
    fn bad_tuples_say_why() {
        for (s, why) in [
            ("1,10.0.0.1,10.0.0.2,1,2,T,I,A", "8 fields"),
            ("1,10.0.0.1,10.0.0.2,1,2,X,I,A,B,,,,", "protocol"),
            ("1,10.0.0.1,10.0.0.2,1,2,T,I,A,Z,,,,", "flow state"),
            ("1,10.0.0.1,10.0.0.2,70000,2,T,I,A,B,,,,", "source port"),
            ("1,10.0.0.300,10.0.0.2,1,2,T,I,A,B,,,,", "source"),
            ("1,10.0.0.1,10.0.0.2,1,2,T,I,A,E,1,,1,1", "bytes source"),
        ] {
            let e = s.parse::<FlowTuple>().unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn names_and_macs_as_azure_writes_them() {
        assert_eq!(
            logged_rule_name("DenyAllInBound", true),
            "DefaultRule_DenyAllInBound"
        );
        assert_eq!(logged_rule_name("Allow-Web", false), "UserRule_Allow-Web");
        assert_eq!(
            mac_string(Some([0x00, 0x0d, 0x3a, 0xf8, 0x78, 0x56])),
            "000D3AF87856"
        );
        assert_eq!(mac_string(None), "");
        assert_eq!(
            parse_mac("000D3AF87856").unwrap(),
            Some([0x00, 0x0d, 0x3a, 0xf8, 0x78, 0x56])
        );
        assert_eq!(parse_mac("").unwrap(), None);
        assert!(parse_mac("00:0D:3A:F8:78").is_err());
        assert!(parse_mac("000D3AF8785G").is_err());
    }

    #[test]
    fn minutes_in_iso8601() {
        assert_eq!(iso8601_minute(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(
            iso8601_minute(1_542_110_400),
            "2018-11-13T12:00:00.0000000Z"
        );
        // A leap day and the end of a leap year.
        assert_eq!(
            iso8601_minute(1_709_164_800),
            "2024-02-29T00:00:00.0000000Z"
        );
        assert_eq!(
            iso8601_minute(1_735_689_540),
            "2024-12-31T23:59:00.0000000Z"
        );
    }

    #[test]
    fn system_ids_are_stable_and_uuid_shaped() {
        let a = system_id("NSG1");
        assert_eq!(a, system_id("NSG1"));
        assert_ne!(a, system_id("NSG2"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn records_group_by_nsg_and_minute() {
        let mut log = FlowLog::default();
        let t = tuple("1714564799,203.0.113.7,10.0.1.4,40000,80,T,I,A,B,,,,");
        let u = FlowTuple {
            ts: 1_714_564_800,
            ..t
        };
        log.record("nsg1", "Allow-HTTP", false, None, t);
        log.record("NSG1", "Allow-HTTP", false, None, u);
        log.record("NSG2", "DenyAllInBound", true, None, u);
        let j = log.to_json();
        let recs = j["records"].as_array().unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0]["time"], "2024-05-01T11:59:00.0000000Z");
        assert_eq!(recs[1]["time"], "2024-05-01T12:00:00.0000000Z");
        assert!(recs[1]["resourceId"]
            .as_str()
            .unwrap()
            .ends_with("/NETWORKSECURITYGROUPS/NSG1"));
        assert!(recs[2]["resourceId"].as_str().unwrap().ends_with("/NSG2"));
        assert_eq!(
            recs[2]["properties"]["flows"][0]["rule"],
            "DefaultRule_DenyAllInBound"
        );
        assert_eq!(recs[2]["properties"]["Version"], 2);
    }

    #[test]
    fn a_prefix_is_upper_cased_without_its_trailing_slash() {
        let log = FlowLog::new(
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/",
        );
        assert_eq!(
            log.resource_id("web-nsg"),
            "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG"
        );
    }

    #[test]
    fn parse_refuses_what_is_not_a_v2_log() {
        assert!(parse_flow_log(&json!({})).unwrap_err().contains("records"));
        let v1 = json!({"records": [{
            "time": "t", "resourceId": "/X/NSG", "category": CATEGORY,
            "properties": {"Version": 1, "flows": []}}]});
        assert!(parse_flow_log(&v1).unwrap_err().contains("version 1"));
        let other = json!({"records": [{
            "time": "t", "resourceId": "/X/NSG", "category": "NetworkSecurityGroupEvent",
            "properties": {"Version": 2, "flows": []}}]});
        assert!(parse_flow_log(&other).unwrap_err().contains("category"));
        let bad = json!({"records": [{
            "time": "t", "resourceId": "/X/NSG", "category": CATEGORY,
            "properties": {"Version": 2, "flows": [{"rule": "UserRule_R", "flows": [
                {"mac": "", "flowTuples": ["1,2"]}]}]}}]});
        let e = parse_flow_log(&bad).unwrap_err();
        assert!(
            e.contains("record 0") && e.contains("UserRule_R") && e.contains("tuple 0"),
            "{e}"
        );
    }
}

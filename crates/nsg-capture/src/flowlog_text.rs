//! The text of a flow log written piece by piece, byte for byte as
//! `serde_json`'s pretty printer writes [`FlowLog::to_json`] inside the
//! whole file (keys in sorted order, two spaces a level), so that a minute
//! is written without building its JSON tree first.
//!
//! A record is written as `begin_record`, then for each rule `begin_rule`,
//! for each MAC `begin_mac`, its `tuple`s and `end_mac`, then `end_rule`,
//! and `end_record`; each `begin_*` and `tuple` is told whether it is the
//! first of its list.
//!
//! [`FlowLog::to_json`]: crate::flowlog::FlowLog::to_json

use std::io::{self, Write};

use crate::flowlog::{iso8601_minute, system_id, FlowTuple, CATEGORY, OPERATION_NAME, VERSION};

/// A JSON string, escaped as `serde_json` escapes it.
fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::from)
}

/// The separator before an element of a list.
fn sep(out: &mut impl Write, first: bool) -> io::Result<()> {
    out.write_all(if first { b"\n" } else { b",\n" })
}

/// Open a record (an element of `records`) up to its rule list.
pub(crate) fn begin_record(out: &mut impl Write, first: bool) -> io::Result<()> {
    sep(out, first)?;
    write!(
        out,
        "    {{\n      \"category\": \"{CATEGORY}\",\n      \"operationName\": \"{OPERATION_NAME}\",\n      \"properties\": {{\n        \"Version\": {VERSION},\n        \"flows\": ["
    )
}

/// Open a rule's object up to its MAC list.
pub(crate) fn begin_rule(out: &mut impl Write, first: bool) -> io::Result<()> {
    sep(out, first)?;
    out.write_all(b"          {\n            \"flows\": [")
}

/// Open a MAC's object up to its tuple list.
pub(crate) fn begin_mac(out: &mut impl Write, first: bool) -> io::Result<()> {
    sep(out, first)?;
    out.write_all(b"              {\n                \"flowTuples\": [")
}

/// One tuple of a MAC's list.
pub(crate) fn tuple(out: &mut impl Write, first: bool, t: &FlowTuple) -> io::Result<()> {
    sep(out, first)?;
    // A tuple's text (numbers, addresses, letters, commas) needs no escape.
    write!(out, "                  \"{t}\"")
}

/// Close a MAC's tuple list and object.
pub(crate) fn end_mac(out: &mut impl Write, mac: &str) -> io::Result<()> {
    out.write_all(b"\n                ],\n                \"mac\": ")?;
    string(out, mac)?;
    out.write_all(b"\n              }")
}

/// Close a rule's MAC list and object; `rule` as logged.
pub(crate) fn end_rule(out: &mut impl Write, rule: &str) -> io::Result<()> {
    out.write_all(b"\n            ],\n            \"rule\": ")?;
    string(out, rule)?;
    out.write_all(b"\n          }")
}

/// Close a record of NSG `nsg` (upper-cased) for the minute starting at
/// `minute` (Unix seconds); `prefix` is the resource id prefix.
pub(crate) fn end_record(
    out: &mut impl Write,
    prefix: &str,
    nsg: &str,
    minute: u64,
) -> io::Result<()> {
    out.write_all(b"\n        ]\n      },\n      \"resourceId\": ")?;
    string(out, &format!("{prefix}/{nsg}"))?;
    out.write_all(b",\n      \"systemId\": ")?;
    string(out, &system_id(nsg))?;
    out.write_all(b",\n      \"time\": ")?;
    string(out, &iso8601_minute(minute))?;
    out.write_all(b"\n    }")
}

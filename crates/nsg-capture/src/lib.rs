//! # nsg-capture
//!
//! The offline side of nsg: capture files, replay and flow logs. A pcap or
//! pcapng file (Ethernet, Linux cooked, raw IP or BSD loopback) is mapped
//! and read frame by frame as slices of it ([`capture::CaptureReader`]),
//! replayed through the live
//! path's workers and pipeline ([`replay`]), and its frames written back
//! out by verdict ([`capture::CaptureWriter`], the one writer: the traffic
//! synthesiser writes its pcaps with it too). Replays can write NSG flow
//! logs in Azure's version 2 JSON ([`flowlog_stream::FlowLogWriter`]), and
//! [`flowlog`] reads and checks them back.
//!
//! ## Guarantees
//! - Readers are bounded and never panic on a file: a record longer than
//!   [`capture::MAX_RECORD`] is a fault naming the file and byte offset,
//!   not an allocation; what libpcap tolerates is read and counted.
//! - No allocation or copy per frame read. The unsafe code is in one file
//!   (`capture/source.rs`): the mapping of the file, and a SIGBUS guard
//!   that answers a touch past the end of a file cut while it is mapped
//!   with a page of zeros. The reader checks the file's length before
//!   reading past what it has seen, so a capture cut while it is read ends
//!   with a fault at the cut record (or, cut behind the reader, at the end),
//!   never with a signal.
//! - A replay judges frames exactly as the live path does (the same
//!   workers, sharded by flow, results in input order), so a verdict seen in
//!   a replay is the verdict a port would give.
//! - Outputs keep the input's format and interfaces; write faults are
//!   reported, never ignored.
//!
//! ## Not here
//! The pipeline, workers and flow-table setup are `nsg-dataplane`'s; link
//! types and where a frame's network header starts are `nsg-packet`'s. Progress bars
//! and summary text belong to the command line (`nsg replay`): a replay
//! reports progress through a callback and returns its counters.

#![deny(unsafe_code)]
#![warn(clippy::cast_possible_truncation)]

pub mod capture;
pub mod flowlog;
mod flowlog_held;
pub mod flowlog_stream;
mod flowlog_text;
pub mod replay;

pub mod flowlog;
pub mod synth;

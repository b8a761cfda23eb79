//! The one output path of every command: stdout through a locked, buffered
//! writer whose faults become a command error instead of a panic, and notes
//! on stderr that never panic.
//!
//! A write error ends the command with exit status 1 and `nsg: cannot write
//! output: ...`; a closed pipe (`nsg effective ... | head -1`) ends it
//! quietly with status 141, as a process killed by SIGPIPE would end. The
//! runtime keeps SIGPIPE ignored (sockets of `nsg run` rely on it), so a
//! closed pipe shows up here as `ErrorKind::BrokenPipe`.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::process::ExitCode;

/// The exit status of a command whose reader went away: 128 + SIGPIPE.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Writing the command's output failed.
#[derive(Debug)]
pub struct OutputError(pub io::Error);

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write output: {}", self.0)
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl OutputError {
    /// Whether the reader closed the pipe (ends quietly).
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// A command's stdout.
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
}

impl Out {
    /// Stdout, locked for the life of the command.
    pub fn stdout() -> Out {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    /// Formatted text, as `write!`/`writeln!` on an `Out` call it.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), OutputError> {
        self.w.write_fmt(args).map_err(OutputError)
    }

    /// Raw bytes.
    pub fn write_bytes(&mut self, b: &[u8]) -> Result<(), OutputError> {
        self.w.write_all(b).map_err(OutputError)
    }

    /// Text as it is (with its own newlines).
    pub fn text(&mut self, s: &str) -> Result<(), OutputError> {
        self.write_bytes(s.as_bytes())
    }

    /// Hand what is buffered to stdout, e.g. before waiting for input.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        self.w.flush().map_err(OutputError)
    }
}

/// Write a note to stderr, ignoring a fault: there is nowhere left to
/// report it, and a note is not worth a panic.
pub fn note(args: fmt::Arguments<'_>) {
    let mut e = io::stderr().lock();
    let _ = e.write_fmt(args);
    let _ = e.write_all(b"\n");
}

/// `note!("...", args)`: one line on stderr, never a panic.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::out::note(format_args!($($arg)*))
    };
}

/// The exit status for a command's result, with its fault on stderr. A
/// closed pipe ends quietly with [`BROKEN_PIPE_STATUS`].
pub fn exit(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(t) = e.downcast_ref::<Threshold>() {
        note(format_args!("{}", t.0));
        return ExitCode::from(THRESHOLD_STATUS);
    }
    if let Some(o) = e.downcast_ref::<OutputError>() {
        if o.is_broken_pipe() {
            return ExitCode::from(BROKEN_PIPE_STATUS);
        }
        note(format_args!("nsg: {o}"));
        return ExitCode::FAILURE;
    }
    let text = e.to_string();
    note(format_args!("{}", text.strip_suffix('\n').unwrap_or(&text)));
    ExitCode::FAILURE
}

/// The exit status of an analysis whose `--fail-on` threshold was met
/// (`nsg lint`, `nsg diff`): the command ran and printed its answer.
pub const THRESHOLD_STATUS: u8 = 3;

/// A command that ran and printed its answer but met its `--fail-on`
/// threshold: the one-line reason goes to stderr, the exit status is
/// [`THRESHOLD_STATUS`].
#[derive(Debug)]
pub struct Threshold(pub String);

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Threshold {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_threshold_exits_3() {
        let t: Box<dyn std::error::Error> = Box::new(Threshold("2 findings".into()));
        assert_eq!(exit(Err(t)), ExitCode::from(THRESHOLD_STATUS));
    }

    #[test]
    fn broken_pipe_is_quiet_and_other_faults_fail() {
        let pipe: Box<dyn std::error::Error> =
            Box::new(OutputError(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert_eq!(exit(Err(pipe)), ExitCode::from(BROKEN_PIPE_STATUS));
        let full = OutputError(io::Error::from_raw_os_error(28));
        assert!(!full.is_broken_pipe());
        assert!(full.to_string().starts_with("cannot write output: "));
        assert_eq!(exit(Err(Box::new(full))), ExitCode::FAILURE);
        assert_eq!(exit(Ok(())), ExitCode::SUCCESS);
    }
}

//! Size limits on the files nsg reads, and the one bounded reader every
//! reader uses.
//!
//! A file's metadata cannot be trusted for its size (`/dev/zero`, a pipe or a
//! FIFO report 0 bytes), so each file is read through `take(limit + 1)`: one
//! byte past the limit proves the file too large, and no more than that is
//! ever held in memory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

/// Largest TOML policy file.
pub const MAX_POLICY_BYTES: u64 = 16 * MIB;
/// Largest Azure JSON file (`az ... list` output, API resource, ARM template
/// or parameters file). ARM itself refuses templates over 4 MB; `az` list
/// outputs of large subscriptions can be bigger.
pub const MAX_AZURE_JSON_BYTES: u64 = 16 * MIB;
/// Most bytes of Azure JSON one import reads over all its files and
/// directories.
pub const MAX_AZURE_JSON_TOTAL_BYTES: u64 = 128 * MIB;
/// Largest service tags JSON file (`ServiceTags_Public_*.json` is about 4 to 5
/// MB).
pub const MAX_SERVICE_TAGS_BYTES: u64 = 64 * MIB;
/// Largest ClassBench rule set or trace file.
pub const MAX_CLASSBENCH_BYTES: u64 = 256 * MIB;

/// A file that could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file holds more than `limit` bytes.
    #[error("{}: larger than {}, the limit for {what}", path.display(), Size(*limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
        /// What kind of file, as the message names it (`a policy file`).
        what: &'static str,
    },
}

/// A byte count written in MiB when it is a whole number of them.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= MIB && self.0 / MIB * MIB == self.0 {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// At most `limit` bytes from the start of a file, and whether there was more.
pub fn read_prefix(path: &Path, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let more = bytes.len() as u64 > limit;
    if more {
        // `limit` is below `bytes.len()`, which is a usize.
        bytes.truncate(limit as usize);
    }
    Ok((bytes, more))
}

/// A whole file of at most `limit` bytes; `what` names the kind of file in
/// the error (`a policy file`).
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    match read_prefix(path, limit) {
        Ok((bytes, false)) => Ok(bytes),
        Ok((_, true)) => Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
            what,
        }),
        Err(source) => Err(ReadError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_limit_is_read_one_byte_over_is_refused() {
        let dir = std::env::temp_dir().join(format!("nsg-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_bounded(&p, 5, "a test file").unwrap(), b"12345");
        let e = read_bounded(&p, 4, "a test file").unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 4, .. }), "{e}");
        assert!(e
            .to_string()
            .ends_with("larger than 4 bytes, the limit for a test file"));
        assert_eq!(read_prefix(&p, 3).unwrap(), (b"123".to_vec(), true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_zero_is_refused_at_the_limit() {
        let z = Path::new("/dev/zero");
        if !z.exists() {
            eprintln!("skipped: no /dev/zero");
            return;
        }
        let e = read_bounded(z, MIB, "a test file").unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than 1 MiB, the limit for a test file"
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let e = read_bounded(Path::new("/nonexistent/x"), 10, "a test file").unwrap_err();
        assert!(matches!(e, ReadError::Io { .. }), "{e}");
    }
}

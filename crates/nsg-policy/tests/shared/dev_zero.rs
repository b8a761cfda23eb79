//! `/dev/zero` for the size-limit tests (included by nsg-policy's and
//! nsg-azure's `tests/limits.rs`).

use std::path::Path;
use std::time::Duration;

/// Reading a limit's worth of zeros and refusing takes well under this,
/// even in a debug build on a shared machine.
pub const QUICK: Duration = Duration::from_secs(20);

/// `/dev/zero`, or none (said on stderr) where there is none.
pub fn zero() -> Option<&'static Path> {
    let z = Path::new("/dev/zero");
    if z.exists() {
        Some(z)
    } else {
        eprintln!("skipped: no /dev/zero");
        None
    }
}

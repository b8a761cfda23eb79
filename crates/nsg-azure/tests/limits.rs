//! Azure JSON is read with a size limit: `/dev/zero` (whose metadata says 0
//! bytes) is refused quickly with an error naming the file and the limit,
//! never read until memory runs out.

use nsg_azure::{import, ImportOptions};
use nsg_policy::limits::MAX_AZURE_JSON_BYTES;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reading a limit's worth of zeros and refusing takes well under this,
/// even in a debug build on a shared machine.
const QUICK: Duration = Duration::from_secs(20);

fn zero() -> Option<&'static Path> {
    let z = Path::new("/dev/zero");
    if z.exists() {
        Some(z)
    } else {
        eprintln!("skipped: no /dev/zero");
        None
    }
}

#[test]
fn azure_json_dev_zero_is_refused_naming_file_and_limit() {
    let Some(z) = zero() else { return };
    assert_eq!(MAX_AZURE_JSON_BYTES, 16 << 20);
    let t = Instant::now();
    let e = import(&[z.to_path_buf()], &ImportOptions::default()).unwrap_err();
    assert!(t.elapsed() < QUICK, "took {:?}", t.elapsed());
    assert_eq!(e.faults.len(), 1, "{e}");
    assert_eq!(
        e.faults[0].to_string(),
        "/dev/zero: larger than 16 MiB, the limit for an Azure JSON file"
    );
    // Sniffing the format reads a bounded prefix too.
    assert!(!nsg_azure::is_azure_json(z));
}

//! Azure JSON is read with a size limit: `/dev/zero` (whose metadata says 0
//! bytes) is refused quickly with an error naming the file and the limit,
//! never read until memory runs out.

use nsg_azure::{import, ImportOptions};
use nsg_policy::limits::MAX_AZURE_JSON_BYTES;
use std::time::Instant;

#[path = "../../nsg-policy/tests/shared/dev_zero.rs"]
mod dev_zero;
use dev_zero::{zero, QUICK};

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

//! Names Azure refuses, for the name tests (included by nsg-policy's and
//! nsg-azure's `tests/names.rs`).

/// Names Azure refuses that the policy once accepted: a control character, a
/// tab, a space, a NUL, a right-to-left override first.
pub const BAD: [&str; 5] = ["n\u{1}x", "\t", " ", "\0", "\u{202e}abc"];
/// How each shows in faults and notes.
pub const SHOWN: [&str; 5] = [
    r#""n\u{1}x""#,
    r#""\t""#,
    r#"" ""#,
    r#""\0""#,
    r#""\u{202e}abc""#,
];

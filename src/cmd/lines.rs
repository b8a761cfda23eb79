//! Lines of untrusted input, read with a cap: a line longer than the cap is
//! reported with its length and skipped without being stored, so memory
//! stays bounded whatever the input holds. Bytes are not required to be
//! UTF-8; the caller decides what to do with them.

use std::io::{self, BufRead};

/// The longest line kept: 1 MiB.
pub const MAX_LINE: usize = 1024 * 1024;

/// One line read by [`next_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without its `\n`.
    Bytes(&'a [u8]),
    /// Longer than the cap: only its length (without `\n`) is known.
    TooLong(u64),
}

/// The next line of `r` into `buf` (cleared first; never grown past `max`
/// bytes), or `None` at the end. A last line without `\n` is still a line;
/// an input ending in `\n` has no empty line after it.
pub fn next_line<'a, R: BufRead + ?Sized>(
    r: &mut R,
    buf: &'a mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Line<'a>>> {
    buf.clear();
    let mut len: u64 = 0;
    let mut seen = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if !seen {
                return Ok(None);
            }
            break;
        }
        seen = true;
        let newline = chunk.iter().position(|&b| b == b'\n');
        let take = newline.unwrap_or(chunk.len());
        // Keep bytes only while the line can still fit.
        if len + take as u64 <= max as u64 {
            grow_within(buf, take, max);
            buf.extend_from_slice(&chunk[..take]);
        } else {
            buf.clear();
        }
        len += take as u64;
        r.consume(take + usize::from(newline.is_some()));
        if newline.is_some() {
            break;
        }
    }
    if len > max as u64 {
        return Ok(Some(Line::TooLong(len)));
    }
    Ok(Some(Line::Bytes(buf)))
}

/// Room for `more` bytes in `buf`, growing by doubling but never past
/// `max` (the caller knows `buf.len() + more <= max`).
fn grow_within(buf: &mut Vec<u8>, more: usize, max: usize) {
    let need = buf.len() + more;
    if need > buf.capacity() {
        let target = (buf.capacity() * 2).clamp(need, max.max(need));
        buf.reserve_exact(target - buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    fn all(input: &[u8], max: usize, cap: usize) -> Vec<Result<Vec<u8>, u64>> {
        let mut r = BufReader::with_capacity(cap, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(l) = next_line(&mut r, &mut buf, max).unwrap() {
            out.push(match l {
                Line::Bytes(b) => Ok(b.to_vec()),
                Line::TooLong(n) => Err(n),
            });
        }
        out
    }

    #[test]
    fn every_line_is_one_item() {
        assert!(all(b"", 10, 4).is_empty());
        assert_eq!(all(b"\n", 10, 4), vec![Ok(vec![])]);
        assert_eq!(
            all(b"ab\n\n \xff\ncd", 10, 3),
            vec![
                Ok(b"ab".to_vec()),
                Ok(vec![]),
                Ok(b" \xff".to_vec()),
                Ok(b"cd".to_vec())
            ]
        );
        // Exactly the cap fits; one more byte does not, whatever the chunking.
        for cap in [1, 2, 5, 64] {
            assert_eq!(
                all(b"12345\n123456\nx", 5, cap),
                vec![Ok(b"12345".to_vec()), Err(6), Ok(b"x".to_vec())],
                "reader capacity {cap}"
            );
        }
    }

    #[test]
    fn a_long_line_is_skipped_without_being_stored() {
        // 64 MiB of one line, then a short one: the buffer never holds more
        // than the cap, and the next line is read as it is.
        let long = 64u64 << 20;
        let input = io::repeat(b'a').take(long).chain(&b"\nok\n"[..]);
        let mut r = BufReader::with_capacity(64 * 1024, input);
        let mut buf = Vec::new();
        let max = MAX_LINE;
        assert_eq!(
            next_line(&mut r, &mut buf, max).unwrap(),
            Some(Line::TooLong(long))
        );
        assert!(buf.capacity() <= max, "buffer grew to {}", buf.capacity());
        assert_eq!(
            next_line(&mut r, &mut buf, max).unwrap(),
            Some(Line::Bytes(b"ok"))
        );
        assert_eq!(next_line(&mut r, &mut buf, max).unwrap(), None);
        // A line of exactly the cap is kept, in a buffer no larger.
        let mut r = BufReader::new(io::repeat(b'b').take(max as u64));
        match next_line(&mut r, &mut buf, max).unwrap() {
            Some(Line::Bytes(b)) => assert_eq!(b.len(), max),
            other => panic!("{other:?}"),
        }
        assert!(buf.capacity() <= max, "buffer grew to {}", buf.capacity());
    }
}

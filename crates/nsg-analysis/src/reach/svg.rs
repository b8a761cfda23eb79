//! The reach matrix as an SVG picture, drawn as text: one `<rect>` per
//! pair (class `cell` and its level, `none`, `some` or `all`) with a
//! `<title>` naming the pair and what it allows, row labels (sources) on
//! the left, column labels (destinations) on top, and a legend.

use super::{Level, Reach};
use std::fmt::Write;

/// Side of one cell, in pixels.
const CELL: usize = 22;
/// Approximate width of one character of label text, in pixels.
const CHAR: usize = 7;
/// Margin around the picture.
const PAD: usize = 8;
/// Width the legend takes, in pixels.
const LEGEND_WIDTH: usize = 200;

/// The colour class of a level.
fn class(level: Level) -> &'static str {
    match level {
        Level::None => "none",
        Level::Some => "some",
        Level::All => "all",
    }
}

/// `s` with XML's special characters escaped, for text and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The picture of `r`.
pub fn render(r: &Reach) -> String {
    let longest = |v: &[String]| v.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let left = PAD + CHAR * longest(&r.sources) + PAD;
    let top = PAD + CHAR * longest(&r.destinations) + PAD;
    // Wide enough for the legend's longest line.
    let width = (left + CELL * r.destinations.len() + PAD).max(LEGEND_WIDTH);
    let height = top + CELL * r.sources.len() + PAD + 3 * CELL;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    s.push_str(
        "<style>.none{fill:#eeeeee}.some{fill:#f0ad4e}.all{fill:#d9534f}\
         rect{stroke:#ffffff}</style>\n",
    );
    let _ = writeln!(
        s,
        "<title>nsg reach by {}: sources in rows, destinations in columns</title>",
        r.by.name()
    );
    labels(&mut s, r, left, top);
    cells(&mut s, r, left, top);
    legend(&mut s, top + CELL * r.sources.len() + PAD);
    s.push_str("</svg>\n");
    s
}

/// Row labels right-aligned left of the rows, column labels written
/// upwards above the columns.
fn labels(s: &mut String, r: &Reach, left: usize, top: usize) {
    s.push_str("<g class=\"sources\">\n");
    for (i, name) in r.sources.iter().enumerate() {
        let y = top + CELL * i + CELL * 2 / 3;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            left - PAD / 2,
            escape(name)
        );
    }
    s.push_str("</g>\n<g class=\"destinations\">\n");
    for (j, name) in r.destinations.iter().enumerate() {
        let x = left + CELL * j + CELL * 2 / 3;
        let y = top - PAD / 2;
        let _ = writeln!(
            s,
            "<text x=\"{x}\" y=\"{y}\" transform=\"rotate(-90 {x} {y})\">{}</text>",
            escape(name)
        );
    }
    s.push_str("</g>\n");
}

/// One rect per pair, at its source's row and destination's column.
fn cells(s: &mut String, r: &Reach, left: usize, top: usize) {
    let row = |n: &str| r.sources.iter().position(|x| x == n);
    let col = |n: &str| r.destinations.iter().position(|x| x == n);
    s.push_str("<g class=\"pairs\">\n");
    for p in &r.pairs {
        let (Some(i), Some(j)) = (row(&p.from), col(&p.to)) else {
            continue;
        };
        let level = p.allowed.level();
        let _ = writeln!(
            s,
            "<rect class=\"cell {}\" x=\"{}\" y=\"{}\" width=\"{CELL}\" height=\"{CELL}\">\
             <title>{} to {}: {}</title></rect>",
            class(level),
            left + CELL * j,
            top + CELL * i,
            escape(&p.from),
            escape(&p.to),
            escape(&p.allowed.summary()),
        );
    }
    s.push_str("</g>\n");
}

/// What the three colours mean, one per line.
fn legend(s: &mut String, y: usize) {
    s.push_str("<g class=\"legend\">\n");
    for (k, (level, text)) in [
        (Level::None, "nothing"),
        (Level::Some, "some protocols or ports"),
        (Level::All, "everything"),
    ]
    .into_iter()
    .enumerate()
    {
        let (x, y) = (PAD, y + k * (CELL * 3 / 4));
        let _ = writeln!(
            s,
            "<rect class=\"{}\" x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{text}</text>",
            class(level),
            CELL / 2,
            CELL / 2,
            x + CELL / 2 + 4,
            y + CELL / 2 - 1,
        );
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y"), "x y");
    }
}

//! The source excerpt printed under a warning or an error, as BuildKit's
//! `errdefs.Source.Print` renders it:
//!
//! ```text
//! Dockerfile:7
//! --------------------
//!    5 |     COPY $app .
//!    6 |
//!    7 | >>> FROM scratch as third
//!    8 |
//! --------------------
//! ```

use std::io::{self, Write};

use kiln_lint::Range;

/// Writes the excerpt of `source` around `ranges` to `out`.
///
/// The header names `filename` and the first line of the ranges; lines inside any range are
/// marked `>>>`. A one-line range gets up to two lines of context on each side, a longer one
/// one line (more on one side when the other runs out, as upstream pads). Lines are the
/// bytes between `\n`s, written as they are (a `\r` stays, invalid UTF-8 is not replaced).
/// Nothing is written when `ranges` is empty or starts outside the source.
pub fn print_source_excerpt(
    out: &mut dyn Write,
    filename: &str,
    source: &[u8],
    ranges: &[Range],
) -> io::Result<()> {
    let lines: Vec<&[u8]> = source.split(|b| *b == b'\n').collect();
    let Some((mut start, mut end)) = start_end(ranges) else {
        return Ok(());
    };
    if start > lines.len() || start < 1 {
        return Ok(());
    }
    end = end.min(lines.len());
    let first = start;

    let pad = if end == start { 4 } else { 2 };
    let mut p = 0;
    while p < pad {
        if start > 1 {
            start -= 1;
            p += 1;
        }
        if end != lines.len() {
            end += 1;
            p += 1;
        }
        p += 1;
    }

    write!(out, "{filename}:{first}\n--------------------\n")?;
    for (i, line) in lines.iter().enumerate().take(end).skip(start - 1) {
        let n = i + 1;
        let marker = if contains_line(ranges, n) {
            ">>>"
        } else {
            "   "
        };
        write!(out, " {n:>3} | {marker} ")?;
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"--------------------\n")
}

/// [`print_source_excerpt`] into a `String` (invalid UTF-8 replaced), for embedding the
/// excerpt in an error message. Empty when nothing would be printed.
pub fn format_source_excerpt(filename: &str, source: &[u8], ranges: &[Range]) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = print_source_excerpt(&mut buf, filename, source, ranges);
    String::from_utf8_lossy(&buf).into_owned()
}

fn range_end(r: &Range) -> usize {
    r.end.line.max(r.start.line)
}

fn start_end(ranges: &[Range]) -> Option<(usize, usize)> {
    let start = ranges.iter().map(|r| r.start.line).min()?;
    let end = ranges.iter().map(range_end).max()?;
    Some((start, end))
}

fn contains_line(ranges: &[Range], line: usize) -> bool {
    ranges
        .iter()
        .any(|r| r.start.line <= line && range_end(r) >= line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt(src: &str, ranges: &[Range]) -> String {
        format_source_excerpt("Dockerfile", src.as_bytes(), ranges)
    }

    #[test]
    fn one_line_gets_two_lines_of_context() {
        let src = "FROM a\nRUN 1\nRUN 2\nCOPY $app .\n\nFROM scratch as third\n\nRUN 3\nRUN 4\n";
        assert_eq!(
            excerpt(src, &[Range::lines(6, 6)]),
            "Dockerfile:6\n\
             --------------------\n\
             \x20  4 |     COPY $app .\n\
             \x20  5 |     \n\
             \x20  6 | >>> FROM scratch as third\n\
             \x20  7 |     \n\
             \x20  8 |     RUN 3\n\
             --------------------\n"
        );
    }

    #[test]
    fn first_line_gets_context_after_only() {
        let src = "\nFROM busybox as base\nCOPY Dockerfile .\n\t";
        assert_eq!(
            excerpt(src, &[Range::lines(2, 2)]),
            "Dockerfile:2\n\
             --------------------\n\
             \x20  1 |     \n\
             \x20  2 | >>> FROM busybox as base\n\
             \x20  3 |     COPY Dockerfile .\n\
             \x20  4 |     \t\n\
             --------------------\n"
        );
        assert_eq!(
            excerpt("FROM a\nRUN b\nRUN c\nRUN d\n", &[Range::lines(1, 1)]),
            "Dockerfile:1\n\
             --------------------\n\
             \x20  1 | >>> FROM a\n\
             \x20  2 |     RUN b\n\
             \x20  3 |     RUN c\n\
             --------------------\n"
        );
    }

    #[test]
    fn multi_line_range_gets_one_line_each_side() {
        let src = "FROM a\nRUN x \\\n  y\nRUN z\nRUN w\n";
        assert_eq!(
            excerpt(src, &[Range::lines(2, 3)]),
            "Dockerfile:2\n\
             --------------------\n\
             \x20  1 |     FROM a\n\
             \x20  2 | >>> RUN x \\\n\
             \x20  3 | >>>   y\n\
             \x20  4 |     RUN z\n\
             --------------------\n"
        );
    }

    #[test]
    fn single_line_file() {
        assert_eq!(
            excerpt("FROM a", &[Range::lines(1, 1)]),
            "Dockerfile:1\n--------------------\n   1 | >>> FROM a\n--------------------\n"
        );
    }

    #[test]
    fn nothing_for_empty_or_out_of_range() {
        assert_eq!(excerpt("FROM a\n", &[]), "");
        assert_eq!(excerpt("FROM a\n", &[Range::lines(9, 9)]), "");
        assert_eq!(excerpt("FROM a\n", &[Range::lines(0, 0)]), "");
    }

    #[test]
    fn end_past_source_is_clamped_and_backwards_end_is_one_line() {
        assert_eq!(
            excerpt("A\nB", &[Range::lines(2, 10)]),
            "Dockerfile:2\n--------------------\n   1 |     A\n   2 | >>> B\n--------------------\n"
        );
        assert_eq!(
            excerpt(
                "A\nB\nC",
                &[Range {
                    start: crate::Position {
                        line: 2,
                        character: 0
                    },
                    end: crate::Position {
                        line: 1,
                        character: 0
                    }
                }]
            ),
            "Dockerfile:2\n--------------------\n   1 |     A\n   2 | >>> B\n   3 |     C\n--------------------\n"
        );
    }

    #[test]
    fn wide_line_numbers_and_raw_bytes() {
        let mut src = String::new();
        for i in 1..=1200 {
            src.push_str(&format!("RUN {i}\n"));
        }
        let out = excerpt(&src, &[Range::lines(1000, 1000)]);
        assert!(out.contains("\n 1000 | >>> RUN 1000\n"), "{out}");
        assert!(out.contains("\n 999 |     RUN 999\n"), "{out}");
        let mut buf = Vec::new();
        print_source_excerpt(&mut buf, "D", b"A\xff\r\nB", &[Range::lines(1, 1)]).unwrap();
        assert_eq!(
            buf,
            b"D:1\n--------------------\n   1 | >>> A\xff\r\n   2 |     B\n--------------------\n"
        );
    }
}

//! Reading a `.dockerignore` file into its pattern list (upstream `ignorefile.ReadAll`).

use crate::Error;
use crate::path;

const BOM: char = '\u{feff}';

/// Reads the text of a `.dockerignore` into its list of patterns, in file order.
///
/// Lines are split at `\n` (a `\r` before it is dropped). A UTF-8 byte-order mark at the start
/// of the text is removed. A line whose very first character is `#` is a comment (`  # x` is
/// a pattern). Each line is whitespace-trimmed and blank lines are skipped. A leading `!` is
/// split off (and the rest trimmed again); the rest is path-cleaned and one leading `/` is
/// removed, then the `!` is put back. A line that is only `!` yields `"!"`, which
/// [`PatternMatcher::new`](crate::PatternMatcher::new) rejects.
///
/// Never fails today; the `Result` is kept so that reading limits can be added without an API
/// change. A missing file is the caller's business: it means an empty list.
///
/// ```
/// let patterns = kiln_dockerignore::read_ignore_file("# build output\n/target/\n! /target/keep\n")?;
/// assert_eq!(patterns, ["target", "!target/keep"]);
/// # Ok::<(), kiln_dockerignore::Error>(())
/// ```
pub fn read_ignore_file(text: &str) -> Result<Vec<String>, Error> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    Ok(text.lines().filter_map(parse_line).collect())
}

/// Like [`read_ignore_file`] for the raw bytes of the file. Comment lines may hold any bytes
/// (a Latin-1 comment is fine); a pattern line must be UTF-8.
///
/// Errors: [`Error::InvalidUtf8`] naming the 1-based line of a pattern that is not UTF-8.
pub fn read_ignore_bytes(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let bytes = bytes
        .strip_prefix(BOM.to_string().as_bytes())
        .unwrap_or(bytes);
    let mut patterns = Vec::new();
    // `split` yields one empty piece after a final `\n`; it is blank, so it is skipped.
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.first() == Some(&b'#') {
            continue;
        }
        let line = std::str::from_utf8(line).map_err(|_| Error::InvalidUtf8 { line: index + 1 })?;
        patterns.extend(parse_line(line));
    }
    Ok(patterns)
}

/// One line of the file to its pattern, or `None` for a comment or blank line.
fn parse_line(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (invert, rest) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    let mut pattern = String::with_capacity(rest.len() + 1);
    if invert {
        pattern.push('!');
    }
    if !rest.is_empty() {
        let cleaned = path::clean(rest);
        let relative = match cleaned.strip_prefix('/') {
            Some(tail) if !tail.is_empty() => tail,
            _ => cleaned.as_str(),
        };
        pattern.push_str(relative);
    }
    Some(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_upstream() {
        let text = "\u{feff}#bom comment\r\ntest1\r\n/test2\n  # not a comment\n\t\n! /inv/abs\n!\n! \n//x//\n/\n./a/../b\n\u{a0}c\u{2003}";
        let want = [
            "test1",
            "test2",
            "# not a comment",
            "!inv/abs",
            "!",
            "!",
            "x",
            "/",
            "b",
            "c",
        ];
        assert_eq!(read_ignore_file(text), Ok(want.map(String::from).to_vec()));
        assert_eq!(
            read_ignore_bytes(text.as_bytes()),
            Ok(want.map(String::from).to_vec())
        );
    }

    #[test]
    fn bom_only_counts_at_the_start() {
        assert_eq!(
            read_ignore_file("a\n\u{feff}b"),
            Ok(vec!["a".to_string(), "\u{feff}b".to_string()])
        );
    }

    #[test]
    fn bytes_allow_non_utf8_comments_only() {
        assert_eq!(
            read_ignore_bytes(b"# caf\xe9\nfoo\n"),
            Ok(vec!["foo".to_string()])
        );
        assert_eq!(
            read_ignore_bytes(b"foo\ncaf\xe9\n"),
            Err(Error::InvalidUtf8 { line: 2 })
        );
    }
}

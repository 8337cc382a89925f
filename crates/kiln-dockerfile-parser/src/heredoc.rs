//! Here-document markers (`<<EOF`, `<<-'EOF'`, `3<<EOF`): recognising them in words and on
//! instruction lines, and stripping the leading tabs of `<<-` bodies.

use crate::error::ParseErrorKind;
use crate::node::Heredoc;
use crate::shell_words::{Options, process_words};

/// Reads one word as a heredoc marker, like BuildKit's `ParseHeredoc`: an optional file
/// descriptor number, `<<`, an optional `-` (chomp), optional blanks, then exactly one shell
/// word (the delimiter, quotes removed). `Ok(None)` when the word is not a heredoc marker;
/// an error when the delimiter cannot be lexed (e.g. an unbalanced quote: `<<'EOF`).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseErrorKind> {
    // ^(\d*)<<(-?)\s*([^<]*)$
    let digits_len = word.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, rest) = word.split_at(digits_len);
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\u{c}']);
    if rest.contains('<') {
        return Ok(None);
    }
    if rest.is_empty() {
        return Ok(None);
    }
    // Go: ParseUint error ignored; out of range gives the maximum value.
    let file_descriptor = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().unwrap_or(u32::MAX)
    };

    let cooked = process_words(
        rest,
        Options {
            raw_quotes: false,
            raw_escapes: false,
        },
    )
    .map_err(ParseErrorKind::Heredoc)?;
    let [name] = cooked.as_slice() else {
        return Ok(None);
    };
    let raw = process_words(
        rest,
        Options {
            raw_quotes: true,
            raw_escapes: false,
        },
    )
    .map_err(ParseErrorKind::Heredoc)?;
    let [raw_name] = raw.as_slice() else {
        return Err(ParseErrorKind::Heredoc(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        )));
    };
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        file_descriptor,
    }))
}

/// [`parse_heredoc`] with errors treated as "not a heredoc" (BuildKit's `MustParseHeredoc`).
pub fn must_parse_heredoc(word: &str) -> Option<Heredoc> {
    parse_heredoc(word).ok().flatten()
}

/// The heredoc markers on an instruction line, in order (bodies empty). The line is split
/// into shell words keeping quotes and escapes, so `'<<EOF'` is not a marker; a line the
/// lexer cannot split yields no heredocs.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseErrorKind> {
    let words = process_words(
        line,
        Options {
            raw_quotes: true,
            raw_escapes: true,
        },
    )
    .unwrap_or_default();
    let mut docs = Vec::new();
    for word in &words {
        if let Some(h) = parse_heredoc(word)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Removes the leading tab characters of every line (the `<<-` form).
pub fn chomp_heredoc_content(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(w: &str) -> Option<String> {
        parse_heredoc(w).unwrap().map(|h| h.name)
    }

    #[test]
    fn markers() {
        assert_eq!(name("<<EOF").as_deref(), Some("EOF"));
        assert_eq!(name("<< EOF").as_deref(), Some("EOF"));
        assert_eq!(name("<<-\"EOF\"").as_deref(), Some("EOF"));
        assert_eq!(name("<<EOF sh"), None);
        assert_eq!(name("<<<EOF"), None);
        assert_eq!(name("<<"), None);
        assert!(parse_heredoc("<<'EOF").is_err());
        let h = parse_heredoc("12<<-'e'o\\'f").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.expand, h.chomp, h.file_descriptor),
            ("eo'f", false, true, 12)
        );
        assert_eq!(
            parse_heredoc("99999999999<<A")
                .unwrap()
                .unwrap()
                .file_descriptor,
            u32::MAX
        );
    }

    #[test]
    fn from_line() {
        let names = |l: &str| -> Vec<String> {
            heredocs_from_line(l)
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert_eq!(names("RUN << -EOF"), ["-EOF"]);
        assert!(names("RUN <<- EOF").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert!(names("RUN <<EOF 'unterminated").is_empty());
    }

    #[test]
    fn chomp() {
        assert_eq!(
            chomp_heredoc_content("\thello\n\t\tworld\n x\t\n"),
            "hello\nworld\n x\t\n"
        );
    }
}

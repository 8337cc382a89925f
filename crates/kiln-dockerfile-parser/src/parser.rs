//! The line loop of the parser: physical lines → logical instructions (directives,
//! comments, continuations, heredoc bodies) → AST nodes with line ranges and warnings.

use crate::directives::{DirectiveParser, ESCAPE};
use crate::error::{MAX_LINE_LENGTH, MAX_NESTING, ParseError, ParseErrorKind};
use crate::heredoc::heredocs_from_line;
use crate::line_parsers::{Parsed, dispatch, split_command};
use crate::node::{Node, ParseResult, Range, Warning};

/// BuildKit's default escape character.
pub const DEFAULT_ESCAPE_TOKEN: char = '\\';

const EMPTY_CONTINUATION_DETAIL: &str =
    "Empty continuation lines will become errors in a future release";
const EMPTY_CONTINUATION_URL: &str =
    "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/";

/// Physical lines of the input, each with its `\n` (the last one may lack it), like Go's
/// `bufio.Scanner` with a line splitter that keeps line endings.
struct Lines<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    /// The next line, `Some(Err(()))` for a line longer than the scanner allows.
    fn next_line(&mut self) -> Option<Result<&'a [u8], ()>> {
        let rest = self.src.get(self.pos..).filter(|r| !r.is_empty())?;
        let (line, content_len) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..=i], i),
            None => (rest, rest.len()),
        };
        if content_len > MAX_LINE_LENGTH {
            self.pos = self.src.len();
            return Some(Err(()));
        }
        self.pos += line.len();
        Some(Ok(line))
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn is_empty_continuation_line(line: &str) -> bool {
    trim_newline(line).trim_start().is_empty()
}

struct Parser<'a> {
    lines: Lines<'a>,
    directives: DirectiveParser,
    escape: char,
    current_line: usize,
}

impl Parser<'_> {
    /// Reads the next physical line as text (invalid UTF-8 replaced by U+FFFD).
    fn scan(&mut self) -> Result<Option<String>, ParseError> {
        match self.lines.next_line() {
            None => Ok(None),
            Some(Ok(bytes)) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
            Some(Err(())) => {
                let line = self.current_line + 1;
                Err(ParseError::new(ParseErrorKind::LineTooLong, line, line))
            }
        }
    }

    fn set_escape_token(&mut self, value: &str) -> Result<(), ParseErrorKind> {
        match value {
            "\\" => self.escape = '\\',
            "`" => self.escape = '`',
            other => return Err(ParseErrorKind::InvalidEscapeToken(other.to_string())),
        }
        Ok(())
    }

    /// Strips the line ending (and leading blanks if asked), feeds the directive parser and
    /// blanks out comment lines. Returns the text and whether the line was a directive.
    fn process_line(
        &mut self,
        raw: &str,
        strip_left: bool,
    ) -> Result<(String, bool), ParseErrorKind> {
        let mut token = trim_newline(raw);
        if strip_left {
            token = token.trim_start();
        }
        let directive = self.directives.parse_line(token)?;
        let is_directive = match directive {
            Some(d) if d.name == ESCAPE => {
                self.set_escape_token(&d.value)?;
                true
            }
            Some(_) => true,
            None => false,
        };
        let text = if is_comment(token) {
            String::new()
        } else {
            token.to_string()
        };
        Ok((text, is_directive))
    }

    /// Removes a trailing escape (line continuation) and the blanks after it. Returns the
    /// text and whether the logical line ends here. An escaped escape does not continue.
    fn trim_continuation(&self, line: String) -> (String, bool) {
        let trimmed = line.trim_end_matches([' ', '\t']);
        let Some(before) = trimmed.strip_suffix(self.escape) else {
            return (line, true);
        };
        if before.is_empty() {
            return (String::new(), false);
        }
        if before.ends_with(self.escape) {
            return (line, true);
        }
        (before.to_string(), false)
    }

    fn new_node_from_line(
        &self,
        line: &str,
        comments: Vec<String>,
        depth: usize,
    ) -> Result<Node, ParseErrorKind> {
        if depth > MAX_NESTING {
            return Err(ParseErrorKind::NestingTooDeep);
        }
        let (cmd, flags, rest) = split_command(line, self.escape);
        let keyword = cmd.to_lowercase();
        let parsed = if keyword == "onbuild" {
            if rest.is_empty() {
                Parsed::default()
            } else {
                let child = self.new_node_from_line(&rest, Vec::new(), depth + 1)?;
                Parsed {
                    next: vec![Node {
                        children: vec![child],
                        ..Node::default()
                    }],
                    json: false,
                }
            }
        } else {
            dispatch(&keyword, &rest, self.escape)?
        };
        Ok(Node {
            value: cmd,
            next: parsed.next,
            json: parsed.json,
            original: line.to_string(),
            flags,
            prev_comment: comments,
            ..Node::default()
        })
    }
}

/// True when the instruction (or the instruction inside `ONBUILD`) may carry heredocs:
/// `RUN`, `COPY`, `ADD` in shell form.
fn can_contain_heredoc(node: &Node) -> bool {
    let inner = node.next.first().and_then(|a| a.children.first());
    let n = match inner {
        Some(inner) if node.value.eq_ignore_ascii_case("onbuild") => inner,
        _ => node,
    };
    let k = n.value.to_ascii_lowercase();
    matches!(k.as_str(), "run" | "copy" | "add") && !n.json
}

fn set_lines(node: &mut Node, start: usize, end: usize) {
    node.start_line = start;
    node.end_line = end;
    for arg in &mut node.next {
        for child in &mut arg.children {
            set_lines(child, start, end);
        }
    }
}

/// Parses a Dockerfile like BuildKit's `parser.Parse`.
///
/// Accepts any bytes: a UTF-8 BOM is skipped; invalid UTF-8 is replaced by U+FFFD. Fails
/// with upstream's messages for a file without instructions, a line over 65535 bytes, an
/// invalid or repeated parser directive, a non-string exec-form array, `ENV`/`LABEL` syntax
/// errors and unterminated heredocs; every error carries the lines it concerns. Unknown
/// instructions are accepted here (the instructions layer rejects them).
pub fn parse(src: &[u8]) -> Result<ParseResult, ParseError> {
    let mut p = Parser {
        lines: Lines { src, pos: 0 },
        directives: DirectiveParser::new(),
        escape: DEFAULT_ESCAPE_TOKEN,
        current_line: 0,
    };
    let mut root = Node::default();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();

    while let Some(mut raw) = p.scan()? {
        if p.current_line == 0 && raw.starts_with('\u{FEFF}') {
            raw.drain(..'\u{FEFF}'.len_utf8());
        }
        if is_comment(&raw) {
            let mut chars = raw.chars();
            chars.next();
            let comment = chars.as_str().trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_string());
            }
        }
        let (text, is_directive) = p.process_line(&raw, true).map_err(|k| {
            let line = p.current_line + 1;
            ParseError::new(k, line, line)
        })?;
        if is_directive {
            comments.pop();
        }
        p.current_line += 1;
        let start_line = p.current_line;

        let (first, mut end_of_line) = p.trim_continuation(text);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut line = first;
        let mut has_empty_continuation = false;
        while !end_of_line {
            let Some(raw) = p.scan()? else {
                break;
            };
            let (text, _) = p.process_line(&raw, false).map_err(|k| {
                let line = p.current_line + 1;
                ParseError::new(k, line, line)
            })?;
            p.current_line += 1;
            if is_comment(&raw) {
                continue;
            }
            if is_empty_continuation_line(&text) {
                has_empty_continuation = true;
                continue;
            }
            let (more, eol) = p.trim_continuation(text);
            end_of_line = eol;
            line.push_str(&more);
        }

        if has_empty_continuation {
            warnings.push(Warning {
                short: format!("Empty continuation line found in: {line}"),
                detail: vec![EMPTY_CONTINUATION_DETAIL.to_string()],
                url: EMPTY_CONTINUATION_URL.to_string(),
                location: Range::lines(p.current_line, p.current_line),
            });
        }

        let mut child = p
            .new_node_from_line(&line, std::mem::take(&mut comments), 0)
            .map_err(|k| ParseError::new(k, start_line, p.current_line))?;

        if can_contain_heredoc(&child) && line.contains("<<") {
            let heredocs = heredocs_from_line(&line)
                .map_err(|k| ParseError::new(k, start_line, p.current_line))?;
            for mut heredoc in heredocs {
                let mut terminated = false;
                while let Some(body_line) = p.scan()? {
                    p.current_line += 1;
                    let mut candidate = trim_newline(&body_line);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(&body_line);
                }
                if !terminated {
                    return Err(ParseError::new(
                        ParseErrorKind::UnterminatedHeredoc,
                        start_line,
                        p.current_line,
                    ));
                }
                child.heredocs.push(heredoc);
            }
        }

        set_lines(&mut child, start_line, p.current_line);
        if root.children.is_empty() {
            root.start_line = start_line;
        }
        root.end_line = p.current_line;
        root.children.push(child);
    }

    if root.children.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::NoInstructions,
            p.current_line,
            p.current_line,
        ));
    }
    Ok(ParseResult {
        ast: root,
        escape_token: p.escape,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump;

    fn dumped(src: &str) -> String {
        dump(&parse(src.as_bytes()).unwrap().ast)
    }

    #[test]
    fn continuation_and_comments() {
        assert_eq!(
            dumped("RUN a \\\n# c\n  b\\\\\nRUN c"),
            "(run \"a   b\\\\\\\\\")\n(run \"c\")"
        );
        assert_eq!(dumped("# escape=`\nRUN a `\nb"), "(run \"a b\")");
    }

    #[test]
    fn prev_comments() {
        let r = parse(b"# syntax=x\n# doc one\n#\n# doc two\n\nFROM a\n# other\nRUN b").unwrap();
        assert_eq!(r.ast.children[0].prev_comment, ["doc two"]);
        assert_eq!(r.ast.children[1].prev_comment, ["other"]);
    }

    #[test]
    fn errors_have_lines() {
        let e = parse(b"FROM a\n\nRUN [\"a\", 1]\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotStringArray);
        assert_eq!((e.location.start.line, e.location.end.line), (3, 3));
        let e = parse(b"FROM a\nRUN <<EOF\nx\n").unwrap_err();
        assert_eq!(e.to_string(), "unterminated heredoc");
        assert_eq!((e.location.start.line, e.location.end.line), (2, 3));
        let e = parse(b"# escape=x\nFROM a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
        assert_eq!(e.location.start.line, 1);
        let e = parse(b"# escape=`\n# escape=`\nFROM a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "only one escape parser directive can be used"
        );
        assert_eq!(parse(b"").unwrap_err().kind, ParseErrorKind::NoInstructions);
    }

    #[test]
    fn heredoc_lines_and_onbuild() {
        let r = parse(b"FROM a\nONBUILD RUN <<EOF\nx\nEOF\nRUN b").unwrap();
        let ob = &r.ast.children[1];
        assert_eq!((ob.start_line, ob.end_line), (2, 4));
        assert_eq!(ob.heredocs[0].content, "x\n");
        assert_eq!(ob.next[0].children[0].start_line, 2);
        assert_eq!(r.ast.children[2].start_line, 5);
    }

    #[test]
    fn deep_onbuild_is_an_error_not_a_crash() {
        let src = format!("{}RUN x", "ONBUILD ".repeat(1_000));
        assert_eq!(
            parse(src.as_bytes()).unwrap_err().kind,
            ParseErrorKind::NestingTooDeep
        );
        let src = format!("FROM a\n{}RUN x", "ONBUILD \\\n".repeat(100_000));
        assert!(parse(src.as_bytes()).is_err());
    }

    #[test]
    fn odd_bytes_do_not_panic() {
        for src in [
            &b"\xff\xfe\x00RUN \xc3"[..],
            b"\\",
            b"RUN <<\xe2\x82",
            b"\xef\xbb\xbf\xef\xbb\xbfFROM a",
            b"RUN --a=\"\\",
            b"COPY <<'A' <<\"B\" x\nA\nB\n",
            b"ENV \xc3\xa0=",
        ] {
            let _ = parse(src);
        }
    }
}

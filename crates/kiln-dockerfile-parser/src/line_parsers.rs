//! Per-instruction argument parsers (BuildKit's `line_parsers.go` and `split_command.go`):
//! keyword/flags/arguments splitting, exec-form JSON, key/value pairs, words.

use crate::error::ParseErrorKind;
use crate::json::{JsonArrayError, parse_string_array};
use crate::node::Node;

/// The arguments of an instruction as parsed by its line parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub next: Vec<Node>,
    pub json: bool,
}

fn arg(value: impl Into<String>) -> Node {
    Node {
        value: value.into(),
        ..Node::default()
    }
}

fn args(values: impl IntoIterator<Item = String>) -> Vec<Node> {
    values.into_iter().map(arg).collect()
}

/// The ASCII whitespace of BuildKit's `reWhitespace` (`[\t\v\f\r ]+`).
fn is_ws_byte(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Go `regexp.Split` with `[\t\v\f\r ]+`: `n` < 0 means all pieces.
pub(crate) fn go_split_ws(s: &str, n: isize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if s.is_empty() {
        return vec![String::new()];
    }
    // Find the matches (maximal runs of whitespace).
    let mut matches: Vec<(usize, usize)> = Vec::new();
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_ws_byte(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if !is_ws_byte(d) {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            matches.push((i, end));
            if n > 0 && matches.len() as isize >= n {
                break;
            }
        }
    }
    let mut out = Vec::new();
    let mut beg = 0;
    let mut end = 0;
    for (ms, me) in matches {
        if n > 0 && out.len() as isize == n - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = me;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Splits an instruction line into keyword (as written), flags and the rest of the line
/// (trimmed), like BuildKit's `splitCommand`. Leading `--flag[=value]` words become flags
/// (quotes and `escape` honoured inside them); a `--` word ends the flags and is dropped.
pub fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let trimmed = line.trim();
    let mut parts = go_split_ws(trimmed, 2).into_iter();
    let cmd = parts.next().unwrap_or_default();
    let (rest, flags) = match parts.next() {
        Some(tail) => extract_builder_flags(&tail, escape),
        None => (String::new(), Vec::new()),
    };
    (cmd, flags, rest.trim().to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    // Walks the line lazily: flags are few and usually short, the rest can be long.
    let char_at = |pos: usize| line.get(pos..).and_then(|r| r.chars().next());
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    loop {
        let cur = char_at(pos);
        if phase == Phase::Spaces {
            let Some(ch) = cur else {
                break;
            };
            if ch.is_whitespace() {
                pos += ch.len_utf8();
                continue;
            }
            if ch != '-' || char_at(pos + 1) != Some('-') {
                return (line[pos..].to_string(), words);
            }
            phase = Phase::Word;
        }
        let Some(mut ch) = cur else {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        };
        let mut next = pos + ch.len_utf8();
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[pos..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos = next;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos = next;
                continue;
            }
            if ch == escape {
                let Some(escaped) = char_at(next) else {
                    // An escape at the very end is dropped.
                    pos = next;
                    continue;
                };
                ch = escaped;
                next += escaped.len_utf8();
            }
            word.push(ch);
            pos = next;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            pos = next;
            continue;
        }
        if ch == escape {
            let Some(escaped) = char_at(next) else {
                phase = Phase::Word;
                pos = next;
                continue;
            };
            ch = escaped;
            next += escaped.len_utf8();
        }
        word.push(ch);
        pos = next;
    }
    (String::new(), words)
}

/// Splits `rest` into words on whitespace, keeping quotes and escapes (BuildKit's
/// `parseWords`): quoted whitespace and escaped characters do not split; an escape at the
/// very end is dropped.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut i = 0;
    while i <= chars.len() {
        let cur = chars.get(i).copied();
        if phase == Phase::Spaces {
            let Some(ch) = cur else {
                break;
            };
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        let Some(mut ch) = cur else {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        };
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                ch = chars[i];
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            ch = chars[i];
        }
        word.push(ch);
        i += 1;
    }
    words
}

/// Parses `ENV`/`LABEL` arguments into the `next` chain: the legacy `key value` form gives
/// `[key, value, ""]`, the `k=v k2=v2` form gives `[k, v, "=", k2, v2, "="]`. Quotes and
/// escapes are kept. `instruction` names the instruction in error messages.
pub fn parse_name_val(
    rest: &str,
    instruction: &str,
    escape: char,
) -> Result<Vec<Node>, ParseErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = go_split_ws(rest, 2);
        let [key, value] = parts.as_slice() else {
            return Err(ParseErrorKind::MissingValue(instruction.to_string()));
        };
        return Ok(args([key.clone(), value.clone(), String::new()]));
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ParseErrorKind::MissingEquals(word));
        };
        out.push(arg(k));
        out.push(arg(v));
        out.push(arg("="));
    }
    Ok(out)
}

/// Parses an exec-form argument (`["a", "b"]`) into its strings.
pub fn parse_json_array(rest: &str) -> Result<Vec<String>, JsonArrayError> {
    parse_string_array(rest)
}

fn parse_json(rest: &str) -> Result<Parsed, JsonArrayError> {
    parse_string_array(rest).map(|v| Parsed {
        next: args(v),
        json: true,
    })
}

fn parse_maybe_json(rest: &str) -> Result<Parsed, ParseErrorKind> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    match parse_json(rest) {
        Ok(p) => Ok(p),
        Err(JsonArrayError::NotStringArray) => Err(ParseErrorKind::NotStringArray),
        Err(_) => Ok(Parsed {
            next: vec![arg(rest)],
            json: false,
        }),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<Parsed, ParseErrorKind> {
    match parse_json(rest) {
        Ok(p) => Ok(p),
        Err(JsonArrayError::NotStringArray) => Err(ParseErrorKind::NotStringArray),
        Err(_) => Ok(parse_whitespace_delimited(rest)),
    }
}

fn parse_whitespace_delimited(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Parsed::default();
    }
    Parsed {
        next: args(go_split_ws(rest, -1)),
        json: false,
    }
}

fn parse_string(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Parsed::default();
    }
    Parsed {
        next: vec![arg(rest)],
        json: false,
    }
}

fn parse_health_config(rest: &str) -> Result<Parsed, ParseErrorKind> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(Parsed::default());
    }
    let typ = &rest[..sep];
    let cmd = rest[sep..].trim_start();
    let mut parsed = parse_maybe_json(cmd)?;
    parsed.next.insert(0, arg(typ));
    Ok(parsed)
}

/// Dispatches the arguments of instruction `keyword` (lowercased) to its line parser.
/// `ONBUILD` is handled by the caller (it nests a whole instruction).
pub(crate) fn dispatch(keyword: &str, rest: &str, escape: char) -> Result<Parsed, ParseErrorKind> {
    match keyword {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(rest),
        "arg" => Ok(Parsed {
            next: args(parse_words(rest, escape)),
            json: false,
        }),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(rest),
        "env" => parse_name_val(rest, "ENV", escape).map(|next| Parsed { next, json: false }),
        "label" => parse_name_val(rest, "LABEL", escape).map(|next| Parsed { next, json: false }),
        "expose" | "from" => Ok(parse_whitespace_delimited(rest)),
        "healthcheck" => parse_health_config(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => Ok(parse_string(rest)),
        // Unknown instructions: arguments ignored, a single empty argument node.
        _ => Ok(Parsed {
            next: vec![Node::default()],
            json: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ws_like_go() {
        assert_eq!(go_split_ws("a  b\tc", -1), ["a", "b", "c"]);
        assert_eq!(go_split_ws("a  b c", 2), ["a", "b c"]);
        assert_eq!(go_split_ws("a", 2), ["a"]);
        assert_eq!(go_split_ws(" a ", -1), ["", "a", ""]);
        assert_eq!(go_split_ws("", 2), [""]);
    }

    #[test]
    fn flags() {
        let (cmd, flags, rest) = split_command("COPY --from=a --chown=\"x y\" -- --b c", '\\');
        assert_eq!(cmd, "COPY");
        assert_eq!(flags, ["--from=a", "--chown=x y"]);
        assert_eq!(rest, "--b c");
        let (_, flags, rest) = split_command("RUN --mount=type=secret,id=é echo", '\\');
        assert_eq!(flags, ["--mount=type=secret,id=é"]);
        assert_eq!(rest, "echo");
        let (_, flags, rest) = split_command("CMD --doit --", '\\');
        assert_eq!(flags, ["--doit"]);
        assert_eq!(rest, "");
        let (cmd, flags, rest) = split_command("", '\\');
        assert_eq!((cmd.as_str(), flags.len(), rest.as_str()), ("", 0, ""));
    }

    #[test]
    fn words() {
        assert_eq!(
            parse_words("a 'b c' \"d\\\" e\" f\\ g h\\", '\\'),
            ["a", "'b c'", "\"d\\\" e\"", "f\\ g", "h"]
        );
        assert_eq!(parse_words("x=\"\"", '\\'), ["x=\"\""]);
        assert_eq!(parse_words("'a\\' b", '\\'), ["'a\\'", "b"]);
    }

    #[test]
    fn name_val() {
        let vals = |r: &str| -> Vec<String> {
            parse_name_val(r, "ENV", '\\')
                .unwrap()
                .into_iter()
                .map(|n| n.value)
                .collect()
        };
        assert_eq!(vals("a   b  c"), ["a", "b  c", ""]);
        assert_eq!(vals("a=1 b=\"x y\""), ["a", "1", "=", "b", "\"x y\"", "="]);
        assert_eq!(
            parse_name_val("a=1 b", "ENV", '\\'),
            Err(ParseErrorKind::MissingEquals("b".into()))
        );
        assert_eq!(
            parse_name_val("a", "ENV", '\\').unwrap_err().to_string(),
            "ENV must have two arguments"
        );
    }

    #[test]
    fn health() {
        let p = parse_health_config("CMD   a b").unwrap();
        assert_eq!(
            p.next.iter().map(|n| n.value.as_str()).collect::<Vec<_>>(),
            ["CMD", "a b"]
        );
        let p = parse_health_config("CMD").unwrap();
        assert_eq!(p.next.len(), 1);
    }
}

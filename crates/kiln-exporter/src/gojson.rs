//! JSON bytes exactly as Go's `encoding/json` writes them, because digests cover those bytes.
//!
//! BuildKit marshals configs with `json.Marshal` and manifests/indexes with
//! `json.MarshalIndent(v, "", "  ")`. Three Go habits matter for byte equality:
//!
//! - strings escape `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026` and U+2028/U+2029 as
//!   `\u2028`/`\u2029` (HTML-safe encoding, on by default), control characters as `\n`, `\r`,
//!   `\t`, `\b`, `\f` or `\u00XX` (lowercase hex);
//! - struct fields come in declaration order (the private `wire` types in [`crate::image`] mirror
//!   the Go structs), map keys sorted bytewise;
//! - `json.RawMessage` values are re-emitted compacted, with the same HTML escaping
//!   ([`compact_raw`]), so a frontend's config object keeps its key order.
//!
//! Times are `time.Time` values: RFC 3339 with the shortest fractional seconds and `Z` for a
//! zero offset ([`format_time`]).

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A serde_json formatter that adds Go's HTML-safe string escaping to an inner formatter.
struct GoFormatter<F> {
    inner: F,
}

/// Writes `fragment` (a run of characters serde_json does not escape itself) with Go's extra
/// escapes.
fn write_go_fragment<W: ?Sized + io::Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        let escaped: Option<&[u8]> = match c {
            '<' => Some(b"\\u003c"),
            '>' => Some(b"\\u003e"),
            '&' => Some(b"\\u0026"),
            '\u{2028}' => Some(b"\\u2028"),
            '\u{2029}' => Some(b"\\u2029"),
            _ => None,
        };
        if let Some(esc) = escaped {
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc)?;
            start = i + c.len_utf8();
        }
    }
    writer.write_all(&fragment.as_bytes()[start..])
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                self.inner.$name(writer $(, $arg)*)
            }
        )*
    };
}

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_go_fragment(writer, fragment)
    }

    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }
}

/// `json.Marshal(v)`.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        GoFormatter {
            inner: CompactFormatter,
        },
    );
    value.serialize(&mut ser)?;
    Ok(out)
}

/// `json.MarshalIndent(v, "", "  ")`.
pub(crate) fn to_vec_indent<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        GoFormatter {
            inner: PrettyFormatter::with_indent(b"  "),
        },
    );
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Appends `raw` (valid JSON text) compacted the way Go re-emits a `json.RawMessage`: whitespace
/// outside strings dropped, HTML characters inside strings escaped, everything else verbatim.
pub(crate) fn compact_raw(raw: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    let mut buf = [0u8; 4];
    for c in raw.chars() {
        if in_string {
            if escaped {
                escaped = false;
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(b'\\');
                }
                '"' => {
                    in_string = false;
                    out.push(b'"');
                }
                '<' => out.extend_from_slice(b"\\u003c"),
                '>' => out.extend_from_slice(b"\\u003e"),
                '&' => out.extend_from_slice(b"\\u0026"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            }
        } else {
            match c {
                ' ' | '\t' | '\n' | '\r' => {}
                '"' => {
                    in_string = true;
                    out.push(b'"');
                }
                _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            }
        }
    }
}

/// Parses an RFC 3339 time as Go's `time.Time.UnmarshalJSON` accepts it.
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Formats a time as Go's `time.Time.MarshalJSON` (RFC 3339 with nanoseconds, trailing zeros
/// trimmed, `Z` for a zero offset), without the quotes.
pub fn format_time(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        s.push('Z');
    } else {
        let total = offset.whole_seconds();
        let sign = if total < 0 { '-' } else { '+' };
        let abs = total.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn html_characters_are_escaped_like_go() {
        let v = vec!["a && b <c> \u{2028}", "tab\tnl\n\u{1}"];
        let out = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"["a \u0026\u0026 b \u003cc\u003e \u2028","tab\tnl\n\u0001"]"#
        );
    }

    #[test]
    fn indent_matches_marshal_indent() {
        let mut m = BTreeMap::new();
        m.insert("b", vec![1, 2]);
        m.insert("a", vec![]);
        let out = String::from_utf8(to_vec_indent(&m).unwrap()).unwrap();
        assert_eq!(out, "{\n  \"a\": [],\n  \"b\": [\n    1,\n    2\n  ]\n}");
    }

    #[test]
    fn raw_messages_are_compacted_and_escaped() {
        let mut out = Vec::new();
        compact_raw(
            "{ \"Cmd\" : [ \"a && b\", \"x\\\"<\" ],\n \"Z\": 1 }",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Cmd":["a \u0026\u0026 b","x\"\u003c"],"Z":1}"#
        );
    }

    #[test]
    fn times_format_like_go() {
        let t = parse_time("2026-05-07T20:33:45.120000000Z").unwrap();
        assert_eq!(format_time(t), "2026-05-07T20:33:45.12Z");
        let t = parse_time("2026-05-07T20:33:45+02:00").unwrap();
        assert_eq!(format_time(t), "2026-05-07T20:33:45+02:00");
        let t = parse_time("2026-05-07T20:33:45+00:00").unwrap();
        assert_eq!(format_time(t), "2026-05-07T20:33:45Z");
    }
}

//! JSON the way Go's `json.MarshalIndent(v, "", "  ")` writes it, so `format=json` output is
//! byte-for-byte what buildx prints: two-space indentation, struct field order, `<`, `>`,
//! `&`, U+2028 and U+2029 escaped as `\u003c`-style sequences, and `[]byte` as standard
//! base64.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};
use std::io;

/// Serializes `value` as Go's `json.MarshalIndent` with a two-space indent would.
pub fn to_go_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter::default());
    value.serialize(&mut ser)?;
    // serde_json only writes valid UTF-8.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Standard base64 with padding (Go's encoding of `[]byte` in JSON).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(idx(18));
        out.push(idx(12));
        out.push(if chunk.len() > 1 { idx(6) } else { '=' });
        out.push(if chunk.len() > 2 { idx(0) } else { '=' });
    }
    out
}

/// serde's pretty formatter with Go's string escaping.
#[derive(Default)]
struct GoFormatter {
    inner: PrettyFormatter<'static>,
}

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut last = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[last..i])?;
            writer.write_all(esc.as_bytes())?;
            last = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[last..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let s: String = match char_escape {
            CharEscape::Quote => "\\\"".into(),
            CharEscape::ReverseSolidus => "\\\\".into(),
            CharEscape::Solidus => "/".into(),
            CharEscape::Backspace => "\\b".into(),
            CharEscape::FormFeed => "\\f".into(),
            CharEscape::LineFeed => "\\n".into(),
            CharEscape::CarriageReturn => "\\r".into(),
            CharEscape::Tab => "\\t".into(),
            CharEscape::AsciiControl(b) => format!("\\u{b:04x}"),
        };
        writer.write_all(s.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct T {
        b: &'static str,
        a: Vec<u32>,
        e: Vec<u32>,
        o: Option<u32>,
    }

    #[test]
    fn indents_and_keeps_field_order() {
        let s = to_go_json(&T {
            b: "x",
            a: vec![1, 2],
            e: vec![],
            o: None,
        })
        .unwrap();
        assert_eq!(
            s,
            "{\n  \"b\": \"x\",\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": [],\n  \"o\": null\n}"
        );
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            to_go_json(&"<a> & \"b\"\n\t\u{1}\u{2028}/").unwrap(),
            "\"\\u003ca\\u003e \\u0026 \\\"b\\\"\\n\\t\\u0001\\u2028/\""
        );
    }

    #[test]
    fn base64_std_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"FROM busybox\n"), "RlJPTSBidXN5Ym94Cg==");
    }
}

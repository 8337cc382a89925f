//! `--progress=rawjson`: every [`SolveStatus`] batch as one line of JSON, byte for byte what
//! buildx prints (Go's `json.Encoder`: compact, HTML characters escaped, `[]byte` as base64,
//! RFC 3339 timestamps).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::event::SolveStatus;
use crate::printer::Printer;

/// The rawjson printer: writes each batch as soon as it arrives.
#[derive(Debug)]
pub struct RawJsonPrinter<W: Write + Send> {
    w: W,
}

impl<W: Write + Send> RawJsonPrinter<W> {
    /// A rawjson printer writing to `w`.
    pub fn new(w: W) -> RawJsonPrinter<W> {
        RawJsonPrinter { w }
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.w
    }

    /// The writer, to inspect what was written so far.
    pub fn get_ref(&self) -> &W {
        &self.w
    }
}

/// One batch as Go's `json.Encoder.Encode` writes it, with the trailing newline.
pub fn to_json_line(status: &SolveStatus) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoCompact);
    status.serialize(&mut ser).map_err(io::Error::other)?;
    buf.push(b'\n');
    Ok(buf)
}

impl<W: Write + Send> Printer for RawJsonPrinter<W> {
    fn update(&mut self, status: &SolveStatus) -> io::Result<()> {
        let line = to_json_line(status)?;
        self.w.write_all(&line)?;
        self.w.flush()
    }

    fn refresh(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn done(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// serde's compact formatter with Go's string escaping (`<`, `>`, `&`, U+2028, U+2029;
/// control characters are escaped alike: `\n`, `\b`, `\u001f`).
struct GoCompact;

impl Formatter for GoCompact {
    fn write_string_fragment<W: ?Sized + Write>(
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
}

//! A small JSON reader with Go `encoding/json` semantics, for exec-form arrays
//! (`["sh", "-c"]`) and the JSON form of the `syntax` directive. Iterative, so deeply
//! nested input cannot exhaust the stack.

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Why a text is not a JSON array of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonArrayError {
    /// The text does not start with `[` (after leading whitespace).
    NotJsonArray,
    /// The text is not valid JSON.
    Syntax,
    /// Valid JSON array, but an element is not a string.
    NotStringArray,
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(s: &'a str) -> Self {
        Reader {
            b: s.as_bytes(),
            s,
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    fn hex4(&mut self) -> Result<u32, ()> {
        let digits = self.b.get(self.pos..self.pos + 4).ok_or(())?;
        let mut v = 0u32;
        for d in digits {
            let x = (*d as char).to_digit(16).ok_or(())?;
            v = v * 16 + x;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Reads a string starting at `"`; returns its decoded value.
    fn string(&mut self) -> Result<String, ()> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // `start..pos` only stops at ASCII bytes, so both ends are char boundaries.
            out.push_str(self.s.get(start..self.pos).ok_or(())?);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = self.peek().ok_or(())?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xE000).contains(&u) {
                                // A surrogate: combine with a following low surrogate,
                                // else U+FFFD (Go's behaviour).
                                let save = self.pos;
                                let mut combined = None;
                                if u < 0xDC00 && self.b.get(self.pos..self.pos + 2) == Some(b"\\u")
                                {
                                    self.pos += 2;
                                    combined = self
                                        .hex4()
                                        .ok()
                                        .filter(|lo| (0xDC00..0xE000).contains(lo))
                                        .and_then(|lo| {
                                            char::from_u32(
                                                0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00),
                                            )
                                        });
                                    if combined.is_none() {
                                        self.pos = save;
                                    }
                                }
                                out.push(combined.unwrap_or('\u{FFFD}'));
                            } else {
                                out.push(char::from_u32(u).unwrap_or('\u{FFFD}'));
                            }
                        }
                        _ => return Err(()),
                    }
                }
                _ => return Err(()),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ()> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(())
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(());
            }
        }
        Ok(())
    }

    /// Reads an object key and the `:` after it.
    fn key(&mut self) -> Result<String, ()> {
        self.ws();
        let k = self.string()?;
        self.ws();
        self.expect(b':')?;
        Ok(k)
    }

    /// Skips over one JSON value of any kind, validating it.
    fn skip_value(&mut self) -> Result<(), ()> {
        let mut stack: Vec<u8> = Vec::new();
        loop {
            self.ws();
            match self.peek().ok_or(())? {
                b'{' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        stack.push(b'{');
                        self.key()?;
                        if stack.len() > MAX_DEPTH {
                            return Err(());
                        }
                        continue;
                    }
                }
                b'[' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        stack.push(b'[');
                        if stack.len() > MAX_DEPTH {
                            return Err(());
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.number()?,
            }
            // A value is complete: close finished containers.
            loop {
                let Some(&top) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match (top, self.peek()) {
                    (_, Some(b',')) => {
                        self.pos += 1;
                        if top == b'{' {
                            self.key()?;
                        }
                        break;
                    }
                    (b'[', Some(b']')) | (b'{', Some(b'}')) => {
                        self.pos += 1;
                        stack.pop();
                    }
                    _ => return Err(()),
                }
            }
        }
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.b.len()
    }
}

/// Parses an exec-form argument: leading whitespace (any Unicode space) is ignored, then the
/// text must be exactly one JSON array (trailing JSON whitespace allowed). Elements must all
/// be strings.
pub fn parse_string_array(text: &str) -> Result<Vec<String>, JsonArrayError> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Err(JsonArrayError::NotJsonArray);
    }
    let mut r = Reader::new(text);
    let mut out = Vec::new();
    let mut non_string = false;
    let parsed = (|| -> Result<(), ()> {
        r.expect(b'[')?;
        r.ws();
        if r.peek() == Some(b']') {
            r.pos += 1;
            return Ok(());
        }
        loop {
            r.ws();
            if r.peek() == Some(b'"') {
                out.push(r.string()?);
            } else {
                r.skip_value()?;
                non_string = true;
            }
            r.ws();
            match r.peek() {
                Some(b',') => r.pos += 1,
                Some(b']') => {
                    r.pos += 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    })();
    if parsed.is_err() || !r.at_end() {
        return Err(JsonArrayError::Syntax);
    }
    if non_string {
        return Err(JsonArrayError::NotStringArray);
    }
    Ok(out)
}

/// Parses `text` as one JSON object; returns its members in order, with the value when it
/// is a string. `None` when the text is not a valid JSON object.
pub fn parse_object_strings(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut r = Reader::new(text);
    let mut out = Vec::new();
    let parsed = (|| -> Result<(), ()> {
        r.ws();
        r.expect(b'{')?;
        r.ws();
        if r.peek() == Some(b'}') {
            r.pos += 1;
            return Ok(());
        }
        loop {
            let k = r.key()?;
            r.ws();
            if r.peek() == Some(b'"') {
                let v = r.string()?;
                out.push((k, Some(v)));
            } else {
                r.skip_value()?;
                out.push((k, None));
            }
            r.ws();
            match r.peek() {
                Some(b',') => r.pos += 1,
                Some(b'}') => {
                    r.pos += 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    })();
    if parsed.is_err() || !r.at_end() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays() {
        assert_eq!(
            parse_string_array(r#"[ "a", "b" ]"#),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_string_array("[]"), Ok(vec![]));
        assert_eq!(
            parse_string_array(r#"["\ud83d\ude00\ud800x"]"#),
            Ok(vec!["😀\u{fffd}x".into()])
        );
        assert_eq!(
            parse_string_array(r#"["a", {"b": [1, 2.5e3, null]}]"#),
            Err(JsonArrayError::NotStringArray)
        );
        assert_eq!(parse_string_array(r#"["a", "#), Err(JsonArrayError::Syntax));
        assert_eq!(
            parse_string_array(r#"["a"] x"#),
            Err(JsonArrayError::Syntax)
        );
        assert_eq!(
            parse_string_array(r#"'a'"#),
            Err(JsonArrayError::NotJsonArray)
        );
        assert_eq!(
            parse_string_array(r#"["a\x"]"#),
            Err(JsonArrayError::Syntax)
        );
        assert_eq!(parse_string_array("[01]"), Err(JsonArrayError::Syntax));
        let deep = format!("[{}{}]", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(parse_string_array(&deep), Err(JsonArrayError::Syntax));
        let ok_deep = format!("[{}{}]", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse_string_array(&ok_deep),
            Err(JsonArrayError::NotStringArray)
        );
    }

    #[test]
    fn objects() {
        assert_eq!(
            parse_object_strings(r#"{"syntax": "foo", "bar": ["abc"]}"#),
            Some(vec![
                ("syntax".into(), Some("foo".into())),
                ("bar".into(), None)
            ])
        );
        assert_eq!(parse_object_strings(r#"{"syntax": "foo""#), None);
        assert_eq!(parse_object_strings("{}\n# x"), None);
    }
}

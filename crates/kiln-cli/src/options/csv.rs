//! Splits one CSV flag value (`type=local,"dest=a,b"`) into fields the way buildx does with Go's
//! `encoding/csv` rules: quoted fields, `""` escapes, and strict errors for stray quotes.

use std::fmt;

/// A malformed CSV value, worded like Go's `csv.ParseError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// 1-based byte column where the problem was found.
    pub column: usize,
    pub kind: CsvErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvErrorKind {
    /// A `"` inside a field that did not start with a quote.
    BareQuote,
    /// A quoted field that is never closed, or is followed by something other than `,`.
    Quote,
    /// A line break outside quotes: one flag value is one record.
    Newline,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            CsvErrorKind::BareQuote => "bare \" in non-quoted-field",
            CsvErrorKind::Quote => "extraneous or missing \" in quoted-field",
            CsvErrorKind::Newline => "unexpected line break outside quotes",
        };
        write!(f, "parse error on line 1, column {}: {what}", self.column)
    }
}

impl std::error::Error for CsvError {}

/// Checks the quoting rules the `csv` crate is lenient about (it accepts bare and unterminated
/// quotes; Go rejects them).
fn validate(input: &str) -> Result<(), CsvError> {
    let bytes = input.as_bytes();
    let mut i = 0;
    loop {
        // Start of a field.
        if bytes.get(i) == Some(&b'"') {
            let open = i;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(CsvError {
                            column: open + 1,
                            kind: CsvErrorKind::Quote,
                        });
                    }
                    Some(b'"') => match bytes.get(i + 1) {
                        Some(b'"') => i += 2,
                        Some(b',') => {
                            i += 2;
                            break;
                        }
                        None => return Ok(()),
                        Some(_) => {
                            return Err(CsvError {
                                column: i + 2,
                                kind: CsvErrorKind::Quote,
                            });
                        }
                    },
                    Some(_) => i += 1,
                }
            }
        } else {
            loop {
                match bytes.get(i) {
                    None => return Ok(()),
                    Some(b',') => {
                        i += 1;
                        break;
                    }
                    Some(b'"') => {
                        return Err(CsvError {
                            column: i + 1,
                            kind: CsvErrorKind::BareQuote,
                        });
                    }
                    Some(b'\n' | b'\r') => {
                        return Err(CsvError {
                            column: i + 1,
                            kind: CsvErrorKind::Newline,
                        });
                    }
                    Some(_) => i += 1,
                }
            }
        }
    }
}

/// Splits `input` into its fields. An empty input has no fields.
pub fn fields(input: &str) -> Result<Vec<String>, CsvError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    validate(input)?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .double_quote(true)
        .from_reader(input.as_bytes());
    let mut record = ::csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_string).collect()),
        // `validate` accepted the text, so the reader cannot fail on it; an empty record is
        // the only other outcome.
        Ok(false) | Err(_) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Vec<String> {
        fields(s).unwrap()
    }

    #[test]
    fn splits_plain_fields() {
        assert_eq!(f("type=local,dest=out"), ["type=local", "dest=out"]);
        assert_eq!(f("a"), ["a"]);
        assert_eq!(f("a,"), ["a", ""]);
        assert_eq!(f(",a"), ["", "a"]);
        assert!(f("").is_empty());
    }

    #[test]
    fn keeps_spaces_like_go() {
        assert_eq!(f(" a , b"), [" a ", " b"]);
    }

    #[test]
    fn quoted_fields_may_hold_commas_and_escaped_quotes() {
        assert_eq!(f(r#"type=local,"dest=a,b""#), ["type=local", "dest=a,b"]);
        assert_eq!(f(r#""a""b",c"#), [r#"a"b"#, "c"]);
        assert_eq!(f(r#""""#), [""]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let e = fields(r#"type=local,"dest=out"#).unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::Quote);
        assert_eq!(
            e.to_string(),
            "parse error on line 1, column 12: extraneous or missing \" in quoted-field"
        );
    }

    #[test]
    fn text_after_closing_quote_is_an_error() {
        let e = fields(r#""a"b"#).unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::Quote);
    }

    #[test]
    fn bare_quote_is_an_error() {
        let e = fields(r#"dest=a"b"#).unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::BareQuote);
        assert_eq!(
            e.to_string(),
            "parse error on line 1, column 7: bare \" in non-quoted-field"
        );
    }

    #[test]
    fn newline_outside_quotes_is_an_error_inside_quotes_is_data() {
        assert_eq!(fields("a\nb").unwrap_err().kind, CsvErrorKind::Newline);
        assert_eq!(f("\"a\nb\",c"), ["a\nb", "c"]);
    }
}

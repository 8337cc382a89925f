//! The scanner behind [`Lex`](crate::Lex): one pass over a word that removes quotes and
//! escapes, expands `$NAME` / `${NAME...}`, and splits the result into words, following
//! BuildKit's `shell/lex.go` step by step (including where the input position is left after
//! an error, which decides between "missing '}'" and the inner error).

use std::collections::BTreeSet;

use crate::chars::{is_digit, is_name_char, is_space};
use crate::env::EnvGetter;
use crate::error::SyntaxError;
use crate::pattern;
use crate::{Lex, MAX_NESTING};

/// Why processing stopped: a syntax error, or a `${NAME?message}` that fired.
#[derive(Debug)]
pub(crate) enum Failure {
    Syntax(SyntaxError),
    Required { name: String, message: String },
}

impl From<SyntaxError> for Failure {
    fn from(e: SyntaxError) -> Self {
        Failure::Syntax(e)
    }
}

/// What one pass produced.
#[derive(Debug)]
pub(crate) struct Processed {
    pub(crate) result: String,
    pub(crate) words: Vec<String>,
    pub(crate) matched: BTreeSet<String>,
    pub(crate) unmatched: BTreeSet<String>,
}

/// Runs one pass over `word`.
pub(crate) fn process(lex: &Lex, word: &str, env: &dyn EnvGetter) -> Result<Processed, Failure> {
    // Go's text/scanner, which BuildKit reads the word with, skips a leading BOM.
    let src = word.strip_prefix('\u{feff}').unwrap_or(word);
    let mut scanner = Scanner {
        lex,
        env,
        src,
        pos: 0,
        raw_escapes: lex.raw_escapes,
        depth: 0,
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    let (result, words) = scanner.process_until(None, lex.raw_escapes)?;
    Ok(Processed {
        result,
        words,
        matched: scanner.matched,
        unmatched: scanner.unmatched,
    })
}

/// Builds the word list of `ProcessWords`: whitespace produced by the word itself or by an
/// unquoted expansion separates words; quoted and escaped text never does.
#[derive(Debug, Default)]
struct Words {
    current: String,
    words: Vec<String>,
    /// Set by any raw (quoted/escaped) addition, even an empty one; cleared when a word is
    /// emitted. Mirrors BuildKit, where `''` alone yields no word.
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if is_space(c) {
            if self.in_word && !self.current.is_empty() {
                self.words.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.current.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

struct Scanner<'a> {
    lex: &'a Lex,
    env: &'a dyn EnvGetter,
    src: &'a str,
    /// Byte offset of the next character; always on a character boundary.
    pos: usize,
    /// Whether escape tokens are kept in the output (inside patterns they are, so the
    /// pattern compiler sees `\*`).
    raw_escapes: bool,
    /// How many `${` are open.
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.peek().is_none()
    }

    /// Looks `name` up and records it as matched or unmatched.
    fn get_env(&mut self, name: &str) -> Option<String> {
        let value = self.env.get(name);
        let set = if value.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        if !set.contains(name) {
            set.insert(name.to_string());
        }
        value
    }

    /// Processes up to the unescaped, unquoted `stop` character (consumed) or, with `None`,
    /// to the end. Returns the text and its split into words.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), Failure> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let outcome = self.process_until_inner(stop);
        self.raw_escapes = saved;
        outcome
    }

    fn process_until_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), Failure> {
        let mut result = String::new();
        let mut words = Words::default();
        let quotes = !self.lex.skip_process_quotes;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let expanded = self.process_dollar()?;
                    result.push_str(&expanded);
                    words.add_string(&expanded);
                }
                '\'' if quotes => {
                    let quoted = self.process_single_quote()?;
                    result.push_str(&quoted);
                    words.add_raw_string(&quoted);
                }
                '"' if quotes => {
                    let quoted = self.process_double_quote()?;
                    result.push_str(&quoted);
                    words.add_raw_string(&quoted);
                }
                _ => {
                    self.next();
                    if c == self.lex.escape_token {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        // The escape token escapes the next character; at the end it is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(SyntaxError::Unterminated(stop).into()),
            None => Ok((result, words.finish())),
        }
    }

    /// `'...'`: everything up to the next `'` is literal; there is no escape.
    fn process_single_quote(&mut self) -> Result<String, Failure> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(SyntaxError::UnterminatedSingleQuote.into()),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    /// `"..."`: literal except `$` expansions; the escape token escapes only `"`, `$` and
    /// itself and is kept before anything else.
    fn process_double_quote(&mut self) -> Result<String, Failure> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(SyntaxError::UnterminatedDoubleQuote.into()),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let expanded = self.process_dollar()?;
                    result.push_str(&expanded);
                }
                Some(c) => {
                    self.next();
                    let mut out = c;
                    if c == self.lex.escape_token {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            // An escape token at the very end is dropped (and the quote is
                            // reported unterminated on the next turn).
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape_token => {
                                self.next();
                                out = n;
                            }
                            // Before anything else the escape token is literal. (With raw
                            // escapes BuildKit then writes it twice; so does kiln.)
                            Some(_) => {}
                        }
                    }
                    result.push(out);
                }
            }
        }
    }

    /// A `$` at the current position: `$NAME`, `${...}`, or a literal `$`.
    fn process_dollar(&mut self) -> Result<String, Failure> {
        self.next(); // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // the '{'
        if self.depth >= MAX_NESTING {
            return Err(SyntaxError::TooDeep(MAX_NESTING).into());
        }
        self.depth += 1;
        let outcome = self.process_braced();
        self.depth -= 1;
        outcome
    }

    /// The rest of `${...}` after the `{`.
    fn process_braced(&mut self) -> Result<String, Failure> {
        match self.peek() {
            None => return Err(SyntaxError::MissingBrace.into()),
            Some('{' | '}' | ':') => return Err(SyntaxError::BadSubstitution.into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(op) = self.next() else {
            // BuildKit reports "unsupported modifier (\u{fffd})" here (its end-of-input rune
            // printed as a character); the missing brace is what is actually wrong.
            return Err(SyntaxError::MissingBrace.into());
        };
        match op {
            '}' => Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => self.process_modifier(&name, op),
            '/' => self.process_substitution(&name),
            other => Err(SyntaxError::UnsupportedModifier(other.to_string()).into()),
        }
    }

    /// `${NAME<op>word}` for `-`, `+`, `?` (each optionally after `:`), `#`, `##`, `%`, `%%`.
    fn process_modifier(&mut self, name: &str, first: char) -> Result<String, Failure> {
        let mut modifier = first.to_string();
        let mut op = Some(first);
        let null_is_unset = first == ':';
        if null_is_unset {
            op = self.next();
            modifier.push(op.unwrap_or('\u{fffd}'));
        }
        let is_pattern = matches!(op, Some('#' | '%'));
        if null_is_unset && is_pattern {
            return Err(SyntaxError::UnsupportedModifier(modifier).into());
        }
        let (word, _) = self.process_until(Some('}'), is_pattern).map_err(|e| {
            if self.at_end() {
                SyntaxError::MissingBrace.into()
            } else {
                e
            }
        })?;

        let value = self.get_env(name);
        if value.is_none() && self.lex.skip_unset_env {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let is_null = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            Some('-') => Ok(if is_null {
                word
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if is_null { String::new() } else { word }),
            Some('?') => match value {
                Some(v) if !is_null => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".to_string()
                    } else {
                        "is not allowed to be empty".to_string()
                    };
                    Err(Failure::Required {
                        name: name.to_string(),
                        message,
                    })
                }
            },
            Some(c @ ('#' | '%')) => {
                // A doubled operator (`##`, `%%`) asks for the longest match.
                let (pattern, greedy) = match word.strip_prefix(c) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let value = value.unwrap_or_default();
                let trimmed = if c == '%' {
                    pattern::trim_suffix(pattern, &value, greedy)?
                } else {
                    pattern::trim_prefix(pattern, &value, greedy)?
                };
                Ok(trimmed)
            }
            _ => Err(SyntaxError::UnsupportedModifier(modifier).into()),
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`, after the first `/`.
    fn process_substitution(&mut self, name: &str) -> Result<String, Failure> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let (pattern, _) = self.process_until(Some('/'), true).map_err(|e| {
            if self.at_end() {
                SyntaxError::MissingSlash.into()
            } else {
                e
            }
        })?;
        let (replacement, _) = self.process_until(Some('}'), true).map_err(|e| {
            if self.at_end() {
                SyntaxError::MissingBrace.into()
            } else {
                e
            }
        })?;
        let value = self.get_env(name);
        let Some(value) = value.or_else(|| (!self.lex.skip_unset_env).then(String::new)) else {
            // Left for a later pass. (BuildKit writes a single `/` here even for `//`.)
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
        };
        Ok(pattern::replace(&pattern, &value, &replacement, all)?)
    }

    /// Reads a variable name: a run of digits (`$1`, `$001`), one special parameter
    /// (`@ * # ? - $ ! 0`), or letters, digits and `_`. Empty when none is there.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.next();
                return c.to_string();
            }
            if !is_name_char(c) {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }
}

/// The POSIX special parameters, which are never set in a Dockerfile.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

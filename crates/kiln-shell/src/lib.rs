//! The Dockerfile shell-word lexer: quote removal, escapes and `$VAR` / `${VAR...}` expansion,
//! behaving as BuildKit's `frontend/dockerfile/shell` does.
//!
//! A Dockerfile instruction argument (`ENV`, `ARG`, `COPY`, `WORKDIR`, heredoc bodies, ...) is
//! expanded against the build's variables with [`Lex`]:
//!
//! ```
//! use kiln_shell::{Env, Lex};
//!
//! let env = Env::from_list(["VERSION=v1.2", "ARCH=arm64"]);
//! let lex = Lex::new('\\');
//! let word = lex.process_word("app-${VERSION#v}_'$ARCH'.tar.gz", &env).unwrap();
//! assert_eq!(word, "app-1.2_$ARCH.tar.gz");
//! let words = lex.process_words("a \"b c\" ${ARCH}", &env).unwrap();
//! assert_eq!(words, ["a", "b c", "arm64"]);
//! ```
//!
//! Supported forms: `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`,
//! `${NAME+word}`, `${NAME:?msg}`, `${NAME?msg}`, `${NAME#pat}`, `${NAME##pat}`,
//! `${NAME%pat}`, `${NAME%%pat}`, `${NAME/pat/repl}`, `${NAME//pat/repl}` (patterns are shell
//! globs with `*` and `?`). Positional (`$1`) and special (`$@`, `$#`, ...) parameters are
//! looked up like names and so normally expand to nothing. Variable names are case-sensitive.
//!
//! Invariant: this crate does no I/O and never panics on any input.

mod chars;
mod env;
mod error;
mod lexer;
pub mod pattern;

use std::collections::BTreeSet;

pub use env::{Env, EnvGetter};
pub use error::{Error, PatternError, SyntaxError};

use lexer::{Failure, Processed};

/// How many `${...}` may be open inside one another. BuildKit has no limit; kiln refuses
/// deeper nesting with [`SyntaxError::TooDeep`] so that no input can exhaust the stack.
pub const MAX_NESTING: usize = 64;

/// The result of [`Lex::process_word_with_matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessWordResult {
    /// The expanded word, whitespace kept (as [`Lex::process_word`]).
    pub result: String,
    /// The expanded word split into words (as [`Lex::process_words`]).
    pub words: Vec<String>,
    /// Variables referenced and defined (possibly empty).
    pub matched: BTreeSet<String>,
    /// Variables referenced but not defined.
    pub unmatched: BTreeSet<String>,
}

/// The lexer, configured with the escape token (`\`, or `` ` `` after `# escape=``).
///
/// A `Lex` holds only its options: it is cheap to copy and safe to use from several threads
/// at once (unlike BuildKit's, it keeps no per-call state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lex {
    /// The character that escapes the next one (outside single quotes).
    pub escape_token: char,
    /// Keep the quote characters in the output instead of removing them.
    pub raw_quotes: bool,
    /// Keep escape tokens in the output instead of removing them.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-w}`, ...) instead of
    /// expanding them, so that a later pass can expand them.
    pub skip_unset_env: bool,
    /// Treat `'` and `"` as ordinary characters (used for heredoc bodies).
    pub skip_process_quotes: bool,
}

impl Default for Lex {
    /// The Dockerfile default: escape token `\`, all options off.
    fn default() -> Self {
        Lex::new('\\')
    }
}

impl Lex {
    /// A lexer with the given escape token and all options off.
    pub fn new(escape_token: char) -> Self {
        Lex {
            escape_token,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// Expands `word` into a single word: quotes and escapes removed (unless the options keep
    /// them), variables expanded, whitespace kept as it is.
    ///
    /// Fails on unterminated quotes or `${`, unsupported modifiers, invalid patterns, and a
    /// `${NAME?msg}` / `${NAME:?msg}` whose variable is unset (or empty, with `:`).
    pub fn process_word(&self, word: &str, env: &dyn EnvGetter) -> Result<String, Error> {
        self.run(word, env).map(|p| p.result)
    }

    /// Expands `word` like [`process_word`](Self::process_word), then splits it into words
    /// on whitespace that is neither quoted nor escaped. Whitespace inside the value of an
    /// unquoted expansion splits too (`${X}` with `X="a b"` gives two words; `"${X}"` one).
    /// Empty words are dropped (so `''` alone gives no word).
    pub fn process_words(&self, word: &str, env: &dyn EnvGetter) -> Result<Vec<String>, Error> {
        self.run(word, env).map(|p| p.words)
    }

    /// Expands `word` like [`process_word`](Self::process_word) and also reports which
    /// variables it referenced: `matched` were defined (even as empty), `unmatched` were not.
    /// A variable counts as referenced only if the expansion looked it up (`${A:-$B}` looks
    /// up `B` even when `A` is set; a word in single quotes looks up nothing).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn EnvGetter,
    ) -> Result<ProcessWordResult, Error> {
        self.run(word, env).map(|p| ProcessWordResult {
            result: p.result,
            words: p.words,
            matched: p.matched,
            unmatched: p.unmatched,
        })
    }

    fn run(&self, word: &str, env: &dyn EnvGetter) -> Result<Processed, Error> {
        lexer::process(self, word, env).map_err(|failure| match failure {
            Failure::Syntax(cause) => Error::Syntax {
                word: word.to_string(),
                cause,
            },
            Failure::Required { name, message } => Error::Required {
                word: word.to_string(),
                name,
                message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn skip_unset_env_keeps_references() {
        let mut lex = Lex::new('\\');
        lex.skip_unset_env = true;
        let e = env(&[("A", "a")]);
        let out = lex
            .process_word("$A $B ${B} ${B:-x} ${B//p/r} ${A:-x}", &e)
            .unwrap();
        assert_eq!(out, "a $B ${B} ${B:-x} ${B//p/r} a");
    }

    #[test]
    fn raw_quotes_and_escapes() {
        let mut lex = Lex::new('\\');
        lex.raw_quotes = true;
        lex.raw_escapes = true;
        let out = lex.process_word(r#"'a b' "c\$d" e\ f"#, &env(&[])).unwrap();
        assert_eq!(out, r#"'a b' "c\$d" e\ f"#);
    }

    #[test]
    fn backtick_escape_token() {
        let lex = Lex::new('`');
        let out = lex.process_word(r"C:\dir`$X `` ", &env(&[])).unwrap();
        assert_eq!(out, r"C:\dir$X ` ");
    }

    #[test]
    fn skip_process_quotes_keeps_quotes_literal() {
        let mut lex = Lex::new('\\');
        lex.skip_process_quotes = true;
        let out = lex
            .process_word(r#"echo "$A" '$A'"#, &env(&[("A", "x")]))
            .unwrap();
        assert_eq!(out, r#"echo "x" 'x'"#);
    }

    #[test]
    fn nested_defaults_keep_word_prefix_when_splitting() {
        let lex = Lex::new('\\');
        let words = lex.process_words("a b${X:-c d}e", &env(&[])).unwrap();
        assert_eq!(words, ["a", "bc", "de"]);
    }

    #[test]
    fn errors_name_the_word() {
        let lex = Lex::new('\\');
        let e = env(&[]);
        let err = lex.process_word("x${A:?}", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "x${A:?}": A: is not allowed to be unset"#
        );
        let err = lex.process_word("${A:=b}", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "${A:=b}": unsupported modifier (:=) in substitution"#
        );
        let err = lex.process_word("${A:-'b}", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "${A:-'b}": syntax error: missing '}'"#
        );
        let err = lex.process_word("${A:-${B:?no}}x", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "${A:-${B:?no}}x": B: no"#
        );
        let err = lex.process_word("${A/x", &e).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("syntax error: missing '/' in ${}")
        );
        let err = lex.process_word(r"${A#\x}", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "${A#\\x}": invalid pattern (\x) in substitution: invalid escape '\x'"#
        );
        let err = lex.process_word("'a\nb", &e).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"failed to process "'a\nb": unexpected end of statement while looking for matching single-quote"#
        );
    }

    #[test]
    fn replace_all_uses_go_template_rules() {
        let lex = Lex::new('\\');
        let e = env(&[("A", "aXbX"), ("R", "<$0>")]);
        assert_eq!(lex.process_word("${A//X/$R}", &e).unwrap(), "a<X>b<X>");
        assert_eq!(lex.process_word("${A/X/$R}", &e).unwrap(), "a<$0>bX");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let lex = Lex::new('\\');
        let e = env(&[]);
        let deep = "${a:-".repeat(MAX_NESTING + 1) + &"}".repeat(MAX_NESTING + 1);
        let err = lex.process_word(&deep, &e).unwrap_err();
        assert!(matches!(
            err,
            Error::Syntax {
                cause: SyntaxError::TooDeep(_),
                ..
            }
        ));
        let ok = "${a:-".repeat(MAX_NESTING) + "x" + &"}".repeat(MAX_NESTING);
        assert_eq!(lex.process_word(&ok, &e).unwrap(), "x");
        let quoted = "\"${a:-".repeat(MAX_NESTING) + "x" + &"}\"".repeat(MAX_NESTING);
        assert_eq!(lex.process_word(&quoted, &e).unwrap(), "x");
    }

    #[test]
    fn leading_bom_is_skipped_like_go_text_scanner() {
        let lex = Lex::new('\\');
        assert_eq!(lex.process_word("\u{feff}a", &env(&[])).unwrap(), "a");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let lex = Lex::new('\\');
        let e = env(&[("A", "a b"), ("E", "")]);
        let pieces = [
            "$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "\\", "'", "\"", "A", "E", "*", " ",
            "한", "\n", "`", "$0", "${",
        ];
        // Every sequence of three pieces, plus some longer deterministic mixes.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let w = format!("{a}{b}{c}");
                    let _ = lex.process_word(&w, &e);
                    let _ = lex.process_words(&w, &e);
                }
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let mut w = String::new();
            for _ in 0..12 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let idx = usize::try_from(seed % pieces.len() as u64).unwrap_or(0);
                w.push_str(pieces[idx]);
            }
            let _ = lex.process_word_with_matches(&w, &e);
        }
    }
}

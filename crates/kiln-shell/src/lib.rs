//! The Dockerfile shell-word lexer: quote removal and `$VAR` / `${VAR...}` expansion, as
//! BuildKit's `frontend/dockerfile/shell` does. (API contract; being implemented.)

use std::collections::BTreeSet;

/// Where variable values come from.
pub trait EnvGetter {
    /// The value of `name`, `Some("")` when defined but empty, `None` when unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl EnvGetter for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    Syntax(String),
}

/// The result of [`Lex::process_word_with_matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessWordResult {
    pub result: String,
    pub words: Vec<String>,
    /// Variables referenced and defined (possibly empty).
    pub matched: BTreeSet<String>,
    /// Variables referenced but not defined.
    pub unmatched: BTreeSet<String>,
}

/// The lexer, configured with the escape token (`\` or `` ` ``).
#[derive(Debug, Clone)]
pub struct Lex {
    pub escape_token: char,
    pub raw_quotes: bool,
    pub raw_escapes: bool,
    pub skip_unset_env: bool,
}

impl Lex {
    pub fn new(escape_token: char) -> Self {
        Lex {
            escape_token,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
        }
    }

    pub fn process_word(&self, word: &str, env: &dyn EnvGetter) -> Result<String, Error> {
        let _ = env;
        Ok(word.to_string())
    }

    pub fn process_words(&self, word: &str, env: &dyn EnvGetter) -> Result<Vec<String>, Error> {
        let _ = env;
        Ok(vec![word.to_string()])
    }

    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn EnvGetter,
    ) -> Result<ProcessWordResult, Error> {
        let _ = env;
        Ok(ProcessWordResult {
            result: word.to_string(),
            ..Default::default()
        })
    }
}

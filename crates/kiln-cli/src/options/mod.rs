//! Validated, typed build options and the parsers that turn one flag value (`type=local,dest=out`)
//! into a typed value with buildx's semantics. Nothing here knows clap; nothing here does I/O
//! except reading the environment through [`Env`].

pub mod annotation;
pub mod attest;
pub mod build;
pub mod cache;
pub mod call;
pub mod context;
pub mod csv;
pub mod entitlement;
pub mod host;
pub mod keyvalue;
pub mod network;
pub mod output;
pub mod platform;
pub mod progress;
pub mod secret;
pub mod size;
pub mod ssh;
pub mod tag;
pub mod ulimit;

use std::collections::BTreeMap;

/// Why one flag value was rejected. The flag and the value are added by [`FlagError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    pub fn new(msg: impl Into<String>) -> Self {
        ValueError(msg.into())
    }
}

impl From<csv::CsvError> for ValueError {
    fn from(e: csv::CsvError) -> Self {
        ValueError(e.to_string())
    }
}

/// A rejected build flag: either one value of one flag, or a combination of flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// Worded like pflag so users recognise it: `invalid argument "x" for "-o, --output" flag: ...`.
    #[error("invalid argument {value:?} for \"{flag}\" flag: {reason}")]
    Value {
        flag: &'static str,
        value: String,
        reason: ValueError,
    },
    /// A message that already names what is wrong (`invalid tag "X": invalid reference format`,
    /// `tag is needed when pushing to registry`).
    #[error("{0}")]
    Invalid(String),
}

impl FlagError {
    pub fn value(flag: &'static str, value: &str, reason: ValueError) -> Self {
        FlagError::Value {
            flag,
            value: value.to_string(),
            reason,
        }
    }
}

/// Read access to the environment, so parsers that honour variables (`--build-arg K`,
/// `BUILDKIT_PROGRESS`) can be tested without touching the process environment.
pub trait Env {
    /// The variable's value; `Some("")` when it is set but empty (Go's `os.LookupEnv`).
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var_os(key).map(|v| v.to_string_lossy().into_owned())
    }
}

/// A fixed environment, for tests and for callers that build options programmatically.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl MapEnv {
    pub fn new<const N: usize>(vars: [(&str, &str); N]) -> Self {
        MapEnv(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl Env for MapEnv {
    fn var(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True 0 f F FALSE false False`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_accepts_go_spellings_only() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", "2", " true"] {
            assert_eq!(parse_go_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn flag_error_is_worded_like_pflag() {
        let e = FlagError::value("-o, --output", "type=foo", ValueError::new("boom"));
        assert_eq!(
            e.to_string(),
            r#"invalid argument "type=foo" for "-o, --output" flag: boom"#
        );
    }

    #[test]
    fn map_env_distinguishes_unset_and_empty() {
        let env = MapEnv::new([("EMPTY", "")]);
        assert_eq!(env.var("EMPTY").as_deref(), Some(""));
        assert_eq!(env.var("UNSET"), None);
    }
}

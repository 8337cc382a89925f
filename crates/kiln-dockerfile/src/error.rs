//! Instruction errors (upstream's message texts) with the lines they concern, and the
//! "did you mean ...?" suggestion helper.

use kiln_dockerfile_parser::Range;

/// What is wrong with an instruction. `Display` gives BuildKit's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// An instruction keyword BuildKit does not know, with a close match if there is one.
    #[error("unknown instruction: {instruction}{}", did_you_mean(.suggestion))]
    UnknownInstruction {
        /// The keyword as written.
        instruction: String,
        /// The closest instruction name, in the same case style.
        suggestion: Option<String>,
    },
    /// A flag the instruction does not accept (`flag` includes the `--`).
    #[error("unknown flag: {flag}{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// The flag as written, with `--`.
        flag: String,
        /// The closest accepted flag name (without `--`).
        suggestion: Option<String>,
    },
    /// The instruction (named in upper case) has no argument.
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(String),
    /// The instruction takes exactly one argument.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(String),
    /// `COPY`/`ADD` with a single argument.
    #[error(
        "{0} requires at least two arguments, but only one was provided. Destination could not be determined"
    )]
    NoDestination(String),
    /// A heredoc where a path is required (the destination of `COPY`/`ADD`).
    #[error("{command} cannot accept a heredoc as {what}")]
    BadHeredoc {
        /// `COPY` or `ADD`.
        command: String,
        /// What the heredoc was used as (`a destination`).
        what: String,
    },
    /// An `ENV`/`LABEL`/`ARG` with an empty name (`=value`).
    #[error("{0} names can not be blank")]
    BlankNames(String),
    /// Key/value arguments that do not come in triples (should not happen).
    #[error("Bad input to {0}, too many arguments")]
    TooManyArguments(String),
    /// `SHELL` in shell form.
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(String),
    /// `ONBUILD ONBUILD ...`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChaining,
    /// `ONBUILD FROM` or `ONBUILD MAINTAINER` (the trigger, upper case).
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    /// `FROM` with neither `image` nor `image AS name`.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// The stage name after `AS` is invalid (the name as written).
    #[error(
        "invalid name for build stage: {}, name can't start with a number or contain symbols",
        kiln_dockerfile_parser::go_quote(.0)
    )]
    InvalidStageName(String),
    /// A command appears before the first `FROM`.
    #[error("no build stage in current context")]
    NoBuildStage,
    /// Any other invalid flag or value; the message is upstream's.
    #[error("{0}")]
    Invalid(String),
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(m) => format!(" (did you mean {m}?)"),
        None => String::new(),
    }
}

/// An instruction error and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// From [`crate::parse_instruction`]: the plain message.
    #[error("{kind}")]
    Instruction {
        /// What went wrong.
        kind: ErrorKind,
        /// The lines of the instruction.
        location: Range,
    },
    /// From [`crate::parse`]: prefixed with the line, like BuildKit's
    /// `dockerfile parse error on line 3: unknown instruction: FOO`.
    #[error("dockerfile parse error on line {}: {kind}", location.start.line)]
    Dockerfile {
        /// What went wrong.
        kind: ErrorKind,
        /// The lines of the instruction.
        location: Range,
    },
}

impl Error {
    pub(crate) fn instruction(kind: ErrorKind, location: Range) -> Error {
        Error::Instruction { kind, location }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        match self {
            Error::Instruction { kind, .. } | Error::Dockerfile { kind, .. } => kind,
        }
    }

    /// The lines concerned (1-based, inclusive).
    pub fn location(&self) -> Range {
        match self {
            Error::Instruction { location, .. } | Error::Dockerfile { location, .. } => *location,
        }
    }

    /// The message without the `dockerfile parse error on line N: ` prefix.
    pub fn message(&self) -> String {
        self.kind().to_string()
    }
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// BuildKit's `suggest.WrapError`: the closest option within edit distance 2, or `None`
/// when there is none or `value` is itself an option. Case-insensitive matching returns the
/// option in the case style of `value` (all lower, all upper, or as listed).
pub fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let val = if case_sensitive {
        value.to_string()
    } else {
        value.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if val == o {
            return None;
        }
        let d = distance(&val, &o);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                o
            } else if value == value.to_lowercase() {
                o.to_lowercase()
            } else if value == value.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let opts = ["COPY", "CMD", "RUN"];
        assert_eq!(suggest("COPPY", &opts, false).as_deref(), Some("COPY"));
        assert_eq!(suggest("coppy", &opts, false).as_deref(), Some("copy"));
        assert_eq!(suggest("FOO", &opts, false), None);
        assert_eq!(suggest("copy", &opts, false), None);
        assert_eq!(
            suggest("form", &["from", "chown"], true).as_deref(),
            Some("from")
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn messages() {
        let e = ErrorKind::UnknownInstruction {
            instruction: "COPPY".into(),
            suggestion: Some("COPY".into()),
        };
        assert_eq!(
            e.to_string(),
            "unknown instruction: COPPY (did you mean COPY?)"
        );
        let e = Error::Dockerfile {
            kind: ErrorKind::NoBuildStage,
            location: Range::lines(3, 3),
        };
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: no build stage in current context"
        );
    }
}

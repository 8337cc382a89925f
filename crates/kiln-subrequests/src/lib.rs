//! Frontend subrequests that answer without building: `--call=outline`, `--call=targets`,
//! `--call=check` (BuildKit's `frontend/subrequests/{outline,targets,lint}`), and the printers
//! buildx uses for them, including the source excerpt shown under warnings and errors.
//!
//! Invariant: this crate does no I/O other than writing to the `out` it is given.

use std::collections::BTreeMap;
use std::io::Write;

pub mod check;
pub mod excerpt;
mod gojson;
pub mod outline;
mod pb;
mod run;
pub mod tabwriter;
pub mod targets;

pub use check::LintResults;
pub use excerpt::{format_source_excerpt, print_source_excerpt};
pub use kiln_lint::{ImageConfig, ImageConfigResolver, Position, Range};
pub use outline::{Outline, OutlineArg, OutlineSecret, OutlineSsh};
pub use targets::{Target, TargetList};

/// Which subrequest `--call` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A normal build (`--call=build`, the default): not handled here.
    Build,
    /// `--call=check` (alias of upstream's `lint`), also `--check`.
    Check,
    /// `--call=outline`.
    Outline,
    /// `--call=targets`.
    Targets,
}

/// How the answer is printed (`--call=outline,format=json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// The human-readable tables and warnings.
    #[default]
    Text,
    /// The subrequest's JSON result, as buildx prints it.
    Json,
}

/// The parsed `--call` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// The subrequest.
    pub kind: CallKind,
    /// `format=json`; any other format prints text, as buildx does.
    pub format: OutputFormat,
    /// `ignorestatus=true`: exit 0 even when the check found problems.
    pub ignore_status: bool,
}

impl CallRequest {
    /// Parses a `--call` value as buildx's `ParseCallFunc` does: CSV fields, one bare name
    /// (`build`, `check`/`lint`, `outline`, `targets`) plus `format=` and `ignorestatus=`.
    /// An empty value is `build`.
    pub fn parse(value: &str) -> Result<CallRequest, Error> {
        let mut name: Option<String> = None;
        let mut req = CallRequest {
            kind: CallKind::Build,
            format: OutputFormat::Text,
            ignore_status: false,
        };
        if value.is_empty() {
            return Ok(req);
        }
        for field in split_csv(value)? {
            match field.split_once('=') {
                Some(("format", f)) => {
                    req.format = if f == "json" {
                        OutputFormat::Json
                    } else {
                        OutputFormat::Text
                    };
                }
                Some(("ignorestatus", v)) => {
                    req.ignore_status = parse_go_bool(v).ok_or_else(|| {
                        Error::InvalidCall(format!(
                            "invalid ignorestatus print value: {v}: strconv.ParseBool: parsing \"{v}\": invalid syntax"
                        ))
                    })?;
                }
                Some(_) => {
                    return Err(Error::InvalidCall(format!("invalid print field: {field}")));
                }
                None => {
                    if name.is_some() {
                        return Err(Error::InvalidCall(format!("invalid print value: {value}")));
                    }
                    name = Some(field);
                }
            }
        }
        req.kind = match name.as_deref() {
            None | Some("build") => CallKind::Build,
            Some("check") | Some("lint") => CallKind::Check,
            Some("outline") => CallKind::Outline,
            Some("targets") => CallKind::Targets,
            Some(other) => {
                return Err(Error::Unsupported(format!(
                    "unsupported call method {other:?}: use one of build, check, outline, targets"
                )));
            }
        };
        Ok(req)
    }
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!("\n{}", excerpt.trim_end_matches('\n'))
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record (RFC 4180 quoting, as Go's csv reader reads a `--call` value).
fn split_csv(s: &str) -> Result<Vec<String>, Error> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err(Error::InvalidCall(format!(
                            "invalid call value {s:?}: extraneous or missing \" in quoted-field"
                        )));
                    }
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(Error::InvalidCall(format!(
            "invalid call value {s:?}: extraneous or missing \" in quoted-field"
        )));
    }
    fields.push(cur);
    Ok(fields)
}

/// Everything a subrequest reads.
#[derive(Clone)]
pub struct CallInput<'a> {
    /// The Dockerfile's bytes.
    pub dockerfile: &'a [u8],
    /// The name shown to users in excerpts (`Dockerfile`, `docker/prod.Dockerfile`).
    pub dockerfile_name: &'a str,
    /// `--build-arg` values (already resolved from the environment for `--build-arg K`).
    pub build_args: &'a BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<&'a str>,
    /// `--platform` values as given (empty = the host's).
    pub platforms: &'a [String],
    /// The `.dockerignore` patterns in force (for CopyIgnoredFile), if any.
    pub ignore_patterns: Option<&'a [String]>,
    /// Base image configurations for `check` and `outline` (env for `UndefinedVar`, platform
    /// for `InvalidBaseImagePlatform`, `SHELL`, `ONBUILD`). `None`: every base image other
    /// than `scratch` is unknown, and the checks that need one stay silent.
    pub resolver: Option<&'a dyn ImageConfigResolver>,
}

impl std::fmt::Debug for CallInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallInput")
            .field("dockerfile_name", &self.dockerfile_name)
            .field("dockerfile_len", &self.dockerfile.len())
            .field("build_args", &self.build_args)
            .field("target", &self.target)
            .field("platforms", &self.platforms)
            .field("ignore_patterns", &self.ignore_patterns)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

/// What the CLI needs after a subrequest has printed its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The process exit code: 1 when the check found warnings (unless `ignorestatus`), else 0.
    pub exit_code: i32,
}

/// Why a subrequest could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call method or an option is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// A malformed `--call` value (buildx's wording).
    #[error("{0}")]
    InvalidCall(String),
    /// The Dockerfile could not be evaluated for this request (parse error, unknown target,
    /// `check=error=true` with warnings, ...). Anything the request printed before failing
    /// (for `check`: the warnings found so far) has been written to `out`. The CLI prints this
    /// as `ERROR: ...` and exits 1, whatever `ignorestatus` says. `Display` gives the message
    /// and, on the following lines, the source excerpt (buildx's order for `--call=check`;
    /// for other calls buildx prints the excerpt above the `ERROR:` line).
    #[error("{message}{}", excerpt_suffix(.excerpt))]
    Dockerfile {
        /// Upstream's error message.
        message: String,
        /// The source excerpt around the error (`Dockerfile:3` ...), empty without location.
        excerpt: String,
    },
    /// Writing the answer failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a subrequest and prints its answer to `out` (stdout), as buildx prints it.
///
/// * `Check`: text — `Check complete, ...` then each warning with its excerpt, sorted by line;
///   JSON — the lint result document. Exit code 1 when there are warnings, unless
///   `ignorestatus=true`. Without `--target` every stage is checked.
/// * `Outline`: the target's build args, secrets and SSH mounts (text tables or JSON).
/// * `Targets`: every stage with its description, the default marked (text table or JSON).
///
/// A Dockerfile that cannot be evaluated gives [`Error::Dockerfile`] after whatever was
/// printed first. `Build` is not a subrequest and gives [`Error::Unsupported`].
pub fn run(
    req: &CallRequest,
    input: &CallInput<'_>,
    out: &mut dyn Write,
) -> Result<CallOutcome, Error> {
    match req.kind {
        CallKind::Build => Err(Error::Unsupported(
            "build is not a subrequest: run the build instead".to_string(),
        )),
        CallKind::Check => run::check(req, input, out),
        CallKind::Outline => run::outline(req, input, out),
        CallKind::Targets => run::targets(req, input, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_call_values_like_buildx() {
        let r = CallRequest::parse("check").unwrap();
        assert_eq!(r.kind, CallKind::Check);
        assert_eq!(r.format, OutputFormat::Text);
        assert!(!r.ignore_status);
        let r = CallRequest::parse("outline,format=json").unwrap();
        assert_eq!((r.kind, r.format), (CallKind::Outline, OutputFormat::Json));
        let r = CallRequest::parse("check,ignorestatus=true,format=json").unwrap();
        assert!(r.ignore_status);
        assert_eq!(CallRequest::parse("lint").unwrap().kind, CallKind::Check);
        assert_eq!(
            CallRequest::parse("targets").unwrap().kind,
            CallKind::Targets
        );
        assert_eq!(CallRequest::parse("build").unwrap().kind, CallKind::Build);
        assert_eq!(CallRequest::parse("").unwrap().kind, CallKind::Build);
        assert_eq!(
            CallRequest::parse("targets,format=yaml").unwrap().format,
            OutputFormat::Text
        );
        assert_eq!(
            CallRequest::parse("\"outline\",\"format=json\"")
                .unwrap()
                .format,
            OutputFormat::Json
        );
    }

    #[test]
    fn rejects_bad_call_values() {
        assert_eq!(
            CallRequest::parse("check,foo=bar").unwrap_err().to_string(),
            "invalid print field: foo=bar"
        );
        assert_eq!(
            CallRequest::parse("check,outline").unwrap_err().to_string(),
            "invalid print value: check,outline"
        );
        assert_eq!(
            CallRequest::parse("check,ignorestatus=maybe")
                .unwrap_err()
                .to_string(),
            "invalid ignorestatus print value: maybe: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert!(matches!(
            CallRequest::parse("frobnicate"),
            Err(Error::Unsupported(_))
        ));
        assert!(CallRequest::parse("\"check").is_err());
    }
}

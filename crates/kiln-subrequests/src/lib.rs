//! Frontend subrequests that answer without building: `--call=outline`, `--call=targets`,
//! `--call=check` (BuildKit's `frontend/subrequests/{outline,targets,lint}`), and the printers
//! buildx uses for them. (API contract; being implemented.)

use std::collections::BTreeMap;
use std::io::Write;

/// Which subrequest `--call` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A normal build (`--call=build`, the default): not handled here.
    Build,
    Check,
    Outline,
    Targets,
}

/// How the answer is printed (`--call=outline,format=json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// The parsed `--call` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    pub kind: CallKind,
    pub format: OutputFormat,
    /// `ignorestatus=true`: exit 0 even when the check found problems.
    pub ignore_status: bool,
}

/// Everything a subrequest reads.
#[derive(Debug, Clone)]
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
}

/// What the CLI needs after a subrequest has printed its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    pub exit_code: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unsupported(String),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a subrequest and prints its answer to `out`, as buildx prints it.
pub fn run(
    req: &CallRequest,
    input: &CallInput<'_>,
    out: &mut dyn Write,
) -> Result<CallOutcome, Error> {
    let _ = (input, out);
    Err(Error::Unsupported(format!("{:?} is not implemented yet", req.kind)))
}

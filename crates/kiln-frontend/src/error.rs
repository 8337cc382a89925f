//! The frontend's error type: what went wrong and where in the Dockerfile.

use kiln_graph::LineRange;

/// A conversion failure. [`Error::locations`] gives the Dockerfile lines to show
/// (`Dockerfile:12`); empty when the problem is not tied to a line (an unknown `--target`).
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    pub kind: ErrorKind,
    pub locations: Vec<LineRange>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            locations: Vec::new(),
        }
    }

    pub(crate) fn at(mut self, r: kiln_dockerfile_parser::Range) -> Error {
        if self.locations.is_empty() {
            self.locations.push(LineRange {
                start: r.start.line,
                end: r.end.line,
            });
        }
        self
    }

    /// The first line of the first location, if any.
    pub fn line(&self) -> Option<usize> {
        self.locations.first().map(|l| l.start)
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("the Dockerfile cannot be empty")]
    EmptyDockerfile,
    #[error("{0}")]
    Parse(#[from] kiln_dockerfile_parser::ParseError),
    #[error("{0}")]
    Instruction(String),
    #[error("dockerfile contains no stages to build")]
    NoStages,
    #[error("target stage {0:?} could not be found{1}")]
    UnknownTarget(String, String),
    #[error("circular dependency detected on stage: {0}")]
    CircularDependency(String),
    #[error("base name ({0}) should not be blank")]
    BlankBaseName(String),
    #[error("failed to parse stage name {0:?}: {1}")]
    BadReference(String, String),
    #[error("failed to parse platform {0}: {1}")]
    BadPlatform(String, String),
    #[error("{reference}: {message}")]
    Resolve { reference: String, message: String },
    #[error("failed to parse image config of {0}: {1}")]
    BadImageConfig(String, String),
    #[error("invalid stage index {0}")]
    BadStageIndex(String),
    #[error("cannot copy from stage {0:?}, it needs to be defined before current stage {1:?}")]
    StageNotDefined(String, String),
    #[error(
        "variable expansion is not supported for --from, define a new stage with FROM using ARG \
         from global scope as a workaround"
    )]
    FromExpansion,
    #[error("{0}")]
    Expansion(#[from] kiln_shell::Error),
    #[error("{0}")]
    Invalid(String),
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

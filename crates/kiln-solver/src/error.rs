//! The solver's error type: which vertex failed, in which phase, and why.

use std::fmt;
use std::sync::Arc;

use kiln_graph::{Digest, InputIndex, OutputRef, VertexMeta};

/// What the solver was doing with a vertex when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Making the op's handler (the worker cannot run this op).
    Handler,
    /// Computing the op's cache map (for a source: resolving it).
    CacheMap,
    /// Checksumming the selected content of an input.
    Checksum(InputIndex),
    /// Reading the cache store.
    CacheLoad,
    /// Running the op.
    Exec,
    /// Writing the cache store.
    CacheSave,
    /// Taking a reference on a result for the caller.
    Retain,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Handler => f.write_str("preparing"),
            Phase::CacheMap => f.write_str("computing the cache key of"),
            // BuildKit words this "failed to compute cache key": the input index means nothing
            // to a user, the step name and the missing path do.
            Phase::Checksum(_) => f.write_str("computing the cache key of"),
            Phase::CacheLoad => f.write_str("loading the cache record of"),
            Phase::Exec => f.write_str("running"),
            Phase::CacheSave => f.write_str("saving the cache record of"),
            Phase::Retain => f.write_str("keeping the result of"),
        }
    }
}

/// Why a solve failed. Cloneable: the failure of a shared vertex reaches every build and every
/// dependent that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SolveError {
    /// A vertex failed. `Display` gives the cause as the worker worded it when the op itself
    /// failed (BuildKit's `process "..." did not complete successfully: exit code: 3`) and
    /// names the vertex and phase otherwise; [`SolveError::vertex_meta`] gives the name and
    /// Dockerfile lines for an excerpt.
    #[error("{}", vertex_message(*phase, digest, meta, cause))]
    Vertex {
        /// The failing vertex.
        digest: Digest,
        /// Its name and source location (`Dockerfile:N`).
        meta: Arc<VertexMeta>,
        /// What was being done.
        phase: Phase,
        /// The underlying error.
        #[source]
        cause: Arc<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The caller asked for an output the definition does not have.
    #[error(
        "output {index} of vertex {digest} is not in the build definition: solve an output of \
         the definition that was passed"
    )]
    MissingOutput { digest: Digest, index: u32 },
    /// The definition refers to a vertex it does not contain.
    #[error(
        "build definition vertex {vertex} uses {input} which the definition does not contain \
         (or lists later): regenerate the definition"
    )]
    InvalidDefinition { vertex: Digest, input: Digest },
    /// The worker broke its contract (wrong number of outputs, cache map of the wrong size).
    #[error("worker error at {name}: {message}")]
    Worker {
        /// The vertex name (or digest).
        name: String,
        message: String,
    },
    /// A solver task panicked or was cancelled by the runtime shutting down.
    #[error("build step {name} stopped unexpectedly: {message}")]
    Internal {
        /// The vertex name (or digest).
        name: String,
        message: String,
    },
}

fn vertex_message(
    phase: Phase,
    digest: &Digest,
    meta: &VertexMeta,
    cause: &Arc<dyn std::error::Error + Send + Sync + 'static>,
) -> String {
    match phase {
        Phase::Exec => cause.to_string(),
        _ => format!("{phase} {}: {cause}", label(digest, meta)),
    }
}

/// The name users know a vertex by: its progress name, else its digest.
pub(crate) fn label(digest: &Digest, meta: &VertexMeta) -> String {
    if meta.name.is_empty() {
        digest.to_string()
    } else {
        meta.name.clone()
    }
}

impl SolveError {
    /// The failing vertex's digest, when a vertex failed.
    pub fn vertex_digest(&self) -> Option<&Digest> {
        match self {
            SolveError::Vertex { digest, .. } => Some(digest),
            _ => None,
        }
    }

    /// The failing vertex's metadata (name, Dockerfile lines), when a vertex failed.
    pub fn vertex_meta(&self) -> Option<&VertexMeta> {
        match self {
            SolveError::Vertex { meta, .. } => Some(meta),
            _ => None,
        }
    }

    pub(crate) fn vertex(
        digest: &Digest,
        meta: &Arc<VertexMeta>,
        phase: Phase,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> SolveError {
        SolveError::Vertex {
            digest: digest.clone(),
            meta: meta.clone(),
            phase,
            cause: Arc::from(cause.into()),
        }
    }

    pub(crate) fn missing_output(r: &OutputRef) -> SolveError {
        SolveError::MissingOutput {
            digest: r.digest.clone(),
            index: r.index,
        }
    }
}

//! The worker contract: the small role traits through which the solver has ops resolved,
//! keyed, executed and their results reference-counted, without knowing what an op does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kiln_graph::{Digest, VertexDef, VertexMeta};
use kiln_progress::{Clock, LogWriter, ProgressSender};
use serde::{Deserialize, Serialize};

/// A boxed, sendable future: what the dyn-compatible traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error from the worker or the cache store, kept as the cause of a
/// [`crate::SolveError`]. Its `Display` is what users read under the failing step
/// (`process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The layer blob a result was (or will be) exported as, when the worker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobInfo {
    /// Digest of the (compressed) blob, `sha256:...`.
    pub digest: String,
    /// Digest of the uncompressed tar (the OCI `diff_id`).
    pub diff_id: String,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
}

/// An opaque handle to one output of an executed (or cache-loaded) op: a snapshot owned by the
/// worker, and optionally the layer blob it corresponds to.
///
/// The solver never looks inside: it stores handles, passes them to [`OpHandler::exec`] and
/// [`ContentHasher::content_checksum`], records them in the [`crate::CacheStore`], and counts
/// references through [`ResultRefs`]. Cloning a `ResultRef` does not take a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResultRef {
    /// The worker's identifier of the snapshot (unique within the worker).
    pub id: String,
    /// The layer blob, when known.
    pub blob: Option<BlobInfo>,
}

impl ResultRef {
    /// A handle to snapshot `id` with no blob information.
    pub fn new(id: impl Into<String>) -> ResultRef {
        ResultRef {
            id: id.into(),
            blob: None,
        }
    }
}

/// Which part of an input's content a dependent vertex reads (BuildKit's
/// `cacheutil.Selector`): a path, optionally a wildcard, filtered by patterns.
///
/// Plain data: it is hashed into the cache key next to the checksum it produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentSelector {
    /// Path inside the input (`/` for everything).
    pub path: String,
    /// `path` may contain wildcards.
    pub wildcard: bool,
    /// Follow a symlink named by `path` itself.
    pub follow_links: bool,
    /// Only paths matching these (relative to `path`) count.
    pub include_patterns: Vec<String>,
    /// Paths matching these do not count.
    pub exclude_patterns: Vec<String>,
}

/// How one input takes part in its dependent's cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DepCacheMap {
    /// Mixed into the key beside the input's key or checksum (BuildKit's `dep.Selector`),
    /// e.g. the digest of the sub-path a mount selects. `None`: nothing extra.
    pub selector: Option<Digest>,
    /// When set, the input's *content* replaces its key: the solver materialises the input and
    /// asks [`ContentHasher::content_checksum`] for the checksum of exactly these selections
    /// (BuildKit's `ComputeDigestFunc`). This is what makes a change to a context file that no
    /// `COPY` selects bust nothing. `None`: the input's cache key is used (no materialising).
    pub content: Option<Vec<ContentSelector>>,
}

/// An op's contribution to its vertex's cache key (BuildKit's `solver.CacheMap`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheMap {
    /// Digest of everything about the op itself that determines its result: its definition
    /// without the inputs (they are keyed through `deps`), and for a source its *resolved*
    /// identity (an image's manifest digest for the platform, a git commit, an HTTP content
    /// digest). Never covers secret values or timestamps.
    pub digest: Digest,
    /// One entry per input of the vertex, in input order.
    pub deps: Vec<DepCacheMap>,
}

/// What a handler is told about the vertex it works for, and how it reports progress.
#[derive(Clone)]
pub struct OpContext {
    /// The vertex digest; also the progress identity of the vertex.
    pub digest: Digest,
    /// The vertex (op, inputs, platform).
    pub def: Arc<VertexDef>,
    /// Its name and source location.
    pub meta: Arc<VertexMeta>,
    /// Progress of this vertex: statuses (`resolve docker.io/...`, pull progress) and logs.
    /// Events reach every build waiting on the vertex.
    pub progress: ProgressSender,
    /// The clock progress timestamps come from.
    pub clock: Arc<dyn Clock>,
}

impl OpContext {
    /// A writer for the vertex's `stream` ([`kiln_progress::STDOUT`] or
    /// [`kiln_progress::STDERR`]) with BuildKit's log limits: what a RUN's output goes through.
    pub fn log_writer(&self, stream: u8) -> LogWriter {
        LogWriter::new(
            self.progress.clone(),
            self.digest.to_string(),
            stream,
            self.clock.clone(),
        )
    }
}

impl fmt::Debug for OpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpContext")
            .field("digest", &self.digest)
            .field("name", &self.meta.name)
            .finish_non_exhaustive()
    }
}

/// Carries out one vertex. Made by [`OpResolver::handler`], once per vertex and solve (the
/// same handler sees `cache_map` and then, if needed, `exec`, so it may keep what it resolved
/// in the first for the second).
///
/// Contract:
/// - `cache_map` is called first and exactly once. It must not need the inputs' results: it is
///   how the solver finds a cached result *without* running anything below. For a source it
///   is the resolve step: an image source resolves its reference to the manifest digest for
///   the vertex's platform and puts that in [`CacheMap::digest`]; `exec` must then produce
///   exactly what was resolved (never re-resolve a moving tag).
/// - `exec` is called at most once, only when no cached result was usable, with one
///   [`ResultRef`] per vertex input (in input order). The inputs are *lent*: they stay valid
///   for the duration of the call; a handler that keeps one beyond it takes its own reference
///   ([`ResultRefs::retain`]). It returns one new [`ResultRef`] per output of the op
///   ([`kiln_graph::Op::output_count`]), each carrying one reference that passes to the solver.
///   On error it returns no references (and releases whatever it made).
/// - Both may be cancelled by dropping the future (another step failed, the build was
///   interrupted): the handler must then leave nothing behind (no running process, no mount,
///   no half-written snapshot that is referenced).
/// - Different handlers run concurrently, up to the solver's `max_parallelism` for `exec`.
pub trait OpHandler: Send + Sync {
    /// The op's part of the cache key; see the trait documentation.
    fn cache_map<'a>(&'a self, ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>>;

    /// Runs the op over `inputs`; see the trait documentation.
    fn exec<'a>(
        &'a self,
        ctx: &'a OpContext,
        inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>>;
}

/// Makes the handler for a vertex.
///
/// Contract: called once per vertex per solve (identical vertices shared by concurrent solves
/// share one handler); must not block (do the work in the handler's futures). An op the
/// worker cannot run (an unsupported source scheme, a missing entitlement) is an error here,
/// worded for the user.
pub trait OpResolver: Send + Sync {
    /// The handler for the vertex `digest` with definition `def`.
    fn handler(&self, digest: &Digest, def: &VertexDef) -> Result<Arc<dyn OpHandler>, BoxError>;
}

/// Reference counting of results. The worker owns the data; the solver holds references.
///
/// Contract:
/// - Every [`ResultRef`] the solver receives from [`OpHandler::exec`] carries one reference;
///   [`ResultRefs::retain`] adds one and [`ResultRefs::release`] drops one. When a result has
///   no references left, the worker may delete it unless something else (a cache record, an
///   image, GC roots of the store) keeps it.
/// - `retain` on a handle whose data is gone (deleted since a cache record was written) fails:
///   the solver then treats the cache record as a miss.
/// - `release` never fails and never blocks (it is called from `Drop`); problems are the
///   worker's to log. Both are safe to call concurrently.
pub trait ResultRefs: Send + Sync {
    /// Takes one more reference on `r`.
    fn retain(&self, r: &ResultRef) -> Result<(), BoxError>;
    /// Drops one reference on `r`.
    fn release(&self, r: &ResultRef);
}

/// Content checksums of results (BuildKit's `contenthash`).
///
/// Contract: the checksum covers the content *and metadata* (mode, owner, link target, mtime
/// as BuildKit's contenthash does) of exactly the paths the selectors pick out, in a form
/// independent of anything else in the result; the same selection of equal content gives the
/// same digest across builds and machines. A selector naming a path that does not exist is
/// not an error here (the op reports it when it runs); it hashes as absent. `r` stays valid for
/// the call (the solver holds a reference). Safe to call concurrently.
pub trait ContentHasher: Send + Sync {
    /// The checksum of the parts of `r` selected by `selectors`.
    fn content_checksum<'a>(
        &'a self,
        r: &'a ResultRef,
        selectors: &'a [ContentSelector],
    ) -> BoxFuture<'a, Result<Digest, BoxError>>;
}

/// Everything the solver needs from a worker.
pub trait Worker: OpResolver + ResultRefs + ContentHasher + fmt::Debug {}

impl<T: OpResolver + ResultRefs + ContentHasher + fmt::Debug> Worker for T {}

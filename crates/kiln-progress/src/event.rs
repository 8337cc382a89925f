//! The progress event model: BuildKit's `client.SolveStatus` and its four kinds of records,
//! serialized with the JSON field names `--progress=rawjson` prints.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::format::rfc3339_nano;

/// A vertex (an op of the build graph, or an internal step such as `[internal] load build
/// context`) is identified by its digest, as in BuildKit: `sha256:<hex>` for ops, any unique
/// string for internal steps. The printers only compare digests for equality.
pub type Digest = String;

/// One batch of progress updates, sent by the solver over the progress channel.
///
/// A record in a batch replaces the previous record with the same key: a [`Vertex`] by
/// `digest`, a [`VertexStatus`] by `(vertex, id)`. Logs and warnings accumulate.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SolveStatus {
    /// New or changed vertexes (their full current state).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vertexes: Vec<Vertex>,
    /// New or changed sub-task statuses (`transferring context:`, `sha256:… 1.2MB / 3MB`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<VertexStatus>,
    /// Output chunks of running vertexes (RUN stdout/stderr).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<VertexLog>,
    /// Build check warnings and other warnings attached to a vertex.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<VertexWarning>,
}

impl SolveStatus {
    /// True when the batch carries nothing.
    pub fn is_empty(&self) -> bool {
        self.vertexes.is_empty()
            && self.statuses.is_empty()
            && self.logs.is_empty()
            && self.warnings.is_empty()
    }
}

/// The state of one vertex. `started` without `completed` means running; `completed` with an
/// `error` means failed (an error ending in `context canceled` means canceled); `cached` with
/// `completed` means the result came from the cache.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Vertex {
    /// Identity of the vertex.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: Digest,
    /// Digests of the vertexes this one consumes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Digest>,
    /// What users read: `[stage-1 2/3] RUN make`, `[internal] load build context`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// When the work started.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub started: Option<SystemTime>,
    /// When the work ended (successfully or not).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub completed: Option<SystemTime>,
    /// The result came from the cache.
    #[serde(skip_serializing_if = "is_false")]
    pub cached: bool,
    /// Why the vertex failed, as BuildKit words it
    /// (`process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Groups several vertexes into one line of the tty view (BuildKit's `ProgressGroup`).
    #[serde(rename = "progressGroup", skip_serializing_if = "Option::is_none")]
    pub progress_group: Option<ProgressGroup>,
}

/// BuildKit's `pb.ProgressGroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProgressGroup {
    /// Group identity.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Name shown for the group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A weak member does not make the group visible on its own.
    #[serde(skip_serializing_if = "is_false")]
    pub weak: bool,
}

/// A sub-task of a vertex with optional byte counts: `transferring context:`,
/// `resolve docker.io/library/busybox:latest`, `sha256:<layer>` (a pull),
/// `exporting layers`, `writing image sha256:…`, `naming to …`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VertexStatus {
    /// Identity of the sub-task within its vertex; also the text printed.
    pub id: String,
    /// The vertex it belongs to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vertex: Digest,
    /// Optional name (BuildKit leaves it empty for most statuses).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Total bytes, 0 when unknown.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: i64,
    /// Bytes done so far.
    pub current: i64,
    /// When this update was produced.
    #[serde(serialize_with = "ser_time")]
    pub timestamp: SystemTime,
    /// When the sub-task started. Statuses that never start are not printed by the plain
    /// printer, as in BuildKit.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub started: Option<SystemTime>,
    /// When the sub-task completed (`done`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub completed: Option<SystemTime>,
}

/// Standard output of a process.
pub const STDOUT: u8 = 1;
/// Standard error of a process.
pub const STDERR: u8 = 2;

/// A chunk of output of a vertex. Chunks need not end at line boundaries; printers join
/// partial lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VertexLog {
    /// The vertex that produced it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vertex: Digest,
    /// [`STDOUT`] or [`STDERR`].
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub stream: u8,
    /// Raw bytes (base64 in JSON, like Go's `[]byte`).
    #[serde(serialize_with = "ser_bytes")]
    pub data: Vec<u8>,
    /// When the chunk was produced; the plain printer prefixes each line with the seconds
    /// between the vertex's start and this time.
    #[serde(serialize_with = "ser_time")]
    pub timestamp: SystemTime,
}

/// A warning attached to a vertex: build check results (`short` is
/// `Rule: message (line N)`, as BuildKit's Dockerfile frontend formats it) and others.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VertexWarning {
    /// The vertex it belongs to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vertex: Digest,
    /// Severity (BuildKit uses 1 for warnings).
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub level: i32,
    /// One-line summary.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ser_bytes")]
    pub short: Vec<u8>,
    /// Longer explanation, one entry per paragraph.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ser_bytes_list"
    )]
    pub detail: Vec<Vec<u8>>,
    /// Documentation link.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The file the ranges point into.
    #[serde(rename = "sourceInfo", skip_serializing_if = "Option::is_none")]
    pub source_info: Option<SourceInfo>,
    /// Line ranges in that file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<Range>,
}

/// BuildKit's `pb.SourceInfo` (without the LLB definition).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// `Dockerfile`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filename: String,
    /// The file's bytes.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ser_bytes")]
    pub data: Vec<u8>,
    /// `Dockerfile`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub language: String,
}

/// BuildKit's `pb.Range`: 1-based lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Range {
    /// First position.
    pub start: Position,
    /// Last position.
    pub end: Position,
}

/// BuildKit's `pb.Position`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Position {
    /// 1-based line.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub line: i32,
    /// 0-based character.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub character: i32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_nano(*t))
}

fn ser_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339_nano(*t)),
        None => s.serialize_none(),
    }
}

fn ser_bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::format::base64(b))
}

fn ser_bytes_list<S: Serializer>(b: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(b.len()))?;
    for item in b {
        seq.serialize_element(&crate::format::base64(item))?;
    }
    seq.end()
}

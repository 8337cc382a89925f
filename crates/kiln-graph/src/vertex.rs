//! Vertices: an op with its inputs and platform, identified by the digest of its canonical
//! serialization; plus the metadata that travels beside it without being hashed.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_platforms::Platform;
use serde::{Deserialize, Serialize};

use crate::{Digest, Op, OutputIndex};

/// A reference to one output of a vertex, as stored in a definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutputRef {
    pub digest: Digest,
    pub index: OutputIndex,
}

/// The hashed part of a vertex: exactly what its digest covers.
///
/// Canonical form: compact JSON as `serde_json` writes this struct (fields in declaration
/// order, maps ordered by key, no floats, no whitespace). The digest is the SHA-256 of those
/// bytes. Because `inputs` hold the input vertices' digests, a digest covers the whole graph
/// below the vertex (a Merkle DAG): it is the base of the cache key, to which the solver adds
/// the content digests of sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VertexDef {
    pub op: Op,
    pub inputs: Vec<OutputRef>,
    /// The platform the op runs for (`None` for platform-independent ops).
    pub platform: Option<Platform>,
}

impl VertexDef {
    /// The canonical bytes (see the type's documentation).
    pub fn canonical(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The vertex digest.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.canonical())
    }
}

/// A line range in the Dockerfile (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineRange {
    pub start: usize,
    pub end: usize,
}

/// What is known about a vertex besides its definition. Never hashed: two vertices that differ
/// only here are the same vertex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexMeta {
    /// The progress name (`[build 2/3] RUN make`).
    pub name: String,
    /// Free-form description (BuildKit's `com.docker.dockerfile.v1.command` and the like).
    pub description: BTreeMap<String, String>,
    /// Do not use a cached result (`--no-cache`, `--no-cache-filter`).
    pub ignore_cache: bool,
    /// Where in the Dockerfile the vertex comes from, for error excerpts.
    pub locations: Vec<LineRange>,
    /// Proxy variables (`HTTP_PROXY`, `no_proxy`, ...) an exec gets in its environment
    /// without them entering its digest (BuildKit's `ProxyEnv`): changing a proxy must not
    /// bust the cache.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_env: BTreeMap<String, String>,
}

impl VertexMeta {
    /// Metadata with only a progress name.
    pub fn named(name: impl Into<String>) -> VertexMeta {
        VertexMeta {
            name: name.into(),
            ..VertexMeta::default()
        }
    }

    /// Folds `other` (the metadata of an identical vertex) into this one: the first name and
    /// locations win, `ignore_cache` is kept if either asks for it.
    pub fn merge(&mut self, other: &VertexMeta) {
        if self.name.is_empty() {
            self.name.clone_from(&other.name);
        }
        for (k, v) in &other.description {
            self.description
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        self.ignore_cache |= other.ignore_cache;
        if self.locations.is_empty() {
            self.locations.clone_from(&other.locations);
        }
        for (k, v) in &other.proxy_env {
            self.proxy_env.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// An in-memory vertex: the op, its input vertices, and its digest computed once.
#[derive(Debug)]
pub struct Vertex {
    def: VertexDef,
    inputs: Vec<Output>,
    meta: VertexMeta,
    digest: Digest,
}

impl Vertex {
    /// Makes a vertex. Its digest is computed here, from `op`, the inputs' digests and
    /// `platform`.
    pub fn new(
        op: Op,
        inputs: Vec<Output>,
        platform: Option<Platform>,
        meta: VertexMeta,
    ) -> Arc<Vertex> {
        let def = VertexDef {
            op,
            inputs: inputs.iter().map(Output::to_ref).collect(),
            platform,
        };
        let digest = def.digest();
        Arc::new(Vertex {
            def,
            inputs,
            meta,
            digest,
        })
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn def(&self) -> &VertexDef {
        &self.def
    }

    pub fn op(&self) -> &Op {
        &self.def.op
    }

    pub fn inputs(&self) -> &[Output] {
        &self.inputs
    }

    pub fn meta(&self) -> &VertexMeta {
        &self.meta
    }
}

impl Drop for Vertex {
    /// Drops long chains of vertices iteratively, so that a graph of any depth cannot
    /// overflow the stack when its last state goes away.
    fn drop(&mut self) {
        let mut pending: Vec<Arc<Vertex>> = self.inputs.drain(..).map(|o| o.vertex).collect();
        while let Some(v) = pending.pop() {
            if let Ok(mut inner) = Arc::try_unwrap(v) {
                pending.extend(inner.inputs.drain(..).map(|o| o.vertex));
            }
        }
    }
}

/// One output of an in-memory vertex: what a [`crate::State`] points at.
#[derive(Debug, Clone)]
pub struct Output {
    pub vertex: Arc<Vertex>,
    pub index: OutputIndex,
}

impl Output {
    /// The serializable reference.
    pub fn to_ref(&self) -> OutputRef {
        OutputRef {
            digest: self.vertex.digest().clone(),
            index: self.index,
        }
    }
}

impl PartialEq for Output {
    fn eq(&self, other: &Output) -> bool {
        self.index == other.index && self.vertex.digest() == other.vertex.digest()
    }
}

impl Eq for Output {}

//! [`Definition`]: the vertices reachable from an output, deduplicated by digest, in a
//! serialized form that can be checked on reading.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Digest, Error, Output, OutputRef, VertexDef, VertexMeta};

/// The format version written by [`Definition::marshal`].
pub const DEFINITION_VERSION: u32 = 1;

/// A vertex in a definition, stored under its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionVertex {
    pub digest: Digest,
    #[serde(flatten)]
    pub def: VertexDef,
}

/// A build graph as a value: every vertex reachable from `output`, once each, inputs before
/// the vertices that use them, plus the metadata of each vertex.
///
/// Identical vertices (same op, inputs and platform) have the same digest and appear once,
/// whichever stage, target or platform produced them; their metadata is merged
/// ([`VertexMeta::merge`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub version: u32,
    /// Topologically ordered: every input of a vertex comes before it.
    pub vertices: Vec<DefinitionVertex>,
    pub metadata: BTreeMap<Digest, VertexMeta>,
    /// The result; `None` for an empty (scratch) result.
    pub output: Option<OutputRef>,
}

impl Definition {
    /// Collects the graph below `output` (`None`: the empty filesystem).
    pub fn new(output: Option<&Output>) -> Definition {
        let mut def = Definition {
            version: DEFINITION_VERSION,
            vertices: Vec::new(),
            metadata: BTreeMap::new(),
            output: output.map(Output::to_ref),
        };
        if let Some(out) = output {
            let mut seen = HashSet::new();
            // Iterative post-order walk: no recursion depth limit on deep graphs.
            let mut stack = vec![(out.vertex.clone(), false)];
            while let Some((v, expanded)) = stack.pop() {
                if expanded {
                    if seen.insert(v.digest().clone()) {
                        def.vertices.push(DefinitionVertex {
                            digest: v.digest().clone(),
                            def: v.def().clone(),
                        });
                    }
                    def.metadata
                        .entry(v.digest().clone())
                        .and_modify(|m| m.merge(v.meta()))
                        .or_insert_with(|| v.meta().clone());
                    continue;
                }
                if seen.contains(v.digest()) {
                    def.metadata
                        .entry(v.digest().clone())
                        .and_modify(|m| m.merge(v.meta()));
                    continue;
                }
                stack.push((v.clone(), true));
                for input in v.inputs().iter().rev() {
                    stack.push((input.vertex.clone(), false));
                }
            }
        }
        def
    }

    /// The vertex stored under `digest`.
    pub fn vertex(&self, digest: &Digest) -> Option<&VertexDef> {
        self.vertices
            .iter()
            .find(|v| &v.digest == digest)
            .map(|v| &v.def)
    }

    /// The canonical serialized form (compact JSON).
    pub fn marshal(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a serialized definition and checks it: the version, every digest against its
    /// vertex, every input and the output pointing at an earlier vertex's existing output.
    pub fn unmarshal(bytes: &[u8]) -> Result<Definition, Error> {
        let def: Definition = serde_json::from_slice(bytes)?;
        if def.version != DEFINITION_VERSION {
            return Err(Error::UnsupportedVersion(def.version, DEFINITION_VERSION));
        }
        let mut outputs: BTreeMap<&Digest, u32> = BTreeMap::new();
        let check = |r: &OutputRef, outputs: &BTreeMap<&Digest, u32>| match outputs.get(&r.digest) {
            None => Err(Error::MissingVertex(r.digest.clone())),
            Some(n) if r.index >= *n => Err(Error::MissingOutput {
                vertex: r.digest.clone(),
                index: r.index,
            }),
            Some(_) => Ok(()),
        };
        for v in &def.vertices {
            let actual = v.def.digest();
            if actual != v.digest {
                return Err(Error::DigestMismatch {
                    stored: v.digest.clone(),
                    actual,
                });
            }
            for input in &v.def.inputs {
                check(input, &outputs)?;
            }
            outputs.insert(&v.digest, v.def.op.output_count());
        }
        if let Some(out) = &def.output {
            check(out, &outputs)?;
        }
        Ok(def)
    }
}

//! The JSON shapes of BuildKit's protobuf location types (`pb.Location`, `pb.Range`,
//! `pb.Position`, `pb.SourceInfo`) as Go's `encoding/json` writes them: zero numbers and
//! empty lists left out.

use serde::Serialize;

use kiln_lint::Range;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `pb.Position`.
#[derive(Debug, Serialize)]
pub(crate) struct Position {
    #[serde(skip_serializing_if = "is_zero")]
    line: usize,
    #[serde(skip_serializing_if = "is_zero")]
    character: usize,
}

/// `pb.Range`.
#[derive(Debug, Serialize)]
pub(crate) struct PbRange {
    start: Position,
    end: Position,
}

/// `pb.Location` (`sourceIndex` is always 0 here: one Dockerfile per request).
#[derive(Debug, Serialize)]
pub(crate) struct Location {
    #[serde(rename = "sourceIndex", skip_serializing_if = "is_zero")]
    source_index: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ranges: Vec<PbRange>,
}

impl Location {
    pub(crate) fn new(ranges: &[Range]) -> Location {
        Location {
            source_index: 0,
            ranges: ranges
                .iter()
                .map(|r| PbRange {
                    start: Position {
                        line: r.start.line,
                        character: r.start.character,
                    },
                    end: Position {
                        line: r.end.line,
                        character: r.end.character,
                    },
                })
                .collect(),
        }
    }

    /// `None` for no ranges, as upstream leaves a nil location out.
    pub(crate) fn optional(ranges: &[Range]) -> Option<Location> {
        (!ranges.is_empty()).then(|| Location::new(ranges))
    }
}

/// `pb.SourceInfo` without the LLB definition (kiln has no LLB for the Dockerfile source).
#[derive(Debug, Serialize)]
pub(crate) struct SourceInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) filename: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) language: String,
}

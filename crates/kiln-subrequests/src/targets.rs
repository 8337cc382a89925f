//! `--call=targets`: every stage of the Dockerfile with its description, the default (last)
//! one marked, and the two ways buildx prints the list (BuildKit's
//! `frontend/subrequests/targets`).

use serde::Serialize;

use kiln_lint::Range;

use crate::gojson::{base64, to_go_json};
use crate::pb::Location;
use crate::tabwriter::format_table;

/// The stages of a Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    /// Every stage, in Dockerfile order (unnamed stages included, with an empty name).
    pub targets: Vec<Target>,
    /// The Dockerfile's bytes.
    pub sources: Vec<Vec<u8>>,
}

/// One stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The stage name (`FROM ... AS name`), empty when unnamed.
    pub name: String,
    /// The last stage, built when no `--target` is given.
    pub default: bool,
    /// The stage's description comment, if any.
    pub description: String,
    /// The base as written (`alpine`, `$BASE`, another stage's name).
    pub base: String,
    /// The `FROM --platform=` value as written, if any.
    pub platform: String,
    /// The `FROM` instruction's lines.
    pub location: Vec<Range>,
}

#[derive(Serialize)]
struct JsonList {
    targets: Vec<JsonTarget>,
    sources: Vec<String>,
}

#[derive(Serialize)]
struct JsonTarget {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    default: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    base: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
}

impl TargetList {
    /// The JSON buildx prints for `--call=targets,format=json` (without the final newline).
    pub fn to_json(&self) -> String {
        let j = JsonList {
            targets: self
                .targets
                .iter()
                .map(|t| JsonTarget {
                    name: t.name.clone(),
                    default: t.default,
                    description: t.description.clone(),
                    base: t.base.clone(),
                    platform: t.platform.clone(),
                    location: Location::optional(&t.location),
                })
                .collect(),
            sources: self.sources.iter().map(|s| base64(s)).collect(),
        };
        to_go_json(&j).unwrap_or_default()
    }

    /// The text buildx prints for `--call=targets` (upstream's `PrintTargets`): a
    /// `TARGET  DESCRIPTION` table; the default target is `name (default)`, or `(default)`
    /// when unnamed.
    pub fn to_text(&self) -> String {
        let mut rows = vec![vec!["TARGET".to_string(), "DESCRIPTION".to_string()]];
        for t in &self.targets {
            let name = match (t.name.is_empty(), t.default) {
                (true, true) => "(default)".to_string(),
                (false, true) => format!("{} (default)", t.name),
                _ => t.name.clone(),
            };
            rows.push(vec![name, t.description.clone()]);
        }
        format_table(&rows, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TargetList {
        TargetList {
            targets: vec![
                Target {
                    name: "build".into(),
                    description: "defines stage for compiling the binary".into(),
                    base: "alpine".into(),
                    location: vec![Range::lines(3, 3)],
                    ..Default::default()
                },
                Target {
                    name: "second".into(),
                    base: "busybox".into(),
                    platform: "$BUILDPLATFORM".into(),
                    location: vec![Range::lines(6, 6)],
                    ..Default::default()
                },
                Target {
                    base: "alpine".into(),
                    location: vec![Range::lines(9, 9)],
                    ..Default::default()
                },
                Target {
                    name: "binary".into(),
                    default: true,
                    description: "returns the compiled binary".into(),
                    base: "second".into(),
                    location: vec![Range::lines(13, 13)],
                    ..Default::default()
                },
            ],
            sources: vec![b"x".to_vec()],
        }
    }

    #[test]
    fn text_matches_buildx() {
        assert_eq!(
            sample().to_text(),
            "TARGET           DESCRIPTION\n\
             build            defines stage for compiling the binary\n\
             second           \n\
             \x20                \n\
             binary (default) returns the compiled binary\n"
        );
    }

    #[test]
    fn unnamed_default() {
        let l = TargetList {
            targets: vec![Target {
                default: true,
                base: "busybox".into(),
                ..Default::default()
            }],
            sources: vec![],
        };
        assert_eq!(l.to_text(), "TARGET    DESCRIPTION\n(default) \n");
    }

    #[test]
    fn json_matches_buildx() {
        let mut l = sample();
        l.targets.truncate(2);
        assert_eq!(
            l.to_json(),
            r#"{
  "targets": [
    {
      "name": "build",
      "description": "defines stage for compiling the binary",
      "base": "alpine",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 3
            },
            "end": {
              "line": 3
            }
          }
        ]
      }
    },
    {
      "name": "second",
      "base": "busybox",
      "platform": "$BUILDPLATFORM",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 6
            },
            "end": {
              "line": 6
            }
          }
        ]
      }
    }
  ],
  "sources": [
    "eA=="
  ]
}"#
        );
    }
}

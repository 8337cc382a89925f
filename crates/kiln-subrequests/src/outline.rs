//! `--call=outline`: what a build target takes (its build args with values and descriptions,
//! the secrets and SSH agents its `RUN --mount`s use) and the two ways buildx prints it
//! (BuildKit's `frontend/subrequests/outline`).

use serde::Serialize;

use kiln_lint::Range;

use crate::gojson::{base64, to_go_json};
use crate::pb::Location;
use crate::tabwriter::format_table;

/// The outline of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// The target stage's name (empty for an unnamed last stage).
    pub name: String,
    /// The target stage's description (from its `# name description` comment).
    pub description: String,
    /// Build args the target uses, sorted by the line of their `ARG`.
    pub args: Vec<OutlineArg>,
    /// Secrets mounted by `RUN`s of the stages the target needs, sorted by line.
    pub secrets: Vec<OutlineSecret>,
    /// SSH agents mounted by those `RUN`s, sorted by line.
    pub ssh: Vec<OutlineSsh>,
    /// The Dockerfile's bytes.
    pub sources: Vec<Vec<u8>>,
}

/// One build arg of an [`Outline`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlineArg {
    /// The `ARG` name.
    pub name: String,
    /// Its description comment, if any.
    pub description: String,
    /// Its value for this build (`--build-arg` or the expanded default; empty when unset).
    pub value: String,
    /// The `ARG` instruction's lines.
    pub location: Vec<Range>,
}

/// One secret of an [`Outline`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlineSecret {
    /// The secret id (`id=`, or the base name of `target=`).
    pub name: String,
    /// `required=true` on the mount.
    pub required: bool,
    /// The `RUN` instruction's lines.
    pub location: Vec<Range>,
}

/// One SSH agent socket of an [`Outline`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlineSsh {
    /// The SSH id (`default` when the mount names none).
    pub name: String,
    /// `required=true` on the mount.
    pub required: bool,
    /// The `RUN` instruction's lines.
    pub location: Vec<Range>,
}

#[derive(Serialize)]
struct JsonOutline {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<JsonArg>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<JsonMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ssh: Vec<JsonMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<String>,
}

#[derive(Serialize)]
struct JsonArg {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
}

#[derive(Serialize)]
struct JsonMount {
    name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
}

impl Outline {
    /// The JSON buildx prints for `--call=outline,format=json` (without the final newline).
    pub fn to_json(&self) -> String {
        let j = JsonOutline {
            name: self.name.clone(),
            description: self.description.clone(),
            args: self
                .args
                .iter()
                .map(|a| JsonArg {
                    name: a.name.clone(),
                    description: a.description.clone(),
                    value: a.value.clone(),
                    location: Location::optional(&a.location),
                })
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|s| JsonMount {
                    name: s.name.clone(),
                    required: s.required,
                    location: Location::optional(&s.location),
                })
                .collect(),
            ssh: self
                .ssh
                .iter()
                .map(|s| JsonMount {
                    name: s.name.clone(),
                    required: s.required,
                    location: Location::optional(&s.location),
                })
                .collect(),
            sources: self.sources.iter().map(|s| base64(s)).collect(),
        };
        // Plain strings, numbers and booleans cannot fail to serialize.
        to_go_json(&j).unwrap_or_default()
    }

    /// The text buildx prints for `--call=outline` (upstream's `PrintOutline`): a `TARGET:` /
    /// `DESCRIPTION:` block when the target has a name or description, then the
    /// `BUILD ARG  VALUE  DESCRIPTION`, `SECRET  REQUIRED` and `SSH  REQUIRED` tables, each
    /// present only when non-empty and followed by an empty line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.name.is_empty() || !self.description.is_empty() {
            let name = if self.name.is_empty() {
                "(default)".to_string()
            } else {
                self.name.clone()
            };
            let mut rows = vec![vec!["TARGET:".to_string(), name]];
            if !self.description.is_empty() {
                rows.push(vec!["DESCRIPTION:".to_string(), self.description.clone()]);
            }
            out.push_str(&format_table(&rows, 1));
            out.push('\n');
        }
        if !self.args.is_empty() {
            let mut rows = vec![vec![
                "BUILD ARG".to_string(),
                "VALUE".to_string(),
                "DESCRIPTION".to_string(),
            ]];
            rows.extend(
                self.args
                    .iter()
                    .map(|a| vec![a.name.clone(), a.value.clone(), a.description.clone()]),
            );
            out.push_str(&format_table(&rows, 3));
            out.push('\n');
        }
        let mounts = |title: &str, items: Vec<(&str, bool)>| {
            let mut rows = vec![vec![title.to_string(), "REQUIRED".to_string()]];
            rows.extend(
                items
                    .into_iter()
                    .map(|(n, r)| vec![n.to_string(), if r { "true" } else { "" }.to_string()]),
            );
            format_table(&rows, 3) + "\n"
        };
        if !self.secrets.is_empty() {
            out.push_str(&mounts(
                "SECRET",
                self.secrets
                    .iter()
                    .map(|s| (s.name.as_str(), s.required))
                    .collect(),
            ));
        }
        if !self.ssh.is_empty() {
            out.push_str(&mounts(
                "SSH",
                self.ssh
                    .iter()
                    .map(|s| (s.name.as_str(), s.required))
                    .collect(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outline {
        Outline {
            name: "target".into(),
            description: "builds the thing".into(),
            args: vec![
                OutlineArg {
                    name: "BAR".into(),
                    value: "678".into(),
                    location: vec![Range::lines(9, 9)],
                    ..Default::default()
                },
                OutlineArg {
                    name: "VERSION".into(),
                    value: "1.0".into(),
                    description: "the <version> to build".into(),
                    location: vec![Range::lines(11, 11)],
                },
            ],
            secrets: vec![
                OutlineSecret {
                    name: "passwd".into(),
                    required: true,
                    location: vec![Range::lines(3, 3)],
                },
                OutlineSecret {
                    name: "second678".into(),
                    required: false,
                    location: vec![Range::lines(10, 10)],
                },
            ],
            ssh: vec![OutlineSsh {
                name: "default".into(),
                required: false,
                location: vec![Range::lines(3, 3)],
            }],
            sources: vec![b"FROM a\n".to_vec()],
        }
    }

    #[test]
    fn text_matches_buildx() {
        assert_eq!(
            sample().to_text(),
            "TARGET:      target\n\
             DESCRIPTION: builds the thing\n\
             \n\
             BUILD ARG   VALUE   DESCRIPTION\n\
             BAR         678     \n\
             VERSION     1.0     the <version> to build\n\
             \n\
             SECRET      REQUIRED\n\
             passwd      true\n\
             second678   \n\
             \n\
             SSH       REQUIRED\n\
             default   \n\
             \n"
        );
    }

    #[test]
    fn unnamed_target_without_description_has_no_header() {
        let o = Outline {
            args: vec![OutlineArg {
                name: "A".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            o.to_text(),
            "BUILD ARG   VALUE   DESCRIPTION\nA                   \n\n"
        );
        let o = Outline {
            description: "d".into(),
            ..Default::default()
        };
        assert_eq!(o.to_text(), "TARGET:      (default)\nDESCRIPTION: d\n\n");
        assert_eq!(Outline::default().to_text(), "");
    }

    #[test]
    fn json_matches_buildx() {
        assert_eq!(
            sample().to_json(),
            r#"{
  "name": "target",
  "description": "builds the thing",
  "args": [
    {
      "name": "BAR",
      "value": "678",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 9
            },
            "end": {
              "line": 9
            }
          }
        ]
      }
    },
    {
      "name": "VERSION",
      "description": "the \u003cversion\u003e to build",
      "value": "1.0",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 11
            },
            "end": {
              "line": 11
            }
          }
        ]
      }
    }
  ],
  "secrets": [
    {
      "name": "passwd",
      "required": true,
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
      "name": "second678",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 10
            },
            "end": {
              "line": 10
            }
          }
        ]
      }
    }
  ],
  "ssh": [
    {
      "name": "default",
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
    }
  ],
  "sources": [
    "RlJPTSBhCg=="
  ]
}"#
        );
    }

    #[test]
    fn empty_json() {
        assert_eq!(Outline::default().to_json(), "{}");
    }
}

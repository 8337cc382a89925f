//! `--call=check`: the result of the build checks and the ways buildx prints it (BuildKit's
//! `frontend/subrequests/lint` and buildx's `printResult`).

use std::io::{self, Write};

use serde::Serialize;

use kiln_lint::{BuildError, Warning};

use crate::excerpt::print_source_excerpt;
use crate::gojson::{base64, to_go_json};
use crate::pb::{Location, SourceInfo};

/// Everything `--call=check` reports about one Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintResults {
    /// The warnings in the order the checks found them (JSON keeps this order; text output
    /// sorts by line).
    pub warnings: Vec<Warning>,
    /// The Dockerfile's name as shown in excerpts (`Dockerfile`, `sub/Dockerfile`).
    pub filename: String,
    /// The Dockerfile's bytes.
    pub source: Vec<u8>,
    /// The error that stopped the checks, if any.
    pub error: Option<BuildError>,
}

#[derive(Serialize)]
struct JsonResults<'a> {
    warnings: Option<Vec<JsonWarning<'a>>>,
    sources: Vec<SourceInfo>,
    #[serde(rename = "buildError", skip_serializing_if = "Option::is_none")]
    build_error: Option<JsonBuildError<'a>>,
}

#[derive(Serialize)]
struct JsonWarning<'a> {
    #[serde(rename = "ruleName")]
    rule_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    url: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
    location: Location,
}

#[derive(Serialize)]
struct JsonBuildError<'a> {
    message: &'a str,
    location: Location,
}

impl LintResults {
    /// 1 when there are warnings or an error (upstream's `result.statuscode`), else 0.
    pub fn status_code(&self) -> i32 {
        i32::from(!self.warnings.is_empty() || self.error.is_some())
    }

    /// The JSON buildx prints for `--call=check,format=json` (without the final newline):
    /// `warnings` (`null` when there are none, as upstream), `sources` with the Dockerfile's
    /// name, base64 bytes and language, and `buildError` when the checks stopped on an error.
    ///
    /// The name in `sources` is the one the frontend received (the file name without its
    /// directory; `Dockerfile` for one read from stdin), while text output shows
    /// [`LintResults::filename`] as given, like buildx.
    pub fn to_json(&self) -> String {
        let j = JsonResults {
            warnings: (!self.warnings.is_empty()).then(|| {
                self.warnings
                    .iter()
                    .map(|w| JsonWarning {
                        rule_name: w.rule.name,
                        description: w.rule.description,
                        url: w.rule.url.unwrap_or(""),
                        detail: &w.detail,
                        location: Location::new(&w.location),
                    })
                    .collect()
            }),
            sources: vec![SourceInfo {
                filename: frontend_filename(&self.filename),
                data: base64(&self.source),
                language: "Dockerfile".to_string(),
            }],
            build_error: self.error.as_ref().map(|e| JsonBuildError {
                message: &e.message,
                location: Location::new(&e.location),
            }),
        };
        to_go_json(&j).unwrap_or_default()
    }

    /// Writes every warning as upstream's `LintResults.PrintTo` does: sorted by start line
    /// (warnings without a location first, those by rule name), each as
    /// `\nWARNING: <rule> - <url>\n<detail>\n` followed by the source excerpt.
    pub fn print_warnings(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut sorted: Vec<&Warning> = self.warnings.iter().collect();
        sorted.sort_by(
            |a, b| match (a.location.is_empty(), b.location.is_empty()) {
                (true, true) => a.rule.name.cmp(b.rule.name),
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) => a.start_line().cmp(&b.start_line()),
            },
        );
        for w in sorted {
            write!(out, "\nWARNING: {}", w.rule.name)?;
            if let Some(url) = w.rule.url {
                write!(out, " - {url}")?;
            }
            writeln!(out, "\n{}", w.detail)?;
            print_source_excerpt(out, &self.filename, &self.source, &w.location)?;
        }
        Ok(())
    }

    /// The error text buildx fails with when the checks stopped on an error (upstream's
    /// `PrintErrorTo`): the message, then the source excerpt when the error has a location.
    /// The final newline is left out.
    pub fn error_text(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut buf = format!("{}\n", e.message).into_bytes();
        // Writing to a Vec cannot fail.
        let _ = print_source_excerpt(&mut buf, &self.filename, &self.source, &e.location);
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Some(s)
    }

    /// The summary line buildx prints before the warnings (text format only), or after them
    /// when there are none: `Check complete, 1 warning has been found!`,
    /// `Check complete, N warnings have been found!`, `Check complete, no warnings found.`
    pub fn summary(&self) -> String {
        match self.warnings.len() {
            0 => "Check complete, no warnings found.".to_string(),
            1 => "Check complete, 1 warning has been found!".to_string(),
            n => format!("Check complete, {n} warnings have been found!"),
        }
    }
}

/// The name buildx sends the Dockerfile to the frontend under: the last path element of the
/// name users see, or `Dockerfile` for `stdin`.
fn frontend_filename(shown: &str) -> String {
    if shown == "stdin" || shown == "-" {
        return "Dockerfile".to_string();
    }
    shown
        .rsplit(['/', '\\'])
        .find(|p| !p.is_empty())
        .unwrap_or("Dockerfile")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_lint::{Range, rules};

    const SRC: &str = "\nfrOM busybox as base\ncOpy Dockerfile .\nfrom scratch\nCOPy --from=base \\\n  /Dockerfile \\\n  /\n\t";

    fn warn(rule: &'static kiln_lint::Rule, detail: String, l: usize, e: usize) -> Warning {
        Warning {
            rule,
            detail,
            location: vec![Range::lines(l, e)],
        }
    }

    fn sample() -> LintResults {
        LintResults {
            warnings: vec![
                warn(
                    &rules::CONSISTENT_INSTRUCTION_CASING,
                    rules::msg::consistent_instruction_casing("COPy", "lowercase"),
                    5,
                    7,
                ),
                warn(
                    &rules::CONSISTENT_INSTRUCTION_CASING,
                    rules::msg::consistent_instruction_casing("frOM", "lowercase"),
                    2,
                    2,
                ),
            ],
            filename: "Dockerfile".into(),
            source: SRC.as_bytes().to_vec(),
            error: None,
        }
    }

    #[test]
    fn text_sorted_by_line_with_excerpts() {
        let mut out = Vec::new();
        sample().print_warnings(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nWARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n\
             Command 'frOM' should match the case of the command majority (lowercase)\n\
             Dockerfile:2\n\
             --------------------\n\
             \x20  1 |     \n\
             \x20  2 | >>> frOM busybox as base\n\
             \x20  3 |     cOpy Dockerfile .\n\
             \x20  4 |     from scratch\n\
             --------------------\n\
             \nWARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n\
             Command 'COPy' should match the case of the command majority (lowercase)\n\
             Dockerfile:5\n\
             --------------------\n\
             \x20  4 |     from scratch\n\
             \x20  5 | >>> COPy --from=base \\\n\
             \x20  6 | >>>   /Dockerfile \\\n\
             \x20  7 | >>>   /\n\
             \x20  8 |     \t\n\
             --------------------\n"
        );
    }

    #[test]
    fn rule_without_url_and_without_location() {
        let r = LintResults {
            warnings: vec![
                warn(
                    &rules::INVALID_BASE_IMAGE_PLATFORM,
                    rules::msg::invalid_base_image_platform("a", "linux/amd64", "linux/arm64"),
                    1,
                    1,
                ),
                Warning {
                    rule: &rules::MAINTAINER_DEPRECATED,
                    detail: "x".into(),
                    location: vec![],
                },
            ],
            filename: "Dockerfile".into(),
            source: b"FROM a".to_vec(),
            error: None,
        };
        let mut out = Vec::new();
        r.print_warnings(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("\nWARNING: MaintainerDeprecated - https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/\nx\n\nWARNING: InvalidBaseImagePlatform\nBase image a"), "{s}");
    }

    #[test]
    fn summaries() {
        let mut r = sample();
        assert_eq!(r.summary(), "Check complete, 2 warnings have been found!");
        r.warnings.truncate(1);
        assert_eq!(r.summary(), "Check complete, 1 warning has been found!");
        assert_eq!(r.status_code(), 1);
        r.warnings.clear();
        assert_eq!(r.summary(), "Check complete, no warnings found.");
        assert_eq!(r.status_code(), 0);
        r.error = Some(BuildError {
            message: "boom".into(),
            location: vec![],
        });
        assert_eq!(r.status_code(), 1);
    }

    #[test]
    fn error_text_with_and_without_location() {
        let mut r = sample();
        r.error = Some(BuildError {
            message: "lint violation found for rules: ConsistentInstructionCasing".into(),
            location: vec![],
        });
        assert_eq!(
            r.error_text().unwrap(),
            "lint violation found for rules: ConsistentInstructionCasing"
        );
        r.error = Some(BuildError {
            message: "dockerfile parse error on line 4: unknown instruction: FORM".into(),
            location: vec![Range::lines(4, 4)],
        });
        assert_eq!(
            r.error_text().unwrap(),
            "dockerfile parse error on line 4: unknown instruction: FORM\n\
             Dockerfile:4\n\
             --------------------\n\
             \x20  2 |     frOM busybox as base\n\
             \x20  3 |     cOpy Dockerfile .\n\
             \x20  4 | >>> from scratch\n\
             \x20  5 |     COPy --from=base \\\n\
             \x20  6 |       /Dockerfile \\\n\
             --------------------"
        );
    }

    #[test]
    fn json_matches_buildx() {
        let r = LintResults {
            warnings: vec![warn(
                &rules::FROM_AS_CASING,
                rules::msg::from_as_casing("FROM", "as"),
                1,
                1,
            )],
            filename: "Dockerfile".into(),
            source: b"FROM a as b\n".to_vec(),
            error: None,
        };
        assert_eq!(
            r.to_json(),
            r#"{
  "warnings": [
    {
      "ruleName": "FromAsCasing",
      "description": "The 'as' keyword should match the case of the 'from' keyword",
      "url": "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
      "detail": "'as' and 'FROM' keywords' casing do not match",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 1
            },
            "end": {
              "line": 1
            }
          }
        ]
      }
    }
  ],
  "sources": [
    {
      "filename": "Dockerfile",
      "data": "RlJPTSBhIGFzIGIK",
      "language": "Dockerfile"
    }
  ]
}"#
        );
    }

    #[test]
    fn json_names_the_file_as_the_frontend_saw_it() {
        assert_eq!(frontend_filename("Dockerfile"), "Dockerfile");
        assert_eq!(frontend_filename("/tmp/ctx/Dockerfile"), "Dockerfile");
        assert_eq!(frontend_filename("sub/prod.Dockerfile"), "prod.Dockerfile");
        assert_eq!(frontend_filename("stdin"), "Dockerfile");
        assert_eq!(frontend_filename(""), "Dockerfile");
    }

    #[test]
    fn json_without_warnings_and_with_error() {
        let r = LintResults {
            warnings: vec![],
            filename: "Dockerfile".into(),
            source: b"FORM a\n".to_vec(),
            error: Some(BuildError {
                message: "dockerfile parse error on line 1: unknown instruction: FORM (did you mean FROM?)".into(),
                location: vec![Range::lines(1, 1)],
            }),
        };
        assert_eq!(
            r.to_json(),
            r#"{
  "warnings": null,
  "sources": [
    {
      "filename": "Dockerfile",
      "data": "Rk9STSBhCg==",
      "language": "Dockerfile"
    }
  ],
  "buildError": {
    "message": "dockerfile parse error on line 1: unknown instruction: FORM (did you mean FROM?)",
    "location": {
      "ranges": [
        {
          "start": {
            "line": 1
          },
          "end": {
            "line": 1
          }
        }
      ]
    }
  }
}"#
        );
    }
}

//! Which rules run: the `# check=skip=...;error=...;experimental=...` directive (and the
//! `BUILDKIT_DOCKERFILE_CHECK` build argument), and the [`Linter`] that applies it while rules
//! report (BuildKit's `linter.ParseLintOptions` and `linter.Linter`).

use crate::rules::{Rule, go_quote};
use crate::warning::{Range, Warning};

/// The parsed value of a `check` directive.
///
/// `skip` never disables experimental rules, and experimental rules run only when named in
/// `experimental` (or with `experimental=all`), as upstream does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    /// `skip=all`: no non-experimental rule runs.
    pub skip_all: bool,
    /// `skip=A,B`: rule names not to run (whitespace around names trimmed, unknown names kept).
    pub skip: Vec<String>,
    /// `experimental=all`.
    pub experimental_all: bool,
    /// `experimental=A,B`: experimental rules to enable.
    pub experimental: Vec<String>,
    /// `error=true`: any warning fails the build (`lint violation found for rules: ...`).
    pub error: bool,
}

/// A `check` option string that cannot be parsed. The message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckOptionError(String);

impl LintConfig {
    /// Parses `skip=A,B;error=true;experimental=all` (BuildKit's `ParseLintOptions`).
    ///
    /// The string is trimmed; an empty string is the default configuration. It is split at
    /// `;` into at most three parts (so a third part keeps any further `;`); each part must be
    /// `key=value` with key `skip`, `experimental` or `error`; `error` takes Go's boolean
    /// spellings (`1 t T TRUE true True 0 f F FALSE false False`). A later part overrides an
    /// earlier one with the same key.
    pub fn parse(check: &str) -> Result<LintConfig, CheckOptionError> {
        let check = check.trim();
        let mut cfg = LintConfig::default();
        if check.is_empty() {
            return Ok(cfg);
        }
        for part in check.splitn(3, ';') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(CheckOptionError(format!(
                    "invalid check option {}",
                    go_quote(part)
                )));
            };
            match k.trim() {
                "skip" => {
                    let v = v.trim();
                    if v == "all" {
                        cfg.skip_all = true;
                    } else {
                        cfg.skip = v.split(',').map(|s| s.trim().to_string()).collect();
                    }
                }
                "experimental" => {
                    let v = v.trim();
                    if v == "all" {
                        cfg.experimental_all = true;
                    } else {
                        cfg.experimental = v.split(',').map(|s| s.trim().to_string()).collect();
                    }
                }
                "error" => {
                    cfg.error = parse_go_bool(v.trim()).ok_or_else(|| {
                        CheckOptionError(format!(
                            "failed to parse check option {}: strconv.ParseBool: parsing {}: invalid syntax",
                            go_quote(part),
                            go_quote(v.trim())
                        ))
                    })?;
                }
                other => {
                    return Err(CheckOptionError(format!(
                        "invalid check option {}",
                        go_quote(other)
                    )));
                }
            }
        }
        Ok(cfg)
    }

    /// Whether `rule` runs under this configuration.
    pub fn is_enabled(&self, rule: &Rule) -> bool {
        if rule.deprecated {
            return false;
        }
        if rule.experimental {
            self.experimental_all || self.experimental.iter().any(|n| n == rule.name)
        } else {
            !(self.skip_all || self.skip.iter().any(|n| n == rule.name))
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Collects the warnings of one check pass, dropping those the configuration disables.
#[derive(Debug, Clone, Default)]
pub struct Linter {
    config: LintConfig,
    warnings: Vec<Warning>,
}

impl Linter {
    /// A linter applying `config`.
    pub fn new(config: LintConfig) -> Linter {
        Linter {
            config,
            warnings: Vec::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &LintConfig {
        &self.config
    }

    /// Reports `rule` at `location` with `detail` unless the configuration disables it.
    pub fn report(&mut self, rule: &'static Rule, location: Vec<Range>, detail: String) {
        if self.config.is_enabled(rule) {
            self.warnings.push(Warning {
                rule,
                detail,
                location,
            });
        }
    }

    /// The warnings so far, in the order they were reported.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// With `error=true` and at least one warning: upstream's
    /// `lint violation found for rules: A, B` (rule names in first-reported order).
    pub fn error(&self) -> Option<String> {
        if !self.config.error || self.warnings.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = Vec::new();
        for w in &self.warnings {
            if !names.contains(&w.rule.name) {
                names.push(w.rule.name);
            }
        }
        Some(format!(
            "lint violation found for rules: {}",
            names.join(", ")
        ))
    }

    /// Consumes the linter, returning its warnings.
    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    #[test]
    fn empty_is_default() {
        assert_eq!(LintConfig::parse("").unwrap(), LintConfig::default());
        assert_eq!(LintConfig::parse("   ").unwrap(), LintConfig::default());
    }

    #[test]
    fn parses_all_keys() {
        let c = LintConfig::parse(" skip = A, B ;error=true;experimental=C").unwrap();
        assert_eq!(c.skip, ["A", "B"]);
        assert!(c.error);
        assert_eq!(c.experimental, ["C"]);
        let c = LintConfig::parse("skip=all;experimental=all;error=False").unwrap();
        assert!(c.skip_all && c.experimental_all && !c.error);
    }

    #[test]
    fn rejects_bad_options_with_upstream_messages() {
        assert_eq!(
            LintConfig::parse("skip").unwrap_err().to_string(),
            "invalid check option \"skip\""
        );
        assert_eq!(
            LintConfig::parse("foo=bar").unwrap_err().to_string(),
            "invalid check option \"foo\""
        );
        assert_eq!(
            LintConfig::parse("error=yes").unwrap_err().to_string(),
            "failed to parse check option \"error=yes\": strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        // A trailing `;` leaves an empty part.
        assert_eq!(
            LintConfig::parse("skip=A;").unwrap_err().to_string(),
            "invalid check option \"\""
        );
    }

    #[test]
    fn third_part_keeps_further_semicolons() {
        // SplitN(..., 3): the third part is `error=true;x=y`, whose value is not a boolean.
        assert!(LintConfig::parse("skip=A;experimental=B;error=true;x=y").is_err());
    }

    #[test]
    fn skip_does_not_affect_experimental_rules() {
        let c = LintConfig::parse("skip=all").unwrap();
        assert!(!c.is_enabled(&rules::STAGE_NAME_CASING));
        assert!(!c.is_enabled(&rules::INVALID_DEFINITION_DESCRIPTION));
        let c = LintConfig::parse("skip=all;experimental=all").unwrap();
        assert!(c.is_enabled(&rules::INVALID_DEFINITION_DESCRIPTION));
        assert!(!c.is_enabled(&rules::UNDEFINED_VAR));
        let c = LintConfig::parse("experimental=InvalidDefinitionDescription").unwrap();
        assert!(c.is_enabled(&rules::INVALID_DEFINITION_DESCRIPTION));
        assert!(c.is_enabled(&rules::UNDEFINED_VAR));
        let c = LintConfig::parse("skip=UndefinedVar").unwrap();
        assert!(!c.is_enabled(&rules::UNDEFINED_VAR));
        assert!(c.is_enabled(&rules::STAGE_NAME_CASING));
    }

    #[test]
    fn linter_filters_and_builds_error() {
        let mut l = Linter::new(LintConfig::parse("skip=UndefinedVar;error=true").unwrap());
        assert_eq!(l.error(), None);
        l.report(&rules::UNDEFINED_VAR, vec![], "x".into());
        l.report(&rules::STAGE_NAME_CASING, vec![], "a".into());
        l.report(&rules::FROM_AS_CASING, vec![], "b".into());
        l.report(&rules::STAGE_NAME_CASING, vec![], "c".into());
        assert_eq!(l.warnings().len(), 3);
        assert_eq!(
            l.error().as_deref(),
            Some("lint violation found for rules: StageNameCasing, FromAsCasing")
        );
        let l = Linter::new(LintConfig::default());
        assert_eq!(l.error(), None);
    }
}

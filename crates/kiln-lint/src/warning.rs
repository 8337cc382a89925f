//! What a check pass produces: warnings with their source ranges, and the build error that
//! stopped the pass early (BuildKit's `lint.Warning` / `lint.BuildError`, before printing).

use crate::rules::Rule;

pub use kiln_dockerfile_parser::{Position, Range};

/// One rule violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The rule that fired (its name, description and URL are printed with the warning).
    pub rule: &'static Rule,
    /// The specific message (`Stage name 'Base' should be lowercase`).
    pub detail: String,
    /// Where: usually the instruction's line range; may be empty.
    pub location: Vec<Range>,
}

impl Warning {
    /// The first line of the first range, 0 when the warning has no location (used to sort
    /// warnings and for the one-line `(line N)` form).
    pub fn start_line(&self) -> usize {
        self.location.first().map_or(0, |r| r.start.line)
    }

    /// The one-line form printed after a normal build: `Rule: detail (line N)`
    /// (upstream's `LintFormatShort`); `(line N)` is left out without a location.
    pub fn short(&self) -> String {
        let mut s = format!("{}: {}", self.rule.name, self.detail);
        let line = self.start_line();
        if line > 0 {
            s.push_str(&format!(" (line {line})"));
        }
        s
    }
}

/// The error that stopped a check pass (a parse error, an unknown target, `error=true` with
/// warnings, ...). Warnings found before it are still reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// Upstream's error message (`dockerfile parse error on line 3: unknown instruction: FOO`).
    pub message: String,
    /// Where, when the error has a location; merged and sorted by start line.
    pub location: Vec<Range>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    #[test]
    fn short_form() {
        let w = Warning {
            rule: &rules::JSON_ARGS_RECOMMENDED,
            detail: rules::msg::json_args_recommended("CMD"),
            location: vec![Range::lines(2, 2)],
        };
        assert_eq!(
            w.short(),
            "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)"
        );
        let w = Warning {
            location: vec![],
            ..w
        };
        assert_eq!(w.start_line(), 0);
        assert!(!w.short().contains("(line"));
    }
}

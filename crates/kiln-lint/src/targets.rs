//! The stages of a Dockerfile, for `--call=targets` (BuildKit's `dockerfile2llb.ListTargets`).

use crate::warning::{BuildError, Range};

/// One stage as `--call=targets` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInfo {
    /// The stage name, empty when unnamed.
    pub name: String,
    /// True for the last stage (built when no `--target` is given).
    pub default: bool,
    /// The stage's description comment.
    pub description: String,
    /// The base as written.
    pub base: String,
    /// The `--platform` value as written.
    pub platform: String,
    /// The lines of the `FROM` instruction.
    pub location: Vec<Range>,
}

/// Lists the stages of `dockerfile`. Only parsing is involved: no variable is expanded and no
/// rule runs. Fails with upstream's message when the file does not parse.
pub fn list_targets(dockerfile: &[u8]) -> Result<Vec<TargetInfo>, BuildError> {
    let parsed = kiln_dockerfile_parser::parse(dockerfile).map_err(|e| BuildError {
        message: e.message(),
        location: crate::engine::lines_of(&e.location),
    })?;
    let (stages, _) = kiln_dockerfile::parse(&parsed.ast).map_err(|e| BuildError {
        message: e.to_string(),
        location: crate::engine::lines_of(&e.location()),
    })?;
    let n = stages.len();
    Ok(stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| TargetInfo {
            default: i + 1 == n,
            location: crate::engine::lines_of(&s.location),
            name: s.name,
            description: s.comment,
            base: s.base_name,
            platform: s.platform,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_targets_case() {
        let src = "
# build defines stage for compiling the binary
FROM alpine AS build
RUN true

FROM --platform=$BUILDPLATFORM busybox as second
RUN false

FROM alpine
RUN false

# binary returns the compiled binary
FROM second AS binary
";
        let t = list_targets(src.as_bytes()).unwrap();
        let got: Vec<(&str, bool, &str, &str, &str, usize)> = t
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.default,
                    t.description.as_str(),
                    t.base.as_str(),
                    t.platform.as_str(),
                    t.location[0].start.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "build",
                    false,
                    "defines stage for compiling the binary",
                    "alpine",
                    "",
                    3
                ),
                ("second", false, "", "busybox", "$BUILDPLATFORM", 6),
                ("", false, "", "alpine", "", 9),
                (
                    "binary",
                    true,
                    "returns the compiled binary",
                    "second",
                    "",
                    13
                ),
            ]
        );
    }

    #[test]
    fn parse_errors() {
        let e = list_targets(b"FROM a\nFORM b\n").unwrap_err();
        assert_eq!(
            e.message,
            "dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)"
        );
        assert_eq!(e.location, vec![Range::lines(2, 2)]);
        assert!(list_targets(b"").is_err());
    }
}

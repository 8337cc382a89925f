//! `--progress` (with `-q` and `BUILDKIT_PROGRESS`): how build progress is displayed.

use super::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A live view on a terminal, plain text otherwise.
    #[default]
    Auto,
    Plain,
    Tty,
    /// No progress; the image ID is printed on success (`-q`).
    Quiet,
    /// BuildKit's solve status as JSON lines.
    RawJson,
}

impl ProgressMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressMode::Auto => "auto",
            ProgressMode::Plain => "plain",
            ProgressMode::Tty => "tty",
            ProgressMode::Quiet => "quiet",
            ProgressMode::RawJson => "rawjson",
        }
    }
}

pub fn parse_progress(value: &str) -> Result<ProgressMode, ValueError> {
    match value {
        "auto" => Ok(ProgressMode::Auto),
        "plain" => Ok(ProgressMode::Plain),
        "tty" => Ok(ProgressMode::Tty),
        "quiet" => Ok(ProgressMode::Quiet),
        "rawjson" => Ok(ProgressMode::RawJson),
        other => Err(ValueError(format!(
            "invalid progress mode {other:?} (supported: auto, plain, tty, quiet, rawjson)"
        ))),
    }
}

/// Combines the flag, `-q` and `BUILDKIT_PROGRESS` as buildx does: `-q` forces quiet (and
/// conflicts with any explicit mode but `auto`/`quiet`); the variable only replaces `auto`.
pub fn resolve_progress(
    flag: ProgressMode,
    quiet: bool,
    env_value: Option<&str>,
) -> Result<ProgressMode, String> {
    if quiet {
        return match flag {
            ProgressMode::Auto | ProgressMode::Quiet => Ok(ProgressMode::Quiet),
            other => Err(format!(
                "progress={} and quiet cannot be used together",
                other.as_str()
            )),
        };
    }
    match (flag, env_value) {
        (ProgressMode::Auto, Some(v)) if !v.is_empty() => {
            parse_progress(v).map_err(|e| format!("invalid BUILDKIT_PROGRESS {v:?}: {e}"))
        }
        (mode, _) => Ok(mode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_progress("plain").unwrap(), ProgressMode::Plain);
        assert_eq!(parse_progress("rawjson").unwrap(), ProgressMode::RawJson);
        assert!(
            parse_progress("fancy")
                .unwrap_err()
                .to_string()
                .starts_with("invalid progress mode \"fancy\"")
        );
    }

    #[test]
    fn env_only_replaces_auto() {
        use ProgressMode::*;
        assert_eq!(resolve_progress(Auto, false, Some("plain")).unwrap(), Plain);
        assert_eq!(resolve_progress(Tty, false, Some("plain")).unwrap(), Tty);
        assert_eq!(resolve_progress(Auto, false, Some("")).unwrap(), Auto);
        assert_eq!(resolve_progress(Auto, false, None).unwrap(), Auto);
        assert!(
            resolve_progress(Auto, false, Some("loud"))
                .unwrap_err()
                .starts_with("invalid BUILDKIT_PROGRESS \"loud\"")
        );
    }

    #[test]
    fn quiet() {
        use ProgressMode::*;
        assert_eq!(resolve_progress(Auto, true, Some("plain")).unwrap(), Quiet);
        assert_eq!(resolve_progress(Quiet, true, None).unwrap(), Quiet);
        assert_eq!(
            resolve_progress(Plain, true, None).unwrap_err(),
            "progress=plain and quiet cannot be used together"
        );
    }
}

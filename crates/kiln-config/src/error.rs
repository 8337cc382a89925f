//! Errors of reading the config file: each names the file and, for bad content, the line,
//! the column and the key.

use std::path::{Path, PathBuf};

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read (missing when named explicitly, unreadable).
    #[error("reading kiln config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type or syntax.
    #[error("{}:{line}:{column}: {message}{}", path.display(), key_suffix(key))]
    Parse {
        path: PathBuf,
        /// 1-based line of the offending text (0 when unknown).
        line: usize,
        /// 1-based column, in characters (0 when unknown).
        column: usize,
        /// The dotted key the value belongs to (`registry."docker.io".http`), if known.
        key: Option<String>,
        message: String,
    },
}

fn key_suffix(key: &Option<String>) -> String {
    match key {
        Some(k) if !k.is_empty() => format!(" (key {k})"),
        _ => String::new(),
    }
}

impl Error {
    pub(crate) fn from_toml(
        path: &Path,
        text: &str,
        err: &toml::de::Error,
        key: Option<&str>,
    ) -> Error {
        let (line, column) = match err.span() {
            Some(span) => line_column(text, span.start),
            None => (0, 0),
        };
        Error::Parse {
            path: path.to_path_buf(),
            line,
            column,
            key: key.filter(|k| !k.is_empty()).map(str::to_string),
            message: err.message().trim_end().to_string(),
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_and_column() {
        assert_eq!(line_column("a\nbc\n", 0), (1, 1));
        assert_eq!(line_column("a\nbc\n", 3), (2, 2));
        assert_eq!(line_column("a\nbc\n", 100), (3, 1));
    }
}

//! `.dockerignore` files and the pattern matching BuildKit uses for build contexts
//! (moby/patternmatcher). (API contract; being implemented.)

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    #[error("syntax error in pattern")]
    BadPattern,
}

/// Reads the text of a `.dockerignore` into its list of patterns (comments and blank lines
/// dropped, whitespace trimmed, paths cleaned, leading `/` removed, `!` kept as prefix).
pub fn read_ignore_file(text: &str) -> Result<Vec<String>, Error> {
    let _ = text;
    Ok(Vec::new())
}

/// A compiled, ordered list of patterns.
#[derive(Debug, Clone)]
pub struct PatternMatcher {
    patterns: Vec<String>,
}

impl PatternMatcher {
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        Ok(PatternMatcher {
            patterns: patterns.to_vec(),
        })
    }

    /// True when `path` (slash-separated, relative to the context root) is excluded: the last
    /// pattern matching it or one of its parents is an inclusion pattern.
    pub fn matches_or_parent_matches(&self, path: &str) -> Result<bool, Error> {
        let _ = (path, &self.patterns);
        Ok(false)
    }
}

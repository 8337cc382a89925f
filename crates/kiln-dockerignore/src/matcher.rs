//! The ordered pattern list of a `.dockerignore` and its evaluation against context paths:
//! whole-path, incremental (parent results reused while walking a tree) and legacy entry points.

use crate::Error;
use crate::path;
use crate::pattern::Pattern;

/// A compiled, ordered list of `.dockerignore` patterns (upstream `patternmatcher.PatternMatcher`).
///
/// Paths given to the `matches*` methods are slash-separated and relative to the context root
/// (`dir/file`, no leading `./`); they are not cleaned. A path is *excluded* when the last
/// pattern that matches it — or, for the parent-aware methods, any of its parent directories —
/// is an inclusion pattern; an exception (`!`) pattern that matches re-includes it.
///
/// The matcher is immutable once built, so it is `Send + Sync` and every method may be called
/// concurrently.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed to
/// [`PatternMatcher::matches_using_parent_results`] for its entries so that patterns which
/// matched the directory are not re-evaluated below it. The default value means "no parent
/// information": the path's parents are then evaluated from scratch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl PatternMatcher {
    /// Builds a matcher from a pattern list (as returned by
    /// [`read_ignore_file`](crate::read_ignore_file)). Each entry is whitespace-trimmed and
    /// path-cleaned; empty entries are dropped; a leading `!` marks an exception.
    ///
    /// Errors: [`Error::IllegalExclusion`] for an entry that is only `!`; [`Error::BadPattern`]
    /// for an entry that is not valid glob syntax (e.g. `[`, `a\`). A pattern whose syntax is
    /// valid but which cannot be compiled (a reversed class range such as `[z-a]`) is accepted
    /// here and fails each match that evaluates it, as upstream.
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for entry in patterns {
            if let Some(pattern) = Pattern::parse(entry)? {
                compiled.push(pattern);
            }
        }
        let exclusions = compiled.iter().any(Pattern::is_exclusion);
        Ok(PatternMatcher {
            patterns: compiled,
            exclusions,
        })
    }

    /// The patterns kept, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// True when at least one pattern is an exception (`!`).
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// True when no pattern was kept: nothing is ever excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Runs the patterns in order; `test` says whether one matches. Inclusion patterns are
    /// skipped while the path is already excluded and exceptions while it is not, so the
    /// outcome is that of the last matching pattern, and (as upstream) a pattern that is
    /// skipped is never evaluated and cannot fail.
    fn evaluate(
        &self,
        mut test: impl FnMut(&Pattern) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.is_exclusion() != matched {
                continue;
            }
            if test(pattern)? {
                matched = !pattern.is_exclusion();
            }
        }
        Ok(matched)
    }

    /// True when `path` is excluded: the last pattern matching `path` or one of its parent
    /// directories is an inclusion pattern (upstream `MatchesOrParentMatches`). This is the
    /// check BuildKit applies to build-context paths.
    ///
    /// Errors: [`Error::BadPattern`] when an evaluated pattern cannot be compiled.
    pub fn matches_or_parent_matches(&self, path: &str) -> Result<bool, Error> {
        let parents = path::parent_prefixes(path);
        self.evaluate(|pattern| {
            Ok(pattern.matches(path)?
                || parents
                    .iter()
                    .any(|parent| pattern.matches(parent).unwrap_or(false)))
        })
    }

    /// True when the last pattern matching `path` itself is an inclusion pattern; parent
    /// directories are not tried (upstream `MatchesExact`).
    ///
    /// Errors: as [`matches_or_parent_matches`](Self::matches_or_parent_matches).
    pub fn matches_exact(&self, path: &str) -> Result<bool, Error> {
        self.evaluate(|pattern| pattern.matches(path))
    }

    /// Incremental form of [`matches_or_parent_matches`](Self::matches_or_parent_matches) for
    /// tree walkers (upstream `MatchesUsingParentResults`): pass the [`MatchInfo`] returned for
    /// the parent directory of `path` (or [`MatchInfo::default()`] for a top-level entry, or
    /// when the parent results are unknown, in which case the parents are evaluated here).
    /// Returns whether `path` is excluded and the info to pass for its children. Walking a
    /// tree top-down this way gives the same answers as `matches_or_parent_matches`.
    ///
    /// Errors: [`Error::BadPattern`] as above; [`Error::ParentMatchInfoMismatch`] when
    /// `parent` came from a matcher with a different number of patterns.
    pub fn matches_using_parent_results(
        &self,
        path: &str,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), Error> {
        let known = &parent.parent_matched;
        if !known.is_empty() && known.len() != self.patterns.len() {
            return Err(Error::ParentMatchInfoMismatch {
                expected: self.patterns.len(),
                got: known.len(),
            });
        }
        let mut parents: Option<Vec<String>> = None;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for ((pattern, matched_here), matched_by_parent) in self
            .patterns
            .iter()
            .zip(info.parent_matched.iter_mut())
            .zip(known.iter().copied().chain(std::iter::repeat(false)))
        {
            // A pattern that matched the parent directory matches everything below it.
            let mut hit = matched_by_parent;
            if !hit {
                if pattern.is_exclusion() != matched {
                    continue;
                }
                hit = pattern.matches(path)?;
                if !hit && known.is_empty() {
                    hit = parents
                        .get_or_insert_with(|| path::parent_prefixes(path))
                        .iter()
                        .any(|parent| pattern.matches(parent).unwrap_or(false));
                }
            }
            *matched_here = hit;
            if hit {
                matched = !pattern.is_exclusion();
            }
        }
        Ok((matched, info))
    }

    /// For a tree walker that found directory `dir` excluded: whether an exception pattern
    /// could match something strictly below `dir`, i.e. whether a path under
    /// `dir` may still be re-included. When this is `false` the walker may skip the whole
    /// subtree; when `true` it must descend and test the entries. The answer is conservative
    /// (it may be `true` although nothing below `dir` ends up re-included), never wrongly
    /// `false`. `dir` is slash-separated and relative to the context root; a trailing `/` is
    /// ignored and `""` means the root.
    pub fn exception_may_match_below(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir = dir.trim_end_matches('/');
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.patterns
            .iter()
            .filter(|p| p.is_exclusion())
            .any(|p| p.may_match_under(&prefix))
    }

    /// Upstream's deprecated `PatternMatcher.Matches`: like
    /// [`matches_or_parent_matches`](Self::matches_or_parent_matches) but, besides `path`
    /// itself, only the one parent directory with as many elements as the pattern is tried.
    fn matches_single_parent(&self, path: &str) -> Result<bool, Error> {
        let parent = path::dir(path);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        self.evaluate(|pattern| {
            if pattern.matches(path)? {
                return Ok(true);
            }
            if parent == "." {
                return Ok(false);
            }
            Ok(parent_dirs
                .get(..pattern.depth())
                .is_some_and(|dirs| pattern.matches(&dirs.join("/")).unwrap_or(false)))
        })
    }
}

/// Upstream's legacy package-level `Matches(file, patterns)`: builds a matcher from
/// `patterns`, cleans `path` (a path that cleans to `"."` is never excluded) and tests it
/// together with only the one parent directory whose depth equals each pattern's. Kept for
/// compatibility; new code should use [`PatternMatcher::matches_or_parent_matches`], which
/// is what BuildKit applies to build contexts.
///
/// Errors: those of [`PatternMatcher::new`] and of matching.
pub fn matches(path: &str, patterns: &[String]) -> Result<bool, Error> {
    let matcher = PatternMatcher::new(patterns)?;
    let path = path::clean(path);
    if path == "." {
        return Ok(false);
    }
    matcher.matches_single_parent(&path)
}

/// Upstream's package-level `MatchesOrParentMatches(file, patterns)`: builds a matcher from
/// `patterns`, cleans `path` (a path that cleans to `"."` is never excluded) and calls
/// [`PatternMatcher::matches_or_parent_matches`].
///
/// Errors: those of [`PatternMatcher::new`] and of matching.
pub fn matches_or_parent_matches(path: &str, patterns: &[String]) -> Result<bool, Error> {
    let matcher = PatternMatcher::new(patterns)?;
    let path = path::clean(path);
    if path == "." {
        return Ok(false);
    }
    matcher.matches_or_parent_matches(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> PatternMatcher {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        match PatternMatcher::new(&patterns) {
            Ok(m) => m,
            Err(e) => panic!("{patterns:?}: {e}"),
        }
    }

    /// Walks `path`'s ancestors top-down with the incremental API, as a context walker would.
    fn incremental(m: &PatternMatcher, path: &str) -> Result<bool, Error> {
        let mut info = MatchInfo::default();
        for parent in path::parent_prefixes(path) {
            info = m.matches_using_parent_results(&parent, &info)?.1;
        }
        Ok(m.matches_using_parent_results(path, &info)?.0)
    }

    #[test]
    fn incremental_agrees_with_whole_path_matching() {
        let lists: &[&[&str]] = &[
            &["**", "!util/docker/web", "util/docker/web/foo"],
            &["a", "!a/b", "a/b/c"],
            &["!x", "x"],
            &["x", "x"],
            &["*.go", "!vendor", "vendor/**/*.go"],
            &["**/node_modules", "!keep/node_modules"],
        ];
        let paths = [
            "a",
            "a/b",
            "a/b/c",
            "a/b/c/d",
            "a/x",
            "x",
            "x/y",
            "util/docker/web/foo",
            "util/docker/web/bar",
            "util/docker",
            "main.go",
            "vendor/x.go",
            "vendor/a/b.go",
            "keep/node_modules/m",
            "other/node_modules/m",
            "file/",
        ];
        for list in lists {
            let m = matcher(list);
            for path in paths {
                assert_eq!(
                    incremental(&m, path),
                    m.matches_or_parent_matches(path),
                    "{list:?} {path:?}"
                );
                assert_eq!(
                    m.matches_using_parent_results(path, &MatchInfo::default())
                        .map(|r| r.0),
                    m.matches_or_parent_matches(path),
                    "{list:?} {path:?} without parent info"
                );
            }
        }
    }

    /// A tiny deterministic generator for the randomized properties below.
    struct Lcg(u64);

    impl Lcg {
        /// A number in `0..n` (`n > 0`).
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }

        /// Up to `max` atoms concatenated.
        fn string(&mut self, atoms: &[&str], max: u64) -> String {
            let len = self.below(max + 1);
            (0..len)
                .filter_map(|_| {
                    let at = usize::try_from(self.below(atoms.len() as u64)).ok()?;
                    atoms.get(at).copied()
                })
                .collect()
        }
    }

    /// Over random pattern lists and paths: nothing panics; the incremental walk agrees with
    /// whole-path matching; and a directory that is excluded and for which
    /// `exception_may_match_below` is false really has nothing re-included below it.
    #[test]
    fn randomized_properties() {
        let glob_atoms = [
            "a", "b", "/", "*", "**", "?", "[", "]", "-", "^", "\\", "!", ".", "..",
        ];
        let path_atoms = ["a", "b", "/", "a/", "b/"];
        let mut rng = Lcg(0x6b696c6e);
        let (mut compared, mut pruned) = (0, 0);
        for _ in 0..1500 {
            let count = rng.below(3) + 1;
            let list: Vec<String> = (0..count).map(|_| rng.string(&glob_atoms, 6)).collect();
            let Ok(m) = PatternMatcher::new(&list) else {
                continue;
            };
            for _ in 0..8 {
                let path = path::clean(&rng.string(&path_atoms, 6));
                if path.starts_with('/') || path.starts_with("..") || path == "." {
                    continue;
                }
                let whole = m.matches_or_parent_matches(&path);
                let walked = incremental(&m, &path);
                match (&whole, &walked) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a, b, "{list:?} {path:?}");
                        compared += 1;
                    }
                    (Err(_), _) | (_, Err(_)) => continue,
                }
                if whole == Ok(true) && !m.exception_may_match_below(&path) {
                    pruned += 1;
                    for _ in 0..8 {
                        let below = format!("{path}/{}", rng.string(&path_atoms, 4));
                        let below = path::clean(&below);
                        if let Ok(excluded) = m.matches_or_parent_matches(&below) {
                            assert!(excluded, "{list:?}: {below:?} re-included under {path:?}");
                        }
                    }
                }
            }
        }
        assert!(
            compared > 1000 && pruned > 100,
            "{compared} compared, {pruned} pruned"
        );
    }

    #[test]
    fn parent_info_from_another_matcher_is_rejected() {
        let one = matcher(&["a"]);
        let two = matcher(&["a", "b"]);
        let (_, info) = two
            .matches_using_parent_results("a", &MatchInfo::default())
            .unwrap_or_default();
        assert_eq!(
            one.matches_using_parent_results("a/b", &info),
            Err(Error::ParentMatchInfoMismatch {
                expected: 1,
                got: 2
            })
        );
    }

    #[test]
    fn skipped_bad_pattern_does_not_fail() {
        // The exception is only evaluated once something is excluded.
        let m = matcher(&["!a[z-a]", "b"]);
        assert_eq!(m.matches_or_parent_matches("c"), Ok(false));
        assert_eq!(m.matches_or_parent_matches("b"), Ok(true));
        let m = matcher(&["b", "!a[z-a]"]);
        assert!(m.matches_or_parent_matches("b").is_err());
    }

    #[test]
    fn exception_may_match_below() {
        let m = matcher(&["a", "!a/keep"]);
        assert!(m.exception_may_match_below("a"));
        assert!(m.exception_may_match_below("a/"));
        assert!(!m.exception_may_match_below("b"));
        assert!(!m.exception_may_match_below("a/other"));
        let m = matcher(&["**", "!**/*.md"]);
        assert!(m.exception_may_match_below("anything"));
        let m = matcher(&["build", "tmp"]);
        assert!(!m.exception_may_match_below("build"));
        let m = matcher(&["*", "!src/*.rs"]);
        assert!(m.exception_may_match_below("src"));
        assert!(!m.exception_may_match_below("target"));
        assert!(m.exception_may_match_below(""));
    }

    #[test]
    fn legacy_matches_only_tries_the_same_depth_parent() {
        let patterns = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // `a*` is one element deep: only `ab` (not `ab/c`) is tried as a parent.
        assert_eq!(matches("ab/c/d", &patterns(&["a*"])), Ok(true));
        // `*/c` is two deep; `ab/c` is tried.
        assert_eq!(matches("ab/c/d/e", &patterns(&["*/c"])), Ok(true));
        // `c` is one deep; only `ab` is tried, so a deeper `c` is missed (the upstream bug).
        assert_eq!(matches("ab/c/d", &patterns(&["ab/c/d/e"])), Ok(false));
        assert_eq!(matches("x/c/d", &patterns(&["c"])), Ok(false));
        assert_eq!(
            matches_or_parent_matches("x/c/d", &patterns(&["x/c"])),
            Ok(true)
        );
        assert_eq!(matches("./", &patterns(&["*"])), Ok(false));
        assert_eq!(
            matches_or_parent_matches(".", &patterns(&["**"])),
            Ok(false)
        );
    }
}

//! Lexical slash-separated path helpers with Go `path/filepath` semantics (`Clean`, `Dir`), which
//! pattern cleaning and parent-directory matching depend on byte for byte.

/// Returns the shortest path equivalent to `path` by purely lexical processing, exactly as Go's
/// `filepath.Clean` does on Unix: repeated `/` collapse to one, `.` elements are dropped, `..`
/// removes the element before it (or is dropped at the root of a rooted path, or kept at the
/// start of a relative one), and a trailing `/` is removed except for the root itself. The
/// empty path cleans to `"."`.
///
/// ```
/// use kiln_dockerignore::path::clean;
/// assert_eq!(clean("a//b/./../c/"), "a/c");
/// assert_eq!(clean("/../x"), "/x");
/// assert_eq!(clean("../a/.."), "..");
/// assert_eq!(clean(""), ".");
/// ```
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `..` at the root of a rooted path stays at the root.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Returns all but the last element of `path`, cleaned, as Go's `filepath.Dir` does on Unix:
/// `"."` when `path` has no `/`, `"/"` for a path directly under the root.
///
/// ```
/// use kiln_dockerignore::path::dir;
/// assert_eq!(dir("a/b/c"), "a/b");
/// assert_eq!(dir("file/"), "file");
/// assert_eq!(dir("file"), ".");
/// assert_eq!(dir("/"), "/");
/// ```
pub fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(slash) => clean(path.get(..=slash).unwrap_or(path)),
        None => ".".to_string(),
    }
}

/// The ancestors of `path` that upstream's parent-directory matching tries, shortest first:
/// `dir(path)` split at each `/`, each prefix re-joined. Empty when `dir(path)` is `"."`.
/// For `"a/b/c"` that is `["a", "a/b"]`; for `"/x"` it is `["", "/"]`.
pub(crate) fn parent_prefixes(path: &str) -> Vec<String> {
    let parent = dir(path);
    if parent == "." {
        return Vec::new();
    }
    let mut prefixes: Vec<String> = parent
        .match_indices('/')
        .filter_map(|(at, _)| parent.get(..at).map(str::to_string))
        .collect();
    prefixes.push(parent);
    prefixes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/../abc", "/abc"),
            ("/..", "/"),
            ("abc/def/../../..", ".."),
            ("abc/./../def", "def"),
            ("!docs/../x", "x"),
            ("!/", "!"),
            ("**/", "**"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn dir_matches_go() {
        let cases = [
            ("", "."),
            ("a", "."),
            ("/", "/"),
            ("/a", "/"),
            ("a/b", "a"),
            ("a/b/", "a/b"),
            ("a//b", "a"),
            ("dir/dir2/file/", "dir/dir2/file"),
        ];
        for (input, want) in cases {
            assert_eq!(dir(input), want, "dir({input:?})");
        }
    }

    #[test]
    fn parent_prefixes_split_like_upstream() {
        assert_eq!(parent_prefixes("a/b/c"), ["a", "a/b"]);
        assert_eq!(parent_prefixes("file"), Vec::<String>::new());
        assert_eq!(parent_prefixes("file/"), ["file"]);
        assert_eq!(
            parent_prefixes("/any/path/there"),
            ["", "/any", "/any/path"]
        );
        assert_eq!(parent_prefixes("/x"), ["", "/"]);
    }
}

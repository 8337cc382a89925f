//! The `Matcher` role and the default single-platform matcher (containerd's `NewMatcher`):
//! equality after normalisation, OS features as a subset, Windows OS-version compatibility.

use crate::Platform;
use crate::database::normalize;
use crate::windows::{WindowsVersion, strip_win32k, windows_version_match};

/// Decides whether a platform declared by an image or a runtime is acceptable.
///
/// Implementations normalise the candidate themselves, so callers may pass platforms as found
/// in manifests (`aarch64`, `arm64/v8`, ...). `matches` must be pure: the same candidate always
/// gives the same answer, and it never panics.
pub trait Matcher {
    /// Whether `platform` is acceptable.
    fn matches(&self, platform: &Platform) -> bool;
}

/// The default matcher for one platform, as containerd's `NewMatcher`; build it with
/// [`new_matcher`].
///
/// A candidate matches when, after normalising both sides:
/// * OS, architecture and variant are equal (for `arm64`, `v9.0` equals `v9`);
/// * for Windows, the candidate's OS version is one the matcher's version can run (see
///   [`new_matcher`]); other OSes ignore the OS version;
/// * the candidate's OS features are a subset of the matcher's (on Windows `win32k` is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformMatcher {
    platform: Platform,
    /// `Some` for Windows: the host's parsed OS version (`None` inside = no usable version,
    /// which accepts every candidate version).
    windows: Option<Option<WindowsVersion>>,
}

/// Returns the default matcher for `platform` (containerd's `NewMatcher`).
///
/// For Windows platforms the OS version follows Windows container compatibility: a matcher
/// with version `10.0.17763` accepts only build 17763 (of 10.0); from Windows Server 2022
/// (build 20348) on, it accepts builds from the previous stable-ABI LTSC release up to its own;
/// a matcher without a version, or a candidate without one, always passes this check.
pub fn new_matcher(platform: &Platform) -> PlatformMatcher {
    let platform = normalize(platform);
    let windows = (platform.os == "windows").then(|| {
        WindowsVersion::parse(&platform.os_version).filter(|v| *v != WindowsVersion::default())
    });
    PlatformMatcher { platform, windows }
}

impl PlatformMatcher {
    /// The normalised platform this matcher accepts.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// [`Matcher::matches`], optionally pretending the candidate declares no OS features (the
    /// comparers' fallback when nothing matched).
    pub(crate) fn matches_with(&self, candidate: &Platform, ignore_features: bool) -> bool {
        let n = normalize(candidate);
        let m = &self.platform;
        if m.os != n.os
            || m.architecture != n.architecture
            || !same_variant(&m.architecture, &m.variant, &n.variant)
        {
            return false;
        }
        if let Some(host) = self.windows {
            if !windows_version_match(host, &candidate.os_version) {
                return false;
            }
        }
        if ignore_features {
            return true;
        }
        if self.windows.is_some() {
            features_subset(&strip_win32k(&n.os_features), &m.os_features)
        } else {
            features_subset(&n.os_features, &m.os_features)
        }
    }
}

impl Matcher for PlatformMatcher {
    fn matches(&self, platform: &Platform) -> bool {
        self.matches_with(platform, false)
    }
}

impl std::fmt::Display for PlatformMatcher {
    /// The accepted platform in [`crate::format_all`] form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::format_all(&self.platform))
    }
}

/// Whether two normalised variants of architecture `arch` name the same thing. For `arm64` a
/// `.0` minor is the bare major (`v9.0` = `v9`, `v8.0` = `v8` = no variant).
pub(crate) fn same_variant(arch: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if arch != "arm64" {
        return false;
    }
    canonical_arm64_variant(a) == canonical_arm64_variant(b)
}

fn canonical_arm64_variant(v: &str) -> &str {
    let v = v.strip_suffix(".0").unwrap_or(v);
    if v == "v8" { "" } else { v }
}

/// Whether every feature of `candidate` is in `have`; both sorted and de-duplicated.
pub(crate) fn features_subset(candidate: &[String], have: &[String]) -> bool {
    let mut have = have.iter();
    candidate
        .iter()
        .all(|feature| have.by_ref().any(|h| h == feature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: &str) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.into(),
            ..Platform::default()
        }
    }

    #[test]
    fn subset_on_sorted_lists() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(features_subset(&s(&[]), &s(&[])));
        assert!(features_subset(&s(&["b"]), &s(&["a", "b", "c"])));
        assert!(features_subset(&s(&["a", "c"]), &s(&["a", "b", "c"])));
        assert!(!features_subset(&s(&["a", "d"]), &s(&["a", "b", "c"])));
        assert!(!features_subset(&s(&["a"]), &s(&[])));
    }

    #[test]
    fn arm64_minor_zero() {
        let m = new_matcher(&p("linux", "arm64", "v9"));
        assert!(m.matches(&p("linux", "arm64", "v9.0")));
        assert!(!m.matches(&p("linux", "arm64", "v9.1")));
        assert!(new_matcher(&p("linux", "aarch64", "")).matches(&p("linux", "arm64", "v8.0")));
    }

    #[test]
    fn windows_ignores_win32k() {
        let host = Platform {
            os_version: "10.0.20348".into(),
            ..p("windows", "amd64", "")
        };
        let image = Platform {
            os_version: "10.0.20348.1".into(),
            os_features: vec!["win32k".into()],
            ..p("windows", "amd64", "")
        };
        assert!(new_matcher(&host).matches(&image));
        let linux = Platform {
            os_features: vec!["win32k".into()],
            ..p("linux", "amd64", "")
        };
        assert!(!new_matcher(&p("linux", "amd64", "")).matches(&linux));
    }

    #[test]
    fn display_is_format_all() {
        let m = new_matcher(&Platform {
            os_features: vec!["gpu".into()],
            ..p("Linux", "x86_64", "")
        });
        assert_eq!(m.to_string(), "linux(+gpu)/amd64");
    }
}

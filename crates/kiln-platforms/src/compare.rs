//! Match comparers: filters that also rank platforms by preference (containerd's `Only`,
//! `OnlyStrict`, `OnlyOS`, `Ordered`, `Any`, `All`), and a stable sort that uses them.

use crate::Platform;
use crate::database::normalize;
use crate::matcher::{Matcher, PlatformMatcher, features_subset, new_matcher};
use crate::windows::{WindowsVersion, strip_win32k, windows_version_match};

/// A [`Matcher`] that also orders platforms by preference, to pick the best of an image index.
///
/// `less(a, b)` is true when `a` should be preferred to `b`. Matching platforms sort before
/// non-matching ones. The relation is not guaranteed to be a strict weak order for every input
/// (neither is containerd's), so sort with [`MatchComparer::sort`], which is stable, never
/// panics and gives containerd's order.
pub trait MatchComparer: Matcher {
    /// Whether `a` is preferred to `b`.
    fn less(&self, a: &Platform, b: &Platform) -> bool;

    /// Sorts `platforms` best first, stably (equal ones keep their order), as Go's
    /// `sort.SliceStable` with [`MatchComparer::less`].
    fn sort(&self, platforms: &mut [Platform]) {
        stable_sort_by_less(platforms, |a, b| self.less(a, b));
    }
}

/// Matches any of a list of platforms and prefers them in list order (containerd's
/// `Ordered`); also the result of [`only`] and [`only_strict`].
///
/// Among candidates matched by the same entry, the one declaring more OS features is preferred.
/// When neither candidate matches, they are compared again as if they declared no OS features,
/// so `linux(+x)/amd64` still ranks where `linux/amd64` would among the rejects.
#[derive(Debug, Clone)]
pub struct Ordered {
    matchers: Vec<PlatformMatcher>,
}

/// Matches any of a list of platforms with no preference between them (containerd's `Any`),
/// except that more OS features are preferred and matches come first.
#[derive(Debug, Clone)]
pub struct AnyOf {
    matchers: Vec<PlatformMatcher>,
}

/// Matches every platform and prefers none (containerd's `All`).
#[derive(Debug, Clone, Copy, Default)]
pub struct All;

/// Matches any architecture of one OS (containerd's `OnlyOS`); build it with [`only_os`].
///
/// A candidate matches when its OS is the same, its OS version is compatible (Windows rules for
/// Windows; for other OSes equal or absent on either side) and its OS features are a subset of
/// the platform's (ignoring `win32k` on Windows). Among matches, the platform's own
/// architecture is preferred ([`ordered`] of the platform); the rest keep their order.
#[derive(Debug, Clone)]
pub struct OnlyOs {
    platform: Platform,
    windows: Option<WindowsVersion>,
    arch_order: Ordered,
}

/// A comparer for the platforms a machine of `platform` can run, best first (containerd's
/// `Only`): the platform itself, then what it runs by compatibility:
/// * `amd64/vN` also runs `amd64/vN-1` … `amd64` (v1), then `386`;
/// * `arm/vN` (N > 5) also runs `arm/vN-1` … `arm/v5`; `arm` is `arm/v7`;
/// * `arm64/v8.x` also runs `arm64/v8.{x-1…0}`; `arm64/v9.x` runs `arm64/v9.{x-1…0}` and
///   `arm64/v8.{min(x+5, 9)…0}`; every `arm64` also runs `arm/v8` … `arm/v5`.
///
/// OS, OS version and OS features are those of `platform` for every entry.
pub fn only(platform: &Platform) -> Ordered {
    ordered(&platform_vector(&normalize(platform)))
}

/// Like [`only`] but without compatibility fallbacks (containerd's `OnlyStrict`): the platform
/// itself, in any of its spellings (`arm64` matches `aarch64/v8`).
pub fn only_strict(platform: &Platform) -> Ordered {
    ordered(std::slice::from_ref(&normalize(platform)))
}

/// Matches any of `platforms`, preferring them in the order given (containerd's `Ordered`).
pub fn ordered(platforms: &[Platform]) -> Ordered {
    Ordered {
        matchers: platforms.iter().map(new_matcher).collect(),
    }
}

/// Matches any of `platforms` with no preference among them (containerd's `Any`).
pub fn any(platforms: &[Platform]) -> AnyOf {
    AnyOf {
        matchers: platforms.iter().map(new_matcher).collect(),
    }
}

/// Matches every architecture of `platform`'s OS (containerd's `OnlyOS`); see [`OnlyOs`].
pub fn only_os(platform: &Platform) -> OnlyOs {
    let platform = normalize(platform);
    let windows =
        WindowsVersion::parse(&platform.os_version).filter(|v| *v != WindowsVersion::default());
    OnlyOs {
        arch_order: ordered(std::slice::from_ref(&platform)),
        windows,
        platform,
    }
}

impl Matcher for Ordered {
    fn matches(&self, platform: &Platform) -> bool {
        self.matchers.iter().any(|m| m.matches(platform))
    }
}

impl Ordered {
    fn less_with(&self, a: &Platform, b: &Platform, ignore_features: bool) -> bool {
        for m in &self.matchers {
            let ma = m.matches_with(a, ignore_features);
            let mb = m.matches_with(b, ignore_features);
            if ma && !mb {
                return true;
            }
            if ma || mb {
                // Both matched the same entry: prefer the one declaring more features.
                return ma && mb && more_features(a, b, ignore_features);
            }
        }
        // Neither matched anything: rank them as if they declared no features.
        !ignore_features && has_features(a, b) && self.less_with(a, b, true)
    }
}

impl MatchComparer for Ordered {
    fn less(&self, a: &Platform, b: &Platform) -> bool {
        self.less_with(a, b, false)
    }
}

impl Matcher for AnyOf {
    fn matches(&self, platform: &Platform) -> bool {
        self.matchers.iter().any(|m| m.matches(platform))
    }
}

impl AnyOf {
    fn less_with(&self, a: &Platform, b: &Platform, ignore_features: bool) -> bool {
        let ma = self
            .matchers
            .iter()
            .any(|m| m.matches_with(a, ignore_features));
        let mb = self
            .matchers
            .iter()
            .any(|m| m.matches_with(b, ignore_features));
        if ma && mb {
            return more_features(a, b, ignore_features);
        }
        if !ma && !mb {
            return !ignore_features && has_features(a, b) && self.less_with(a, b, true);
        }
        ma
    }
}

impl MatchComparer for AnyOf {
    fn less(&self, a: &Platform, b: &Platform) -> bool {
        self.less_with(a, b, false)
    }
}

impl Matcher for All {
    fn matches(&self, _: &Platform) -> bool {
        true
    }
}

impl MatchComparer for All {
    fn less(&self, _: &Platform, _: &Platform) -> bool {
        false
    }
}

impl OnlyOs {
    fn matches_os(&self, candidate: &Platform) -> bool {
        let n = normalize(candidate);
        if n.os != self.platform.os {
            return false;
        }
        if self.platform.os == "windows" {
            windows_version_match(self.windows, &candidate.os_version)
                && features_subset(&strip_win32k(&n.os_features), &self.platform.os_features)
        } else {
            (self.platform.os_version.is_empty()
                || candidate.os_version.is_empty()
                || self.platform.os_version == candidate.os_version)
                && features_subset(&n.os_features, &self.platform.os_features)
        }
    }
}

impl Matcher for OnlyOs {
    fn matches(&self, platform: &Platform) -> bool {
        self.matches_os(platform)
    }
}

impl MatchComparer for OnlyOs {
    fn less(&self, a: &Platform, b: &Platform) -> bool {
        match (self.matches_os(a), self.matches_os(b)) {
            (true, false) => true,
            (false, _) => false,
            (true, true) => self.arch_order.less(a, b),
        }
    }
}

/// Whether `a` declares more OS features than `b` (never, when features are being ignored).
fn more_features(a: &Platform, b: &Platform, ignore_features: bool) -> bool {
    !ignore_features && a.os_features.len() > b.os_features.len()
}

fn has_features(a: &Platform, b: &Platform) -> bool {
    !a.os_features.is_empty() || !b.os_features.is_empty()
}

/// `vN` → N.
fn v_number(variant: &str) -> Option<u32> {
    let digits = variant.strip_prefix('v').unwrap_or(variant);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `vM` or `vM.N` → (M, N), N = 0 when absent.
fn arm64_version(variant: &str) -> Option<(u32, u32)> {
    let (major, minor) = match variant.split_once('.') {
        Some((major, minor)) => (major, Some(minor)),
        None => (variant, None),
    };
    let major = v_number(major)?;
    let minor = match minor {
        None => 0,
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => m.parse().ok()?,
        Some(_) => return None,
    };
    Some((major, minor))
}

/// The platforms a machine of (normalised) `platform` can run, best first.
fn platform_vector(platform: &Platform) -> Vec<Platform> {
    let with = |architecture: &str, variant: String| Platform {
        architecture: architecture.to_string(),
        variant,
        ..platform.clone()
    };
    let mut vector = vec![platform.clone()];
    match platform.architecture.as_str() {
        "amd64" => {
            if let Some(level) = v_number(&platform.variant).filter(|&l| l > 1) {
                vector.extend((1..level).rev().map(|l| with("amd64", format!("v{l}"))));
            }
            vector.push(with("386", String::new()));
        }
        "arm" => {
            if let Some(version) = v_number(&platform.variant).filter(|&v| v > 5) {
                vector.extend((5..version).rev().map(|v| with("arm", format!("v{v}"))));
            }
        }
        "arm64" => {
            let variant = if platform.variant.is_empty() {
                "v8"
            } else {
                platform.variant.as_str()
            };
            let arm64_variant = |major: u32, minor: u32| {
                if minor == 0 {
                    format!("v{major}")
                } else {
                    format!("v{major}.{minor}")
                }
            };
            let mut arm_variant = variant.to_string();
            if let Some((mut major, mut minor)) = arm64_version(variant).filter(|v| v.0 >= 8) {
                if major == 9 {
                    vector.extend((0..minor).rev().map(|m| with("arm64", arm64_variant(9, m))));
                    // Armv9.x carries the Armv8.(x+5) baseline; the v8 line ends at v8.9.
                    major = 8;
                    minor = (minor + 5).min(9);
                    vector.push(with("arm64", format!("v8.{minor}")));
                }
                vector.extend(
                    (0..minor)
                        .rev()
                        .map(|m| with("arm64", arm64_variant(major, m))),
                );
                // Every 64-bit ARM CPU runs 32-bit ARM code up to Armv8.
                arm_variant = "v8".to_string();
            }
            vector.extend(platform_vector(&with("arm", arm_variant)));
        }
        _ => {}
    }
    vector
}

/// A stable sort on a "less" predicate that need not be a strict weak order: insertion sort
/// for short runs (what Go's `sort.SliceStable` does up to 20 elements, hence the same result),
/// merged pairwise beyond.
pub(crate) fn stable_sort_by_less<T: Clone>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    const BLOCK: usize = 20;
    for block in items.chunks_mut(BLOCK) {
        for i in 1..block.len() {
            let mut j = i;
            while j > 0 && less(&block[j], &block[j - 1]) {
                block.swap(j, j - 1);
                j -= 1;
            }
        }
    }
    let mut width = BLOCK;
    while width < items.len() {
        let mut start = 0;
        while start + width < items.len() {
            let end = (start + 2 * width).min(items.len());
            merge(&mut items[start..end], width, &less);
            start = end;
        }
        width *= 2;
    }
}

/// Merges the sorted runs `items[..mid]` and `items[mid..]`, taking from the right only when
/// it is strictly less (stability).
fn merge<T: Clone>(items: &mut [T], mid: usize, less: &impl Fn(&T, &T) -> bool) {
    let left: Vec<T> = items[..mid].to_vec();
    let right: Vec<T> = items[mid..].to_vec();
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    for slot in items.iter_mut() {
        let take_right = match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => less(b, a),
            (None, Some(_)) => true,
            _ => false,
        };
        let next = if take_right { r.next() } else { l.next() };
        if let Some(next) = next {
            *slot = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format;

    fn p(s: &str) -> Platform {
        crate::parse(s).unwrap()
    }

    fn vector(s: &str) -> Vec<String> {
        platform_vector(&normalize(&p(s)))
            .iter()
            .map(format)
            .collect()
    }

    #[test]
    fn vectors() {
        assert_eq!(
            vector("linux/amd64/v3"),
            [
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64/v1",
                "linux/386"
            ]
        );
        assert_eq!(
            vector("linux/arm"),
            ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
        );
        assert_eq!(
            vector("linux/arm64/v9.1"),
            [
                "linux/arm64/v9.1",
                "linux/arm64/v9",
                "linux/arm64/v8.6",
                "linux/arm64/v8.5",
                "linux/arm64/v8.4",
                "linux/arm64/v8.3",
                "linux/arm64/v8.2",
                "linux/arm64/v8.1",
                "linux/arm64/v8",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5",
            ]
        );
        // arm64/v9 falls back to arm/v8, not to a nonexistent arm/v9.
        assert!(!vector("linux/arm64/v9").contains(&"linux/arm/v9".to_string()));
        assert_eq!(
            vector("linux/arm64/foo"),
            ["linux/arm64/foo", "linux/arm/foo"]
        );
        assert_eq!(vector("linux/riscv64"), ["linux/riscv64"]);
    }

    #[test]
    fn only_prefers_native() {
        let c = only(&p("linux/amd64"));
        let mut list = vec![p("linux/386"), p("linux/arm64"), p("linux/amd64")];
        c.sort(&mut list);
        let got: Vec<String> = list.iter().map(format).collect();
        assert_eq!(got, ["linux/amd64", "linux/386", "linux/arm64"]);
    }

    #[test]
    fn sort_is_stable_and_total_for_long_inputs() {
        // 50 items, key = i % 3; stability means equal keys keep index order.
        let mut items: Vec<(u32, usize)> = (0..50).map(|i| ((i * 7 % 3) as u32, i)).collect();
        stable_sort_by_less(&mut items, |a, b| a.0 < b.0);
        for w in items.windows(2) {
            assert!(
                w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1),
                "{w:?}"
            );
        }
        // An inconsistent predicate must not panic.
        let mut items: Vec<usize> = (0..64).collect();
        stable_sort_by_less(&mut items, |a, b| (a + b) % 2 == 0);
        assert_eq!(items.len(), 64);
    }

    #[test]
    fn all_matches_everything_and_keeps_order() {
        let mut list = vec![p("windows/amd64"), p("linux/arm64")];
        All.sort(&mut list);
        assert!(All.matches(&list[0]));
        assert_eq!(format(&list[0]), "windows/amd64");
    }
}

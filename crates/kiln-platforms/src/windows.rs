//! Windows OS-version compatibility (process isolation: which container builds a host build can
//! run, including the stable-ABI LTSC rules) and the Windows host match comparer.

use crate::Platform;
use crate::compare::MatchComparer;
use crate::matcher::{Matcher, PlatformMatcher, new_matcher};

/// Windows Server 2022 (LTSC 2022, "21H2 server"): the first build with a stable container ABI.
const LTSC2022: u16 = 20348;
/// Windows Server 2025 (LTSC 2025).
const LTSC2025: u16 = 26100;
/// LTSC releases with a stable ABI, ascending.
const COMPAT_LTSC_RELEASES: [u16; 2] = [LTSC2022, LTSC2025];

/// `major.minor.build` of a Windows OS version such as `10.0.17763.1` (revision ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WindowsVersion {
    major: u8,
    minor: u8,
    build: u16,
}

fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl WindowsVersion {
    /// Parses the first three dot-separated numbers; `None` when there are fewer than three or
    /// one is not a number in range (such a version matches as "no version").
    pub(crate) fn parse(version: &str) -> Option<Self> {
        let mut parts = version.split('.');
        let major = parse_decimal(parts.next()?)?;
        let minor = parse_decimal(parts.next()?)?;
        let build = parse_decimal(parts.next()?)?;
        Some(WindowsVersion {
            major,
            minor,
            build,
        })
    }

    /// Whether a container of version `ctr` runs on a host of version `self` with process
    /// isolation: same major and minor; before LTSC 2022 the exact build; from LTSC 2022 on, any
    /// build from the previous LTSC (or LTSC 2022 itself) up to the host's.
    pub(crate) fn can_run(self, ctr: WindowsVersion) -> bool {
        if self.major != ctr.major || self.minor != ctr.minor {
            return false;
        }
        if self.build < LTSC2022 {
            return self.build == ctr.build;
        }
        let newest = COMPAT_LTSC_RELEASES
            .iter()
            .rposition(|&release| self.build >= release)
            .unwrap_or(0);
        let floor = COMPAT_LTSC_RELEASES
            .get(newest.saturating_sub(1))
            .copied()
            .unwrap_or(LTSC2022);
        floor <= ctr.build && ctr.build <= self.build
    }
}

/// Whether an image declaring OS version `candidate` suits a Windows host declaring
/// `host_version`. A host without a (parseable) version, or a candidate without a version,
/// always matches.
pub(crate) fn windows_version_match(host: Option<WindowsVersion>, candidate: &str) -> bool {
    let Some(host) = host else { return true };
    if candidate.is_empty() {
        return true;
    }
    WindowsVersion::parse(candidate).is_some_and(|ctr| host.can_run(ctr))
}

/// Drops the `win32k` feature (absent on Nano Server), which Windows matching ignores.
pub(crate) fn strip_win32k(features: &[String]) -> Vec<String> {
    features
        .iter()
        .filter(|f| *f != "win32k")
        .cloned()
        .collect()
}

/// The comparer a Windows host uses: matches like [`new_matcher`] and, among matching
/// platforms, prefers the higher OS version (plain string comparison, as containerd), then
/// puts non-matching ones last.
#[derive(Debug, Clone)]
pub struct WindowsMatchComparer {
    matcher: PlatformMatcher,
}

impl WindowsMatchComparer {
    /// A comparer for a Windows host of platform `host` (normally with its `os_version`).
    pub fn new(host: &Platform) -> Self {
        WindowsMatchComparer {
            matcher: new_matcher(host),
        }
    }
}

impl Matcher for WindowsMatchComparer {
    fn matches(&self, platform: &Platform) -> bool {
        self.matcher.matches(platform)
    }
}

impl MatchComparer for WindowsMatchComparer {
    fn less(&self, a: &Platform, b: &Platform) -> bool {
        let (ma, mb) = (self.matches(a), self.matches(b));
        if ma && mb {
            return a.os_version > b.os_version;
        }
        ma && !mb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> WindowsVersion {
        WindowsVersion::parse(s).unwrap()
    }

    #[test]
    fn parses_three_numbers() {
        assert_eq!(
            WindowsVersion::parse("10.0.17763.1"),
            Some(WindowsVersion {
                major: 10,
                minor: 0,
                build: 17763
            })
        );
        assert_eq!(WindowsVersion::parse("10.0"), None);
        assert_eq!(WindowsVersion::parse("10.0.+1"), None);
        assert_eq!(WindowsVersion::parse("300.0.1"), None);
        assert_eq!(WindowsVersion::parse("10.0.17763+build"), None);
    }

    #[test]
    fn ltsc_rules() {
        assert!(v("10.0.17763").can_run(v("10.0.17763")));
        assert!(!v("10.0.17763").can_run(v("10.0.17134")));
        assert!(v("10.0.22621").can_run(v("10.0.20348")));
        assert!(!v("10.0.22621").can_run(v("10.0.17763")));
        assert!(!v("10.0.20348").can_run(v("10.0.22621")));
        // A Windows Server 2025 host runs 2022 and 2025 containers.
        assert!(v("10.0.26100").can_run(v("10.0.20348")));
        assert!(v("10.0.26100").can_run(v("10.0.26100")));
        assert!(v("10.0.26200").can_run(v("10.0.20348")));
        assert!(!v("10.0.26100").can_run(v("10.0.17763")));
        assert!(!v("6.3.20348").can_run(v("10.0.20348")));
    }
}

//! Platform specifiers (`linux/arm64/v8`): parse, normalise, format, match and order, as
//! containerd/platforms does.
//!
//! * [`parse`] turns user input (`--platform linux/arm64`, `arm64`, `windows(10.0.17763)`) into
//!   a [`Platform`], filling what is missing from the host ([`default_platform`]);
//!   [`format()`] / [`format_all`] turn it back into a specifier.
//! * [`normalize`] gives the canonical form of a platform found in a manifest.
//! * A [`Matcher`] decides whether an image's platform is acceptable; a [`MatchComparer`]
//!   also ranks candidates ([`only`], [`only_strict`], [`only_os`], [`ordered`], [`any`],
//!   [`All`], [`WindowsMatchComparer`]).
//!
//! Apart from the host detection behind [`default_platform`] (read once, from
//! `/proc/cpuinfo`), nothing here does I/O.

mod compare;
mod database;
mod error;
mod host;
mod matcher;
mod oci;
mod specifier;
mod windows;

use serde::{Deserialize, Serialize};

pub use compare::{
    All, AnyOf, MatchComparer, OnlyOs, Ordered, any, only, only_os, only_strict, ordered,
};
pub use database::normalize;
pub use error::{Error, OsOptionError};
pub use host::{cpu_variant_from_arch, default_matcher, default_platform};
pub use matcher::{Matcher, PlatformMatcher, new_matcher};
pub use specifier::{format, format_all, parse, parse_all, parse_with_host};
pub use windows::WindowsMatchComparer;

/// An OCI platform. Empty strings / empty list mean "absent", as in containerd.
///
/// Serialises with the OCI image-spec JSON names (`os`, `architecture`, `variant`,
/// `os.version`, `os.features`), leaving out the empty optional ones. Converts to and from
/// `oci_spec::image::Platform` with `From`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, Go `GOOS` name (`linux`, `windows`, `darwin`, ...).
    #[serde(default)]
    pub os: String,
    /// CPU architecture, Go `GOARCH` name (`amd64`, `arm64`, `arm`, ...).
    #[serde(default)]
    pub architecture: String,
    /// CPU variant (`v7` for `arm`, `v8.2` for `arm64`, `v3` for `amd64`), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// OS version (`10.0.17763.1` on Windows), or empty.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Required OS features (`win32k`), or empty.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

impl Platform {
    /// A platform of `os` and `architecture` with no variant, OS version or features. The
    /// names are taken as given (see [`normalize`]).
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            ..Platform::default()
        }
    }
}

impl std::fmt::Display for Platform {
    /// The [`format_all`] form: `linux/arm64/v8`, `windows(10.0.17763)/amd64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_all(self))
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;

    /// Same as [`parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

//! Platform specifiers (`linux/arm64/v8`): parse, normalise, format, match and order, as
//! containerd/platforms does. (API contract; being implemented.)

use serde::{Deserialize, Serialize};

/// An OCI platform. Empty strings / empty list mean "absent", as in containerd.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?}: unknown operating system or architecture: invalid argument")]
    Invalid(String),
}

/// Parses a specifier such as `linux/arm64`, `arm64`, `linux`, `windows(10.0.17763)/amd64`,
/// normalising names. A missing OS or architecture is taken from the host.
pub fn parse(specifier: &str) -> Result<Platform, Error> {
    Err(Error::Invalid(specifier.to_string()))
}

/// `os/arch[/variant]`.
pub fn format(p: &Platform) -> String {
    let mut s = format!("{}/{}", p.os, p.architecture);
    if !p.variant.is_empty() {
        s.push('/');
        s.push_str(&p.variant);
    }
    s
}

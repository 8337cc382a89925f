//! The kiln config file, `/etc/kiln/kiln.toml`: the parts of BuildKit's `buildkitd.toml` that
//! kiln uses, with the same names and value syntax.
//!
//! ```toml
//! root = "/var/lib/kiln"
//!
//! [worker.oci]
//!   max-parallelism = 4
//!   [[worker.oci.gcpolicy]]
//!     keepBytes = "512MB"
//!     keepDuration = "48h"
//!     filters = ["type==source.local"]
//!
//! [registry."docker.io"]
//!   mirrors = ["127.0.0.1:5000"]
//!
//! [registry."registry.example:5000"]
//!   ca = ["/etc/kiln/registry-ca.pem"]
//!   [[registry."registry.example:5000".keypair]]
//!     key = "/etc/kiln/client.key"
//!     cert = "/etc/kiln/client.pem"
//! ```
//!
//! * [`load`] reads a file: the default path may be absent (an empty [`Config`]), a path the
//!   user named must exist. [`parse`] reads text.
//! * Keys buildkitd does not know are tolerated, as buildkitd tolerates them (its TOML decoder
//!   ignores them); unlike buildkitd, kiln collects them in [`Config::unknown_keys`] so the CLI
//!   can warn about a misspelt `mirror = [...]`. Keys that buildkitd knows but kiln does not use
//!   (`[grpc]`, `[frontend."dockerfile.v0"]`, ...) are neither errors nor warnings, so a
//!   `buildkitd.toml` can be used as it is.
//! * [`Config::hosts`] turns a registry name into the ordered list of endpoints to contact
//!   (mirrors, then the origin) with BuildKit's scheme rules; it is a plan, the HTTP client is
//!   built by `kiln-registry`.
//!
//! Invariant: nothing here does I/O except [`load`] reading the file itself (CA files, key
//! pairs and `tlsconfigdir` directories are read by the registry client, when it needs them).

mod error;
mod hosts;
mod known;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use error::Error;
pub use hosts::{RegistryHost, Scheme, is_localhost, split_mirror};
pub use worker::{
    DiskSpace, GcPolicy, OciWorkerConfig, WorkerConfig, parse_disk_space, parse_duration,
};

/// Where kiln looks for its config file when none is named.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kiln/kiln.toml";

/// kiln's state directory when neither the config nor the command line names one.
pub const DEFAULT_ROOT: &str = "/var/lib/kiln";

/// The parsed config file. `Default` is the config of a machine with no file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `root`: where kiln keeps its state; see [`Config::root`] for the default.
    pub root: Option<PathBuf>,
    /// `debug`: verbose logging.
    pub debug: bool,
    /// `insecure-entitlements`: entitlements (`network.host`, `security.insecure`) builds may
    /// ask for with `--allow`.
    #[serde(rename = "insecure-entitlements")]
    pub insecure_entitlements: Vec<String>,
    /// `[worker.*]` sections.
    pub worker: WorkerConfig,
    /// `[registry."host"]` sections, by the host name as written (`docker.io`,
    /// `127.0.0.1:5000`).
    #[serde(rename = "registry", deserialize_with = "hosts::de_registries")]
    pub registries: BTreeMap<String, RegistryConfig>,
    /// The file this config was read from, `None` for defaults or text given to [`parse`]
    /// without a path.
    #[serde(skip)]
    source: Option<PathBuf>,
    /// Keys that neither kiln nor buildkitd knows, as dotted paths.
    #[serde(skip)]
    unknown_keys: Vec<String>,
}

/// One `[registry."host"]` section (BuildKit's `resolver/config.RegistryConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RegistryConfig {
    /// `mirrors`: hosts (optionally with a path: `harbor.example/proxy.docker.io`) tried in
    /// order before this registry when pulling. Pushes always go to the registry itself.
    #[serde(deserialize_with = "hosts::de_mirrors")]
    pub mirrors: Vec<String>,
    /// `http`: use plain HTTP. Unset means "plain HTTP for localhost and 127.0.0.0/8 only".
    pub http: Option<bool>,
    /// `insecure`: use HTTPS without verifying the certificate.
    pub insecure: Option<bool>,
    /// `ca`: PEM files of extra certificate authorities to trust (besides the system's).
    pub ca: Vec<PathBuf>,
    /// `[[registry."host".keypair]]`: client certificates for mutual TLS.
    pub keypair: Vec<KeyPair>,
    /// `tlsconfigdir`: directories laid out like `/etc/docker/certs.d/<host>`: `*.crt` are CAs,
    /// `x.cert` + `x.key` are client key pairs.
    pub tlsconfigdir: Vec<PathBuf>,
}

/// A client certificate and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyPair {
    /// `key`: the private key.
    pub key: PathBuf,
    /// `cert`: the certificate (chain).
    pub cert: PathBuf,
}

impl Config {
    /// The state directory: `root` from the file, else [`DEFAULT_ROOT`].
    pub fn root(&self) -> &Path {
        self.root
            .as_deref()
            .unwrap_or_else(|| Path::new(DEFAULT_ROOT))
    }

    /// The file the config came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The path to name in messages that tell the user to edit the config: the file it was
    /// read from, else [`DEFAULT_CONFIG_PATH`].
    pub fn path_for_messages(&self) -> &Path {
        self.source
            .as_deref()
            .unwrap_or_else(|| Path::new(DEFAULT_CONFIG_PATH))
    }

    /// Keys the file sets that neither kiln nor buildkitd knows (`registry."docker.io".mirror`),
    /// sorted. They were ignored; the caller may warn about them.
    pub fn unknown_keys(&self) -> &[String] {
        &self.unknown_keys
    }

    /// The `[registry."host"]` section for `host` exactly as written in the file
    /// (`docker.io`, `localhost:5000`), if there is one.
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries.get(host)
    }
}

/// Reads the config file at `path`, or at [`DEFAULT_CONFIG_PATH`] when `path` is `None`.
///
/// A missing default file gives `Config::default()`; a missing file the caller named is an
/// error, as is an unreadable or malformed one (the message names the file and the line).
pub fn load(path: Option<&Path>) -> Result<Config, Error> {
    let (path, explicit) = match path {
        Some(p) => (p, true),
        None => (Path::new(DEFAULT_CONFIG_PATH), false),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Config::default());
        }
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(&text, Some(path))
}

/// Parses config text; `path` (when given) is named in errors and kept as
/// [`Config::source`].
pub fn parse(text: &str, path: Option<&Path>) -> Result<Config, Error> {
    let shown = path.unwrap_or_else(|| Path::new("<config>"));
    let de =
        toml::Deserializer::parse(text).map_err(|e| Error::from_toml(shown, text, &e, None))?;
    let mut ignored: Vec<Vec<known::Segment>> = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
    let result: Result<Config, _> = serde_ignored::deserialize(tracked, |p| {
        ignored.push(known::from_ignored(&p));
    });
    let mut config = match result {
        Ok(c) => c,
        Err(e) => {
            let key = known::render(&known::from_tracked(&track.path()));
            return Err(Error::from_toml(shown, text, &e, Some(&key)));
        }
    };
    config.source = path.map(Path::to_path_buf);
    config.unknown_keys = ignored
        .iter()
        .filter(|k| !known::is_buildkitd_key(k))
        .map(|k| known::render(k))
        .collect();
    config.unknown_keys.sort();
    Ok(config)
}

#[cfg(test)]
mod tests;

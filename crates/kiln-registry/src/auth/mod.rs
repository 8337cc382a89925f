//! Registry credentials: what they are ([`Credentials`]), where they come from
//! ([`CredentialStore`]: Docker's `config.json` and credential helpers in [`DockerConfig`], a
//! fixed set in [`StaticCredentials`], none in [`NoCredentials`]), and the challenge parsing
//! and token flow the client uses with them.

pub(crate) mod challenge;
mod docker_config;
pub(crate) mod token;

use std::collections::HashMap;
use std::fmt;

pub use docker_config::{DockerConfig, docker_config_path, registry_key};

use crate::secret::Secret;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token), sent with HTTP basic auth to
    /// registries that ask for it and to token servers.
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token server.
    IdentityToken { username: String, token: Secret },
    /// A bearer token for the registry itself (Docker's `registrytoken`), sent as is.
    RegistryToken(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name, if the credentials have one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => {
                Some(username)
            }
            Credentials::RegistryToken(_) => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// Where credentials come from. `host` is the host kiln talks to: `registry-1.docker.io` for
/// Docker Hub (stores map it to their own key), a mirror's host, `127.0.0.1:5000`.
///
/// Implementations may block (credential helpers are processes); the client calls them on a
/// blocking thread. Safe to call concurrently.
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The credentials for `host`, `Ok(None)` when there are none. An `Err` is a broken store
    /// (unreadable file, failing helper), not a missing entry; its text is shown to the user
    /// and must not contain secrets.
    fn get(&self, host: &str) -> Result<Option<Credentials>, String>;
}

/// No credentials anywhere: every request is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl CredentialStore for NoCredentials {
    fn get(&self, _host: &str) -> Result<Option<Credentials>, String> {
        Ok(None)
    }
}

/// A fixed map of credentials by registry (keys as [`registry_key`] normalises them, so
/// `docker.io`, `registry-1.docker.io` and `https://index.docker.io/v1/` are one entry).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    by_key: HashMap<String, Credentials>,
}

impl StaticCredentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds credentials for `registry` (`docker.io`, `127.0.0.1:5000`).
    pub fn with(mut self, registry: &str, credentials: Credentials) -> Self {
        self.by_key.insert(registry_key(registry), credentials);
        self
    }
}

impl CredentialStore for StaticCredentials {
    fn get(&self, host: &str) -> Result<Option<Credentials>, String> {
        Ok(self.by_key.get(&registry_key(host)).cloned())
    }
}

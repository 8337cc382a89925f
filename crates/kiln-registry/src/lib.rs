//! An OCI distribution client for kiln: resolve, pull and push images on any registry, the
//! way BuildKit's resolver (containerd's `remotes/docker`) does.
//!
//! * [`Client`] does the work: [`Client::resolve`] (tag or digest → descriptor),
//!   [`Client::fetch_manifest`], [`Client::fetch_blob`] (a verified stream),
//!   [`Client::resolve_platform`] (the manifest for a platform from an index),
//!   [`Client::push_blob`] (exists? mount? upload), [`Client::push_manifest`],
//!   [`Client::check_login`].
//! * Hosts follow the kiln config (`kiln-config`): mirrors before the registry for pulls, the
//!   registry alone for pushes, HTTPS by default, plain HTTP for localhost and `http = true`,
//!   `insecure = true`, extra CAs and client certificates.
//! * Authentication: anonymous, HTTP basic, and Docker token auth (bearer tokens per scope,
//!   cached until they expire), with credentials from a [`CredentialStore`]: Docker's
//!   `config.json` and credential helpers ([`DockerConfig`], which also writes logins).
//! * Errors ([`Error`]) name the operation, the reference, the host and the HTTP status with
//!   the registry's error codes, and say what to do. Secrets never appear in errors, logs or
//!   `Debug` output ([`Secret`]).
//!
//! Invariant: content is handed out as complete only after its size and digest were checked
//! ([`BlobReader`] ends with `Ok(None)` only then); nothing panics on any registry response.

mod auth;
mod client;
mod digest;
mod error;
pub mod media;
mod secret;
mod transport;

pub use auth::{
    CredentialStore, Credentials, DockerConfig, NoCredentials, StaticCredentials,
    docker_config_path, registry_key,
};
pub use client::{
    BlobData, BlobReader, Client, MAX_CONFIG_SIZE, PlatformImage, PushBlobOptions, PushedBlob,
    Resolved,
};
pub use digest::{Algorithm, Digest, DigestParseError};
pub use error::{Error, ErrorCode, ErrorKind, HttpFailure, Operation, RegistryError};
pub use media::{Descriptor, Index, Manifest, ManifestDocument};
pub use secret::Secret;

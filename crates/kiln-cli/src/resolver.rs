//! Base-image configurations for `kiln build --call=check|outline`: a [`kiln_lint`]
//! [`ImageConfigResolver`] that asks the registry (through `kiln-registry`, with the
//! `--config` file's registry settings and Docker's credentials) for each `FROM` image's
//! config, once per image and platform.
//!
//! BuildKit fails the whole check when a base image cannot be resolved. kiln deliberately does
//! not: it prints one line, `WARNING: base image <ref>: could not fetch its configuration
//! (<cause>); checks that need it were skipped`, and checks that stage as if it had no
//! resolver (no `UndefinedVar` for names its base could define, no
//! `InvalidBaseImagePlatform`). A lookup gives up after [`RESOLVE_TIMEOUT`], and a registry
//! that could not be reached is not tried again in the same run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kiln_lint::{ImageConfig, ImageConfigResolver};
use kiln_platforms::Platform;
use kiln_reference::Reference;
use kiln_registry::media::{self, ManifestDocument};
use kiln_registry::{Client, CredentialStore, DockerConfig, ErrorKind, MAX_CONFIG_SIZE};
use serde::Deserialize;

/// The longest one image's lookup may take, all requests included.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why one image's configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name the Dockerfile gives is not an image reference.
    #[error("invalid image reference: {0}")]
    Reference(#[from] kiln_reference::Error),
    /// The registry failed (unreachable, 401, 404, no manifest for the platform, ...).
    #[error("{}", .0.kind())]
    Registry(#[from] kiln_registry::Error),
    /// The lookup took longer than it may.
    #[error("no answer within {} seconds", .0.as_secs())]
    Timeout(Duration),
    /// The registry could not be reached for an earlier image of this run.
    #[error("{0}")]
    Unreachable(String),
    /// The registry answered with a manifest kiln cannot read.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// The image config is not valid JSON of the expected shape.
    #[error("invalid image config: {0}")]
    Config(#[from] serde_json::Error),
}

/// Why the resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The `--config` file is missing (when named), unreadable or malformed.
    #[error(transparent)]
    Config(#[from] kiln_config::Error),
    /// The async runtime for the registry client could not start.
    #[error("starting the registry client: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Fetches one image's configuration. [`CachingResolver`] calls it at most once per
/// (reference, platform) and reports its failures.
pub trait ConfigSource {
    /// The config of `reference` for `platform`: from an index, the best manifest for the
    /// platform; a single manifest whatever its platform (BuildKit's resolver does the same,
    /// and `InvalidBaseImagePlatform` then compares).
    fn fetch(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ImageConfig, ResolveError>;
}

/// Where warnings go: one message (without the `WARNING: ` prefix) per call.
type Reporter = Box<dyn Fn(&str) + Send + Sync>;

/// An [`ImageConfigResolver`] over a [`ConfigSource`]: caches every answer (failures too) per
/// (reference, platform) and reports each image that could not be resolved once.
pub struct CachingResolver<S> {
    source: S,
    cache: Mutex<BTreeMap<(String, String), Option<ImageConfig>>>,
    warned: Mutex<BTreeSet<String>>,
    report: Reporter,
}

impl<S: std::fmt::Debug> std::fmt::Debug for CachingResolver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver")
            .field("source", &self.source)
            .field("cached", &lock(&self.cache).len())
            .finish()
    }
}

/// Locks `m`, taking the data over from a thread that panicked while holding it (the data is a
/// cache: at worst an entry is missing).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints `WARNING: <message>` to stderr (errors writing it are ignored).
fn warn_stderr(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "WARNING: {message}");
}

impl<S: ConfigSource> CachingResolver<S> {
    /// A resolver over `source` that prints its warnings to stderr.
    pub fn new(source: S) -> Self {
        CachingResolver {
            source,
            cache: Mutex::new(BTreeMap::new()),
            warned: Mutex::new(BTreeSet::new()),
            report: Box::new(warn_stderr),
        }
    }

    /// Sends warnings to `report` instead of stderr.
    pub fn with_reporter(mut self, report: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.report = Box::new(report);
        self
    }

    /// The source answers come from.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn lookup(&self, reference: &str, platform: &Platform) -> Result<ImageConfig, ResolveError> {
        let parsed = kiln_reference::parse_normalized_named(reference)?;
        self.source.fetch(&parsed, platform)
    }
}

impl<S: ConfigSource> ImageConfigResolver for CachingResolver<S> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Option<ImageConfig> {
        let key = (reference.to_string(), kiln_platforms::format_all(platform));
        if let Some(hit) = lock(&self.cache).get(&key) {
            return hit.clone();
        }
        let answer = match self.lookup(reference, platform) {
            Ok(config) => Some(config),
            Err(e) => {
                if lock(&self.warned).insert(reference.to_string()) {
                    (self.report)(&format!(
                        "base image {reference}: could not fetch its configuration ({e}); checks that need it were skipped"
                    ));
                }
                None
            }
        };
        lock(&self.cache).insert(key, answer.clone());
        answer
    }
}

/// A [`ConfigSource`] that asks the registries, with a runtime of its own (the lint walk is
/// synchronous): every lookup runs to completion, or to its timeout, inside `block_on`.
pub struct RegistrySource {
    runtime: tokio::runtime::Runtime,
    client: Client,
    timeout: Duration,
    /// Registries (by domain) that could not be reached, with the cause: not tried again.
    unreachable: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("client", &self.client)
            .field("timeout", &self.timeout)
            .field("unreachable", &lock(&self.unreachable).keys())
            .finish()
    }
}

impl RegistrySource {
    /// A source using `client`, giving up on an image after `timeout`.
    pub fn new(client: Client, timeout: Duration) -> Result<Self, SetupError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        Ok(RegistrySource {
            runtime,
            client,
            timeout,
            unreachable: Mutex::new(BTreeMap::new()),
        })
    }
}

/// Whether a registry failure means the registry itself is out of reach (as opposed to a
/// problem with one image).
fn is_unreachable(e: &kiln_registry::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Connect { .. } | ErrorKind::Timeout { .. } | ErrorKind::Tls { .. }
    )
}

impl ConfigSource for RegistrySource {
    fn fetch(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ImageConfig, ResolveError> {
        let domain = reference.domain().to_string();
        if let Some(cause) = lock(&self.unreachable).get(&domain) {
            return Err(ResolveError::Unreachable(cause.clone()));
        }
        // The timer must be made inside the runtime.
        let work = async {
            tokio::time::timeout(
                self.timeout,
                fetch_config(&self.client, reference, platform),
            )
            .await
        };
        let result = match self.runtime.block_on(work) {
            Ok(r) => r,
            Err(_) => Err(ResolveError::Timeout(self.timeout)),
        };
        match &result {
            Err(ResolveError::Registry(e)) if is_unreachable(e) => {
                lock(&self.unreachable).insert(domain, e.kind().to_string());
            }
            Err(ResolveError::Timeout(_)) => {
                let cause = format!(
                    "{domain} gave no answer within {} seconds",
                    self.timeout.as_secs()
                );
                lock(&self.unreachable).insert(domain, cause);
            }
            _ => {}
        }
        result
    }
}

/// Resolves `reference`, picks the manifest for `platform` when it names an index, and
/// reads the image config.
async fn fetch_config(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
) -> Result<ImageConfig, ResolveError> {
    let resolved = client.resolve(reference).await?;
    let config = if media::is_index(&resolved.descriptor.media_type) {
        client
            .resolve_platform(&resolved.reference, platform)
            .await?
            .config
    } else {
        let data = client
            .fetch_manifest(&resolved.reference, &resolved.descriptor)
            .await?;
        match media::parse_manifest(&resolved.descriptor.media_type, &data)
            .map_err(ResolveError::Manifest)?
        {
            ManifestDocument::Manifest(m) => {
                client
                    .fetch_blob_bytes(&resolved.reference, &m.config, MAX_CONFIG_SIZE)
                    .await?
            }
            ManifestDocument::Index(_) => {
                client
                    .resolve_platform(&resolved.reference, platform)
                    .await?
                    .config
            }
        }
    };
    parse_image_config(&config)
}

/// The parts of an image config (OCI / Docker) the checks read.
#[derive(Debug, Default, Deserialize)]
struct RawImage {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default, rename = "os.version")]
    os_version: Option<String>,
    #[serde(default, rename = "os.features")]
    os_features: Option<Vec<String>>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    rootfs: Option<RawRootfs>,
    #[serde(default)]
    history: Option<Vec<RawHistory>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default, rename = "Env")]
    env: Option<Vec<String>>,
    #[serde(default, rename = "Shell")]
    shell: Option<Vec<String>>,
    #[serde(default, rename = "OnBuild")]
    on_build: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawHistory {
    #[serde(default)]
    empty_layer: Option<bool>,
}

/// Reads an image config the way BuildKit does for the checks: env, shell, ONBUILD triggers,
/// the platform (only when both OS and architecture are set), and whether the image has no
/// layers at all (no diff IDs and only empty-layer history entries).
pub fn parse_image_config(data: &[u8]) -> Result<ImageConfig, ResolveError> {
    let raw: RawImage = serde_json::from_slice(data)?;
    let os = raw.os.unwrap_or_default();
    let architecture = raw.architecture.unwrap_or_default();
    let platform = (!os.is_empty() && !architecture.is_empty()).then(|| Platform {
        os,
        architecture,
        variant: raw.variant.unwrap_or_default(),
        os_version: raw.os_version.unwrap_or_default(),
        os_features: raw.os_features.unwrap_or_default(),
    });
    let no_diff_ids = raw
        .rootfs
        .and_then(|r| r.diff_ids)
        .is_none_or(|d| d.is_empty());
    let only_empty_history = raw
        .history
        .unwrap_or_default()
        .iter()
        .all(|h| h.empty_layer.unwrap_or(false));
    let config = raw.config.unwrap_or_default();
    Ok(ImageConfig {
        env: config.env.unwrap_or_default(),
        shell: config.shell.unwrap_or_default(),
        platform,
        on_build: config.on_build.unwrap_or_default(),
        no_layers: no_diff_ids && only_empty_history,
    })
}

/// The resolver `kiln build --call=check|outline` uses: the registry settings of the config
/// file at `config_path` (the default path may be missing: no settings), Docker's
/// credentials (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; a broken one gives a
/// warning and anonymous pulls), warnings to stderr.
pub fn open(config_path: &Path) -> Result<CachingResolver<RegistrySource>, SetupError> {
    let named = (config_path != Path::new(kiln_config::DEFAULT_CONFIG_PATH)).then_some(config_path);
    let config = kiln_config::load(named)?;
    let credentials: Arc<dyn CredentialStore> = match DockerConfig::load_default() {
        Ok(docker) => Arc::new(docker),
        Err(e) => {
            warn_stderr(&format!(
                "reading Docker credentials: {e}; base images are looked up anonymously"
            ));
            Arc::new(kiln_registry::NoCredentials)
        }
    };
    let client = Client::new(Arc::new(config), credentials);
    Ok(CachingResolver::new(RegistrySource::new(
        client,
        RESOLVE_TIMEOUT,
    )?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts fetches; knows `docker.io/library/golang` only.
    #[derive(Debug, Default)]
    struct Fake {
        fetches: AtomicUsize,
    }

    impl ConfigSource for Fake {
        fn fetch(
            &self,
            reference: &Reference,
            platform: &Platform,
        ) -> Result<ImageConfig, ResolveError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if reference.path() != "library/golang" {
                return Err(ResolveError::Unreachable("connection refused".to_string()));
            }
            Ok(ImageConfig {
                env: vec![format!("ARCH={}", platform.architecture)],
                platform: Some(platform.clone()),
                ..ImageConfig::default()
            })
        }
    }

    fn collecting() -> (CachingResolver<Fake>, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let r = CachingResolver::new(Fake::default())
            .with_reporter(move |m| lock(&sink).push(m.to_string()));
        (r, seen)
    }

    #[test]
    fn each_image_and_platform_is_fetched_once() {
        let (r, warnings) = collecting();
        let amd64 = Platform::new("linux", "amd64");
        let arm64 = Platform::new("linux", "arm64");
        let golang = "docker.io/library/golang:1.22";
        let first = r.resolve(golang, &amd64).unwrap();
        assert_eq!(first.env, ["ARCH=amd64"]);
        assert_eq!(r.resolve(golang, &amd64), Some(first));
        assert_eq!(r.source().fetches.load(Ordering::SeqCst), 1);
        // Another platform is another image.
        assert_eq!(r.resolve(golang, &arm64).unwrap().env, ["ARCH=arm64"]);
        assert_eq!(r.source().fetches.load(Ordering::SeqCst), 2);
        assert!(lock(&warnings).is_empty());
    }

    #[test]
    fn failures_are_cached_and_reported_once_per_image() {
        let (r, warnings) = collecting();
        let amd64 = Platform::new("linux", "amd64");
        let arm64 = Platform::new("linux", "arm64");
        let x = "127.0.0.1:1/x:latest";
        assert_eq!(r.resolve(x, &amd64), None);
        assert_eq!(r.resolve(x, &amd64), None);
        assert_eq!(r.source().fetches.load(Ordering::SeqCst), 1);
        assert_eq!(r.resolve(x, &arm64), None);
        assert_eq!(
            *lock(&warnings),
            [
                "base image 127.0.0.1:1/x:latest: could not fetch its configuration (connection refused); checks that need it were skipped"
            ]
        );
    }

    #[test]
    fn a_bad_reference_is_a_warning_not_a_fetch() {
        let (r, warnings) = collecting();
        assert_eq!(
            r.resolve("Not A Ref", &Platform::new("linux", "amd64")),
            None
        );
        assert_eq!(r.source().fetches.load(Ordering::SeqCst), 0);
        let w = lock(&warnings);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "base image Not A Ref: could not fetch its configuration (invalid image reference: "
            ),
            "{}",
            w[0]
        );
    }

    #[test]
    fn reads_what_the_checks_need_from_a_config() {
        let c = parse_image_config(
            br#"{"architecture":"arm","os":"linux","variant":"v7",
                 "config":{"Env":["PATH=/bin","FOO=bar"],"Shell":["/bin/bash","-c"],"OnBuild":["RUN x"]},
                 "rootfs":{"type":"layers","diff_ids":["sha256:00"]}}"#,
        )
        .unwrap();
        assert_eq!(c.env, ["PATH=/bin", "FOO=bar"]);
        assert_eq!(c.shell, ["/bin/bash", "-c"]);
        assert_eq!(c.on_build, ["RUN x"]);
        let mut arm = Platform::new("linux", "arm");
        arm.variant = "v7".to_string();
        assert_eq!(c.platform, Some(arm));
        assert!(!c.no_layers);

        // No layers, no platform, nulls where Go writes them.
        let c = parse_image_config(
            br#"{"config":{"Env":null},"rootfs":{"type":"layers","diff_ids":null},
                 "history":[{"created_by":"x","empty_layer":true}]}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            ImageConfig {
                no_layers: true,
                ..ImageConfig::default()
            }
        );
        // A history entry with a layer (schema 1 images list no diff IDs).
        let c = parse_image_config(br#"{"history":[{"created_by":"x"}]}"#).unwrap();
        assert!(!c.no_layers);
        assert!(parse_image_config(b"not json").is_err());
        assert!(parse_image_config(br#"{"config":{"Env":"PATH=/bin"}}"#).is_err());
    }

    #[test]
    fn an_unreachable_registry_is_tried_once() {
        let config = Arc::new(kiln_config::Config::default());
        let source = RegistrySource::new(Client::anonymous(config), RESOLVE_TIMEOUT).unwrap();
        let platform = Platform::new("linux", "amd64");
        let a = kiln_reference::parse_normalized_named("127.0.0.1:1/a").unwrap();
        let b = kiln_reference::parse_normalized_named("127.0.0.1:1/b").unwrap();
        let first = source.fetch(&a, &platform).unwrap_err();
        assert!(matches!(first, ResolveError::Registry(_)), "{first}");
        let second = source.fetch(&b, &platform).unwrap_err();
        assert!(matches!(second, ResolveError::Unreachable(_)), "{second}");
        assert_eq!(first.to_string(), second.to_string());
    }
}

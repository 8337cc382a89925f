//! What a conversion takes: [`ConvertOptions`] and the [`ImageMetaResolver`] role trait.

use std::collections::BTreeMap;

use kiln_platforms::Platform;

/// Which stages ignore cached results (`--no-cache`, `--no-cache-filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    /// Use the cache (the default).
    #[default]
    None,
    /// `--no-cache`: every stage.
    All,
    /// `--no-cache-filter a,b`: the stages named (case-insensitive).
    Stages(Vec<String>),
}

impl NoCache {
    pub(crate) fn applies_to(&self, stage: &str) -> bool {
        match self {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Stages(names) => {
                !stage.is_empty() && names.iter().any(|n| n.eq_ignore_ascii_case(stage))
            }
        }
    }
}

/// Options of [`crate::convert`] (BuildKit's `ConvertOpt` as far as a Dockerfile needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// `--target`; the last stage when `None`.
    pub target: Option<String>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The platform the image is for; the build platform when `None` (then the result takes
    /// the base image's platform, as BuildKit's implicit target does).
    pub target_platform: Option<Platform>,
    /// The platform the build runs on (`BUILDPLATFORM`); the target platform when `None`,
    /// else the host's (the CLI passes the host platform).
    pub build_platform: Option<Platform>,
    /// `--label` values, added to the result image's labels.
    pub labels: BTreeMap<String, String>,
    pub no_cache: NoCache,
    /// Name of the main build context source (`local://<name>`); `context` when empty.
    pub context_name: String,
    /// `.dockerignore` patterns, applied to the build context source.
    pub ignore_patterns: Vec<String>,
    /// Prefix progress names with the platform (`[linux/arm64 build 2/3]`), as BuildKit does
    /// when several platforms are built at once.
    pub multi_platform: bool,
    /// `--add-host` entries (`host`, `ip`), given to every `RUN`.
    pub extra_hosts: Vec<(String, String)>,
    /// `--network` default for `RUN` (`default`/`sandbox`, `host`, `none`); empty = sandbox.
    pub network: String,
    /// Namespace for cache mount IDs (BuildKit's `cacheIDNamespace`); empty for none.
    pub cache_id_namespace: String,
}

/// A base image resolved for a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The canonical reference the image was found under (normally the reference asked
    /// for; a resolver may return a different one, e.g. after a policy rewrite).
    pub reference: String,
    /// The manifest digest for the platform (`sha256:...`); pinned into the graph. Empty
    /// when unknown.
    pub digest: String,
    /// The image configuration blob (JSON).
    pub config: Vec<u8>,
}

/// Finds the configuration of base images (BuildKit's `ImageMetaResolver`).
///
/// Contract:
/// - `reference` is fully normalized (`docker.io/library/busybox:latest`, or with
///   `@sha256:...` when the Dockerfile pinned one); `platform` is the platform the stage is
///   built for. The implementation picks that platform's manifest from an index.
/// - It is synchronous: the conversion is a pure function and calls it at most once per
///   distinct `(reference, platform)` (results are memoized within one conversion). An async
///   caller either resolves on a blocking thread or pre-fetches and answers from memory.
/// - An error is reported to the user as `<reference>: <error>` with the `FROM` line; make
///   it say what to do (`401 unauthorized: run kiln login docker.io`).
/// - It must not return secrets (credentials stay in the registry client).
pub trait ImageMetaResolver {
    fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>>;
}

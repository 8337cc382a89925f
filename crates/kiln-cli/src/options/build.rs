//! `BuildOptions`: everything `kiln build` was asked to do, validated and typed. Produced from
//! the raw flags by `commands::build`; consumed by the build pipeline and the `--call` path.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_subrequests::CallRequest;

use super::annotation::Annotation;
use super::attest::Attest;
use super::cache::CacheEntry;
use super::context::NamedContext;
use super::entitlement::Entitlement;
use super::host::ExtraHost;
use super::network::NetworkMode;
use super::output::Output;
use super::platform::TargetPlatform;
use super::progress::ProgressMode;
use super::secret::SecretSpec;
use super::ssh::SshSpec;
use super::ulimit::Ulimit;

/// The validated form of `kiln build [OPTIONS] PATH | URL | -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `PATH | URL | -` as given.
    pub context: String,
    /// `-f`: `None` means `<context>/Dockerfile`; `Some("-")` means stdin.
    pub dockerfile: Option<String>,
    /// `--call`: `None` for a normal build.
    pub call: Option<CallRequest>,

    pub add_hosts: Vec<ExtraHost>,
    /// `--allow`, plus `network.host` when `--network=host`.
    pub allow: Vec<Entitlement>,
    pub annotations: Vec<Annotation>,
    /// `--attest`, `--sbom`, `--provenance`, at most one per type.
    pub attests: Vec<Attest>,
    /// `--build-arg` (bare keys resolved from the environment) plus `SOURCE_DATE_EPOCH` from the
    /// environment when not given as a build arg.
    pub build_args: BTreeMap<String, String>,
    pub build_contexts: Vec<NamedContext>,
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    pub cgroup_parent: Option<String>,
    pub iidfile: Option<PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub metadata_file: Option<PathBuf>,
    pub network: NetworkMode,
    pub no_cache: bool,
    /// Stage names not to cache (`--no-cache-filter a,b`).
    pub no_cache_filter: Vec<String>,
    /// `-o`, `--push`, `--load`, normalised. Empty means the builder's default.
    pub outputs: Vec<Output>,
    /// `BUILDX_NO_DEFAULT_LOAD`: with no output, do not load the result anywhere.
    pub no_default_load: bool,
    /// Empty means the builder's own platform (also honours `DOCKER_DEFAULT_PLATFORM`).
    pub platforms: Vec<TargetPlatform>,
    pub progress: ProgressMode,
    pub pull: bool,
    pub secrets: Vec<SecretSpec>,
    /// `--shm-size` in bytes; `0` means the runtime default.
    pub shm_size: u64,
    pub ssh: Vec<SshSpec>,
    /// `-t`, validated references as typed.
    pub tags: Vec<String>,
    pub target: Option<String>,
    pub ulimits: Vec<Ulimit>,
    /// Non-fatal remarks to show the user (deprecated flags, ignored variables).
    pub warnings: Vec<String>,
}

impl BuildOptions {
    /// The platform specifiers as given (for subrequests and display).
    pub fn platform_specs(&self) -> Vec<String> {
        self.platforms.iter().map(|p| p.spec.clone()).collect()
    }
}

//! [`Builder::build`]: a Dockerfile becomes an image on this machine (BuildKit's `control`
//! Solve): per platform convert → one shared solve → layers → image → outputs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;
use kiln_exporter::{CommittedImage, OutputOptions, PlatformImage};
use kiln_frontend::{ConvertOptions, ConvertResult, NoCache};
use kiln_platforms::Platform;
use kiln_progress::{ProgressSender, Range, SourceInfo, VertexWarning};
use kiln_solver::{ResultRef, Solver, SolverOptions};
use kiln_store::LeaseManager;
use kiln_worker::{SecretStore, SnapshotRef, Worker, WorkerConfig};
use serde_json::{Map, Value};

use crate::adapter::BuildWorker;
use crate::cache::StoreCache;
use crate::error::{Error, Result};
use crate::export;
use crate::progress::Step;
use crate::refs::{RefKind, kind_of};
use crate::resolver::WorkerResolver;

/// How long a build's lease protects what it pulls and writes if the process dies.
const LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What to build and where the result goes (the subset of `docker buildx build` options the
/// engine sees; the CLI has validated them).
#[derive(Clone)]
pub struct BuildRequest {
    /// The Dockerfile's bytes.
    pub dockerfile: Vec<u8>,
    /// Its name for messages and excerpts (`Dockerfile`).
    pub dockerfile_name: String,
    /// The build context directory (`local://context`); `None` for a build without one.
    pub context: Option<PathBuf>,
    /// `.dockerignore` patterns.
    pub ignore_patterns: Vec<String>,
    /// The size of the ignore file in bytes (`None` without one), for progress.
    pub ignore_file_len: Option<u64>,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg` values (with `SOURCE_DATE_EPOCH` when set).
    pub build_args: BTreeMap<String, String>,
    /// `--label` values.
    pub labels: BTreeMap<String, String>,
    /// `--platform`; empty for the builder's default.
    pub platforms: Vec<Platform>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter`.
    pub no_cache_filter: Vec<String>,
    /// `--add-host` entries.
    pub extra_hosts: Vec<(String, String)>,
    /// `--network` (`default`, `host`, `none`).
    pub network: String,
    /// `--secret` values.
    pub secrets: Arc<dyn SecretStore>,
    /// The outputs (`-o`), validated. Empty: the result stays in the cache only.
    pub outputs: Vec<OutputOptions>,
}

impl std::fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildRequest")
            .field("dockerfile_name", &self.dockerfile_name)
            .field("context", &self.context)
            .field("target", &self.target)
            .field("platforms", &self.platforms)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl BuildRequest {
    /// A request for `dockerfile` over `context` with every option at its default.
    pub fn new(dockerfile: Vec<u8>, context: Option<PathBuf>) -> BuildRequest {
        BuildRequest {
            dockerfile,
            dockerfile_name: "Dockerfile".into(),
            context,
            ignore_patterns: Vec::new(),
            ignore_file_len: None,
            target: None,
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            platforms: Vec::new(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            extra_hosts: Vec::new(),
            network: String::new(),
            secrets: Arc::new(kiln_worker::NoSecrets),
            outputs: Vec::new(),
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, Default)]
pub struct BuildResult {
    /// The image as the last image output committed it (`None` without image outputs).
    pub image: Option<CommittedImage>,
    /// The image ID buildx prints with `--quiet` and writes to `--iidfile`: the config digest
    /// of a single-platform image, else the index digest.
    pub image_id: Option<String>,
    /// The exporter response for `--metadata-file`.
    pub metadata: Map<String, Value>,
    /// The platforms built.
    pub platforms: Vec<Platform>,
}

/// The in-process builder: one worker (state root), shared by the builds it runs.
pub struct Builder {
    adapter: Arc<BuildWorker>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("root", &self.adapter.worker().root())
            .finish()
    }
}

impl Builder {
    /// Opens the builder state at `root` (locks it: one process per root).
    pub async fn open(root: impl Into<PathBuf>, config: WorkerConfig) -> Result<Builder> {
        let worker = Worker::open(root, config).await?;
        Ok(Builder::with_worker(worker))
    }

    /// A builder over an open worker.
    pub fn with_worker(worker: Worker) -> Builder {
        Builder {
            adapter: Arc::new(BuildWorker::new(worker)),
        }
    }

    /// The worker.
    pub fn worker(&self) -> &Worker {
        self.adapter.worker()
    }

    /// Runs one build; progress (and lint warnings) go to `progress`.
    pub async fn build(&self, req: BuildRequest, progress: &ProgressSender) -> Result<BuildResult> {
        let worker = self.worker().clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let session = format!("{}-{}", std::process::id(), now.as_nanos());
        let lease = format!("build-{session}");
        {
            let store = worker.store().clone();
            let lease = lease.clone();
            tokio::task::spawn_blocking(move || store.create_lease(&lease, Some(LEASE_TTL)))
                .await
                .map_err(Error::task("creating the build lease"))?
                .map_err(Error::store("creating the build lease"))?;
        }
        self.adapter
            .begin_session(&session, Some(lease.clone()), req.secrets.clone());
        if let Some(dir) = &req.context {
            self.adapter.register_context("context", dir.clone());
        }
        let result = self.build_in_session(&req, progress, &lease).await;
        self.adapter.end_session().await;
        let store = worker.store().clone();
        let deleted = tokio::task::spawn_blocking(move || store.delete_lease(&lease)).await;
        if let Ok(Err(e)) = deleted {
            tracing::warn!("deleting the build lease: {e}");
        }
        result
    }

    async fn build_in_session(
        &self,
        req: &BuildRequest,
        progress: &ProgressSender,
        lease: &str,
    ) -> Result<BuildResult> {
        let started = SystemTime::now();
        let definition = Step::start(
            progress,
            &format!(
                "[internal] load build definition from {}",
                req.dockerfile_name
            ),
            &format!("{lease}:dockerfile"),
        );
        definition.status(
            "transferring dockerfile:",
            req.dockerfile.len() as u64,
            started,
        );
        definition.done();
        let convs = self.convert_all(req, progress, lease).await?;
        if req.context.is_some() {
            let started = SystemTime::now();
            let ignore = Step::start(
                progress,
                "[internal] load .dockerignore",
                &format!("{lease}:dockerignore"),
            );
            // BuildKit's transfer of a missing file still counts 2 bytes of framing.
            ignore.status(
                "transferring context:",
                req.ignore_file_len.unwrap_or(2),
                started,
            );
            ignore.done();
        }
        if let Some(first) = convs.first() {
            send_warnings(progress, req, first);
        }
        let solver = Solver::new(
            self.adapter.clone(),
            Arc::new(StoreCache::new(self.worker().clone())),
            SolverOptions {
                no_cache: req.no_cache,
                ..SolverOptions::default()
            },
        );
        let solves = convs
            .iter()
            .map(|c| solver.solve_definition(&c.definition, progress));
        let results: Vec<Option<ResultRef>> = try_join_all(solves).await?;
        let out = self.export(req, progress, lease, &convs, &results).await;
        for r in results.iter().flatten() {
            solver.worker().release(r);
        }
        out
    }

    async fn convert_all(
        &self,
        req: &BuildRequest,
        progress: &ProgressSender,
        lease: &str,
    ) -> Result<Vec<ConvertResult>> {
        let targets: Vec<Option<Platform>> = if req.platforms.is_empty() {
            vec![None]
        } else {
            req.platforms.iter().cloned().map(Some).collect()
        };
        let multi = targets.len() > 1;
        let resolver =
            WorkerResolver::new(self.worker().clone(), tokio::runtime::Handle::current())
                .with_progress(progress.clone(), lease, multi);
        let mut out = Vec::with_capacity(targets.len());
        for target in targets {
            let opts = ConvertOptions {
                target: req.target.clone(),
                build_args: req.build_args.clone(),
                target_platform: target,
                build_platform: Some(kiln_platforms::default_platform().clone()),
                labels: req.labels.clone(),
                no_cache: if req.no_cache {
                    NoCache::All
                } else if req.no_cache_filter.is_empty() {
                    NoCache::None
                } else {
                    NoCache::Stages(req.no_cache_filter.clone())
                },
                context_name: "context".into(),
                ignore_patterns: req.ignore_patterns.clone(),
                multi_platform: multi,
                extra_hosts: req.extra_hosts.clone(),
                network: req.network.clone(),
                cache_id_namespace: String::new(),
            };
            let dockerfile = req.dockerfile.clone();
            let resolver = resolver.clone();
            let conv = tokio::task::spawn_blocking(move || {
                kiln_frontend::convert(&dockerfile, &opts, &resolver)
            })
            .await
            .map_err(Error::task("converting the Dockerfile"))??;
            out.push(conv);
        }
        Ok(out)
    }

    async fn export(
        &self,
        req: &BuildRequest,
        progress: &ProgressSender,
        lease: &str,
        convs: &[ConvertResult],
        results: &[Option<ResultRef>],
    ) -> Result<BuildResult> {
        let mut roots: Vec<Option<SnapshotRef>> = Vec::with_capacity(results.len());
        for r in results {
            roots.push(match r.as_ref().map(kind_of) {
                None | Some(RefKind::Scratch) => None,
                Some(RefKind::Snapshot(s)) => Some(SnapshotRef::new(s)),
                Some(RefKind::Local { .. }) => {
                    return Err(Error::Invalid(
                        "the build result is the build context itself; add a step that copies \
                         from it"
                            .into(),
                    ));
                }
            });
        }
        let mut result = BuildResult {
            platforms: convs.iter().map(|c| c.platform.clone()).collect(),
            ..BuildResult::default()
        };
        if req.outputs.is_empty() {
            return Ok(result);
        }
        let epoch = convs.iter().find_map(|c| c.epoch);
        // The image's layers, per compression the outputs ask for (new layers are made in it).
        let mut images: Vec<(kiln_exporter::Compression, Vec<PlatformImage>)> = Vec::new();
        for (i, out) in req.outputs.iter().enumerate() {
            let step = Step::start(
                progress,
                export::step_name(out),
                &format!("{lease}:export:{i}"),
            );
            let done = async {
                let compression = out.compression.compression;
                if export::needs_image(out) && !images.iter().any(|(c, _)| *c == compression) {
                    let started = SystemTime::now();
                    let mut made = Vec::with_capacity(convs.len());
                    for (conv, root) in convs.iter().zip(&roots) {
                        let layers = crate::layers::layers_for(
                            self.worker(),
                            root.as_ref(),
                            epoch,
                            lease,
                            &out.compression,
                        )
                        .await?;
                        made.push(PlatformImage {
                            platform: conv.platform.clone(),
                            config: serde_json::to_vec(&conv.image).unwrap_or_default(),
                            layers,
                        });
                    }
                    images.push((compression, made));
                    step.status("exporting layers", 0, started);
                }
                let image = images
                    .iter()
                    .find(|(c, _)| *c == compression)
                    .map(|(_, i)| i.as_slice())
                    .unwrap_or_default();
                export::run_output(
                    self.worker(),
                    &step,
                    out,
                    image,
                    convs,
                    &roots,
                    epoch,
                    lease,
                    &mut result,
                )
                .await
            }
            .await;
            match done {
                Ok(()) => step.done(),
                Err(e) => {
                    step.fail(&e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(result)
    }
}

/// Sends the conversion's build check warnings as BuildKit's frontend does (one vertex
/// warning each, with the Dockerfile as source).
fn send_warnings(progress: &ProgressSender, req: &BuildRequest, conv: &ConvertResult) {
    if conv.warnings.is_empty() {
        return;
    }
    let vertex = conv
        .definition
        .output
        .as_ref()
        .map(|o| o.digest.to_string())
        .unwrap_or_default();
    for w in &conv.warnings {
        progress.warning(VertexWarning {
            vertex: vertex.clone(),
            level: 1,
            short: w.short().into_bytes(),
            detail: vec![w.rule.description.as_bytes().to_vec()],
            url: w.rule.url.unwrap_or_default().to_string(),
            source_info: Some(SourceInfo {
                filename: req.dockerfile_name.clone(),
                data: req.dockerfile.clone(),
                language: "Dockerfile".into(),
            }),
            range: w
                .location
                .iter()
                .map(|r| Range {
                    start: kiln_progress::Position {
                        line: r.start.line as i32,
                        character: r.start.character as i32,
                    },
                    end: kiln_progress::Position {
                        line: r.end.line as i32,
                        character: r.end.character as i32,
                    },
                })
                .collect(),
        });
    }
}

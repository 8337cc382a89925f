//! [`WorkerResolver`]: the frontend's [`ImageMetaResolver`] through the worker's registry
//! client (kiln.toml mirrors, credentials), for conversions running on a blocking thread.

use kiln_frontend::{ImageMetaResolver, ResolvedImage};
use kiln_platforms::Platform;
use kiln_progress::ProgressSender;
use kiln_worker::Worker;
use tokio::runtime::Handle;

use crate::progress::Step;

/// Resolves base images with [`Worker::resolve_image_config`] (memoized per worker), shown
/// as BuildKit shows it: one `[internal] load metadata for <image>` vertex per image (with the
/// platform in the brackets when several platforms are built).
///
/// Contract: call it from a thread that is not a runtime worker (inside
/// `tokio::task::spawn_blocking`): it blocks on `handle`.
#[derive(Clone)]
pub struct WorkerResolver {
    worker: Worker,
    handle: Handle,
    progress: Option<Progress>,
}

/// Where the resolver's vertices go.
#[derive(Clone)]
struct Progress {
    sender: ProgressSender,
    /// Makes the vertices of one build distinct from another's.
    build: String,
    /// Several platforms are built: names carry the platform.
    multi_platform: bool,
}

impl std::fmt::Debug for WorkerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerResolver").finish_non_exhaustive()
    }
}

impl WorkerResolver {
    /// A resolver over `worker`, blocking on `handle`.
    pub fn new(worker: Worker, handle: Handle) -> WorkerResolver {
        WorkerResolver {
            worker,
            handle,
            progress: None,
        }
    }

    /// Reports each resolve as a vertex on `sender`; `build` identifies the build (vertices
    /// of the same image in one build are one vertex).
    pub(crate) fn with_progress(
        mut self,
        sender: ProgressSender,
        build: &str,
        multi_platform: bool,
    ) -> WorkerResolver {
        self.progress = Some(Progress {
            sender,
            build: build.to_string(),
            multi_platform,
        });
        self
    }
}

impl ImageMetaResolver for WorkerResolver {
    fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let parsed = kiln_reference::parse_normalized_named(reference)?;
        let step = self.progress.as_ref().map(|p| {
            let shown = parsed.clone().tag_name_only().to_string();
            let prefix = if p.multi_platform {
                format!("[{} internal]", kiln_platforms::format(platform))
            } else {
                "[internal]".to_string()
            };
            let name = format!("{prefix} load metadata for {shown}");
            Step::start(&p.sender, &name, &format!("{}:{name}", p.build))
        });
        let resolved = self
            .handle
            .block_on(self.worker.resolve_image_config(&parsed, platform));
        let r = match (resolved, step) {
            (Ok(r), step) => {
                if let Some(step) = step {
                    step.done();
                }
                r
            }
            (Err(e), Some(step)) => {
                step.fail(&e.to_string());
                return Err(e.into());
            }
            (Err(e), None) => return Err(e.into()),
        };
        Ok(ResolvedImage {
            reference: r.reference.to_string(),
            digest: r.manifest_digest,
            config: r.config.to_vec(),
        })
    }
}

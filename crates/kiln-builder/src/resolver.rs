//! [`WorkerResolver`]: the frontend's [`ImageMetaResolver`] through the worker's registry
//! client (kiln.toml mirrors, credentials), for conversions running on a blocking thread.

use kiln_frontend::{ImageMetaResolver, ResolvedImage};
use kiln_platforms::Platform;
use kiln_worker::Worker;
use tokio::runtime::Handle;

/// Resolves base images with [`Worker::resolve_image_config`] (memoized per worker).
///
/// Contract: call it from a thread that is not a runtime worker (inside
/// `tokio::task::spawn_blocking`): it blocks on `handle`.
#[derive(Clone)]
pub struct WorkerResolver {
    worker: Worker,
    handle: Handle,
}

impl std::fmt::Debug for WorkerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerResolver").finish_non_exhaustive()
    }
}

impl WorkerResolver {
    /// A resolver over `worker`, blocking on `handle`.
    pub fn new(worker: Worker, handle: Handle) -> WorkerResolver {
        WorkerResolver { worker, handle }
    }
}

impl ImageMetaResolver for WorkerResolver {
    fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let parsed = kiln_reference::parse_normalized_named(reference)?;
        let r = self
            .handle
            .block_on(self.worker.resolve_image_config(&parsed, platform))?;
        Ok(ResolvedImage {
            reference: r.reference.to_string(),
            digest: r.manifest_digest,
            config: r.config.to_vec(),
        })
    }
}

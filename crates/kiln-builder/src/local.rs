//! Local build contexts (`local://<name>`): scanned once per build with the `.dockerignore`
//! excludes and the followed paths, checksummed per COPY selector for cache keys, and
//! materialised (synced into a directory, or a snapshot for RUN bind mounts) only when a step
//! that reads them actually runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kiln_context::{HashCache, Hasher, ScanOptions, Selector, Tree};
use kiln_solver::{BoxError, ContentSelector};
use kiln_worker::{SnapshotRef, Worker};
use tokio::sync::Mutex as AsyncMutex;

/// One build's view of one local context directory.
///
/// Invariant: the tree is scanned at most once per session, with the patterns of the first
/// source vertex that asks (a build's context vertices all carry the same patterns); the hash
/// cache is saved by [`LocalContext::finish`].
#[derive(Debug)]
pub(crate) struct LocalContext {
    /// The context directory on the host.
    dir: PathBuf,
    /// Where the persistent digest cache lives.
    cache_file: PathBuf,
    /// Where the context is synced for file ops (persistent: later syncs rewrite only changes).
    sync_dir: PathBuf,
    state: AsyncMutex<State>,
    hashes: Mutex<Option<HashCache>>,
}

#[derive(Debug, Default)]
struct State {
    tree: Option<Arc<Tree>>,
    synced: bool,
    snapshot: Option<SnapshotRef>,
}

impl LocalContext {
    /// A context for `dir`, keeping its state under `state_root`.
    pub(crate) fn new(dir: PathBuf, state_root: &Path) -> LocalContext {
        let cache_file = HashCache::file_for(&state_root.join("context-hashes"), &dir);
        let name = cache_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "context".to_string());
        let sync_dir = state_root.join("context-sync").join(name);
        LocalContext {
            dir,
            cache_file,
            sync_dir,
            state: AsyncMutex::new(State::default()),
            hashes: Mutex::new(None),
        }
    }

    /// The scanned tree (scanning it on first use with `opts`).
    pub(crate) async fn tree(&self, opts: &ScanOptions) -> Result<Arc<Tree>, BoxError> {
        let mut state = self.state.lock().await;
        if let Some(t) = &state.tree {
            return Ok(t.clone());
        }
        let dir = self.dir.clone();
        let opts = opts.clone();
        let tree = tokio::task::spawn_blocking(move || Tree::scan(&dir, &opts))
            .await
            .map_err(|e| format!("scanning the build context: {e}"))??;
        let tree = Arc::new(tree);
        state.tree = Some(tree.clone());
        Ok(tree)
    }

    fn scanned(state: &State) -> Result<Arc<Tree>, BoxError> {
        state.tree.clone().ok_or_else(|| {
            "the build context was used before it was loaded (a build graph without its \
             context source vertex)"
                .into()
        })
    }

    /// The checksum of `selectors` in the scanned tree.
    pub(crate) async fn checksum(
        self: &Arc<Self>,
        selectors: &[ContentSelector],
    ) -> Result<kiln_graph::Digest, BoxError> {
        let tree = Self::scanned(&*self.state.lock().await)?;
        let this = self.clone();
        let selectors = selectors.to_vec();
        tokio::task::spawn_blocking(move || this.checksum_blocking(&tree, &selectors))
            .await
            .map_err(|e| format!("checksumming the build context: {e}"))?
    }

    fn checksum_blocking(
        &self,
        tree: &Tree,
        selectors: &[ContentSelector],
    ) -> Result<kiln_graph::Digest, BoxError> {
        let mut slot = self
            .hashes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = match slot.take() {
            Some(c) => c,
            None => HashCache::open(&self.cache_file).unwrap_or_else(|e| {
                tracing::warn!("context digest cache unusable, rehashing: {e}");
                HashCache::in_memory()
            }),
        };
        let mut hasher = Hasher::new(tree, cache);
        let result = checksum_all(&mut hasher, selectors);
        *slot = Some(hasher.into_cache());
        result
    }

    /// The context synced into a directory (once per session) for file ops to read.
    pub(crate) async fn synced_dir(&self) -> Result<PathBuf, BoxError> {
        let mut state = self.state.lock().await;
        if !state.synced {
            let tree = Self::scanned(&state)?;
            let target = self.sync_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
                std::fs::create_dir_all(&target)
                    .map_err(|e| format!("creating {}: {e}", target.display()))?;
                tree.sync_to(&target)?;
                Ok(())
            })
            .await
            .map_err(|e| format!("syncing the build context: {e}"))??;
            state.synced = true;
        }
        Ok(self.sync_dir.clone())
    }

    /// The context as a committed snapshot (once per session), for RUN bind mounts and merges.
    pub(crate) async fn snapshot(&self, worker: &Worker) -> Result<SnapshotRef, BoxError> {
        if let Some(s) = &self.state.lock().await.snapshot {
            return Ok(s.clone());
        }
        let dir = self.synced_dir().await?;
        let active = worker.with_writable(None).await?;
        let dest = active.path().to_path_buf();
        let copied = tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
            let src = kiln_fileop::Root::open(&dir)?;
            let dst = kiln_fileop::Root::open(&dest)?;
            let opts = kiln_fileop::CopyOptions {
                copy_dir_contents: true,
                ..kiln_fileop::CopyOptions::default()
            };
            kiln_fileop::copy(&src, "/", &dst, "/", &opts)?;
            Ok(())
        })
        .await
        .map_err(|e| format!("copying the build context: {e}"))?;
        if let Err(e) = copied {
            let _ = active.abort().await;
            return Err(e);
        }
        let snap = active.commit().await?;
        self.state.lock().await.snapshot = Some(snap.clone());
        Ok(snap)
    }

    /// Forgets digests of files no longer present and saves the digest cache.
    pub(crate) async fn finish(&self) {
        let tree = self.state.lock().await.tree.clone();
        let cache = self
            .hashes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let (Some(tree), Some(mut cache)) = (tree, cache) {
            let saved = tokio::task::spawn_blocking(move || {
                cache.retain_present(&tree);
                cache.save()
            })
            .await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("saving the context digest cache: {e}"),
                Err(e) => tracing::warn!("saving the context digest cache: {e}"),
            }
        }
    }
}

/// Checksums several selectors of one tree into one digest (a single selector's digest as is).
pub(crate) fn checksum_all<C: kiln_context::DigestCache>(
    hasher: &mut Hasher<'_, C>,
    selectors: &[ContentSelector],
) -> Result<kiln_graph::Digest, BoxError> {
    let mut parts = Vec::with_capacity(selectors.len());
    for s in selectors {
        let sel = Selector {
            path: s.path.clone(),
            follow_links: s.follow_links,
            wildcard: s.wildcard,
            include_patterns: s.include_patterns.clone(),
            exclude_patterns: s.exclude_patterns.clone(),
        };
        parts.push(hasher.checksum(&sel)?.to_string());
    }
    match parts.as_slice() {
        [one] => Ok(kiln_graph::Digest::parse(one)?),
        _ => Ok(kiln_graph::Digest::of(parts.join("\n").as_bytes())),
    }
}

/// Scan options from a `local://` source's attributes (JSON string lists).
pub(crate) fn scan_options(attrs: &std::collections::BTreeMap<String, String>) -> ScanOptions {
    use kiln_graph::op::attr;
    let list = |key: &str| -> Vec<String> {
        attrs
            .get(key)
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
            .unwrap_or_default()
    };
    let mut includes = list(attr::LOCAL_FOLLOW_PATHS);
    includes.extend(list(attr::LOCAL_INCLUDE_PATTERNS));
    ScanOptions {
        excludes: list(attr::LOCAL_EXCLUDE_PATTERNS),
        includes,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn scan_options_come_from_the_source_attributes() {
        use kiln_graph::op::attr;
        let attrs = BTreeMap::from([
            (
                attr::LOCAL_EXCLUDE_PATTERNS.to_string(),
                r#"["*.log"]"#.to_string(),
            ),
            (
                attr::LOCAL_FOLLOW_PATHS.to_string(),
                r#"["a","src"]"#.to_string(),
            ),
            (
                attr::LOCAL_SHARED_KEY_HINT.to_string(),
                "context".to_string(),
            ),
        ]);
        let o = scan_options(&attrs);
        assert_eq!(o.excludes, vec!["*.log"]);
        assert_eq!(o.includes, vec!["a", "src"]);
        assert_eq!(
            scan_options(&BTreeMap::new()).includes,
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn checksums_cover_only_the_selected_paths() {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "a\n").unwrap();
        std::fs::write(dir.path().join("b"), "b\n").unwrap();
        let sel = |p: &str| ContentSelector {
            path: p.into(),
            follow_links: true,
            ..ContentSelector::default()
        };
        let sum = |content_b: &'static str| {
            let dir = dir.path().to_path_buf();
            let state = state.path().to_path_buf();
            let sel = sel("/a");
            async move {
                std::fs::write(dir.join("b"), content_b).unwrap();
                let ctx = Arc::new(LocalContext::new(dir, &state));
                ctx.tree(&ScanOptions::default()).await.unwrap();
                let d = ctx.checksum(&[sel]).await.unwrap();
                ctx.finish().await;
                d
            }
        };
        let first = sum("b\n").await;
        assert_eq!(first, sum("changed\n").await);
        std::fs::write(dir.path().join("a"), "a changed\n").unwrap();
        assert_ne!(first, sum("changed\n").await);
    }
}

//! `https://` and `http://` sources (`ADD <url> <dest>`), like BuildKit's http source: the
//! download is one file in a snapshot of its own, named by `http.filename`, mode `http.perm`
//! (0600 by default), owned by `http.uid`/`http.gid`, with the `Last-Modified` time as mtime.
//!
//! The cache key is the content's digest (with the file's name, mode and owner), so a URL
//! whose content did not change hits the cache and one that changed does not. With
//! `http.checksum` (`ADD --checksum=`) the key comes from the checksum without downloading,
//! and the download is verified against it when it happens.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use kiln_graph::op::attr;
use kiln_solver::{BoxError, BoxFuture, CacheMap, OpContext, OpHandler, ResultRef};
use kiln_worker::Worker;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::adapter::op_digest;
use crate::refs;

/// A downloaded file, kept in the worker's scratch space until the build ends.
struct Fetched {
    file: tempfile::NamedTempFile,
    digest: String,
    modified: Option<SystemTime>,
}

/// The handler of one http source vertex.
pub(crate) struct HttpHandler {
    worker: Worker,
    url: String,
    attrs: BTreeMap<String, String>,
    fetched: tokio::sync::OnceCell<Arc<Fetched>>,
}

/// What the cache key covers besides the content.
#[derive(Serialize)]
struct KeyParts<'a> {
    content: &'a str,
    filename: &'a str,
    perm: u32,
    uid: u32,
    gid: u32,
}

impl HttpHandler {
    pub(crate) fn new(worker: Worker, url: String, attrs: BTreeMap<String, String>) -> Self {
        HttpHandler {
            worker,
            url,
            attrs,
            fetched: tokio::sync::OnceCell::new(),
        }
    }

    fn filename(&self) -> Result<&str, BoxError> {
        let name = self
            .attrs
            .get(attr::HTTP_FILENAME)
            .map(String::as_str)
            .unwrap_or("download");
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(
                format!("{}: invalid file name {name:?} for the download", self.url).into(),
            );
        }
        Ok(name)
    }

    fn number(&self, key: &str, radix: u32, default: u32) -> Result<u32, BoxError> {
        match self.attrs.get(key) {
            None => Ok(default),
            Some(v) => u32::from_str_radix(v, radix)
                .map_err(|_| format!("{}: invalid {key} {v:?}", self.url).into()),
        }
    }

    fn checksum(&self) -> Option<&str> {
        self.attrs
            .get(attr::HTTP_CHECKSUM)
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    fn key(&self, content: &str) -> Result<kiln_graph::Digest, BoxError> {
        Ok(op_digest(
            "http",
            &KeyParts {
                content,
                filename: self.filename()?,
                perm: self.number(attr::HTTP_PERM, 8, 0o600)?,
                uid: self.number(attr::HTTP_UID, 10, 0)?,
                gid: self.number(attr::HTTP_GID, 10, 0)?,
            },
            None,
        ))
    }

    /// Downloads the URL once per build, verifying `http.checksum` when given.
    async fn fetch(&self) -> Result<Arc<Fetched>, BoxError> {
        self.fetched
            .get_or_try_init(|| async {
                let fetched = download(&self.url, &self.worker).await?;
                if let Some(want) = self.checksum()
                    && want != fetched.digest
                {
                    return Err(format!(
                        "digest mismatch for {}: the checksum is {want} but the content is {}",
                        self.url, fetched.digest
                    )
                    .into());
                }
                Ok(Arc::new(fetched))
            })
            .await
            .cloned()
    }
}

/// Downloads `url` into a file in the worker's scratch directory, hashing it on the way.
async fn download(url: &str, worker: &Worker) -> Result<Fetched, BoxError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("failed to load {url}: {}", error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("failed to load {url}: invalid response status {status}").into());
    }
    let modified = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let tmp_dir = worker.root().join("tmp");
    std::fs::create_dir_all(&tmp_dir)
        .map_err(|e| format!("creating {}: {e}", tmp_dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&tmp_dir)
        .map_err(|e| format!("creating a file in {}: {e}", tmp_dir.display()))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("failed to load {url}: {}", error_chain(&e)))?
    {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| format!("writing the download of {url}: {e}"))?;
    }
    file.flush()
        .map_err(|e| format!("writing the download of {url}: {e}"))?;
    let digest = format!("sha256:{:x}", hasher.finalize());
    Ok(Fetched {
        file,
        digest,
        modified,
    })
}

/// An error with its causes (`error sending request: … : connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

impl OpHandler for HttpHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        Box::pin(async move {
            let content = match self.checksum() {
                Some(c) => c.to_string(),
                None => self.fetch().await?.digest.clone(),
            };
            Ok(CacheMap {
                digest: self.key(&content)?,
                deps: Vec::new(),
            })
        })
    }

    fn exec<'a>(
        &'a self,
        _ctx: &'a OpContext,
        _inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let fetched = self.fetch().await?;
            let name = self.filename()?.to_string();
            let perm = self.number(attr::HTTP_PERM, 8, 0o600)?;
            let uid = self.number(attr::HTTP_UID, 10, 0)?;
            let gid = self.number(attr::HTTP_GID, 10, 0)?;
            let active = self.worker.with_writable(None).await?;
            let dest = active.path().join(&name);
            let src = fetched.file.path().to_path_buf();
            let modified = fetched.modified;
            let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                use std::os::unix::fs::PermissionsExt;
                std::fs::copy(&src, &dest)?;
                std::os::unix::fs::chown(&dest, Some(uid), Some(gid))?;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(perm))?;
                if let Some(t) = modified {
                    let f = std::fs::File::options().write(true).open(&dest)?;
                    f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))?;
                }
                Ok(())
            })
            .await
            .map_err(|e| format!("storing the download of {}: {e}", self.url))?;
            if let Err(e) = written {
                let _ = active.abort().await;
                return Err(format!("storing the download of {}: {e}", self.url).into());
            }
            let snap = active.commit().await?;
            Ok(vec![refs::snapshot_ref(Some(&snap))])
        })
    }
}

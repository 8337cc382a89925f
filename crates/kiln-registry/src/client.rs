//! The registry client: resolve a reference to a descriptor, fetch verified manifests and
//! blobs (from mirrors first), pick the manifest for a platform, push blobs and manifests to
//! the origin, check a login.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use kiln_config::Config;
use kiln_platforms::{MatchComparer, Platform};
use kiln_reference::Reference;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};

use crate::auth::token::repository_scope;
use crate::auth::{CredentialStore, NoCredentials};
use crate::digest::{Digest, Mismatch, Verifier};
use crate::error::{Error, ErrorKind, Operation};
use crate::media::{
    self, ConfigPlatform, Descriptor, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, Manifest,
    ManifestDocument,
};
use crate::transport::{Body, Endpoint, ReadError, Request, Transport, read_limited};

/// The digest header registries send with manifests and blobs.
const CONTENT_DIGEST: &str = "docker-content-digest";

/// The largest image config [`Client::resolve_platform`] reads.
pub const MAX_CONFIG_SIZE: u64 = 8 << 20;

/// How deep indexes may nest before kiln gives up.
const MAX_INDEX_DEPTH: usize = 4;

/// A registry client. Cheap to clone (shared state); safe to use from many tasks at once.
///
/// Pulls (`resolve*`, `fetch_*`) try each mirror configured for the registry in order, then
/// the registry itself; pushes go to the registry itself only. Every byte handed out as
/// complete has been checked against its digest and size.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Arc<Transport>,
}

/// A reference resolved to the descriptor of its manifest or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The reference, with `latest` added when it named neither tag nor digest.
    pub reference: Reference,
    /// The manifest or index: media type, digest, size.
    pub descriptor: Descriptor,
    /// The host that answered (a mirror or the registry itself).
    pub host: String,
}

/// The image for one platform, with everything needed to pull its layers.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The reference, with `latest` added when it named neither tag nor digest.
    pub reference: Reference,
    /// The index the reference named, with its bytes, when it named one.
    pub index: Option<(Descriptor, Bytes)>,
    /// The chosen manifest, with `platform` filled in.
    pub descriptor: Descriptor,
    /// The manifest's bytes (verified).
    pub manifest_bytes: Bytes,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The image config's bytes (verified).
    pub config: Bytes,
    /// The platform of the chosen manifest.
    pub platform: Platform,
}

/// Content to push as a blob.
#[derive(Debug, Clone)]
pub enum BlobData {
    Bytes(Bytes),
    /// A file whose whole content is the blob (read again if a request must be retried).
    File(PathBuf),
}

/// Options of [`Client::push_blob`].
#[derive(Debug, Clone, Default)]
pub struct PushBlobOptions {
    /// A repository of the same registry that already has the blob: the registry is asked to
    /// mount it from there instead of receiving the bytes again.
    pub mount_from: Option<Reference>,
    /// Upload in `PATCH` chunks of this many bytes instead of one `PUT`.
    pub chunk_size: Option<u64>,
}

/// How a blob came to be in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedBlob {
    /// It was there already.
    Existed,
    /// The registry mounted it from the `mount_from` repository.
    Mounted,
    /// Its bytes were uploaded.
    Uploaded,
}

/// A blob being downloaded. Chunks are handed out as they arrive, but only a final
/// `Ok(None)` from [`BlobReader::next_chunk`] says the content matched its digest and size:
/// a caller must not commit what it wrote before seeing it.
#[derive(Debug)]
pub struct BlobReader {
    response: reqwest::Response,
    verifier: Option<Verifier>,
    descriptor: Descriptor,
    host: String,
    target: String,
}

impl BlobReader {
    /// The descriptor being fetched.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The host serving it.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn fail(&self, kind: ErrorKind) -> Error {
        Error::new(Operation::Pull, self.target.clone(), kind)
    }

    /// The next chunk; `Ok(None)` at the end once the digest and size are verified. After an
    /// error or the end, keeps returning the same outcome's `Ok(None)`/error-free `None`.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let Some(verifier) = self.verifier.as_mut() else {
            return Ok(None);
        };
        match self.response.chunk().await {
            Ok(Some(chunk)) => match verifier.update(&chunk) {
                Ok(()) => Ok(Some(chunk)),
                Err(m) => {
                    self.verifier = None;
                    Err(self.fail(mismatch(&self.host, m)))
                }
            },
            Ok(None) => {
                let Some(v) = self.verifier.take() else {
                    return Ok(None);
                };
                v.finish()
                    .map(|()| None)
                    .map_err(|m| self.fail(mismatch(&self.host, m)))
            }
            Err(e) => {
                let seen = verifier.seen();
                self.verifier = None;
                Err(self.fail(ErrorKind::Connect {
                    url: self.host.clone(),
                    reason: format!("the download broke after {seen} bytes ({e})"),
                    hint: "retry".to_string(),
                }))
            }
        }
    }

    /// Reads the whole (verified) blob into memory; fails beyond `limit` bytes.
    pub async fn read_all(mut self, limit: u64) -> Result<Bytes, Error> {
        if self.descriptor.size > limit {
            return Err(self.fail(ErrorKind::TooLarge {
                host: self.host.clone(),
                limit,
            }));
        }
        let mut out = Vec::with_capacity(usize::try_from(self.descriptor.size).unwrap_or(0));
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// Copies the blob into `writer` and returns its size. The bytes written are only valid
    /// when this returns `Ok`; on error the caller must discard what it wrote.
    pub async fn copy_to<W>(mut self, writer: &mut W) -> Result<u64, Error>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::AsyncWriteExt;
        let mut total = 0u64;
        while let Some(chunk) = self.next_chunk().await? {
            writer.write_all(&chunk).await.map_err(|source| {
                self.fail(ErrorKind::Io {
                    path: "the download destination".to_string(),
                    source,
                })
            })?;
            total += chunk.len() as u64;
        }
        writer.flush().await.map_err(|source| {
            self.fail(ErrorKind::Io {
                path: "the download destination".to_string(),
                source,
            })
        })?;
        Ok(total)
    }

    /// The blob as a stream of chunks; the stream ends without error only when the content
    /// was verified.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, Error>> + Send {
        futures_util::stream::unfold(Some(self), |reader| async move {
            let mut reader = reader?;
            match reader.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

fn mismatch(host: &str, m: Mismatch) -> ErrorKind {
    match m {
        Mismatch::TooLong { expected } => ErrorKind::SizeMismatch {
            host: host.to_string(),
            expected,
            actual: "got more".to_string(),
        },
        Mismatch::TooShort { expected, actual } => ErrorKind::SizeMismatch {
            host: host.to_string(),
            expected,
            actual: format!("got {actual}"),
        },
        Mismatch::Digest { expected, actual } => ErrorKind::DigestMismatch {
            host: host.to_string(),
            expected,
            actual,
        },
    }
}

/// The media type of a `Content-Type` value, without parameters.
fn media_type_of(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// The `Content-Length` header itself (`Response::content_length` is the body's length, 0
/// for `HEAD`).
fn header_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn header_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get(CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Runs `attempt` on each endpoint in turn (mirrors, then the registry itself): the first
/// success wins. When all fail, the error is the last answer a host gave: the registry's own
/// when it answered, since it is the authority on the image (a mirror that is down or lacks
/// the image only costs a try; the failures of mirrors are logged at debug level). When the
/// registry could not be reached at all (no network to Docker Hub, a dead proxy), a mirror's
/// answer (`not found`, `denied`...) is the error rather than the connection failure, as
/// containerd's resolver ranks an HTTP answer above a failed connection.
async fn first_success<T, F, Fut>(
    endpoints: &[Arc<Endpoint>],
    mut attempt: F,
) -> Result<T, ErrorKind>
where
    F: FnMut(Arc<Endpoint>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ErrorKind>>,
{
    let mut errors: Vec<ErrorKind> = Vec::new();
    for ep in endpoints {
        match attempt(ep.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                tracing::debug!(host = %ep.host(), error = %e, "trying the next host");
                errors.push(e);
            }
        }
    }
    Err(pick_error(errors))
}

/// Whether an error means the host never answered (so it says nothing about the image).
fn unreachable(e: &ErrorKind) -> bool {
    matches!(
        e,
        ErrorKind::Connect { .. } | ErrorKind::Tls { .. } | ErrorKind::Timeout { .. }
    )
}

/// The error to report after every host failed, in the order tried: the last answer, else the
/// last failure (see [`first_success`]).
fn pick_error(mut errors: Vec<ErrorKind>) -> ErrorKind {
    let at = errors
        .iter()
        .rposition(|e| !unreachable(e))
        .or_else(|| errors.len().checked_sub(1));
    match at {
        Some(i) => errors.swap_remove(i),
        None => ErrorKind::InvalidInput("no registry host to contact".to_string()),
    }
}

impl Client {
    /// A client with `config`'s registry settings and `credentials`.
    pub fn new(config: Arc<Config>, credentials: Arc<dyn CredentialStore>) -> Client {
        Client {
            transport: Arc::new(Transport::new(config, credentials)),
        }
    }

    /// A client that never sends credentials.
    pub fn anonymous(config: Arc<Config>) -> Client {
        Client::new(config, Arc::new(NoCredentials))
    }

    /// The config the client follows.
    pub fn config(&self) -> &Config {
        self.transport.config()
    }

    fn url(ep: &Endpoint, path: &str, rest: &str) -> Result<Url, ErrorKind> {
        let text = format!("{}/{path}/{rest}", ep.base_url());
        Url::parse(&text)
            .map_err(|e| ErrorKind::InvalidInput(format!("invalid registry URL {text}: {e}")))
    }

    fn endpoints(&self, domain: &str, push: bool) -> Result<Vec<Arc<Endpoint>>, ErrorKind> {
        let mut eps = self.transport.endpoints(domain)?;
        if push {
            eps.retain(|e| e.plan.can_push());
        }
        Ok(eps)
    }

    async fn failure(
        &self,
        resp: crate::transport::Response,
        registry: &str,
        ep: &Endpoint,
    ) -> ErrorKind {
        self.transport
            .failure(
                resp.inner,
                registry,
                ep.host(),
                &ep.config_key,
                resp.authenticated,
            )
            .await
    }

    /// Resolves a reference to the descriptor of its manifest or index: `HEAD` on the
    /// manifest, then `GET` when the registry does not say the digest, size or type. A
    /// reference with a digest is verified against it.
    pub async fn resolve(&self, reference: &Reference) -> Result<Resolved, Error> {
        let reference = with_default_tag(reference);
        let target = reference.to_string();
        let err = |k| Error::new(Operation::Pull, target.clone(), k);
        let domain = reference.domain().to_string();
        let eps = self.endpoints(&domain, false).map_err(err)?;
        let (descriptor, host) = first_success(&eps, |ep| {
            let reference = &reference;
            let domain = &domain;
            async move {
                let d = self.resolve_on(&ep, domain, reference).await?;
                Ok((d, ep.host().to_string()))
            }
        })
        .await
        .map_err(err)?;
        Ok(Resolved {
            reference,
            descriptor,
            host,
        })
    }

    async fn resolve_on(
        &self,
        ep: &Endpoint,
        registry: &str,
        reference: &Reference,
    ) -> Result<Descriptor, ErrorKind> {
        let wanted: Option<Digest> = match reference.digest() {
            Some(d) => Some(
                d.parse()
                    .map_err(|e| ErrorKind::InvalidInput(format!("{e}")))?,
            ),
            None => None,
        };
        let object = match (&wanted, reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let scopes = vec![repository_scope(reference.path(), false)];
        let url = Self::url(ep, reference.path(), &format!("manifests/{object}"))?;
        let head =
            Request::new(Method::HEAD, url.clone(), scopes.clone()).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.transport.send(ep, registry, &head).await?;
        let status = resp.inner.status();
        if status.is_success() {
            let headers = resp.inner.headers();
            let media_type = media_type_of(headers);
            let digest = header_digest(headers);
            let size = header_length(headers).filter(|l| *l > 0);
            if let (Some(w), Some(d)) = (&wanted, &digest)
                && w != d
            {
                return Err(ErrorKind::InvalidResponse {
                    host: ep.host().to_string(),
                    reason: format!("asked for manifest {w}, the registry named {d}"),
                });
            }
            let digest = wanted.clone().or(digest);
            if let (Some(digest), Some(size)) = (digest, size)
                && (media::is_index(&media_type) || media::is_manifest(&media_type))
            {
                return Ok(descriptor(media_type, digest, size));
            }
        }
        // GET the manifest to learn what HEAD did not say, or, when HEAD failed, to read the
        // registry's error codes (a HEAD answer has no body).
        let get = Request::new(Method::GET, url, scopes).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.transport.send(ep, registry, &get).await?;
        if !resp.inner.status().is_success() {
            return Err(self.failure(resp, registry, ep).await);
        }
        let headers = resp.inner.headers().clone();
        let data = self
            .read_manifest_body(resp.inner, ep, MAX_MANIFEST_SIZE)
            .await?;
        let digest = match (&wanted, header_digest(&headers)) {
            (Some(w), _) => {
                let actual = Digest::compute(w.algorithm(), &data);
                if &actual != w {
                    return Err(ErrorKind::DigestMismatch {
                        host: ep.host().to_string(),
                        expected: w.clone(),
                        actual,
                    });
                }
                actual
            }
            (None, Some(h)) => {
                let actual = Digest::compute(h.algorithm(), &data);
                if actual != h {
                    return Err(ErrorKind::DigestMismatch {
                        host: ep.host().to_string(),
                        expected: h,
                        actual,
                    });
                }
                actual
            }
            (None, None) => Digest::sha256(&data),
        };
        let mut media_type = media_type_of(&headers);
        if !media::is_index(&media_type) && !media::is_manifest(&media_type) {
            media_type = match media::parse_manifest(&media_type, &data) {
                Ok(ManifestDocument::Index(i)) => {
                    i.media_type.unwrap_or_else(|| media::OCI_INDEX.to_string())
                }
                Ok(ManifestDocument::Manifest(m)) => m
                    .media_type
                    .unwrap_or_else(|| media::OCI_MANIFEST.to_string()),
                Err(reason) => {
                    return Err(ErrorKind::InvalidResponse {
                        host: ep.host().to_string(),
                        reason,
                    });
                }
            };
        }
        Ok(descriptor(media_type, digest, data.len() as u64))
    }

    async fn read_manifest_body(
        &self,
        resp: reqwest::Response,
        ep: &Endpoint,
        limit: u64,
    ) -> Result<Bytes, ErrorKind> {
        let url = resp.url().clone();
        read_limited(resp, limit, ep.host())
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => ErrorKind::TooLarge {
                    host: ep.host().to_string(),
                    limit,
                },
                ReadError::Transport(e) => self.transport.transport_error(&e, ep, &url),
            })
    }

    /// Fetches a manifest or index by its descriptor and verifies its size and digest.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<Bytes, Error> {
        let target = format!("{}@{}", reference.name(), desc.digest);
        let err = |k| Error::new(Operation::Pull, target.clone(), k);
        if desc.size > MAX_MANIFEST_SIZE {
            return Err(err(ErrorKind::TooLarge {
                host: reference.domain().to_string(),
                limit: MAX_MANIFEST_SIZE,
            }));
        }
        let domain = reference.domain().to_string();
        let eps = self.endpoints(&domain, false).map_err(err)?;
        first_success(&eps, |ep| {
            let domain = &domain;
            async move {
                let url = Self::url(&ep, reference.path(), &format!("manifests/{}", desc.digest))?;
                let accept = format!("{}, {MANIFEST_ACCEPT}", desc.media_type);
                let req = Request::new(
                    Method::GET,
                    url,
                    vec![repository_scope(reference.path(), false)],
                )
                .header(ACCEPT, &accept);
                let resp = self.transport.send(&ep, domain, &req).await?;
                if !resp.inner.status().is_success() {
                    return Err(self.failure(resp, domain, &ep).await);
                }
                // One byte more than expected is enough to detect a longer body.
                let data = self
                    .read_manifest_body(resp.inner, &ep, desc.size + 1)
                    .await
                    .map_err(|e| match e {
                        ErrorKind::TooLarge { host, .. } => ErrorKind::SizeMismatch {
                            host,
                            expected: desc.size,
                            actual: "got more".to_string(),
                        },
                        other => other,
                    })?;
                verify(&data, desc, ep.host())?;
                Ok(data)
            }
        })
        .await
        .map_err(err)
    }

    /// Starts downloading a blob (layer, config) by its descriptor. See [`BlobReader`]: the
    /// content counts as fetched only once the reader reports its verified end.
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<BlobReader, Error> {
        let target = blob_target(reference, desc);
        let err = |k| Error::new(Operation::Pull, target.clone(), k);
        let domain = reference.domain().to_string();
        let eps = self.endpoints(&domain, false).map_err(err)?;
        let (response, host) = first_success(&eps, |ep| {
            let domain = &domain;
            async move {
                let url = Self::url(&ep, reference.path(), &format!("blobs/{}", desc.digest))?;
                let req = Request::new(
                    Method::GET,
                    url,
                    vec![repository_scope(reference.path(), false)],
                );
                let resp = self.transport.send(&ep, domain, &req).await?;
                if !resp.inner.status().is_success() {
                    return Err(self.failure(resp, domain, &ep).await);
                }
                if let Some(len) = resp.inner.content_length()
                    && len != desc.size
                {
                    return Err(ErrorKind::SizeMismatch {
                        host: ep.host().to_string(),
                        expected: desc.size,
                        actual: format!("the registry announced {len}"),
                    });
                }
                Ok((resp.inner, ep.host().to_string()))
            }
        })
        .await
        .map_err(err)?;
        Ok(BlobReader {
            response,
            verifier: Some(Verifier::new(&desc.digest, desc.size)),
            descriptor: desc.clone(),
            host,
            target,
        })
    }

    /// Fetches a small blob (an image config) into memory, verified; fails beyond `limit`.
    pub async fn fetch_blob_bytes(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Bytes, Error> {
        if desc.size > limit {
            return Err(Error::new(
                Operation::Pull,
                blob_target(reference, desc),
                ErrorKind::TooLarge {
                    host: reference.domain().to_string(),
                    limit,
                },
            ));
        }
        self.fetch_blob(reference, desc)
            .await?
            .read_all(limit)
            .await
    }

    /// Resolves `reference` and picks the image for `platform`, preferring what a machine of
    /// that platform runs best (containerd's `platforms.Only`: `linux/arm64` also accepts
    /// `linux/arm/v8` … `v5`, `linux/amd64/v3` accepts `v2`, `v1`, `386`).
    pub async fn resolve_platform(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<PlatformImage, Error> {
        let matcher = kiln_platforms::only(platform);
        self.resolve_matching(reference, &matcher, &kiln_platforms::format(platform))
            .await
    }

    /// Resolves `reference` and picks the best manifest for `matcher` from its index (or
    /// checks its single manifest): candidates are the index entries whose platform matches,
    /// sorted stably by the matcher's preference; entries without a platform are judged by
    /// their config. `wanted` describes the matcher in the error when nothing matches.
    pub async fn resolve_matching(
        &self,
        reference: &Reference,
        matcher: &(dyn MatchComparer + Sync),
        wanted: &str,
    ) -> Result<PlatformImage, Error> {
        let resolved = self.resolve(reference).await?;
        let reference = resolved.reference;
        let target = reference.to_string();
        let err = |k| Error::new(Operation::Pull, target.clone(), k);
        let mut desc = resolved.descriptor;
        let mut top_index: Option<(Descriptor, Bytes)> = None;
        for _depth in 0..MAX_INDEX_DEPTH {
            let data = self.fetch_manifest(&reference, &desc).await?;
            let doc = media::parse_manifest(&desc.media_type, &data).map_err(|reason| {
                err(ErrorKind::InvalidResponse {
                    host: resolved.host.clone(),
                    reason,
                })
            })?;
            match doc {
                ManifestDocument::Manifest(manifest) => {
                    let config = self
                        .fetch_blob_bytes(&reference, &manifest.config, MAX_CONFIG_SIZE)
                        .await?;
                    let platform = match desc.platform.clone() {
                        Some(p) => p,
                        None => config_platform(&config),
                    };
                    if !matcher.matches(&platform) {
                        return Err(err(ErrorKind::PlatformNotFound {
                            wanted: wanted.to_string(),
                            available: vec![kiln_platforms::format(&platform)],
                        }));
                    }
                    desc.platform = Some(platform.clone());
                    return Ok(PlatformImage {
                        reference,
                        index: top_index,
                        descriptor: desc,
                        manifest_bytes: data,
                        manifest,
                        config,
                        platform,
                    });
                }
                ManifestDocument::Index(index) => {
                    if top_index.is_none() {
                        top_index = Some((desc.clone(), data.clone()));
                    }
                    match self.pick(&reference, &index, matcher).await? {
                        Some(next) => desc = next,
                        None => {
                            let available = index
                                .manifests
                                .iter()
                                .filter_map(|d| d.platform.as_ref())
                                .filter(|p| p.os != "unknown")
                                .map(kiln_platforms::format)
                                .collect();
                            return Err(err(ErrorKind::PlatformNotFound {
                                wanted: wanted.to_string(),
                                available,
                            }));
                        }
                    }
                }
            }
        }
        Err(err(ErrorKind::InvalidInput(format!(
            "indexes nest more than {MAX_INDEX_DEPTH} deep"
        ))))
    }

    /// The best entry of `index` for `matcher`, fetching the config of entries that declare
    /// no platform.
    async fn pick(
        &self,
        reference: &Reference,
        index: &media::Index,
        matcher: &(dyn MatchComparer + Sync),
    ) -> Result<Option<Descriptor>, Error> {
        let usable =
            |d: &&Descriptor| media::is_manifest(&d.media_type) || media::is_index(&d.media_type);
        let mut with_platform: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(usable)
            .filter(|d| d.platform.as_ref().is_some_and(|p| matcher.matches(p)))
            .collect();
        // Best first, stably (containerd: sort.SliceStable with the comparer's Less).
        stable_sort_by_less(&mut with_platform, |a, b| {
            match (&a.platform, &b.platform) {
                (Some(pa), Some(pb)) => matcher.less(pa, pb),
                _ => false,
            }
        });
        if let Some(best) = with_platform.first() {
            return Ok(Some((*best).clone()));
        }
        for d in index
            .manifests
            .iter()
            .filter(usable)
            .filter(|d| d.platform.is_none())
        {
            if !media::is_manifest(&d.media_type) {
                continue;
            }
            let data = self.fetch_manifest(reference, d).await?;
            let Ok(ManifestDocument::Manifest(m)) = media::parse_manifest(&d.media_type, &data)
            else {
                continue;
            };
            let config = self
                .fetch_blob_bytes(reference, &m.config, MAX_CONFIG_SIZE)
                .await?;
            let platform = config_platform(&config);
            if matcher.matches(&platform) {
                let mut chosen = d.clone();
                chosen.platform = Some(platform);
                return Ok(Some(chosen));
            }
        }
        Ok(None)
    }

    /// Whether the repository of `reference` has the blob `digest` (its size when it does).
    pub async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Option<u64>, Error> {
        let target = format!("{}@{digest}", reference.name());
        let err = |k| Error::new(Operation::Pull, target.clone(), k);
        let domain = reference.domain().to_string();
        let eps = self.endpoints(&domain, true).map_err(err)?;
        let Some(ep) = eps.last() else {
            return Err(err(ErrorKind::InvalidInput("no registry host".to_string())));
        };
        self.head_blob(ep, &domain, reference.path(), digest, false)
            .await
            .map_err(err)
    }

    async fn head_blob(
        &self,
        ep: &Endpoint,
        registry: &str,
        path: &str,
        digest: &Digest,
        push: bool,
    ) -> Result<Option<u64>, ErrorKind> {
        let url = Self::url(ep, path, &format!("blobs/{digest}"))?;
        let req = Request::new(Method::HEAD, url, vec![repository_scope(path, push)]);
        let resp = self.transport.send(ep, registry, &req).await?;
        match resp.inner.status() {
            s if s.is_success() => Ok(Some(header_length(resp.inner.headers()).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.failure(resp, registry, ep).await),
        }
    }

    /// Pushes a blob to the repository of `reference` (on the registry itself, never a
    /// mirror): nothing when it exists already, a cross-repository mount when
    /// `options.mount_from` names another repository of the same registry that has it,
    /// else an upload (one `PUT`, or `PATCH` chunks with `options.chunk_size`). The data's
    /// size must be `desc.size`; the registry checks the digest.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        data: BlobData,
        options: &PushBlobOptions,
    ) -> Result<PushedBlob, Error> {
        let target = format!("{}@{}", reference.name(), desc.digest);
        let err = |k| Error::new(Operation::Push, target.clone(), k);
        let size = match &data {
            BlobData::Bytes(b) => b.len() as u64,
            BlobData::File(p) => tokio::fs::metadata(p)
                .await
                .map_err(|source| {
                    err(ErrorKind::Io {
                        path: p.display().to_string(),
                        source,
                    })
                })?
                .len(),
        };
        if size != desc.size {
            return Err(err(ErrorKind::InvalidInput(format!(
                "the data to push has {size} bytes, its descriptor says {}",
                desc.size
            ))));
        }
        let registry = reference.domain().to_string();
        let path = reference.path();
        let eps = self.endpoints(&registry, true).map_err(err)?;
        let Some(ep) = eps.last() else {
            return Err(err(ErrorKind::InvalidInput("no registry host".to_string())));
        };
        if self
            .head_blob(ep, &registry, path, &desc.digest, true)
            .await
            .map_err(err)?
            .is_some()
        {
            return Ok(PushedBlob::Existed);
        }
        let mut scopes = vec![repository_scope(path, true)];
        let mut location: Option<Url> = None;
        if let Some(from) = options
            .mount_from
            .as_ref()
            .filter(|f| f.domain() == registry && f.path() != path)
        {
            scopes.push(repository_scope(from.path(), false));
            let mut url = Self::url(ep, path, "blobs/uploads/").map_err(err)?;
            url.query_pairs_mut()
                .append_pair("mount", &desc.digest.to_string())
                .append_pair("from", from.path());
            let req = Request::new(Method::POST, url.clone(), scopes.clone());
            let resp = self
                .transport
                .send(ep, &registry, &req)
                .await
                .map_err(err)?;
            match resp.inner.status() {
                StatusCode::CREATED => return Ok(PushedBlob::Mounted),
                StatusCode::ACCEPTED => {
                    location = Some(upload_location(&resp.inner, &url, ep).map_err(err)?)
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(err(self.failure(resp, &registry, ep).await));
                }
                other => {
                    tracing::debug!(status = %other, "cross-repository mount refused; uploading")
                }
            }
        }
        let mut location = match location {
            Some(l) => l,
            None => {
                let url = Self::url(ep, path, "blobs/uploads/").map_err(err)?;
                let req = Request::new(Method::POST, url.clone(), scopes.clone());
                let resp = self
                    .transport
                    .send(ep, &registry, &req)
                    .await
                    .map_err(err)?;
                if resp.inner.status() != StatusCode::ACCEPTED {
                    return Err(err(self.failure(resp, &registry, ep).await));
                }
                upload_location(&resp.inner, &url, ep).map_err(err)?
            }
        };
        let part = |offset: u64, len: u64| match &data {
            BlobData::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                let end = usize::try_from(offset + len)
                    .unwrap_or(usize::MAX)
                    .min(b.len());
                Body::Bytes(b.slice(start..end))
            }
            BlobData::File(p) => Body::File {
                path: p.clone(),
                offset,
                len,
            },
        };
        let octets = "application/octet-stream";
        let final_body = match options.chunk_size.filter(|c| *c > 0 && *c < size) {
            None => part(0, size),
            Some(chunk) => {
                let mut offset = 0;
                while offset < size {
                    let len = chunk.min(size - offset);
                    let end = offset + len - 1;
                    let req = Request::new(Method::PATCH, location.clone(), scopes.clone())
                        .header(CONTENT_TYPE, octets)
                        .header(reqwest::header::CONTENT_RANGE, &format!("{offset}-{end}"))
                        .body(part(offset, len));
                    let resp = self
                        .transport
                        .send(ep, &registry, &req)
                        .await
                        .map_err(err)?;
                    if resp.inner.status() != StatusCode::ACCEPTED {
                        return Err(err(self.failure(resp, &registry, ep).await));
                    }
                    if let Some(range) = resp
                        .inner
                        .headers()
                        .get(reqwest::header::RANGE)
                        .and_then(|v| v.to_str().ok())
                        && range != format!("0-{end}")
                    {
                        return Err(err(ErrorKind::InvalidResponse {
                            host: ep.host().to_string(),
                            reason: format!(
                                "after uploading bytes 0-{end} the registry reports range {range}"
                            ),
                        }));
                    }
                    location = upload_location(&resp.inner, &location, ep).map_err(err)?;
                    offset += len;
                }
                Body::Empty
            }
        };
        location
            .query_pairs_mut()
            .append_pair("digest", &desc.digest.to_string());
        let req = Request::new(Method::PUT, location, scopes)
            .header(CONTENT_TYPE, octets)
            .body(final_body);
        let resp = self
            .transport
            .send(ep, &registry, &req)
            .await
            .map_err(err)?;
        if resp.inner.status() != StatusCode::CREATED {
            return Err(err(self.failure(resp, &registry, ep).await));
        }
        if let Some(d) = header_digest(resp.inner.headers())
            && d != desc.digest
        {
            return Err(err(ErrorKind::InvalidResponse {
                host: ep.host().to_string(),
                reason: format!("the registry stored the blob as {d}"),
            }));
        }
        Ok(PushedBlob::Uploaded)
    }

    /// Pushes a manifest or index to `reference` (by its tag, else by its digest, which must
    /// be the digest of `data`) and returns its descriptor. The blobs and manifests it refers
    /// to must be in the repository already.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        data: Bytes,
    ) -> Result<Descriptor, Error> {
        let target = reference.to_string();
        let err = |k| Error::new(Operation::Push, target.clone(), k);
        let mut desc = Descriptor::of(media_type, &data);
        if let Some(d) = reference.digest() {
            let wanted: Digest = d
                .parse()
                .map_err(|e| err(ErrorKind::InvalidInput(format!("{e}"))))?;
            let actual = Digest::compute(wanted.algorithm(), &data);
            if actual != wanted {
                return Err(err(ErrorKind::InvalidInput(format!(
                    "the manifest's digest is {actual}, not {wanted}"
                ))));
            }
            desc.digest = actual;
        }
        let object = match (reference.tag(), reference.digest()) {
            (Some(t), _) => t.to_string(),
            (None, Some(_)) => desc.digest.to_string(),
            (None, None) => {
                return Err(err(ErrorKind::InvalidInput(
                    "a manifest is pushed to a tag or a digest: add :<tag>".to_string(),
                )));
            }
        };
        let registry = reference.domain().to_string();
        let eps = self.endpoints(&registry, true).map_err(err)?;
        let Some(ep) = eps.last() else {
            return Err(err(ErrorKind::InvalidInput("no registry host".to_string())));
        };
        let url = Self::url(ep, reference.path(), &format!("manifests/{object}")).map_err(err)?;
        let req = Request::new(
            Method::PUT,
            url,
            vec![repository_scope(reference.path(), true)],
        )
        .header(CONTENT_TYPE, media_type)
        .body(Body::Bytes(data));
        let resp = self
            .transport
            .send(ep, &registry, &req)
            .await
            .map_err(err)?;
        if resp.inner.status() != StatusCode::CREATED && resp.inner.status() != StatusCode::OK {
            return Err(err(self.failure(resp, &registry, ep).await));
        }
        if let Some(d) = header_digest(resp.inner.headers())
            && d.algorithm() == desc.digest.algorithm()
            && d != desc.digest
        {
            return Err(err(ErrorKind::InvalidResponse {
                host: ep.host().to_string(),
                reason: format!(
                    "the registry stored the manifest as {d}, kiln computed {}",
                    desc.digest
                ),
            }));
        }
        Ok(desc)
    }

    /// Checks that the registry accepts the client's credentials (`kiln login`): `GET /v2/`
    /// on the registry itself, answering its challenge.
    pub async fn check_login(&self, registry: &str) -> Result<(), Error> {
        let err = |k| Error::new(Operation::Login, registry.to_string(), k);
        let eps = self.endpoints(registry, true).map_err(err)?;
        let Some(ep) = eps.last() else {
            return Err(err(ErrorKind::InvalidInput("no registry host".to_string())));
        };
        let url = Url::parse(&format!("{}/", ep.base_url())).map_err(|e| {
            err(ErrorKind::InvalidInput(format!(
                "invalid registry URL: {e}"
            )))
        })?;
        let req = Request::new(Method::GET, url, Vec::new());
        let resp = self.transport.send(ep, registry, &req).await.map_err(err)?;
        if resp.inner.status().is_success() {
            Ok(())
        } else {
            Err(err(self.failure(resp, registry, ep).await))
        }
    }
}

/// The `Location` of an upload answer, resolved against the request URL (it may be
/// relative or absolute).
fn upload_location(
    resp: &reqwest::Response,
    request: &Url,
    ep: &Endpoint,
) -> Result<Url, ErrorKind> {
    let value = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ErrorKind::InvalidResponse {
            host: ep.host().to_string(),
            reason: "the upload answer has no Location header".to_string(),
        })?;
    request
        .join(value.trim())
        .map_err(|e| ErrorKind::InvalidResponse {
            host: ep.host().to_string(),
            reason: format!("the upload Location is not a URL ({e})"),
        })
}

fn descriptor(media_type: String, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type,
        digest,
        size,
        urls: Vec::new(),
        annotations: Default::default(),
        platform: None,
        artifact_type: None,
    }
}

/// How a blob is named in errors: `layer sha256:... of registry/repo` (`config`, or `blob`
/// when the media type says neither), so the message says which part of which image failed.
fn blob_target(reference: &Reference, desc: &Descriptor) -> String {
    let mt = desc.media_type.as_str();
    let what = if mt.contains("config") {
        "config"
    } else if mt.contains("layer") || mt.contains("rootfs") {
        "layer"
    } else {
        "blob"
    };
    format!("{what} {} of {}", desc.digest, reference.name())
}

fn verify(data: &[u8], desc: &Descriptor, host: &str) -> Result<(), ErrorKind> {
    let mut v = Verifier::new(&desc.digest, desc.size);
    v.update(data)
        .and_then(|()| v.finish())
        .map_err(|m| mismatch(host, m))
}

/// The platform an image config declares.
fn config_platform(config: &[u8]) -> Platform {
    serde_json::from_slice::<ConfigPlatform>(config)
        .map(ConfigPlatform::into_platform)
        .unwrap_or_default()
}

/// `reference`, with the `latest` tag when it names neither a tag nor a digest.
fn with_default_tag(reference: &Reference) -> Reference {
    if reference.is_name_only() {
        reference
            .with_tag("latest")
            .unwrap_or_else(|_| reference.clone())
    } else {
        reference.clone()
    }
}

/// A stable insertion sort by a "less" relation that need not be a strict weak order (Go's
/// `sort.SliceStable` never panics on such relations; neither does this).
fn stable_sort_by_less<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_tag() {
        let r = kiln_reference::parse_normalized_named("busybox").unwrap();
        assert_eq!(
            with_default_tag(&r).to_string(),
            "docker.io/library/busybox:latest"
        );
        let r = kiln_reference::parse_normalized_named("busybox:1").unwrap();
        assert_eq!(
            with_default_tag(&r).to_string(),
            "docker.io/library/busybox:1"
        );
    }

    #[test]
    fn an_answer_beats_an_unreachable_registry() {
        let connect = |host: &str| ErrorKind::Connect {
            url: format!("https://{host}/v2/"),
            reason: "connection refused".into(),
            hint: "is a registry listening?".into(),
        };
        let answer = |what: &str| ErrorKind::InvalidInput(what.to_string());
        // Mirror not found, origin unreachable: the mirror's answer.
        let e = pick_error(vec![answer("mirror"), connect("registry-1.docker.io")]);
        assert_eq!(e.to_string(), "mirror");
        // Both answered: the origin's, the authority.
        let e = pick_error(vec![answer("mirror"), answer("origin")]);
        assert_eq!(e.to_string(), "origin");
        // Nobody answered: the origin's failure.
        let e = pick_error(vec![connect("mirror"), connect("origin")]);
        assert!(e.to_string().contains("https://origin/v2/"), "{e}");
        let e = pick_error(Vec::new());
        assert_eq!(e.to_string(), "no registry host to contact");
    }

    #[test]
    fn stable_sort() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        stable_sort_by_less(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
    }

    #[test]
    fn config_platforms() {
        let p =
            config_platform(br#"{"os":"linux","architecture":"arm","variant":"v7","rootfs":{}}"#);
        assert_eq!(kiln_platforms::format(&p), "linux/arm/v7");
        assert_eq!(config_platform(b"nonsense"), Platform::default());
    }
}

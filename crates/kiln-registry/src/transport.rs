//! HTTP to registries: one `reqwest` client per endpoint with its TLS settings, the
//! authentication round trip (challenge → token → retry), the HTTPS → HTTP fallback BuildKit
//! does for local registries, and the mapping of every failure to an [`ErrorKind`] that says
//! what to do.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use kiln_config::{Config, RegistryHost, Scheme};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};

use crate::auth::challenge::{self, Challenge};
use crate::auth::token::{TokenCache, TokenResponse, cache_key};
use crate::auth::{CredentialStore, Credentials};
use crate::error::{ErrorCode, ErrorKind, HttpFailure, RegistryError};
use crate::secret::Secret;

/// The most of an error body kiln reads.
const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// One registry endpoint (a mirror or the origin) with its HTTP client.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub plan: RegistryHost,
    /// The `[registry."<key>"]` section that configures it, for hints.
    pub config_key: String,
    client: reqwest::Client,
    /// Set once an HTTPS attempt found a plain-HTTP server (`http_fallback`).
    plain: AtomicBool,
}

impl Endpoint {
    /// `scheme://host/v2[/prefix]` with the scheme in use now.
    pub fn base_url(&self) -> String {
        let scheme = if self.plain.load(Ordering::Relaxed) {
            Scheme::Http
        } else {
            self.plan.scheme
        };
        format!("{scheme}://{}{}", self.plan.host, self.plan.path)
    }

    pub fn host(&self) -> &str {
        &self.plan.host
    }

    /// Whether `url` points at this endpoint's host (credentials go nowhere else).
    fn owns(&self, url: &Url) -> bool {
        url_authority(url).eq_ignore_ascii_case(&self.plan.host)
    }

    /// `url` with the scheme this endpoint uses now, when it points at this endpoint.
    fn effective(&self, url: &Url) -> Url {
        let mut url = url.clone();
        if self.plain.load(Ordering::Relaxed) && url.scheme() == "https" && self.owns(&url) {
            let _ = url.set_scheme("http");
        }
        url
    }
}

/// `host[:port]` of a URL as written in references (`[::1]:5000`).
pub(crate) fn url_authority(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// A request body that can be produced again (after an auth challenge or a fallback).
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Body {
    async fn into_reqwest(self) -> Result<(reqwest::Body, u64), ErrorKind> {
        match self {
            Body::Empty => Ok((reqwest::Body::from(Bytes::new()), 0)),
            Body::Bytes(b) => {
                let len = b.len() as u64;
                Ok((reqwest::Body::from(b), len))
            }
            Body::File { path, offset, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let io_err = |source| ErrorKind::Io {
                    path: path.display().to_string(),
                    source,
                };
                let mut file = tokio::fs::File::open(&path).await.map_err(io_err)?;
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(io_err)?;
                let reader = file.take(len);
                let stream = futures_util::stream::unfold(reader, |mut r| async move {
                    let mut buf = vec![0u8; 256 << 10];
                    match r.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), r))
                        }
                        Err(e) => Some((Err(e), r)),
                    }
                });
                Ok((reqwest::Body::wrap_stream(stream), len))
            }
        }
    }
}

/// A request to an endpoint.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    /// Token scopes the request needs (`repository:library/busybox:pull`).
    pub scopes: Vec<String>,
}

impl Request {
    pub fn new(method: Method, url: Url, scopes: Vec<String>) -> Self {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scopes,
        }
    }

    pub fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// A response, with whether credentials were sent to get it (for 401 hints).
#[derive(Debug)]
pub(crate) struct Response {
    pub inner: reqwest::Response,
    pub authenticated: bool,
}

/// An `Authorization` header value and where it came from.
struct Authorization {
    value: HeaderValue,
    /// The token cache entry, to drop it when the registry refuses the token.
    token_key: Option<String>,
    /// Whether credentials (not just an anonymous token) stand behind it.
    with_credentials: bool,
}

/// Shared HTTP state of a client: endpoints, auth challenges per host, tokens.
#[derive(Debug)]
pub(crate) struct Transport {
    config: Arc<Config>,
    credentials: Arc<dyn CredentialStore>,
    user_agent: String,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: TokenCache,
}

impl Transport {
    pub fn new(config: Arc<Config>, credentials: Arc<dyn CredentialStore>) -> Self {
        Transport {
            config,
            credentials,
            user_agent: format!("kiln/{}", env!("CARGO_PKG_VERSION")),
            endpoints: Mutex::default(),
            challenges: Mutex::default(),
            tokens: TokenCache::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn config_path(&self) -> String {
        self.config.path_for_messages().display().to_string()
    }

    /// The endpoints for registry `domain`, mirrors first (see `Config::hosts`).
    pub fn endpoints(&self, domain: &str) -> Result<Vec<Arc<Endpoint>>, ErrorKind> {
        let plans = self.config.hosts(domain);
        let mut out = Vec::with_capacity(plans.len());
        for plan in plans {
            // A host can be a mirror of one registry and a registry of its own: its endpoint
            // as a mirror (pull only, its own config) is not the one to push to.
            let key = format!(
                "{}://{}{} mirror={}",
                plan.scheme, plan.host, plan.path, plan.is_mirror
            );
            if let Ok(cache) = self.endpoints.lock()
                && let Some(ep) = cache.get(&key)
            {
                out.push(ep.clone());
                continue;
            }
            let config_key = if plan.is_mirror {
                plan.host.clone()
            } else {
                domain.to_string()
            };
            let client = build_client(&plan, &self.user_agent)?;
            let ep = Arc::new(Endpoint {
                plan,
                config_key,
                client,
                plain: AtomicBool::new(false),
            });
            if let Ok(mut cache) = self.endpoints.lock() {
                cache.entry(key).or_insert_with(|| ep.clone());
            }
            out.push(ep);
        }
        Ok(out)
    }

    async fn credentials_for(&self, host: &str) -> Result<Option<Credentials>, ErrorKind> {
        let store = self.credentials.clone();
        let host = host.to_string();
        tokio::task::spawn_blocking(move || store.get(&host))
            .await
            .map_err(|e| ErrorKind::Credentials(format!("credential lookup failed: {e}")))?
            .map_err(ErrorKind::Credentials)
    }

    /// Sends `req` to `ep`, answering auth challenges and falling back to plain HTTP where
    /// the endpoint allows. Any HTTP status is returned as a response; only transport
    /// failures (and failed token requests) are errors.
    pub async fn send(
        &self,
        ep: &Endpoint,
        registry: &str,
        req: &Request,
    ) -> Result<Response, ErrorKind> {
        let mut answered_challenge = false;
        let mut sent_token: Option<String> = None;
        loop {
            let url = ep.effective(&req.url);
            let mut builder = ep
                .client
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            let mut authenticated = false;
            if ep.owns(&url)
                && let Some(auth) = self.authorization(ep, registry, &req.scopes).await?
            {
                builder = builder.header(AUTHORIZATION, auth.value);
                authenticated = auth.with_credentials;
                sent_token = auth.token_key;
            }
            let (body, len) = req.body.clone().into_reqwest().await?;
            if !matches!(req.method, Method::GET | Method::HEAD) || len > 0 {
                builder = builder.header(reqwest::header::CONTENT_LENGTH, len);
            }
            builder = builder.body(body);
            tracing::debug!(method = %req.method, url = %redact_query(&url), "registry request");
            let resp = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    if ep.plan.http_fallback
                        && url.scheme() == "https"
                        && !ep.plain.load(Ordering::Relaxed)
                        && matches!(classify(&e), Failure::Tls(ref t) if speaks_plain_http(t))
                    {
                        tracing::debug!(host = %ep.plan.host, "HTTPS handshake found a plain-HTTP server: falling back to HTTP");
                        ep.plain.store(true, Ordering::Relaxed);
                        continue;
                    }
                    return Err(self.transport_error(&e, ep, &url));
                }
            };
            if resp.status() != StatusCode::UNAUTHORIZED || !ep.owns(&url) || answered_challenge {
                return Ok(Response {
                    inner: resp,
                    authenticated,
                });
            }
            // 401: learn the challenge and try once more with what it asks for.
            let values: Vec<&str> = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let challenges = challenge::parse_all(values);
            let chosen = challenges
                .iter()
                .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
                .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
                .cloned();
            let Some(chosen) = chosen else {
                return Ok(Response {
                    inner: resp,
                    authenticated,
                });
            };
            if let Some(key) = sent_token.take() {
                // The token was refused: never use it again.
                self.tokens.remove(&key);
            }
            if chosen.scheme == "basic" && self.credentials_for(ep.host()).await?.is_none() {
                // Nothing to answer a basic challenge with.
                self.remember_challenge(ep.host(), chosen);
                return Ok(Response {
                    inner: resp,
                    authenticated,
                });
            }
            self.remember_challenge(ep.host(), chosen);
            answered_challenge = true;
        }
    }

    fn remember_challenge(&self, host: &str, challenge: Challenge) {
        if let Ok(mut map) = self.challenges.lock() {
            map.insert(host.to_string(), challenge);
        }
    }

    /// The `Authorization` for a request to `ep`, if the host asked for authentication
    /// before.
    async fn authorization(
        &self,
        ep: &Endpoint,
        registry: &str,
        scopes: &[String],
    ) -> Result<Option<Authorization>, ErrorKind> {
        let challenge = match self.challenges.lock() {
            Ok(map) => map.get(ep.host()).cloned(),
            Err(_) => None,
        };
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let credentials = self.credentials_for(ep.host()).await?;
        let header = |text: String| {
            let mut v = HeaderValue::from_str(&text).map_err(|_| {
                ErrorKind::Credentials(format!(
                    "the credentials for {registry} contain characters that cannot be sent in an HTTP header"
                ))
            })?;
            v.set_sensitive(true);
            Ok::<_, ErrorKind>(v)
        };
        if let Some(Credentials::RegistryToken(token)) = &credentials {
            return Ok(Some(Authorization {
                value: header(format!("Bearer {}", token.expose()))?,
                token_key: None,
                with_credentials: true,
            }));
        }
        if challenge.scheme == "basic" {
            return match credentials {
                Some(Credentials::Basic { username, password }) => {
                    let raw = format!("{username}:{}", password.expose());
                    Ok(Some(Authorization {
                        value: header(format!("Basic {}", BASE64.encode(raw)))?,
                        token_key: None,
                        with_credentials: true,
                    }))
                }
                _ => Ok(None),
            };
        }
        let realm = challenge.param("realm").unwrap_or_default().to_string();
        let service = challenge.param("service").unwrap_or_default().to_string();
        let mut all_scopes: BTreeSet<String> = scopes.iter().cloned().collect();
        if let Some(s) = challenge.param("scope") {
            all_scopes.extend(s.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
        }
        let key = cache_key(&realm, &service, &all_scopes);
        let token = match self.tokens.get(&key) {
            Some(t) => t,
            None => {
                let (token, lifetime) = self
                    .fetch_token(
                        ep,
                        registry,
                        &realm,
                        &service,
                        &all_scopes,
                        credentials.as_ref(),
                    )
                    .await?;
                self.tokens.put(key.clone(), token.clone(), lifetime);
                token
            }
        };
        Ok(Some(Authorization {
            value: header(format!("Bearer {}", token.expose()))?,
            token_key: Some(key),
            with_credentials: credentials.is_some(),
        }))
    }

    /// Asks the token server `realm` for a token: with basic credentials (GET), a refresh
    /// token (OAuth2 POST) or anonymously (GET).
    async fn fetch_token(
        &self,
        ep: &Endpoint,
        registry: &str,
        realm: &str,
        service: &str,
        scopes: &BTreeSet<String>,
        credentials: Option<&Credentials>,
    ) -> Result<(Secret, Duration), ErrorKind> {
        let realm_url = Url::parse(realm).map_err(|_| ErrorKind::InvalidResponse {
            host: ep.host().to_string(),
            reason: format!("the auth challenge names an invalid token realm {realm:?}"),
        })?;
        let realm_host = url_authority(&realm_url);
        // Never send credentials over plain HTTP to a token server when the registry itself
        // was reached over HTTPS.
        let endpoint_plain = ep.plan.scheme == Scheme::Http || ep.plain.load(Ordering::Relaxed);
        let credentials = if realm_url.scheme() == "http" && !endpoint_plain {
            None
        } else {
            credentials
        };
        let scope_list: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let builder = match credentials {
            Some(Credentials::IdentityToken { token, .. }) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("client_id", "kiln"),
                ];
                if !service.is_empty() {
                    form.push(("service", service));
                }
                let joined = scope_list.join(" ");
                if !joined.is_empty() {
                    form.push(("scope", &joined));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                ep.client
                    .post(realm_url.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            other => {
                let mut url = realm_url.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", service);
                    }
                    for s in &scope_list {
                        q.append_pair("scope", s);
                    }
                }
                let b = ep.client.get(url);
                match other {
                    Some(Credentials::Basic { username, password }) => {
                        b.basic_auth(username, Some(password.expose()))
                    }
                    _ => b,
                }
            }
        };
        let authenticated = credentials.is_some();
        let resp = builder
            .send()
            .await
            .map_err(|e| self.transport_error(&e, ep, &realm_url))?;
        if !resp.status().is_success() {
            let mut kind = self
                .failure(resp, registry, &realm_host, &ep.config_key, authenticated)
                .await;
            if let ErrorKind::Unauthorized(h) | ErrorKind::Denied(h) = &mut kind {
                h.hint = if authenticated {
                    format!(
                        "the token server rejected the credentials for {registry}: run kiln login {registry} again"
                    )
                } else {
                    format!("the token server requires credentials: run kiln login {registry}")
                };
            }
            return Err(kind);
        }
        let data = read_limited(resp, ERROR_BODY_LIMIT, &realm_host)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => ErrorKind::TooLarge {
                    host: realm_host.clone(),
                    limit: ERROR_BODY_LIMIT,
                },
                ReadError::Transport(e) => self.transport_error(&e, ep, &realm_url),
            })?;
        let parsed: TokenResponse =
            serde_json::from_slice(&data).map_err(|e| ErrorKind::InvalidResponse {
                host: realm_host.clone(),
                reason: format!("the token answer is not JSON ({e})"),
            })?;
        parsed
            .into_token()
            .ok_or_else(|| ErrorKind::InvalidResponse {
                host: realm_host,
                reason: "the token answer has neither token nor access_token".to_string(),
            })
    }

    /// Turns an unexpected status into the matching [`ErrorKind`], reading (a bounded part
    /// of) the body for the registry's error codes.
    pub async fn failure(
        &self,
        resp: reqwest::Response,
        registry: &str,
        host: &str,
        config_key: &str,
        authenticated: bool,
    ) -> ErrorKind {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let data = read_limited(resp, ERROR_BODY_LIMIT, host)
            .await
            .unwrap_or_default();
        let (errors, body) = parse_error_body(&data);
        let config = self.config_path();
        let code = status.as_u16();
        let plain_to_tls = body
            .as_deref()
            .is_some_and(|b| b.contains("HTTP request to an HTTPS server"));
        let hint = match code {
            401 if authenticated => format!(
                "the registry rejected the credentials for {registry}: run kiln login {registry} again"
            ),
            401 => format!("run kiln login {registry}"),
            403 => format!(
                "access denied: check that the account may use this repository, or run kiln login {registry}"
            ),
            404 => "not found: check the repository name and the tag or digest".to_string(),
            429 => format!(
                "the registry is rate-limiting requests: wait{} and retry, or run kiln login {registry} for a higher limit",
                retry_after
                    .as_deref()
                    .map(|r| format!(" {r}s"))
                    .unwrap_or_default()
            ),
            500..=599 => "the registry failed: retry later".to_string(),
            400 if plain_to_tls => format!(
                "{host} speaks HTTPS: add ca = [\"/path/to/ca.pem\"] (or insecure = true) under [registry.\"{config_key}\"] in {config} so kiln tries HTTPS first, or set http = false there"
            ),
            _ => "the registry answered unexpectedly".to_string(),
        };
        let failure = HttpFailure {
            registry: registry.to_string(),
            host: host.to_string(),
            status: code,
            errors,
            body,
            hint,
        };
        let failure = Box::new(failure);
        match code {
            401 => ErrorKind::Unauthorized(failure),
            403 => ErrorKind::Denied(failure),
            404 => ErrorKind::NotFound(failure),
            429 => ErrorKind::TooManyRequests(failure),
            500..=599 => ErrorKind::Server(failure),
            _ => ErrorKind::Status(failure),
        }
    }

    /// Maps a failed send to an error that names the host and says what to change.
    pub fn transport_error(&self, e: &reqwest::Error, ep: &Endpoint, url: &Url) -> ErrorKind {
        let host = url_authority(url);
        let key = if ep.owns(url) {
            ep.config_key.clone()
        } else {
            host.clone()
        };
        let config = self.config_path();
        let shown = redact_query(url);
        match classify(e) {
            Failure::Timeout => ErrorKind::Timeout { url: shown },
            Failure::Tls(t) => {
                let hint = if speaks_plain_http(&t) {
                    format!(
                        "{host} seems to speak plain HTTP: set http = true under [registry.\"{key}\"] in {config}"
                    )
                } else if let rustls::Error::InvalidCertificate(c) = &t {
                    let what = match c {
                        rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. } => {
                            format!("its certificate is not valid for {host}")
                        }
                        rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. } => {
                            "its certificate has expired".to_string()
                        }
                        _ => "its certificate is not trusted".to_string(),
                    };
                    format!(
                        "{what}: add the CA that signed it with ca = [\"/path/to/ca.pem\"] under [registry.\"{key}\"] in {config}, or set insecure = true there to skip verification"
                    )
                } else if matches!(t, rustls::Error::AlertReceived(_)) {
                    format!(
                        "the registry refused the handshake; if it wants a client certificate, add [[registry.\"{key}\".keypair]] with key and cert in {config}"
                    )
                } else {
                    format!(
                        "check the registry's TLS setup, or set insecure = true (or http = true) under [registry.\"{key}\"] in {config}"
                    )
                };
                ErrorKind::Tls {
                    host,
                    reason: t.to_string(),
                    hint,
                }
            }
            Failure::Refused => ErrorKind::Connect {
                url: shown,
                reason: "connection refused".to_string(),
                hint: format!("is a registry listening at {host}?"),
            },
            Failure::Dns(reason) => ErrorKind::Connect {
                url: shown,
                reason,
                hint: format!(
                    "cannot resolve {}: check the registry name",
                    url.host_str().unwrap_or(&host)
                ),
            },
            Failure::Other(reason) => ErrorKind::Connect {
                url: shown,
                reason,
                hint: if ep.plan.scheme == Scheme::Http && ep.owns(url) {
                    format!(
                        "if {host} speaks HTTPS, add ca = [\"/path/to/ca.pem\"] or insecure = true under [registry.\"{key}\"] in {config}"
                    )
                } else {
                    "check the network and the registry".to_string()
                },
            },
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A URL for logs and messages: upload URLs carry opaque state in their query.
pub(crate) fn redact_query(url: &Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        u.set_query(None);
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Splits an error body into distribution errors, or a short excerpt of other text.
pub(crate) fn parse_error_body(data: &[u8]) -> (Vec<RegistryError>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(b) = serde_json::from_slice::<Body>(data)
        && !b.errors.is_empty()
    {
        let errors = b
            .errors
            .into_iter()
            .map(|e| RegistryError {
                code: ErrorCode::parse(&e.code),
                message: e.message.chars().take(300).collect(),
            })
            .collect();
        return (errors, None);
    }
    let text = String::from_utf8_lossy(data);
    let line: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    (Vec::new(), (!line.is_empty()).then_some(line))
}

pub(crate) enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads a whole body of at most `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
    _host: &str,
) -> Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// What kind of transport failure a `reqwest` error is.
pub(crate) enum Failure {
    Tls(rustls::Error),
    Refused,
    Timeout,
    Dns(String),
    Other(String),
}

pub(crate) fn classify(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    let mut innermost = e.to_string();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(t) = find_rustls(err) {
            return Failure::Tls(t);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Failure::Refused,
                std::io::ErrorKind::TimedOut => return Failure::Timeout,
                _ => {}
            }
        }
        let text = err.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return Failure::Dns(text);
        }
        innermost = text;
        current = err.source();
    }
    Failure::Other(innermost)
}

/// A rustls error in `err` itself or wrapped in (nested) `io::Error`s, whose `source()`
/// skips the wrapped value.
fn find_rustls(err: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    if let Some(t) = err.downcast_ref::<rustls::Error>() {
        return Some(t.clone());
    }
    let io = err.downcast_ref::<std::io::Error>()?;
    let inner: &(dyn std::error::Error + 'static) = io.get_ref()?;
    find_rustls(inner)
}

/// Whether a TLS failure means the server answered in plain HTTP (BuildKit's test is a
/// record header of `HTTP/`; rustls reports that as an invalid message).
fn speaks_plain_http(t: &rustls::Error) -> bool {
    matches!(t, rustls::Error::InvalidMessage(_))
}

/// Builds the HTTP client of one endpoint: system roots plus the configured CAs, client
/// certificates, and no verification for `insecure = true`.
fn build_client(plan: &RegistryHost, user_agent: &str) -> Result<reqwest::Client, ErrorKind> {
    let setup = |path: &Path, reason: String| ErrorKind::TlsSetup {
        host: plan.host.clone(),
        path: path.display().to_string(),
        reason,
    };
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(30))
        .http1_only();
    let mut cas: Vec<PathBuf> = plan.ca.clone();
    let mut pairs: Vec<(PathBuf, PathBuf)> = plan
        .keypairs
        .iter()
        .map(|k| (k.key.clone(), k.cert.clone()))
        .collect();
    for dir in &plan.tls_config_dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                continue;
            }
            Err(e) => return Err(setup(dir, e.to_string())),
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".crt") {
                cas.push(p.clone());
            } else if let Some(stem) = name.strip_suffix(".cert") {
                pairs.push((dir.join(format!("{stem}.key")), p.clone()));
            }
        }
    }
    for ca in &cas {
        let pem = std::fs::read(ca).map_err(|e| setup(ca, e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| setup(ca, format!("not a PEM certificate bundle ({e})")))?;
        if certs.is_empty() {
            return Err(setup(ca, "holds no PEM certificate".to_string()));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let Some((key, cert)) = pairs.first() {
        let mut pem = std::fs::read(cert).map_err(|e| setup(cert, e.to_string()))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).map_err(|e| setup(key, e.to_string()))?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            setup(
                cert,
                format!("not a usable PEM key pair with {} ({e})", key.display()),
            )
        })?;
        builder = builder.identity(identity);
    }
    if plan.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| ErrorKind::TlsSetup {
        host: plan.host.clone(),
        path: "(client)".to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (e, b) = parse_error_body(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, ErrorCode::ManifestUnknown);
        assert_eq!(e[0].message, "manifest unknown");
        assert!(b.is_none());
        let (e, b) = parse_error_body(b"\n  Client sent an HTTP request to an HTTPS server.\n");
        assert!(e.is_empty());
        assert_eq!(
            b.as_deref(),
            Some("Client sent an HTTP request to an HTTPS server.")
        );
        let (e, b) = parse_error_body(br#"{"errors":[{"code":"WEIRD"}]}"#);
        assert_eq!(e[0].code, ErrorCode::Other("WEIRD".into()));
        assert!(b.is_none());
        assert_eq!(parse_error_body(b""), (Vec::new(), None));
    }

    #[test]
    fn urls() {
        let u =
            Url::parse("https://u:p@h.example:5000/v2/x/blobs/uploads/abc?_state=secret").unwrap();
        assert_eq!(
            redact_query(&u),
            "https://h.example:5000/v2/x/blobs/uploads/abc"
        );
        assert_eq!(url_authority(&u), "h.example:5000");
        let u = Url::parse("http://[::1]:5000/v2/").unwrap();
        assert_eq!(url_authority(&u), "[::1]:5000");
        assert_eq!(form_encode("a b/c"), "a+b%2Fc");
    }
}

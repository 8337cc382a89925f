//! Errors: every failure names what kiln was doing (`pulling docker.io/library/busybox:latest`),
//! the registry host, the HTTP status and the registry's own error codes, and says what to do.

use std::fmt;

use crate::digest::Digest;

/// What kiln was doing when the error happened; the first words of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Pull,
    Push,
    Login,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Pull => "pulling",
            Operation::Push => "pushing",
            Operation::Login => "logging in to",
        })
    }
}

/// A registry operation that failed: `{operation} {target}: {kind}`, e.g.
/// `pulling docker.io/library/busybox:latest: 401 unauthorized: run kiln login docker.io`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {target}: {kind}")]
pub struct Error {
    op: Operation,
    target: String,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(op: Operation, target: impl Into<String>, kind: ErrorKind) -> Self {
        Error {
            op,
            target: target.into(),
            kind,
        }
    }

    /// What kiln was doing.
    pub fn operation(&self) -> Operation {
        self.op
    }

    /// The reference (or registry) the operation was about.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The HTTP status, when the registry answered with an error.
    pub fn status(&self) -> Option<u16> {
        self.kind.http().map(|h| h.status)
    }

    /// Whether the registry said the manifest, blob or repository does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::NotFound(_))
    }
}

/// A distribution-spec error code (`{"errors":[{"code":"MANIFEST_UNKNOWN",...}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    ManifestUnverified,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// A code the spec does not define, as sent.
    Other(String),
}

impl ErrorCode {
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "BLOB_UNKNOWN" => ErrorCode::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => ErrorCode::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => ErrorCode::BlobUploadUnknown,
            "DIGEST_INVALID" => ErrorCode::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => ErrorCode::ManifestBlobUnknown,
            "MANIFEST_INVALID" => ErrorCode::ManifestInvalid,
            "MANIFEST_UNKNOWN" => ErrorCode::ManifestUnknown,
            "MANIFEST_UNVERIFIED" => ErrorCode::ManifestUnverified,
            "NAME_INVALID" => ErrorCode::NameInvalid,
            "NAME_UNKNOWN" => ErrorCode::NameUnknown,
            "SIZE_INVALID" => ErrorCode::SizeInvalid,
            "TAG_INVALID" => ErrorCode::TagInvalid,
            "UNAUTHORIZED" => ErrorCode::Unauthorized,
            "DENIED" => ErrorCode::Denied,
            "UNSUPPORTED" => ErrorCode::Unsupported,
            "TOOMANYREQUESTS" => ErrorCode::TooManyRequests,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::ManifestUnverified => "MANIFEST_UNVERIFIED",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Other(s) => s,
        }
    }
}

/// One entry of a registry's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub code: ErrorCode,
    pub message: String,
}

/// An error answer from a registry (any status the operation did not expect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure {
    /// The registry as the user names it (`docker.io`), for `kiln login` hints.
    pub registry: String,
    /// The host that answered (`registry-1.docker.io`, a mirror, a token server).
    pub host: String,
    pub status: u16,
    /// The distribution-spec errors of the body, if it had any.
    pub errors: Vec<RegistryError>,
    /// The start of a body that was not distribution-spec JSON.
    pub body: Option<String>,
    /// What to do about it.
    pub hint: String,
}

impl HttpFailure {
    /// Whether the body names `code`.
    pub fn has_code(&self, code: &ErrorCode) -> bool {
        self.errors.iter().any(|e| &e.code == code)
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_ascii_lowercase();
        write!(f, "{} {reason}", self.status)?;
        if !self.errors.is_empty() {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|e| {
                    if e.message.is_empty() {
                        e.code.as_str().to_string()
                    } else {
                        format!("{}: {}", e.code.as_str(), e.message)
                    }
                })
                .collect();
            write!(f, " ({})", parts.join("; "))?;
        } else if let Some(body) = &self.body {
            write!(f, " ({body})")?;
        }
        write!(f, " from {}: {}", self.host, self.hint)
    }
}

/// What went wrong; see each variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: no credentials, or the registry rejected them.
    #[error("{0}")]
    Unauthorized(Box<HttpFailure>),
    /// 403: the credentials do not give access.
    #[error("{0}")]
    Denied(Box<HttpFailure>),
    /// 404 (on every host tried): no such manifest, blob or repository.
    #[error("{0}")]
    NotFound(Box<HttpFailure>),
    /// 429: rate limited.
    #[error("{0}")]
    TooManyRequests(Box<HttpFailure>),
    /// 5xx: the registry failed.
    #[error("{0}")]
    Server(Box<HttpFailure>),
    /// Any other status the operation did not expect.
    #[error("{0}")]
    Status(Box<HttpFailure>),
    /// The connection could not be made or broke.
    #[error("cannot connect to {url}: {reason}: {hint}")]
    Connect {
        url: String,
        reason: String,
        hint: String,
    },
    /// The TLS handshake failed (untrusted certificate, plain-HTTP server, ...).
    #[error("TLS handshake with {host} failed: {reason}: {hint}")]
    Tls {
        host: String,
        reason: String,
        hint: String,
    },
    /// The request timed out.
    #[error("{url} timed out: check the network and the registry")]
    Timeout { url: String },
    /// Content whose digest is not the one asked for. Nothing of it may be used.
    #[error(
        "content from {host} does not match its digest: expected {expected}, got {actual}; the registry or a proxy served wrong data, retry and report it if it persists"
    )]
    DigestMismatch {
        host: String,
        expected: Digest,
        actual: Digest,
    },
    /// Content longer or shorter than its descriptor says. Nothing of it may be used.
    #[error("content from {host} has the wrong size: expected {expected} bytes, {actual}")]
    SizeMismatch {
        host: String,
        expected: u64,
        /// "got N" or "got more".
        actual: String,
    },
    /// A response larger than kiln accepts for its kind (manifests: 4 MiB).
    #[error("the response from {host} is larger than the {limit}-byte limit")]
    TooLarge { host: String, limit: u64 },
    /// A response that breaks the protocol (bad JSON, missing header).
    #[error("invalid response from {host}: {reason}")]
    InvalidResponse { host: String, reason: String },
    /// The image has no manifest for the platform asked for.
    #[error("no image for platform {wanted}; the image has {}: choose one of them with --platform", available_text(.available))]
    PlatformNotFound {
        wanted: String,
        available: Vec<String>,
    },
    /// Reading credentials failed (a broken config.json, a failing credential helper).
    #[error("{0}")]
    Credentials(String),
    /// A CA or key-pair file from the kiln config could not be used.
    #[error("loading TLS settings for {host} from {path}: {reason}")]
    TlsSetup {
        host: String,
        path: String,
        reason: String,
    },
    /// Local data to push could not be read.
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The caller's input cannot be used (a reference without a tag or digest where one is
    /// needed, data whose size differs from its descriptor, ...).
    #[error("{0}")]
    InvalidInput(String),
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        "no platform-specific manifests".to_string()
    } else {
        available.join(", ")
    }
}

impl ErrorKind {
    /// The registry's answer, for the HTTP-status variants.
    pub fn http(&self) -> Option<&HttpFailure> {
        match self {
            ErrorKind::Unauthorized(h)
            | ErrorKind::Denied(h)
            | ErrorKind::NotFound(h)
            | ErrorKind::TooManyRequests(h)
            | ErrorKind::Server(h)
            | ErrorKind::Status(h) => Some(h),
            _ => None,
        }
    }
}

//! Digest validation as opencontainers/go-digest's `Digest.Validate` does it: a known,
//! enabled algorithm and a lowercase hex value of exactly that algorithm's length.

use std::fmt;

/// A digest algorithm go-digest knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `sha256`, the canonical algorithm (64 hex characters).
    Sha256,
    /// `sha384` (96 hex characters).
    Sha384,
    /// `sha512` (128 hex characters).
    Sha512,
}

impl Algorithm {
    /// The name used in digests (`sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm with this exact (lowercase) name, if go-digest knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Number of hex characters in an encoded digest of this algorithm.
    pub const fn encoded_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of algorithms a parse accepts in a digest; the others fail with
/// [`DigestError::Unsupported`].
///
/// In Go the set is whatever hash implementations happen to be linked into the binary
/// (go-digest's `Algorithm.Available`). Docker and BuildKit link all three, which is
/// [`DigestAlgorithms::ALL`], the default. Upstream's own test binary links only sha256 and
/// therefore rejects `sha512` digests; [`DigestAlgorithms::SHA256_ONLY`] reproduces that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DigestAlgorithms {
    sha256: bool,
    sha384: bool,
    sha512: bool,
}

impl DigestAlgorithms {
    /// sha256, sha384 and sha512 (what Docker and BuildKit accept).
    pub const ALL: Self = DigestAlgorithms {
        sha256: true,
        sha384: true,
        sha512: true,
    };

    /// Only sha256.
    pub const SHA256_ONLY: Self = DigestAlgorithms {
        sha256: true,
        sha384: false,
        sha512: false,
    };

    /// Whether `algorithm` is accepted.
    pub const fn contains(self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::Sha256 => self.sha256,
            Algorithm::Sha384 => self.sha384,
            Algorithm::Sha512 => self.sha512,
        }
    }
}

impl Default for DigestAlgorithms {
    fn default() -> Self {
        DigestAlgorithms::ALL
    }
}

/// Why a digest is not valid (go-digest's error values and texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:encoded`, or the encoded part is not lowercase hex (`ErrDigestInvalidFormat`).
    #[error("invalid checksum digest format")]
    InvalidFormat,
    /// The hex part has the wrong length for its algorithm (`ErrDigestInvalidLength`).
    #[error("invalid checksum digest length")]
    InvalidLength,
    /// Well formed, but the algorithm is unknown or not enabled (`ErrDigestUnsupported`).
    #[error("unsupported digest algorithm")]
    Unsupported,
}

/// Validates `digest` (`sha256:<64 lowercase hex>`) against the enabled `algorithms`, as
/// go-digest's `Parse` does.
///
/// An unknown or disabled algorithm gives [`DigestError::Unsupported`] when the digest is
/// otherwise well formed (go-digest's generic `DigestRegexp`) and
/// [`DigestError::InvalidFormat`] when it is not.
pub fn validate_digest(digest: &str, algorithms: DigestAlgorithms) -> Result<(), DigestError> {
    let Some((name, encoded)) = digest.split_once(':') else {
        return Err(DigestError::InvalidFormat);
    };
    if name.is_empty() || encoded.is_empty() {
        return Err(DigestError::InvalidFormat);
    }
    let Some(algorithm) = Algorithm::from_name(name).filter(|a| algorithms.contains(*a)) else {
        return Err(if is_well_formed(name, encoded) {
            DigestError::Unsupported
        } else {
            DigestError::InvalidFormat
        });
    };
    if encoded.len() != algorithm.encoded_len() {
        return Err(DigestError::InvalidLength);
    }
    if !encoded
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
    {
        return Err(DigestError::InvalidFormat);
    }
    Ok(())
}

/// go-digest's generic digest shape: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`, given
/// the parts around the first `:`.
fn is_well_formed(algorithm: &str, encoded: &str) -> bool {
    algorithm.split(['.', '+', '_', '-']).all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) && !encoded.is_empty()
        && encoded
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let hex = |n: usize| "a".repeat(n);
        let all = DigestAlgorithms::ALL;
        assert_eq!(validate_digest(&format!("sha256:{}", hex(64)), all), Ok(()));
        assert_eq!(validate_digest(&format!("sha384:{}", hex(96)), all), Ok(()));
        assert_eq!(
            validate_digest(&format!("sha512:{}", hex(128)), all),
            Ok(())
        );
        assert_eq!(
            validate_digest(
                &format!("sha512:{}", hex(128)),
                DigestAlgorithms::SHA256_ONLY
            ),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            validate_digest(&format!("sha256:{}", hex(63)), all),
            Err(DigestError::InvalidLength)
        );
        assert_eq!(
            validate_digest(&format!("sha256:{}", "A".repeat(64)), all),
            Err(DigestError::InvalidFormat)
        );
        assert_eq!(
            validate_digest(&format!("SHA256:{}", hex(64)), all),
            Err(DigestError::InvalidFormat)
        );
        assert_eq!(
            validate_digest("md5+b64:abc=", all),
            Err(DigestError::Unsupported)
        );
        for bad in ["", ":", "sha256:", ":abc", "sha256"] {
            assert_eq!(
                validate_digest(bad, all),
                Err(DigestError::InvalidFormat),
                "{bad}"
            );
        }
    }
}

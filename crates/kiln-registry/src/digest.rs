//! Content digests (`sha256:<hex>`, `sha512:<hex>`) and the incremental verifier every byte
//! fetched from a registry goes through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A digest algorithm kiln can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest: a supported algorithm and lowercase hex of the right length.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {text:?}: {why}")]
pub struct DigestParseError {
    text: String,
    why: &'static str,
}

impl Digest {
    /// The digest of `data` with `algorithm`.
    pub fn compute(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }

    /// The sha256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Digest::compute(Algorithm::Sha256, data)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why| DigestParseError {
            text: text.chars().take(200).collect(),
            why,
        };
        let (alg, hex) = text
            .split_once(':')
            .ok_or_else(|| err("expected <algorithm>:<hex>"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(err("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(err("wrong length"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("not lowercase hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hash of one algorithm.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest { algorithm, hex }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

/// What went wrong when content did not match its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// More bytes arrived than the descriptor's size.
    TooLong { expected: u64 },
    /// The content ended early.
    TooShort { expected: u64, actual: u64 },
    /// The right size but another digest.
    Digest { expected: Digest, actual: Digest },
}

/// Checks content against an expected digest and size as it streams.
#[derive(Debug)]
pub(crate) struct Verifier {
    hasher: Hasher,
    expected: Digest,
    size: u64,
    seen: u64,
}

impl Verifier {
    pub(crate) fn new(expected: &Digest, size: u64) -> Self {
        Verifier {
            hasher: Hasher::new(expected.algorithm()),
            expected: expected.clone(),
            size,
            seen: 0,
        }
    }

    /// Feeds a chunk; fails as soon as the content is longer than expected.
    pub(crate) fn update(&mut self, chunk: &[u8]) -> Result<(), Mismatch> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if self.seen > self.size {
            return Err(Mismatch::TooLong {
                expected: self.size,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }

    /// Checks the end of the content.
    pub(crate) fn finish(self) -> Result<(), Mismatch> {
        if self.seen != self.size {
            return Err(Mismatch::TooShort {
                expected: self.size,
                actual: self.seen,
            });
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(Mismatch::Digest {
                expected: self.expected,
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_compute() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(Digest::sha256(b""), d);
        assert_eq!(d.to_string(), EMPTY);
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(
            "md5:d41d8cd98f00b204e9800998ecf8427e"
                .parse::<Digest>()
                .is_err()
        );
        assert!(EMPTY.to_uppercase().parse::<Digest>().is_err());
        let d512 = Digest::compute(Algorithm::Sha512, b"x");
        assert_eq!(d512.hex().len(), 128);
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn verifier() {
        let d = Digest::sha256(b"hello");
        let mut v = Verifier::new(&d, 5);
        v.update(b"he").unwrap();
        v.update(b"llo").unwrap();
        v.finish().unwrap();

        let mut v = Verifier::new(&d, 5);
        assert!(matches!(
            v.update(b"hello!"),
            Err(Mismatch::TooLong { expected: 5 })
        ));

        let mut v = Verifier::new(&d, 5);
        v.update(b"hell").unwrap();
        assert!(matches!(
            v.finish(),
            Err(Mismatch::TooShort { actual: 4, .. })
        ));

        let mut v = Verifier::new(&d, 5);
        v.update(b"jello").unwrap();
        assert!(matches!(v.finish(), Err(Mismatch::Digest { .. })));
    }
}

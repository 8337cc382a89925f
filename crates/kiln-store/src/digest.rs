//! Validated content digests (`sha256:<64 hex>`, `sha512:<128 hex>`) and streaming hashers.
//!
//! A [`Digest`] is the only thing the store ever turns into a path below `content/blobs/`, so
//! its constructor is strict: a supported algorithm, lowercase hex, exact length. Anything else
//! (uppercase, `sha256:../x`, a truncated hex) is an [`Error::InvalidDigest`].

use std::fmt;
use std::io;
use std::str::FromStr;

use sha2::Digest as _;

use crate::error::{Error, Result};

/// A digest algorithm the store accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the default (OCI's `sha256`).
    Sha256,
    /// SHA-512 (OCI's `sha512`).
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm, in the order the store walks them.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The OCI name: `sha256` or `sha512`. Also the directory name under `content/blobs/`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded value.
    pub const fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Parses an algorithm name; `None` for anything unsupported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// A fresh streaming hasher for this algorithm.
    pub fn digester(self) -> Digester {
        match self {
            Algorithm::Sha256 => Digester::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Digester::Sha512(sha2::Sha512::new()),
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Digest {
        let mut d = self.digester();
        d.update(data);
        d.finish()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `algorithm:hex`.
///
/// Ordered and hashed by its string form. Serialized (serde) as that string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// The whole `algorithm:hex` string.
    text: Box<str>,
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Digest> {
        let invalid = |reason| Error::InvalidDigest {
            input: s.to_owned(),
            reason,
        };
        let (name, hex) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected algorithm:hex"))?;
        let algorithm = Algorithm::from_name(name)
            .ok_or_else(|| invalid("unsupported algorithm (want sha256 or sha512)"))?;
        Digest::from_hex(algorithm, hex).map_err(|_| {
            invalid(if hex.len() == algorithm.hex_len() {
                "hex must be lowercase 0-9a-f"
            } else {
                "wrong hex length for the algorithm"
            })
        })
    }

    /// Builds a digest from an algorithm and its hex value, validating the hex.
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Digest> {
        if hex.len() != algorithm.hex_len() {
            return Err(Error::InvalidDigest {
                input: format!("{algorithm}:{hex}"),
                reason: "wrong hex length for the algorithm",
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::InvalidDigest {
                input: format!("{algorithm}:{hex}"),
                reason: "hex must be lowercase 0-9a-f",
            });
        }
        Ok(Digest {
            algorithm,
            text: format!("{algorithm}:{hex}").into_boxed_str(),
        })
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Algorithm::Sha256.digest(data)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex value, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole `algorithm:hex` string.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Digest> {
        Digest::parse(d.as_ref())
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A streaming hasher producing a [`Digest`]. Also an [`io::Write`] sink, for `io::copy`.
#[derive(Clone)]
pub enum Digester {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digester({})", self.algorithm())
    }
}

impl Digester {
    /// The algorithm being computed.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Digester::Sha256(_) => Algorithm::Sha256,
            Digester::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Sha256(h) => h.update(data),
            Digester::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            Digester::Sha256(h) => to_hex(&h.finalize()),
            Digester::Sha512(h) => to_hex(&h.finalize()),
        };
        Digest {
            algorithm,
            text: format!("{algorithm}:{hex}").into_boxed_str(),
        }
    }

    /// The digest of everything fed so far, leaving the state untouched.
    pub fn current(&self) -> Digest {
        self.clone().finish()
    }
}

impl io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_known_vectors() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
        let d = Algorithm::Sha512.digest(b"abc");
        assert_eq!(
            d.hex(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(d.algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn parses_and_round_trips() {
        let d = Digest::parse(EMPTY_SHA256).unwrap();
        assert_eq!(d.to_string(), EMPTY_SHA256);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d, Digest::sha256(b""));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn rejects_anything_that_could_escape_a_path() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:../../etc/passwd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidDigest { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn error_names_the_input() {
        let err = Digest::parse("sha256:abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid digest \"sha256:abc\": wrong hex length for the algorithm"
        );
    }

    #[test]
    fn converts_from_oci_spec() {
        let oci: oci_spec::image::Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(Digest::try_from(&oci).unwrap().as_str(), EMPTY_SHA256);
    }
}

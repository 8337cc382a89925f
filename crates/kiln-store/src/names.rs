//! Validation of caller-chosen names: ingest references, lease ids, record keys, label keys.
//!
//! Names never become paths directly (an ingest's directory is the sha256 of its reference), but
//! they are still held to a strict shape so that `../`, NUL bytes and control characters are
//! rejected where they come in, with a message naming the value.

use crate::error::{Error, Result};

/// Longest ingest reference or lease id, in bytes.
pub(crate) const MAX_REF_LEN: usize = 255;
/// Longest image name, cache key, label key or label value, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 4096;

/// Ingest references and lease ids: 1..=255 of `A-Z a-z 0-9 - _ . : @ + =`, no `..`.
pub(crate) fn check_ref(kind: &'static str, value: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            kind,
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return bad("must not be empty");
    }
    if value.len() > MAX_REF_LEN {
        return bad("longer than 255 bytes");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:@+=".contains(&b))
    {
        return bad("may only contain A-Z a-z 0-9 - _ . : @ + =");
    }
    if value.contains("..") {
        return bad("must not contain \"..\"");
    }
    Ok(())
}

/// Image names, cache keys, label keys: non-empty, at most 4096 bytes, no control characters.
pub(crate) fn check_key(kind: &'static str, value: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            kind,
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return bad("must not be empty");
    }
    if value.len() > MAX_KEY_LEN {
        return bad("longer than 4096 bytes");
    }
    if value.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_containerd_style_refs() {
        for ok in [
            "layer-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "manifest-docker.io@sha256:ab",
            "build.1",
            "a",
        ] {
            check_ref("ingest reference", ok).unwrap();
        }
    }

    #[test]
    fn rejects_path_like_refs() {
        for bad in [
            "", "..", "../x", "a/b", "a/../b", "x..y", "a b", "a\0b", "é",
        ] {
            assert!(check_ref("ingest reference", bad).is_err(), "{bad:?}");
        }
        let long = "a".repeat(256);
        assert!(check_ref("ingest reference", &long).is_err());
    }

    #[test]
    fn message_names_the_value() {
        let err = check_ref("ingest reference", "../etc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ingest reference \"../etc\": may only contain A-Z a-z 0-9 - _ . : @ + ="
        );
    }

    #[test]
    fn keys_allow_slashes_but_not_control_characters() {
        check_key("image name", "docker.io/library/busybox:latest").unwrap();
        assert!(check_key("image name", "").is_err());
        assert!(check_key("image name", "a\nb").is_err());
    }
}

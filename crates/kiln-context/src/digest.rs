//! Content digests and BuildKit's per-entry header record (`cache/contenthash`'s tarsum v1
//! header selection), the part of an entry's digest that covers its metadata.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::tree::{Kind, Meta};

/// A SHA-256 digest, displayed as `sha256:<hex>` (the OCI digest form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// The digest of the empty input (`sha256:e3b0c4…`): BuildKit's digest of an empty
    /// selection and of the context root's own header.
    pub fn empty() -> Self {
        Digest::of(b"")
    }

    /// Feeds `sha256:<hex>` into `h` without allocating (the form BuildKit writes into
    /// parent digests).
    pub(crate) fn feed_oci(&self, h: &mut Sha256) {
        let mut buf = [0u8; 71];
        buf[..7].copy_from_slice(b"sha256:");
        for (i, b) in self.0.iter().enumerate() {
            buf[7 + 2 * i] = HEX[usize::from(b >> 4)];
            buf[8 + 2 * i] = HEX[usize::from(b & 0xf)];
        }
        h.update(buf);
    }

    pub(crate) fn finish(hasher: Sha256) -> Self {
        Digest(hasher.finalize().into())
    }

    /// Lowercase hex of the 32 bytes.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// `sha256:<hex>`, the string BuildKit feeds into parent digests.
    pub fn to_oci_string(&self) -> String {
        format!("sha256:{}", self.hex())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Feeds the header record of an entry into `h`, exactly as BuildKit's `NewFromStat` +
/// `WriteV1TarsumHeaders` do: the fields `name mode uid gid size typeflag linkname uname gname
/// devmajor devminor` as `key` + `value` strings, then the xattr names. What is (and is not)
/// covered, as upstream:
///
/// - `name` is empty (names enter through the parent directory's digest);
/// - `mode` is the permission bits plus setuid/setgid/sticky, in decimal, without type bits;
/// - `uid`/`gid` are always `0` and `uname`/`gname` empty: BuildKit's header comes from a
///   stat that Go's `tar.FileInfoHeader` cannot read owners from, so ownership in the context
///   never changes a cache key (COPY sets owners itself);
/// - `size` only for regular files; `mtime` is not part of the record;
/// - xattr *names* (sorted; `security.*` other than `security.capability`, `system.*` and
///   `com.apple.*` dropped) with empty values — upstream reads the values from a map that is
///   empty at that point, so an xattr value change alone never changed BuildKit's digest.
pub(crate) fn write_header(h: &mut Sha256, meta: &Meta, xattrs: &[String]) {
    let (typeflag, size, linkname): (u8, u64, &[u8]) = match &meta.kind {
        Kind::File => (b'0', meta.size, b""),
        Kind::Dir => (b'5', 0, b""),
        Kind::Symlink(target) => (b'2', 0, target.as_slice()),
        Kind::CharDevice => (b'3', 0, b""),
        Kind::BlockDevice => (b'4', 0, b""),
        Kind::Fifo => (b'6', 0, b""),
    };
    let (major, minor) = match meta.kind {
        Kind::CharDevice | Kind::BlockDevice => {
            (rustix::fs::major(meta.rdev), rustix::fs::minor(meta.rdev))
        }
        _ => (0, 0),
    };
    h.update(b"name");
    h.update(b"mode");
    h.update((meta.mode & 0o7777).to_string().as_bytes());
    h.update(b"uid0gid0size");
    h.update(size.to_string().as_bytes());
    h.update(b"typeflag");
    h.update([typeflag]);
    h.update(b"linkname");
    h.update(linkname);
    h.update(b"unamegnamedevmajor");
    h.update(major.to_string().as_bytes());
    h.update(b"devminor");
    h.update(minor.to_string().as_bytes());
    let mut keys: Vec<&String> = xattrs.iter().filter(|k| hashed_xattr(k)).collect();
    keys.sort();
    for key in keys {
        h.update(key.as_bytes());
    }
}

fn hashed_xattr(key: &str) -> bool {
    key == "security.capability"
        || !(key.starts_with("security.")
            || key.starts_with("system.")
            || key.starts_with("com.apple."))
}

/// The digest of an entry that has no content to read: directory header, symlink, device,
/// fifo (BuildKit's `CacheRecordTypeDirHeader` / `Symlink` / file records without data).
pub(crate) fn header_digest(meta: &Meta, xattrs: &[String]) -> Digest {
    let mut h = Sha256::new();
    write_header(&mut h, meta, xattrs);
    Digest::finish(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: Kind, mode: u32, size: u64) -> Meta {
        Meta {
            kind,
            mode,
            size,
            ..Meta::default()
        }
    }

    #[test]
    fn header_record_is_buildkits_string() {
        let mut h = Sha256::new();
        write_header(&mut h, &meta(Kind::File, 0o100644, 5), &[]);
        let expected =
            Digest::of(b"namemode420uid0gid0size5typeflag0linknameunamegnamedevmajor0devminor0");
        assert_eq!(Digest::finish(h), expected);
        let link = meta(Kind::Symlink(b"../x".to_vec()), 0o120777, 4);
        assert_eq!(
            header_digest(&link, &[]),
            Digest::of(
                b"namemode511uid0gid0size0typeflag2linkname../xunamegnamedevmajor0devminor0"
            )
        );
    }

    #[test]
    fn setuid_and_xattr_names_are_covered() {
        let m = meta(Kind::Dir, 0o44755, 0);
        let xattrs = vec![
            "user.b".to_string(),
            "security.selinux".into(),
            "user.a".into(),
        ];
        assert_eq!(
            header_digest(&m, &xattrs),
            Digest::of(
                b"namemode2541uid0gid0size0typeflag5linknameunamegnamedevmajor0devminor0user.auser.b"
            )
        );
    }

    #[test]
    fn feed_oci_equals_the_string() {
        let d = Digest::of(b"x");
        let mut a = Sha256::new();
        d.feed_oci(&mut a);
        assert_eq!(Digest::finish(a), Digest::of(d.to_oci_string().as_bytes()));
    }

    #[test]
    fn display_is_oci_form() {
        assert_eq!(
            Digest::empty().to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

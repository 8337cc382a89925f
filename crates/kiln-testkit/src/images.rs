//! Base images the tests build themselves (there is no Docker Hub here): a `busybox` OCI
//! image for linux/amd64, linux/arm64/v8 and linux/arm/v7 made from Debian's
//! `busybox-static` packages, cached on disk keyed by the package versions; pushing OCI
//! layouts to a registry with `skopeo`; and the `kiln.toml` that makes `FROM busybox` resolve
//! to that registry.
//!
//! # What the image is
//!
//! The rootfs copies the official `busybox` image (and the builds suite's recorded
//! `base-busybox-oci`, which was made the same way): `/bin/busybox` with every applet as a
//! hard link beside it in `/bin`, `/usr/bin/env -> ../../bin/env`, `/etc/{group,passwd,shadow}`
//! with root, daemon, ..., nobody, `/etc/localtime` (UTC), `/etc/nsswitch.conf`, `/home`
//! owned by nobody, `/root` 0700, `/tmp` 1777, `/var/spool/mail` owned by mail. Every entry
//! carries the newest of the three busybox binaries' mtimes (the packages' `SOURCE_DATE_EPOCH`), the layer is one
//! POSIX ustar archive (empty user/group names, padded to 10 KiB records) compressed with
//! gzip, and the config has `Cmd ["sh"]`, the default `PATH` and one history entry. The build
//! is reproducible: with the package version the builds suite was recorded from
//! (`1:1.35.0-4+deb12u1+b1`) the layer's diff ID and the config blob are byte for byte the
//! recorded ones; only the gzip stream (and hence the manifest and index digests) differs.
//!
//! The applet list is read from the binary itself (busybox keeps its sorted, NUL-separated
//! applet names in one table), so no foreign-architecture binary is ever run.
//!
//! # What the host needs
//!
//! Debian packages: `apt` and `dpkg` (always there), `skopeo` (pushing), `docker-registry`
//! (the registry tests, see [`crate::registry`]), optionally `umoci` (extra validation in the
//! tests). Network access to the Debian mirror the first time (later runs reuse the cache).
//! The kit does NOT change the system's apt/dpkg configuration: it runs `apt-get update` and
//! `apt-get download` with a private state directory and
//! `APT::Architectures={amd64,arm64,armhf}` under the cache root, so no
//! `dpkg --add-architecture` is needed.
//!
//! The cache root is `$KILN_TEST_CACHE`, else `/var/cache/kiln-test` when writable, else
//! `$HOME/.cache/kiln-test`, else `<tmp>/kiln-test`. Concurrent test processes serialize on
//! an exclusive `flock` of `<root>/lock`.
//!
//! # Skipping
//!
//! When a tool is missing or the packages cannot be downloaded, functions return
//! [`ImageError::Unavailable`] (the caller prints a skip, see [`or_skip`]), except under
//! `CI=true`, where they return [`ImageError::Required`] so the test fails.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use flate2::{Compression, GzBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::say;

/// The tag every layout written here (and the recorded one) carries.
pub const LAYOUT_TAG: &str = "latest";

/// The Debian package the images are made from.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// Bumped whenever the image builder's output changes, so stale cached layouts are rebuilt.
const FORMAT_VERSION: u32 = 1;

/// The `PATH` of the official image (and of BuildKit's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Everything that can go wrong making, opening or pushing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Something the kit needs is missing on this host (a tool, the network, the shared
    /// data); tests print a skip line (see [`or_skip`]).
    #[error("{what} is unavailable: {why} ({hint})")]
    Unavailable {
        what: String,
        why: String,
        hint: String,
    },
    /// Like [`ImageError::Unavailable`], but `CI=true` is set, so it is a failure.
    #[error("{what} is unavailable under CI=true: {why} ({hint})")]
    Required {
        what: String,
        why: String,
        hint: String,
    },
    /// Reading or writing a file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external command ran but failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A downloaded package does not hold what the kit expects.
    #[error("package {}: {why}", deb.display())]
    Package { deb: PathBuf, why: String },
    /// An OCI layout is malformed.
    #[error("OCI layout {}: {why}", dir.display())]
    Layout { dir: PathBuf, why: String },
}

impl ImageError {
    /// Whether a test should print a skip line instead of failing.
    pub fn is_skip(&self) -> bool {
        matches!(self, ImageError::Unavailable { .. })
    }

    fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        ImageError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    fn layout(dir: &Path, why: impl Into<String>) -> Self {
        ImageError::Layout {
            dir: dir.to_path_buf(),
            why: why.into(),
        }
    }
}

/// Whether `CI` is `true` in the environment.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// An [`ImageError::Unavailable`], or [`ImageError::Required`] under `CI=true`.
fn unavailable(what: impl Into<String>, why: impl Into<String>, hint: &str) -> ImageError {
    let (what, why, hint) = (what.into(), why.into(), hint.to_string());
    if in_ci() {
        ImageError::Required { what, why, hint }
    } else {
        ImageError::Unavailable { what, why, hint }
    }
}

/// Turns a result into an `Option` for tests: `Some` on success, `None` after printing
/// `<context>: skipped (...)` when something is unavailable, and a panic (test failure)
/// otherwise.
pub fn or_skip<T>(context: &str, result: Result<T, ImageError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) if e.is_skip() => {
            say(&format!("{context}: skipped ({e})"));
            None
        }
        Err(e) => panic!("{context}: {e}"),
    }
}

/// A Debian architecture the base image is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DebArch {
    Amd64,
    Arm64,
    Armhf,
}

impl DebArch {
    /// Every architecture, in the order of the image index.
    pub const ALL: [DebArch; 3] = [DebArch::Amd64, DebArch::Arm64, DebArch::Armhf];

    /// Debian's name (`amd64`, `arm64`, `armhf`).
    pub fn deb_name(self) -> &'static str {
        match self {
            DebArch::Amd64 => "amd64",
            DebArch::Arm64 => "arm64",
            DebArch::Armhf => "armhf",
        }
    }

    /// The OCI `architecture` (`amd64`, `arm64`, `arm`).
    pub fn oci_architecture(self) -> &'static str {
        match self {
            DebArch::Amd64 => "amd64",
            DebArch::Arm64 => "arm64",
            DebArch::Armhf => "arm",
        }
    }

    /// The OCI `variant` (`v8` for arm64, `v7` for armhf, none for amd64).
    pub fn oci_variant(self) -> Option<&'static str> {
        match self {
            DebArch::Amd64 => None,
            DebArch::Arm64 => Some("v8"),
            DebArch::Armhf => Some("v7"),
        }
    }

    /// The platform as BuildKit spells it (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`).
    pub fn platform(self) -> String {
        match self.oci_variant() {
            Some(v) => format!("linux/{}/{v}", self.oci_architecture()),
            None => format!("linux/{}", self.oci_architecture()),
        }
    }
}

/// One architecture's busybox binary, as taken out of its Debian package.
#[derive(Debug, Clone)]
pub struct BusyboxBinary {
    pub arch: DebArch,
    /// The Debian package version (`1:1.35.0-4+deb12u1+b1`).
    pub version: String,
    /// The contents of `/bin/busybox`.
    pub binary: Vec<u8>,
    /// The binary's mtime in the package (seconds since the epoch). The newest of the set
    /// is the mtime of every layer entry and the `created` of every config.
    pub mtime: u64,
}

impl BusyboxBinary {
    /// Reads `./bin/busybox` out of a `busybox-static` `.deb` (through `dpkg-deb
    /// --fsys-tarfile`), with the version from the package's control file.
    pub fn from_deb(arch: DebArch, deb: &Path) -> Result<Self, ImageError> {
        let fields = run(
            Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"),
            "dpkg-deb",
        )?;
        let version = String::from_utf8_lossy(&fields.stdout).trim().to_string();
        if version.is_empty() {
            return Err(ImageError::Package {
                deb: deb.to_path_buf(),
                why: "its control file has no Version".into(),
            });
        }
        let data = run(
            Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb),
            "dpkg-deb",
        )?;
        let mut archive = tar::Archive::new(data.stdout.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| ImageError::io("reading the data of", deb, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ImageError::io("reading the data of", deb, e))?;
            let path = entry
                .path()
                .map_err(|e| ImageError::io("reading the data of", deb, e))?
                .into_owned();
            if path.strip_prefix(".").unwrap_or(&path) != Path::new("bin/busybox") {
                continue;
            }
            let mtime = entry
                .header()
                .mtime()
                .map_err(|e| ImageError::io("reading the data of", deb, e))?;
            let mut binary = Vec::new();
            entry
                .read_to_end(&mut binary)
                .map_err(|e| ImageError::io("reading bin/busybox from", deb, e))?;
            return Ok(BusyboxBinary {
                arch,
                version,
                binary,
                mtime,
            });
        }
        Err(ImageError::Package {
            deb: deb.to_path_buf(),
            why: "it holds no ./bin/busybox".into(),
        })
    }

    /// The applet names compiled into the binary, in busybox's (sorted) order, without
    /// `busybox` itself.
    pub fn applets(&self) -> Result<Vec<String>, String> {
        applet_names(&self.binary)
    }

    /// The upstream version (`1.35.0` of `1:1.35.0-4+deb12u1+b1`).
    fn upstream_version(&self) -> &str {
        let v = self
            .version
            .split_once(':')
            .map_or(&*self.version, |(_, v)| v);
        v.rsplit_once('-').map_or(v, |(u, _)| u)
    }
}

/// Finds busybox's applet name table: the NUL-separated, strictly sorted names starting
/// with `[` and ending at an empty name.
fn applet_names(binary: &[u8]) -> Result<Vec<String>, String> {
    let valid = |name: &[u8]| {
        !name.is_empty()
            && name.len() <= 32
            && name
                .iter()
                .all(|&b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
    };
    let mut best: Vec<String> = Vec::new();
    let mut start = 0;
    while let Some(pos) = find(&binary[start..], b"\0[\0") {
        let table = start + pos + 1;
        start = table;
        let mut names: Vec<String> = Vec::new();
        let mut at = table;
        while let Some(len) = binary[at..].iter().position(|&b| b == 0) {
            let name = &binary[at..at + len];
            if name.is_empty() {
                break;
            }
            if !valid(name) || names.last().is_some_and(|l| l.as_bytes() >= name) {
                names.clear();
                break;
            }
            names.push(String::from_utf8_lossy(name).into_owned());
            at += len + 1;
        }
        if names.len() > best.len() {
            best = names;
        }
    }
    if best.len() < 20 || !best.iter().any(|n| n == "sh") {
        return Err(format!(
            "no applet name table found in the binary (best candidate had {} names)",
            best.len()
        ));
    }
    Ok(best)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `/etc/passwd` of the official image.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
";

/// `/etc/group` of the official image.
const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nobody:x:65534:
";

/// `/etc/shadow` of the official image (every account locked).
const SHADOW: &str = "root:*::::::::
daemon:*:::::::
bin:*:::::::
sys:*:::::::
sync:*:::::::
mail:*:::::::
www-data:*:::::::
operator:*:::::::
nobody:*:::::::
";

/// `/etc/nsswitch.conf` of the official image.
const NSSWITCH: &str = "passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
";

/// `/etc/localtime`: the TZif file for UTC (no transitions, one type, footer `UTC0`).
fn localtime_utc() -> Vec<u8> {
    let mut header = Vec::with_capacity(57);
    header.extend_from_slice(b"TZif2");
    header.extend_from_slice(&[0; 15]);
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    for count in [0u32, 0, 0, 0, 1, 4] {
        header.extend_from_slice(&count.to_be_bytes());
    }
    let mut block = header;
    // one ttinfo: utoff 0, isdst 0, desigidx 0; then "UTC\0"
    block.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    block.extend_from_slice(b"UTC\0");
    let mut out = block.clone();
    out.extend_from_slice(&block);
    out.extend_from_slice(b"\nUTC0\n");
    out
}

/// One entry of the rootfs.
enum Node<'a> {
    Dir,
    File(&'a [u8]),
    HardLink(&'a str),
    Symlink(&'a str),
}

/// The layer tar of one architecture (uncompressed).
fn layer_tar(bin: &BusyboxBinary, applets: &[String], mtime: u64) -> Result<Vec<u8>, String> {
    let localtime = localtime_utc();
    let mut nodes: Vec<(String, Node<'_>, u32, u64)> = vec![
        ("bin/".into(), Node::Dir, 0o755, 0),
        ("bin/busybox".into(), Node::File(&bin.binary), 0o755, 0),
    ];
    for applet in applets {
        if applet == "busybox" {
            continue;
        }
        nodes.push((
            format!("bin/{applet}"),
            Node::HardLink("bin/busybox"),
            0o755,
            0,
        ));
    }
    nodes.extend([
        ("dev/".into(), Node::Dir, 0o755, 0),
        ("etc/".into(), Node::Dir, 0o755, 0),
        ("etc/group".into(), Node::File(GROUP.as_bytes()), 0o644, 0),
        ("etc/localtime".into(), Node::File(&localtime), 0o644, 0),
        (
            "etc/nsswitch.conf".into(),
            Node::File(NSSWITCH.as_bytes()),
            0o644,
            0,
        ),
        ("etc/passwd".into(), Node::File(PASSWD.as_bytes()), 0o644, 0),
        ("etc/shadow".into(), Node::File(SHADOW.as_bytes()), 0o600, 0),
        ("home/".into(), Node::Dir, 0o755, 65534),
        ("root/".into(), Node::Dir, 0o700, 0),
        ("tmp/".into(), Node::Dir, 0o1777, 0),
        ("usr/".into(), Node::Dir, 0o755, 0),
        ("usr/bin/".into(), Node::Dir, 0o755, 0),
        (
            "usr/bin/env".into(),
            Node::Symlink("../../bin/env"),
            0o777,
            0,
        ),
        ("usr/sbin/".into(), Node::Dir, 0o755, 1),
        ("var/".into(), Node::Dir, 0o755, 0),
        ("var/spool/".into(), Node::Dir, 0o755, 0),
        ("var/spool/mail/".into(), Node::Dir, 0o755, 8),
        ("var/www/".into(), Node::Dir, 0o755, 0),
    ]);

    let mut out = Vec::with_capacity(bin.binary.len() + 64 * 1024);
    for (path, node, mode, owner) in &nodes {
        let (kind, data, link): (tar::EntryType, &[u8], &str) = match node {
            Node::Dir => (tar::EntryType::Directory, &[], ""),
            Node::File(data) => (tar::EntryType::Regular, data, ""),
            Node::HardLink(target) => (tar::EntryType::Link, &[], target),
            Node::Symlink(target) => (tar::EntryType::Symlink, &[], target),
        };
        out.extend_from_slice(&ustar_header(
            path,
            kind,
            *mode,
            *owner,
            data.len() as u64,
            mtime,
            link,
        )?);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    // End of archive (two zero blocks), padded to a whole 20-block record like POSIX tar.
    out.resize(out.len() + 1024, 0);
    out.resize(out.len().next_multiple_of(10240), 0);
    Ok(out)
}

/// A POSIX ustar header with empty user and group names, the checksum written the way GNU
/// tar and Python write it (six octal digits, NUL, space).
fn ustar_header(
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    owner: u64,
    size: u64,
    mtime: u64,
    link: &str,
) -> Result<[u8; 512], String> {
    let mut header = tar::Header::new_ustar();
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_entry_type(kind);
    let ustar = header
        .as_ustar_mut()
        .ok_or_else(|| "a new ustar header is not ustar".to_string())?;
    put(&mut ustar.name, path)?;
    put(&mut ustar.linkname, link)?;
    ustar.cksum = [b' '; 8];
    let mut block = [0u8; 512];
    block.copy_from_slice(header.as_bytes());
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let cksum = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(cksum.as_bytes());
    Ok(block)
}

fn put(field: &mut [u8], value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    if bytes.len() > field.len() {
        return Err(format!("tar name {value:?} is longer than {}", field.len()));
    }
    field[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[derive(Serialize)]
struct PlatformJson<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<std::collections::BTreeMap<&'a str, &'a str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<DescriptorJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: DescriptorJson<'a>,
    layers: Vec<DescriptorJson<'a>>,
}

#[derive(Serialize)]
struct RunConfigJson<'a> {
    #[serde(rename = "Cmd")]
    cmd: Vec<&'a str>,
    #[serde(rename = "Env")]
    env: Vec<&'a str>,
}

#[derive(Serialize)]
struct HistoryJson {
    created: String,
    created_by: String,
}

#[derive(Serialize)]
struct RootfsJson<'a> {
    diff_ids: Vec<String>,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    architecture: &'a str,
    config: RunConfigJson<'a>,
    created: String,
    history: Vec<HistoryJson>,
    os: &'a str,
    rootfs: RootfsJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// Tab-indented JSON (the recorded layout's style).
fn to_json(value: &impl Serialize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).map_err(|e| e.to_string())?;
    Ok(out)
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a blob into `<dir>/blobs/sha256/` and returns its descriptor parts.
fn write_blob(dir: &Path, data: &[u8]) -> Result<(String, u64), ImageError> {
    let hex = sha256_hex(data);
    let path = dir.join("blobs").join("sha256").join(&hex);
    fs::write(&path, data).map_err(|e| ImageError::io("writing blob", &path, e))?;
    Ok((format!("sha256:{hex}"), data.len() as u64))
}

/// Writes the three-platform busybox OCI layout made from `binaries` into `dest` (created;
/// must not exist or be empty) with tag [`LAYOUT_TAG`], and opens it.
///
/// Pure apart from writing `dest`: no tool, no network. Deterministic: the same binaries
/// give the same bytes.
pub fn write_busybox_layout(
    binaries: &[BusyboxBinary],
    dest: &Path,
) -> Result<OciLayout, ImageError> {
    if binaries.is_empty() {
        return Err(ImageError::layout(
            dest,
            "no busybox binary to make an image of",
        ));
    }
    // One timestamp for the whole set (the newest binary's), like a SOURCE_DATE_EPOCH.
    let epoch = binaries.iter().map(|b| b.mtime).max().unwrap_or(0);
    if fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ImageError::layout(
            dest,
            "the destination is not empty: give a new or empty directory",
        ));
    }
    let blobs = dest.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| ImageError::io("creating", &blobs, e))?;
    let mut manifests = Vec::new();
    for bin in binaries {
        let applets = bin.applets().map_err(|why| ImageError::Package {
            deb: PathBuf::from(format!("{BUSYBOX_PACKAGE}:{}", bin.arch.deb_name())),
            why,
        })?;
        let tar = layer_tar(bin, &applets, epoch).map_err(|why| ImageError::layout(dest, why))?;
        let diff_id = format!("sha256:{}", sha256_hex(&tar));
        let mut gz = GzBuilder::new()
            .mtime(0)
            .operating_system(3)
            .write(Vec::new(), Compression::fast());
        gz.write_all(&tar)
            .and_then(|()| gz.try_finish())
            .map_err(|e| ImageError::io("compressing the layer for", dest, e))?;
        let gz = gz
            .finish()
            .map_err(|e| ImageError::io("compressing the layer for", dest, e))?;
        let (layer_digest, layer_size) = write_blob(dest, &gz)?;

        let created = rfc3339(epoch);
        let config = ConfigJson {
            architecture: bin.arch.oci_architecture(),
            config: RunConfigJson {
                cmd: vec!["sh"],
                env: vec![DEFAULT_PATH],
            },
            created: created.clone(),
            history: vec![HistoryJson {
                created,
                created_by: format!(
                    "BusyBox v{} (Debian {}) multi-call binary., Debian {BUSYBOX_PACKAGE} (anchor reference image)",
                    bin.upstream_version(),
                    bin.version
                ),
            }],
            os: "linux",
            rootfs: RootfsJson {
                diff_ids: vec![diff_id],
                kind: "layers",
            },
            variant: bin.arch.oci_variant(),
        };
        let mut config = to_json(&config).map_err(|why| ImageError::layout(dest, why))?;
        config.push(b'\n');
        let (config_digest, config_size) = write_blob(dest, &config)?;

        let manifest = ManifestJson {
            schema_version: 2,
            media_type: MEDIA_MANIFEST,
            config: DescriptorJson {
                media_type: MEDIA_CONFIG,
                digest: config_digest,
                size: config_size,
                platform: None,
                annotations: None,
            },
            layers: vec![DescriptorJson {
                media_type: MEDIA_LAYER_GZIP,
                digest: layer_digest,
                size: layer_size,
                platform: None,
                annotations: None,
            }],
        };
        let mut manifest = to_json(&manifest).map_err(|why| ImageError::layout(dest, why))?;
        manifest.push(b'\n');
        let (digest, size) = write_blob(dest, &manifest)?;
        manifests.push(DescriptorJson {
            media_type: MEDIA_MANIFEST,
            digest,
            size,
            platform: Some(PlatformJson {
                architecture: bin.arch.oci_architecture(),
                os: "linux",
                variant: bin.arch.oci_variant(),
            }),
            annotations: None,
        });
    }
    let index = IndexJson {
        schema_version: 2,
        media_type: MEDIA_INDEX,
        manifests,
    };
    let mut index = to_json(&index).map_err(|why| ImageError::layout(dest, why))?;
    index.push(b'\n');
    let (digest, size) = write_blob(dest, &index)?;
    let top = IndexJson {
        schema_version: 2,
        media_type: MEDIA_INDEX,
        manifests: vec![DescriptorJson {
            media_type: MEDIA_INDEX,
            digest,
            size,
            platform: None,
            annotations: Some(
                [("org.opencontainers.image.ref.name", LAYOUT_TAG)]
                    .into_iter()
                    .collect(),
            ),
        }],
    };
    let top = to_json(&top).map_err(|why| ImageError::layout(dest, why))?;
    let path = dest.join("index.json");
    fs::write(&path, top).map_err(|e| ImageError::io("writing", &path, e))?;
    let path = dest.join("oci-layout");
    fs::write(&path, br#"{"imageLayoutVersion": "1.0.0"}"#)
        .map_err(|e| ImageError::io("writing", &path, e))?;
    OciLayout::open(dest, LAYOUT_TAG)
}

/// One platform's image in an [`OciLayout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformImage {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// The manifest's digest (`sha256:...`).
    pub manifest_digest: String,
    /// The config blob's digest.
    pub config_digest: String,
    /// The layers' (compressed) digests, bottom first.
    pub layer_digests: Vec<String>,
    /// The config's `rootfs.diff_ids`.
    pub diff_ids: Vec<String>,
}

impl PlatformImage {
    /// `os/architecture[/variant]`.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// An OCI image layout directory holding one multi-platform image under a tag.
#[derive(Debug, Clone)]
pub struct OciLayout {
    pub dir: PathBuf,
    pub tag: String,
    /// The digest of the image index the tag points to.
    pub index_digest: String,
    /// The index's images, in index order.
    pub images: Vec<PlatformImage>,
}

impl OciLayout {
    /// Reads a layout: `index.json` → the descriptor annotated with `tag` → an image index
    /// (or a single manifest) → manifests → configs. Checks every blob it reads against its
    /// digest, and that each manifest's platform matches its config.
    pub fn open(dir: &Path, tag: &str) -> Result<OciLayout, ImageError> {
        let top = read_json(dir, &dir.join("index.json"))?;
        let refs = top["manifests"]
            .as_array()
            .ok_or_else(|| ImageError::layout(dir, "index.json has no manifests array"))?;
        let desc = refs
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .ok_or_else(|| ImageError::layout(dir, format!("no manifest is tagged {tag:?}")))?;
        let (index_digest, index) = read_blob_json(dir, desc)?;
        let manifests: Vec<serde_json::Value> = match index["mediaType"].as_str() {
            Some(MEDIA_INDEX) => index["manifests"]
                .as_array()
                .cloned()
                .ok_or_else(|| ImageError::layout(dir, "the image index has no manifests"))?,
            _ => vec![desc.clone()],
        };
        let mut images = Vec::new();
        for m in &manifests {
            let (manifest_digest, manifest) = read_blob_json(dir, m)?;
            let (config_digest, config) = read_blob_json(dir, &manifest["config"])?;
            let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
            let image = PlatformImage {
                os: text(&config["os"]).unwrap_or_default(),
                architecture: text(&config["architecture"]).unwrap_or_default(),
                variant: text(&config["variant"]),
                manifest_digest,
                config_digest,
                layer_digests: manifest["layers"]
                    .as_array()
                    .map(|ls| ls.iter().filter_map(|l| text(&l["digest"])).collect())
                    .unwrap_or_default(),
                diff_ids: config["rootfs"]["diff_ids"]
                    .as_array()
                    .map(|ds| ds.iter().filter_map(text).collect())
                    .unwrap_or_default(),
            };
            if let Some(p) = m.get("platform") {
                let same = p["os"].as_str() == Some(&*image.os)
                    && p["architecture"].as_str() == Some(&*image.architecture)
                    && p["variant"].as_str() == image.variant.as_deref();
                if !same {
                    return Err(ImageError::layout(
                        dir,
                        format!(
                            "manifest {} is listed as {p} but its config says {}",
                            image.manifest_digest,
                            image.platform()
                        ),
                    ));
                }
            }
            if image.layer_digests.len() != image.diff_ids.len() {
                return Err(ImageError::layout(
                    dir,
                    format!(
                        "manifest {} has {} layers but its config {} diff IDs",
                        image.manifest_digest,
                        image.layer_digests.len(),
                        image.diff_ids.len()
                    ),
                ));
            }
            for layer in &image.layer_digests {
                blob_path(dir, layer)?;
            }
            images.push(image);
        }
        Ok(OciLayout {
            dir: dir.to_path_buf(),
            tag: tag.to_string(),
            index_digest,
            images,
        })
    }

    /// The image of one platform (`linux/arm64/v8`), if the layout has it.
    pub fn image(&self, platform: &str) -> Option<&PlatformImage> {
        self.images.iter().find(|i| i.platform() == platform)
    }

    /// The path of a blob given its digest; an error when it is missing.
    pub fn blob(&self, digest: &str) -> Result<PathBuf, ImageError> {
        blob_path(&self.dir, digest)
    }
}

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ImageError::layout(dir, format!("unsupported digest {digest:?}")))?;
    let path = dir.join("blobs").join("sha256").join(hex);
    if !path.is_file() {
        return Err(ImageError::layout(dir, format!("blob {digest} is missing")));
    }
    Ok(path)
}

fn read_json(dir: &Path, path: &Path) -> Result<serde_json::Value, ImageError> {
    let data = fs::read(path).map_err(|e| ImageError::io("reading", path, e))?;
    serde_json::from_slice(&data)
        .map_err(|e| ImageError::layout(dir, format!("{}: {e}", path.display())))
}

/// Reads the blob a descriptor points to, checking its digest and size.
fn read_blob_json(
    dir: &Path,
    desc: &serde_json::Value,
) -> Result<(String, serde_json::Value), ImageError> {
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| ImageError::layout(dir, format!("descriptor without digest: {desc}")))?;
    let path = blob_path(dir, digest)?;
    let data = fs::read(&path).map_err(|e| ImageError::io("reading", &path, e))?;
    if format!("sha256:{}", sha256_hex(&data)) != digest {
        return Err(ImageError::layout(
            dir,
            format!("blob {digest} does not match its digest"),
        ));
    }
    if desc["size"].as_u64() != Some(data.len() as u64) {
        return Err(ImageError::layout(
            dir,
            format!(
                "blob {digest} is {} bytes, its descriptor says {}",
                data.len(),
                desc["size"]
            ),
        ));
    }
    let value = serde_json::from_slice(&data)
        .map_err(|e| ImageError::layout(dir, format!("blob {digest}: {e}")))?;
    Ok((digest.to_string(), value))
}

/// Runs a command to completion; a missing program is [`ImageError::Unavailable`] (or
/// `Required` under CI), a failure [`ImageError::Command`].
fn run(cmd: &mut Command, package: &str) -> Result<Output, ImageError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            unavailable(
                format!("`{}`", cmd.get_program().to_string_lossy()),
                "not installed",
                &format!("apt-get install {package}"),
            )
        } else {
            ImageError::Command {
                command: shown.clone(),
                status: "could not start".into(),
                stderr: e.to_string(),
            }
        }
    })?;
    if !output.status.success() {
        return Err(ImageError::Command {
            command: shown,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output)
}

/// The directory the kit caches packages and layouts in (see the module docs).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_TEST_CACHE") {
        return PathBuf::from(dir);
    }
    let writable = |dir: &Path| {
        fs::create_dir_all(dir).is_ok()
            && tempfile::Builder::new()
                .prefix(".probe-")
                .tempfile_in(dir)
                .is_ok()
    };
    let system = PathBuf::from("/var/cache/kiln-test");
    if writable(&system) {
        return system;
    }
    if let Some(home) = std::env::var_os("HOME") {
        let dir = PathBuf::from(home).join(".cache").join("kiln-test");
        if writable(&dir) {
            return dir;
        }
    }
    std::env::temp_dir().join("kiln-test")
}

/// An exclusive `flock` on `<root>/lock`, released on drop.
#[derive(Debug)]
struct CacheLock {
    _file: File,
}

impl CacheLock {
    fn acquire(root: &Path) -> Result<CacheLock, ImageError> {
        fs::create_dir_all(root).map_err(|e| ImageError::io("creating the cache", root, e))?;
        let path = root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ImageError::io("opening", &path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| ImageError::io("locking", &path, e.into()))?;
        Ok(CacheLock { _file: file })
    }
}

/// `apt-get`/`apt-cache` with a private state directory under the cache root, for all three
/// architectures, leaving the system's apt and dpkg configuration alone.
#[derive(Debug)]
struct PrivateApt {
    lists: PathBuf,
    cache: PathBuf,
}

impl PrivateApt {
    fn new(root: &Path) -> Result<PrivateApt, ImageError> {
        let apt = root.join("apt");
        let lists = apt.join("lists");
        let cache = apt.join("cache");
        for dir in [
            lists.join("partial"),
            cache.join("archives").join("partial"),
        ] {
            fs::create_dir_all(&dir).map_err(|e| ImageError::io("creating", &dir, e))?;
        }
        Ok(PrivateApt { lists, cache })
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-q")
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", self.lists.display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", self.cache.display()))
            .args(["-o", "APT::Sandbox::User=root"]);
        for arch in DebArch::ALL {
            cmd.arg("-o")
                .arg(format!("APT::Architectures::={}", arch.deb_name()));
        }
        cmd
    }

    fn has_lists(&self) -> bool {
        fs::read_dir(&self.lists).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().contains("_Packages")))
        })
    }

    /// `apt-get update`. Some index files failing (a mirror mid-sync) is not fatal: the
    /// caller checks the versions it needs afterwards.
    fn update(&self) -> Result<(), ImageError> {
        let mut cmd = self.command("apt-get");
        cmd.arg("update");
        match run(&mut cmd, "apt") {
            Ok(_) => Ok(()),
            Err(ImageError::Command { stderr, .. }) if self.has_lists() => {
                say(&format!(
                    "kiln-testkit: apt-get update reported errors (continuing with the lists it got): {stderr}"
                ));
                Ok(())
            }
            Err(ImageError::Command { stderr, .. }) => Err(unavailable(
                format!("the Debian package lists ({BUSYBOX_PACKAGE} for amd64, arm64, armhf)"),
                format!("apt-get update failed: {stderr}"),
                "the first run needs network access to the Debian mirror",
            )),
            Err(e) => Err(e),
        }
    }

    /// The candidate versions of `busybox-static` the lists know, per architecture, from
    /// one `apt-cache show` (which takes seconds: it parses every list).
    fn candidates(&self) -> Result<BTreeMap<DebArch, String>, ImageError> {
        let mut cmd = self.command("apt-cache");
        cmd.args(["show", "--no-all-versions"]);
        for arch in DebArch::ALL {
            cmd.arg(format!("{BUSYBOX_PACKAGE}:{}", arch.deb_name()));
        }
        // apt-cache fails when one of the names is unknown; it still prints the others.
        let stdout = match cmd.stdin(Stdio::null()).output() {
            Ok(out) => out.stdout,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unavailable(
                    "`apt-cache`",
                    "not installed",
                    "apt-get install apt",
                ));
            }
            Err(e) => {
                return Err(ImageError::Command {
                    command: "apt-cache show".into(),
                    status: "could not start".into(),
                    stderr: e.to_string(),
                });
            }
        };
        let text = String::from_utf8_lossy(&stdout);
        let mut found = BTreeMap::new();
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
            };
            let (Some(package), Some(arch), Some(version)) =
                (field("Package:"), field("Architecture:"), field("Version:"))
            else {
                continue;
            };
            if package != BUSYBOX_PACKAGE {
                continue;
            }
            if let Some(arch) = DebArch::ALL.into_iter().find(|a| a.deb_name() == arch) {
                found.entry(arch).or_insert(version);
            }
        }
        Ok(found)
    }

    /// A token that changes whenever `apt-get update` replaces a list.
    fn lists_stamp(&self) -> Option<String> {
        let modified = fs::metadata(&self.lists).ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos()))
    }

    /// Downloads `busybox-static:<arch>=<version>` into `dir` (emptied first); returns the
    /// `.deb`.
    fn download(&self, arch: DebArch, version: &str, dir: &Path) -> Result<PathBuf, ImageError> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|e| ImageError::io("creating", dir, e))?;
        let mut cmd = self.command("apt-get");
        cmd.arg("download")
            .arg(format!("{BUSYBOX_PACKAGE}:{}={version}", arch.deb_name()))
            .current_dir(dir);
        run(&mut cmd, "apt")?;
        let debs: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|e| ImageError::io("listing", dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        match debs.as_slice() {
            [deb] => Ok(deb.clone()),
            _ => Err(ImageError::Package {
                deb: dir.to_path_buf(),
                why: format!("apt-get download left {} .deb files", debs.len()),
            }),
        }
    }
}

/// Makes a directory-name-safe form of a version.
fn safe(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The three-platform busybox layout in the default [`cache_root`], built on first use and
/// remembered for the rest of the process.
pub fn busybox_layout() -> Result<OciLayout, ImageError> {
    static LAYOUT: Mutex<Option<OciLayout>> = Mutex::new(None);
    let mut memo = LAYOUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(layout) = memo.as_ref().filter(|l| l.dir.join("index.json").is_file()) {
        return Ok(layout.clone());
    }
    let layout = busybox_layout_in(&cache_root())?;
    *memo = Some(layout.clone());
    Ok(layout)
}

/// The three-platform busybox OCI layout (tag [`LAYOUT_TAG`]) cached under `root`, keyed by
/// the three package versions: reused when present, otherwise made from the `.deb`s
/// (downloaded with a private `apt` when not cached). Safe to call from several processes
/// at once (they serialize on `<root>/lock`).
pub fn busybox_layout_in(root: &Path) -> Result<OciLayout, ImageError> {
    for (tool, package) in [
        ("apt-get", "apt"),
        ("apt-cache", "apt"),
        ("dpkg-deb", "dpkg"),
    ] {
        if which(tool).is_none() {
            return Err(unavailable(
                format!("`{tool}`"),
                "not installed (the base images are made from Debian packages)",
                &format!("apt-get install {package}"),
            ));
        }
    }
    let _lock = CacheLock::acquire(root)?;
    let apt = PrivateApt::new(root)?;
    let mut refreshed = false;
    if !apt.has_lists() {
        apt.update()?;
        refreshed = true;
    }
    loop {
        let versions = candidates(&apt, root, &mut refreshed)?;
        let key = format!(
            "v{FORMAT_VERSION}_{}",
            versions
                .iter()
                .map(|(a, v)| format!("{}={}", a.deb_name(), safe(v)))
                .collect::<Vec<_>>()
                .join(",")
        );
        let final_dir = root.join("busybox").join(&key);
        if final_dir.join("index.json").is_file() {
            match OciLayout::open(&final_dir, LAYOUT_TAG) {
                Ok(layout) => return Ok(layout),
                Err(e) => {
                    say(&format!(
                        "kiln-testkit: rebuilding the cached busybox layout: {e}"
                    ));
                    let _ = fs::remove_dir_all(&final_dir);
                }
            }
        }
        let mut binaries = Vec::new();
        for (arch, version) in &versions {
            match fetch_deb(&apt, root, *arch, version) {
                Ok(deb) => {
                    let bin = BusyboxBinary::from_deb(*arch, &deb).inspect_err(|_| {
                        // A damaged download must not poison the cache.
                        let _ = fs::remove_file(&deb);
                    })?;
                    if &bin.version != version {
                        let _ = fs::remove_file(&deb);
                        return Err(ImageError::Package {
                            deb,
                            why: format!("holds version {}, expected {version}", bin.version),
                        });
                    }
                    binaries.push(bin);
                }
                // The lists may be stale (the mirror dropped that version): refresh once.
                Err(ImageError::Command { .. }) if !refreshed => {
                    apt.update()?;
                    refreshed = true;
                    break;
                }
                Err(ImageError::Command {
                    command, stderr, ..
                }) => {
                    return Err(unavailable(
                        format!("{BUSYBOX_PACKAGE}:{}={version}", arch.deb_name()),
                        format!("`{command}` failed: {stderr}"),
                        "the first run needs network access to the Debian mirror",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if binaries.len() != versions.len() {
            continue;
        }
        return build_cached(root, &binaries, &final_dir);
    }
}

/// The candidate version of the package for every architecture (updating the lists once
/// when they do not know one). Remembered in `<root>/apt/resolved` for as long as the lists
/// do not change, since asking apt takes seconds.
fn candidates(
    apt: &PrivateApt,
    root: &Path,
    refreshed: &mut bool,
) -> Result<Vec<(DebArch, String)>, ImageError> {
    let memo = root.join("apt").join("resolved");
    if let (Some(stamp), Ok(text)) = (apt.lists_stamp(), fs::read_to_string(&memo)) {
        let mut lines = text.lines();
        if lines.next() == Some(stamp.as_str()) {
            let versions: Vec<(DebArch, String)> = lines
                .filter_map(|l| {
                    let (arch, version) = l.split_once(' ')?;
                    let arch = DebArch::ALL.into_iter().find(|a| a.deb_name() == arch)?;
                    Some((arch, version.to_string()))
                })
                .collect();
            if versions.iter().map(|(a, _)| *a).eq(DebArch::ALL) {
                return Ok(versions);
            }
        }
    }
    let mut found = apt.candidates()?;
    if found.len() < DebArch::ALL.len() && !*refreshed {
        apt.update()?;
        *refreshed = true;
        found = apt.candidates()?;
    }
    let mut versions = Vec::new();
    for arch in DebArch::ALL {
        let version = found.remove(&arch).ok_or_else(|| {
            unavailable(
                format!("{BUSYBOX_PACKAGE}:{}", arch.deb_name()),
                "the package lists do not know it",
                "a Debian main archive is needed in /etc/apt/sources.list*",
            )
        })?;
        versions.push((arch, version));
    }
    if let Some(stamp) = apt.lists_stamp() {
        let mut text = stamp;
        for (arch, version) in &versions {
            text.push_str(&format!("\n{} {version}", arch.deb_name()));
        }
        // Only a cache: failing to write it costs time, not correctness.
        let _ = fs::write(&memo, text + "\n");
    }
    Ok(versions)
}

/// The cached `.deb` of `busybox-static:<arch>=<version>`, downloaded when absent.
fn fetch_deb(
    apt: &PrivateApt,
    root: &Path,
    arch: DebArch,
    version: &str,
) -> Result<PathBuf, ImageError> {
    let debs = root.join("debs");
    let deb = debs.join(format!(
        "{BUSYBOX_PACKAGE}_{}_{}.deb",
        safe(version),
        arch.deb_name()
    ));
    if !deb.is_file() {
        let scratch = debs.join(format!(".download-{}", arch.deb_name()));
        let got = apt.download(arch, version, &scratch)?;
        fs::rename(&got, &deb).map_err(|e| ImageError::io("moving", &got, e))?;
        let _ = fs::remove_dir_all(&scratch);
    }
    Ok(deb)
}

/// Writes the layout into a scratch directory beside `final_dir` and renames it into place.
fn build_cached(
    root: &Path,
    binaries: &[BusyboxBinary],
    final_dir: &Path,
) -> Result<OciLayout, ImageError> {
    let layouts = root.join("busybox");
    fs::create_dir_all(&layouts).map_err(|e| ImageError::io("creating", &layouts, e))?;
    let scratch = tempfile::Builder::new()
        .prefix(".building-")
        .tempdir_in(&layouts)
        .map_err(|e| ImageError::io("creating a directory in", &layouts, e))?;
    write_busybox_layout(binaries, scratch.path())?;
    let built = scratch.keep();
    fs::rename(&built, final_dir).map_err(|e| ImageError::io("moving", &built, e))?;
    OciLayout::open(final_dir, LAYOUT_TAG)
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The builds suite's recorded base image (`base-busybox-oci`, read-only), opened.
/// Unavailable (also under CI, like every conformance suite) when the shared data is absent.
pub fn recorded_busybox_layout() -> Result<OciLayout, ImageError> {
    let Some(shared) = crate::shared_dir() else {
        return Err(ImageError::Unavailable {
            what: "the builds suite's base-busybox-oci".into(),
            why: "../shared/conformance is absent".into(),
            hint: "set KILN_SHARED_DIR".into(),
        });
    };
    let dir = shared
        .join("conformance")
        .join("suites")
        .join("builds")
        .join("base-busybox-oci");
    if !dir.join("index.json").is_file() {
        return Err(ImageError::Unavailable {
            what: "the builds suite's base-busybox-oci".into(),
            why: format!("{} is absent", dir.display()),
            hint: "update the shared checkout".into(),
        });
    }
    OciLayout::open(&dir, LAYOUT_TAG)
}

/// `<registry_host>/library/busybox:latest`, the name `FROM busybox` resolves to through a
/// `docker.io` mirror at `registry_host`.
pub fn busybox_reference(registry_host: &str) -> String {
    format!("{registry_host}/library/busybox:latest")
}

/// Copies every platform of `layout` (its tag) to `destination`
/// (`127.0.0.1:PORT/library/busybox:latest`) over plain HTTP with
/// `skopeo copy --all --preserve-digests`, so the registry serves exactly the layout's
/// digests.
pub fn push_to_registry(layout: &OciLayout, destination: &str) -> Result<(), ImageError> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "--preserve-digests", "--quiet"])
        .args(["--dest-tls-verify=false"])
        .arg(format!("oci:{}:{}", layout.dir.display(), layout.tag))
        .arg(format!("docker://{destination}"));
    run(&mut cmd, "skopeo")?;
    Ok(())
}

/// Pushes the builds suite's recorded `base-busybox-oci` to `destination` (see
/// [`push_to_registry`]) and returns it opened.
pub fn push_recorded_busybox(destination: &str) -> Result<OciLayout, ImageError> {
    let layout = recorded_busybox_layout()?;
    push_to_registry(&layout, destination)?;
    Ok(layout)
}

/// The `kiln.toml` (buildkitd.toml shape) that sends `docker.io` pulls to the mirror at
/// `registry_host` and talks plain HTTP to it.
pub fn kiln_config_toml(registry_host: &str) -> String {
    format!(
        "[registry.\"docker.io\"]\n  mirrors = [\"{registry_host}\"]\n\n\
         [registry.\"{registry_host}\"]\n  http = true\n"
    )
}

/// Writes [`kiln_config_toml`] to `path` (parent directories created).
pub fn write_kiln_config(path: &Path, registry_host: &str) -> Result<(), ImageError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| ImageError::io("creating", parent, e))?;
    }
    fs::write(path, kiln_config_toml(registry_host)).map_err(|e| ImageError::io("writing", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_unix_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_778_186_025), "2026-05-07T20:33:45Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn localtime_is_the_114_byte_utc_tzif() {
        let tz = localtime_utc();
        assert_eq!(tz.len(), 114);
        assert!(tz.starts_with(b"TZif2") && tz.ends_with(b"\nUTC0\n"));
    }

    #[test]
    fn applet_table_is_found_and_validated() {
        let mut bin = b"\x7fELF junk \0[\0not sorted\0a\0\0 more".to_vec();
        bin.extend_from_slice(b"\0[\0[[\0");
        for n in 0..30 {
            bin.extend_from_slice(format!("app{n:02}\0").as_bytes());
        }
        bin.extend_from_slice(b"sh\0\0tail");
        let names = applet_names(&bin).unwrap();
        assert_eq!(names.len(), 33);
        assert_eq!(names[..2], ["[", "[["]);
        assert_eq!(names.last().map(String::as_str), Some("sh"));
        assert!(applet_names(b"\0[\0b\0a\0\0").is_err());
    }

    #[test]
    fn upstream_version_drops_epoch_and_revision() {
        let bin = BusyboxBinary {
            arch: DebArch::Amd64,
            version: "1:1.35.0-4+deb12u1+b1".into(),
            binary: Vec::new(),
            mtime: 0,
        };
        assert_eq!(bin.upstream_version(), "1.35.0");
    }

    #[test]
    fn kiln_config_names_the_mirror() {
        let toml = kiln_config_toml("127.0.0.1:5000");
        assert!(toml.contains("[registry.\"docker.io\"]\n  mirrors = [\"127.0.0.1:5000\"]"));
        assert!(toml.contains("[registry.\"127.0.0.1:5000\"]\n  http = true"));
    }
}

//! The operations of the build graph (BuildKit's `solver/pb` ops) and their parts.
//!
//! Every type here is plain data that serializes deterministically (fields in declaration
//! order, maps as `BTreeMap`, no floats): it is what a vertex digest covers. No type here can
//! hold a secret value; secrets and SSH agents are referred to by ID only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Position of an input in a vertex's input list.
pub type InputIndex = u32;
/// Position of an output among a vertex's outputs.
pub type OutputIndex = u32;

/// One operation: what a vertex does with its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Brings content in from outside: an image, the build context, git, HTTP.
    Source(SourceOp),
    /// Runs a process in a container (`RUN`).
    Exec(ExecOp),
    /// File operations applied in order (`COPY`, `ADD`, `WORKDIR`'s mkdir).
    File(FileOp),
    /// Layers all inputs on top of one another, later ones winning (`COPY --link`).
    Merge(MergeOp),
    /// The changes that turn `lower` into `upper`.
    Diff(DiffOp),
}

impl Op {
    /// How many outputs the op has. Sources, file, merge and diff ops have one; an exec op has
    /// one per mount with an output.
    pub fn output_count(&self) -> u32 {
        match self {
            Op::Exec(e) => e.mounts.iter().filter(|m| m.output.is_some()).count() as u32,
            _ => 1,
        }
    }
}

/// Source identifier schemes.
pub mod scheme {
    /// `docker-image://docker.io/library/busybox:latest[@sha256:...]`
    pub const DOCKER_IMAGE: &str = "docker-image://";
    /// `local://context` (a directory the client sends)
    pub const LOCAL: &str = "local://";
    /// `git://github.com/org/repo.git#ref`
    pub const GIT: &str = "git://";
    /// `https://...` (and `http://`)
    pub const HTTPS: &str = "https://";
    /// `http://...`
    pub const HTTP: &str = "http://";
}

/// Source attribute keys (BuildKit's `pb.Attr*` names, so that tools reading both agree).
pub mod attr {
    /// Local source: a key shared by sources that may reuse each other's transfer cache.
    pub const LOCAL_SHARED_KEY_HINT: &str = "local.sharedkeyhint";
    /// Local source: JSON array of include patterns.
    pub const LOCAL_INCLUDE_PATTERNS: &str = "local.includepattern";
    /// Local source: JSON array of exclude patterns (`.dockerignore`).
    pub const LOCAL_EXCLUDE_PATTERNS: &str = "local.excludepatterns";
    /// Local source: JSON array of the only paths that are read (what COPY/ADD select).
    pub const LOCAL_FOLLOW_PATHS: &str = "local.followpaths";
    /// Local source: a session-independent name for the context, for cache reuse.
    pub const LOCAL_UNIQUE_ID: &str = "local.unique";
    /// Image source: `default`, `pull` or `local`.
    pub const IMAGE_RESOLVE_MODE: &str = "image.resolvemode";
    /// Git source: keep the `.git` directory (`true`).
    pub const GIT_KEEP_DIR: &str = "git.keepgitdir";
    /// Git source: the subdirectory to use.
    pub const GIT_SUBDIR: &str = "git.subdir";
    /// Git source: the expected commit checksum.
    pub const GIT_CHECKSUM: &str = "git.checksum";
    /// Git source: skip submodules (`true`).
    pub const GIT_SKIP_SUBMODULES: &str = "git.skipsubmodules";
    /// HTTP source: expected `sha256:` digest of the content.
    pub const HTTP_CHECKSUM: &str = "http.checksum";
    /// HTTP source: the file name to store the download under.
    pub const HTTP_FILENAME: &str = "http.filename";
    /// HTTP source: octal permission bits of the stored file.
    pub const HTTP_PERM: &str = "http.perm";
    /// HTTP source: owner uid of the stored file.
    pub const HTTP_UID: &str = "http.uid";
    /// HTTP source: owner gid of the stored file.
    pub const HTTP_GID: &str = "http.gid";
}

/// Content from outside the graph, named by an identifier with attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceOp {
    /// `scheme://rest`, see [`scheme`].
    pub identifier: String,
    /// Options, see [`attr`].
    pub attrs: BTreeMap<String, String>,
}

/// `RUN`: a process in a container over mounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExecOp {
    pub meta: ExecMeta,
    pub network: NetMode,
    pub security: SecurityMode,
    /// The mounts; the one at `/` is the root filesystem.
    pub mounts: Vec<Mount>,
    /// Secrets exposed as environment variables (by ID; the value never enters the graph).
    pub secret_env: Vec<SecretEnv>,
}

/// What to run and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExecMeta {
    pub args: Vec<String>,
    /// `NAME=value`, in order.
    pub env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// `user[:group]`, names or ids; empty for root.
    pub user: String,
    pub hostname: String,
    pub extra_hosts: Vec<HostIp>,
    /// Exit codes counted as success; empty means only 0.
    pub valid_exit_codes: Vec<i32>,
}

/// An `/etc/hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostIp {
    pub host: String,
    pub ip: String,
}

/// Network of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetMode {
    /// Its own network namespace with outside access (the default).
    #[default]
    Sandbox,
    /// The host's network (needs the `network.host` entitlement).
    Host,
    /// No network but loopback.
    None,
}

/// Privileges of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// Docker's default capability set and seccomp profile.
    #[default]
    Sandbox,
    /// All capabilities (needs the `security.insecure` entitlement).
    Insecure,
}

/// A secret exposed as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretEnv {
    /// The secret's ID (`--secret id=...`).
    pub id: String,
    /// The variable name.
    pub name: String,
    /// When true, a missing secret is not an error.
    pub optional: bool,
}

/// One mount of an exec op.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mount {
    /// The input mounted (for bind and cache mounts); `None` for an empty directory.
    pub input: Option<InputIndex>,
    /// The path inside the input to mount (`/` for all of it).
    pub selector: String,
    /// Where it appears in the container.
    pub dest: String,
    pub readonly: bool,
    /// The output this mount's final content becomes; `None` when discarded.
    pub output: Option<OutputIndex>,
    pub kind: MountKind,
}

/// What kind of mount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// A snapshot of the input.
    Bind,
    /// A persistent cache directory shared between builds.
    Cache { id: String, sharing: CacheSharing },
    /// An in-memory filesystem; `size` in bytes, 0 for the default.
    Tmpfs { size: u64 },
    /// A secret file (by ID).
    Secret {
        id: String,
        uid: u32,
        gid: u32,
        mode: u32,
        optional: bool,
    },
    /// An SSH agent socket (by ID).
    Ssh {
        id: String,
        uid: u32,
        gid: u32,
        mode: u32,
        optional: bool,
    },
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// File actions applied in order to `base` (or to an empty directory when `base` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileOp {
    pub base: Option<InputIndex>,
    pub actions: Vec<FileAction>,
}

/// One file action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Copy(CopyAction),
    Mkdir(MkdirAction),
    Mkfile(MkfileAction),
    Rm(RmAction),
    Symlink(SymlinkAction),
}

/// Owner to set: each part a numeric id or a name resolved in the destination's
/// `/etc/passwd` / `/etc/group` when the op runs. Without a group, a user given by name gets
/// its primary group from `/etc/passwd` and a numeric user the group of the same number
/// (BuildKit: `--chown=42` gives 42:42, `--chown=app` gives app's uid and gid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chown {
    pub user: Option<UserOpt>,
    pub group: Option<UserOpt>,
}

/// A user or group, by id or name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserOpt {
    Id(u32),
    Name(String),
}

impl Chown {
    /// Parses `user[:group]` as `--chown` and `USER` take it: numbers are ids, anything else a
    /// name. An empty string gives `None`.
    pub fn parse(spec: &str) -> Option<Chown> {
        if spec.is_empty() {
            return None;
        }
        let one = |s: &str| -> Option<UserOpt> {
            if s.is_empty() {
                None
            } else if let Ok(id) = s.parse::<u32>() {
                Some(UserOpt::Id(id))
            } else {
                Some(UserOpt::Name(s.to_string()))
            }
        };
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        Some(Chown {
            user: one(u),
            group: g.and_then(one),
        })
    }
}

/// A mode to apply: octal bits, or a symbolic expression (`u+x,g-w`) applied to the source's
/// mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chmod {
    Octal(u32),
    Symbolic(String),
}

/// Copy from an input (BuildKit's `FileActionCopy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CopyAction {
    /// The input copied from; `None` for an empty directory.
    pub src: Option<InputIndex>,
    /// Path in the source (may hold wildcards when `allow_wildcard`).
    pub src_path: String,
    /// Absolute destination; a trailing `/` means "into this directory".
    pub dest: String,
    pub chown: Option<Chown>,
    pub chmod: Option<Chmod>,
    /// Follow a symlink named by `src_path` itself.
    pub follow_symlinks: bool,
    /// For a directory source, copy its contents rather than the directory.
    pub copy_dir_contents_only: bool,
    /// Extract a local tar archive (ADD) instead of copying it.
    pub attempt_unpack: bool,
    /// Create missing parents of `dest`.
    pub create_dest_path: bool,
    pub allow_wildcard: bool,
    /// A wildcard that matches nothing is not an error.
    pub allow_empty_wildcard: bool,
    /// Only paths matching these (relative to `src_path`) are copied (`COPY --parents`).
    pub include_patterns: Vec<String>,
    /// Paths matching these are skipped (`--exclude`).
    pub exclude_patterns: Vec<String>,
    /// Paths that must exist (`COPY --parents` without wildcards).
    pub required_paths: Vec<String>,
    /// Replace existing destination entries even of another type.
    pub always_replace_existing: bool,
    /// Modification time to set (Unix seconds, `SOURCE_DATE_EPOCH`); `None` keeps the source's.
    pub mtime: Option<i64>,
}

/// Create a directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MkdirAction {
    pub path: String,
    pub mode: u32,
    pub make_parents: bool,
    pub chown: Option<Chown>,
    pub mtime: Option<i64>,
}

/// Create a file with given content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MkfileAction {
    pub path: String,
    pub data: String,
    pub mode: u32,
    pub chown: Option<Chown>,
    pub mtime: Option<i64>,
}

/// Remove a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RmAction {
    pub path: String,
    pub allow_not_found: bool,
    pub allow_wildcard: bool,
}

/// Create a symbolic link `new_path` → `old_path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SymlinkAction {
    pub old_path: String,
    pub new_path: String,
    pub chown: Option<Chown>,
    pub mtime: Option<i64>,
}

/// Merge all inputs, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MergeOp {}

/// The difference from `lower` to `upper` (`None` = empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DiffOp {
    pub lower: Option<InputIndex>,
    pub upper: Option<InputIndex>,
}

//! The values a caller hands the executor: the process, its mounts, network and security modes.

use std::net::IpAddr;
use std::path::PathBuf;

/// The process to run, as the build graph's Exec op describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in the container's `PATH` by the runtime.
    pub args: Vec<String>,
    /// `KEY=value` entries. A default `PATH` is added when none is given.
    pub env: Vec<String>,
    /// Absolute working directory inside the container; empty means `/`. Created if missing.
    pub cwd: String,
    /// `USER` as written in a Dockerfile: `name[:group]` or `uid[:gid]`; empty means root.
    pub user: String,
    /// Allocate a terminal. Not supported yet: must be `false`.
    pub tty: bool,
}

/// One mount of a snapshot's mount plan, like containerd's `mount.Mount`:
/// `type=overlay source=overlay options=[lowerdir=...,upperdir=...,workdir=...]` or
/// `type=bind source=/path options=[rbind,ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMount {
    /// Filesystem type (`overlay`, `bind`, `tmpfs`...).
    pub typ: String,
    /// Source (a path for binds, a label such as `overlay` otherwise).
    pub source: PathBuf,
    /// Mount options, flags (`ro`, `rbind`, `nosuid`...) and data (`lowerdir=...`) alike.
    pub options: Vec<String>,
}

/// Where an extra mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host directory or file bound into the container (`RUN --mount=type=bind`).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Mount read-only.
        readonly: bool,
    },
    /// A fresh tmpfs (`RUN --mount=type=tmpfs,size=...`).
    Tmpfs {
        /// Size limit in bytes; `None` for the kernel default.
        size: Option<u64>,
    },
    /// A persistent cache directory on the host (`RUN --mount=type=cache`), bound read-write
    /// unless `readonly`.
    Cache {
        /// Host directory (kiln's `cache/mounts/<id>`).
        dir: PathBuf,
        /// Mount read-only.
        readonly: bool,
    },
    /// A secret file (`RUN --mount=type=secret`): bound read-only, `nosuid`, `nodev`, `noexec`.
    Secret {
        /// Host path of the file holding the secret (on a tmpfs the caller owns).
        file: PathBuf,
    },
    /// A snapshot mount passed to the runtime as is (e.g. an overlay of another stage).
    Snapshot(RawMount),
}

/// An extra mount in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container (no `..`).
    pub destination: String,
    /// What is mounted there.
    pub source: MountSource,
}

/// The container's network, as `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new network namespace. For now it has only the loopback interface.
    #[default]
    Sandbox,
    /// The host's network namespace (needs the `network.host` entitlement).
    Host,
    /// A new network namespace with only the loopback interface.
    None,
}

/// The container's privileges, as `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    /// Docker's default capability set, masked and read-only `/proc` paths.
    #[default]
    Sandbox,
    /// All capabilities, all devices, nothing masked (needs `security.insecure`).
    Insecure,
}

/// One `--add-host host:ip` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIp {
    /// Host name.
    pub host: String,
    /// Its address.
    pub ip: IpAddr,
}

/// A resolved `USER`: what the process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (from `/etc/group` membership, only when no group was named).
    pub additional_gids: Vec<u32>,
}

/// One container run: the process, its root filesystem plan and its surroundings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunRequest {
    /// The process.
    pub process: ProcessSpec,
    /// The rootfs mount plan (from the snapshotter), mounted in order on the bundle's `rootfs`.
    pub rootfs: Vec<RawMount>,
    /// Extra mounts, in order; a later mount on the same destination replaces an earlier one.
    pub mounts: Vec<Mount>,
    /// Network mode.
    pub network: NetworkMode,
    /// Security mode.
    pub security: SecurityMode,
    /// Container hostname; `None` for BuildKit's `buildkitsandbox`.
    pub hostname: Option<String>,
    /// `--add-host` entries appended to `/etc/hosts`.
    pub extra_hosts: Vec<HostIp>,
}

/// The two output streams of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

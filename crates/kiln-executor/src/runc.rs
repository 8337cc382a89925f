//! The runc executor: bundle on disk, rootfs mounted, `runc run`, output streamed, all cleaned up.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdout, Command};

use crate::Executor;
use crate::entitlements::Entitlements;
use crate::error::{Error, ProcessFailure, Result};
use crate::etc::{DEFAULT_HOSTNAME, host_resolv_conf_path, hosts_file, resolv_conf};
use crate::mounter;
use crate::network::{NetworkLease, NetworkPool};
use crate::output::{OutputSink, Tail};
use crate::rootfs::Rootfs;
use crate::spec::{SpecPlan, generate_spec, nofile_limit};
use crate::types::{NetworkMode, RunRequest, Stream};
use crate::user::resolve_user;

/// Largest `/etc/passwd` or `/etc/group` read from an image.
const MAX_USER_FILE: u64 = 4 << 20;

/// How a [`RuncExecutor`] is set up.
#[derive(Debug, Clone)]
pub struct RuncConfig {
    /// Executor state (`<kiln-root>/executor`): `bundles/<id>/` and runc's own state in `runc/`,
    /// so kiln's containers never mix with other runc users'.
    pub state_dir: PathBuf,
    /// The runc binary.
    pub runc: PathBuf,
    /// What builds may ask for beyond the sandbox.
    pub entitlements: Entitlements,
    /// The host resolv.conf the container's is derived from.
    pub host_resolv_conf: PathBuf,
    /// How many trailing output lines a [`ProcessFailure`] keeps.
    pub tail_lines: usize,
}

impl RuncConfig {
    /// Defaults: `/usr/sbin/runc`, no entitlements, `/etc/resolv.conf`, 20 lines of tail.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            runc: PathBuf::from("/usr/sbin/runc"),
            entitlements: Entitlements::default(),
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
            tail_lines: 20,
        }
    }
}

/// Runs processes in OCI containers with runc, like BuildKit's `runcexecutor`.
#[derive(Debug, Clone)]
pub struct RuncExecutor {
    cfg: RuncConfig,
    /// The sandbox network's namespaces (`<state_dir>/netns`), shared by clones.
    network: Arc<NetworkPool>,
}

/// Proof that a request passed the entitlement check; the only way to obtain one is
/// [`RuncExecutor::authorize`], and starting runc requires one.
#[derive(Debug)]
struct Authorized(());

fn new_container_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "kiln-{:08x}{:08x}{:04x}",
        nanos,
        std::process::id(),
        n & 0xffff
    )
}

fn bundle_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Bundle {
        path: path.to_path_buf(),
        source,
    }
}

/// Files the executor creates in a bundle directory (removed one by one: the bundle is never
/// removed recursively, so a rootfs still mounted can never be emptied by cleanup).
const BUNDLE_FILES: [&str; 5] = ["config.json", "hosts", "resolv.conf", "runc.log", "pid"];

/// Undoes everything a run set up, in reverse: runc state, rootfs mounts, bundle files.
/// Runs on drop too, so errors, early returns and cancellation (the future dropped) all clean up.
#[derive(Debug)]
struct Cleanup {
    runc: PathBuf,
    runc_root: PathBuf,
    id: String,
    bundle: PathBuf,
    rootfs: PathBuf,
    mounted: usize,
    /// Mountpoints the runtime will create in the rootfs, removed again after the run.
    stubs: Vec<String>,
    done: bool,
}

impl Cleanup {
    fn run(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        // `runc run` deletes its container when it returns; state left behind means runc was
        // killed (cancellation): kill and delete the container.
        if self.runc_root.join(&self.id).exists() {
            let res = std::process::Command::new(&self.runc)
                .arg("--root")
                .arg(&self.runc_root)
                .args(["delete", "--force", &self.id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(res, Ok(s) if s.success()) {
                tracing::warn!(id = %self.id, "runc delete --force failed: {res:?}");
            }
        }
        if !self.stubs.is_empty() && self.mounted > 0 {
            // The handle is dropped before unmounting so it does not keep the mount busy.
            match Rootfs::open(&self.rootfs) {
                Ok(root) => root.remove_stubs(&self.stubs),
                Err(e) => {
                    tracing::warn!(rootfs = %self.rootfs.display(), "removing mount stubs: {e}")
                }
            }
        }
        while self.mounted > 0 {
            mounter::unmount(&self.rootfs).map_err(|source| Error::Mount {
                what: "rootfs (unmount)".to_string(),
                target: self.rootfs.clone(),
                source,
            })?;
            self.mounted -= 1;
        }
        for f in BUNDLE_FILES {
            match std::fs::remove_file(self.bundle.join(f)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(bundle_err(&self.bundle)(e));
                }
                _ => {}
            }
        }
        for dir in [&self.rootfs, &self.bundle] {
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(bundle_err(dir)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = self.run() {
            tracing::warn!(bundle = %self.bundle.display(), "cleaning up container: {e}");
        }
    }
}

/// Reads the last error runc logged (JSON lines: `{"level":"error","msg":...}`).
fn runc_log_error(log: &Path) -> Option<String> {
    let data = std::fs::read_to_string(log).ok()?;
    data.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error" || v["level"] == "fatal")
        .find_map(|v| v["msg"].as_str().map(str::to_string))
}

async fn read_chunk<R: AsyncReadExt + Unpin>(
    r: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => Ok(0),
    }
}

impl RuncExecutor {
    /// An executor with `cfg`.
    pub fn new(cfg: RuncConfig) -> Self {
        let network = Arc::new(NetworkPool::new(cfg.state_dir.join("netns")));
        Self { cfg, network }
    }

    /// The configuration.
    pub fn config(&self) -> &RuncConfig {
        &self.cfg
    }

    /// The entitlement check every process start goes through.
    fn authorize(&self, req: &RunRequest) -> Result<Authorized> {
        self.cfg.entitlements.check(req)?;
        Ok(Authorized(()))
    }

    /// Prepares the bundle: rootfs mounted, user resolved, workdir created, `/etc` files and
    /// `config.json` written.
    fn prepare(
        &self,
        req: &RunRequest,
        id: &str,
        guard: &mut Cleanup,
        netns: Option<&NetworkLease>,
    ) -> Result<()> {
        let bundle = guard.bundle.clone();
        let rootfs = guard.rootfs.clone();
        if req.rootfs.is_empty() {
            return Err(Error::InvalidMount {
                destination: "/".to_string(),
                reason: "the rootfs mount plan is empty".to_string(),
            });
        }
        std::fs::create_dir(&rootfs).map_err(bundle_err(&rootfs))?;
        for m in &req.rootfs {
            mounter::mount_one(m, &rootfs)?;
            guard.mounted += 1;
        }

        let root = Rootfs::open(&rootfs).map_err(bundle_err(&rootfs))?;
        let passwd = root.read_to_string("/etc/passwd", MAX_USER_FILE)?;
        let group = root.read_to_string("/etc/group", MAX_USER_FILE)?;
        let user = resolve_user(&req.process.user, passwd.as_deref(), group.as_deref())?;
        if !req.process.cwd.is_empty() {
            root.mkdir_all(&req.process.cwd, user.uid, user.gid)?;
        }

        let hostname = req.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME);
        let hosts_path = bundle.join("hosts");
        std::fs::write(&hosts_path, hosts_file(hostname, &req.extra_hosts)?)
            .map_err(bundle_err(&hosts_path))?;
        let host_resolv = std::fs::read_to_string(&self.cfg.host_resolv_conf).unwrap_or_default();
        let resolv_src = host_resolv_conf_path(&self.cfg.host_resolv_conf, &host_resolv);
        let host_resolv = if resolv_src == self.cfg.host_resolv_conf {
            host_resolv
        } else {
            std::fs::read_to_string(&resolv_src).unwrap_or(host_resolv)
        };
        let resolv_path = bundle.join("resolv.conf");
        std::fs::write(&resolv_path, resolv_conf(&host_resolv, req.network))
            .map_err(bundle_err(&resolv_path))?;

        let spec = generate_spec(&SpecPlan {
            container_id: id,
            rootfs: &rootfs,
            process: &req.process,
            user: &user,
            mounts: &req.mounts,
            network: req.network,
            netns: netns.and_then(NetworkLease::path),
            security: req.security,
            hostname,
            hosts_file: &hosts_path,
            resolv_conf: &resolv_path,
            nofile: nofile_limit(),
        })?;
        // Like BuildKit's MountStubsCleaner, only the stubs of the step's own mounts (and of
        // /etc/hosts, /etc/resolv.conf) are removed: the mount points runc creates for the
        // system mounts (/proc, /sys, /dev...) stay in the layer, as they do in BuildKit's.
        let destinations: Vec<String> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .filter(|d| !is_system_mount(d))
            .collect();
        guard.stubs = root.missing_stubs(destinations.iter().map(String::as_str));
        drop(root);
        spec.save(bundle.join("config.json"))?;
        Ok(())
    }

    /// Starts `runc run` on a prepared bundle, streams its output to `sink` and waits.
    async fn run_runc(
        &self,
        _: Authorized,
        req: &RunRequest,
        id: &str,
        bundle: &Path,
        sink: &mut dyn OutputSink,
    ) -> Result<()> {
        let runc = &self.cfg.runc;
        let spawn_err = |source| Error::RuntimeSpawn {
            binary: runc.clone(),
            source,
        };
        let pid_file = bundle.join("pid");
        let log = bundle.join("runc.log");
        // Every fd the executor opens is close-on-exec (Rust's default), so runc gets exactly
        // stdin (/dev/null), stdout and stderr (pipes), which it passes to the container.
        let mut child = Command::new(runc)
            .arg("--root")
            .arg(self.cfg.state_dir.join("runc"))
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "run", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .current_dir(bundle)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;

        let mut stdout: Option<ChildStdout> = child.stdout.take();
        let mut stderr: Option<ChildStderr> = child.stderr.take();
        let mut tail = Tail::new(self.cfg.tail_lines);
        let (mut obuf, mut ebuf) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
        loop {
            let (stream, n) = tokio::select! {
                r = read_chunk(&mut stdout, &mut obuf), if stdout.is_some() => (Stream::Stdout, r),
                r = read_chunk(&mut stderr, &mut ebuf), if stderr.is_some() => (Stream::Stderr, r),
                else => break,
            };
            let buf = match stream {
                Stream::Stdout => &obuf,
                Stream::Stderr => &ebuf,
            };
            match n {
                Ok(0) | Err(_) => match stream {
                    Stream::Stdout => stdout = None,
                    Stream::Stderr => stderr = None,
                },
                Ok(n) => {
                    tail.feed(stream, &buf[..n]);
                    sink.output(stream, Bytes::copy_from_slice(&buf[..n]));
                }
            }
        }
        let status = child.wait().await.map_err(spawn_err)?;

        match status.code() {
            Some(0) => Ok(()),
            Some(code) if pid_file.exists() => Err(Error::ProcessFailed(ProcessFailure {
                args: req.process.args.clone(),
                exit_code: code,
                output_tail: tail.finish(),
            })),
            Some(code) => Err(Error::Runtime(runc_log_error(&log).unwrap_or_else(|| {
                format!("runc run failed: exited with code {code} before starting the process")
            }))),
            None => Err(Error::Runtime(
                "runc run failed: killed by a signal".to_string(),
            )),
        }
    }
}

impl Executor for RuncExecutor {
    async fn run(&self, req: RunRequest, sink: &mut dyn OutputSink) -> Result<()> {
        let authorized = self.authorize(&req)?;
        let id = new_container_id();
        let bundles = self.cfg.state_dir.join("bundles");
        let runc_root = self.cfg.state_dir.join("runc");
        for dir in [&bundles, &runc_root] {
            std::fs::create_dir_all(dir).map_err(bundle_err(dir))?;
        }
        let bundle = bundles.join(&id);
        std::fs::create_dir(&bundle).map_err(bundle_err(&bundle))?;
        let mut guard = Cleanup {
            runc: self.cfg.runc.clone(),
            runc_root,
            id: id.clone(),
            rootfs: bundle.join("rootfs"),
            bundle: bundle.clone(),
            mounted: 0,
            stubs: Vec::new(),
            done: false,
        };
        // The sandbox network: a pooled namespace with outbound NAT, back in the pool (empty:
        // runc killed everything in the container's pid namespace) when the run is over.
        let netns = match req.network {
            NetworkMode::Sandbox => Some(self.network.acquire()?),
            NetworkMode::Host | NetworkMode::None => None,
        };
        self.prepare(&req, &id, &mut guard, netns.as_ref())?;
        let result = self.run_runc(authorized, &req, &id, &bundle, sink).await;
        let cleaned = guard.run();
        drop(netns);
        result?;
        cleaned
    }
}

/// The mount points of the container's system mounts (procfs, sysfs, /dev and what lives
/// under them), whose stubs BuildKit leaves in the rootfs.
fn is_system_mount(destination: &str) -> bool {
    matches!(destination, "/proc" | "/sys" | "/dev")
        || destination.starts_with("/proc/")
        || destination.starts_with("/sys/")
        || destination.starts_with("/dev/")
}

#[cfg(test)]
mod system_mount_tests {
    use super::is_system_mount;

    #[test]
    fn system_mounts_keep_their_stubs_and_build_mounts_do_not() {
        for d in [
            "/proc",
            "/sys",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/sys/fs/cgroup",
        ] {
            assert!(is_system_mount(d), "{d}");
        }
        for d in [
            "/etc/hosts",
            "/etc/resolv.conf",
            "/run/secrets/x",
            "/cache",
            "/procfs",
        ] {
            assert!(!is_system_mount(d), "{d}");
        }
    }
}

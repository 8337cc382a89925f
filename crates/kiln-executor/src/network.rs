//! The sandbox network of `RUN` steps (`--network=default`): each container gets a network
//! namespace of its own whose only way out is user-mode NAT by `slirp4netns` (Debian package
//! `slirp4netns`), like BuildKit's default network gives each step outbound access through CNI.
//!
//! Why slirp4netns and not a CNI bridge: it changes nothing on the host (no bridge, no
//! iptables rules, no forwarding sysctl to leave behind), works the same as root and rootless,
//! and cannot reach the host's loopback services (`--disable-host-loopback`). Throughput is
//! lower than a veth pair but ample for package downloads.
//!
//! Namespaces are made persistent with util-linux's `unshare --net=<file>` (a bind mount of
//! the namespace on a file under the executor's state directory) and pooled: a namespace whose
//! container exited serves the next one, so a build pays the setup (a few milliseconds) once
//! per parallel step, not once per step. Everything is torn down when the pool is dropped; what
//! a killed process left behind is swept the next time a pool starts in the same directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};

use crate::error::{Error, Result};

/// The `slirp4netns` binary looked up in these places, first found wins.
const SLIRP_PATHS: [&str; 2] = ["/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns"];

/// The `unshare` binary (util-linux, essential on Debian).
const UNSHARE_PATHS: [&str; 2] = ["/usr/bin/unshare", "/bin/unshare"];

/// One network namespace with its slirp4netns process.
#[derive(Debug)]
struct Sandbox {
    /// The bind-mounted namespace file runc joins.
    path: PathBuf,
    /// slirp4netns; its stdin is the exit fd: closing it (or kiln dying) ends it.
    slirp: Child,
}

impl Sandbox {
    fn teardown(mut self) {
        drop(self.slirp.stdin.take());
        if self.slirp.try_wait().ok().flatten().is_none() {
            let _ = self.slirp.kill();
        }
        let _ = self.slirp.wait();
        release_file(&self.path);
    }
}

/// Unmounts and removes a namespace file and its `.pid`/`.log` (errors ignored: best effort
/// cleanup).
fn release_file(path: &Path) {
    let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pid"));
    let _ = std::fs::remove_file(path.with_extension("log"));
}

/// A pool of sandbox network namespaces under one directory.
#[derive(Debug)]
pub struct NetworkPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    dir: PathBuf,
    slirp: Option<PathBuf>,
    unshare: Option<PathBuf>,
    free: Mutex<Vec<Sandbox>>,
    swept: Once,
    counter: AtomicU32,
}

/// A namespace taken from the pool; it goes back when dropped.
#[derive(Debug)]
pub struct NetworkLease {
    pool: Arc<PoolInner>,
    sandbox: Option<Sandbox>,
}

impl NetworkLease {
    /// The namespace file to give runc (`linux.namespaces[].path`); `None` when no sandbox
    /// network is available (slirp4netns missing): the container gets a namespace with only
    /// the loopback interface.
    pub fn path(&self) -> Option<&Path> {
        self.sandbox.as_ref().map(|s| s.path.as_path())
    }
}

impl Drop for NetworkLease {
    fn drop(&mut self) {
        let Some(mut sandbox) = self.sandbox.take() else {
            return;
        };
        // A slirp4netns that died cannot serve another container.
        if sandbox.slirp.try_wait().ok().flatten().is_some() {
            sandbox.teardown();
            return;
        }
        match self.pool.free.lock() {
            Ok(mut free) => free.push(sandbox),
            Err(_) => sandbox.teardown(),
        }
    }
}

impl NetworkPool {
    /// A pool keeping its namespace files in `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> NetworkPool {
        let find = |paths: &[&str]| paths.iter().map(PathBuf::from).find(|p| p.exists());
        NetworkPool {
            inner: Arc::new(PoolInner {
                dir: dir.into(),
                slirp: find(&SLIRP_PATHS),
                unshare: find(&UNSHARE_PATHS),
                free: Mutex::new(Vec::new()),
                swept: Once::new(),
                counter: AtomicU32::new(0),
            }),
        }
    }

    /// Whether containers get outbound network (slirp4netns and unshare are installed).
    pub fn available(&self) -> bool {
        self.inner.slirp.is_some() && self.inner.unshare.is_some()
    }

    /// A namespace with outbound network for one container. Without slirp4netns the lease
    /// is empty (see [`NetworkLease::path`]) and a warning says once what to install.
    pub fn acquire(&self) -> Result<NetworkLease> {
        let inner = &self.inner;
        let (Some(slirp), Some(unshare)) = (&inner.slirp, &inner.unshare) else {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "slirp4netns is not installed: RUN steps have no network access (install \
                     the slirp4netns package, or use RUN --network=host with the network.host \
                     entitlement)"
                );
            });
            return Ok(NetworkLease {
                pool: inner.clone(),
                sandbox: None,
            });
        };
        inner.swept.call_once(|| sweep(&inner.dir));
        let reused = inner.free.lock().ok().and_then(|mut f| f.pop());
        let sandbox = match reused {
            Some(s) => s,
            None => {
                let n = inner.counter.fetch_add(1, Ordering::Relaxed);
                let path = inner.dir.join(format!("{}-{n}", std::process::id()));
                create(slirp, unshare, &inner.dir, path)?
            }
        };
        Ok(NetworkLease {
            pool: inner.clone(),
            sandbox: Some(sandbox),
        })
    }
}

impl Drop for NetworkPool {
    fn drop(&mut self) {
        let free = match self.inner.free.lock() {
            Ok(mut f) => std::mem::take(&mut *f),
            Err(_) => return,
        };
        for s in free {
            s.teardown();
        }
    }
}

fn net_err(what: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Network {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a namespace file at `path` and starts slirp4netns on it; returns once the tap
/// device inside is configured.
fn create(slirp: &Path, unshare: &Path, dir: &Path, path: PathBuf) -> Result<Sandbox> {
    std::fs::create_dir_all(dir).map_err(|e| net_err("creating", dir, e))?;
    std::fs::File::create(&path).map_err(|e| net_err("creating", &path, e))?;
    let status = Command::new(unshare)
        .arg(format!("--net={}", path.display()))
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| net_err("running unshare for", &path, e))?;
    if !status.status.success() {
        release_file(&path);
        return Err(Error::Runtime(format!(
            "creating a network namespace with {}: {} (RUN --network=none runs the step \
             without network)",
            unshare.display(),
            String::from_utf8_lossy(&status.stderr).trim()
        )));
    }
    // stdin is the exit fd (kiln closing it, or dying, stops slirp4netns); stdout the ready fd;
    // stderr a log read back if it fails.
    let log_path = path.with_extension("log");
    let log = std::fs::File::create(&log_path).map_err(|e| net_err("creating", &log_path, e))?;
    let mut child = match Command::new(slirp)
        .args([
            "--netns-type=path",
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--ready-fd=1",
            "--exit-fd=0",
        ])
        .arg(&path)
        .arg("eth0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            release_file(&path);
            return Err(net_err("starting slirp4netns for", &path, e));
        }
    };
    let _ = std::fs::write(path.with_extension("pid"), child.id().to_string());
    let mut ready = [0u8; 1];
    let ok = child
        .stdout
        .as_mut()
        .map(|o| o.read_exact(&mut ready).is_ok())
        .unwrap_or(false);
    let sandbox = Sandbox { path, slirp: child };
    if !ok || ready[0] != b'1' {
        let path = sandbox.path.clone();
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        let said = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        let said = said.to_string();
        sandbox.teardown();
        return Err(Error::Runtime(format!(
            "slirp4netns did not configure the network namespace {}: {said} (RUN \
             --network=none runs the step without network)",
            path.display()
        )));
    }
    Ok(sandbox)
}

/// Removes what a killed kiln process left in `dir`: its slirp4netns processes (recorded in
/// `<ns>.pid`, ended only when that pid still runs slirp4netns) and namespace files. Files
/// of processes still alive are left alone.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let owner = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if owner.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
            continue;
        }
        let pid_file = path.with_extension("pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ours = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == path.as_os_str().as_encoded_bytes());
            if ours && let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        release_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn leases_are_reused_and_everything_is_torn_down() {
        let dir = tempfile::tempdir().unwrap();
        let pool = NetworkPool::new(dir.path().join("netns"));
        if !pool.available() || !root() {
            eprintln!("skipped: needs root and slirp4netns");
            return;
        }
        let first = pool.acquire().unwrap();
        let path = first.path().unwrap().to_path_buf();
        let second = pool.acquire().unwrap();
        assert_ne!(
            second.path().unwrap(),
            path,
            "parallel leases share a namespace"
        );
        drop(first);
        let third = pool.acquire().unwrap();
        assert_eq!(
            third.path().unwrap(),
            path,
            "a free namespace was not reused"
        );
        // The namespace has the configured interface.
        let out = Command::new("nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["ip", "-o", "-4", "addr", "show", "eth0"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("10.0.2.100/24"),
            "{out:?}"
        );
        drop((second, third));
        drop(pool);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("netns"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn a_dead_owners_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let netns = dir.path().join("netns");
        std::fs::create_dir_all(&netns).unwrap();
        // pid 0 never names a live process directory we could confuse with ours.
        std::fs::write(netns.join("0-7"), b"").unwrap();
        std::fs::write(netns.join("0-7.pid"), b"999999999").unwrap();
        let alive = netns.join(format!("{}-1", std::process::id()));
        std::fs::write(&alive, b"").unwrap();
        sweep(&netns);
        assert!(!netns.join("0-7").exists());
        assert!(!netns.join("0-7.pid").exists());
        assert!(alive.exists(), "a live process's namespace was swept");
    }
}

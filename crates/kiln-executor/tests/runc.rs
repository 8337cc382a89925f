//! End-to-end tests with Debian's runc and a busybox-static rootfs (root only; they skip with a
//! printed line when root, runc or busybox-static are unavailable, unless `CI=true`).

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use kiln_executor::{
    Entitlements, Error, Executor, HostIp, Mount, MountSource, NetworkMode, ProcessSpec, RawMount,
    RunRequest, RuncConfig, RuncExecutor, Stream,
};

const RUNC: &str = "/usr/sbin/runc";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(why: &str) -> Option<Harness> {
    if ci() {
        panic!("CI=true but the runc integration tests cannot run: {why}");
    }
    println!("skipping runc integration test: {why}");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| o.stdout == b"install ok installed")
}

/// A static busybox: the installed busybox-static's, or one unpacked from `apt-get download`.
fn busybox() -> Option<PathBuf> {
    static BUSYBOX: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUSYBOX
        .get_or_init(|| {
            if installed("busybox-static") {
                return Some(PathBuf::from("/bin/busybox"));
            }
            let dir =
                std::env::temp_dir().join(format!("kiln-executor-busybox-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let ok = Command::new("apt-get")
                .args(["download", "busybox-static"])
                .current_dir(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
            let deb = std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))?;
            let root = dir.join("root");
            let ok = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(&root)
                .status()
                .is_ok_and(|s| s.success());
            let bin = root.join("bin/busybox");
            (ok && bin.exists()).then_some(bin)
        })
        .clone()
}

fn runc_available() -> bool {
    if Path::new(RUNC).exists() {
        return true;
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "runc"])
        .status();
    Path::new(RUNC).exists()
}

struct Harness {
    _tmp: tempfile::TempDir,
    rootfs: PathBuf,
    state: PathBuf,
}

fn harness() -> Option<Harness> {
    if !is_root() {
        return skip("not running as root");
    }
    if !runc_available() {
        return skip("runc is not installed (apt-get install runc)");
    }
    let Some(busybox) = busybox() else {
        return skip("busybox-static is unavailable (apt-get install busybox-static)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    let state = tmp.path().join("state");
    Some(Harness {
        _tmp: tmp,
        rootfs,
        state,
    })
}

impl Harness {
    fn executor(&self, entitlements: Entitlements) -> RuncExecutor {
        let mut cfg = RuncConfig::new(&self.state);
        cfg.entitlements = entitlements;
        RuncExecutor::new(cfg)
    }

    fn request(&self, script: &str) -> RunRequest {
        RunRequest {
            process: ProcessSpec {
                args: vec!["/bin/sh".into(), "-c".into(), script.into()],
                ..ProcessSpec::default()
            },
            rootfs: vec![RawMount {
                typ: "bind".into(),
                source: self.rootfs.clone(),
                options: vec!["rbind".into(), "rw".into()],
            }],
            ..RunRequest::default()
        }
    }

    async fn run(&self, req: RunRequest) -> (Result<(), Error>, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut sink = |s: Stream, b: Bytes| match s {
            Stream::Stdout => out.extend_from_slice(&b),
            Stream::Stderr => err.extend_from_slice(&b),
        };
        let res = self
            .executor(Entitlements::default())
            .run(req, &mut sink)
            .await;
        (
            res,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// Nothing left behind: no bundle, no runc state.
    fn assert_clean(&self) {
        let bundles: Vec<_> = std::fs::read_dir(self.state.join("bundles"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(bundles.is_empty(), "bundles left behind: {bundles:?}");
        let states: Vec<_> = std::fs::read_dir(self.state.join("runc"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(states.is_empty(), "runc state left behind: {states:?}");
    }
}

#[tokio::test]
async fn echo_output_is_captured() {
    let Some(h) = harness() else { return };
    let (res, out, err) = h.run(h.request("echo hi; echo warn >&2")).await;
    res.unwrap();
    assert_eq!(out, "hi\n");
    assert_eq!(err, "warn\n");
    h.assert_clean();
}

#[tokio::test]
async fn failing_process_gives_exit_code_and_tail() {
    let Some(h) = harness() else { return };
    let (res, _, _) = h.run(h.request("echo one; echo oops >&2; exit 3")).await;
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "process \"/bin/sh -c echo one; echo oops >&2; exit 3\" did not complete successfully: exit code: 3"
    );
    assert_eq!(err.exit_code(), Some(3));
    let Error::ProcessFailed(f) = err else {
        panic!("not a process failure")
    };
    // stdout and stderr are separate pipes: their relative order is not guaranteed.
    let mut tail = f.output_tail;
    tail.sort();
    assert_eq!(tail, vec!["one", "oops"]);

    let (res, out, _) = h.run(h.request("seq 1 100; exit 1")).await;
    assert_eq!(out.lines().count(), 100);
    let Err(Error::ProcessFailed(f)) = res else {
        panic!("not a process failure")
    };
    let want: Vec<String> = (81..=100).map(|i| i.to_string()).collect();
    assert_eq!(f.output_tail, want);
    h.assert_clean();
}

#[tokio::test]
async fn users_are_resolved_from_the_rootfs() {
    let Some(h) = harness() else { return };
    let mut req = h.request("id");
    req.process.user = "nobody".into();
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    assert!(
        out.starts_with("uid=65534(nobody) gid=65534(nogroup)"),
        "{out}"
    );

    let mut req = h.request("id -u; id -G");
    req.process.user = "app".into();
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    assert_eq!(out, "1000\n1000 10\n");

    let mut req = h.request("id");
    req.process.user = "foo".into();
    let (res, _, _) = h.run(req).await;
    assert_eq!(
        res.unwrap_err().to_string(),
        "unable to find user foo: no matching entries in passwd file"
    );
    h.assert_clean();
}

#[tokio::test]
async fn hostname_and_hosts() {
    let Some(h) = harness() else { return };
    let (res, out, _) = h.run(h.request("hostname")).await;
    res.unwrap();
    assert_eq!(out, "buildkitsandbox\n");

    let mut req = h.request("hostname; cat /etc/hosts; echo x >> /etc/hosts || echo read-only");
    req.hostname = Some("kilnbox".into());
    req.extra_hosts = vec![HostIp {
        host: "db.internal".into(),
        ip: "10.1.2.3".parse().unwrap(),
    }];
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    assert!(
        out.starts_with("kilnbox\n127.0.0.1\tlocalhost kilnbox\n"),
        "{out}"
    );
    assert!(out.contains("10.1.2.3\tdb.internal\n"), "{out}");
    assert!(out.ends_with("read-only\n"), "{out}");
    // The runtime's mountpoint stub is removed after the run.
    assert!(!h.rootfs.join("etc/hosts").exists());
    assert!(!h.rootfs.join("etc/resolv.conf").exists());
    h.assert_clean();
}

#[tokio::test]
async fn env_cwd_and_resolv_conf() {
    let Some(h) = harness() else { return };
    let mut req = h.request("pwd; echo $FOO; echo $PATH; grep -c nameserver /etc/resolv.conf");
    req.process.env = vec!["FOO=bar baz".into()];
    req.process.cwd = "/work/dir".into();
    req.process.user = "app".into();
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["/work/dir", "bar baz", kiln_executor::DEFAULT_PATH]
    );
    assert_ne!(lines[3], "0");
    let md = std::fs::metadata(h.rootfs.join("work/dir")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 1000);
    h.assert_clean();
}

#[tokio::test]
async fn network_none_has_only_loopback() {
    let Some(h) = harness() else { return };
    let mut req = h.request("ls /sys/class/net");
    req.network = NetworkMode::None;
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    assert_eq!(out, "lo\n");
    h.assert_clean();
}

#[tokio::test]
async fn writes_land_in_the_rootfs_and_mounts_work() {
    let Some(h) = harness() else { return };
    let cache = h.state.parent().unwrap().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let mut req = h.request(
        "echo data > /out.txt; echo cached > /cache/c.txt; \
         echo t > /scratch/t && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs-ok",
    );
    req.mounts = vec![
        Mount {
            destination: "/cache".into(),
            source: MountSource::Cache {
                dir: cache.clone(),
                readonly: false,
            },
        },
        Mount {
            destination: "/scratch".into(),
            source: MountSource::Tmpfs {
                size: Some(1 << 20),
            },
        },
    ];
    let (res, out, _) = h.run(req).await;
    res.unwrap();
    assert_eq!(out, "tmpfs-ok\n");
    assert_eq!(
        std::fs::read_to_string(h.rootfs.join("out.txt")).unwrap(),
        "data\n"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("c.txt")).unwrap(),
        "cached\n"
    );
    assert!(!h.rootfs.join("scratch/t").exists());
    h.assert_clean();
}

#[tokio::test]
async fn entitlements_are_checked_before_anything() {
    let Some(h) = harness() else { return };
    let mut req = h.request("true");
    req.network = NetworkMode::Host;
    let (res, _, _) = h.run(req.clone()).await;
    assert!(matches!(
        res,
        Err(Error::EntitlementNotAllowed("network.host"))
    ));
    assert!(!h.state.exists());
    let res = h
        .executor(Entitlements::all())
        .run(req, &mut kiln_executor::Discard)
        .await;
    res.unwrap();
    h.assert_clean();
}

#[tokio::test]
async fn cancellation_cleans_up() {
    let Some(h) = harness() else { return };
    let exec = h.executor(Entitlements::default());
    let req = h.request("echo started; sleep 60");
    let mut sink = kiln_executor::Discard;
    let res = tokio::time::timeout(Duration::from_secs(2), exec.run(req, &mut sink)).await;
    assert!(res.is_err(), "the process should still be running");
    h.assert_clean();
    // The rootfs was unmounted, not emptied.
    assert!(h.rootfs.join("bin/busybox").exists());
}

#[tokio::test]
async fn overlay_rootfs_plan_writes_to_the_upper_dir() {
    let Some(h) = harness() else { return };
    let base = h.state.parent().unwrap();
    let (upper, work) = (base.join("upper"), base.join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let mut req = h.request("echo layer > /etc/new.txt; rm /bin/true; cat /etc/new.txt");
    req.rootfs = vec![RawMount {
        typ: "overlay".into(),
        source: "overlay".into(),
        options: vec![
            format!("lowerdir={}", h.rootfs.display()),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ],
    }];
    let (res, out, err) = h.run(req).await;
    res.unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(out, "layer\n");
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/new.txt")).unwrap(),
        "layer\n"
    );
    // The lower dir is untouched; the deletion is a whiteout in the upper dir.
    assert!(!h.rootfs.join("etc/new.txt").exists());
    assert!(h.rootfs.join("bin/true").exists());
    assert!(std::fs::symlink_metadata(upper.join("bin/true")).is_ok());
    // No mountpoint stubs in the layer.
    assert!(!upper.join("etc/hosts").exists());
    assert!(!upper.join("etc/resolv.conf").exists());
    h.assert_clean();
}

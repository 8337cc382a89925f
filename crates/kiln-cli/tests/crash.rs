//! The store is crash-safe: `kiln build` killed with SIGKILL mid-RUN and mid-export, at a few
//! different moments, then rebuilt on the same `--root`. Every rebuild must succeed without
//! help (the worker's startup sweep cleans what the killed process left), leave no mount under
//! the root and no process of the killed build behind, write a valid OCI archive, and every blob
//! in the content store must hash to its name. As root on real components (local registry,
//! overlayfs, runc); skipped with a printed line when one is missing, unless `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use kiln_testkit::say;

mod common;

use common::{BuildEnv, build_env, dir_names, skopeo_oci_manifest, verify_store_blobs};

/// The tests kill builds at chosen moments: one at a time, so they do not skew each other's
/// timing on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// A process identified by pid and start time (so a reused pid is not mistaken for it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proc {
    pid: u32,
    start: String,
    what: String,
}

impl Proc {
    fn get(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`: state is the 1st, starttime the 20th.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        if fields.first() == Some(&"Z") {
            return None;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let what = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        Some(Proc {
            pid,
            start: fields.get(19)?.to_string(),
            what: what.trim().to_string(),
        })
    }

    fn alive(&self) -> bool {
        Proc::get(self.pid).is_some_and(|p| p.start == self.start)
    }
}

struct Env {
    base: BuildEnv,
    /// Processes a killed build left running; killed by pid on drop if still alive.
    leftovers: Vec<Proc>,
}

impl Env {
    fn root(&self) -> PathBuf {
        self.base.path("root")
    }

    fn path(&self, p: &str) -> PathBuf {
        self.base.path(p)
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = self.base.command(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn kiln(&self, args: &[String]) -> Output {
        let out = self.command(args).output().unwrap();
        say(&format!(
            "kiln {}: {}\n--- stderr ---\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    }

    /// Starts a build and SIGKILLs it `delay` after a stderr line matching `marker`. Returns
    /// whether it was killed (false: it exited first) and its stderr.
    fn kill_build(&self, args: &[String], marker: &str, delay: Duration) -> (bool, String) {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut log = String::new();
        let mut seen: Option<Instant> = None;
        let killed = loop {
            if seen.is_some_and(|at| at.elapsed() >= delay) {
                // Still running (try_wait reaps it only if it already exited): kill it.
                break match child.try_wait().unwrap() {
                    None => {
                        child.kill().unwrap();
                        true
                    }
                    Some(_) => false,
                };
            }
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            assert!(Instant::now() < deadline, "no `{marker}` in 120 s:\n{log}");
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(line) => {
                    if seen.is_none() && line.contains(marker) {
                        seen = Some(Instant::now());
                    }
                    log.push_str(&line);
                    log.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
            }
        };
        let status = child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            log.push_str(&line);
            log.push('\n');
        }
        say(&format!(
            "kiln {} ({}, {:?} after `{marker}`): {status}\n--- stderr ---\n{log}",
            args.join(" "),
            if killed { "KILLED" } else { "not killed" },
            delay
        ));
        (killed, log)
    }

    /// What the killed build left: mounts, runc containers and processes. The processes are
    /// remembered so the next check can require them gone (and drop can end them).
    fn note_leftovers(&mut self, what: &str) {
        let root = self.root();
        let mounts = mounts_under(&root);
        let containers = dir_names(&root.join("runc"));
        let mut procs = procs_mentioning(&root);
        for id in &containers {
            let state = std::fs::read(root.join("runc").join(id).join("state.json"));
            let pid = state
                .ok()
                .and_then(|s| serde_json::from_slice::<serde_json::Value>(&s).ok())
                .and_then(|v| v["init_process_pid"].as_u64());
            if let Some(p) = pid.and_then(|p| Proc::get(p as u32)) {
                procs.push(p);
            }
        }
        say(&format!(
            "{what}: left {} mounts, runc containers {containers:?}, processes {:?}",
            mounts.len(),
            procs.iter().map(|p| &p.what).collect::<Vec<_>>()
        ));
        self.leftovers.extend(procs);
    }

    /// After a successful rebuild: no mount under the root, no process of a killed build,
    /// every blob hashes to its name, and the OCI archive is valid.
    fn verify(&self, what: &str, out_tar: &Path) {
        let root = self.root();
        let mounts = mounts_under(&root);
        assert!(
            mounts.is_empty(),
            "{what}: mounts left under the root: {mounts:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let alive: Vec<&Proc> = self.leftovers.iter().filter(|p| p.alive()).collect();
            if alive.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: processes of the killed build still run after the rebuild: {alive:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let containers = dir_names(&root.join("runc"));
        assert!(
            containers.is_empty(),
            "{what}: runc containers left: {containers:?}"
        );
        let n = verify_store_blobs(&root);
        let manifest = skopeo_oci_manifest(what, out_tar);
        assert!(
            manifest["layers"].as_array().is_some_and(|l| l.len() >= 2),
            "{what}: {manifest}"
        );
        let ingests = dir_names(&root.join("content").join("ingest"));
        say(&format!(
            "{what}: verified {n} blobs, the OCI archive; ingests left: {ingests:?}"
        ));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Only after a failure is there anything to do: end what the killed builds left
        // (by pid), delete their runc containers and unmount, so the temp dir can go.
        for p in self.leftovers.iter().filter(|p| p.alive()) {
            let _ = Command::new("kill")
                .args(["-9", &p.pid.to_string()])
                .status();
        }
        let root = self.root();
        for id in dir_names(&root.join("runc")) {
            let _ = Command::new("/usr/sbin/runc")
                .arg("--root")
                .arg(root.join("runc"))
                .args(["delete", "--force", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let mut mounts = mounts_under(&root);
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
    }
}

fn setup(test: &str) -> Option<Env> {
    Some(Env {
        base: build_env(test)?,
        leftovers: Vec::new(),
    })
}

/// Mount points beneath `root` (field 5 of `/proc/self/mountinfo`, octal escapes decoded).
fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|f| {
            let b = f.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'\\'
                    && i + 3 < b.len()
                    && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
                {
                    let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
                    out.push(v);
                    i += 4;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            PathBuf::from(String::from_utf8_lossy(&out).into_owned())
        })
        .filter(|p| p.starts_with(root) && p != root)
        .collect()
}

/// Live processes (other than this one) whose command line names `root` (e.g. an orphaned
/// `runc --root <root>/runc run ...`).
fn procs_mentioning(root: &Path) -> Vec<Proc> {
    let me = std::process::id();
    let needle = root.to_string_lossy().into_owned();
    dir_names(Path::new("/proc"))
        .iter()
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(Proc::get)
        .filter(|p| p.what.contains(&needle))
        .collect()
}

fn build_args(ctx: &Path, out_tar: &Path, build_args: &[(&str, String)]) -> Vec<String> {
    let mut args = vec!["build".to_string(), "--progress=plain".to_string()];
    for (k, v) in build_args {
        args.push("--build-arg".to_string());
        args.push(format!("{k}={v}"));
    }
    args.push("-o".to_string());
    args.push(format!("type=oci,dest={}", out_tar.display()));
    args.push(ctx.display().to_string());
    args
}

/// SIGKILL while a RUN step runs (as it starts, while it writes, while it sleeps), then a
/// rebuild without the sleep on the same root.
#[test]
fn kill_mid_run_then_rebuild() {
    let test = "crash mid-RUN";
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut env) = setup(test) else {
        return;
    };
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG N=0\nARG S=0\n\
         RUN echo run-$N && dd if=/dev/urandom of=/big bs=1M count=8 && sleep $S\n",
    )
    .unwrap();
    let started = Instant::now();
    for (i, delay_ms) in [0u64, 400, 1500].into_iter().enumerate() {
        let what = format!("{test} #{i} (+{delay_ms} ms)");
        let out_tar = env.path(&format!("run-{i}.tar"));
        let n = i.to_string();
        let slow = build_args(&ctx, &out_tar, &[("N", n.clone()), ("S", "30".into())]);
        let (killed, log) = env.kill_build(&slow, "RUN echo run-", Duration::from_millis(delay_ms));
        assert!(killed, "{what}: the build ended before the kill:\n{log}");
        env.note_leftovers(&what);

        let fast = build_args(&ctx, &out_tar, &[("N", n), ("S", "0".into())]);
        let rebuilt = env.kiln(&fast);
        assert!(
            rebuilt.status.success(),
            "{what}: the rebuild after the kill failed:\n{}",
            String::from_utf8_lossy(&rebuilt.stderr)
        );
        env.verify(&what, &out_tar);
    }
    say(&format!("{test}: {:?}", started.elapsed()));
}

/// SIGKILL while the image is exported (a 64 MiB layer of random data being diffed and
/// compressed, then the archive written), then the same build again on the same root.
#[test]
fn kill_mid_export_then_rebuild() {
    let test = "crash mid-export";
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut env) = setup(test) else {
        return;
    };
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG N=0\n\
         RUN echo run-$N && dd if=/dev/urandom of=/big bs=1M count=64\n",
    )
    .unwrap();
    let started = Instant::now();
    // The exporting vertex starts before the layers are diffed and compressed; its `exporting
    // config` status comes before the archive is written.
    let points = [
        ("exporting to oci image format", 0u64),
        ("exporting to oci image format", 600),
        ("exporting config", 0),
    ];
    for (i, (marker, delay_ms)) in points.into_iter().enumerate() {
        let what = format!("{test} #{i} (+{delay_ms} ms after `{marker}`)");
        let out_tar = env.path(&format!("export-{i}.tar"));
        let args = build_args(&ctx, &out_tar, &[("N", i.to_string())]);
        let (killed, log) = env.kill_build(&args, marker, Duration::from_millis(delay_ms));
        assert!(killed, "{what}: the build ended before the kill:\n{log}");
        env.note_leftovers(&what);

        let rebuilt = env.kiln(&args);
        assert!(
            rebuilt.status.success(),
            "{what}: the rebuild after the kill failed:\n{}",
            String::from_utf8_lossy(&rebuilt.stderr)
        );
        env.verify(&what, &out_tar);
    }
    say(&format!("{test}: {:?}", started.elapsed()));
}

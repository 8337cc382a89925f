//! Helpers shared by the end-to-end tests of the `kiln` binary (`mod common;` in each test
//! file): the hermetic `kiln` command, a throwaway build context with its own kiln root, and
//! output helpers.
//!
//! Every kiln process started through here gets a dead proxy (nothing leaves the machine) and
//! a kiln root inside a temporary directory of its own test, removed when that test's
//! directory is dropped: no test writes to `/var/lib/kiln` or leaves state in `/tmp`.

// Each test file compiles its own copy of this module and uses only some of it; without this,
// every file would warn about the helpers it does not use.
#![allow(dead_code)]
// Test helpers outside `#[test]` functions may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kiln_testkit::images::{busybox_reference, or_skip, push_recorded_busybox, write_kiln_config};
use kiln_testkit::registry::{RegistryOptions, TestRegistry};
use kiln_testkit::say;

/// The dead local proxy every kiln process is pointed at.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// Hosts kiln may still reach directly (the tests' local registries).
const NO_PROXY: &str = "127.0.0.1,localhost";

/// The `kiln` binary with the environment every test runs it in: no builder, progress,
/// platform or epoch from the caller's environment, every proxy variable set to a dead local
/// proxy (a `FROM busybox` that kiln resolves goes there instead of Docker Hub), `KILN_ROOT`
/// set to `root` (never `/var/lib/kiln`), stdin empty.
pub fn kiln_command(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.env_remove("BUILDX_BUILDER")
        .env("HTTPS_PROXY", DEAD_PROXY)
        .env("HTTP_PROXY", DEAD_PROXY)
        .env("https_proxy", DEAD_PROXY)
        .env("http_proxy", DEAD_PROXY)
        .env("NO_PROXY", NO_PROXY)
        .env("no_proxy", NO_PROXY)
        .env_remove("BUILDKIT_PROGRESS")
        .env_remove("BUILDX_NO_DEFAULT_LOAD")
        .env_remove("DOCKER_DEFAULT_PLATFORM")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("KILN_ROOT", root)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `stdin` on its standard input and collects its output.
pub fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kiln may exit before reading stdin (e.g. on a flag error): a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Runs `kiln <args>` in the system temporary directory, with a kiln root of its own that is
/// removed afterwards (for runs that need no build context).
pub fn kiln(args: &[&str]) -> Output {
    let scratch = tempfile::Builder::new()
        .prefix("kiln-cli-e2e-")
        .tempdir()
        .unwrap();
    kiln_command(&scratch.path().join("root"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap()
}

/// A fresh build context holding `files` (name, contents) next to a kiln root of its own,
/// both in one temporary directory removed when dropped. `kiln` runs inside the context, so
/// excerpts name `Dockerfile` as buildx prints it there.
pub struct Ctx {
    dir: tempfile::TempDir,
    context: PathBuf,
}

impl Ctx {
    pub fn new(files: &[(&str, &str)]) -> Ctx {
        let dir = tempfile::Builder::new()
            .prefix("kiln-cli-e2e-")
            .tempdir()
            .unwrap();
        let context = dir.path().join("context");
        std::fs::create_dir(&context).unwrap();
        for (name, body) in files {
            let p = context.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        Ctx { dir, context }
    }

    /// The build context directory.
    pub fn path(&self) -> &Path {
        &self.context
    }

    /// The kiln root of this context's runs.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `kiln <args>` run inside the context.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = kiln_command(&self.root());
        cmd.args(args).current_dir(&self.context);
        cmd
    }

    /// Runs `kiln <args>` inside the context.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `kiln <args>` inside the context with `stdin` on its standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        output_with_stdin(&mut self.command(args), stdin)
    }

    /// Runs `kiln build <args> .` inside the context.
    pub fn build(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&["build"]);
        cmd.args(args).arg(".").output().unwrap()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard base64 (how Go's JSON encodes the Dockerfile bytes).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Whether the root-only end-to-end tests can run here (root, runc, skopeo, umoci); prints
/// why not and returns false otherwise, and fails instead under `CI=true`.
pub fn can_run_as_root(test: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing = ["/usr/sbin/runc", "/usr/bin/skopeo", "/usr/bin/umoci"]
        .into_iter()
        .find(|p| !Path::new(p).exists());
    let why = match (root, missing) {
        (false, _) => Some("not running as root".to_string()),
        (true, Some(p)) => Some(format!("{p} is missing")),
        _ => None,
    };
    if let Some(why) = why {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{test}: {why}"
        );
        kiln_testkit::say(&format!("{test}: skipped ({why})"));
        return false;
    }
    true
}

/// A build environment for end-to-end builds: a real registry serving the recorded busybox as
/// `docker.io/library/busybox` through a kiln.toml mirror, and a directory holding the kiln
/// root, the config and a private `DOCKER_CONFIG`.
pub struct BuildEnv {
    pub registry: TestRegistry,
    pub dir: tempfile::TempDir,
}

impl BuildEnv {
    /// `kiln <args>` against this environment's root, config and `DOCKER_CONFIG`.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = kiln_command(&self.dir.path().join("root"));
        cmd.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--config")
            .arg(self.dir.path().join("kiln.toml"))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        cmd
    }

    /// Runs `kiln <args>` against this environment's root and config.
    pub fn kiln(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        say(&format!(
            "kiln {}: {}\n--- stderr ---\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    }

    /// A path inside the environment's directory.
    pub fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
}

/// A [`BuildEnv`], or `None` (printed) when the root-only components are missing.
pub fn build_env(test: &str) -> Option<BuildEnv> {
    if !can_run_as_root(test) {
        return None;
    }
    let registry = TestRegistry::start(RegistryOptions::default())?;
    or_skip(
        test,
        push_recorded_busybox(&busybox_reference(registry.host())),
    )?;
    let dir = tempfile::tempdir().unwrap();
    write_kiln_config(&dir.path().join("kiln.toml"), registry.host()).unwrap();
    Some(BuildEnv { registry, dir })
}

/// The names in `dir`, sorted (empty when it does not exist).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Re-hashes every blob of the kiln content store under `root` and fails on one whose bytes do
/// not match its name (or on an empty store); returns how many there are.
pub fn verify_store_blobs(root: &Path) -> usize {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let dir = root.join("content").join("blobs").join("sha256");
    let names = dir_names(&dir);
    assert!(!names.is_empty(), "no blobs under {}", dir.display());
    for name in &names {
        let path = dir.join(name);
        assert!(
            name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "not a blob name: {}",
            path.display()
        );
        let mut file = std::fs::File::open(&path).unwrap();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&hex, name, "blob {} has the wrong digest", path.display());
    }
    names.len()
}

/// The manifest of the OCI archive `out_tar` as `skopeo inspect --raw` reads it (which must
/// accept the archive); `what` prefixes the failure message.
pub fn skopeo_oci_manifest(what: &str, out_tar: &Path) -> serde_json::Value {
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", out_tar.display()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{what}: skopeo inspect {}: {}",
        out_tar.display(),
        String::from_utf8_lossy(&raw.stderr)
    );
    serde_json::from_slice(&raw.stdout).unwrap()
}

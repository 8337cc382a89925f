//! `kiln build` end to end, as root on real components: a local registry serving the recorded
//! busybox as `docker.io/library/busybox` through a kiln.toml mirror, overlayfs, runc; the
//! result checked with skopeo and umoci. Every kiln process gets a dead proxy so nothing
//! leaves the machine. Skipped with a printed line when a component is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod common;

use common::{build_env as setup, stderr};

/// The plain-progress lines of the build steps (`#N [2/3] RUN ...`) and what became of them.
fn step_outcomes(err: &str) -> Vec<(String, bool)> {
    let mut steps: Vec<(String, String, bool)> = Vec::new();
    for line in err.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((num, text)) = rest.split_once(' ') else {
            continue;
        };
        if text.starts_with('[') && !text.starts_with("[internal]") && !text.contains(" CACHED") {
            if !steps.iter().any(|(n, _, _)| n == num) {
                steps.push((num.to_string(), text.to_string(), false));
            }
        } else if text == "CACHED" {
            if let Some(s) = steps.iter_mut().find(|(n, _, _)| n == num) {
                s.2 = true;
            }
        }
    }
    steps.into_iter().map(|(_, t, c)| (t, c)).collect()
}

#[test]
fn build_export_cache_and_failure() {
    let test = "kiln build e2e";
    let Some(env) = setup(test) else {
        return;
    };
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo hi > /x\nCOPY a /a\n",
    )
    .unwrap();
    std::fs::write(ctx.join("a"), "file a\n").unwrap();
    std::fs::write(ctx.join("unrelated"), "one\n").unwrap();
    let out_tar = env.path("out.tar");
    let output = format!("type=oci,dest={}", out_tar.display());
    let iid = env.path("iid");
    let ctx_s = ctx.to_str().unwrap();
    let args = [
        "build",
        "--progress=plain",
        "-t",
        "kiln-e2e:v1",
        "--iidfile",
        iid.to_str().unwrap(),
        "-o",
        output.as_str(),
        ctx_s,
    ];

    // First build: runs every step and writes a valid OCI archive.
    let first = env.kiln(&args);
    assert!(
        first.status.success(),
        "first build failed:\n{}",
        stderr(&first)
    );
    let steps = step_outcomes(&stderr(&first));
    assert!(
        steps
            .iter()
            .any(|(t, c)| t.contains("RUN echo hi > /x") && !c),
        "{steps:?}"
    );
    // BuildKit's vertices and statuses around the steps, in its order.
    let err = stderr(&first);
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{err}"))
    };
    let order = [
        at(
            "#1 [internal] load build definition from Dockerfile\n#1 transferring dockerfile: 40B done",
        ),
        at("[internal] load metadata for docker.io/library/busybox:latest"),
        at("[internal] load .dockerignore\n"),
        at("[1/3] FROM docker.io/library/busybox:latest@sha256:"),
        at(" resolve docker.io/library/busybox:latest@sha256:"),
        at(" extracting sha256:"),
        at("[2/3] RUN echo hi > /x"),
        at("exporting to oci image format\n"),
        at(" exporting layers "),
        at(" exporting manifest sha256:"),
        at(" exporting config sha256:"),
        at(" sending tarball "),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{err}");
    assert!(
        err.contains("[internal] load build context\n#4 transferring context: "),
        "{err}"
    );
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", out_tar.display()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["layers"].as_array().map(Vec::len),
        Some(3),
        "{manifest}"
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");

    let layout = env.path("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&out_tar)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(untar.success());
    let bundle = env.path("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        unpack.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/x")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/a")).unwrap(),
        "file a\n"
    );
    assert!(bundle.join("rootfs/bin/busybox").exists());

    // Identical rebuild: every step CACHED, nothing runs, same image ID.
    let second = env.kiln(&args);
    assert!(
        second.status.success(),
        "second build failed:\n{}",
        stderr(&second)
    );
    let steps = step_outcomes(&stderr(&second));
    // Cached steps are reported in step order, as BuildKit does.
    let names: Vec<&str> = steps.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        names.len() == 3
            && names[0].starts_with("[1/3] FROM")
            && names[1].starts_with("[2/3]")
            && names[2].starts_with("[3/3]"),
        "{names:?}"
    );
    assert!(
        steps
            .iter()
            .filter(|(t, _)| !t.contains("FROM"))
            .all(|(_, c)| *c),
        "not all cached: {steps:?}"
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);

    // A context file no COPY selects: still everything cached.
    std::fs::write(ctx.join("unrelated"), "two\n").unwrap();
    let third = env.kiln(&args);
    assert!(
        third.status.success(),
        "third build failed:\n{}",
        stderr(&third)
    );
    let steps = step_outcomes(&stderr(&third));
    assert!(
        steps
            .iter()
            .filter(|(t, _)| !t.contains("FROM"))
            .all(|(_, c)| *c),
        "an unrelated change re-ran steps: {steps:?}"
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);

    // A failing RUN: the step's box, the Dockerfile excerpt, then the process and exit code.
    std::fs::write(ctx.join("Dockerfile.fail"), "FROM busybox\nRUN exit 3\n").unwrap();
    let fail = env.kiln(&[
        "build",
        "--progress=plain",
        "-f",
        ctx.join("Dockerfile.fail").to_str().unwrap(),
        "-o",
        &format!("type=oci,dest={}", env.path("fail.tar").display()),
        ctx_s,
    ]);
    assert!(!fail.status.success());
    let err = stderr(&fail);
    let excerpt = err.find("Dockerfile.fail:2").expect("excerpt header");
    let error = err
        .find(
            "ERROR: failed to build: failed to solve: process \"/bin/sh -c exit 3\" did not complete \
             successfully: exit code: 3",
        )
        .expect("ERROR line");
    assert!(excerpt < error, "{err}");
    assert!(err.contains(">>> RUN exit 3"), "{err}");
}

/// `--push` uploads the image through kiln's registry client; `type=local` writes the tree.
#[test]
fn build_push_and_local_outputs() {
    let test = "kiln build push";
    let Some(env) = setup(test) else {
        return;
    };
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY a /a\nRUN cat /a > /b\n",
    )
    .unwrap();
    std::fs::write(ctx.join("a"), "pushed\n").unwrap();
    // To the host that is also docker.io's (pull-only) mirror in kiln.toml: pushing to it as a
    // registry of its own must still work.
    let name = format!("{}/e2e/app:1", env.registry.host());
    let meta = env.path("meta.json");
    let pushed = env.kiln(&[
        "build",
        "--progress=plain",
        "--push",
        "-t",
        &name,
        "--metadata-file",
        meta.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    assert!(pushed.status.success(), "push failed:\n{}", stderr(&pushed));
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["layers"].as_array().map(Vec::len),
        Some(3),
        "{manifest}"
    );
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert!(
        meta["containerimage.digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{meta}"
    );

    let out = env.path("tree");
    let local = env.kiln(&[
        "build",
        "--progress=quiet",
        "-o",
        &format!("type=local,dest={}", out.display()),
        ctx.to_str().unwrap(),
    ]);
    assert!(local.status.success(), "local failed:\n{}", stderr(&local));
    assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "pushed\n");
    assert!(out.join("bin/busybox").exists());
}

/// An address of this machine other than loopback (what a container's NAT can reach), found
/// by asking the kernel which source address it would use for an outside destination (no
/// packet is sent).
fn outward_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.200:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A one-file HTTP server on all addresses; answers every request with the current `body`
/// (and `Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT`).
fn serve(body: std::sync::Arc<std::sync::Mutex<String>>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = body.lock().unwrap().clone();
            let _ = write!(
                conn,
                "HTTP/1.0 200 OK\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn serve_once_per_request(body: &'static str) -> u16 {
    serve(std::sync::Arc::new(std::sync::Mutex::new(body.to_string())))
}

#[test]
fn add_from_a_url_is_keyed_by_content() {
    use std::os::unix::fs::MetadataExt;
    let test = "kiln build ADD url";
    let Some(env) = setup(test) else {
        return;
    };
    let body = std::sync::Arc::new(std::sync::Mutex::new("version one\n".to_string()));
    let port = serve(body.clone());
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let url = format!("http://127.0.0.1:{port}/files/app.conf?x=1");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nADD {url} /etc/\nRUN cat /etc/app.conf > /copy\n"),
    )
    .unwrap();
    let out = env.path("tree");
    let build = || {
        let o = env.kiln(&[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=local,dest={}", out.display()),
            ctx.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    build();
    let file = out.join("etc/app.conf");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "version one\n");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    // BuildKit's http source: mode 0600, root-owned, mtime from Last-Modified.
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 1_445_412_480);
    // Same content: the RUN after it is cached.
    let run_cached = |log: &str| {
        step_outcomes(log)
            .iter()
            .any(|(t, c)| t.contains("RUN cat /etc/app.conf") && *c)
    };
    let again = build();
    assert!(run_cached(&again), "{again}");
    // New content: the RUN runs again and sees it.
    *body.lock().unwrap() = "version two\n".to_string();
    let changed = build();
    assert!(!run_cached(&changed), "{changed}");
    assert_eq!(
        std::fs::read_to_string(out.join("copy")).unwrap(),
        "version two\n"
    );

    // A wrong --checksum fails and names both digests.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\nADD --checksum=sha256:{} {url} /x\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let bad = env.kiln(&["build", "--progress=plain", ctx.to_str().unwrap()]);
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(
        err.contains("digest mismatch") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    // An unreachable URL names it and the status.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nADD http://127.0.0.1:9/nothing /x\n",
    )
    .unwrap();
    let gone = env.kiln(&["build", "--progress=plain", ctx.to_str().unwrap()]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("failed to load http://127.0.0.1:9/nothing"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn run_steps_reach_the_network_unless_network_none() {
    let test = "kiln build network";
    let Some(env) = setup(test) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/slirp4netns").exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{test}: slirp4netns is missing"
        );
        kiln_testkit::say(&format!("{test}: skipped (slirp4netns is missing)"));
        return;
    }
    let Some(ip) = outward_address() else {
        kiln_testkit::say(&format!("{test}: skipped (no non-loopback address)"));
        return;
    };
    let port = serve_once_per_request("fetched over the sandbox network\n");
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\n\
             RUN wget -q -O /fetched http://{ip}:{port}/file\n\
             RUN --network=none (wget -q -T 2 -O /offline http://{ip}:{port}/file && echo reached > /none) || echo unreachable > /none\n"
        ),
    )
    .unwrap();
    let out = env.path("tree");
    let built = env.kiln(&[
        "build",
        "--progress=plain",
        "-o",
        &format!("type=local,dest={}", out.display()),
        ctx.to_str().unwrap(),
    ]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert_eq!(
        std::fs::read_to_string(out.join("fetched")).unwrap(),
        "fetched over the sandbox network\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("none")).unwrap(),
        "unreachable\n"
    );
    // The pooled namespaces and their slirp4netns processes are gone with the build.
    let netns = env.path("root/netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

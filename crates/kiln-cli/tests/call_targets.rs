//! End-to-end tests of `kiln build --call=targets`: the real `kiln` binary on a Dockerfile in
//! a temporary directory, checked against the exact text and JSON buildx prints.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh build context holding `files` (name, contents), removed when dropped; `kiln`
/// runs inside it with context `.`, so excerpts name `Dockerfile` as buildx prints it there.
struct Ctx(PathBuf);

impl Ctx {
    fn new(files: &[(&str, &str)]) -> Ctx {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("kiln-call-targets-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        Ctx(dir)
    }

    fn kiln(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .current_dir(&self.0)
            .arg("build")
            .args(args)
            .arg(".")
            .env_remove("BUILDX_BUILDER")
            // Tests never reach past this machine: a `FROM busybox` that kiln resolves for the
            // checks goes to a dead local proxy instead of Docker Hub.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .unwrap()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard base64 (how Go's JSON encodes the Dockerfile bytes).
fn base64(data: &[u8]) -> String {
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

const SRC: &str = "
# build defines stage for compiling the binary
FROM alpine AS build
RUN true

FROM busybox as second
RUN false

FROM alpine
RUN false

# binary returns the compiled binary
FROM second AS binary
";

#[test]
fn targets_text() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.kiln(&["--call=targets"]);
    assert_eq!(
        stdout(&o),
        "TARGET           DESCRIPTION
build            defines stage for compiling the binary
second           
                 
binary (default) returns the compiled binary
",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn targets_json() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.kiln(&["--call=targets,format=json"]);
    let loc = |l: usize| {
        format!(
            r#"      "location": {{
        "ranges": [
          {{
            "start": {{
              "line": {l}
            }},
            "end": {{
              "line": {l}
            }}
          }}
        ]
      }}"#
        )
    };
    let expected = format!(
        r#"{{
  "targets": [
    {{
      "name": "build",
      "description": "defines stage for compiling the binary",
      "base": "alpine",
{}
    }},
    {{
      "name": "second",
      "base": "busybox",
{}
    }},
    {{
      "base": "alpine",
{}
    }},
    {{
      "name": "binary",
      "default": true,
      "description": "returns the compiled binary",
      "base": "second",
{}
    }}
  ],
  "sources": [
    "{}"
  ]
}}
"#,
        loc(3),
        loc(6),
        loc(9),
        loc(13),
        base64(SRC.as_bytes())
    );
    assert_eq!(stdout(&o), expected, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn single_unnamed_stage_is_the_default() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let o = ctx.kiln(&["--call=targets"]);
    assert_eq!(
        stdout(&o),
        "TARGET    DESCRIPTION\n(default) \n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

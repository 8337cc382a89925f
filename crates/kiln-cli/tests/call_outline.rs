//! End-to-end tests of `kiln build --call=outline`: the real `kiln` binary on a Dockerfile in
//! a temporary directory, checked against the exact text and JSON buildx prints.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use common::{Ctx, base64, stderr, stdout};

const SRC: &str = "# syntax=docker/dockerfile:1

ARG GO_VERSION=1.22

# VERSION sets the version of the app
ARG VERSION=dev

FROM busybox AS base
ARG GO_VERSION

# build compiles the app
FROM base AS build
ARG VERSION
RUN --mount=type=secret,id=token,required=true --mount=type=ssh echo $VERSION

FROM busybox AS unused
ARG UNUSED=1
RUN --mount=type=secret,id=other true

FROM scratch AS release
COPY --from=build /x /
";

#[test]
fn outline_text() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.build(&["--call=outline"]);
    assert_eq!(
        stdout(&o),
        "TARGET: release

BUILD ARG    VALUE   DESCRIPTION
GO_VERSION   1.22    
VERSION      dev     sets the version of the app

SECRET   REQUIRED
token    true

SSH       REQUIRED
default   

",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

/// A `--build-arg` for a stage `ARG` replaces the global `ARG`'s entry (and so its description),
/// as upstream's outline does.
#[test]
fn outline_of_a_target_with_build_args() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.build(&[
        "--call=outline",
        "--target=build",
        "--build-arg",
        "VERSION=2.0",
    ]);
    assert_eq!(
        stdout(&o),
        "TARGET:      build
DESCRIPTION: compiles the app

BUILD ARG    VALUE   DESCRIPTION
GO_VERSION   1.22    
VERSION      2.0     

SECRET   REQUIRED
token    true

SSH       REQUIRED
default   

",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn outline_json() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.build(&["--call=outline,format=json", "--target=base"]);
    let expected = format!(
        r#"{{
  "name": "base",
  "args": [
    {{
      "name": "GO_VERSION",
      "value": "1.22",
      "location": {{
        "ranges": [
          {{
            "start": {{
              "line": 3
            }},
            "end": {{
              "line": 3
            }}
          }}
        ]
      }}
    }}
  ],
  "sources": [
    "{}"
  ]
}}
"#,
        base64(SRC.as_bytes())
    );
    assert_eq!(stdout(&o), expected, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn unknown_target_fails() {
    let ctx = Ctx::new(&[("Dockerfile", SRC)]);
    let o = ctx.build(&["--call=outline", "--target=nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("target stage \"nope\" could not be found"),
        "{}",
        stderr(&o)
    );
}

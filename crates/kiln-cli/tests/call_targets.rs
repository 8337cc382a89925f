//! End-to-end tests of `kiln build --call=targets`: the real `kiln` binary on a Dockerfile in
//! a temporary directory, checked against the exact text and JSON buildx prints.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use common::{Ctx, base64, stderr, stdout};

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
    let o = ctx.build(&["--call=targets"]);
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
    let o = ctx.build(&["--call=targets,format=json"]);
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
    let o = ctx.build(&["--call=targets"]);
    assert_eq!(
        stdout(&o),
        "TARGET    DESCRIPTION\n(default) \n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

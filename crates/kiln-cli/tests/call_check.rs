//! End-to-end tests of `kiln build --call=check` / `--check`: the real `kiln` binary on
//! Dockerfiles in a temporary directory, checked against the exact output and exit codes
//! buildx gives.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use common::{Ctx, stderr, stdout};

const CASING: &str = "\nfrOM busybox as base\ncOpy Dockerfile .\n";

const CASING_TEXT: &str = "Check complete, 2 warnings have been found!

WARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/
Command 'frOM' should match the case of the command majority (uppercase)
Dockerfile:2
--------------------
   1 |     
   2 | >>> frOM busybox as base
   3 |     cOpy Dockerfile .
   4 |     
--------------------

WARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/
Command 'cOpy' should match the case of the command majority (uppercase)
Dockerfile:3
--------------------
   1 |     
   2 |     frOM busybox as base
   3 | >>> cOpy Dockerfile .
   4 |     
--------------------
";

#[test]
fn clean_dockerfile_reports_no_warnings() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM busybox AS base\nCOPY Dockerfile /\n")]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn warnings_are_printed_sorted_with_excerpts_and_fail() {
    let ctx = Ctx::new(&[("Dockerfile", CASING)]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(stdout(&o), CASING_TEXT, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn check_flag_is_call_check() {
    let ctx = Ctx::new(&[("Dockerfile", CASING)]);
    let o = ctx.build(&["--check"]);
    assert_eq!(stdout(&o), CASING_TEXT, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn ignorestatus_exits_zero() {
    let ctx = Ctx::new(&[("Dockerfile", CASING)]);
    let o = ctx.build(&["--call=check,ignorestatus=true"]);
    assert_eq!(stdout(&o), CASING_TEXT, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn single_warning_summary() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM busybox as base\nCOPY Dockerfile .\n")]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(
        stdout(&o),
        "Check complete, 1 warning has been found!

WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/
'as' and 'FROM' keywords' casing do not match
Dockerfile:1
--------------------
   1 | >>> FROM busybox as base
   2 |     COPY Dockerfile .
   3 |     
--------------------
",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn json_format() {
    let src = "FROM busybox as base\n";
    let ctx = Ctx::new(&[("Dockerfile", src)]);
    let o = ctx.build(&["--call=check,format=json"]);
    assert_eq!(
        stdout(&o),
        r#"{
  "warnings": [
    {
      "ruleName": "FromAsCasing",
      "description": "The 'as' keyword should match the case of the 'from' keyword",
      "url": "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
      "detail": "'as' and 'FROM' keywords' casing do not match",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 1
            },
            "end": {
              "line": 1
            }
          }
        ]
      }
    }
  ],
  "sources": [
    {
      "filename": "Dockerfile",
      "data": "RlJPTSBidXN5Ym94IGFzIGJhc2UK",
      "language": "Dockerfile"
    }
  ]
}
"#,
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn json_without_warnings() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM scratch\n")]);
    let o = ctx.build(&["--call=check,format=json"]);
    assert_eq!(
        stdout(&o),
        r#"{
  "warnings": null,
  "sources": [
    {
      "filename": "Dockerfile",
      "data": "RlJPTSBzY3JhdGNoCg==",
      "language": "Dockerfile"
    }
  ]
}
"#,
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn skip_directive_and_experimental_rules() {
    let ctx = Ctx::new(&[(
        "Dockerfile",
        "# check=skip=FromAsCasing;experimental=InvalidDefinitionDescription\n\n# a non-descriptive comment\nFROM scratch as base\n",
    )]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(
        stdout(&o),
        "Check complete, 1 warning has been found!

WARNING: InvalidDefinitionDescription - https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/
Comment for FROM should follow the format: `# base <description>`
Dockerfile:4
--------------------
   2 |     
   3 |     # a non-descriptive comment
   4 | >>> FROM scratch as base
   5 |     
--------------------
",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn skip_all_reports_nothing() {
    let ctx = Ctx::new(&[("Dockerfile", &format!("# check=skip=all\n{CASING}"))]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn error_directive_fails_with_lint_violation() {
    let ctx = Ctx::new(&[(
        "Dockerfile",
        "# check=error=true\nFROM busybox\nCMD echo hi\n",
    )]);
    let o = ctx.build(&["--call=check"]);
    assert_eq!(
        stdout(&o),
        "Check complete, 1 warning has been found!

WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/
JSON arguments recommended for CMD to prevent unintended behavior related to OS signals
Dockerfile:3
--------------------
   1 |     # check=error=true
   2 |     FROM busybox
   3 | >>> CMD echo hi
   4 |     
--------------------

",
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("lint violation found for rules: JSONArgsRecommended"),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn build_arg_check_overrides_directive() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM busybox\nCMD echo hi\n")]);
    let o = ctx.build(&[
        "--call=check",
        "--build-arg",
        "BUILDKIT_DOCKERFILE_CHECK=skip=JSONArgsRecommended",
    ]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn parse_error_is_reported_with_excerpt() {
    let ctx = Ctx::new(&[("Dockerfile", "FROM busybox\nFORM busybox\nRUN true\n")]);
    let o = ctx.build(&["--call=check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown instruction: FORM"), "{err}");
    assert!(err.contains("Dockerfile:2\n"), "{err}");
    assert!(err.contains("   2 | >>> FORM busybox\n"), "{err}");
}

#[test]
fn target_limits_the_stages_checked() {
    let src = "FROM busybox AS a\nCMD echo a\n\nFROM busybox AS b\nCMD [\"b\"]\n";
    let ctx = Ctx::new(&[("Dockerfile", src)]);
    // Without a target every stage is checked.
    let o = ctx.build(&["--call=check"]);
    assert!(
        stdout(&o).starts_with("Check complete, 1 warning has been found!\n"),
        "{}",
        stdout(&o)
    );
    // Stage `b` does not need `a`.
    let o = ctx.build(&["--call=check", "--target=b"]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn undefined_var_and_secrets() {
    let src = "FROM scratch\nARG API_TOKEN\nENV APP_VERSION=1\nCOPY $APP_VERSON /app\n";
    let ctx = Ctx::new(&[("Dockerfile", src)]);
    let o = ctx.build(&["--call=check"]);
    let out = stdout(&o);
    assert!(
        out.starts_with("Check complete, 2 warnings have been found!\n"),
        "{out}"
    );
    assert!(
        out.contains("WARNING: SecretsUsedInArgOrEnv - https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/\nDo not use ARG or ENV instructions for sensitive data (ARG \"API_TOKEN\")\nDockerfile:2\n"),
        "{out}"
    );
    assert!(
        out.contains("WARNING: UndefinedVar - https://docs.docker.com/go/dockerfile/rule/undefined-var/\nUsage of undefined variable '$APP_VERSON' (did you mean $APP_VERSION?)\nDockerfile:4\n"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn dockerfile_path_given_with_f_names_the_excerpt() {
    let ctx = Ctx::new(&[("sub/Dockerfile", CASING)]);
    let path = ctx.path().join("sub").join("Dockerfile");
    let path = path.to_str().unwrap();
    let o = ctx.build(&["--call=check", "-f", path]);
    let out = stdout(&o);
    assert!(
        out.starts_with("Check complete, 2 warnings have been found!\n"),
        "{out}"
    );
    assert!(out.contains(&format!("\n{path}:2\n")), "{out}");
    assert!(out.contains(&format!("\n{path}:3\n")), "{out}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn copy_of_ignored_file() {
    let ctx = Ctx::new(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY tmp/a.txt /a.txt\nCOPY keep.txt /\n",
        ),
        (".dockerignore", "tmp\n"),
        ("keep.txt", "k"),
    ]);
    let o = ctx.build(&["--call=check"]);
    let out = stdout(&o);
    assert!(
        out.starts_with("Check complete, 1 warning has been found!\n"),
        "{out}"
    );
    assert!(
        out.contains("WARNING: CopyIgnoredFile - https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/\nAttempting to Copy file \"tmp/a.txt\" that is excluded by .dockerignore\nDockerfile:2\n"),
        "{out}"
    );
}

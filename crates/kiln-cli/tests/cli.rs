//! End-to-end tests of the `kiln` command line: the real binary, run in a temporary directory
//! (no network), checked for buildx's subcommands, flags, error wording and exit codes.

// Test helpers outside `#[test]` functions may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Ctx, kiln, stderr, stdout};

const DOCKERFILE: &str = "FROM busybox AS base\nRUN echo hi\n\nFROM base AS final\n";

#[test]
fn help_lists_every_subcommand() {
    let o = kiln(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for (name, about) in [
        ("bake", "Build from a file"),
        ("build", "Start a build"),
        ("create", "Create a new builder instance"),
        ("du", "Disk usage"),
        ("imagetools", "Commands to work on images in registry"),
        ("inspect", "Inspect current builder instance"),
        ("ls", "List builder instances"),
        ("prune", "Remove build cache"),
        ("rm", "Remove one or more builder instances"),
        ("stop", "Stop builder instance"),
        ("use", "Set the current builder instance"),
        ("version", "Show kiln version information"),
        ("login", "Authenticate to a registry"),
        ("logout", "Log out from a registry"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from help:\n{out}"));
        assert!(line.contains(about), "{line}");
    }
    assert!(out.contains("[alias: b]"), "{out}");
    assert!(out.contains("[alias: f]"), "{out}");
    for flag in ["--builder", "--debug", "--config", "--root"] {
        assert!(out.contains(flag), "{flag} missing:\n{out}");
    }
    assert!(out.contains("/etc/kiln/kiln.toml") && out.contains("/var/lib/kiln"));
}

#[test]
fn no_arguments_prints_help_and_succeeds() {
    let o = kiln(&[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Start a build"));
}

#[test]
fn build_help_shows_buildx_flags() {
    let o = kiln(&["build", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for flag in [
        "--add-host",
        "--allow",
        "--annotation",
        "--attest",
        "--build-arg",
        "--build-context",
        "--builder",
        "--cache-from",
        "--cache-to",
        "--call",
        "--cgroup-parent",
        "--check",
        "-f, --file",
        "--iidfile",
        "--label",
        "--load",
        "--metadata-file",
        "--network",
        "--no-cache",
        "--no-cache-filter",
        "-o, --output",
        "--platform",
        "--progress",
        "--provenance",
        "--pull",
        "--push",
        "-q, --quiet",
        "--sbom",
        "--secret",
        "--shm-size",
        "--ssh",
        "-t, --tag",
        "--target",
        "--ulimit",
        "-D, --debug",
    ] {
        assert!(out.contains(flag), "{flag} missing from build help:\n{out}");
    }
    // docker-build compatibility flags are accepted but hidden, as in buildx.
    for hidden in ["--squash", "--force-rm", "--cpu-shares", "--isolation"] {
        assert!(!out.contains(hidden), "{hidden} should be hidden");
    }
    assert!(out.contains("kiln build [OPTIONS] PATH | URL | -"));
}

#[test]
fn alias_b_is_build() {
    let o = kiln(&["b", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Start a build"));
}

#[test]
fn version_prints_name_version_commit() {
    let o = kiln(&["version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{out}");
    assert_eq!(words[0], "kiln");
    assert_eq!(words[1], concat!("v", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unimplemented_subcommands_say_so_in_one_line() {
    for (args, name) in [
        (&["bake"][..], "bake"),
        (&["f"][..], "bake"),
        (
            &["create", "--name", "farm", "tcp://arm:1234"][..],
            "create",
        ),
        (&["use", "farm"][..], "use"),
        (&["ls"][..], "ls"),
        (&["inspect", "--bootstrap"][..], "inspect"),
        (&["stop"][..], "stop"),
        (&["rm", "farm"][..], "rm"),
        (&["du", "--verbose"][..], "du"),
        (&["prune", "-af"][..], "prune"),
        (
            &["imagetools", "inspect", "alpine"][..],
            "imagetools inspect",
        ),
        (
            &["imagetools", "create", "-t", "a", "b"][..],
            "imagetools create",
        ),
        (&["login", "-u", "me"][..], "login"),
        (&["logout"][..], "logout"),
    ] {
        let o = kiln(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&o),
            format!("kiln: \"{name}\" is not implemented yet\n"),
            "{args:?}"
        );
        assert!(stdout(&o).is_empty());
    }
}

/// A normal build runs the engine: offline, resolving `FROM busybox` fails at the FROM line.
#[test]
fn normal_build_runs_the_engine() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "-t", "reg.example/app:1", "."]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(!err.contains("not implemented"), "{err}");
    assert!(err.contains("Dockerfile:1\n"), "{err}");
    assert!(err.contains("ERROR: "), "{err}");
}

#[test]
fn bad_output_type_names_flag_and_value() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "--output", "type=foo,dest=x", "."]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(r#"ERROR: invalid argument "type=foo,dest=x" for "-o, --output" flag: unknown output type "foo""#),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn bad_platform_names_flag_and_value() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "--platform", "linux/amd64,linux/x y", "."]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(r#"ERROR: invalid argument "linux/x y" for "--platform" flag: "#),
        "{err}"
    );
}

#[test]
fn malformed_csv_names_flag_and_value() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    for (flag, value, shown) in [
        ("-o", r#"type=local,"dest=out"#, "-o, --output"),
        ("--cache-to", r#"type=local,dest="x"#, "--cache-to"),
        ("--secret", r#"id=a,"src=b"#, "--secret"),
    ] {
        let o = d.run(&["build", flag, value, "."]);
        assert_eq!(o.status.code(), Some(1), "{flag}");
        let err = stderr(&o);
        assert!(err.contains(&format!("for \"{shown}\" flag:")), "{err}");
        assert!(err.contains("quote") || err.contains("\" in"), "{err}");
        assert!(err.contains("dest") || err.contains("src"), "{err}");
    }
}

#[test]
fn bad_tag_reads_like_buildx() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "-t", "app::1", "."]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: invalid tag \"app::1\": invalid reference format\n"
    );
}

#[test]
fn push_without_tag_is_refused() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "--push", "."]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: tag is needed when pushing to registry\n"
    );
}

#[test]
fn missing_dockerfile_names_the_path() {
    let d = Ctx::new(&[]);
    let o = d.run(&["build", "-f", "nope.Dockerfile", "."]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: failed to read dockerfile: open nope.Dockerfile: no such file or directory\n"
    );
    let o = d.run(&["build", "--call=outline", "."]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: failed to read dockerfile: open Dockerfile: no such file or directory\n"
    );
}

#[test]
fn missing_context_is_reported() {
    let d = Ctx::new(&[]);
    let o = d.run(&["build", "no-such-dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: unable to prepare context: path \"no-such-dir\" not found\n"
    );
}

#[test]
fn context_argument_is_required() {
    let o = kiln(&["build"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "ERROR: \"kiln build\" requires exactly 1 argument.\nSee 'kiln build --help'."
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let o = kiln(&["build", "--frobnicate", "."]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o),
        "ERROR: unknown flag: --frobnicate\nSee 'kiln build --help'.\n"
    );
    let o = kiln(&["build", "--push=perhaps", "."]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with(r#"ERROR: invalid argument "perhaps" for "--push" flag: "#),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_command_exits_1() {
    let o = kiln(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("ERROR: unknown command: \"frobnicate\""));
}

#[test]
fn pflag_style_booleans_and_compat_flags_are_accepted() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&[
        "build",
        "--pull=true",
        "--no-cache=false",
        "--rm=false",
        "--force-rm",
        "-m",
        "1g",
        "--cpu-shares",
        "512",
        "--compress",
        ".",
    ]);
    // Flags accepted: the run gets as far as the build (which fails offline at FROM).
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Dockerfile:1\n"), "{}", stderr(&o));
}

#[test]
fn deprecated_flags_warn() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    let o = d.run(&["build", "--squash", "."]);
    assert!(
        stderr(&o).starts_with("WARNING: experimental flag squash is removed with BuildKit."),
        "{}",
        stderr(&o)
    );
}

/// `--call` reaches the subrequest instead of the "not implemented" build path. The answer
/// itself is the subrequests crate's to test.
#[test]
fn call_is_wired_to_subrequests() {
    let d = Ctx::new(&[("Dockerfile", DOCKERFILE)]);
    for call in [
        "--call=outline",
        "--call=targets",
        "--call=check",
        "--check",
    ] {
        let o = d.run(&["build", call, "."]);
        assert!(
            !stderr(&o).contains("building images is not implemented"),
            "{call}: {}",
            stderr(&o)
        );
    }
    let o = d.run_stdin(&["build", "--call=targets", "-"], DOCKERFILE.as_bytes());
    assert!(!stderr(&o).contains("building images is not implemented"));
    assert!(
        !stderr(&o).contains("failed to read dockerfile"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stdin_for_both_context_and_dockerfile_is_refused() {
    let d = Ctx::new(&[]);
    let o = d.run_stdin(&["build", "-f", "-", "--call=outline", "-"], b"FROM x\n");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ERROR: invalid argument: can't use stdin for both build context and dockerfile\n"
    );
}

#[test]
fn broken_dockerfile_in_a_build_shows_the_excerpt_above_the_error() {
    let dir = Ctx::new(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo hi\nCOPPY a b\nRUN true\n",
    )]);
    let out = dir.run(&["build", "."]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let excerpt = err.find("Dockerfile:3\n").expect(&err);
    let marker = err.find("   3 | >>> COPPY a b\n").expect(&err);
    let error = err
        .find("ERROR: failed to build: failed to solve: dockerfile parse error on line 3: unknown instruction: COPPY (did you mean COPY?)")
        .expect(&err);
    assert!(excerpt < marker && marker < error, "{err}");
    assert!(!err.contains("not implemented"), "{err}");
}

#[test]
fn outline_of_a_broken_dockerfile_shows_excerpt_then_error() {
    let dir = Ctx::new(&[]);
    let out = dir.run_stdin(
        &["build", "--call=outline", "-f", "-", "."],
        b"FROM busybox\nENV FOO\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("stdin:2\n--------------------\n"), "{err}");
    assert!(
        err.ends_with("ERROR: ENV must have two arguments\n"),
        "{err}"
    );
}

/// A COPY source that is missing, or excluded by .dockerignore, fails the build naming the
/// path, the step's Dockerfile line, and (when excluded) the ignore file and what to do.
#[test]
fn missing_copy_source_names_the_path_and_the_dockerignore() {
    if !common::can_run_as_root("missing_copy_source_names_the_path_and_the_dockerignore") {
        return;
    }
    let ctx = Ctx::new(&[
        ("Dockerfile", "FROM scratch\nCOPY missing.txt /\n"),
        ("secret.txt", "x\n"),
        (".dockerignore", "secret.txt\n"),
    ]);
    let o = ctx.build(&["-q"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("Dockerfile:2\n"), "{err}");
    assert!(
        err.contains(
            "ERROR: failed to build: failed to solve: computing the cache key of [1/1] COPY missing.txt /: \
             \"/missing.txt\": not found"
        ),
        "{err}"
    );

    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY secret.txt /\n",
    )
    .unwrap();
    let o = ctx.build(&["-q"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("\"/secret.txt\": not found: excluded by .dockerignore"),
        "{err}"
    );
    assert!(
        err.contains("WARNING: No output specified with the kiln builder."),
        "{err}"
    );
}

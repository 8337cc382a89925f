//! The check pass: [`check`] runs every build-check rule over a Dockerfile the way BuildKit's
//! lint subrequest does (`dockerfile2llb.DockerfileLint`).

use crate::engine::{self, CheckOptions, Mode};
use crate::warning::{BuildError, Warning};

/// What a check pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// Rule violations, in the order upstream reports them (parse-time rules node by node,
    /// then stage-name and casing rules, then `FROM` rules stage by stage, then the rules met
    /// while dispatching each stage's commands).
    pub warnings: Vec<Warning>,
    /// What stopped the pass, if anything: a parse error, an unknown `--target`, an invalid
    /// `# check=` option, an instruction the build would reject, or, with `error=true` and
    /// warnings, `lint violation found for rules: ...`. Warnings found before it are kept.
    pub error: Option<BuildError>,
}

/// Checks `dockerfile` against every enabled rule.
///
/// Rules are enabled by the `BUILDKIT_DOCKERFILE_CHECK` build arg when given, else by the
/// `# check=` directive. Without a target every stage is checked; with one, the rules that
/// upstream applies while converting commands run only on the stages the target needs (the
/// parse-time rules always see the whole file).
///
/// Base images are looked up only through [`CheckOptions::resolver`]. Where it does not
/// know an image (or there is none), `UndefinedVar` is not reported in stages built on it
/// (the image could define the variable), `InvalidBaseImagePlatform` is not checked, and the
/// image's `SHELL` and `ONBUILD` triggers are not known; `scratch` is always known.
///
/// Never panics; problems with the input are reported in [`CheckResult::error`].
pub fn check(dockerfile: &[u8], opts: &CheckOptions<'_>) -> CheckResult {
    let w = engine::walk(dockerfile, opts, Mode::Lint);
    CheckResult {
        warnings: w.linter.into_warnings(),
        error: w.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ImageConfig, ImageConfigResolver};
    use kiln_platforms::Platform;
    use std::collections::BTreeMap;

    fn opts() -> CheckOptions<'static> {
        CheckOptions {
            target_platform: Some(Platform::new("linux", "amd64")),
            build_platform: Some(Platform::new("linux", "amd64")),
            ..CheckOptions::default()
        }
    }

    /// `(rule, detail, first line)` of every warning.
    fn run_with(src: &str, o: &CheckOptions<'_>) -> (Vec<(String, String, usize)>, Option<String>) {
        let r = check(src.as_bytes(), o);
        (
            r.warnings
                .iter()
                .map(|w| (w.rule.name.to_string(), w.detail.clone(), w.start_line()))
                .collect(),
            r.error.map(|e| e.message),
        )
    }

    fn run(src: &str) -> Vec<(String, String, usize)> {
        let (w, e) = run_with(src, &opts());
        assert_eq!(e, None, "unexpected error for {src:?}");
        w
    }

    fn rules_of(src: &str) -> Vec<String> {
        run(src).into_iter().map(|(r, _, _)| r).collect()
    }

    fn w(rule: &str, detail: &str, line: usize) -> (String, String, usize) {
        (rule.to_string(), detail.to_string(), line)
    }

    #[test]
    fn clean_file_has_no_warnings() {
        assert!(run("FROM busybox AS base\nRUN echo hi\nCOPY a /b\nCMD [\"sh\"]\n").is_empty());
    }

    #[test]
    fn no_empty_continuation() {
        assert_eq!(
            run("FROM scratch\nRUN echo \\\n\n  hi\n"),
            [w("NoEmptyContinuation", "Empty continuation line", 4)]
        );
        assert!(run("FROM scratch\nRUN echo \\\n  hi\n").is_empty());
    }

    #[test]
    fn stage_name_casing() {
        assert_eq!(
            run("FROM scratch AS Builder\n"),
            [w(
                "StageNameCasing",
                "Stage name 'Builder' should be lowercase",
                1
            )]
        );
        assert!(run("FROM scratch AS builder\n").is_empty());
    }

    #[test]
    fn from_as_casing() {
        assert_eq!(
            run("FROM scratch as base\n"),
            [w(
                "FromAsCasing",
                "'as' and 'FROM' keywords' casing do not match",
                1
            )]
        );
        assert_eq!(
            run("from scratch AS base\nrun true\n"),
            [w(
                "FromAsCasing",
                "'AS' and 'from' keywords' casing do not match",
                1
            )]
        );
        assert!(run("from scratch as base\n").is_empty());
        // A mixed-case FROM is ConsistentInstructionCasing's business only.
        assert_eq!(
            rules_of("From scratch as base\n"),
            ["ConsistentInstructionCasing"]
        );
    }

    #[test]
    fn consistent_instruction_casing() {
        assert_eq!(
            run("FROM scratch\nrun true\nCOPY a b\n"),
            [w(
                "ConsistentInstructionCasing",
                "Command 'run' should match the case of the command majority (uppercase)",
                2
            )]
        );
        assert_eq!(
            run("from scratch\nrun true\nCOPY a b\n"),
            [w(
                "ConsistentInstructionCasing",
                "Command 'COPY' should match the case of the command majority (lowercase)",
                3
            )]
        );
        // Ties go to uppercase.
        assert_eq!(
            rules_of("from scratch\nCOPY a b\n"),
            ["ConsistentInstructionCasing"]
        );
        // Global ARGs are not counted.
        assert!(run("arg X=1\nFROM scratch\nCOPY a b\n").is_empty());
    }

    #[test]
    fn duplicate_and_reserved_stage_names() {
        assert_eq!(
            run("FROM scratch AS a\nFROM scratch AS a\n"),
            [w(
                "DuplicateStageName",
                "Duplicate stage name \"a\", stage names should be unique",
                2
            )]
        );
        assert_eq!(
            run("FROM busybox AS scratch\nFROM busybox AS context\n"),
            [
                w(
                    "ReservedStageName",
                    "Stage name should not use the same name as reserved stage \"scratch\"",
                    1
                ),
                w(
                    "ReservedStageName",
                    "Stage name should not use the same name as reserved stage \"context\"",
                    2
                ),
            ]
        );
    }

    #[test]
    fn json_args_recommended() {
        assert_eq!(
            run("FROM busybox\nENTRYPOINT my-app start\n"),
            [w(
                "JSONArgsRecommended",
                "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals",
                2
            )]
        );
        assert!(run("FROM busybox\nCMD [\"a\"]\n").is_empty());
        // A SHELL makes the shell form deliberate.
        assert!(run("FROM busybox\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\n").is_empty());
        // ... and it carries over to stages built on this one.
        assert!(
            run("FROM busybox AS a\nSHELL [\"/bin/bash\", \"-c\"]\nFROM a\nCMD echo hi\n")
                .is_empty()
        );
    }

    #[test]
    fn maintainer_deprecated() {
        assert_eq!(
            run("FROM scratch\nMAINTAINER me\n"),
            [w(
                "MaintainerDeprecated",
                "Maintainer instruction is deprecated in favor of using label",
                2
            )]
        );
    }

    #[test]
    fn undefined_arg_in_from() {
        assert_eq!(
            run("ARG VERSION=1\nFROM busybox${VERSON}\n"),
            [w(
                "UndefinedArgInFrom",
                "FROM argument 'VERSON' is not declared (did you mean VERSION?)",
                2
            )]
        );
        assert!(run("ARG VERSION=1\nFROM busybox:${VERSION}\n").is_empty());
        // Declared without a value counts as declared; the platform args are predefined.
        assert!(run("ARG TAG\nFROM --platform=$BUILDPLATFORM busybox:stable${TAG}\n").is_empty());
        let (ws, e) = run_with("FROM --platform=$MYPLATFORM busybox\n", &opts());
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].0, "UndefinedArgInFrom");
        assert_eq!(
            e.as_deref(),
            Some("empty platform value from expression $MYPLATFORM")
        );
    }

    #[test]
    fn workdir_relative_path() {
        assert_eq!(
            run("FROM busybox\nWORKDIR app\n"),
            [w(
                "WorkdirRelativePath",
                "Relative workdir \"app\" can have unexpected results if the base image changes",
                2
            )]
        );
        assert!(run("FROM busybox\nWORKDIR /app\nWORKDIR sub\n").is_empty());
        // The absolute WORKDIR of a base stage counts.
        assert!(run("FROM busybox AS a\nWORKDIR /app\nFROM a\nWORKDIR sub\n").is_empty());
    }

    #[test]
    fn undefined_var_in_scratch_stages() {
        assert_eq!(
            run("FROM scratch\nENV FOO=1\nCOPY $FOOO /x\n"),
            [w(
                "UndefinedVar",
                "Usage of undefined variable '$FOOO' (did you mean $FOO?)",
                3
            )]
        );
        // ARG without value, PATH, and values set earlier are defined; RUN is not expanded.
        assert!(
            run("FROM scratch\nARG A\nENV B=$A:$PATH\nRUN echo $NOPE\nWORKDIR /$B\n").is_empty()
        );
        // ENV words see the environment from before the instruction.
        assert_eq!(rules_of("FROM scratch\nENV A=1 B=$A\n"), ["UndefinedVar"]);
        // Mount options are expanded.
        assert_eq!(
            rules_of("FROM scratch\nRUN --mount=type=secret,id=s$SID true\n"),
            ["UndefinedVar"]
        );
    }

    #[test]
    fn undefined_var_needs_a_known_base_environment() {
        // busybox could define FOO: without a resolver nothing is said.
        assert!(run("FROM busybox\nCOPY $FOO /x\n").is_empty());
        struct R;
        impl ImageConfigResolver for R {
            fn resolve(&self, _: &str, _: &Platform) -> Option<ImageConfig> {
                Some(ImageConfig {
                    env: vec!["PATH=/bin".into(), "GOPATH=/go".into()],
                    ..ImageConfig::default()
                })
            }
        }
        let r = R;
        let o = CheckOptions {
            resolver: Some(&r),
            ..opts()
        };
        let (ws, e) = run_with("FROM golang\nWORKDIR $GOPATH/src\nCOPY $GOPAHT /x\n", &o);
        assert_eq!(e, None);
        assert_eq!(
            ws,
            [w(
                "UndefinedVar",
                "Usage of undefined variable '$GOPAHT' (did you mean $GOPATH?)",
                3
            )]
        );
    }

    #[test]
    fn multiple_instructions_disallowed() {
        assert_eq!(
            run("FROM busybox\nCMD [\"a\"]\nCMD [\"b\"]\nHEALTHCHECK NONE\nHEALTHCHECK NONE\n"),
            [
                w(
                    "MultipleInstructionsDisallowed",
                    "Multiple CMD instructions should not be used in the same stage because only the last one will be used",
                    2
                ),
                w(
                    "MultipleInstructionsDisallowed",
                    "Multiple HEALTHCHECK instructions should not be used in the same stage because only the last one will be used",
                    4
                ),
            ]
        );
        // Per stage, not inherited.
        assert!(run("FROM busybox AS a\nCMD [\"a\"]\nFROM a\nCMD [\"b\"]\n").is_empty());
    }

    #[test]
    fn legacy_key_value_format() {
        assert_eq!(
            run("FROM scratch\nENV A 1\nLABEL b 2\n"),
            [
                w(
                    "LegacyKeyValueFormat",
                    "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format",
                    2
                ),
                w(
                    "LegacyKeyValueFormat",
                    "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format",
                    3
                ),
            ]
        );
        assert!(run("FROM scratch\nENV A=1\nLABEL b=2\n").is_empty());
    }

    #[test]
    fn redundant_target_platform_and_const_platform() {
        assert_eq!(
            run("FROM --platform=$TARGETPLATFORM busybox\n"),
            [w(
                "RedundantTargetPlatform",
                "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
                1
            )]
        );
        assert_eq!(
            run("FROM --platform=linux/amd64 busybox AS base\n"),
            [w(
                "FromPlatformFlagConstDisallowed",
                "FROM --platform flag should not use constant value \"linux/amd64\"",
                1
            )]
        );
        // A stage named for its platform is fine.
        assert!(run("FROM --platform=linux/arm64 busybox AS build_arm64\n").is_empty());
        assert!(run("FROM --platform=$BUILDPLATFORM busybox\n").is_empty());
    }

    #[test]
    fn secrets_used_in_arg_or_env() {
        assert_eq!(
            run("FROM scratch\nARG AWS_SECRET_ACCESS_KEY\nENV passwd=banana\nENV PUBLIC_KEY=x\n"),
            [
                w(
                    "SecretsUsedInArgOrEnv",
                    "Do not use ARG or ENV instructions for sensitive data (ARG \"AWS_SECRET_ACCESS_KEY\")",
                    2
                ),
                w(
                    "SecretsUsedInArgOrEnv",
                    "Do not use ARG or ENV instructions for sensitive data (ENV \"passwd\")",
                    3
                ),
            ]
        );
        // Global ARGs are not dispatched, so not checked (as upstream).
        assert!(run("ARG TOKEN\nFROM scratch\n").is_empty());
    }

    #[test]
    fn invalid_default_arg_in_from() {
        // The build then fails on the invalid name, as upstream's does.
        let (ws, e) = run_with("ARG TAG\nFROM busybox:${TAG}\n", &opts());
        assert_eq!(
            ws,
            [w(
                "InvalidDefaultArgInFrom",
                "Default value for ARG busybox:${TAG} results in empty or invalid base image name",
                2
            )]
        );
        assert_eq!(
            e.as_deref(),
            Some("failed to parse stage name \"busybox:\": invalid reference format")
        );
        assert!(run("ARG TAG=latest\nFROM busybox:${TAG}\n").is_empty());
        assert!(run("ARG TAG\nFROM alpine:${TAG:-3.14}\n").is_empty());
        // A build arg does not silence it: defaults alone must give a valid name.
        let mut o = opts();
        o.build_args = BTreeMap::from([("TAG".to_string(), "1".to_string())]);
        let (ws, _) = run_with("ARG TAG\nFROM busybox:${TAG}\n", &o);
        assert_eq!(ws.len(), 1);
    }

    #[test]
    fn copy_ignored_file() {
        let mut o = opts();
        o.ignore_patterns = Some(vec!["tmp".to_string(), "*.log".to_string()]);
        let (ws, e) = run_with(
            "FROM scratch\nCOPY ./tmp/a.txt x.log keep /dst/\nADD https://example.com/x.log /\nCOPY --from=busybox tmp /t\n",
            &o,
        );
        assert_eq!(e, None);
        assert_eq!(
            ws,
            [
                w(
                    "CopyIgnoredFile",
                    "Attempting to Copy file \"tmp/a.txt\" that is excluded by .dockerignore",
                    2
                ),
                w(
                    "CopyIgnoredFile",
                    "Attempting to Copy file \"x.log\" that is excluded by .dockerignore",
                    2
                ),
            ]
        );
        // Exclusion patterns make the rule stand down.
        o.ignore_patterns = Some(vec!["tmp".to_string(), "!tmp/a.txt".to_string()]);
        let (ws, _) = run_with("FROM scratch\nCOPY tmp/b /\n", &o);
        assert!(ws.is_empty());
    }

    #[test]
    fn invalid_definition_description_is_experimental() {
        let src = "# a comment\nFROM scratch AS base\n# another\nARG VERSION=1\n";
        assert!(run(src).is_empty());
        let src = format!("# check=experimental=InvalidDefinitionDescription\n\n{src}");
        assert_eq!(
            run(&src),
            [
                w(
                    "InvalidDefinitionDescription",
                    "Comment for FROM should follow the format: `# base <description>`",
                    4
                ),
                w(
                    "InvalidDefinitionDescription",
                    "Comment for ARG should follow the format: `# VERSION <description>`",
                    6
                ),
            ]
        );
        let good = "# check=experimental=all\n\n# base is the base\nFROM scratch AS base\n# VERSION is it\nARG VERSION=1\nARG X=1\n";
        assert_eq!(run(good), []);
    }

    #[test]
    fn expose_rules() {
        assert_eq!(
            run("FROM scratch\nEXPOSE 80/TcP 127.0.0.1:80:80 5000:5000 90\n"),
            [
                w(
                    "ExposeInvalidFormat",
                    "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'",
                    2
                ),
                w(
                    "ExposeInvalidFormat",
                    "EXPOSE instruction should not define an IP address or host-port mapping, found '5000:5000'",
                    2
                ),
                w(
                    "ExposeProtoCasing",
                    "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
                    2
                ),
            ]
        );
        assert!(run("FROM scratch\nEXPOSE 80 443/tcp\n").is_empty());
    }

    #[test]
    fn invalid_base_image_platform_with_resolver() {
        struct R;
        impl ImageConfigResolver for R {
            fn resolve(&self, reference: &str, _: &Platform) -> Option<ImageConfig> {
                assert_eq!(reference, "docker.io/library/busybox:latest");
                Some(ImageConfig {
                    platform: Some(Platform::new("linux", "arm64")),
                    ..ImageConfig::default()
                })
            }
        }
        let r = R;
        let o = CheckOptions {
            resolver: Some(&r),
            ..opts()
        };
        let (ws, _) = run_with("FROM busybox\n", &o);
        assert_eq!(
            ws,
            [w(
                "InvalidBaseImagePlatform",
                "Base image busybox was pulled with platform \"linux/arm64\", expected \"linux/amd64\" for current build",
                1
            )]
        );

        // An image without layers is built on scratch: BuildKit does not check its platform.
        struct Empty;
        impl ImageConfigResolver for Empty {
            fn resolve(&self, _: &str, _: &Platform) -> Option<ImageConfig> {
                Some(ImageConfig {
                    platform: Some(Platform::new("linux", "arm64")),
                    no_layers: true,
                    ..ImageConfig::default()
                })
            }
        }
        let o = CheckOptions {
            resolver: Some(&Empty),
            ..opts()
        };
        assert!(run_with("FROM busybox\n", &o).0.is_empty());
    }

    #[test]
    fn directive_and_build_arg_configure_rules() {
        assert!(run("# check=skip=all\nFROM scratch as base\n").is_empty());
        assert!(run("# check=skip=FromAsCasing\nFROM scratch as base\n").is_empty());
        let mut o = opts();
        o.build_args = BTreeMap::from([(
            "BUILDKIT_DOCKERFILE_CHECK".to_string(),
            "skip=FromAsCasing".to_string(),
        )]);
        let (ws, e) = run_with("# check=skip=StageNameCasing\nFROM scratch as Base\n", &o);
        assert_eq!(e, None);
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].0, "StageNameCasing");
        let (ws, e) = run_with("# check=error=true\nFROM scratch as base\n", &opts());
        assert_eq!(ws.len(), 1);
        assert_eq!(
            e.as_deref(),
            Some("lint violation found for rules: FromAsCasing")
        );
        let (_, e) = run_with("# check=skip\nFROM scratch\n", &opts());
        assert_eq!(
            e.as_deref(),
            Some("failed to parse check options: invalid check option \"skip\"")
        );
    }

    #[test]
    fn target_selects_dispatched_stages() {
        let src = "FROM busybox AS a\nCMD echo a\nFROM busybox AS b\nCMD echo b\nFROM b AS c\n";
        assert_eq!(
            rules_of(src),
            ["JSONArgsRecommended", "JSONArgsRecommended"]
        );
        let mut o = opts();
        o.target = Some("c".into());
        let (ws, e) = run_with(src, &o);
        assert_eq!(e, None);
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].2, 4);
        o.target = Some("nope".into());
        let (_, e) = run_with(src, &o);
        assert_eq!(
            e.as_deref(),
            Some("target stage \"nope\" could not be found")
        );
    }

    #[test]
    fn errors_keep_earlier_warnings() {
        let (ws, e) = run_with("FROM scratch as a\nFORM x\n", &opts());
        assert_eq!(ws.len(), 1);
        assert_eq!(
            e.as_deref(),
            Some(
                "dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)"
            )
        );
        let r = check(b"FROM scratch\nFORM x\n", &opts());
        assert_eq!(r.error.unwrap().location, vec![crate::Range::lines(2, 2)]);
        let (_, e) = run_with("", &opts());
        assert_eq!(e.as_deref(), Some("the Dockerfile cannot be empty"));
        let (_, e) = run_with("# only a comment\n", &opts());
        assert!(e.is_some());
        let (_, e) = run_with("RUN true\n", &opts());
        assert_eq!(e.as_deref(), Some("no build stage in current context"));
        let (_, e) = run_with(
            "FROM scratch\nCOPY --from=later /a /b\nFROM scratch AS later\n",
            &opts(),
        );
        assert_eq!(
            e.as_deref(),
            Some(
                "cannot copy from stage \"later\", it needs to be defined before current stage \"stage-0\""
            )
        );
    }

    #[test]
    fn multi_line_instructions_have_one_range_per_line() {
        let r = check(b"FROM scratch\nrun echo \\\n  hi\nCOPY a b\n", &opts());
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(
            r.warnings[0].location,
            vec![crate::Range::lines(2, 2), crate::Range::lines(3, 3)]
        );
    }

    #[test]
    fn onbuild_triggers_of_base_stages_are_checked() {
        let src = "FROM busybox AS a\nONBUILD CMD echo hi\nFROM a\n";
        let ws = run(src);
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].0, "JSONArgsRecommended");
        assert_eq!(ws[0].2, 3);
    }

    #[test]
    fn long_stage_chains_do_not_exhaust_the_stack() {
        let mut src = String::from("ARG V=1\nFROM scratch AS s0\n");
        for i in 1..3000 {
            src.push_str(&format!(
                "FROM s{} AS s{i}\nARG V\nCOPY --from=s{} /a /b\n",
                i - 1,
                i - 1
            ));
        }
        let r = check(src.as_bytes(), &opts());
        assert_eq!(r.error, None);
        assert!(r.warnings.is_empty());
        let o = crate::outline(src.as_bytes(), &opts()).unwrap();
        assert_eq!(o.args.len(), 1);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for src in [
            "FROM",
            "FROM a AS",
            "FROM ${",
            "ARG A=${B:?oops}\nFROM a\n",
            "FROM scratch\nCOPY --from=99 a b\n",
            "FROM scratch\nCOPY --from=-1 a b\n",
            "FROM scratch\nEXPOSE ${X:?no}\n",
            "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\nCOPY --from=a x y\n",
            "FROM --platform=${NOPE} busybox\n",
            "FROM --platform=bogus/x/y/z busybox\n",
            "\u{feff}FROM scratch\n\0\n",
            "FROM scratch\nRUN --mount=type=secret true\n",
            "FROM scratch\nONBUILD ONBUILD RUN x\n",
        ] {
            let _ = check(src.as_bytes(), &opts());
            let _ = crate::outline(src.as_bytes(), &opts());
            let _ = crate::list_targets(src.as_bytes());
        }
    }
}

//! The three subrequests end to end: options from the CLI's input, the walk in `kiln-lint`,
//! and the printing buildx does (summary lines, blank lines, exit codes).

use std::io::Write;

use crate::{
    CallInput, CallOutcome, CallRequest, Error, LintResults, Outline, OutlineArg, OutlineSecret,
    OutlineSsh, OutputFormat, Target, TargetList, format_source_excerpt,
};

fn check_options<'a>(input: &CallInput<'a>) -> Result<kiln_lint::CheckOptions<'a>, Error> {
    let target_platform = match input.platforms.first() {
        Some(p) => Some(
            kiln_platforms::parse(p)
                .map_err(|e| Error::InvalidCall(format!("failed to parse platform {p}: {e}")))?,
        ),
        None => None,
    };
    Ok(kiln_lint::CheckOptions {
        build_args: input.build_args.clone(),
        target: input.target.map(str::to_string),
        target_platform,
        build_platform: None,
        ignore_patterns: input.ignore_patterns.map(<[String]>::to_vec),
        resolver: input.resolver,
    })
}

fn dockerfile_error(input: &CallInput<'_>, e: kiln_lint::BuildError) -> Error {
    Error::Dockerfile {
        excerpt: format_source_excerpt(input.dockerfile_name, input.dockerfile, &e.location),
        message: e.message,
    }
}

/// `--call=check`, printed as buildx's `printResult` does for `lint`.
pub(crate) fn check(
    req: &CallRequest,
    input: &CallInput<'_>,
    out: &mut dyn Write,
) -> Result<CallOutcome, Error> {
    let opts = check_options(input)?;
    let result = kiln_lint::check(input.dockerfile, &opts);
    let results = LintResults {
        warnings: result.warnings,
        filename: input.dockerfile_name.to_string(),
        source: input.dockerfile.to_vec(),
        error: result.error,
    };
    let json = req.format == OutputFormat::Json;
    if json {
        writeln!(out, "{}", results.to_json())?;
    } else {
        if !results.warnings.is_empty() {
            writeln!(out, "{}", results.summary())?;
        }
        results.print_warnings(out)?;
    }
    if let Some(e) = &results.error {
        if !json && !results.warnings.is_empty() {
            writeln!(out)?;
        }
        out.flush()?;
        return Err(dockerfile_error(input, e.clone()));
    }
    if !json && results.warnings.is_empty() {
        writeln!(out, "{}", results.summary())?;
    }
    out.flush()?;
    let exit_code = if req.ignore_status {
        0
    } else {
        results.status_code()
    };
    Ok(CallOutcome { exit_code })
}

/// `--call=outline`.
pub(crate) fn outline(
    req: &CallRequest,
    input: &CallInput<'_>,
    out: &mut dyn Write,
) -> Result<CallOutcome, Error> {
    let opts = check_options(input)?;
    let o = kiln_lint::outline(input.dockerfile, &opts).map_err(|e| dockerfile_error(input, e))?;
    let outline = Outline {
        name: o.name,
        description: o.description,
        args: o
            .args
            .into_iter()
            .map(|a| OutlineArg {
                name: a.name,
                description: a.description,
                value: a.value,
                location: a.location,
            })
            .collect(),
        secrets: o
            .secrets
            .into_iter()
            .map(|s| OutlineSecret {
                name: s.name,
                required: s.required,
                location: s.location,
            })
            .collect(),
        ssh: o
            .ssh
            .into_iter()
            .map(|s| OutlineSsh {
                name: s.name,
                required: s.required,
                location: s.location,
            })
            .collect(),
        sources: vec![input.dockerfile.to_vec()],
    };
    match req.format {
        OutputFormat::Json => writeln!(out, "{}", outline.to_json())?,
        OutputFormat::Text => write!(out, "{}", outline.to_text())?,
    }
    out.flush()?;
    Ok(CallOutcome { exit_code: 0 })
}

/// `--call=targets`.
pub(crate) fn targets(
    req: &CallRequest,
    input: &CallInput<'_>,
    out: &mut dyn Write,
) -> Result<CallOutcome, Error> {
    let list = kiln_lint::list_targets(input.dockerfile).map_err(|e| dockerfile_error(input, e))?;
    let list = TargetList {
        targets: list
            .into_iter()
            .map(|t| Target {
                name: t.name,
                default: t.default,
                description: t.description,
                base: t.base,
                platform: t.platform,
                location: t.location,
            })
            .collect(),
        sources: vec![input.dockerfile.to_vec()],
    };
    match req.format {
        OutputFormat::Json => writeln!(out, "{}", list.to_json())?,
        OutputFormat::Text => write!(out, "{}", list.to_text())?,
    }
    out.flush()?;
    Ok(CallOutcome { exit_code: 0 })
}

#[cfg(test)]
mod tests {
    use crate::*;
    use std::collections::BTreeMap;

    fn call(
        value: &str,
        src: &str,
        target: Option<&str>,
        args: &[(&str, &str)],
    ) -> (String, Result<CallOutcome, Error>) {
        let req = CallRequest::parse(value).unwrap();
        let build_args: BTreeMap<String, String> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let platforms = vec!["linux/amd64".to_string()];
        let input = CallInput {
            dockerfile: src.as_bytes(),
            dockerfile_name: "Dockerfile",
            build_args: &build_args,
            target,
            platforms: &platforms,
            ignore_patterns: None,
            resolver: None,
        };
        let mut out = Vec::new();
        let r = run(&req, &input, &mut out);
        (String::from_utf8(out).unwrap(), r)
    }

    #[test]
    fn check_passes_the_resolver_on() {
        struct Golang;
        impl crate::ImageConfigResolver for Golang {
            fn resolve(
                &self,
                reference: &str,
                _: &kiln_platforms::Platform,
            ) -> Option<crate::ImageConfig> {
                (reference == "docker.io/library/golang:latest").then(|| crate::ImageConfig {
                    env: vec!["GOPATH=/go".to_string()],
                    ..Default::default()
                })
            }
        }
        let build_args = BTreeMap::new();
        let platforms = vec!["linux/amd64".to_string()];
        let input = CallInput {
            dockerfile: b"FROM golang\nENV A=$GOPATH B=$NOPE\nFROM busybox\nENV C=$NOPE2\n",
            dockerfile_name: "Dockerfile",
            build_args: &build_args,
            target: None,
            platforms: &platforms,
            ignore_patterns: None,
            resolver: Some(&Golang),
        };
        let req = CallRequest::parse("check,format=json").unwrap();
        let mut out = Vec::new();
        assert_eq!(run(&req, &input, &mut out).unwrap().exit_code, 1);
        let out = String::from_utf8(out).unwrap();
        // golang is known: $NOPE is undefined there; busybox is unknown: silence.
        assert!(out.contains("Usage of undefined variable '$NOPE'"), "{out}");
        assert!(!out.contains("NOPE2"), "{out}");
    }

    const CASING: &str = "\nfrOM busybox as base\ncOpy Dockerfile .\n";

    #[test]
    fn check_text_with_warnings() {
        let (out, r) = call("check", CASING, None, &[]);
        assert_eq!(r.unwrap().exit_code, 1);
        assert_eq!(
            out,
            "Check complete, 2 warnings have been found!\n\
             \n\
             WARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n\
             Command 'frOM' should match the case of the command majority (uppercase)\n\
             Dockerfile:2\n\
             --------------------\n\
             \x20  1 |     \n\
             \x20  2 | >>> frOM busybox as base\n\
             \x20  3 |     cOpy Dockerfile .\n\
             \x20  4 |     \n\
             --------------------\n\
             \n\
             WARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n\
             Command 'cOpy' should match the case of the command majority (uppercase)\n\
             Dockerfile:3\n\
             --------------------\n\
             \x20  1 |     \n\
             \x20  2 |     frOM busybox as base\n\
             \x20  3 | >>> cOpy Dockerfile .\n\
             \x20  4 |     \n\
             --------------------\n"
        );
        let (_, r) = call("check,ignorestatus=true", CASING, None, &[]);
        assert_eq!(r.unwrap().exit_code, 0);
    }

    #[test]
    fn check_text_clean() {
        let (out, r) = call("check", "FROM busybox\nCMD [\"x\"]\n", None, &[]);
        assert_eq!(out, "Check complete, no warnings found.\n");
        assert_eq!(r.unwrap().exit_code, 0);
    }

    #[test]
    fn check_error_after_warnings() {
        let (out, r) = call(
            "check",
            "# check=error=true\nFROM busybox as a\n",
            None,
            &[],
        );
        assert!(out.starts_with("Check complete, 1 warning has been found!\n"));
        assert!(out.ends_with("--------------------\n\n"), "{out}");
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "lint violation found for rules: FromAsCasing"
        );
    }

    #[test]
    fn check_parse_error_has_excerpt() {
        let (out, r) = call("check", "FROM busybox\nFORM x\n", None, &[]);
        assert_eq!(out, "");
        assert_eq!(
            r.unwrap_err().to_string(),
            "dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)\n\
             Dockerfile:2\n\
             --------------------\n\
             \x20  1 |     FROM busybox\n\
             \x20  2 | >>> FORM x\n\
             \x20  3 |     \n\
             --------------------"
        );
    }

    #[test]
    fn check_json() {
        let (out, r) = call("check,format=json", "FROM scratch\n", None, &[]);
        assert_eq!(r.unwrap().exit_code, 0);
        assert!(out.starts_with("{\n  \"warnings\": null,\n"), "{out}");
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn outline_and_targets() {
        let src = "ARG V=1\nFROM busybox AS a\nARG V\nRUN --mount=type=secret,id=tok true\n";
        let (out, r) = call("outline", src, None, &[]);
        assert_eq!(r.unwrap().exit_code, 0);
        assert_eq!(
            out,
            "TARGET: a\n\nBUILD ARG   VALUE   DESCRIPTION\nV           1       \n\nSECRET   REQUIRED\ntok      \n\n"
        );
        let (out, _) = call("targets", src, None, &[]);
        assert_eq!(out, "TARGET      DESCRIPTION\na (default) \n");
        let (out, _) = call("targets,format=json", src, None, &[]);
        assert!(out.contains("\"default\": true"), "{out}");
        let (_, r) = call("outline", src, Some("zz"), &[]);
        assert_eq!(
            r.unwrap_err().to_string(),
            "target stage \"zz\" could not be found"
        );
    }

    #[test]
    fn build_is_not_a_subrequest() {
        let (_, r) = call("build", "FROM scratch\n", None, &[]);
        assert!(matches!(r, Err(Error::Unsupported(_))));
    }
}

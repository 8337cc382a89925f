//! The build-check rule table (BuildKit's `frontend/dockerfile/linter/ruleset.go`): every rule's
//! name, description, documentation URL and experimental flag, and the message each one prints.
//!
//! Names, descriptions and messages are user-visible and grepped for in CI logs, so they are kept
//! byte-for-byte as BuildKit prints them. Message arguments that BuildKit formats with Go's `%q`
//! are quoted with [`go_quote`].

/// One build-check rule.
///
/// Rules are `'static` values compared by identity of their [`Rule::name`]; the full list is
/// [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The rule's name, as used in `# check=skip=<name>` and printed in `WARNING: <name>`.
    pub name: &'static str,
    /// The one-sentence description shown in the rule reference and in JSON output.
    pub description: &'static str,
    /// The documentation URL (`https://docs.docker.com/go/dockerfile/rule/<kebab-name>/`).
    /// `None` only for rules upstream publishes no page for.
    pub url: Option<&'static str>,
    /// Experimental rules run only when enabled with `# check=experimental=<name>|all`; they
    /// are not affected by `skip=`.
    pub experimental: bool,
    /// Deprecated rules never run.
    pub deprecated: bool,
}

const fn rule(name: &'static str, description: &'static str, url: &'static str) -> Rule {
    Rule {
        name,
        description,
        url: Some(url),
        experimental: false,
        deprecated: false,
    }
}

/// `StageNameCasing`: stage names should be lowercase.
pub static STAGE_NAME_CASING: Rule = rule(
    "StageNameCasing",
    "Stage names should be lowercase",
    "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
);

/// `FromAsCasing`: the `AS` keyword should match the case of `FROM`.
pub static FROM_AS_CASING: Rule = rule(
    "FromAsCasing",
    "The 'as' keyword should match the case of the 'from' keyword",
    "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
);

/// `NoEmptyContinuation`: an empty line inside a `\`-continued instruction.
pub static NO_EMPTY_CONTINUATION: Rule = rule(
    "NoEmptyContinuation",
    "Empty continuation lines will become errors in a future release",
    "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
);

/// `ConsistentInstructionCasing`: all instruction keywords in one case.
pub static CONSISTENT_INSTRUCTION_CASING: Rule = rule(
    "ConsistentInstructionCasing",
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
    "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/",
);

/// `DuplicateStageName`: two stages with the same name.
pub static DUPLICATE_STAGE_NAME: Rule = rule(
    "DuplicateStageName",
    "Stage names should be unique",
    "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
);

/// `ReservedStageName`: a stage named `context` or `scratch`.
pub static RESERVED_STAGE_NAME: Rule = rule(
    "ReservedStageName",
    "Reserved words should not be used as stage names",
    "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
);

/// `JSONArgsRecommended`: shell-form `CMD`/`ENTRYPOINT` without a `SHELL`.
pub static JSON_ARGS_RECOMMENDED: Rule = rule(
    "JSONArgsRecommended",
    "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
    "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
);

/// `MaintainerDeprecated`: the `MAINTAINER` instruction.
pub static MAINTAINER_DEPRECATED: Rule = rule(
    "MaintainerDeprecated",
    "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
    "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
);

/// `UndefinedArgInFrom`: `FROM` uses a variable no global `ARG` declares.
pub static UNDEFINED_ARG_IN_FROM: Rule = rule(
    "UndefinedArgInFrom",
    "FROM command must use declared ARGs",
    "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/",
);

/// `WorkdirRelativePath`: the first `WORKDIR` of a stage chain is relative.
pub static WORKDIR_RELATIVE_PATH: Rule = rule(
    "WorkdirRelativePath",
    "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
    "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
);

/// `UndefinedVar`: a variable expanded before any definition.
pub static UNDEFINED_VAR: Rule = rule(
    "UndefinedVar",
    "Variables should be defined before their use",
    "https://docs.docker.com/go/dockerfile/rule/undefined-var/",
);

/// `MultipleInstructionsDisallowed`: two `CMD`, `ENTRYPOINT` or `HEALTHCHECK` in one stage.
pub static MULTIPLE_INSTRUCTIONS_DISALLOWED: Rule = rule(
    "MultipleInstructionsDisallowed",
    "Multiple instructions of the same type should not be used in the same stage",
    "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/",
);

/// `LegacyKeyValueFormat`: `ENV key value` / `LABEL key value` without `=`.
pub static LEGACY_KEY_VALUE_FORMAT: Rule = rule(
    "LegacyKeyValueFormat",
    "Legacy key/value format with whitespace separator should not be used",
    "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
);

/// `InvalidBaseImagePlatform`: the resolved base image is for another platform. Upstream has no
/// documentation page for it, so it has no URL.
pub static INVALID_BASE_IMAGE_PLATFORM: Rule = Rule {
    name: "InvalidBaseImagePlatform",
    description: "Base image platform does not match expected target platform",
    url: None,
    experimental: false,
    deprecated: false,
};

/// `RedundantTargetPlatform`: `FROM --platform=$TARGETPLATFORM`.
pub static REDUNDANT_TARGET_PLATFORM: Rule = rule(
    "RedundantTargetPlatform",
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/",
);

/// `SecretsUsedInArgOrEnv`: an `ARG`/`ENV` key that looks like a secret.
pub static SECRETS_USED_IN_ARG_OR_ENV: Rule = rule(
    "SecretsUsedInArgOrEnv",
    "Sensitive data should not be used in the ARG or ENV commands",
    "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
);

/// `InvalidDefaultArgInFrom`: with only default `ARG` values the base image name is invalid.
pub static INVALID_DEFAULT_ARG_IN_FROM: Rule = rule(
    "InvalidDefaultArgInFrom",
    "Default value for global ARG results in an empty or invalid base image name",
    "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
);

/// `FromPlatformFlagConstDisallowed`: `FROM --platform=linux/amd64` with a constant.
pub static FROM_PLATFORM_FLAG_CONST_DISALLOWED: Rule = rule(
    "FromPlatformFlagConstDisallowed",
    "FROM --platform flag should not use a constant value",
    "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
);

/// `CopyIgnoredFile`: `COPY`/`ADD` of a path `.dockerignore` excludes.
pub static COPY_IGNORED_FILE: Rule = rule(
    "CopyIgnoredFile",
    "Attempting to Copy file that is excluded by .dockerignore",
    "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/",
);

/// `InvalidDefinitionDescription` (experimental): a comment right above `FROM ... AS name` or
/// `ARG name` that does not start with the name.
pub static INVALID_DEFINITION_DESCRIPTION: Rule = Rule {
    name: "InvalidDefinitionDescription",
    description: "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
    url: Some("https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/"),
    experimental: true,
    deprecated: false,
};

/// `ExposeProtoCasing`: `EXPOSE 80/TCP`.
pub static EXPOSE_PROTO_CASING: Rule = rule(
    "ExposeProtoCasing",
    "Protocol in EXPOSE instruction should be lowercase",
    "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
);

/// `ExposeInvalidFormat`: `EXPOSE` with an IP address or a host-port mapping.
pub static EXPOSE_INVALID_FORMAT: Rule = rule(
    "ExposeInvalidFormat",
    "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
    "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
);

/// Every rule, in upstream's declaration order (the order of the rule reference).
pub static ALL: &[&Rule] = &[
    &STAGE_NAME_CASING,
    &FROM_AS_CASING,
    &NO_EMPTY_CONTINUATION,
    &CONSISTENT_INSTRUCTION_CASING,
    &DUPLICATE_STAGE_NAME,
    &RESERVED_STAGE_NAME,
    &JSON_ARGS_RECOMMENDED,
    &MAINTAINER_DEPRECATED,
    &UNDEFINED_ARG_IN_FROM,
    &WORKDIR_RELATIVE_PATH,
    &UNDEFINED_VAR,
    &MULTIPLE_INSTRUCTIONS_DISALLOWED,
    &LEGACY_KEY_VALUE_FORMAT,
    &INVALID_BASE_IMAGE_PLATFORM,
    &REDUNDANT_TARGET_PLATFORM,
    &SECRETS_USED_IN_ARG_OR_ENV,
    &INVALID_DEFAULT_ARG_IN_FROM,
    &FROM_PLATFORM_FLAG_CONST_DISALLOWED,
    &COPY_IGNORED_FILE,
    &INVALID_DEFINITION_DESCRIPTION,
    &EXPOSE_PROTO_CASING,
    &EXPOSE_INVALID_FORMAT,
];

/// Looks a rule up by its exact (case-sensitive) name.
pub fn by_name(name: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.name == name)
}

/// The messages each rule prints (upstream's `LinterRule.Format` functions).
pub mod msg {
    use super::go_quote;

    /// `Stage name 'Builder' should be lowercase`.
    pub fn stage_name_casing(stage_name: &str) -> String {
        format!("Stage name '{stage_name}' should be lowercase")
    }

    /// `'as' and 'FROM' keywords' casing do not match` (`as` is the keyword as written).
    pub fn from_as_casing(from: &str, as_keyword: &str) -> String {
        format!("'{as_keyword}' and '{from}' keywords' casing do not match")
    }

    /// `Empty continuation line`.
    pub fn no_empty_continuation() -> String {
        "Empty continuation line".to_string()
    }

    /// `Command 'Run' should match the case of the command majority (uppercase)`.
    pub fn consistent_instruction_casing(command: &str, correct_casing: &str) -> String {
        format!(
            "Command '{command}' should match the case of the command majority ({correct_casing})"
        )
    }

    /// `Duplicate stage name "base", stage names should be unique`.
    pub fn duplicate_stage_name(stage_name: &str) -> String {
        format!(
            "Duplicate stage name {}, stage names should be unique",
            go_quote(stage_name)
        )
    }

    /// `Stage name should not use the same name as reserved stage "scratch"`.
    pub fn reserved_stage_name(stage_name: &str) -> String {
        format!(
            "Stage name should not use the same name as reserved stage {}",
            go_quote(stage_name)
        )
    }

    /// `JSON arguments recommended for CMD to prevent unintended behavior related to OS signals`.
    pub fn json_args_recommended(instruction: &str) -> String {
        format!(
            "JSON arguments recommended for {instruction} to prevent unintended behavior related to OS signals"
        )
    }

    /// `Maintainer instruction is deprecated in favor of using label`.
    pub fn maintainer_deprecated() -> String {
        "Maintainer instruction is deprecated in favor of using label".to_string()
    }

    /// `FROM argument 'VERSION' is not declared (did you mean VERSIONS?)`.
    pub fn undefined_arg_in_from(arg: &str, suggest: Option<&str>) -> String {
        let mut out = format!("FROM argument '{arg}' is not declared");
        if let Some(s) = suggest.filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (did you mean {s}?)"));
        }
        out
    }

    /// `Relative workdir "app" can have unexpected results if the base image changes`.
    pub fn workdir_relative_path(workdir: &str) -> String {
        format!(
            "Relative workdir {} can have unexpected results if the base image changes",
            go_quote(workdir)
        )
    }

    /// `Usage of undefined variable '$FOO' (did you mean $FOOBAR?)`.
    pub fn undefined_var(arg: &str, suggest: Option<&str>) -> String {
        let mut out = format!("Usage of undefined variable '${arg}'");
        if let Some(s) = suggest.filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (did you mean ${s}?)"));
        }
        out
    }

    /// `Multiple CMD instructions should not be used in the same stage because only the last one
    /// will be used`.
    pub fn multiple_instructions_disallowed(instruction: &str) -> String {
        format!(
            "Multiple {instruction} instructions should not be used in the same stage because only the last one will be used"
        )
    }

    /// `"ENV key=value" should be used instead of legacy "ENV key value" format`.
    pub fn legacy_key_value_format(command: &str) -> String {
        format!(
            "\"{command} key=value\" should be used instead of legacy \"{command} key value\" format"
        )
    }

    /// `Base image busybox was pulled with platform "linux/arm64", expected "linux/amd64" for
    /// current build`.
    pub fn invalid_base_image_platform(image: &str, expected: &str, actual: &str) -> String {
        format!(
            "Base image {image} was pulled with platform {}, expected {} for current build",
            go_quote(actual),
            go_quote(expected)
        )
    }

    /// `Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the
    /// default behavior` (the platform expression as written).
    pub fn redundant_target_platform(platform_var: &str) -> String {
        format!(
            "Setting platform to predefined {platform_var} in FROM is redundant as this is the default behavior"
        )
    }

    /// `Do not use ARG or ENV instructions for sensitive data (ARG "API_KEY")`.
    pub fn secrets_used_in_arg_or_env(instruction: &str, key: &str) -> String {
        format!(
            "Do not use ARG or ENV instructions for sensitive data ({instruction} {})",
            go_quote(key)
        )
    }

    /// `Default value for ARG ${BASE} results in empty or invalid base image name` (the base
    /// name as written).
    pub fn invalid_default_arg_in_from(base_name: &str) -> String {
        format!("Default value for ARG {base_name} results in empty or invalid base image name")
    }

    /// `FROM --platform flag should not use constant value "linux/amd64"`.
    pub fn from_platform_flag_const_disallowed(platform: &str) -> String {
        format!(
            "FROM --platform flag should not use constant value {}",
            go_quote(platform)
        )
    }

    /// `Attempting to Copy file "tmp/a" that is excluded by .dockerignore` (`cmd` is `Copy` or
    /// `Add`).
    pub fn copy_ignored_file(cmd: &str, file: &str) -> String {
        format!(
            "Attempting to {cmd} file {} that is excluded by .dockerignore",
            go_quote(file)
        )
    }

    /// ``Comment for ARG should follow the format: `# VERSION <description>` ``.
    pub fn invalid_definition_description(instruction: &str, def_name: &str) -> String {
        format!("Comment for {instruction} should follow the format: `# {def_name} <description>`")
    }

    /// `Defined protocol '80/TcP' in EXPOSE instruction should be lowercase`.
    pub fn expose_proto_casing(port: &str) -> String {
        format!("Defined protocol '{port}' in EXPOSE instruction should be lowercase")
    }

    /// `EXPOSE instruction should not define an IP address or host-port mapping, found
    /// '127.0.0.1:80:80'`.
    pub fn expose_invalid_format(port: &str) -> String {
        format!(
            "EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'"
        )
    }
}

/// Quotes `s` the way Go's `strconv.Quote` (and so `fmt`'s `%q`) does: double quotes, `\"` and
/// `\\`, the C escapes for control characters, `\xNN` for other ASCII controls, `\uNNNN` /
/// `\UNNNNNNNN` for non-printable code points; printable Unicode is kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint` good for the text of Dockerfiles: control
/// characters, the C1 block, format/separator code points other than the ASCII space, and
/// private-use and unassigned surrogate-adjacent ranges are not printable.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0x00AD // soft hyphen
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF
        | 0xFFFE..=0xFFFF
        | 0xF0000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_kebab_case_of_the_name() {
        for r in ALL {
            let Some(url) = r.url else {
                assert_eq!(r.name, "InvalidBaseImagePlatform");
                continue;
            };
            let mut kebab = String::new();
            let chars: Vec<char> = r.name.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                if c.is_ascii_uppercase() {
                    let prev_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
                    let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                    if i != 0 && (prev_lower || next_lower) {
                        kebab.push('-');
                    }
                    kebab.push(c.to_ascii_lowercase());
                } else {
                    kebab.push(*c);
                }
            }
            assert_eq!(
                url,
                format!("https://docs.docker.com/go/dockerfile/rule/{kebab}/"),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        for r in ALL {
            assert_eq!(by_name(r.name), Some(*r));
            assert_eq!(ALL.iter().filter(|x| x.name == r.name).count(), 1);
        }
        assert_eq!(by_name("stagenamecasing"), None);
        assert_eq!(ALL.len(), 22);
    }

    #[test]
    fn only_invalid_definition_description_is_experimental() {
        let exp: Vec<&str> = ALL
            .iter()
            .filter(|r| r.experimental)
            .map(|r| r.name)
            .collect();
        assert_eq!(exp, ["InvalidDefinitionDescription"]);
    }

    #[test]
    fn messages_match_upstream_wording() {
        assert_eq!(
            msg::stage_name_casing("BuilderBase"),
            "Stage name 'BuilderBase' should be lowercase"
        );
        assert_eq!(
            msg::from_as_casing("FROM", "as"),
            "'as' and 'FROM' keywords' casing do not match"
        );
        assert_eq!(
            msg::duplicate_stage_name("foo-base"),
            "Duplicate stage name \"foo-base\", stage names should be unique"
        );
        assert_eq!(
            msg::undefined_var("FOO", Some("FOOBAR")),
            "Usage of undefined variable '$FOO' (did you mean $FOOBAR?)"
        );
        assert_eq!(
            msg::undefined_var("FOO", None),
            "Usage of undefined variable '$FOO'"
        );
        assert_eq!(
            msg::undefined_arg_in_from("VERSON", Some("VERSION")),
            "FROM argument 'VERSON' is not declared (did you mean VERSION?)"
        );
        assert_eq!(
            msg::legacy_key_value_format("ENV"),
            "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format"
        );
        assert_eq!(
            msg::secrets_used_in_arg_or_env("ARG", "AWS_SECRET_ACCESS_KEY"),
            "Do not use ARG or ENV instructions for sensitive data (ARG \"AWS_SECRET_ACCESS_KEY\")"
        );
        assert_eq!(
            msg::expose_invalid_format("127.0.0.1:80:80"),
            "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'"
        );
        assert_eq!(
            msg::expose_proto_casing("80/TcP"),
            "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase"
        );
        assert_eq!(
            msg::copy_ignored_file("Copy", "tmp/Dockerfile"),
            "Attempting to Copy file \"tmp/Dockerfile\" that is excluded by .dockerignore"
        );
        assert_eq!(
            msg::invalid_definition_description("ARG", "<arg_key>"),
            "Comment for ARG should follow the format: `# <arg_key> <description>`"
        );
        assert_eq!(
            msg::invalid_base_image_platform("busybox", "linux/amd64", "linux/arm64"),
            "Base image busybox was pulled with platform \"linux/arm64\", expected \"linux/amd64\" for current build"
        );
        assert_eq!(
            msg::from_platform_flag_const_disallowed("linux/amd64"),
            "FROM --platform flag should not use constant value \"linux/amd64\""
        );
        assert_eq!(
            msg::workdir_relative_path("app"),
            "Relative workdir \"app\" can have unexpected results if the base image changes"
        );
    }

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(go_quote("héllo ☃"), "\"héllo ☃\"");
        assert_eq!(go_quote("\u{feff}"), r#""\ufeff""#);
        assert_eq!(go_quote(""), r#""""#);
    }
}

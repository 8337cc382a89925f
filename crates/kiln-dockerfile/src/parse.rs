//! AST node → typed instruction (BuildKit's `instructions.ParseInstruction` and `Parse`):
//! arity checks, flag validation, heredoc attachment, doc comments, stage assembly.

use std::collections::HashMap;
use std::time::Duration;

use kiln_dockerfile_parser::{Heredoc, Node, chomp_heredoc_content, must_parse_heredoc};

use crate::bflag::BFlags;
use crate::commands::*;
use crate::error::{Error, ErrorKind, suggest};
use crate::goparse::{format_go_duration, parse_go_duration, parse_go_int};
use crate::mount::{parse_device, parse_mount};

/// Every instruction keyword, uppercased (for "did you mean" suggestions).
pub const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// BuildKit's `parseRequest`.
struct Request<'a> {
    node: &'a Node,
    args: Vec<String>,
    flags: BFlags,
}

impl Request<'_> {
    fn meta(&self) -> CommandMeta {
        CommandMeta {
            name: self.node.value.clone(),
            code: self.node.original.trim().to_string(),
            location: self.node.location(),
            node: self.node.clone(),
        }
    }

    fn heredocs(&self) -> &[Heredoc] {
        &self.node.heredocs
    }
}

/// The argument values of a node; for `ONBUILD`, the nested keyword then its arguments.
fn node_args(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for arg in &node.next {
        match arg.children.as_slice() {
            [] => out.push(arg.value.clone()),
            [sub] => {
                out.push(sub.value.clone());
                out.extend(node_args(sub));
            }
            _ => {}
        }
    }
    out
}

/// BuildKit's `getComment`: the text after `<name> ` on the first matching comment line.
fn get_comment(comments: &[String], name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let prefix = format!("{name} ");
    comments
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

/// Converts one instruction node to a typed instruction: `FROM` gives a [`Stage`] (without
/// commands), anything else a [`Command`]. Errors carry the node's lines; unknown keywords
/// give `unknown instruction: X` with a suggestion when one is close.
pub fn parse_instruction(node: &Node) -> Result<Instruction, Error> {
    let mut req = Request {
        node,
        args: node_args(node),
        flags: BFlags::new(&node.flags),
    };
    let r = match node.value.to_lowercase().as_str() {
        "env" => parse_env(&mut req).map(Command::Env),
        "maintainer" => parse_maintainer(&mut req).map(Command::Maintainer),
        "label" => parse_label(&mut req).map(Command::Label),
        "add" => parse_add(&mut req).map(Command::Add),
        "copy" => parse_copy(&mut req).map(Command::Copy),
        "from" => {
            return parse_from(&mut req)
                .map(Instruction::Stage)
                .map_err(|k| Error::instruction(k, node.location()));
        }
        "onbuild" => parse_onbuild(&mut req).map(Command::Onbuild),
        "workdir" => parse_workdir(&mut req).map(Command::Workdir),
        "run" => parse_run(&mut req).map(Command::Run),
        "cmd" => parse_cmd(&mut req).map(Command::Cmd),
        "healthcheck" => parse_healthcheck(&mut req).map(Command::Healthcheck),
        "entrypoint" => parse_entrypoint(&mut req).map(Command::Entrypoint),
        "expose" => parse_expose(&mut req).map(Command::Expose),
        "user" => parse_user(&mut req).map(Command::User),
        "volume" => parse_volume(&mut req).map(Command::Volume),
        "stopsignal" => parse_stop_signal(&mut req).map(Command::StopSignal),
        "arg" => parse_arg(&mut req).map(Command::Arg),
        "shell" => parse_shell(&mut req).map(Command::Shell),
        _ => Err(ErrorKind::UnknownInstruction {
            instruction: node.value.clone(),
            suggestion: suggest(&node.value, &INSTRUCTIONS, false),
        }),
    };
    r.map(Instruction::Command)
        .map_err(|k| Error::instruction(k, node.location()))
}

/// Like [`parse_instruction`] but rejects `FROM` (BuildKit's `ParseCommand`).
pub fn parse_command(node: &Node) -> Result<Command, Error> {
    match parse_instruction(node)? {
        Instruction::Command(c) => Ok(c),
        Instruction::Stage(_) => Err(Error::instruction(
            ErrorKind::Invalid("*instructions.Stage is not a command type".into()),
            node.location(),
        )),
    }
}

/// Converts a whole AST (the root node from `kiln_dockerfile_parser::parse`) into build
/// stages and the meta `ARG`s that precede the first `FROM` (BuildKit's
/// `instructions.Parse`). Instruction errors are prefixed `dockerfile parse error on line
/// N: `; a command before the first `FROM` (other than `ARG`) is an error.
pub fn parse(ast: &Node) -> Result<(Vec<Stage>, Vec<ArgCommand>), Error> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut meta_args = Vec::new();
    for n in &ast.children {
        let inst = parse_instruction(n).map_err(|e| Error::Dockerfile {
            kind: e.kind().clone(),
            location: e.location(),
        })?;
        match inst {
            Instruction::Stage(s) => stages.push(s),
            Instruction::Command(Command::Arg(a)) if stages.is_empty() => meta_args.push(a),
            Instruction::Command(c) => match stages.last_mut() {
                Some(stage) => stage.commands.push(c),
                None => {
                    return Err(Error::instruction(ErrorKind::NoBuildStage, n.location()));
                }
            },
        }
    }
    Ok((stages, meta_args))
}

fn parse_kvps(args: &[String], cmd: &str) -> Result<Vec<KeyValuePair>, ErrorKind> {
    if args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument(cmd.into()));
    }
    if args.len() % 3 != 0 {
        return Err(ErrorKind::TooManyArguments(cmd.into()));
    }
    args.chunks(3)
        .map(|c| match c {
            [k, v, delim] => {
                if k.is_empty() {
                    return Err(ErrorKind::BlankNames(cmd.into()));
                }
                Ok(KeyValuePair {
                    key: k.clone(),
                    value: v.clone(),
                    no_delim: delim.is_empty(),
                })
            }
            _ => Err(ErrorKind::TooManyArguments(cmd.into())),
        })
        .collect()
}

fn parse_env(req: &mut Request) -> Result<EnvCommand, ErrorKind> {
    req.flags.parse()?;
    let env = parse_kvps(&req.args, "ENV")?;
    Ok(EnvCommand {
        meta: req.meta(),
        env,
    })
}

fn parse_maintainer(req: &mut Request) -> Result<MaintainerCommand, ErrorKind> {
    let [maintainer] = req.args.as_slice() else {
        return Err(ErrorKind::ExactlyOneArgument("MAINTAINER".into()));
    };
    let maintainer = maintainer.clone();
    req.flags.parse()?;
    Ok(MaintainerCommand {
        meta: req.meta(),
        maintainer,
    })
}

fn parse_label(req: &mut Request) -> Result<LabelCommand, ErrorKind> {
    req.flags.parse()?;
    let labels = parse_kvps(&req.args, "LABEL")?;
    Ok(LabelCommand {
        meta: req.meta(),
        labels,
    })
}

fn parse_sources_and_dest(req: &Request, command: &str) -> Result<SourcesAndDest, ErrorKind> {
    let Some((dest, srcs)) = req.args.split_last() else {
        return Err(ErrorKind::NoDestination(command.into()));
    };
    if must_parse_heredoc(dest).is_some() {
        return Err(ErrorKind::BadHeredoc {
            command: command.into(),
            what: "a destination".into(),
        });
    }
    let mut out = SourcesAndDest {
        dest_path: dest.clone(),
        ..SourcesAndDest::default()
    };
    // The last heredoc of a name wins, as with BuildKit's lookup map.
    let bodies: HashMap<&str, &str> = req
        .heredocs()
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    for src in srcs {
        match must_parse_heredoc(src) {
            Some(h) => {
                let mut data = bodies
                    .get(h.name.as_str())
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                if h.chomp {
                    data = chomp_heredoc_content(&data);
                }
                out.source_contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => out.source_paths.push(src.clone()),
        }
    }
    Ok(out)
}

fn parse_add(req: &mut Request) -> Result<AddCommand, ErrorKind> {
    if req.args.len() < 2 {
        return Err(ErrorKind::NoDestination("ADD".into()));
    }
    req.flags.add_strings("exclude");
    req.flags.add_string("chown", "");
    req.flags.add_string("chmod", "");
    req.flags.add_bool("link", false);
    req.flags.add_bool("keep-git-dir", false);
    req.flags.add_string("checksum", "");
    req.flags.add_bool("unpack", false);
    req.flags.parse()?;
    let sources_and_dest = parse_sources_and_dest(req, "ADD")?;
    let f = &req.flags;
    Ok(AddCommand {
        meta: req.meta(),
        sources_and_dest,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        keep_git_dir: f.bool("keep-git-dir"),
        checksum: f.string("checksum"),
        exclude_patterns: f.strings("exclude"),
        unpack: f.is_used("unpack").then(|| f.bool("unpack")),
    })
}

fn parse_copy(req: &mut Request) -> Result<CopyCommand, ErrorKind> {
    if req.args.len() < 2 {
        return Err(ErrorKind::NoDestination("COPY".into()));
    }
    req.flags.add_strings("exclude");
    req.flags.add_bool("parents", false);
    req.flags.add_string("chown", "");
    req.flags.add_string("from", "");
    req.flags.add_string("chmod", "");
    req.flags.add_bool("link", false);
    req.flags.parse()?;
    let sources_and_dest = parse_sources_and_dest(req, "COPY")?;
    let f = &req.flags;
    Ok(CopyCommand {
        meta: req.meta(),
        sources_and_dest,
        from: f.string("from"),
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        parents: f.bool("parents"),
        exclude_patterns: f.strings("exclude"),
    })
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_from(req: &mut Request) -> Result<Stage, ErrorKind> {
    let name = match req.args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !is_valid_stage_name(&lower) {
                return Err(ErrorKind::InvalidStageName(name.clone()));
            }
            lower
        }
        [_] => String::new(),
        _ => return Err(ErrorKind::FromArguments),
    };
    req.flags.add_string("platform", "");
    req.flags.parse()?;
    let base_name = req.args.first().cloned().unwrap_or_default();
    Ok(Stage {
        comment: get_comment(&req.node.prev_comment, &name),
        name,
        orig_cmd: req.node.value.clone(),
        base_name,
        platform: req.flags.string("platform"),
        commands: Vec::new(),
        source_code: req.node.original.trim().to_string(),
        location: req.node.location(),
        node: req.node.clone(),
    })
}

fn parse_onbuild(req: &mut Request) -> Result<OnbuildCommand, ErrorKind> {
    let Some(first) = req.args.first() else {
        return Err(ErrorKind::AtLeastOneArgument("ONBUILD".into()));
    };
    let trigger = first.trim().to_uppercase();
    req.flags.parse()?;
    match trigger.as_str() {
        "ONBUILD" => return Err(ErrorKind::OnbuildChaining),
        "MAINTAINER" | "FROM" => return Err(ErrorKind::OnbuildTrigger(trigger)),
        _ => {}
    }
    // (?i)^\s*ONBUILD\s*
    let original = &req.node.original;
    let body = original.trim_start_matches(is_re_space);
    let mut expression = match body.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => {
            body[7..].trim_start_matches(is_re_space).to_string()
        }
        _ => original.clone(),
    };
    for h in req.heredocs() {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    Ok(OnbuildCommand {
        meta: req.meta(),
        expression,
    })
}

fn is_re_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

fn parse_workdir(req: &mut Request) -> Result<WorkdirCommand, ErrorKind> {
    let [path] = req.args.as_slice() else {
        return Err(ErrorKind::ExactlyOneArgument("WORKDIR".into()));
    };
    let path = path.clone();
    req.flags.parse()?;
    Ok(WorkdirCommand {
        meta: req.meta(),
        path,
    })
}

fn shell_dependant(req: &Request) -> ShellDependantCmdLine {
    let files = req
        .heredocs()
        .iter()
        .map(|h| ShellInlineFile {
            name: h.name.clone(),
            data: h.content.clone(),
            chomp: h.chomp,
        })
        .collect();
    let cmd_line = handle_json_args(&req.args, req.node.json);
    ShellDependantCmdLine {
        cmd_line,
        files,
        prepend_shell: !req.node.json,
    }
}

fn handle_json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn parse_run(req: &mut Request) -> Result<RunCommand, ErrorKind> {
    req.flags.add_strings("device");
    req.flags.add_strings("mount");
    req.flags.add_string("network", "default");
    req.flags.add_string("security", "sandbox");
    req.flags.parse()?;
    let flags_used = req.flags.used();
    let cmd = shell_dependant(req);

    let devices = req
        .flags
        .strings("device")
        .iter()
        .map(|d| parse_device(d))
        .collect::<Result<Vec<_>, _>>()?;
    let mounts = req.flags.strings("mount");
    for m in &mounts {
        parse_mount(m, None)?;
    }
    let network = req.flags.string("network");
    if !matches!(network.as_str(), "default" | "none" | "host") {
        return Err(ErrorKind::Invalid(format!(
            "invalid network mode {}",
            kiln_dockerfile_parser::go_quote(&network)
        )));
    }
    let security = req.flags.string("security");
    if !matches!(security.as_str(), "sandbox" | "insecure") {
        return Err(ErrorKind::Invalid(format!(
            "security {} is not valid",
            kiln_dockerfile_parser::go_quote(&security)
        )));
    }
    Ok(RunCommand {
        meta: req.meta(),
        cmd,
        flags_used,
        mounts,
        network,
        security,
        devices,
    })
}

fn parse_cmd(req: &mut Request) -> Result<CmdCommand, ErrorKind> {
    req.flags.parse()?;
    Ok(CmdCommand {
        meta: req.meta(),
        cmd: shell_dependant(req),
    })
}

fn parse_entrypoint(req: &mut Request) -> Result<EntrypointCommand, ErrorKind> {
    req.flags.parse()?;
    Ok(EntrypointCommand {
        meta: req.meta(),
        cmd: shell_dependant(req),
    })
}

const MINIMUM_DURATION: Duration = Duration::from_millis(1);

/// BuildKit's `parseOptInterval`: empty or zero → 0; below 1ms → error.
fn parse_opt_interval(name: &str, value: &str) -> Result<Duration, ErrorKind> {
    if value.is_empty() {
        return Ok(Duration::ZERO);
    }
    let d = parse_go_duration(value).map_err(ErrorKind::Invalid)?;
    if d == 0 {
        return Ok(Duration::ZERO);
    }
    let min = i64::try_from(MINIMUM_DURATION.as_nanos()).unwrap_or(i64::MAX);
    if d < min {
        return Err(ErrorKind::Invalid(format!(
            "Interval {} cannot be less than {}",
            kiln_dockerfile_parser::go_quote(name),
            format_go_duration(MINIMUM_DURATION)
        )));
    }
    Ok(Duration::from_nanos(d.unsigned_abs()))
}

fn parse_healthcheck(req: &mut Request) -> Result<HealthCheckCommand, ErrorKind> {
    let Some((first, rest)) = req.args.split_first() else {
        return Err(ErrorKind::AtLeastOneArgument("HEALTHCHECK".into()));
    };
    let typ = first.to_uppercase();
    let rest = rest.to_vec();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(ErrorKind::Invalid(
                "HEALTHCHECK NONE takes no arguments".into(),
            ));
        }
        return Ok(HealthCheckCommand {
            meta: req.meta(),
            health: HealthConfig {
                test: vec![typ],
                ..HealthConfig::default()
            },
        });
    }
    req.flags.add_string("interval", "");
    req.flags.add_string("timeout", "");
    req.flags.add_string("start-period", "");
    req.flags.add_string("start-interval", "");
    req.flags.add_string("retries", "");
    req.flags.parse()?;
    let test = match typ.as_str() {
        "CMD" => {
            let cmd = handle_json_args(&rest, req.node.json);
            if cmd.is_empty() {
                return Err(ErrorKind::Invalid(
                    "Missing command after HEALTHCHECK CMD".into(),
                ));
            }
            let kind = if req.node.json { "CMD" } else { "CMD-SHELL" };
            std::iter::once(kind.to_string()).chain(cmd).collect()
        }
        _ => {
            return Err(ErrorKind::Invalid(format!(
                "Unknown type {} in HEALTHCHECK (try CMD)",
                kiln_dockerfile_parser::go_quote(&typ)
            )));
        }
    };
    let f = &req.flags;
    let interval = parse_opt_interval("interval", &f.string("interval"))?;
    let timeout = parse_opt_interval("timeout", &f.string("timeout"))?;
    let start_period = parse_opt_interval("start-period", &f.string("start-period"))?;
    let start_interval = parse_opt_interval("start-interval", &f.string("start-interval"))?;
    let retries_s = f.string("retries");
    let retries = if retries_s.is_empty() {
        0
    } else {
        let r = parse_go_int(&retries_s, 32).map_err(ErrorKind::Invalid)?;
        if r < 0 {
            return Err(ErrorKind::Invalid(format!(
                "--retries cannot be negative ({r})"
            )));
        }
        i32::try_from(r).unwrap_or(i32::MAX)
    };
    Ok(HealthCheckCommand {
        meta: req.meta(),
        health: HealthConfig {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        },
    })
}

fn parse_expose(req: &mut Request) -> Result<ExposeCommand, ErrorKind> {
    if req.args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument("EXPOSE".into()));
    }
    req.flags.parse()?;
    let mut ports = req.args.clone();
    ports.sort();
    Ok(ExposeCommand {
        meta: req.meta(),
        ports,
    })
}

fn parse_user(req: &mut Request) -> Result<UserCommand, ErrorKind> {
    let [user] = req.args.as_slice() else {
        return Err(ErrorKind::ExactlyOneArgument("USER".into()));
    };
    let user = user.clone();
    req.flags.parse()?;
    Ok(UserCommand {
        meta: req.meta(),
        user,
    })
}

fn parse_volume(req: &mut Request) -> Result<VolumeCommand, ErrorKind> {
    if req.args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument("VOLUME".into()));
    }
    req.flags.parse()?;
    let mut volumes = Vec::with_capacity(req.args.len());
    for v in &req.args {
        let v = v.trim();
        if v.is_empty() {
            return Err(ErrorKind::Invalid(
                "VOLUME specified can not be an empty string".into(),
            ));
        }
        volumes.push(v.to_string());
    }
    Ok(VolumeCommand {
        meta: req.meta(),
        volumes,
    })
}

fn parse_stop_signal(req: &mut Request) -> Result<StopSignalCommand, ErrorKind> {
    let [signal] = req.args.as_slice() else {
        return Err(ErrorKind::ExactlyOneArgument("STOPSIGNAL".into()));
    };
    Ok(StopSignalCommand {
        meta: req.meta(),
        signal: signal.clone(),
    })
}

fn parse_arg(req: &mut Request) -> Result<ArgCommand, ErrorKind> {
    if req.args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument("ARG".into()));
    }
    // Like BuildKit, ARG (and STOPSIGNAL) do not validate flags.
    let mut args = Vec::with_capacity(req.args.len());
    for a in &req.args {
        let (key, value) = match a.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err(ErrorKind::BlankNames("ARG".into()));
                }
                (k.to_string(), Some(v.to_string()))
            }
            None => (a.clone(), None),
        };
        args.push(KeyValuePairOptional {
            comment: get_comment(&req.node.prev_comment, &key),
            key,
            value,
        });
    }
    Ok(ArgCommand {
        meta: req.meta(),
        args,
    })
}

fn parse_shell(req: &mut Request) -> Result<ShellCommand, ErrorKind> {
    req.flags.parse()?;
    let shell = handle_json_args(&req.args, req.node.json);
    if shell.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument("SHELL".into()));
    }
    if !req.node.json {
        return Err(ErrorKind::NotJson("SHELL".into()));
    }
    Ok(ShellCommand {
        meta: req.meta(),
        shell,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(src: &str) -> Result<Instruction, Error> {
        let ast = kiln_dockerfile_parser::parse(src.as_bytes()).unwrap().ast;
        parse_instruction(&ast.children[0])
    }

    fn err(src: &str) -> String {
        first(src).unwrap_err().to_string()
    }

    #[test]
    fn errors() {
        assert_eq!(
            err("COPPY a b"),
            "unknown instruction: COPPY (did you mean COPY?)"
        );
        assert_eq!(
            err("FROM a AS 1x"),
            "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
        );
        assert_eq!(
            err("FROM a b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            err("SHELL sh -c"),
            "SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(
            err("HEALTHCHECK --interval=1us CMD x"),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            err("HEALTHCHECK --retries=-1 CMD x"),
            "--retries cannot be negative (-1)"
        );
        assert_eq!(
            err("HEALTHCHECK FOO x"),
            "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            err("RUN --network=bridge x"),
            "invalid network mode \"bridge\""
        );
        assert_eq!(
            err("RUN --mount=from=$X x"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert_eq!(
            err("COPY --form=a b c"),
            "unknown flag: --form (did you mean from?)"
        );
        assert_eq!(err("ENV =x"), "ENV names can not be blank");
        assert_eq!(err("ARG =x"), "ARG names can not be blank");
    }

    #[test]
    fn healthcheck() {
        let Instruction::Command(Command::Healthcheck(h)) =
            first("HEALTHCHECK --interval=5s --retries=3 CMD curl x").unwrap()
        else {
            panic!("not a healthcheck");
        };
        assert_eq!(h.health.test, ["CMD-SHELL", "curl x"]);
        assert_eq!(h.health.interval, Duration::from_secs(5));
        assert_eq!(h.health.retries, 3);
    }

    #[test]
    fn stages_and_meta_args() {
        let ast = kiln_dockerfile_parser::parse(
            b"ARG V=1\nFROM a:$V AS Build\nRUN x\nFROM build\nCOPY --from=build /a /b\n",
        )
        .unwrap()
        .ast;
        let (stages, meta) = parse(&ast).unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].name, "build");
        assert_eq!(stages[0].commands.len(), 1);
        assert_eq!(find_stage(&stages, "BUILD"), Some(0));
        let ast = kiln_dockerfile_parser::parse(b"RUN x\n").unwrap().ast;
        assert_eq!(
            parse(&ast).unwrap_err().to_string(),
            "no build stage in current context"
        );
        let ast = kiln_dockerfile_parser::parse(b"FROM a\nFOO x\n")
            .unwrap()
            .ast;
        assert_eq!(
            parse(&ast).unwrap_err().to_string(),
            "dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)"
        );
    }

    #[test]
    fn onbuild_expression() {
        let Instruction::Command(Command::Onbuild(o)) =
            first("onbuild  RUN <<EOF\nx\nEOF").unwrap()
        else {
            panic!("not onbuild");
        };
        assert_eq!(o.expression, "RUN <<EOF\nx\nEOF");
    }
}

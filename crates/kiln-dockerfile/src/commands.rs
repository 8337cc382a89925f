//! The typed instructions: one struct per Dockerfile command, the build [`Stage`], and the
//! [`Command`]/[`Instruction`] enums that hold them.

use std::time::Duration;

use kiln_dockerfile_parser::{Node, Range};

use crate::error::Error;
use crate::mount::{Device, Mount, parse_mount};

/// What every command carries besides its own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// The keyword as written (`RUN`, `run`, ...).
    pub name: String,
    /// The instruction's source text (continuations joined), trimmed.
    pub code: String,
    /// The lines of the instruction (including heredoc bodies).
    pub location: Range,
    /// The AST node the command was made from.
    pub node: Node,
}

/// A `key value` pair of `ENV` or `LABEL` (order preserved; quotes not yet removed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValuePair {
    pub key: String,
    pub value: String,
    /// True for the legacy `ENV key value` form (no `=`), which a linter may flag.
    pub no_delim: bool,
}

/// An `ARG` name with an optional default value and its doc comment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValuePairOptional {
    pub key: String,
    /// `None` for `ARG name`, `Some("")` for `ARG name=`.
    pub value: Option<String>,
    /// The doc comment: the text after `# <key> ` in the comment block above the `ARG`, or
    /// empty.
    pub comment: String,
}

impl KeyValuePairOptional {
    /// The value, or `""` when there is none.
    pub fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }
}

/// An inline file given as a heredoc source of `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceContent {
    /// The file name: the heredoc delimiter.
    pub path: String,
    /// The body (leading tabs already removed for `<<-`).
    pub data: String,
    /// Whether variables in the body are to be expanded (false when the delimiter was
    /// quoted).
    pub expand: bool,
}

/// The sources and destination of `COPY`/`ADD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SourcesAndDest {
    /// The last argument.
    pub dest_path: String,
    /// Ordinary sources (paths, URLs, git refs), in order.
    pub source_paths: Vec<String>,
    /// Heredoc sources, in order.
    pub source_contents: Vec<SourceContent>,
}

/// A heredoc attached to `RUN`/`CMD`/`ENTRYPOINT` (the script body or an extra file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShellInlineFile {
    /// The heredoc delimiter.
    pub name: String,
    /// The raw body (tabs *not* removed yet).
    pub data: String,
    /// True for `<<-`: remove leading tabs (see `kiln_dockerfile_parser::chomp_heredoc_content`).
    pub chomp: bool,
}

/// A command line in shell form (run through `SHELL`) or exec form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ShellDependantCmdLine {
    /// Exec form: the words. Shell form: one string, the rest of the line (heredoc markers
    /// kept).
    pub cmd_line: Vec<String>,
    /// Heredoc bodies given with the command.
    pub files: Vec<ShellInlineFile>,
    /// True for the shell form.
    pub prepend_shell: bool,
}

/// `ENV key=value ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCommand {
    pub meta: CommandMeta,
    pub env: Vec<KeyValuePair>,
}

/// `MAINTAINER name` (deprecated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainerCommand {
    pub meta: CommandMeta,
    pub maintainer: String,
}

/// `LABEL key=value ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCommand {
    pub meta: CommandMeta,
    pub labels: Vec<KeyValuePair>,
}

/// `ADD [flags] src... dest`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCommand {
    pub meta: CommandMeta,
    pub sources_and_dest: SourcesAndDest,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: String,
    /// `--exclude` patterns (repeatable).
    pub exclude_patterns: Vec<String>,
    /// `--unpack`: `None` when not given (archives from URLs are not unpacked, local ones
    /// are).
    pub unpack: Option<bool>,
}

/// `COPY [flags] src... dest`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCommand {
    pub meta: CommandMeta,
    pub sources_and_dest: SourcesAndDest,
    /// `--from`: a stage name or index, or an image/context name; empty for the build
    /// context.
    pub from: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub parents: bool,
    pub exclude_patterns: Vec<String>,
}

/// `ONBUILD <instruction>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnbuildCommand {
    pub meta: CommandMeta,
    /// The trigger instruction as written (the `ONBUILD` keyword removed); heredoc bodies are
    /// appended as `\n<body><name>` so the expression can be parsed again.
    pub expression: String,
}

/// `WORKDIR path`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdirCommand {
    pub meta: CommandMeta,
    pub path: String,
}

/// `RUN [flags] command`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub meta: CommandMeta,
    pub cmd: ShellDependantCmdLine,
    /// Names of the flags given (without `--`), in order of first use.
    pub flags_used: Vec<String>,
    /// The raw `--mount` values, in order; variables are not expanded yet (see
    /// [`RunCommand::mounts`]).
    pub mounts: Vec<String>,
    /// `--network`: `default`, `none` or `host`.
    pub network: String,
    /// `--security`: `sandbox` or `insecure`.
    pub security: String,
    /// `--device` values.
    pub devices: Vec<Device>,
}

impl RunCommand {
    /// The `--mount` values parsed, each value first passed through `expand` (variable
    /// expansion happens at conversion time, when the environment is known; pass
    /// `|s| Ok(s.to_string())` to take values literally).
    pub fn mounts<F>(&self, mut expand: F) -> Result<Vec<Mount>, Error>
    where
        F: FnMut(&str) -> Result<String, String>,
    {
        self.mounts
            .iter()
            .map(|m| {
                parse_mount(m, Some(&mut expand))
                    .map_err(|kind| Error::instruction(kind, self.meta.location))
            })
            .collect()
    }
}

/// `CMD command`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdCommand {
    pub meta: CommandMeta,
    pub cmd: ShellDependantCmdLine,
}

/// `ENTRYPOINT command`. An empty exec form (`ENTRYPOINT []`) has an empty `cmd_line`
/// and means "no entrypoint" (BuildKit stores nil).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrypointCommand {
    pub meta: CommandMeta,
    pub cmd: ShellDependantCmdLine,
}

/// The health check configuration (Docker's `HealthConfig`). Durations are zero when not
/// given (the runtime default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` (exec form) or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i32,
}

/// `HEALTHCHECK [flags] CMD command` or `HEALTHCHECK NONE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckCommand {
    pub meta: CommandMeta,
    pub health: HealthConfig,
}

/// `EXPOSE port[/proto]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposeCommand {
    pub meta: CommandMeta,
    /// The ports as written, sorted (BuildKit sorts them).
    pub ports: Vec<String>,
}

/// `USER user[:group]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCommand {
    pub meta: CommandMeta,
    pub user: String,
}

/// `VOLUME path...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCommand {
    pub meta: CommandMeta,
    pub volumes: Vec<String>,
}

/// `STOPSIGNAL signal`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignalCommand {
    pub meta: CommandMeta,
    pub signal: String,
}

/// `ARG name[=default] ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgCommand {
    pub meta: CommandMeta,
    pub args: Vec<KeyValuePairOptional>,
}

/// `SHELL ["executable", "param"...]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    pub meta: CommandMeta,
    pub shell: Vec<String>,
}

/// Any instruction except `FROM` (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Env(EnvCommand),
    Maintainer(MaintainerCommand),
    Label(LabelCommand),
    Add(AddCommand),
    Copy(CopyCommand),
    Onbuild(OnbuildCommand),
    Workdir(WorkdirCommand),
    Run(RunCommand),
    Cmd(CmdCommand),
    Healthcheck(HealthCheckCommand),
    Entrypoint(EntrypointCommand),
    Expose(ExposeCommand),
    User(UserCommand),
    Volume(VolumeCommand),
    StopSignal(StopSignalCommand),
    Arg(ArgCommand),
    Shell(ShellCommand),
}

impl Command {
    /// The common part: keyword as written, source, location, AST node.
    pub fn meta(&self) -> &CommandMeta {
        match self {
            Command::Env(c) => &c.meta,
            Command::Maintainer(c) => &c.meta,
            Command::Label(c) => &c.meta,
            Command::Add(c) => &c.meta,
            Command::Copy(c) => &c.meta,
            Command::Onbuild(c) => &c.meta,
            Command::Workdir(c) => &c.meta,
            Command::Run(c) => &c.meta,
            Command::Cmd(c) => &c.meta,
            Command::Healthcheck(c) => &c.meta,
            Command::Entrypoint(c) => &c.meta,
            Command::Expose(c) => &c.meta,
            Command::User(c) => &c.meta,
            Command::Volume(c) => &c.meta,
            Command::StopSignal(c) => &c.meta,
            Command::Arg(c) => &c.meta,
            Command::Shell(c) => &c.meta,
        }
    }

    /// The keyword, lowercased (`run`, `copy`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Env(_) => "env",
            Command::Maintainer(_) => "maintainer",
            Command::Label(_) => "label",
            Command::Add(_) => "add",
            Command::Copy(_) => "copy",
            Command::Onbuild(_) => "onbuild",
            Command::Workdir(_) => "workdir",
            Command::Run(_) => "run",
            Command::Cmd(_) => "cmd",
            Command::Healthcheck(_) => "healthcheck",
            Command::Entrypoint(_) => "entrypoint",
            Command::Expose(_) => "expose",
            Command::User(_) => "user",
            Command::Volume(_) => "volume",
            Command::StopSignal(_) => "stopsignal",
            Command::Arg(_) => "arg",
            Command::Shell(_) => "shell",
        }
    }

    /// The lines of the instruction.
    pub fn location(&self) -> Range {
        self.meta().location
    }
}

/// One build stage: a `FROM` and the commands up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The stage name after `AS`, lowercased; empty when unnamed.
    pub name: String,
    /// The `FROM` keyword as written.
    pub orig_cmd: String,
    /// The base: an image reference, a stage name or `scratch` (variables not expanded).
    pub base_name: String,
    /// `--platform` value (variables not expanded); empty when not given.
    pub platform: String,
    /// The commands of the stage, in order.
    pub commands: Vec<Command>,
    /// The `FROM` line as written, trimmed.
    pub source_code: String,
    /// The lines of the `FROM` instruction.
    pub location: Range,
    /// The doc comment: the text after `# <name> ` in the comment block above `FROM`.
    pub comment: String,
    /// The `FROM` AST node.
    pub node: Node,
}

/// What [`crate::parse_instruction`] makes of one AST node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM`: the start of a stage (with no commands yet).
    Stage(Stage),
    /// Any other instruction.
    Command(Command),
}

/// The index of the stage named `name` (case-insensitive), like BuildKit's `HasStage`.
pub fn find_stage(stages: &[Stage], name: &str) -> Option<usize> {
    stages
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(name))
}

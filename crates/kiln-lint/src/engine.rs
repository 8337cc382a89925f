//! The walk over a Dockerfile that BuildKit's `dockerfile2llb.toDispatchState` makes before it
//! builds anything: parse, group stages, expand global `ARG`s and `FROM` lines, find the target
//! and the stages it needs, then "dispatch" every command against a model of the stage's
//! environment. kiln does this walk without producing LLB: it reports the build checks found on
//! the way and captures what `--call=outline` shows.
//!
//! Every rule runs where upstream runs it, in upstream's order, so the warnings come out in the
//! same sequence (JSON output keeps that order).

use std::collections::{BTreeMap, BTreeSet};

use kiln_dockerfile::{
    ArgCommand, Command, KeyValuePairOptional, MountType, Stage, parse_command, parse_instruction,
};
use kiln_dockerfile_parser::{self as parser, Node, ParseErrorKind};
use kiln_dockerignore::PatternMatcher;
use kiln_platforms::Platform;
use kiln_shell::{Env, EnvGetter, Lex};

use crate::config::{LintConfig, Linter};
use crate::rules::{self, msg};
use crate::secrets::is_secret_key;
use crate::suggest;
use crate::warning::{BuildError, Range};

/// Build args that are never put into a stage's environment.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// The build argument that overrides the `# check=` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// What a base image contributes to a stage, as far as the checks need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `Config.Env` entries (`NAME=value`).
    pub env: Vec<String>,
    /// `Config.Shell` (non-empty silences `JSONArgsRecommended`).
    pub shell: Vec<String>,
    /// The platform the image is for, when known (for `InvalidBaseImagePlatform`).
    pub platform: Option<Platform>,
    /// `Config.OnBuild` triggers, run first in stages based on the image.
    pub on_build: Vec<String>,
    /// The image has no layers (`rootfs.diff_ids` empty and every `history` entry an empty
    /// layer). BuildKit then starts the stage from scratch and skips the platform check.
    pub no_layers: bool,
}

/// Looks up the configuration of base images. This crate does no I/O: the caller supplies
/// the resolver (the CLI asks the registry; a build may answer from the images it pulled).
///
/// Implementations must not fail loudly: `None` means "unknown", and the checks then avoid
/// every conclusion that would need the image (no `UndefinedVar` in stages based on it, no
/// `InvalidBaseImagePlatform`). The walk calls `resolve` once per reachable stage built on an
/// image (never for `scratch`), from one thread; implementations should cache, since several
/// stages often share a base.
pub trait ImageConfigResolver {
    /// The configuration of `reference` (normalized, e.g. `docker.io/library/busybox:latest`)
    /// for `platform`, or `None` when unknown. For a single-platform image the configuration
    /// is returned whatever its platform (as BuildKit's resolver does), with `platform` set to
    /// the image's own, so that `InvalidBaseImagePlatform` can tell.
    fn resolve(&self, reference: &str, platform: &Platform) -> Option<ImageConfig>;
}

/// The inputs of a check pass besides the Dockerfile.
#[derive(Default)]
pub struct CheckOptions<'a> {
    /// `--build-arg` values. `BUILDKIT_DOCKERFILE_CHECK` here overrides the `# check=`
    /// directive.
    pub build_args: BTreeMap<String, String>,
    /// `--target`. Without one, `check` looks at every stage and `outline` at the last.
    pub target: Option<String>,
    /// The platform being built for (`TARGETPLATFORM`); the host's when `None`.
    pub target_platform: Option<Platform>,
    /// The platform building (`BUILDPLATFORM`); the host's when `None`.
    pub build_platform: Option<Platform>,
    /// The `.dockerignore` patterns in force, for `CopyIgnoredFile`.
    pub ignore_patterns: Option<Vec<String>>,
    /// Base image configurations, when the caller has them.
    pub resolver: Option<&'a dyn ImageConfigResolver>,
}

impl std::fmt::Debug for CheckOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("build_args", &self.build_args)
            .field("target", &self.target)
            .field("target_platform", &self.target_platform)
            .field("build_platform", &self.build_platform)
            .field("ignore_patterns", &self.ignore_patterns)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

/// What the walk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `--call=check`: report warnings; without a target every stage is dispatched.
    Lint,
    /// `--call=outline`: only the target and what it needs; no warnings kept.
    Outline,
}

/// An `ARG` as the outline reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgInfo {
    pub(crate) key: String,
    pub(crate) comment: String,
    pub(crate) value: String,
    pub(crate) location: Vec<Range>,
    /// Global args whose values this one's default referenced.
    pub(crate) deps: BTreeSet<String>,
}

/// A secret or SSH mount as the outline reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub(crate) required: bool,
    pub(crate) location: Vec<Range>,
}

/// Upstream's `outlineCapture`: per stage, what it defines and uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutlineCapture {
    pub(crate) all_args: BTreeMap<String, ArgInfo>,
    pub(crate) used_args: BTreeSet<String>,
    pub(crate) secrets: BTreeMap<String, MountInfo>,
    pub(crate) ssh: BTreeMap<String, MountInfo>,
}

/// A command ready to dispatch (possibly an `ONBUILD` trigger from the base).
#[derive(Debug, Clone)]
struct DispatchCmd {
    cmd: Command,
    location: Vec<Range>,
    /// The stages this command reads from (`COPY --from`, `RUN --mount=from=`).
    sources: Vec<usize>,
}

/// The dispatch model of one stage (upstream's `dispatchState`, reduced to what the checks
/// read).
#[derive(Debug, Clone, Default)]
pub(crate) struct StageState {
    /// Index into the parsed stages; `None` for an implicit stage (`COPY --from=image`).
    stage: Option<usize>,
    pub(crate) name: String,
    stage_name: String,
    pub(crate) base_name: String,
    platform: Option<Platform>,
    pub(crate) base: Option<usize>,
    pub(crate) deps: Vec<usize>,
    commands: Vec<DispatchCmd>,
    location: Vec<Range>,
    unregistered: bool,
    dispatched: bool,
    resolved: bool,
    onbuild_init: bool,
    image: ImageConfig,
    /// False when the stage's base image environment is unknown (no resolver).
    env_known: bool,
    env: Env,
    build_args: Vec<KeyValuePairOptional>,
    workdir_set: bool,
    cmd_seen: Option<Vec<Range>>,
    entrypoint_seen: Option<Vec<Range>>,
    healthcheck_seen: Option<Vec<Range>>,
    pub(crate) outline: OutlineCapture,
}

/// The result of a walk.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) linter: Linter,
    pub(crate) error: Option<BuildError>,
    pub(crate) stages: Vec<Stage>,
    pub(crate) states: Vec<StageState>,
    pub(crate) target: Option<usize>,
}

/// One single-line range per line of `r`, as BuildKit's `Node.Location()` gives them.
pub(crate) fn lines_of(r: &Range) -> Vec<Range> {
    lines(r)
}

fn lines(r: &Range) -> Vec<Range> {
    let end = r.end.line.max(r.start.line);
    (r.start.line..=end).map(|l| Range::lines(l, l)).collect()
}

fn err_at(message: impl Into<String>, location: Vec<Range>) -> BuildError {
    BuildError {
        message: message.into(),
        location,
    }
}

fn err(message: impl Into<String>) -> BuildError {
    err_at(message, Vec::new())
}

/// Go's `path.Clean` on a slash-separated path.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn is_abs(path: &str, os: &str) -> bool {
    if os == "windows" {
        let b = path.as_bytes();
        path.starts_with('/')
            || path.starts_with('\\')
            || (b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && matches!(b[2], b'\\' | b'/'))
    } else {
        path.starts_with('/')
    }
}

fn platform_or_host(p: &Option<Platform>) -> Platform {
    p.clone()
        .unwrap_or_else(|| kiln_platforms::default_platform().clone())
}

/// Upstream's `defaultArgs`: the platform args and `TARGETSTAGE`, overridable by build args.
fn default_args(
    build: &Platform,
    target: &Platform,
    target_name: &str,
    overrides: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let defaults = [
        ("BUILDPLATFORM", kiln_platforms::format(build)),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", build.os_version.clone()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", build.variant.clone()),
        ("TARGETPLATFORM", kiln_platforms::format_all(target)),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", target.os_version.clone()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", target.variant.clone()),
        ("TARGETSTAGE", target_name.to_string()),
    ];
    defaults
        .into_iter()
        .map(|(k, v)| {
            let v = overrides.get(k).cloned().unwrap_or(v);
            (k.to_string(), v)
        })
        .collect()
}

fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// An ordered environment (`NAME`, value), later entries replacing earlier ones in place.
type EnvList = Vec<(String, String)>;

/// Upstream's `buildMetaArgs`: the global `ARG`s evaluated in order on top of `args`.
fn build_meta_args(
    mut args: Vec<(String, String)>,
    lex: &Lex,
    meta_args: &[ArgCommand],
    build_args: Option<&BTreeMap<String, String>>,
) -> Result<(EnvList, BTreeMap<String, ArgInfo>), BuildError> {
    let mut all = BTreeMap::new();
    for cmd in meta_args {
        for kp in &cmd.args {
            let mut info = ArgInfo {
                key: kp.key.clone(),
                comment: kp.comment.clone(),
                value: String::new(),
                location: lines(&cmd.meta.location),
                deps: BTreeSet::new(),
            };
            let mut value = kp.value.clone();
            match build_args.and_then(|b| b.get(&kp.key)) {
                Some(v) => value = Some(v.clone()),
                None => {
                    if let Some(v) = &kp.value {
                        let r = lex
                            .process_word_with_matches(v, &args)
                            .map_err(|e| err_at(e.to_string(), lines(&cmd.meta.location)))?;
                        info.deps = r.matched;
                        value = Some(r.result);
                    }
                }
            }
            if let Some(v) = value {
                set_env(&mut args, &kp.key, &v);
                info.value = v;
            }
            all.insert(kp.key.clone(), info);
        }
    }
    Ok((args, all))
}

/// Whether a COPY/ADD source is fetched from the network rather than the context.
fn is_remote_source(src: &str) -> bool {
    ["http://", "https://", "git@", "git://", "ssh://"]
        .iter()
        .any(|p| src.starts_with(p))
}

/// Walks `dockerfile` as BuildKit does before building; see the module docs.
pub(crate) fn walk(dockerfile: &[u8], opts: &CheckOptions<'_>, mode: Mode) -> Walk {
    let mut w = Walk::default();
    if let Err(e) = walk_inner(dockerfile, opts, mode, &mut w) {
        w.error = Some(e);
    }
    w
}

fn lint_config(dockerfile: &[u8], opts: &CheckOptions<'_>) -> Result<LintConfig, BuildError> {
    let text = match opts.build_args.get(CHECK_BUILD_ARG) {
        Some(v) => v.clone(),
        None => parser::directives::parse_directive("check", dockerfile)
            .map(|d| d.cmdline)
            .unwrap_or_default(),
    };
    LintConfig::parse(&text).map_err(|e| err(format!("failed to parse check options: {e}")))
}

fn walk_inner(
    dockerfile: &[u8],
    opts: &CheckOptions<'_>,
    mode: Mode,
    w: &mut Walk,
) -> Result<(), BuildError> {
    if dockerfile.is_empty() {
        return Err(err("the Dockerfile cannot be empty"));
    }
    let config = lint_config(dockerfile, opts)?;
    w.linter = Linter::new(if mode == Mode::Lint {
        config
    } else {
        LintConfig {
            skip_all: true,
            ..LintConfig::default()
        }
    });

    let parsed = parser::parse(dockerfile).map_err(|e| {
        let location = match e.kind {
            ParseErrorKind::NoInstructions => Vec::new(),
            _ => lines(&e.location),
        };
        err_at(e.message(), location)
    })?;
    for pw in &parsed.warnings {
        if pw.url == rules::NO_EMPTY_CONTINUATION.url.unwrap_or_default() {
            w.linter.report(
                &rules::NO_EMPTY_CONTINUATION,
                vec![pw.location],
                msg::no_empty_continuation(),
            );
        }
    }
    let lex = Lex::new(parsed.escape_token);

    let (stages, meta_args) = parse_stages(&parsed.ast, &mut w.linter)?;
    if stages.is_empty() {
        return Err(err("dockerfile contains no stages to build"));
    }
    validate_stage_names(&stages, &mut w.linter);
    validate_command_casing(&stages, &mut w.linter);

    let build_platform = platform_or_host(&opts.build_platform);
    let target_platform = opts
        .target_platform
        .clone()
        .unwrap_or_else(|| build_platform.clone());
    let target_name = match &opts.target {
        Some(t) if !t.is_empty() => t.clone(),
        _ => stages.last().map(|s| s.name.clone()).unwrap_or_default(),
    };
    let defaults = default_args(
        &build_platform,
        &target_platform,
        &target_name,
        &opts.build_args,
    );

    validate_base_images_with_default_args(&stages, &lex, &defaults, &meta_args, &mut w.linter);

    let (global_args, all_args) =
        build_meta_args(defaults, &lex, &meta_args, Some(&opts.build_args))?;
    let global_capture = OutlineCapture {
        all_args,
        ..OutlineCapture::default()
    };
    let mut arg_keys: Vec<String> = global_capture.all_args.keys().cloned().collect();
    for (k, _) in &global_args {
        if !arg_keys.contains(k) {
            arg_keys.push(k.clone());
        }
    }

    // The base of every stage.
    let mut names = NameIndex::new();
    for (i, st) in stages.iter().enumerate() {
        let location = lines(&st.location);
        let name_match = lex.process_word_with_matches(&st.base_name, &global_args);
        if let Ok(m) = &name_match {
            report_undefined_from_args(&m.unmatched, &arg_keys, &location, &mut w.linter);
        }
        let name_match = name_match.map_err(|e| err_at(e.to_string(), location.clone()))?;
        if name_match.result.is_empty() {
            return Err(err_at(
                format!("base name ({}) should not be blank", st.base_name),
                location,
            ));
        }
        let mut used = name_match.matched.clone();
        let mut platform = None;
        if !st.platform.is_empty() {
            let pm = lex.process_word_with_matches(&st.platform, &global_args);
            let pm = match pm {
                Ok(pm) => pm,
                Err(e) => {
                    return Err(err_at(
                        format!(
                            "failed to process arguments for platform {}: {e}",
                            st.platform
                        ),
                        location,
                    ));
                }
            };
            report_undefined_from_args(&pm.unmatched, &arg_keys, &location, &mut w.linter);
            report_redundant_target_platform(
                &st.platform,
                &pm,
                &location,
                &global_args,
                &mut w.linter,
            );
            report_const_platform(&st.name, &pm, &location, &mut w.linter);
            if pm.result.is_empty() {
                return Err(err_at(
                    format!("empty platform value from expression {}", st.platform),
                    location,
                ));
            }
            let p = kiln_platforms::parse(&pm.result).map_err(|e| {
                err_at(
                    format!("failed to parse platform {}: {e}", st.platform),
                    location.clone(),
                )
            })?;
            used.extend(pm.matched.iter().cloned());
            platform = Some(p);
        }
        // Bases are looked up by the expanded name as written (names are stored lowercase).
        let base = names.get(&name_match.result).copied();
        let mut outline = match base {
            Some(b) => w.states[b].outline.clone(),
            None => global_capture.clone(),
        };
        outline.used_args.extend(used);
        if !st.name.is_empty() {
            names.insert(st.name.clone(), w.states.len());
        }
        w.states.push(StageState {
            stage: Some(i),
            name: st.name.clone(),
            stage_name: if st.name.is_empty() {
                format!("stage-{i}")
            } else {
                st.name.clone()
            },
            base_name: name_match.result,
            platform,
            base,
            location,
            outline,
            ..StageState::default()
        });
    }

    // The target.
    let target = match &opts.target {
        Some(t) if !t.is_empty() => find_state(&names, t).ok_or_else(|| {
            err(format!(
                "target stage {} could not be found",
                rules::go_quote(t)
            ))
        })?,
        _ => w.states.len() - 1,
    };
    w.target = Some(target);

    // Commands and the stages they read from.
    let stage_count = w.states.len();
    for si in 0..stage_count {
        let Some(idx) = w.states[si].stage else {
            continue;
        };
        let mut cmds = Vec::new();
        for c in &stages[idx].commands {
            let sources = command_sources(c, &mut w.states, &names)?;
            cmds.push(DispatchCmd {
                cmd: c.clone(),
                location: lines(&c.location()),
                sources,
            });
        }
        for c in &cmds {
            for s in &c.sources {
                if !w.states[si].deps.contains(s) {
                    w.states[si].deps.push(*s);
                }
            }
        }
        w.states[si].commands = cmds;
    }
    validate_circular_dependency(&w.states)?;
    if w.states.len() == 1 {
        w.states[0].stage_name.clear();
    }

    let all_stages = mode == Mode::Lint && opts.target.as_deref().unwrap_or("").is_empty();
    let reachable = loop {
        let reachable = reachable_from(&w.states, target);
        resolve_bases(w, &reachable, all_stages, &target_platform, opts)?;
        let mut new_deps = false;
        for si in 0..w.states.len() {
            if !reachable.contains(&si) {
                continue;
            }
            init_from_base(&mut w.states, si);
            let mut triggers: Vec<String> = std::mem::take(&mut w.states[si].image.on_build);
            if let (Some(b), false) = (w.states[si].base, w.states[si].onbuild_init) {
                for c in &w.states[b].commands {
                    if let Command::Onbuild(o) = &c.cmd {
                        triggers.push(o.expression.clone());
                    }
                }
                w.states[si].onbuild_init = true;
            }
            if !triggers.is_empty() && init_onbuild_triggers(&mut w.states, si, &triggers, &names)?
            {
                new_deps = true;
            }
        }
        if !new_deps {
            break reachable;
        }
    };

    let matcher = match &opts.ignore_patterns {
        Some(p) if !p.is_empty() => Some(PatternMatcher::new(p).map_err(|e| err(e.to_string()))?),
        _ => None,
    };

    let ctx = DispatchCtx {
        lex: &lex,
        global_args: &global_args,
        build_args: &opts.build_args,
        target_platform: &target_platform,
        matcher: matcher.as_ref(),
    };
    for si in 0..w.states.len() {
        if !all_stages && !reachable.contains(&si) {
            continue;
        }
        if w.states[si].dispatched {
            continue;
        }
        init_from_base(&mut w.states, si);
        w.states[si].dispatched = true;
        if w.states[si].platform.is_none() {
            w.states[si].platform = Some(target_platform.clone());
        }
        if w.states[si].env.value("PATH").is_none() {
            w.states[si].env.set("PATH", DEFAULT_PATH);
        }
        let cmds = w.states[si].commands.clone();
        for c in &cmds {
            dispatch(w, si, c, &ctx)?;
        }
    }

    if let Some(e) = w.linter.error() {
        return Err(err(e));
    }
    w.stages = stages;
    Ok(())
}

/// The default `PATH` BuildKit puts into a Linux stage whose image has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Stage names (lowercase) to the index of the last stage registered under them, as
/// upstream's `statesByName` map.
type NameIndex = BTreeMap<String, usize>;

fn find_state(names: &NameIndex, name: &str) -> Option<usize> {
    names.get(&name.to_lowercase()).copied()
}

/// `instructions.Parse` with the linter: node by node, the parse-time rules, then the
/// conversion; commands grouped into stages, `ARG`s before the first `FROM` kept apart.
fn parse_stages(
    ast: &Node,
    linter: &mut Linter,
) -> Result<(Vec<Stage>, Vec<ArgCommand>), BuildError> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut meta_args = Vec::new();
    for n in &ast.children {
        let loc = n.location_lines();
        let keyword = n.keyword();
        if keyword == "maintainer" {
            linter.report(
                &rules::MAINTAINER_DEPRECATED,
                loc.clone(),
                msg::maintainer_deprecated(),
            );
        }
        if keyword == "from" {
            let args = n.args();
            if let [_, _, name] = args.as_slice() {
                if *name != name.to_lowercase() {
                    linter.report(
                        &rules::STAGE_NAME_CASING,
                        loc.clone(),
                        msg::stage_name_casing(name),
                    );
                }
            }
            if args.len() >= 3 {
                let from = n.value.as_str();
                let from_lower = from == from.to_lowercase();
                let from_upper = from == from.to_uppercase();
                let as_kw = args[1];
                let ok = if from_lower {
                    as_kw == as_kw.to_lowercase()
                } else if from_upper {
                    as_kw == as_kw.to_uppercase()
                } else {
                    true
                };
                if !ok {
                    linter.report(
                        &rules::FROM_AS_CASING,
                        loc.clone(),
                        msg::from_as_casing(from, as_kw),
                    );
                }
            }
        }
        let inst = parse_instruction(n).map_err(|e| {
            err_at(
                format!(
                    "dockerfile parse error on line {}: {}",
                    e.location().start.line,
                    e.message()
                ),
                lines(&e.location()),
            )
        })?;
        match inst {
            kiln_dockerfile::Instruction::Stage(s) => {
                if !s.name.is_empty() {
                    validate_definition_description(
                        "FROM",
                        &[s.name.as_str()],
                        &n.prev_comment,
                        &loc,
                        linter,
                    );
                }
                stages.push(s);
            }
            kiln_dockerfile::Instruction::Command(c) => {
                if let Command::Arg(a) = &c {
                    let keys: Vec<&str> = a.args.iter().map(|k| k.key.as_str()).collect();
                    validate_definition_description("ARG", &keys, &n.prev_comment, &loc, linter);
                }
                match (c, stages.last_mut()) {
                    (Command::Arg(a), None) => meta_args.push(a),
                    (c, Some(stage)) => stage.commands.push(c),
                    (_, None) => {
                        return Err(err_at("no build stage in current context", loc));
                    }
                }
            }
        }
    }
    Ok((stages, meta_args))
}

fn validate_definition_description(
    instruction: &str,
    keys: &[&str],
    comments: &[String],
    location: &[Range],
    linter: &mut Linter,
) {
    let (Some(last), Some(first_key)) = (comments.last(), keys.first()) else {
        return;
    };
    let first_word = last.split(' ').next().unwrap_or_default();
    if keys.contains(&first_word) {
        return;
    }
    let example = if keys.len() > 1 {
        "<arg_key>"
    } else {
        first_key
    };
    linter.report(
        &rules::INVALID_DEFINITION_DESCRIPTION,
        location.to_vec(),
        msg::invalid_definition_description(instruction, example),
    );
}

fn validate_stage_names(stages: &[Stage], linter: &mut Linter) {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for s in stages {
        if s.name.is_empty() {
            continue;
        }
        let loc = lines(&s.location);
        if s.name == "context" || s.name == "scratch" {
            linter.report(
                &rules::RESERVED_STAGE_NAME,
                loc.clone(),
                msg::reserved_stage_name(&s.name),
            );
        }
        if !seen.insert(&s.name) {
            linter.report(
                &rules::DUPLICATE_STAGE_NAME,
                loc,
                msg::duplicate_stage_name(&s.name),
            );
        }
    }
}

fn is_self_consistent(s: &str) -> bool {
    s == s.to_lowercase() || s == s.to_uppercase()
}

fn validate_command_casing(stages: &[Stage], linter: &mut Linter) {
    let (mut lower, mut upper) = (0usize, 0usize);
    let mut count = |name: &str| {
        if is_self_consistent(name) {
            if name == name.to_lowercase() {
                lower += 1;
            } else {
                upper += 1;
            }
        }
    };
    for s in stages {
        count(&s.orig_cmd);
        for c in &s.commands {
            count(&c.meta().name);
        }
    }
    let majority_lower = lower > upper;
    let mut check = |name: &str, loc: Vec<Range>| {
        let casing = if majority_lower && name != name.to_lowercase() {
            "lowercase"
        } else if !majority_lower && name != name.to_uppercase() {
            "uppercase"
        } else {
            return;
        };
        linter.report(
            &rules::CONSISTENT_INSTRUCTION_CASING,
            loc,
            msg::consistent_instruction_casing(name, casing),
        );
    };
    for s in stages {
        check(&s.orig_cmd, lines(&s.location));
        for c in &s.commands {
            check(&c.meta().name, lines(&c.location()));
        }
    }
}

fn validate_base_images_with_default_args(
    stages: &[Stage],
    lex: &Lex,
    defaults: &[(String, String)],
    meta_args: &[ArgCommand],
    linter: &mut Linter,
) {
    let Ok((args, _)) = build_meta_args(defaults.to_vec(), lex, meta_args, None) else {
        return;
    };
    for s in stages {
        let Ok(m) = lex.process_word_with_matches(&s.base_name, &args) else {
            return;
        };
        if kiln_reference::parse_normalized_named(&m.result).is_err() {
            linter.report(
                &rules::INVALID_DEFAULT_ARG_IN_FROM,
                lines(&s.location),
                msg::invalid_default_arg_in_from(&s.base_name),
            );
        }
    }
}

fn report_undefined_from_args(
    unmatched: &BTreeSet<String>,
    keys: &[String],
    location: &[Range],
    linter: &mut Linter,
) {
    for arg in unmatched {
        if keys.contains(arg) {
            continue;
        }
        let s = suggest::search(arg, keys, true);
        linter.report(
            &rules::UNDEFINED_ARG_IN_FROM,
            location.to_vec(),
            msg::undefined_arg_in_from(arg, s.as_deref()),
        );
    }
}

fn report_redundant_target_platform(
    platform_var: &str,
    m: &kiln_shell::ProcessWordResult,
    location: &[Range],
    env: &[(String, String)],
    linter: &mut Linter,
) {
    if m.matched.len() == 1 && m.unmatched.is_empty() && m.matched.contains("TARGETPLATFORM") {
        let value = EnvGetter::get(env, "TARGETPLATFORM").unwrap_or_default();
        if m.result == value {
            linter.report(
                &rules::REDUNDANT_TARGET_PLATFORM,
                location.to_vec(),
                msg::redundant_target_platform(platform_var),
            );
        }
    }
}

fn report_const_platform(
    stage_name: &str,
    m: &kiln_shell::ProcessWordResult,
    location: &[Range],
    linter: &mut Linter,
) {
    if !m.matched.is_empty() || !m.unmatched.is_empty() {
        return;
    }
    let Ok(p) = kiln_platforms::parse(&m.result) else {
        return;
    };
    if stage_name.contains(p.os.as_str()) || stage_name.contains(p.architecture.as_str()) {
        return;
    }
    linter.report(
        &rules::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
        location.to_vec(),
        msg::from_platform_flag_const_disallowed(&m.result),
    );
}

/// The stage a `COPY --from` / `RUN --mount=from=` names: an earlier-or-later stage by name or
/// index, or an implicit stage for an image (appended to `states`).
fn source_state(
    from: &str,
    location: &Range,
    states: &mut Vec<StageState>,
    names: &NameIndex,
) -> Result<usize, BuildError> {
    if let Ok(index) = from.parse::<i64>() {
        return usize::try_from(index)
            .ok()
            .filter(|i| *i < states.len())
            .ok_or_else(|| err_at(format!("invalid stage index {index}"), lines(location)));
    }
    if let Some(i) = find_state(names, from) {
        return Ok(i);
    }
    states.push(StageState {
        base_name: from.to_string(),
        location: lines(location),
        unregistered: true,
        ..StageState::default()
    });
    Ok(states.len() - 1)
}

fn command_sources(
    c: &Command,
    states: &mut Vec<StageState>,
    names: &NameIndex,
) -> Result<Vec<usize>, BuildError> {
    let mut out = Vec::new();
    match c {
        Command::Copy(cp) if !cp.from.is_empty() => {
            out.push(source_state(&cp.from, &cp.meta.location, states, names)?);
        }
        Command::Run(r) => {
            let mounts = r
                .mounts(|v| Ok(v.to_string()))
                .map_err(|e| err_at(e.message(), lines(&e.location())))?;
            for m in mounts {
                if m.from.is_empty() || m.mount_type == MountType::Tmpfs {
                    continue;
                }
                out.push(source_state(&m.from, &r.meta.location, states, names)?);
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Fails when `COPY --from` / `RUN --mount=from=` references form a cycle. Iterative, so a
/// long chain of stages cannot exhaust the stack.
fn validate_circular_dependency(states: &[StageState]) -> Result<(), BuildError> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; states.len()];
    for start in 0..states.len() {
        if mark[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = 1;
        while let Some(top) = stack.last_mut() {
            let (s, next) = *top;
            match states[s].deps.get(next) {
                Some(&d) => {
                    top.1 += 1;
                    match mark.get(d).copied() {
                        Some(1) => {
                            return Err(err_at(
                                format!(
                                    "circular dependency detected on stage: {}",
                                    states[start].stage_name
                                ),
                                states[start].location.clone(),
                            ));
                        }
                        Some(0) => {
                            mark[d] = 1;
                            stack.push((d, 0));
                        }
                        _ => {}
                    }
                }
                None => {
                    mark[s] = 2;
                    stack.pop();
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn reachable_from(states: &[StageState], target: usize) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if s >= states.len() || !out.insert(s) {
            continue;
        }
        if let Some(b) = states[s].base {
            todo.push(b);
        }
        todo.extend(states[s].deps.iter().copied());
    }
    out
}

/// Upstream's `resolveReachableStages`: base image names parsed for every stage, configs
/// looked up for the reachable ones.
fn resolve_bases(
    w: &mut Walk,
    reachable: &BTreeSet<usize>,
    all_stages: bool,
    target_platform: &Platform,
    opts: &CheckOptions<'_>,
) -> Result<(), BuildError> {
    for si in 0..w.states.len() {
        let st = &w.states[si];
        if st.base.is_some() || st.dispatched || st.resolved {
            continue;
        }
        let is_reachable = all_stages || reachable.contains(&si);
        w.states[si].resolved = is_reachable;
        if w.states[si].base_name == "scratch" {
            let s = &mut w.states[si];
            s.env_known = true;
            s.platform = Some(target_platform.clone());
            if s.unregistered {
                s.dispatched = true;
            }
            continue;
        }
        let orig = w.states[si].base_name.clone();
        let reference = kiln_reference::parse_normalized_named(&orig).map_err(|e| {
            err_at(
                format!("failed to parse stage name {}: {e}", rules::go_quote(&orig)),
                w.states[si].location.clone(),
            )
        })?;
        let platform = w.states[si]
            .platform
            .clone()
            .unwrap_or_else(|| target_platform.clone());
        let resolver = opts.resolver.filter(|_| is_reachable);
        if let Some(r) = resolver {
            let name = reference.tag_name_only().to_string();
            if let Some(cfg) = r.resolve(&name, &platform) {
                // BuildKit checks the platform of images with layers only.
                let mismatch = cfg.platform.as_ref().filter(|actual| {
                    !cfg.no_layers
                        && (actual.os != platform.os
                            || actual.architecture != platform.architecture)
                });
                if let Some(actual) = mismatch {
                    w.linter.report(
                        &rules::INVALID_BASE_IMAGE_PLATFORM,
                        w.states[si].location.clone(),
                        msg::invalid_base_image_platform(
                            &orig,
                            &kiln_platforms::format_all(&kiln_platforms::normalize(&platform)),
                            &kiln_platforms::format_all(&kiln_platforms::normalize(actual)),
                        ),
                    );
                }
                let s = &mut w.states[si];
                s.env_known = true;
                for e in &cfg.env {
                    let (k, v) = e.split_once('=').unwrap_or((e, ""));
                    s.env.set(k, v);
                }
                s.image = cfg;
            }
        }
        let s = &mut w.states[si];
        s.platform = Some(platform);
        if s.unregistered {
            s.dispatched = true;
        }
    }
    Ok(())
}

/// Upstream's `dispatchState.init`: a stage based on another starts from its state.
fn init_from_base(states: &mut [StageState], si: usize) {
    let Some(b) = states[si].base else {
        return;
    };
    if states[si].dispatched {
        return;
    }
    let base = states[b].clone();
    let s = &mut states[si];
    s.platform = base.platform;
    s.env = base.env;
    s.env_known = base.env_known;
    s.image = ImageConfig {
        on_build: Vec::new(),
        ..base.image
    };
    s.workdir_set = base.workdir_set;
    let mut args = s.build_args.clone();
    for a in base.build_args {
        if !args.contains(&a) {
            args.push(a);
        }
    }
    s.build_args = args;
}

/// Upstream's `initOnBuildTriggers`: parses the triggers and puts them before the stage's own
/// commands, located at the stage's `FROM`. True when they read from other stages.
fn init_onbuild_triggers(
    states: &mut Vec<StageState>,
    si: usize,
    triggers: &[String],
    names: &NameIndex,
) -> Result<bool, BuildError> {
    let location = states[si].location.clone();
    let mut new_deps = false;
    let mut cmds = Vec::new();
    for t in triggers {
        let parsed =
            parser::parse(t.as_bytes()).map_err(|e| err_at(e.message(), location.clone()))?;
        let [node] = parsed.ast.children.as_slice() else {
            return Err(err_at(
                "onbuild trigger should be a single expression",
                location,
            ));
        };
        let cmd = parse_command(node).map_err(|e| err_at(e.message(), location.clone()))?;
        let sources = command_sources(&cmd, states, names)?;
        if !sources.is_empty() {
            new_deps = true;
        }
        for s in &sources {
            if !states[si].deps.contains(s) {
                states[si].deps.push(*s);
            }
        }
        cmds.push(DispatchCmd {
            cmd,
            location: location.clone(),
            sources,
        });
    }
    cmds.append(&mut states[si].commands);
    states[si].commands = cmds;
    Ok(new_deps)
}

struct DispatchCtx<'a> {
    lex: &'a Lex,
    global_args: &'a [(String, String)],
    build_args: &'a BTreeMap<String, String>,
    target_platform: &'a Platform,
    matcher: Option<&'a PatternMatcher>,
}

/// Expands `word` against the stage environment, reporting `UndefinedVar` for what it could
/// not find (unless the stage's environment is not fully known).
fn expand(
    w: &mut Walk,
    si: usize,
    lex: &Lex,
    word: &str,
    location: &[Range],
) -> Result<String, BuildError> {
    let st = &w.states[si];
    let r = lex
        .process_word_with_matches(word, &st.env)
        .map_err(|e| err_at(e.to_string(), location.to_vec()))?;
    report_unmatched(w, si, &r.unmatched, location);
    Ok(r.result)
}

fn report_unmatched(w: &mut Walk, si: usize, unmatched: &BTreeSet<String>, location: &[Range]) {
    let st = &w.states[si];
    if !st.env_known {
        return;
    }
    let mut options: Vec<String> = st.env.names().to_vec();
    options.sort();
    let mut found = Vec::new();
    for var in unmatched {
        if st.build_args.iter().any(|a| &a.key == var) || NON_ENV_ARGS.contains(&var.as_str()) {
            continue;
        }
        let s = suggest::search(var, &options, true);
        found.push(msg::undefined_var(var, s.as_deref()));
    }
    for m in found {
        w.linter.report(&rules::UNDEFINED_VAR, location.to_vec(), m);
    }
}

fn expand_all(
    w: &mut Walk,
    si: usize,
    ctx: &DispatchCtx<'_>,
    words: &[&str],
    location: &[Range],
) -> Result<Vec<String>, BuildError> {
    words
        .iter()
        .map(|word| expand(w, si, ctx.lex, word, location))
        .collect()
}

fn stage_os(w: &Walk, si: usize, ctx: &DispatchCtx<'_>) -> String {
    w.states[si]
        .platform
        .as_ref()
        .map_or_else(|| ctx.target_platform.os.clone(), |p| p.os.clone())
}

fn validate_used_once(
    seen: &mut Option<Vec<Range>>,
    name: &str,
    location: &[Range],
    linter: &mut Linter,
) {
    if let Some(prev) = seen.take() {
        linter.report(
            &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
            prev,
            msg::multiple_instructions_disallowed(name),
        );
    }
    *seen = Some(location.to_vec());
}

fn dispatch(
    w: &mut Walk,
    si: usize,
    c: &DispatchCmd,
    ctx: &DispatchCtx<'_>,
) -> Result<(), BuildError> {
    let loc = c.location.as_slice();
    let name = c.cmd.meta().name.clone();
    match &c.cmd {
        Command::Env(e) => {
            // Every word is expanded against the environment from before the instruction.
            let mut pairs = Vec::with_capacity(e.env.len());
            for kv in &e.env {
                let k = expand(w, si, ctx.lex, &kv.key, loc)?;
                let v = expand(w, si, ctx.lex, &kv.value, loc)?;
                pairs.push((k, v, kv.no_delim));
            }
            for (k, v, no_delim) in pairs {
                if no_delim {
                    w.linter.report(
                        &rules::LEGACY_KEY_VALUE_FORMAT,
                        loc.to_vec(),
                        msg::legacy_key_value_format(&name),
                    );
                }
                if is_secret_key(&k) {
                    w.linter.report(
                        &rules::SECRETS_USED_IN_ARG_OR_ENV,
                        loc.to_vec(),
                        msg::secrets_used_in_arg_or_env("ENV", &k),
                    );
                }
                w.states[si].env.set(&k, &v);
            }
        }
        Command::Label(l) => {
            for kv in &l.labels {
                expand(w, si, ctx.lex, &kv.key, loc)?;
                expand(w, si, ctx.lex, &kv.value, loc)?;
            }
            for kv in &l.labels {
                if kv.no_delim {
                    w.linter.report(
                        &rules::LEGACY_KEY_VALUE_FORMAT,
                        loc.to_vec(),
                        msg::legacy_key_value_format(&name),
                    );
                }
            }
        }
        Command::Run(r) => {
            let mut unmatched: Vec<BTreeSet<String>> = Vec::new();
            let env = w.states[si].env.clone();
            let lex = ctx.lex;
            let mounts = r
                .mounts(|v| {
                    lex.process_word_with_matches(v, &env)
                        .map(|m| {
                            unmatched.push(m.unmatched);
                            m.result
                        })
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| err_at(e.message(), loc.to_vec()))?;
            for u in &unmatched {
                report_unmatched(w, si, u, loc);
            }
            for m in mounts {
                match m.mount_type {
                    MountType::Secret => {
                        let mut id = m.cache_id.clone();
                        if !m.source.is_empty() {
                            id = m.source.clone();
                        }
                        if id.is_empty() {
                            if m.target.is_empty() {
                                return Err(err_at("one of source, target required", loc.to_vec()));
                            }
                            id = m
                                .target
                                .rsplit('/')
                                .find(|p| !p.is_empty())
                                .unwrap_or("/")
                                .to_string();
                        }
                        w.states[si].outline.secrets.entry(id).or_insert(MountInfo {
                            required: m.required,
                            location: loc.to_vec(),
                        });
                    }
                    MountType::Ssh => {
                        let id = if m.cache_id.is_empty() {
                            "default".to_string()
                        } else {
                            m.cache_id.clone()
                        };
                        w.states[si].outline.ssh.entry(id).or_insert(MountInfo {
                            required: m.required,
                            location: loc.to_vec(),
                        });
                    }
                    _ => {}
                }
            }
            for s in &c.sources {
                if !w.states[*s].dispatched {
                    return Err(err_at(
                        format!(
                            "cannot mount from stage {}, it needs to be defined before current stage {}",
                            rules::go_quote(&w.states[*s].base_name_or_name()),
                            rules::go_quote(&w.states[si].stage_name)
                        ),
                        loc.to_vec(),
                    ));
                }
            }
        }
        Command::Workdir(wd) => {
            let path = expand(w, si, ctx.lex, &wd.path, loc)?;
            let os = stage_os(w, si, ctx);
            if !w.states[si].workdir_set && !is_abs(&path, &os) {
                w.linter.report(
                    &rules::WORKDIR_RELATIVE_PATH,
                    loc.to_vec(),
                    msg::workdir_relative_path(&path),
                );
            }
            w.states[si].workdir_set = true;
        }
        Command::Add(a) => {
            expand_all(w, si, ctx, &[&a.chown, &a.chmod, &a.checksum], loc)?;
            let srcs: Vec<&str> = a
                .sources_and_dest
                .source_paths
                .iter()
                .map(String::as_str)
                .collect();
            let srcs = expand_all(w, si, ctx, &srcs, loc)?;
            expand(w, si, ctx.lex, &a.sources_and_dest.dest_path, loc)?;
            expand_heredocs(w, si, &a.sources_and_dest.source_contents, loc)?;
            for src in &srcs {
                if !is_remote_source(src) {
                    validate_copy_source(w, ctx, "Add", src, loc)?;
                }
            }
        }
        Command::Copy(cp) => {
            expand_all(w, si, ctx, &[&cp.chown, &cp.chmod], loc)?;
            let srcs: Vec<&str> = cp
                .sources_and_dest
                .source_paths
                .iter()
                .map(String::as_str)
                .collect();
            let srcs = expand_all(w, si, ctx, &srcs, loc)?;
            expand(w, si, ctx.lex, &cp.sources_and_dest.dest_path, loc)?;
            expand_heredocs(w, si, &cp.sources_and_dest.source_contents, loc)?;
            if let Some(s) = c.sources.first() {
                if !w.states[*s].dispatched {
                    return Err(err_at(
                        format!(
                            "cannot copy from stage {}, it needs to be defined before current stage {}",
                            rules::go_quote(&cp.from),
                            rules::go_quote(&w.states[si].stage_name)
                        ),
                        loc.to_vec(),
                    ));
                }
            } else {
                for src in &srcs {
                    validate_copy_source(w, ctx, "Copy", src, loc)?;
                }
            }
        }
        Command::Cmd(cm) => {
            let st = &mut w.states[si];
            validate_used_once(&mut st.cmd_seen, &name, loc, &mut w.linter);
            if cm.cmd.prepend_shell && st.image.shell.is_empty() {
                w.linter.report(
                    &rules::JSON_ARGS_RECOMMENDED,
                    loc.to_vec(),
                    msg::json_args_recommended(&name),
                );
            }
        }
        Command::Entrypoint(ep) => {
            let st = &mut w.states[si];
            validate_used_once(&mut st.entrypoint_seen, &name, loc, &mut w.linter);
            if ep.cmd.prepend_shell && st.image.shell.is_empty() {
                w.linter.report(
                    &rules::JSON_ARGS_RECOMMENDED,
                    loc.to_vec(),
                    msg::json_args_recommended(&name),
                );
            }
        }
        Command::Healthcheck(_) => {
            let st = &mut w.states[si];
            validate_used_once(&mut st.healthcheck_seen, &name, loc, &mut w.linter);
        }
        Command::Expose(ex) => {
            let mut ports = Vec::new();
            for p in &ex.ports {
                let words = ctx
                    .lex
                    .process_words(p, &w.states[si].env)
                    .map_err(|e| err_at(e.to_string(), loc.to_vec()))?;
                ports.extend(words);
            }
            for p in &ports {
                let (found, result) = crate::expose::check_port(p);
                if found.proto_not_lowercase {
                    w.linter.report(
                        &rules::EXPOSE_PROTO_CASING,
                        loc.to_vec(),
                        msg::expose_proto_casing(p),
                    );
                }
                if found.has_ip_or_host_port {
                    w.linter.report(
                        &rules::EXPOSE_INVALID_FORMAT,
                        loc.to_vec(),
                        msg::expose_invalid_format(p),
                    );
                }
                result.map_err(|e| err_at(e, loc.to_vec()))?;
            }
        }
        Command::User(u) => {
            expand(w, si, ctx.lex, &u.user, loc)?;
        }
        Command::Volume(v) => {
            let vols: Vec<&str> = v.volumes.iter().map(String::as_str).collect();
            for vol in expand_all(w, si, ctx, &vols, loc)? {
                if vol.is_empty() {
                    return Err(err_at(
                        "VOLUME specified can not be an empty string",
                        loc.to_vec(),
                    ));
                }
            }
        }
        Command::StopSignal(s) => {
            expand(w, si, ctx.lex, &s.signal, loc)?;
        }
        Command::Shell(sh) => {
            w.states[si].image.shell = sh.shell.clone();
        }
        Command::Arg(a) => dispatch_arg(w, si, a, ctx, loc)?,
        Command::Maintainer(_) | Command::Onbuild(_) => {}
    }
    Ok(())
}

impl StageState {
    /// Index of the parsed stage, `None` for an implicit one.
    pub(crate) fn stage_index(&self) -> Option<usize> {
        self.stage
    }

    fn base_name_or_name(&self) -> String {
        if self.unregistered || self.name.is_empty() {
            self.base_name.clone()
        } else {
            self.name.clone()
        }
    }
}

fn expand_heredocs(
    w: &mut Walk,
    si: usize,
    contents: &[kiln_dockerfile::SourceContent],
    loc: &[Range],
) -> Result<(), BuildError> {
    let mut lex = Lex::new('\\');
    lex.skip_process_quotes = true;
    for sc in contents.iter().filter(|c| c.expand) {
        expand(w, si, &lex, &sc.data, loc)?;
    }
    Ok(())
}

fn validate_copy_source(
    w: &mut Walk,
    ctx: &DispatchCtx<'_>,
    cmd: &str,
    src: &str,
    loc: &[Range],
) -> Result<(), BuildError> {
    let Some(m) = ctx.matcher else {
        return Ok(());
    };
    if m.exclusions() {
        return Ok(());
    }
    let src = clean_path(src);
    if m.matches_or_parent_matches(&src)
        .map_err(|e| err_at(e.to_string(), loc.to_vec()))?
    {
        w.linter.report(
            &rules::COPY_IGNORED_FILE,
            loc.to_vec(),
            msg::copy_ignored_file(cmd, &src),
        );
    }
    Ok(())
}

fn dispatch_arg(
    w: &mut Walk,
    si: usize,
    a: &ArgCommand,
    ctx: &DispatchCtx<'_>,
    loc: &[Range],
) -> Result<(), BuildError> {
    for kp in &a.args {
        if is_secret_key(&kp.key) {
            w.linter.report(
                &rules::SECRETS_USED_IN_ARG_OR_ENV,
                loc.to_vec(),
                msg::secrets_used_in_arg_or_env("ARG", &kp.key),
            );
        }
        let build_value = ctx.build_args.get(&kp.key);
        let mut value = kp.value.clone();
        let mut skip_arg_info = false;
        if value.is_none() && build_value.is_none() {
            if let Some(v) = EnvGetter::get(ctx.global_args, &kp.key) {
                value = Some(v);
                skip_arg_info = true;
            }
        }
        if let Some(v) = build_value {
            value = Some(v.clone());
        } else if let (Some(default), false) = (&kp.value, skip_arg_info) {
            value = Some(expand(w, si, ctx.lex, default, loc)?);
        }
        let st = &mut w.states[si];
        if let (Some(v), false) = (&value, NON_ENV_ARGS.contains(&kp.key.as_str())) {
            st.env.set(&kp.key, v);
        }
        if !skip_arg_info {
            st.outline.all_args.insert(
                kp.key.clone(),
                ArgInfo {
                    key: kp.key.clone(),
                    comment: kp.comment.clone(),
                    value: value.clone().unwrap_or_default(),
                    location: loc.to_vec(),
                    deps: BTreeSet::new(),
                },
            );
        }
        st.outline.used_args.insert(kp.key.clone());
        st.build_args.push(KeyValuePairOptional {
            key: kp.key.clone(),
            value,
            comment: kp.comment.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_like_go() {
        for (i, o) in [
            ("", "."),
            ("./tmp/a", "tmp/a"),
            ("tmp//a/", "tmp/a"),
            ("/a/../b", "/b"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/..", "/"),
            (".", "."),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn abs_paths() {
        assert!(is_abs("/app", "linux"));
        assert!(!is_abs("app", "linux"));
        assert!(is_abs("C:\\app", "windows"));
        assert!(!is_abs("app", "windows"));
    }
}

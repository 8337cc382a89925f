//! The conversion driver: stages and their dependencies, global `ARG`s, base image
//! resolution, which stages the target needs, `ONBUILD` triggers, and the result image.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use kiln_dockerfile::{Command, KeyValuePairOptional, Stage};
use kiln_dockerfile_parser::Range;
use kiln_graph::{LocalOpts, State, VertexMeta};
use kiln_platforms::Platform;
use kiln_shell::Lex;

use crate::image::{History, Image, RootFs};
use crate::{ConvertOptions, ConvertResult, Error, ErrorKind, ImageMetaResolver, ResolvedImage};

/// `PATH` set in images that have none (BuildKit's `system.DefaultPathEnvUnix`).
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The `comment` of history entries the Dockerfile adds.
pub(crate) const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";
const SCRATCH: &str = "scratch";

/// A command of a stage with the stages it reads from.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub(crate) command: Command,
    /// For `COPY --from`: one entry; for `RUN`: one per mount (`None` = no `from`).
    pub(crate) sources: Vec<Option<usize>>,
    pub(crate) on_build: bool,
}

/// Everything known about one stage (or one image named by `COPY --from` / `--mount from=`).
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// Lowercased `AS` name; empty when unnamed.
    pub(crate) name: String,
    /// The name progress lines use (`build`, `stage-2`, empty for a one-stage build).
    pub(crate) stage_name: String,
    pub(crate) base_name: String,
    pub(crate) location: Range,
    pub(crate) platform: Option<Platform>,
    pub(crate) commands: Vec<Cmd>,
    pub(crate) raw_commands: Vec<Command>,
    pub(crate) base: Option<usize>,
    pub(crate) deps: BTreeSet<usize>,
    pub(crate) unregistered: bool,
    pub(crate) state: State,
    pub(crate) image: Image,
    pub(crate) build_args: Vec<KeyValuePairOptional>,
    pub(crate) dispatched: bool,
    pub(crate) resolved: bool,
    pub(crate) on_build_init: bool,
    pub(crate) ignore_cache: bool,
    pub(crate) cmd_total: usize,
    pub(crate) cmd_index: usize,
    pub(crate) cmd_is_on_build: bool,
    pub(crate) cmd_set: bool,
}

impl StageState {
    fn new(base_name: String, location: Range) -> StageState {
        StageState {
            name: String::new(),
            stage_name: String::new(),
            base_name,
            location,
            platform: None,
            commands: Vec::new(),
            raw_commands: Vec::new(),
            base: None,
            deps: BTreeSet::new(),
            unregistered: false,
            state: State::scratch(),
            image: Image::default(),
            build_args: Vec::new(),
            dispatched: false,
            resolved: false,
            on_build_init: false,
            ignore_cache: false,
            cmd_total: 0,
            cmd_index: 0,
            cmd_is_on_build: false,
            cmd_set: false,
        }
    }
}

/// An ordered list of variables where setting replaces in place (BuildKit's `EnvList`).
pub(crate) fn set_var(list: &mut Vec<(String, String)>, key: &str, value: &str) {
    if let Some(e) = list.iter_mut().find(|(k, _)| k == key) {
        e.1 = value.to_string();
    } else {
        list.push((key.to_string(), value.to_string()));
    }
}

/// Memoizes the resolver so each `(reference, platform)` is asked once per conversion.
pub(crate) struct Resolver<'a> {
    inner: &'a dyn ImageMetaResolver,
    memo: RefCell<HashMap<(String, String), Result<ResolvedImage, String>>>,
}

impl Resolver<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let key = (reference.to_string(), kiln_platforms::format_all(platform));
        if let Some(r) = self.memo.borrow().get(&key) {
            return r.clone();
        }
        let r = self
            .inner
            .resolve_image_config(reference, platform)
            .map_err(|e| e.to_string());
        self.memo.borrow_mut().insert(key, r.clone());
        r
    }

    /// What was resolved, for the lint pass.
    fn known(&self) -> Vec<(String, String, ResolvedImage)> {
        self.memo
            .borrow()
            .iter()
            .filter_map(|((r, p), v)| v.as_ref().ok().map(|v| (r.clone(), p.clone(), v.clone())))
            .collect()
    }
}

/// The conversion's shared context.
pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a ConvertOptions,
    pub(crate) lex: Lex,
    pub(crate) target_platform: Platform,
    pub(crate) build_platform: Platform,
    pub(crate) implicit_target: bool,
    pub(crate) global_args: Vec<(String, String)>,
    pub(crate) context: State,
    pub(crate) ctx_paths: BTreeSet<String>,
    pub(crate) resolver: &'a Resolver<'a>,
    /// `SOURCE_DATE_EPOCH`, Unix seconds: history times and file mtimes.
    pub(crate) epoch: Option<i64>,
    /// Proxy build args given to every `RUN` outside its digest.
    pub(crate) proxy_env: BTreeMap<String, String>,
    pub(crate) states: Vec<StageState>,
    by_name: HashMap<String, usize>,
}

/// The platform of the machine kiln was compiled for, without reading anything.
fn compiled_platform() -> Platform {
    let (arch, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", ""),
        "aarch64" => ("arm64", ""),
        "arm" => ("arm", "v7"),
        "x86" => ("386", ""),
        "powerpc64" => ("ppc64le", ""),
        "riscv64" => ("riscv64", ""),
        "s390x" => ("s390x", ""),
        "loongarch64" => ("loong64", ""),
        other => (other, ""),
    };
    let mut p = Platform::new("linux", arch);
    p.variant = variant.to_string();
    p
}

/// The predefined platform args (BuildKit's `defaultArgs`), build args overriding them.
fn default_args(
    build: &Platform,
    target: &Platform,
    overrides: &BTreeMap<String, String>,
    target_stage: &str,
) -> Vec<(String, String)> {
    let pairs = [
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
        ("TARGETSTAGE", target_stage.to_string()),
    ];
    let mut out = Vec::new();
    for (k, v) in pairs {
        let v = overrides.get(k).cloned().unwrap_or(v);
        set_var(&mut out, k, &v);
    }
    out
}

/// An image with nothing in it (`FROM scratch`).
pub(crate) fn empty_image(platform: &Platform) -> Image {
    Image {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        os_version: platform.os_version.clone(),
        os_features: platform.os_features.clone(),
        variant: platform.variant.clone(),
        rootfs: RootFs::default(),
        config: crate::image::ImageConfig {
            working_dir: "/".to_string(),
            env: vec![format!("PATH={DEFAULT_PATH}")],
            ..Default::default()
        },
        ..Image::default()
    }
}

/// Appends a history entry (BuildKit's `commitToHistory`).
pub(crate) fn commit(image: &mut Image, msg: String, with_layer: bool, buildkit: bool) {
    let created_by = if buildkit {
        format!("{msg} # buildkit")
    } else {
        msg
    };
    image.history.push(History {
        created_by,
        comment: HISTORY_COMMENT.to_string(),
        empty_layer: !with_layer,
        ..History::default()
    });
}

fn dockerfile_error(e: kiln_dockerfile::Error) -> Error {
    Error::new(ErrorKind::Instruction(e.to_string())).at(e.location())
}

/// Parses the Dockerfile into stages and meta args.
fn parse(dockerfile: &[u8]) -> Result<(Vec<Stage>, Vec<kiln_dockerfile::ArgCommand>, char), Error> {
    if dockerfile.is_empty() {
        return Err(ErrorKind::EmptyDockerfile.into());
    }
    let parsed = kiln_dockerfile_parser::parse(dockerfile).map_err(|e| {
        let location = e.location;
        Error::new(ErrorKind::Parse(e)).at(location)
    })?;
    let (stages, args) = kiln_dockerfile::parse(&parsed.ast).map_err(dockerfile_error)?;
    if stages.is_empty() {
        return Err(ErrorKind::NoStages.into());
    }
    Ok((stages, args, parsed.escape_token))
}

/// See [`crate::convert`].
pub(crate) fn convert(
    dockerfile: &[u8],
    opts: &ConvertOptions,
    resolver: &dyn ImageMetaResolver,
) -> Result<ConvertResult, Error> {
    let (stages, meta_args, escape) = parse(dockerfile)?;
    let resolver = Resolver {
        inner: resolver,
        memo: RefCell::new(HashMap::new()),
    };
    let context_name = if opts.context_name.is_empty() {
        "context"
    } else {
        opts.context_name.as_str()
    };
    let local = |follow: Vec<String>| {
        State::local(
            context_name,
            &LocalOpts {
                exclude_patterns: opts.ignore_patterns.clone(),
                follow_paths: follow,
                shared_key_hint: context_name.to_string(),
                ..LocalOpts::default()
            },
            VertexMeta::named("[internal] load build context"),
        )
    };
    // First pass: learn which context paths the build reads; second pass: the same build
    // over a context source restricted to them (BuildKit's mutable build-context output).
    let first = run(
        &stages,
        &meta_args,
        escape,
        opts,
        &resolver,
        local(Vec::new()),
    )?;
    let follow = follow_paths(&first.1);
    let (mut result, _) = if follow.is_empty() {
        first
    } else {
        run(&stages, &meta_args, escape, opts, &resolver, local(follow))?
    };
    let (warnings, lint_error) = lint(dockerfile, opts, &resolver);
    if let Some(e) = lint_error {
        return Err(e);
    }
    result.warnings = warnings;
    Ok(result)
}

/// BuildKit's `normalizeContextPaths`: none when `/` (everything) is used.
fn follow_paths(paths: &BTreeSet<String>) -> Vec<String> {
    if paths.contains("/") {
        return Vec::new();
    }
    let mut out: Vec<String> = paths
        .iter()
        .map(|p| p.trim_start_matches('/').to_string())
        .map(|p| if p.is_empty() { ".".to_string() } else { p })
        .collect();
    out.sort();
    out
}

/// Runs the build checks; a `# check=error=true` violation is returned as the error that
/// fails the build (BuildKit's `lint.Error()`).
fn lint(
    dockerfile: &[u8],
    opts: &ConvertOptions,
    resolver: &Resolver<'_>,
) -> (Vec<kiln_lint::Warning>, Option<Error>) {
    struct Known(Vec<(String, String, ResolvedImage)>);
    impl kiln_lint::ImageConfigResolver for Known {
        fn resolve(&self, reference: &str, platform: &Platform) -> Option<kiln_lint::ImageConfig> {
            let p = kiln_platforms::format_all(platform);
            let (_, _, r) = self
                .0
                .iter()
                .find(|(r, pl, _)| r == reference && *pl == p)?;
            let img: Image = serde_json::from_slice(&r.config).ok()?;
            Some(kiln_lint::ImageConfig {
                env: img.config.env,
                shell: img.config.shell,
                platform: Some(Platform {
                    os: img.os,
                    architecture: img.architecture,
                    variant: img.variant,
                    ..Platform::default()
                }),
                on_build: img.config.on_build,
                no_layers: img.rootfs.diff_ids.is_empty()
                    && img.history.iter().all(|h| h.empty_layer),
            })
        }
    }
    let known = Known(resolver.known());
    let check = kiln_lint::CheckOptions {
        build_args: opts.build_args.clone(),
        target: opts.target.clone(),
        target_platform: opts.target_platform.clone(),
        build_platform: opts.build_platform.clone(),
        ignore_patterns: Some(opts.ignore_patterns.clone()),
        resolver: Some(&known),
    };
    let result = kiln_lint::check(dockerfile, &check);
    let error = result
        .error
        .filter(|e| e.message.starts_with("lint violation found for rules"))
        .map(|e| {
            let mut err = Error::new(ErrorKind::Invalid(e.message.clone()));
            err.locations = e
                .location
                .iter()
                .map(|r| kiln_graph::LineRange {
                    start: r.start.line,
                    end: r.end.line,
                })
                .collect();
            err
        });
    (result.warnings, error)
}

/// One whole conversion over a given build-context state; returns the result and the
/// context paths used.
fn run(
    stages: &[Stage],
    meta_args: &[kiln_dockerfile::ArgCommand],
    escape: char,
    opts: &ConvertOptions,
    resolver: &Resolver<'_>,
    context: State,
) -> Result<(ConvertResult, BTreeSet<String>), Error> {
    let build_platform = opts
        .build_platform
        .clone()
        .or_else(|| opts.target_platform.clone())
        .unwrap_or_else(compiled_platform);
    let implicit_target = opts.target_platform.is_none();
    let target_platform = opts
        .target_platform
        .clone()
        .unwrap_or_else(|| build_platform.clone());
    let target_name = match &opts.target {
        Some(t) => t.clone(),
        None => stages.last().map(|s| s.name.clone()).unwrap_or_default(),
    };
    let mut ctx = Ctx {
        opts,
        lex: Lex::new(escape),
        global_args: default_args(
            &build_platform,
            &target_platform,
            &opts.build_args,
            &target_name,
        ),
        target_platform,
        build_platform,
        implicit_target,
        context,
        ctx_paths: BTreeSet::new(),
        resolver,
        epoch: None,
        proxy_env: proxy_env(&opts.build_args),
        states: Vec::new(),
        by_name: HashMap::new(),
    };
    ctx.build_meta_args(meta_args)?;
    ctx.epoch = ctx.source_date_epoch()?;
    ctx.build_states(stages)?;
    let target = ctx.resolve_target()?;
    ctx.build_dependency_graph()?;
    let reachable = ctx.resolve_stages(target)?;
    ctx.dispatch_stages(&reachable)?;
    let result = ctx.finalize(target);
    Ok((result, ctx.ctx_paths))
}

/// The proxy variables among the build args (BuildKit's `proxyEnvFromBuildArgs`), names
/// upper-cased.
fn proxy_env(args: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    const PROXIES: [&str; 5] = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
    ];
    args.iter()
        .filter_map(|(k, v)| {
            let upper = k.to_uppercase();
            PROXIES
                .contains(&upper.as_str())
                .then(|| (upper, v.clone()))
        })
        .collect()
}

/// Unix seconds as RFC 3339 in UTC, as Go marshals a `time.Time` (`2023-01-02T03:04:05Z`).
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl Ctx<'_> {
    /// `SOURCE_DATE_EPOCH` from the build args or a global `ARG` default.
    fn source_date_epoch(&self) -> Result<Option<i64>, Error> {
        let value = self
            .opts
            .build_args
            .get("SOURCE_DATE_EPOCH")
            .cloned()
            .or_else(|| {
                self.global_args
                    .iter()
                    .find(|(k, v)| k == "SOURCE_DATE_EPOCH" && !v.is_empty())
                    .map(|(_, v)| v.clone())
            });
        match value {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ErrorKind::Invalid(format!(
                    "invalid SOURCE_DATE_EPOCH {v:?}: expected Unix seconds"
                ))
                .into()
            }),
        }
    }

    /// BuildKit's `buildMetaArgs`: global `ARG`s, build args winning over defaults.
    fn build_meta_args(&mut self, meta_args: &[kiln_dockerfile::ArgCommand]) -> Result<(), Error> {
        for cmd in meta_args {
            for kv in &cmd.args {
                let value = match self.opts.build_args.get(&kv.key) {
                    Some(v) => Some(v.clone()),
                    None => match &kv.value {
                        Some(v) => {
                            Some(self.lex.process_word(v, &self.global_args).map_err(|e| {
                                Error::from(ErrorKind::from(e)).at(cmd.meta.location)
                            })?)
                        }
                        None => None,
                    },
                };
                if let Some(v) = value {
                    set_var(&mut self.global_args, &kv.key, &v);
                }
            }
        }
        Ok(())
    }

    fn add_state(&mut self, mut ds: StageState) -> usize {
        let idx = self.states.len();
        if let Some(&b) = self.by_name.get(&ds.base_name) {
            ds.base = Some(b);
        }
        if !ds.name.is_empty() {
            self.by_name.insert(ds.name.to_lowercase(), idx);
        }
        self.states.push(ds);
        idx
    }

    fn build_states(&mut self, stages: &[Stage]) -> Result<(), Error> {
        for (i, st) in stages.iter().enumerate() {
            let base = self
                .lex
                .process_word(&st.base_name, &self.global_args)
                .map_err(|e| Error::from(ErrorKind::from(e)).at(st.location))?;
            if base.is_empty() {
                return Err(
                    Error::from(ErrorKind::BlankBaseName(st.base_name.clone())).at(st.location)
                );
            }
            let mut ds = StageState::new(base, st.location);
            ds.name = st.name.clone();
            ds.stage_name = if st.name.is_empty() {
                format!("stage-{i}")
            } else {
                st.name.clone()
            };
            if !st.platform.is_empty() {
                let v = self
                    .lex
                    .process_word(&st.platform, &self.global_args)
                    .map_err(|e| {
                        Error::from(ErrorKind::BadPlatform(st.platform.clone(), e.to_string()))
                            .at(st.location)
                    })?;
                if v.is_empty() {
                    return Err(Error::from(ErrorKind::Invalid(format!(
                        "empty platform value from expression {}",
                        st.platform
                    )))
                    .at(st.location));
                }
                let p = kiln_platforms::parse_with_host(&v, &self.build_platform).map_err(|e| {
                    Error::from(ErrorKind::BadPlatform(st.platform.clone(), e.to_string()))
                        .at(st.location)
                })?;
                ds.platform = Some(kiln_platforms::normalize(&p));
            }
            ds.raw_commands = st.commands.clone();
            ds.ignore_cache = self.opts.no_cache.applies_to(&st.name);
            let idx = self.add_state(ds);
            let d = &mut self.states[idx];
            let mut total = usize::from(d.base_name != SCRATCH && d.base.is_none());
            total += d
                .raw_commands
                .iter()
                .filter(|c| {
                    matches!(
                        c,
                        Command::Add(_) | Command::Copy(_) | Command::Run(_) | Command::Workdir(_)
                    )
                })
                .count();
            d.cmd_total = total;
        }
        Ok(())
    }

    fn find_state(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_lowercase()).copied()
    }

    fn resolve_target(&self) -> Result<usize, Error> {
        let Some(t) = &self.opts.target else {
            return Ok(self.states.len().saturating_sub(1));
        };
        self.find_state(t).ok_or_else(|| {
            let names: Vec<&str> = self
                .states
                .iter()
                .filter(|s| !s.name.is_empty())
                .map(|s| s.name.as_str())
                .collect();
            let hint = kiln_dockerfile::suggest(t, &names, true)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            Error::from(ErrorKind::UnknownTarget(t.clone(), hint))
        })
    }

    /// The stage a `--from` / `from=` value names, registering an image otherwise.
    fn source_state(
        &mut self,
        from: &str,
        location: Range,
        by_index: bool,
    ) -> Result<usize, Error> {
        if by_index {
            if let Ok(i) = from.parse::<i64>() {
                return usize::try_from(i)
                    .ok()
                    .filter(|i| *i < self.states.len())
                    .ok_or_else(|| Error::from(ErrorKind::BadStageIndex(from.to_string())));
            }
        }
        if let Some(i) = self.find_state(from) {
            return Ok(i);
        }
        let mut ds = StageState::new(from.to_string(), location);
        ds.unregistered = true;
        Ok(self.add_state(ds))
    }

    /// BuildKit's `toCommand`: the stages a command reads from.
    pub(crate) fn make_command(&mut self, command: Command, on_build: bool) -> Result<Cmd, Error> {
        let mut sources = Vec::new();
        match &command {
            Command::Copy(c) if !c.from.is_empty() => {
                let env: Vec<(String, String)> = Vec::new();
                let expanded = self.lex.process_word(&c.from, &env).unwrap_or_default();
                if expanded != c.from {
                    return Err(Error::from(ErrorKind::FromExpansion).at(c.meta.location));
                }
                let idx = self
                    .source_state(&c.from, c.meta.location, true)
                    .map_err(|e| e.at(c.meta.location))?;
                sources.push(Some(idx));
            }
            Command::Run(r) => {
                let mounts = r.mounts(|s| Ok(s.to_string())).map_err(dockerfile_error)?;
                for m in mounts {
                    let mut from = m.from.clone();
                    if from.is_empty() && m.mount_type == kiln_dockerfile::MountType::Cache {
                        from = SCRATCH.to_string();
                    }
                    if from.is_empty() || m.mount_type == kiln_dockerfile::MountType::Tmpfs {
                        sources.push(None);
                        continue;
                    }
                    sources.push(Some(self.source_state(&from, r.meta.location, false)?));
                }
            }
            _ => {}
        }
        Ok(Cmd {
            command,
            sources,
            on_build,
        })
    }

    fn build_dependency_graph(&mut self) -> Result<(), Error> {
        let n = self.states.len();
        for i in 0..n {
            let raw = std::mem::take(&mut self.states[i].raw_commands);
            let mut cmds = Vec::with_capacity(raw.len());
            for c in raw {
                let cmd = self.make_command(c, false)?;
                for s in cmd.sources.iter().flatten() {
                    self.states[i].deps.insert(*s);
                }
                cmds.push(cmd);
            }
            self.states[i].commands = cmds;
        }
        self.check_cycles()?;
        if self.states.len() == 1 {
            self.states[0].stage_name.clear();
        }
        Ok(())
    }

    fn check_cycles(&self) -> Result<(), Error> {
        // 0 = unvisited, 1 = on the path, 2 = done.
        let mut mark = vec![0u8; self.states.len()];
        for start in 0..self.states.len() {
            let mut stack = vec![(start, false)];
            while let Some((s, done)) = stack.pop() {
                if done {
                    mark[s] = 2;
                    continue;
                }
                match mark[s] {
                    2 => continue,
                    1 => {
                        let st = &self.states[s];
                        return Err(Error::from(ErrorKind::CircularDependency(
                            st.stage_name.clone(),
                        ))
                        .at(st.location));
                    }
                    _ => {}
                }
                mark[s] = 1;
                stack.push((s, true));
                let st = &self.states[s];
                for d in st.deps.iter().chain(st.base.iter()) {
                    if mark[*d] == 1 {
                        return Err(Error::from(ErrorKind::CircularDependency(
                            self.states[*d].stage_name.clone(),
                        ))
                        .at(self.states[*d].location));
                    }
                    if mark[*d] == 0 {
                        stack.push((*d, false));
                    }
                }
            }
        }
        Ok(())
    }

    fn reachable(&self, target: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![target];
        while let Some(s) = stack.pop() {
            if !seen.insert(s) {
                continue;
            }
            let st = &self.states[s];
            stack.extend(st.base.iter().copied());
            stack.extend(st.deps.iter().copied());
        }
        seen
    }

    /// Copies what a stage inherits from its base stage (BuildKit's `dispatchState.init`).
    fn init(&mut self, d: usize) {
        let Some(b) = self.states[d].base else {
            return;
        };
        let base = self.states[b].clone();
        let ds = &mut self.states[d];
        ds.state = base.state;
        ds.platform = base.platform;
        ds.image = base.image;
        ds.image.config.on_build.clear();
        let mut args = std::mem::take(&mut ds.build_args);
        args.extend(base.build_args);
        ds.build_args = args;
    }

    fn resolve_stages(&mut self, target: usize) -> Result<BTreeSet<usize>, Error> {
        loop {
            let reachable = self.reachable(target);
            for &d in &reachable {
                if self.states[d].base.is_none()
                    && !self.states[d].dispatched
                    && !self.states[d].resolved
                {
                    self.states[d].resolved = true;
                    self.resolve_base(d)?;
                    // An image named by `--from` / `from=` has no commands: it is ready.
                    if self.states[d].unregistered {
                        self.states[d].dispatched = true;
                    }
                }
            }
            let mut new_deps = false;
            for &d in &reachable {
                self.init(d);
                let mut triggers = std::mem::take(&mut self.states[d].image.config.on_build);
                if let Some(b) = self.states[d].base {
                    if !self.states[d].on_build_init {
                        for c in &self.states[b].commands {
                            if let Command::Onbuild(o) = &c.command {
                                triggers.push(o.expression.clone());
                            }
                        }
                        self.states[d].on_build_init = true;
                    }
                }
                if !triggers.is_empty() {
                    let location = self.states[d].location;
                    if self
                        .init_on_build(d, &triggers)
                        .map_err(|e| e.at(location))?
                    {
                        new_deps = true;
                    }
                }
            }
            if !new_deps {
                return Ok(reachable);
            }
        }
    }

    fn init_on_build(&mut self, d: usize, triggers: &[String]) -> Result<bool, Error> {
        let location = self.states[d].location;
        let mut new_deps = false;
        let mut cmds = Vec::new();
        for t in triggers {
            let parsed = kiln_dockerfile_parser::parse(t.as_bytes())
                .map_err(|e| Error::from(ErrorKind::Parse(e)))?;
            let [node] = parsed.ast.children.as_slice() else {
                return Err(ErrorKind::Invalid(
                    "onbuild trigger should be a single expression".into(),
                )
                .into());
            };
            let mut node = node.clone();
            node.start_line = location.start.line;
            node.end_line = location.end.line;
            let command = kiln_dockerfile::parse_command(&node).map_err(dockerfile_error)?;
            let cmd = self.make_command(command, true)?;
            for s in cmd.sources.iter().flatten() {
                self.states[d].deps.insert(*s);
                new_deps = true;
            }
            cmds.push(cmd);
        }
        let ds = &mut self.states[d];
        ds.cmd_total += cmds.len();
        cmds.append(&mut ds.commands);
        ds.commands = cmds;
        Ok(new_deps)
    }

    /// BuildKit's `prefixCommand`: `[stage 2/5] ` (and the platform when several are built).
    pub(crate) fn prefix(&mut self, d: usize, s: &str, platform: &Platform) -> String {
        let multi = self.opts.multi_platform;
        let ds = &mut self.states[d];
        if ds.cmd_total == 0 {
            return s.to_string();
        }
        let mut out = String::from("[");
        if multi {
            out.push_str(&kiln_platforms::format_all(platform));
            out.push(' ');
        }
        if !ds.stage_name.is_empty() {
            out.push_str(&ds.stage_name);
            out.push(' ');
        }
        ds.cmd_index += 1;
        let width = ds.cmd_total.to_string().len();
        out.push_str(&format!("{:>width$}/{}] ", ds.cmd_index, ds.cmd_total));
        if ds.cmd_is_on_build {
            out.push_str("ONBUILD ");
        }
        out + s
    }

    fn resolve_base(&mut self, d: usize) -> Result<(), Error> {
        let location = self.states[d].location;
        let base_name = self.states[d].base_name.clone();
        if base_name == SCRATCH {
            let p = self.target_platform.clone();
            let ds = &mut self.states[d];
            ds.image = empty_image(&p);
            ds.state = State::scratch().platform(p.clone());
            ds.platform = Some(p);
            return Ok(());
        }
        let parsed = kiln_reference::parse_normalized_named(&base_name).map_err(|e| {
            Error::from(ErrorKind::BadReference(base_name.clone(), e.to_string())).at(location)
        })?;
        let named = parsed.tag_name_only();
        let platform = self.states[d]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        let resolved = self
            .resolver
            .resolve(&named.to_string(), &platform)
            .map_err(|message| {
                Error::from(ErrorKind::Resolve {
                    reference: base_name.clone(),
                    message: format!("failed to resolve source metadata for {named}: {message}"),
                })
                .at(location)
            })?;
        let mut reference = named.clone();
        if resolved.reference != named.to_string() && !resolved.reference.is_empty() {
            reference =
                kiln_reference::parse_normalized_named(&resolved.reference).map_err(|e| {
                    Error::from(ErrorKind::BadReference(
                        resolved.reference.clone(),
                        e.to_string(),
                    ))
                    .at(location)
                })?;
        }
        if !resolved.digest.is_empty() {
            reference = reference.with_digest(&resolved.digest).map_err(|e| {
                Error::from(ErrorKind::BadReference(
                    resolved.digest.clone(),
                    e.to_string(),
                ))
                .at(location)
            })?;
        }
        let mut img: Image = serde_json::from_slice(&resolved.config).map_err(|e| {
            Error::from(ErrorKind::BadImageConfig(base_name.clone(), e.to_string())).at(location)
        })?;
        img.created = None;
        let mut platform = platform;
        if self.states[d].platform.is_none() && self.implicit_target {
            // BuildKit's autoDetectPlatform: an implicit target takes the image's platform
            // when it is one the builder supports.
            if img.os == self.build_platform.os
                && img.architecture == self.build_platform.architecture
            {
                platform = self.build_platform.clone();
            }
        }
        let is_scratch =
            img.rootfs.diff_ids.is_empty() && img.history.iter().all(|h| h.empty_layer);
        let ref_str = reference.to_string();
        let state = if is_scratch {
            State::scratch().platform(platform.clone())
        } else {
            let name = self.prefix(d, &format!("FROM {ref_str}"), &platform);
            let mut meta = VertexMeta::named(name);
            meta.locations.push(kiln_graph::LineRange {
                start: location.start.line,
                end: location.end.line,
            });
            State::image(&ref_str, platform.clone(), meta)
        };
        let ds = &mut self.states[d];
        ds.base_name = ref_str;
        ds.image = img;
        ds.state = state;
        ds.platform = Some(platform);
        Ok(())
    }

    fn dispatch_stages(&mut self, reachable: &BTreeSet<usize>) -> Result<(), Error> {
        for d in 0..self.states.len() {
            if !reachable.contains(&d) || self.states[d].dispatched {
                continue;
            }
            self.init(d);
            self.states[d].dispatched = true;
            let platform = self.states[d]
                .platform
                .clone()
                .unwrap_or_else(|| self.target_platform.clone());
            {
                let ds = &mut self.states[d];
                ds.platform = Some(platform.clone());
                ds.state = ds.state.platform(platform.clone());
                if !ds
                    .image
                    .config
                    .env
                    .iter()
                    .any(|e| e.split('=').next() == Some("PATH"))
                    && platform.os != "windows"
                {
                    ds.image.config.env.push(format!("PATH={DEFAULT_PATH}"));
                }
                for e in ds.image.config.env.clone() {
                    let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
                    ds.state = ds.state.add_env(k, v);
                }
                let wd = ds.image.config.working_dir.clone();
                if !wd.is_empty() {
                    let wd = crate::dispatch::normalize_workdir("", &wd);
                    ds.image.config.working_dir = wd.clone();
                    ds.state = ds.state.dir(&wd);
                }
                let user = ds.image.config.user.clone();
                if !user.is_empty() {
                    ds.state = ds.state.user(&user);
                }
                ds.state = ds
                    .state
                    .network(crate::run::network_mode(&self.opts.network).unwrap_or_default());
                for (host, ip) in &self.opts.extra_hosts {
                    ds.state = ds.state.add_extra_host(host, ip);
                }
            }
            let commands = self.states[d].commands.clone();
            for cmd in commands {
                let location = cmd.command.location();
                let before = self.states[d].image.history.len();
                self.dispatch(d, &cmd).map_err(|e| e.at(location))?;
                if let Some(epoch) = self.epoch {
                    for h in self.states[d].image.history.iter_mut().skip(before) {
                        h.created = Some(rfc3339(epoch));
                    }
                }
            }
        }
        Ok(())
    }

    fn finalize(&mut self, target: usize) -> ConvertResult {
        let ds = &mut self.states[target];
        if !self.opts.labels.is_empty() {
            for (k, v) in &self.opts.labels {
                ds.image.config.labels.insert(k.clone(), v.clone());
            }
        }
        if !self.implicit_target {
            let tp = &self.target_platform;
            let same = tp.os == ds.image.os && tp.architecture == ds.image.architecture;
            ds.image.os = tp.os.clone();
            ds.image.architecture = tp.architecture.clone();
            if !tp.variant.is_empty() || !same {
                ds.image.variant = tp.variant.clone();
            }
            if !tp.os_version.is_empty() || !same {
                ds.image.os_version = tp.os_version.clone();
            }
            if !tp.os_features.is_empty() {
                ds.image.os_features = tp.os_features.clone();
            }
        }
        let state = ds.state.clone();
        ConvertResult {
            definition: state.definition(),
            state,
            image: ds.image.clone(),
            platform: ds
                .platform
                .clone()
                .unwrap_or_else(|| self.target_platform.clone()),
            epoch: self.epoch,
            warnings: Vec::new(),
        }
    }
}

//! Dispatching one instruction onto a stage: the metadata instructions (`ENV`, `LABEL`,
//! `ARG`, `USER`, `WORKDIR`, `EXPOSE`, ...) here; `COPY`/`ADD` in `copy.rs`, `RUN` in `run.rs`.

use kiln_dockerfile::Command;
use kiln_dockerfile_parser::go_quote_list;
use kiln_graph::op::{Chown, MkdirAction};
use kiln_graph::{FileActions, LineRange, VertexMeta};
use kiln_shell::Lex;

use crate::convert::{Cmd, Ctx, commit};
use crate::image::{Empty, Healthcheck, go_duration};
use crate::{Error, ErrorKind};

/// Build args that never enter a stage's environment.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// BuildKit's `NormalizeWorkdir` for Linux: `dir` joined to `current` when relative, cleaned.
pub(crate) fn normalize_workdir(current: &str, dir: &str) -> String {
    if dir.starts_with('/') {
        return kiln_graph::clean_path(dir);
    }
    let cur = if current.is_empty() { "/" } else { current };
    kiln_graph::clean_path(&format!("{cur}/{dir}"))
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub(crate) fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Upper-cases the instruction keyword of a progress name.
pub(crate) fn uppercase_cmd(s: &str) -> String {
    match s.split_once(' ') {
        Some((a, b)) => format!("{} {b}", a.to_uppercase()),
        None => s.to_uppercase(),
    }
}

impl Ctx<'_> {
    /// Expands a word against the stage's current environment.
    pub(crate) fn expand(&self, d: usize, word: &str) -> Result<String, Error> {
        let env = &self.states[d].state.meta().env;
        Ok(self.lex.process_word(word, env).map_err(ErrorKind::from)?)
    }

    /// Expands a heredoc body (quotes are not special).
    pub(crate) fn expand_raw(&self, d: usize, word: &str) -> Result<String, Error> {
        let lex = Lex {
            skip_process_quotes: true,
            ..Lex::new('\\')
        };
        let env = &self.states[d].state.meta().env;
        Ok(lex.process_word(word, env).map_err(ErrorKind::from)?)
    }

    /// The progress name of a command: its source with variables expanded where set.
    pub(crate) fn progress_name(&mut self, d: usize, code: &str) -> String {
        let lex = Lex {
            raw_quotes: true,
            skip_unset_env: true,
            ..self.lex.clone()
        };
        let env = &self.states[d].state.meta().env;
        let expanded = lex
            .process_word(code, env)
            .unwrap_or_else(|_| code.to_string());
        let platform = self.states[d]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        self.prefix(d, &uppercase_cmd(&expanded), &platform)
    }

    /// Vertex metadata for a command of stage `d`.
    pub(crate) fn vertex_meta(&self, d: usize, name: String, cmd: &Command) -> VertexMeta {
        let loc = cmd.location();
        let mut meta = VertexMeta::named(name);
        meta.ignore_cache = self.states[d].ignore_cache;
        meta.locations.push(LineRange {
            start: loc.start.line,
            end: loc.end.line,
        });
        meta.description.insert(
            "com.docker.dockerfile.v1.command".to_string(),
            cmd.meta().code.clone(),
        );
        meta
    }

    pub(crate) fn dispatch(&mut self, d: usize, cmd: &Cmd) -> Result<(), Error> {
        self.states[d].cmd_is_on_build = cmd.on_build;
        match &cmd.command {
            Command::Maintainer(c) => {
                let ds = &mut self.states[d];
                ds.image.author.clone_from(&c.maintainer);
                commit(
                    &mut ds.image,
                    format!("MAINTAINER {}", c.maintainer),
                    false,
                    false,
                );
            }
            Command::Env(c) => {
                let mut pairs = Vec::new();
                for kv in &c.env {
                    pairs.push((self.expand(d, &kv.key)?, self.expand(d, &kv.value)?));
                }
                let ds = &mut self.states[d];
                let mut msg = String::from("ENV");
                for (k, v) in pairs {
                    msg.push_str(&format!(" {k}={v}"));
                    ds.state = ds.state.add_env(&k, &v);
                    add_env(&mut ds.image.config.env, &k, &v);
                }
                commit(&mut ds.image, msg, false, false);
            }
            Command::Label(c) => {
                let mut pairs = Vec::new();
                for kv in &c.labels {
                    pairs.push((self.expand(d, &kv.key)?, self.expand(d, &kv.value)?));
                }
                let ds = &mut self.states[d];
                let mut msg = String::from("LABEL");
                for (k, v) in pairs {
                    msg.push_str(&format!(" {k}={v}"));
                    ds.image.config.labels.insert(k, v);
                }
                commit(&mut ds.image, msg, false, false);
            }
            Command::Onbuild(c) => {
                self.states[d]
                    .image
                    .config
                    .on_build
                    .push(c.expression.clone());
            }
            Command::Cmd(c) => {
                let ds = &mut self.states[d];
                let args = if c.cmd.prepend_shell {
                    with_shell(&ds.image, &c.cmd.cmd_line)
                } else {
                    c.cmd.cmd_line.clone()
                };
                ds.cmd_set = true;
                ds.image.config.args_escaped = true;
                let msg = format!("CMD {}", go_quote_list(&args));
                ds.image.config.cmd = args;
                commit(&mut ds.image, msg, false, false);
            }
            Command::Entrypoint(c) => {
                let ds = &mut self.states[d];
                let args = if c.cmd.prepend_shell {
                    with_shell(&ds.image, &c.cmd.cmd_line)
                } else {
                    c.cmd.cmd_line.clone()
                };
                if !ds.cmd_set {
                    ds.image.config.cmd.clear();
                }
                let msg = format!("ENTRYPOINT {}", go_quote_list(&args));
                ds.image.config.entrypoint = args;
                commit(&mut ds.image, msg, false, false);
            }
            Command::Healthcheck(c) => {
                let nanos =
                    |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
                let h = &c.health;
                let hc = Healthcheck {
                    test: h.test.clone(),
                    interval: nanos(h.interval),
                    timeout: nanos(h.timeout),
                    start_period: nanos(h.start_period),
                    start_interval: nanos(h.start_interval),
                    retries: h.retries,
                };
                let msg = format!(
                    "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
                    go_list(&hc.test),
                    go_duration(hc.interval),
                    go_duration(hc.timeout),
                    go_duration(hc.start_period),
                    go_duration(hc.start_interval),
                    hc.retries
                );
                let ds = &mut self.states[d];
                ds.image.config.healthcheck = Some(hc);
                commit(&mut ds.image, msg, false, false);
            }
            Command::Expose(c) => {
                let mut words = Vec::new();
                for p in &c.ports {
                    let env = &self.states[d].state.meta().env;
                    words.extend(self.lex.process_words(p, env).map_err(ErrorKind::from)?);
                }
                let ports = parse_ports(&words)?;
                let ds = &mut self.states[d];
                for p in &ports {
                    ds.image.config.exposed_ports.insert(p.clone(), Empty {});
                }
                commit(
                    &mut ds.image,
                    format!("EXPOSE {}", go_list(&ports)),
                    false,
                    false,
                );
            }
            Command::User(c) => {
                let user = self.expand(d, &c.user)?;
                let ds = &mut self.states[d];
                ds.state = ds.state.user(&user);
                ds.image.config.user.clone_from(&user);
                commit(&mut ds.image, format!("USER {user}"), false, false);
            }
            Command::Volume(c) => {
                let mut vols = Vec::new();
                for v in &c.volumes {
                    let v = self.expand(d, v)?;
                    if v.is_empty() {
                        return Err(ErrorKind::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        )
                        .into());
                    }
                    vols.push(v);
                }
                let ds = &mut self.states[d];
                for v in &vols {
                    ds.image.config.volumes.insert(v.clone(), Empty {});
                }
                commit(
                    &mut ds.image,
                    format!("VOLUME {}", go_list(&vols)),
                    false,
                    false,
                );
            }
            Command::StopSignal(c) => {
                let sig = self.expand(d, &c.signal)?;
                check_signal(&sig)?;
                let ds = &mut self.states[d];
                ds.image.config.stop_signal.clone_from(&sig);
                commit(&mut ds.image, format!("STOPSIGNAL {sig}"), false, false);
            }
            Command::Shell(c) => {
                let ds = &mut self.states[d];
                ds.image.config.shell.clone_from(&c.shell);
                commit(
                    &mut ds.image,
                    format!("SHELL {}", go_list(&c.shell)),
                    false,
                    false,
                );
            }
            Command::Arg(c) => self.dispatch_arg(d, c)?,
            Command::Workdir(c) => {
                let path = self.expand(d, &c.path)?;
                self.dispatch_workdir(d, &path, &cmd.command)?;
            }
            Command::Run(c) => self.dispatch_run(d, c, cmd)?,
            Command::Copy(_) | Command::Add(_) => self.dispatch_copy(d, cmd)?,
        }
        Ok(())
    }

    /// BuildKit's `dispatchArg`: the value comes from `--build-arg`, else the default
    /// (expanded), else a global `ARG` of the same name.
    fn dispatch_arg(&mut self, d: usize, c: &kiln_dockerfile::ArgCommand) -> Result<(), Error> {
        let mut commits = Vec::new();
        for arg in &c.args {
            let mut arg = arg.clone();
            let cli = self.opts.build_args.get(&arg.key).cloned();
            let has_default = arg.value.is_some();
            if !has_default && cli.is_none() {
                if let Some((_, v)) = self.global_args.iter().find(|(k, _)| *k == arg.key) {
                    arg.value = Some(v.clone());
                }
            } else if let Some(v) = cli {
                arg.value = Some(v);
            } else if let Some(v) = &arg.value {
                arg.value = Some(self.expand(d, v)?);
            }
            let ds = &mut self.states[d];
            if let Some(v) = &arg.value {
                if !NON_ENV_ARGS.contains(&arg.key.as_str()) {
                    ds.state = ds.state.add_env(&arg.key, v);
                }
            }
            let mut s = arg.key.clone();
            if let Some(v) = &arg.value {
                s.push('=');
                s.push_str(v);
            }
            commits.push(s);
            ds.build_args.push(arg);
        }
        commit(
            &mut self.states[d].image,
            format!("ARG {}", commits.join(" ")),
            false,
            false,
        );
        Ok(())
    }

    /// `WORKDIR`: sets the directory and creates it (owned by the current `USER`).
    fn dispatch_workdir(&mut self, d: usize, path: &str, cmd: &Command) -> Result<(), Error> {
        let wd = normalize_workdir(&self.states[d].image.config.working_dir, path);
        {
            let ds = &mut self.states[d];
            ds.image.config.working_dir.clone_from(&wd);
            ds.state = ds.state.dir(&wd);
        }
        let mut with_layer = false;
        if wd != "/" {
            let name = self.progress_name(d, &cmd.meta().code);
            let meta = self.vertex_meta(d, name, cmd);
            let ds = &mut self.states[d];
            let action = MkdirAction {
                path: wd.clone(),
                mode: 0o755,
                make_parents: true,
                chown: Chown::parse(&ds.image.config.user),
                mtime: self.epoch,
            };
            ds.state = ds.state.file(FileActions::new().mkdir(action), meta);
            with_layer = true;
        }
        commit(
            &mut self.states[d].image,
            format!("WORKDIR {wd}"),
            with_layer,
            false,
        );
        Ok(())
    }
}

/// Sets `key` in an image's `Env` list, replacing an existing entry in place.
pub(crate) fn add_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// The shell-form command line run through `SHELL` (default `/bin/sh -c`).
pub(crate) fn with_shell(image: &crate::Image, args: &[String]) -> Vec<String> {
    let mut shell = if image.config.shell.is_empty() {
        if image.os == "windows" {
            vec!["cmd".to_string(), "/S".to_string(), "/C".to_string()]
        } else {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        }
    } else {
        image.config.shell.clone()
    };
    shell.push(args.join(" "));
    shell
}

/// `EXPOSE` values → sorted, deduplicated `port/proto` keys (ranges expanded), as Docker's
/// `nat.ParsePortSpecs` (IP and host port parts are accepted and ignored).
fn parse_ports(specs: &[String]) -> Result<Vec<String>, Error> {
    let mut out = std::collections::BTreeSet::new();
    for spec in specs {
        let (port_part, proto) = match spec.rsplit_once('/') {
            Some((p, proto)) => (p, proto.to_lowercase()),
            None => (spec.as_str(), "tcp".to_string()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(ErrorKind::Invalid(format!("invalid proto: {proto}")).into());
        }
        let container = port_part.rsplit(':').next().unwrap_or(port_part);
        let bad = || {
            Error::from(ErrorKind::Invalid(format!(
                "invalid containerPort: {container}"
            )))
        };
        let parse = |s: &str| s.parse::<u16>().map_err(|_| bad());
        let (lo, hi) = match container.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let p = parse(container)?;
                (p, p)
            }
        };
        if hi < lo {
            return Err(bad());
        }
        for p in lo..=hi {
            out.insert(format!("{p}/{proto}"));
        }
    }
    let mut v: Vec<String> = out.into_iter().collect();
    v.sort();
    Ok(v)
}

/// Docker's `signal.ParseSignal`: a number, or a Linux signal name with or without `SIG`.
fn check_signal(sig: &str) -> Result<(), Error> {
    const NAMES: [&str; 34] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = sig.parse::<u32>() {
        if n == 0 {
            return Err(ErrorKind::Invalid(format!("invalid signal: {sig}")).into());
        }
        return Ok(());
    }
    let upper = sig.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = name
        .strip_prefix("RTMIN")
        .or_else(|| name.strip_prefix("RTMAX"))
        .is_some_and(|rest| {
            rest.is_empty() || rest.trim_start_matches(['+', '-']).parse::<u32>().is_ok()
        });
    if NAMES.contains(&name) || rt {
        Ok(())
    } else {
        Err(ErrorKind::Invalid(format!("invalid signal: {sig}")).into())
    }
}

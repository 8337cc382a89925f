//! `RUN` (BuildKit's `dispatchRun`): the command line (shell form, exec form, heredocs), its
//! mounts (`--mount` of every type), `--network` and `--security`.

use kiln_dockerfile::{MountType, RunCommand, ShareMode};
use kiln_dockerfile_parser::{chomp_heredoc_content, must_parse_heredoc};
use kiln_graph::op::{
    CacheSharing, Chown, MkdirAction, MkfileAction, MountKind, NetMode, SecretEnv, SecurityMode,
    UserOpt,
};
use kiln_graph::{FileActions, Run, RunMount, State, VertexMeta, clean_path};

use crate::convert::{Cmd, Ctx, commit};
use crate::dispatch::with_shell;
use crate::{Error, ErrorKind};

/// `--network` / the build's network option.
pub(crate) fn network_mode(s: &str) -> Result<NetMode, Error> {
    match s {
        "" | "default" | "sandbox" => Ok(NetMode::Sandbox),
        "none" => Ok(NetMode::None),
        "host" => Ok(NetMode::Host),
        other => Err(ErrorKind::Invalid(format!("unsupported network mode {other:?}")).into()),
    }
}

fn security_mode(s: &str) -> Result<Option<SecurityMode>, Error> {
    match s {
        "" => Ok(None),
        "sandbox" => Ok(Some(SecurityMode::Sandbox)),
        "insecure" => Ok(Some(SecurityMode::Insecure)),
        other => Err(ErrorKind::Invalid(format!("unsupported security mode {other:?}")).into()),
    }
}

/// The first line of a heredoc, `...` when there are more (BuildKit's `summarizeHeredoc`).
fn summarize_heredoc(doc: &str) -> String {
    let doc = doc.trim().replace("\r\n", "\n");
    let mut lines = doc.split('\n');
    let first = lines.next().unwrap_or("").to_string();
    if lines.next().is_some() {
        format!("{first}...")
    } else {
        first
    }
}

/// `RUN |N K=V ... args` (BuildKit's `runCommandString`): the build args the step sees.
fn run_command_string(
    args: &[String],
    build_args: &[kiln_dockerfile::KeyValuePairOptional],
    env: &[(String, String)],
) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for a in build_args {
        let v = env
            .iter()
            .find(|(k, _)| *k == a.key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| a.value_str().to_string());
        match pairs.iter_mut().find(|(k, _)| *k == a.key) {
            Some(p) => p.1 = v,
            None => pairs.push((a.key.clone(), v)),
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if !pairs.is_empty() {
        parts.push(format!("|{}", pairs.len()));
        parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

impl Ctx<'_> {
    pub(crate) fn dispatch_run(
        &mut self,
        d: usize,
        c: &RunCommand,
        cmd: &Cmd,
    ) -> Result<(), Error> {
        if !c.devices.is_empty() {
            return Err(ErrorKind::Invalid(
                "RUN --device is not supported by kiln yet: remove the flag".into(),
            )
            .into());
        }
        let platform = self.states[d]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        let mut custom_name = c.meta.code.clone();
        let mut args = c.cmd.cmd_line.clone();
        let mut mounts: Vec<RunMount> = Vec::new();
        if let Some(first) = c.cmd.files.first() {
            if args.len() != 1 || !c.cmd.prepend_shell {
                return Err(ErrorKind::Invalid(format!(
                    "parsing produced an invalid run command: {args:?}"
                ))
                .into());
            }
            if must_parse_heredoc(&args[0]).is_some() {
                let mut data = first.data.clone();
                if first.chomp {
                    data = chomp_heredoc_content(&data);
                }
                if self.states[d].image.os != "windows" && data.starts_with("#!") {
                    // A script with a shebang: run it as a file.
                    let path = clean_path(&format!("/{}", first.name));
                    let st = State::scratch().platform(platform.clone()).file(
                        FileActions::new().mkfile(MkfileAction {
                            path: path.clone(),
                            data,
                            mode: 0o755,
                            chown: None,
                            mtime: None,
                        }),
                        VertexMeta::named("[internal] preparing inline document"),
                    );
                    mounts.push(RunMount {
                        dest: "/dev/pipes/".to_string(),
                        source: Some(st),
                        selector: "/".to_string(),
                        readonly: true,
                        output: false,
                        kind: MountKind::Bind,
                    });
                    args = vec![format!("/dev/pipes{path}")];
                } else {
                    args = vec![data];
                }
                custom_name.push_str(&format!(" ({})", summarize_heredoc(&first.data)));
            } else {
                let mut b = args[0].clone();
                for f in &c.cmd.files {
                    b.push('\n');
                    b.push_str(&f.data);
                    b.push_str(&f.name);
                }
                args = vec![b];
            }
        }
        if c.cmd.prepend_shell {
            args = with_shell(&self.states[d].image, &args);
        }
        let secret_env = self.run_mounts(d, c, cmd, &mut mounts)?;
        let network = if c.network.is_empty() {
            self.states[d].state.meta().network
        } else {
            network_mode(&c.network)?
        };
        let security = security_mode(&c.security)?.unwrap_or(self.states[d].state.meta().security);
        let name = self.progress_name(d, &custom_name);
        let mut meta = self.vertex_meta(d, name, &cmd.command);
        meta.proxy_env = self.proxy_env.clone();
        let ds = &mut self.states[d];
        let history = format!(
            "RUN {}",
            run_command_string(&args, &ds.build_args, &ds.state.meta().env)
        );
        let run = Run {
            args,
            mounts,
            secret_env,
            valid_exit_codes: Vec::new(),
            meta,
        };
        ds.state = ds.state.run_with(run, network, security).root();
        commit(&mut ds.image, history, true, true);
        Ok(())
    }

    /// BuildKit's `dispatchRunMounts`: adds the mounts, returns the secrets exposed as env.
    fn run_mounts(
        &mut self,
        d: usize,
        c: &RunCommand,
        cmd: &Cmd,
        out: &mut Vec<RunMount>,
    ) -> Result<Vec<SecretEnv>, Error> {
        let env = self.states[d].state.meta().env.clone();
        let lex = self.lex.clone();
        let mounts = c
            .mounts(|s| lex.process_word(s, &env).map_err(|e| e.to_string()))
            .map_err(|e| Error::from(ErrorKind::Instruction(e.message())))?;
        let mut secret_env = Vec::new();
        let mut ssh_count = 0;
        for (i, m) in mounts.iter().enumerate() {
            let source = match cmd.sources.get(i).copied().flatten() {
                Some(s) => {
                    if !self.states[s].dispatched {
                        return Err(ErrorKind::StageNotDefined(
                            m.from.clone(),
                            self.states[d].stage_name.clone(),
                        )
                        .into());
                    }
                    Some(self.states[s].state.clone())
                }
                None => None,
            };
            let target = if m.target.is_empty() || m.target.starts_with('/') {
                m.target.clone()
            } else {
                clean_path(&format!("/{}/{}", self.states[d].state.get_dir(), m.target))
            };
            match m.mount_type {
                MountType::Secret => {
                    let mut id = if m.source.is_empty() {
                        m.cache_id.clone()
                    } else {
                        m.source.clone()
                    };
                    if id.is_empty() {
                        id = target.rsplit('/').next().unwrap_or("").to_string();
                    }
                    if let Some(name) = &m.env {
                        secret_env.push(SecretEnv {
                            id: id.clone(),
                            name: name.clone(),
                            optional: !m.required,
                        });
                        if m.target.is_empty() {
                            continue;
                        }
                    }
                    let dest = if target.is_empty() {
                        format!("/run/secrets/{}", id.rsplit('/').next().unwrap_or(&id))
                    } else {
                        target
                    };
                    out.push(RunMount {
                        dest,
                        source: None,
                        selector: String::new(),
                        readonly: true,
                        output: false,
                        kind: MountKind::Secret {
                            id,
                            uid: m.uid.unwrap_or(0),
                            gid: m.gid.unwrap_or(0),
                            mode: m.mode.unwrap_or(0o400),
                            optional: !m.required,
                        },
                    });
                    continue;
                }
                MountType::Ssh => {
                    let id = if m.cache_id.is_empty() {
                        "default".to_string()
                    } else {
                        m.cache_id.clone()
                    };
                    let dest = if target.is_empty() {
                        format!("/run/buildkit/ssh_agent.{ssh_count}")
                    } else {
                        target
                    };
                    ssh_count += 1;
                    out.push(RunMount {
                        dest,
                        source: None,
                        selector: String::new(),
                        readonly: true,
                        output: false,
                        kind: MountKind::Ssh {
                            id,
                            uid: m.uid.unwrap_or(0),
                            gid: m.gid.unwrap_or(0),
                            mode: m.mode.unwrap_or(0o600),
                            optional: !m.required,
                        },
                    });
                    continue;
                }
                _ => {}
            }
            if target.is_empty() || target == "/" {
                return Err(
                    ErrorKind::Invalid(format!("invalid mount target {:?}", m.target)).into(),
                );
            }
            let mut selector = clean_path(&format!("/{}", m.source));
            let mut state = match m.mount_type {
                MountType::Tmpfs => None,
                _ if m.from.is_empty() && m.mount_type == MountType::Bind => {
                    self.ctx_paths.insert(selector.clone());
                    Some(self.context.clone())
                }
                _ => source,
            };
            let kind = match m.mount_type {
                MountType::Tmpfs => MountKind::Tmpfs {
                    size: u64::try_from(m.size_limit).unwrap_or(0),
                },
                MountType::Cache => {
                    let sharing = match m.cache_sharing {
                        Some(ShareMode::Private) => CacheSharing::Private,
                        Some(ShareMode::Locked) => CacheSharing::Locked,
                        _ => CacheSharing::Shared,
                    };
                    let id = if m.cache_id.is_empty() {
                        m.target.clone()
                    } else {
                        m.cache_id.clone()
                    };
                    MountKind::Cache {
                        id: format!("{}/{id}", self.opts.cache_id_namespace),
                        sharing,
                    }
                }
                _ => MountKind::Bind,
            };
            if m.mount_type == MountType::Cache
                && selector == "/"
                && (m.uid.is_some() || m.gid.is_some() || m.mode.is_some())
            {
                let base = state.clone().unwrap_or_else(State::scratch);
                state = Some(base.file(
                    FileActions::new().mkdir(MkdirAction {
                        path: "/cache".to_string(),
                        mode: m.mode.unwrap_or(0o755),
                        make_parents: false,
                        chown: Some(Chown {
                            user: Some(UserOpt::Id(m.uid.unwrap_or(0))),
                            group: Some(UserOpt::Id(m.gid.unwrap_or(0))),
                        }),
                        mtime: None,
                    }),
                    VertexMeta::named("[internal] settings cache mount permissions"),
                ));
                selector = "/cache".to_string();
            }
            out.push(RunMount {
                dest: target,
                source: state,
                selector,
                readonly: m.read_only,
                output: false,
                kind,
            });
        }
        Ok(secret_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_strings() {
        let args = vec!["/bin/sh".to_string(), "-c".to_string(), "echo".to_string()];
        assert_eq!(run_command_string(&args, &[], &[]), "/bin/sh -c echo");
        let ba = vec![kiln_dockerfile::KeyValuePairOptional {
            key: "A".into(),
            value: None,
            comment: String::new(),
        }];
        assert_eq!(run_command_string(&args, &ba, &[]), "|1 A= /bin/sh -c echo");
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(
            run_command_string(&args, &ba, &env),
            "|1 A=x /bin/sh -c echo"
        );
    }

    #[test]
    fn heredoc_summary() {
        assert_eq!(summarize_heredoc("a\nb\n"), "a...");
        assert_eq!(summarize_heredoc("only\n"), "only");
    }
}

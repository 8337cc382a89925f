//! [`State`]: the builder API in BuildKit's `llb.State` style. Every method returns a new
//! state; a state is a pointer to a vertex output plus the metadata (env, dir, user, ...)
//! later execs inherit.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_platforms::Platform;

use crate::op::{
    CopyAction, DiffOp, ExecMeta, ExecOp, FileAction, FileOp, HostIp, InputIndex, MergeOp,
    MkdirAction, MkfileAction, Mount, MountKind, NetMode, RmAction, SecretEnv, SecurityMode,
    SourceOp, SymlinkAction, attr, scheme,
};
use crate::{Definition, Op, Output, Vertex, VertexMeta};

/// What a state carries besides its filesystem: inherited by the execs made from it. Not
/// hashed as such; it enters digests only through the ops it shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateMeta {
    /// Environment, in order of first definition.
    pub env: Vec<(String, String)>,
    /// Working directory; empty means `/`.
    pub dir: String,
    /// `user[:group]`; empty means root.
    pub user: String,
    pub hostname: String,
    pub network: NetMode,
    pub security: SecurityMode,
    pub platform: Option<Platform>,
    pub extra_hosts: Vec<HostIp>,
}

/// An immutable build state: a filesystem (a vertex output, or scratch) and its metadata.
#[derive(Debug, Clone, Default)]
pub struct State {
    output: Option<Output>,
    meta: Arc<StateMeta>,
}

/// Options of a local source (`local://<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalOpts {
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    /// Only these paths are read.
    pub follow_paths: Vec<String>,
    pub shared_key_hint: String,
}

/// Options of a git source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitOpts {
    pub keep_git_dir: bool,
    pub subdir: String,
    pub checksum: String,
    pub skip_submodules: bool,
}

/// Options of an HTTP source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpOpts {
    pub checksum: String,
    pub filename: String,
    /// Permission bits of the stored file (`None`: 0600 as BuildKit).
    pub perm: Option<u32>,
}

/// A mount of a [`Run`] besides the root.
#[derive(Debug, Clone)]
pub struct RunMount {
    pub dest: String,
    /// The mounted state (`None`: an empty directory).
    pub source: Option<State>,
    pub selector: String,
    pub readonly: bool,
    /// Give the mount an output ([`ExecState::mount`]); writable bind mounts only.
    pub output: bool,
    pub kind: MountKind,
}

/// An exec to add to a state ([`State::run`]).
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub args: Vec<String>,
    pub mounts: Vec<RunMount>,
    pub secret_env: Vec<SecretEnv>,
    pub valid_exit_codes: Vec<i32>,
    pub meta: VertexMeta,
}

/// The result of [`State::run`].
#[derive(Debug, Clone)]
pub struct ExecState {
    root: State,
    mounts: BTreeMap<String, State>,
}

impl ExecState {
    /// The root filesystem after the process ran.
    pub fn root(&self) -> State {
        self.root.clone()
    }

    /// The content of the mount at `dest` after the run, when it has an output.
    pub fn mount(&self, dest: &str) -> Option<State> {
        self.mounts.get(dest).cloned()
    }
}

/// File actions to apply to a state ([`State::file`]), in order.
#[derive(Debug, Clone, Default)]
pub struct FileActions {
    actions: Vec<(Option<State>, FileAction)>,
}

impl FileActions {
    pub fn new() -> FileActions {
        FileActions::default()
    }

    /// Copies from `src` (its filesystem; `action.src` is filled in).
    pub fn copy(mut self, src: &State, action: CopyAction) -> FileActions {
        self.actions
            .push((Some(src.clone()), FileAction::Copy(action)));
        self
    }

    pub fn mkdir(mut self, action: MkdirAction) -> FileActions {
        self.actions.push((None, FileAction::Mkdir(action)));
        self
    }

    pub fn mkfile(mut self, action: MkfileAction) -> FileActions {
        self.actions.push((None, FileAction::Mkfile(action)));
        self
    }

    pub fn rm(mut self, action: RmAction) -> FileActions {
        self.actions.push((None, FileAction::Rm(action)));
        self
    }

    pub fn symlink(mut self, action: SymlinkAction) -> FileActions {
        self.actions.push((None, FileAction::Symlink(action)));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Collects the distinct inputs of an op.
#[derive(Default)]
struct Inputs(Vec<Output>);

impl Inputs {
    fn index(&mut self, state: &State) -> Option<InputIndex> {
        let out = state.output.as_ref()?;
        if let Some(i) = self.0.iter().position(|o| o == out) {
            return Some(i as InputIndex);
        }
        self.0.push(out.clone());
        Some((self.0.len() - 1) as InputIndex)
    }
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> State {
        State::default()
    }

    /// A state over the output of a source op.
    pub fn source(op: SourceOp, platform: Option<Platform>, meta: VertexMeta) -> State {
        let vertex = Vertex::new(Op::Source(op), Vec::new(), platform.clone(), meta);
        State {
            output: Some(Output { vertex, index: 0 }),
            meta: Arc::new(StateMeta {
                platform,
                ..StateMeta::default()
            }),
        }
    }

    /// An image (`reference` fully normalized, e.g. `docker.io/library/busybox:latest@sha256:…`)
    /// for `platform`.
    pub fn image(reference: &str, platform: Platform, meta: VertexMeta) -> State {
        let op = SourceOp {
            identifier: format!("{}{reference}", scheme::DOCKER_IMAGE),
            attrs: BTreeMap::new(),
        };
        State::source(op, Some(platform), meta)
    }

    /// A local directory sent by the client (`local://<name>`). Platform-independent, so
    /// every platform of a build shares it.
    pub fn local(name: &str, opts: &LocalOpts, meta: VertexMeta) -> State {
        let mut attrs = BTreeMap::new();
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
        if !opts.include_patterns.is_empty() {
            attrs.insert(
                attr::LOCAL_INCLUDE_PATTERNS.to_string(),
                json(&opts.include_patterns),
            );
        }
        if !opts.exclude_patterns.is_empty() {
            attrs.insert(
                attr::LOCAL_EXCLUDE_PATTERNS.to_string(),
                json(&opts.exclude_patterns),
            );
        }
        if !opts.follow_paths.is_empty() {
            attrs.insert(
                attr::LOCAL_FOLLOW_PATHS.to_string(),
                json(&opts.follow_paths),
            );
        }
        if !opts.shared_key_hint.is_empty() {
            attrs.insert(
                attr::LOCAL_SHARED_KEY_HINT.to_string(),
                opts.shared_key_hint.clone(),
            );
        }
        let op = SourceOp {
            identifier: format!("{}{name}", scheme::LOCAL),
            attrs,
        };
        State::source(op, None, meta)
    }

    /// A git repository (`remote` without scheme, e.g. `github.com/org/repo.git`) at
    /// `reference` (branch, tag or commit; empty for the default branch).
    pub fn git(remote: &str, reference: &str, opts: &GitOpts, meta: VertexMeta) -> State {
        let mut id = format!("{}{remote}", scheme::GIT);
        if !reference.is_empty() {
            id.push('#');
            id.push_str(reference);
        }
        let mut attrs = BTreeMap::new();
        if opts.keep_git_dir {
            attrs.insert(attr::GIT_KEEP_DIR.to_string(), "true".to_string());
        }
        if !opts.subdir.is_empty() {
            attrs.insert(attr::GIT_SUBDIR.to_string(), opts.subdir.clone());
        }
        if !opts.checksum.is_empty() {
            attrs.insert(attr::GIT_CHECKSUM.to_string(), opts.checksum.clone());
        }
        if opts.skip_submodules {
            attrs.insert(attr::GIT_SKIP_SUBMODULES.to_string(), "true".to_string());
        }
        State::source(
            SourceOp {
                identifier: id,
                attrs,
            },
            None,
            meta,
        )
    }

    /// A file downloaded from `url` (`http://` or `https://`).
    pub fn http(url: &str, opts: &HttpOpts, meta: VertexMeta) -> State {
        let mut attrs = BTreeMap::new();
        if !opts.checksum.is_empty() {
            attrs.insert(attr::HTTP_CHECKSUM.to_string(), opts.checksum.clone());
        }
        if !opts.filename.is_empty() {
            attrs.insert(attr::HTTP_FILENAME.to_string(), opts.filename.clone());
        }
        if let Some(perm) = opts.perm {
            attrs.insert(attr::HTTP_PERM.to_string(), format!("{perm:o}"));
        }
        State::source(
            SourceOp {
                identifier: url.to_string(),
                attrs,
            },
            None,
            meta,
        )
    }

    /// The vertex output this state points at (`None` for scratch).
    pub fn output(&self) -> Option<&Output> {
        self.output.as_ref()
    }

    /// The metadata.
    pub fn meta(&self) -> &StateMeta {
        &self.meta
    }

    /// This state's metadata over another filesystem.
    pub fn with_output(&self, output: Option<Output>) -> State {
        State {
            output,
            meta: self.meta.clone(),
        }
    }

    fn with_meta(&self, f: impl FnOnce(&mut StateMeta)) -> State {
        let mut meta = (*self.meta).clone();
        f(&mut meta);
        State {
            output: self.output.clone(),
            meta: Arc::new(meta),
        }
    }

    /// Sets `name` (replacing its value in place when defined).
    pub fn add_env(&self, name: &str, value: &str) -> State {
        self.with_meta(|m| {
            if let Some(e) = m.env.iter_mut().find(|(k, _)| k == name) {
                e.1 = value.to_string();
            } else {
                m.env.push((name.to_string(), value.to_string()));
            }
        })
    }

    /// The value of `name`.
    pub fn get_env(&self, name: &str) -> Option<&str> {
        self.meta
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Changes the working directory; a relative `dir` is joined to the current one.
    pub fn dir(&self, dir: &str) -> State {
        let joined = if dir.starts_with('/') {
            clean_path(dir)
        } else {
            clean_path(&format!("{}/{dir}", self.get_dir()))
        };
        self.with_meta(|m| m.dir = joined)
    }

    /// The working directory (`/` by default).
    pub fn get_dir(&self) -> &str {
        if self.meta.dir.is_empty() {
            "/"
        } else {
            &self.meta.dir
        }
    }

    pub fn user(&self, user: &str) -> State {
        self.with_meta(|m| m.user = user.to_string())
    }

    pub fn hostname(&self, hostname: &str) -> State {
        self.with_meta(|m| m.hostname = hostname.to_string())
    }

    pub fn network(&self, network: NetMode) -> State {
        self.with_meta(|m| m.network = network)
    }

    pub fn security(&self, security: SecurityMode) -> State {
        self.with_meta(|m| m.security = security)
    }

    pub fn platform(&self, platform: Platform) -> State {
        self.with_meta(|m| m.platform = Some(platform))
    }

    pub fn get_platform(&self) -> Option<&Platform> {
        self.meta.platform.as_ref()
    }

    pub fn add_extra_host(&self, host: &str, ip: &str) -> State {
        self.with_meta(|m| {
            m.extra_hosts.push(HostIp {
                host: host.to_string(),
                ip: ip.to_string(),
            })
        })
    }

    /// Runs `run.args` over this state's filesystem (mounted at `/`, writable), with this
    /// state's env, dir, user, hostname, network, security and platform.
    pub fn run(&self, run: Run) -> ExecState {
        self.run_with(run, self.meta.network, self.meta.security)
    }

    /// As [`State::run`] with the network and security modes given.
    pub fn run_with(&self, run: Run, network: NetMode, security: SecurityMode) -> ExecState {
        let mut inputs = Inputs::default();
        let mut mounts = vec![Mount {
            input: inputs.index(self),
            selector: "/".to_string(),
            dest: "/".to_string(),
            readonly: false,
            output: Some(0),
            kind: MountKind::Bind,
        }];
        let mut next_output = 1;
        let mut outputs = Vec::new();
        for m in &run.mounts {
            let input = m.source.as_ref().and_then(|s| inputs.index(s));
            let output = if m.output && !m.readonly && m.kind == MountKind::Bind {
                next_output += 1;
                outputs.push((m.dest.clone(), next_output - 1));
                Some(next_output - 1)
            } else {
                None
            };
            mounts.push(Mount {
                input,
                selector: if m.selector.is_empty() {
                    "/".to_string()
                } else {
                    m.selector.clone()
                },
                dest: m.dest.clone(),
                readonly: m.readonly,
                output,
                kind: m.kind.clone(),
            });
        }
        let op = ExecOp {
            meta: ExecMeta {
                args: run.args,
                env: self
                    .meta
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
                cwd: self.get_dir().to_string(),
                user: self.meta.user.clone(),
                hostname: self.meta.hostname.clone(),
                extra_hosts: self.meta.extra_hosts.clone(),
                valid_exit_codes: run.valid_exit_codes,
            },
            network,
            security,
            mounts,
            secret_env: run.secret_env,
        };
        let vertex = Vertex::new(Op::Exec(op), inputs.0, self.meta.platform.clone(), run.meta);
        let root = self.with_output(Some(Output {
            vertex: vertex.clone(),
            index: 0,
        }));
        let mounts = outputs
            .into_iter()
            .map(|(dest, index)| {
                (
                    dest,
                    State::scratch().with_output(Some(Output {
                        vertex: vertex.clone(),
                        index,
                    })),
                )
            })
            .collect();
        ExecState { root, mounts }
    }

    /// Applies file actions to this state's filesystem.
    pub fn file(&self, actions: FileActions, meta: VertexMeta) -> State {
        let mut inputs = Inputs::default();
        let base = inputs.index(self);
        let actions = actions
            .actions
            .into_iter()
            .map(|(src, action)| match action {
                FileAction::Copy(mut c) => {
                    c.src = src.as_ref().and_then(|s| inputs.index(s));
                    FileAction::Copy(c)
                }
                other => other,
            })
            .collect();
        let vertex = Vertex::new(
            Op::File(FileOp { base, actions }),
            inputs.0,
            self.meta.platform.clone(),
            meta,
        );
        self.with_output(Some(Output { vertex, index: 0 }))
    }

    /// Layers `states` in order (later ones win); keeps the first state's metadata. Scratch
    /// states contribute nothing.
    pub fn merge(states: &[State], meta: VertexMeta) -> State {
        let mut inputs = Inputs::default();
        for s in states {
            inputs.index(s);
        }
        let first = states.first().cloned().unwrap_or_default();
        if inputs.0.is_empty() {
            return first.with_output(None);
        }
        let vertex = Vertex::new(
            Op::Merge(MergeOp {}),
            inputs.0,
            first.meta.platform.clone(),
            meta,
        );
        first.with_output(Some(Output { vertex, index: 0 }))
    }

    /// The changes from `lower` to `upper`, with `upper`'s metadata.
    pub fn diff(lower: &State, upper: &State, meta: VertexMeta) -> State {
        let mut inputs = Inputs::default();
        let op = DiffOp {
            lower: inputs.index(lower),
            upper: inputs.index(upper),
        };
        let vertex = Vertex::new(Op::Diff(op), inputs.0, upper.meta.platform.clone(), meta);
        upper.with_output(Some(Output { vertex, index: 0 }))
    }

    /// The definition of the graph below this state.
    pub fn definition(&self) -> Definition {
        Definition::new(self.output.as_ref())
    }
}

/// Cleans an absolute path lexically (Go's `path.Clean`): no `.`, `..` resolved, no
/// duplicate or trailing slashes.
pub fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

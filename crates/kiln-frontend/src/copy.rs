//! `COPY` and `ADD` (BuildKit's `dispatchCopy`): sources from the build context, a stage, an
//! image, inline heredocs, HTTP URLs and git repositories.

use kiln_dockerfile::Command;
use kiln_graph::op::{Chmod, Chown, CopyAction, MkfileAction};
use kiln_graph::{FileActions, GitOpts, HttpOpts, State, VertexMeta, clean_path};

use crate::convert::{Cmd, Ctx, commit};
use crate::{Error, ErrorKind};

/// The parts of `COPY` and `ADD` the conversion uses, variables expanded.
struct CopyConfig {
    is_add: bool,
    sources: Vec<String>,
    contents: Vec<kiln_dockerfile::SourceContent>,
    dest: String,
    chown: String,
    chmod: String,
    link: bool,
    parents: bool,
    excludes: Vec<String>,
    checksum: String,
    keep_git_dir: bool,
    unpack: Option<bool>,
}

/// BuildKit's `NormalizePath` for Linux with `keepSlash`: cleaned, a trailing `/` (or `/.`)
/// kept.
fn normalize_keep_slash(p: &str) -> String {
    let mut cleaned = clean_path(p);
    if (p.ends_with('/') || p.ends_with("/.")) && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// BuildKit's `pathRelativeToWorkingDir`.
fn dest_path(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return normalize_keep_slash(dest);
    }
    let d = if dest.is_empty() || dest == "." {
        "./"
    } else {
        dest
    };
    normalize_keep_slash(&format!("{workdir}/{d}"))
}

fn is_git(src: &str) -> bool {
    if src.starts_with("git://") || src.starts_with("git@") || src.starts_with("ssh://") {
        return true;
    }
    if src.starts_with("http://") || src.starts_with("https://") {
        let path = src.split('#').next().unwrap_or(src);
        return path.ends_with(".git");
    }
    false
}

fn is_http(src: &str) -> bool {
    (src.starts_with("http://") || src.starts_with("https://")) && !is_git(src)
}

fn contains_wildcards(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' | b'?' | b'[' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// `--chmod`: octal up to 07777, or a symbolic mode.
fn parse_chmod(s: &str) -> Result<Option<Chmod>, Error> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::from(ErrorKind::Invalid(format!(
            "invalid chmod parameter: '{s}'. it should be octal string and between 0 and 07777"
        )))
    };
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let v = u32::from_str_radix(s, 8).map_err(|_| bad())?;
        if v > 0o7777 {
            return Err(bad());
        }
        return Ok(Some(Chmod::Octal(v)));
    }
    // Symbolic: clauses `[ugoa]*[+-=][rwxXst]*` or `[+-=][ugo]`, comma-separated.
    let valid = s.split(',').all(|clause| {
        let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        let mut chars = rest.chars().peekable();
        let mut ops = 0;
        while let Some(c) = chars.next() {
            if !matches!(c, '+' | '-' | '=') {
                return false;
            }
            ops += 1;
            while let Some(&n) = chars.peek() {
                if "rwxXstugo".contains(n) {
                    chars.next();
                } else {
                    break;
                }
            }
        }
        ops > 0
    });
    if valid {
        Ok(Some(Chmod::Symbolic(s.to_string())))
    } else {
        Err(ErrorKind::Invalid(format!("invalid chmod parameter: '{s}'")).into())
    }
}

/// A git source: `remote` and the `#ref[:subdir]` fragment.
fn git_parts(src: &str) -> (String, String, String) {
    let (url, frag) = src.split_once('#').unwrap_or((src, ""));
    let remote = url
        .strip_prefix("git://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .unwrap_or(url);
    let (reference, subdir) = frag.split_once(':').unwrap_or((frag, ""));
    (
        remote.to_string(),
        reference.to_string(),
        subdir.to_string(),
    )
}

impl Ctx<'_> {
    fn copy_config(&self, d: usize, cmd: &Command) -> Result<CopyConfig, Error> {
        let (is_add, sd, chown, chmod, link, parents, excludes, checksum, keep, unpack) = match cmd
        {
            Command::Add(c) => (
                true,
                &c.sources_and_dest,
                &c.chown,
                &c.chmod,
                c.link,
                false,
                &c.exclude_patterns,
                c.checksum.as_str(),
                c.keep_git_dir,
                c.unpack,
            ),
            Command::Copy(c) => (
                false,
                &c.sources_and_dest,
                &c.chown,
                &c.chmod,
                c.link,
                c.parents,
                &c.exclude_patterns,
                "",
                false,
                None,
            ),
            _ => return Err(ErrorKind::Invalid("not a COPY or ADD instruction".into()).into()),
        };
        let mut contents = Vec::new();
        for sc in &sd.source_contents {
            let mut sc = sc.clone();
            if sc.expand {
                sc.data = self.expand_raw(d, &sc.data)?;
            }
            contents.push(sc);
        }
        Ok(CopyConfig {
            is_add,
            sources: sd
                .source_paths
                .iter()
                .map(|s| self.expand(d, s))
                .collect::<Result<_, _>>()?,
            contents,
            dest: self.expand(d, &sd.dest_path)?,
            chown: self.expand(d, chown)?,
            chmod: self.expand(d, chmod)?,
            link,
            parents,
            excludes: excludes
                .iter()
                .map(|s| self.expand(d, s))
                .collect::<Result<_, _>>()?,
            checksum: self.expand(d, checksum)?,
            keep_git_dir: keep,
            unpack,
        })
    }

    pub(crate) fn dispatch_copy(&mut self, d: usize, cmd: &Cmd) -> Result<(), Error> {
        let cfg = self.copy_config(d, &cmd.command)?;
        let source = match cmd.sources.first().copied().flatten() {
            Some(s) => {
                if !self.states[s].dispatched {
                    let from = match &cmd.command {
                        Command::Copy(c) => c.from.clone(),
                        _ => String::new(),
                    };
                    return Err(ErrorKind::StageNotDefined(
                        from,
                        self.states[d].stage_name.clone(),
                    )
                    .into());
                }
                Some(self.states[s].state.clone())
            }
            None => None,
        };
        let from_context = source.is_none();
        let source = source.unwrap_or_else(|| self.context.clone());
        let platform = self.states[d]
            .platform
            .clone()
            .unwrap_or_else(|| self.target_platform.clone());
        let dest = dest_path(self.states[d].state.get_dir(), &cfg.dest);
        let chown = Chown::parse(&cfg.chown);
        let chmod = parse_chmod(&cfg.chmod)?;
        if !cfg.checksum.is_empty() {
            if !cfg.is_add {
                return Err(
                    ErrorKind::Invalid("checksum can't be specified for COPY".into()).into(),
                );
            }
            if cfg.sources.len() != 1 {
                return Err(ErrorKind::Invalid(
                    "checksum can't be specified for multiple sources".into(),
                )
                .into());
            }
            if !is_http(&cfg.sources[0]) && !is_git(&cfg.sources[0]) {
                return Err(
                    ErrorKind::Invalid("checksum requires HTTP(S) or Git sources".into()).into(),
                );
            }
        }
        let mut msg = String::from(if cfg.is_add { "ADD" } else { "COPY" });
        if cfg.parents {
            msg.push_str(" --parents");
        }
        if !cfg.chown.is_empty() {
            msg.push_str(&format!(" --chown={}", cfg.chown));
        }
        if !cfg.chmod.is_empty() {
            msg.push_str(&format!(" --chmod={}", cfg.chmod));
        }
        let name = self.progress_name(d, &cmd.command.meta().code);
        let base = CopyAction {
            dest: dest.clone(),
            chown: chown.clone(),
            chmod: chmod.clone(),
            create_dest_path: true,
            exclude_patterns: cfg.excludes.clone(),
            mtime: self.epoch,
            ..CopyAction::default()
        };
        let mut actions = FileActions::new();
        for src in &cfg.sources {
            msg.push(' ');
            msg.push_str(src);
            if is_git(src) {
                if !cfg.is_add {
                    return Err(
                        ErrorKind::Invalid("source can't be a git ref for COPY".into()).into(),
                    );
                }
                let (remote, reference, subdir) = git_parts(src);
                let st = State::git(
                    &remote,
                    &reference,
                    &GitOpts {
                        keep_git_dir: cfg.keep_git_dir,
                        subdir,
                        checksum: cfg.checksum.clone(),
                        skip_submodules: false,
                    },
                    VertexMeta::named(name.clone()),
                );
                actions = actions.copy(
                    &st,
                    CopyAction {
                        src_path: "/".to_string(),
                        ..base.clone()
                    },
                );
            } else if is_http(src) {
                if !cfg.is_add {
                    return Err(ErrorKind::Invalid("source can't be a URL for COPY".into()).into());
                }
                let path = src
                    .split_once("://")
                    .map(|(_, r)| r)
                    .and_then(|r| r.split_once('/').map(|(_, p)| p))
                    .unwrap_or("");
                let path = path.split(['?', '#']).next().unwrap_or("");
                let f = path
                    .rsplit('/')
                    .next()
                    .filter(|b| !b.is_empty() && *b != ".")
                    .unwrap_or("__unnamed__")
                    .to_string();
                let st = State::http(
                    src,
                    &HttpOpts {
                        checksum: cfg.checksum.clone(),
                        filename: f.clone(),
                        perm: None,
                    },
                    // BuildKit names the download by its URL.
                    VertexMeta::named(src.clone()),
                );
                actions = actions.copy(
                    &st,
                    CopyAction {
                        src_path: format!("/{f}"),
                        attempt_unpack: cfg.unpack.unwrap_or(false),
                        ..base.clone()
                    },
                );
            } else {
                let mut src_path = src.clone();
                let mut include = Vec::new();
                let mut required = Vec::new();
                if cfg.parents {
                    let (parent, pattern) = match src.split_once("/./") {
                        Some((p, pat)) => (p.to_string(), pat.to_string()),
                        None => ("/".to_string(), src.clone()),
                    };
                    let pattern = clean_path(&format!("/{pattern}"));
                    if !contains_wildcards(&parent) && !contains_wildcards(&pattern) {
                        required.push(clean_path(&format!("/{parent}/{pattern}")));
                    }
                    include.push(pattern.trim_start_matches('/').to_string());
                    src_path = parent;
                }
                actions = actions.copy(
                    &source,
                    CopyAction {
                        src_path: clean_path(&format!("/{src_path}")),
                        follow_symlinks: true,
                        copy_dir_contents_only: true,
                        include_patterns: include,
                        required_paths: required,
                        attempt_unpack: cfg.unpack.unwrap_or(cfg.is_add),
                        allow_wildcard: true,
                        allow_empty_wildcard: true,
                        ..base.clone()
                    },
                );
                if from_context {
                    self.ctx_paths.insert(clean_path(&format!("/{src}")));
                }
            }
        }
        for sc in &cfg.contents {
            msg.push_str(&format!(" <<{}", sc.path));
            let path = clean_path(&format!("/{}", sc.path));
            let st = State::scratch().platform(platform.clone()).file(
                FileActions::new().mkfile(MkfileAction {
                    path: path.clone(),
                    data: sc.data.clone(),
                    mode: 0o644,
                    chown: None,
                    mtime: None,
                }),
                VertexMeta::named("[internal] preparing inline document"),
            );
            actions = actions.copy(
                &st,
                CopyAction {
                    src_path: path,
                    ..base.clone()
                },
            );
        }
        msg.push(' ');
        msg.push_str(&cfg.dest);
        let meta = self.vertex_meta(d, name.clone(), &cmd.command);
        let ds = &mut self.states[d];
        if cfg.link && cfg.chmod.is_empty() {
            let copied = State::scratch()
                .platform(platform)
                .file(actions, meta.clone());
            let mut merge_meta = meta;
            merge_meta.name = match name.split_once("] ") {
                Some((p, rest)) => format!("{p}] LINK {rest}"),
                None => format!("LINK {name}"),
            };
            ds.state = State::merge(&[ds.state.clone(), copied], merge_meta);
        } else {
            ds.state = ds.state.file(actions, meta);
        }
        commit(&mut ds.image, msg, true, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_buildkit() {
        assert_eq!(dest_path("/w", "."), "/w/");
        assert_eq!(dest_path("/w", "deep/"), "/w/deep/");
        assert_eq!(dest_path("/", "/target/"), "/target/");
        assert_eq!(dest_path("/", "/target/renamed"), "/target/renamed");
        assert_eq!(dest_path("/a", "../b"), "/b");
    }

    #[test]
    fn chmod_values() {
        assert_eq!(parse_chmod("600").unwrap(), Some(Chmod::Octal(0o600)));
        assert_eq!(parse_chmod("4755").unwrap(), Some(Chmod::Octal(0o4755)));
        assert!(parse_chmod("99").is_err());
        assert!(parse_chmod("17777").is_err());
        assert_eq!(
            parse_chmod("u+x,g-w").unwrap(),
            Some(Chmod::Symbolic("u+x,g-w".into()))
        );
        assert!(parse_chmod("bogus").is_err());
    }

    #[test]
    fn git_and_http_sources() {
        assert!(is_git("https://github.com/moby/buildkit.git#v0.10.1"));
        assert!(is_git("git@github.com:moby/buildkit.git"));
        assert!(is_http("https://example.com/a.tar.gz"));
        assert!(!is_http("files/a"));
        assert_eq!(
            git_parts("https://github.com/moby/buildkit.git#v1:docs"),
            (
                "github.com/moby/buildkit.git".into(),
                "v1".into(),
                "docs".into()
            )
        );
    }
}

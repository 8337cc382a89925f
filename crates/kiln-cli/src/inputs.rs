//! Reads what a build needs before anything runs, as buildx's `LoadInputs` and BuildKit's
//! dockerui do: the Dockerfile (`-f PATH` relative to the working directory, `-f -` from stdin,
//! or `<context>/Dockerfile`), and the ignore file (`<Dockerfile>.dockerignore` beside the
//! Dockerfile beats `<context>/.dockerignore`). This is the command line's I/O.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::error::{NotImplemented, io_text};
use crate::options::context::is_remote_url;

/// Where the build context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextLocation {
    /// A local directory.
    Dir(PathBuf),
    /// A git or HTTP(S) URL (not read here).
    Remote(String),
    /// `-` with a Dockerfile on stdin: an empty context.
    Empty,
}

/// The Dockerfile and ignore patterns of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub context: ContextLocation,
    pub dockerfile: Vec<u8>,
    /// The name shown to users: the `-f` value, `<context>/Dockerfile`, or `stdin` (buildx).
    pub dockerfile_name: String,
    /// The ignore file in force, if any.
    pub ignore_file: Option<PathBuf>,
    /// Its patterns; `None` when there is no ignore file (or the context is not local).
    pub ignore_patterns: Option<Vec<String>>,
}

/// Go's `filepath.Clean`, lexically: `./a//b/../c` → `a/c`.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let s = parts.join("/");
    match (rooted, s.is_empty()) {
        (true, _) => format!("/{s}"),
        (false, true) => ".".to_string(),
        (false, false) => s,
    }
}

/// Go's `filepath.Join(dir, name)`.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        clean(name)
    } else {
        clean(&format!("{dir}/{name}"))
    }
}

/// True when the bytes start like an archive (tar, or a compressed stream), as buildx tells a
/// context tarball on stdin from a Dockerfile.
pub fn is_archive(header: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        &[0x1f, 0x8b],                         // gzip
        b"BZh",                                // bzip2
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00], // xz
        &[0x28, 0xb5, 0x2f, 0xfd],             // zstd
    ];
    MAGICS.iter().any(|m| header.starts_with(m))
        || header.get(257..262).is_some_and(|m| m == b"ustar")
}

fn read_stdin_dockerfile(stdin: &mut dyn Read) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    stdin
        .read_to_end(&mut buf)
        .map_err(|e| anyhow::anyhow!("failed to read dockerfile from stdin: {}", io_text(&e)))?;
    if buf.is_empty() {
        bail!("failed to read dockerfile from stdin: stdin is empty");
    }
    Ok(buf)
}

/// Reads a Dockerfile from disk; `Dockerfile` falls back to `dockerfile` like buildx.
fn read_dockerfile(path: &Path) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let path = if path.file_name().is_some_and(|n| n == "Dockerfile") && !path.exists() {
        let lower = path.with_file_name("dockerfile");
        if lower.is_file() {
            lower
        } else {
            path.to_path_buf()
        }
    } else {
        path.to_path_buf()
    };
    match fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) => {
            let op = if e.kind() == io::ErrorKind::IsADirectory {
                "read"
            } else {
                "open"
            };
            bail!(
                "failed to read dockerfile: {op} {}: {}",
                clean(&path.to_string_lossy()),
                io_text(&e)
            )
        }
    }
}

/// Reads the first ignore file that exists; `Ok(None)` when there is none.
fn read_ignore(candidates: &[PathBuf]) -> anyhow::Result<Option<(PathBuf, Vec<String>)>> {
    for path in candidates {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => bail!("failed to read {}: {}", path.display(), io_text(&e)),
        };
        let patterns = kiln_dockerignore::read_ignore_bytes(&bytes)
            .with_context(|| format!("failed to parse {}", path.display()))?;
        return Ok(Some((path.clone(), patterns)));
    }
    Ok(None)
}

/// Loads the Dockerfile and ignore patterns for `context` and `-f` (`dockerfile`).
pub fn load(
    context: &str,
    dockerfile: Option<&str>,
    stdin: &mut dyn Read,
) -> anyhow::Result<Inputs> {
    if context.is_empty() {
        bail!("please specify build context (e.g. \".\" for the current directory)");
    }
    if dockerfile.is_some_and(|f| f.starts_with("http://") || f.starts_with("https://")) {
        return Err(NotImplemented(
            "reading the Dockerfile from a URL (-f http...) is not implemented yet".to_string(),
        )
        .into());
    }

    if context == "-" {
        if dockerfile == Some("-") {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let data = read_stdin_dockerfile(stdin)?;
        if is_archive(&data) {
            return Err(NotImplemented(
                "reading a build context archive from stdin is not implemented yet".to_string(),
            )
            .into());
        }
        if dockerfile.is_some() {
            bail!("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles");
        }
        return Ok(Inputs {
            context: ContextLocation::Empty,
            dockerfile: data,
            dockerfile_name: "Dockerfile".to_string(),
            ignore_file: None,
            ignore_patterns: None,
        });
    }

    let context_path = Path::new(context);
    match fs::metadata(context_path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) if !is_remote_url(context) => {
            bail!("unable to prepare context: {context:?} is not a directory")
        }
        _ if is_remote_url(context) => {
            return match dockerfile {
                Some("-") => Ok(Inputs {
                    context: ContextLocation::Remote(context.to_string()),
                    dockerfile: read_stdin_dockerfile(stdin)?,
                    dockerfile_name: "stdin".to_string(),
                    ignore_file: None,
                    ignore_patterns: None,
                }),
                Some(f) if Path::new(f).is_absolute() => {
                    let (_, bytes) = read_dockerfile(Path::new(f))?;
                    Ok(Inputs {
                        context: ContextLocation::Remote(context.to_string()),
                        dockerfile: bytes,
                        dockerfile_name: f.to_string(),
                        ignore_file: None,
                        ignore_patterns: None,
                    })
                }
                _ => Err(NotImplemented(
                    "building from a remote context (git, HTTP) is not implemented yet".to_string(),
                )
                .into()),
            };
        }
        _ => bail!("unable to prepare context: path {context:?} not found"),
    }

    let (dockerfile_bytes, dockerfile_name, dockerfile_path) = match dockerfile {
        Some("-") => (read_stdin_dockerfile(stdin)?, "stdin".to_string(), None),
        Some(f) => {
            let (path, bytes) = read_dockerfile(Path::new(f))?;
            (bytes, f.to_string(), Some(path))
        }
        None => {
            let (path, bytes) = read_dockerfile(&context_path.join("Dockerfile"))?;
            (bytes, join(context, "Dockerfile"), Some(path))
        }
    };

    let mut candidates = Vec::new();
    if let Some((path, name)) = dockerfile_path
        .as_ref()
        .and_then(|p| p.file_name().map(|n| (p, n)))
    {
        let mut ignore_name = name.to_os_string();
        ignore_name.push(".dockerignore");
        candidates.push(path.with_file_name(ignore_name));
    }
    candidates.push(context_path.join(".dockerignore"));
    let ignore = read_ignore(&candidates)?;

    Ok(Inputs {
        context: ContextLocation::Dir(context_path.to_path_buf()),
        dockerfile: dockerfile_bytes,
        dockerfile_name,
        ignore_file: ignore.as_ref().map(|(p, _)| p.clone()),
        ignore_patterns: ignore.map(|(_, p)| p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "kiln-cli-inputs-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            p
        }
        fn s(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn no_stdin() -> impl Read {
        io::empty()
    }

    #[test]
    fn clean_and_join_like_go() {
        assert_eq!(join(".", "Dockerfile"), "Dockerfile");
        assert_eq!(join("app/", "Dockerfile"), "app/Dockerfile");
        assert_eq!(join("./a//b/..", "Dockerfile"), "a/Dockerfile");
        assert_eq!(join("/", "Dockerfile"), "/Dockerfile");
        assert_eq!(join("../x", "Dockerfile"), "../x/Dockerfile");
    }

    #[test]
    fn default_dockerfile_and_context_dockerignore() {
        let t = TempDir::new();
        t.write("Dockerfile", "FROM busybox\n");
        t.write(".dockerignore", "node_modules\n");
        let inp = load(t.s(), None, &mut no_stdin()).unwrap();
        assert_eq!(inp.dockerfile, b"FROM busybox\n");
        assert_eq!(inp.dockerfile_name, join(t.s(), "Dockerfile"));
        assert_eq!(inp.ignore_file, Some(t.0.join(".dockerignore")));
        assert!(inp.ignore_patterns.is_some());
        assert_eq!(inp.context, ContextLocation::Dir(t.0.clone()));
    }

    #[test]
    fn dockerfile_specific_ignore_wins() {
        let t = TempDir::new();
        let df = t.write("docker/app.Dockerfile", "FROM scratch\n");
        t.write("docker/app.Dockerfile.dockerignore", "*\n");
        t.write(".dockerignore", "x\n");
        let f = df.to_str().unwrap();
        let inp = load(t.s(), Some(f), &mut no_stdin()).unwrap();
        assert_eq!(inp.dockerfile_name, f);
        assert_eq!(
            inp.ignore_file,
            Some(t.0.join("docker/app.Dockerfile.dockerignore"))
        );
    }

    #[test]
    fn no_ignore_file() {
        let t = TempDir::new();
        t.write("Dockerfile", "FROM scratch\n");
        let inp = load(t.s(), None, &mut no_stdin()).unwrap();
        assert_eq!(inp.ignore_file, None);
        assert_eq!(inp.ignore_patterns, None);
    }

    #[test]
    fn lowercase_dockerfile_fallback() {
        let t = TempDir::new();
        t.write("dockerfile", "FROM scratch\n");
        let inp = load(t.s(), None, &mut no_stdin()).unwrap();
        assert_eq!(inp.dockerfile, b"FROM scratch\n");
    }

    #[test]
    fn missing_dockerfile_names_the_path() {
        let t = TempDir::new();
        let e = load(t.s(), None, &mut no_stdin()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "failed to read dockerfile: open {}: no such file or directory",
                t.0.join("Dockerfile").display()
            )
        );
        let e = load(t.s(), Some("/nonexistent/x.Dockerfile"), &mut no_stdin())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "failed to read dockerfile: open /nonexistent/x.Dockerfile: no such file or directory"
        );
    }

    #[test]
    fn dockerfile_from_stdin() {
        let t = TempDir::new();
        t.write(".dockerignore", "a\n");
        let inp = load(t.s(), Some("-"), &mut &b"FROM scratch\n"[..]).unwrap();
        assert_eq!(inp.dockerfile_name, "stdin");
        assert_eq!(inp.dockerfile, b"FROM scratch\n");
        assert_eq!(inp.ignore_file, Some(t.0.join(".dockerignore")));
    }

    #[test]
    fn context_from_stdin() {
        let inp = load("-", None, &mut &b"FROM scratch\n"[..]).unwrap();
        assert_eq!(inp.context, ContextLocation::Empty);
        assert_eq!(inp.dockerfile_name, "Dockerfile");
        assert_eq!(
            load("-", None, &mut no_stdin()).unwrap_err().to_string(),
            "failed to read dockerfile from stdin: stdin is empty"
        );
        assert_eq!(
            load("-", Some("-"), &mut no_stdin())
                .unwrap_err()
                .to_string(),
            "invalid argument: can't use stdin for both build context and dockerfile"
        );
        assert_eq!(
            load("-", Some("Dockerfile"), &mut &b"FROM scratch\n"[..])
                .unwrap_err()
                .to_string(),
            "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"
        );
        let mut gz: &[u8] = &[0x1f, 0x8b, 8, 0, 0];
        let e = load("-", None, &mut gz).unwrap_err();
        assert!(e.downcast_ref::<NotImplemented>().is_some());
    }

    #[test]
    fn bad_contexts() {
        assert_eq!(
            load("/nonexistent/ctx", None, &mut no_stdin())
                .unwrap_err()
                .to_string(),
            r#"unable to prepare context: path "/nonexistent/ctx" not found"#
        );
        let t = TempDir::new();
        let f = t.write("file", "x");
        assert!(
            load(f.to_str().unwrap(), None, &mut no_stdin())
                .unwrap_err()
                .to_string()
                .ends_with("is not a directory")
        );
        let e = load("https://github.com/o/r.git", None, &mut no_stdin()).unwrap_err();
        assert!(e.downcast_ref::<NotImplemented>().is_some());
        let inp = load(
            "https://github.com/o/r.git",
            Some("-"),
            &mut &b"FROM x\n"[..],
        )
        .unwrap();
        assert_eq!(
            inp.context,
            ContextLocation::Remote("https://github.com/o/r.git".into())
        );
    }

    #[test]
    fn archive_detection() {
        assert!(is_archive(&[0x1f, 0x8b, 8]));
        assert!(is_archive(b"BZh91AY"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(is_archive(&tar));
        assert!(!is_archive(b"FROM busybox\n"));
        assert!(!is_archive(b""));
    }
}

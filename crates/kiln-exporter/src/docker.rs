//! `--load`: hands a Docker image tarball to a running Docker engine (`POST /images/load` on its
//! unix socket), with a clear error pointing at `-o type=docker,dest=…` when there is none.
//!
//! The client is a minimal blocking HTTP/1.1 exchange over `std::os::unix::net::UnixStream`:
//! one request with a known `Content-Length`, one response read to the end. Docker answers
//! `200` with a stream of JSON messages; a message with `error`/`errorDetail` is a failure.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use kiln_store::Provider;

use crate::error::{Error, Result};
use crate::image::CommittedImage;
use crate::layout::{LayoutKind, LayoutOptions, write_layout_tar};

/// The engine socket `--load` uses: `DOCKER_HOST` when set (only `unix://…` is supported: a
/// `tcp://` or `ssh://` engine is an error rather than a silent fallback to another engine),
/// else `/var/run/docker.sock`.
pub fn docker_socket() -> Result<PathBuf> {
    socket_from(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn socket_from(docker_host: Option<&str>) -> Result<PathBuf> {
    match docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(PathBuf::from("/var/run/docker.sock")),
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => Err(Error::UnsupportedDockerHost {
                host: host.to_string(),
            }),
        },
    }
}

/// Checks that an engine listens on `socket`, so that `--load` fails before the build rather
/// than after it.
pub fn check_docker_engine(socket: &Path) -> Result<()> {
    UnixStream::connect(socket)
        .map(drop)
        .map_err(|reason| Error::NoDockerEngine {
            socket: socket.to_path_buf(),
            reason,
        })
}

/// Loads the Docker image tarball at `tarball` into the engine at `socket`; returns the engine's
/// messages (`Loaded image: app:1`).
pub fn load_into_docker(socket: &Path, tarball: &Path) -> Result<Vec<String>> {
    let mut stream = UnixStream::connect(socket).map_err(|reason| Error::NoDockerEngine {
        socket: socket.to_path_buf(),
        reason,
    })?;
    let mut file = File::open(tarball).map_err(|e| Error::io("opening", tarball, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("inspecting", tarball, e))?
        .len();
    let werr = |e| Error::io("sending image to", socket, e);
    write!(
        stream,
        "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: kiln\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .map_err(werr)?;
    io::copy(&mut file, &mut stream).map_err(werr)?;
    stream.flush().map_err(werr)?;
    let rerr = |e| Error::io("reading answer of", socket, e);
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(rerr)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::DockerLoad {
            socket: socket.to_path_buf(),
            message: format!("unexpected answer {:?}", status.trim_end()),
        })?;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(rerr)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).map_err(rerr)? == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n];
            reader.read_exact(&mut chunk).map_err(rerr)?;
            body.extend(chunk);
            let mut crlf = String::new();
            reader.read_line(&mut crlf).map_err(rerr)?;
        }
    } else {
        reader.read_to_end(&mut body).map_err(rerr)?;
    }
    let text = String::from_utf8_lossy(&body);
    if code != 200 {
        return Err(Error::DockerLoad {
            socket: socket.to_path_buf(),
            message: format!("HTTP {code}: {}", text.trim()),
        });
    }
    let mut messages = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => {
                messages.push(line.to_string());
                continue;
            }
        };
        if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
            return Err(Error::DockerLoad {
                socket: socket.to_path_buf(),
                message: err.to_string(),
            });
        }
        if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
            messages.push(s.trim_end().to_string());
        }
    }
    Ok(messages)
}

/// `--load`: writes the Docker tarball of `image` to a temporary file and loads it into the
/// engine at `socket`. Fails fast, before writing anything, when no engine answers there.
/// `opts.kind` is forced to [`LayoutKind::Docker`].
pub fn load_image(
    provider: &dyn Provider,
    image: &CommittedImage,
    opts: &LayoutOptions,
    socket: &Path,
) -> Result<Vec<String>> {
    check_docker_engine(socket)?;
    let opts = LayoutOptions {
        kind: LayoutKind::Docker,
        ..opts.clone()
    };
    let tmp = TempPath(std::env::temp_dir().join(format!(
        "kiln-load-{}.tar",
        crate::compression::unique_ref("docker")
    )));
    let file = File::create(&tmp.0).map_err(|e| Error::io("creating", &tmp.0, e))?;
    let mut file = write_layout_tar(provider, image, &opts, io::BufWriter::new(file))?;
    file.flush().map_err(|e| Error::io("writing", &tmp.0, e))?;
    drop(file);
    load_into_docker(socket, &tmp.0)
}

/// Removes the file when dropped.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_selects_the_socket() {
        assert_eq!(
            socket_from(None).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_from(Some("")).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_from(Some("unix:///tmp/d.sock")).unwrap(),
            PathBuf::from("/tmp/d.sock")
        );
        let err = socket_from(Some("tcp://10.0.0.1:2375"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DOCKER_HOST=tcp://10.0.0.1:2375 is not supported"),
            "{err}"
        );
        assert!(err.contains("type=docker,dest="), "{err}");
    }

    #[test]
    fn a_missing_engine_is_reported_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_docker_engine(&dir.path().join("docker.sock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker.sock"), "{err}");
        assert!(err.contains("-o type=docker,dest="), "{err}");
    }
}

//! `RUN --mount=...` and `RUN --device=...` values: CSV `key=value` fields parsed into
//! [`Mount`] and [`Device`], with BuildKit's validation rules and messages.

use crate::error::{ErrorKind, suggest};
use crate::goparse::{csv_fields, parse_go_bool, parse_go_uint, ram_in_bytes};

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MountType {
    /// A read-only (by default) view of the build context or another stage/image.
    #[default]
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty in-memory file system.
    Tmpfs,
    /// A build secret (never stored in the image or the cache key).
    Secret,
    /// An SSH agent socket.
    Ssh,
}

impl MountType {
    /// The name used in the Dockerfile (`bind`, `cache`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }

    fn parse(s: &str) -> Option<MountType> {
        Some(match s {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareMode {
    Shared,
    Private,
    Locked,
}

impl ShareMode {
    /// The name used in the Dockerfile.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareMode::Shared => "shared",
            ShareMode::Private => "private",
            ShareMode::Locked => "locked",
        }
    }
}

/// A parsed `RUN --mount` (BuildKit's `instructions.Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Mount {
    pub mount_type: MountType,
    /// `from=`: stage, image or context to mount from.
    pub from: String,
    /// `source=`/`src=`.
    pub source: String,
    /// `target=`/`dst=`/`destination=`.
    pub target: String,
    pub read_only: bool,
    /// `size=` of a tmpfs, in bytes (0 = unlimited).
    pub size_limit: i64,
    /// `id=`: cache id, or secret/ssh id.
    pub cache_id: String,
    pub cache_sharing: Option<ShareMode>,
    /// `required` for secret and ssh mounts.
    pub required: bool,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

const MOUNT_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Expands variables in a mount field value.
pub type Expander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

/// Parses a `--mount` value. Without `expand`, only the syntax is checked (values are
/// deferred until variables are known, as BuildKit's first pass does): the result then
/// holds defaults only. With `expand`, every value is expanded, interpreted and validated.
pub fn parse_mount(value: &str, mut expand: Option<Expander<'_>>) -> Result<Mount, ErrorKind> {
    let fields = csv_fields(value)
        .map_err(|e| ErrorKind::Invalid(format!("failed to parse csv mounts: {e}")))?;
    let mut m = Mount::default();
    let mut ro_auto = true;
    let invalid_value =
        |key: &str, value: &str| ErrorKind::Invalid(format!("invalid value for {key}: {value}"));
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            if expand.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.mount_type, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => {
                    return Err(ErrorKind::Invalid(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                _ => {
                    return Err(ErrorKind::Invalid(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )));
                }
            }
            continue;
        };
        let val = match expand.as_mut() {
            Some(f) => f(val).map_err(ErrorKind::Invalid)?,
            None => {
                if key == "from" {
                    if let Some(i) = val.find('$') {
                        if i != val.len() - 1 {
                            return Err(ErrorKind::Invalid(format!(
                                "'{key}' doesn't support variable expansion, define alias stage instead"
                            )));
                        }
                    }
                }
                continue;
            }
        };
        match key.as_str() {
            "type" => {
                let lower = val.to_lowercase();
                m.mount_type = MountType::parse(&lower).ok_or_else(|| {
                    let all = ["bind", "cache", "tmpfs", "secret", "ssh"];
                    let base = format!(
                        "unsupported mount type {}",
                        kiln_dockerfile_parser::go_quote(&val)
                    );
                    with_suggestion(base, suggest(&val, &all, true))
                })?;
            }
            "from" => m.from = val,
            "source" | "src" => m.source = val,
            "target" | "dst" | "destination" => m.target = val,
            "readonly" | "ro" => {
                m.read_only = parse_go_bool(&val).ok_or_else(|| invalid_value(&key, &val))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                let rw = parse_go_bool(&val).ok_or_else(|| invalid_value(&key, &val))?;
                m.read_only = !rw;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    return Err(ErrorKind::Invalid(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                m.required = parse_go_bool(&val).ok_or_else(|| invalid_value(&key, &val))?;
            }
            "size" => {
                if m.mount_type != MountType::Tmpfs {
                    return Err(ErrorKind::Invalid(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                m.size_limit = ram_in_bytes(&val).map_err(|_| invalid_value(&key, &val))?;
            }
            "id" => m.cache_id = val,
            "sharing" => {
                m.cache_sharing = Some(match val.to_lowercase().as_str() {
                    "shared" => ShareMode::Shared,
                    "private" => ShareMode::Private,
                    "locked" => ShareMode::Locked,
                    _ => {
                        let base = format!(
                            "unsupported sharing value {}",
                            kiln_dockerfile_parser::go_quote(&val)
                        );
                        let all = ["shared", "private", "locked"];
                        return Err(with_suggestion(base, suggest(&val, &all, true)));
                    }
                });
            }
            "mode" => {
                let v = parse_go_uint(&val, 8, 32)
                    .ok_or_else(|| ErrorKind::Invalid(format!("invalid value {val} for mode")))?;
                m.mode = u32::try_from(v).ok();
            }
            "uid" => {
                let v = parse_go_uint(&val, 10, 32)
                    .ok_or_else(|| ErrorKind::Invalid(format!("invalid value {val} for uid")))?;
                m.uid = u32::try_from(v).ok();
            }
            "gid" => {
                let v = parse_go_uint(&val, 10, 32)
                    .ok_or_else(|| ErrorKind::Invalid(format!("invalid value {val} for gid")))?;
                m.gid = u32::try_from(v).ok();
            }
            "env" => m.env = Some(val),
            _ => {
                let base = format!("unexpected key '{key}' in '{field}'");
                return Err(with_suggestion(base, suggest(&key, &MOUNT_KEYS, true)));
            }
        }
    }

    let file_info_allowed = matches!(
        m.mount_type,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let t = m.mount_type.as_str();
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(ErrorKind::Invalid(format!(
                    "{what} not allowed for \"{t}\" type mounts"
                )));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }
    if m.mount_type == MountType::Secret {
        if !m.from.is_empty() {
            return Err(ErrorKind::Invalid(
                "secret mount should not have a from".into(),
            ));
        }
        if m.cache_sharing.is_some() {
            return Err(ErrorKind::Invalid(
                "secret mount should not define sharing".into(),
            ));
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err(ErrorKind::Invalid(
                "invalid secret mount. one of source, target required".into(),
            ));
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err(ErrorKind::Invalid("both source and id can't be set".into()));
        }
    }
    if m.cache_sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(ErrorKind::Invalid(format!(
            "invalid cache sharing set for {} mount",
            m.mount_type.as_str()
        )));
    }
    Ok(m)
}

fn with_suggestion(base: String, s: Option<String>) -> ErrorKind {
    match s {
        Some(m) => ErrorKind::Invalid(format!("{base} (did you mean {m}?)")),
        None => ErrorKind::Invalid(base),
    }
}

/// A `RUN --device` request (CDI device name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Device {
    /// The device name, e.g. `vendor1.com/device=foo` (may itself contain `=`).
    pub name: String,
    /// Fail the build when the device is not available.
    pub required: bool,
}

/// Parses a `--device` value: CSV fields; the first bare field (or `name=`) is the name,
/// `required` or `required=<bool>` sets `required`.
pub fn parse_device(value: &str) -> Result<Device, ErrorKind> {
    let fields = csv_fields(value)
        .map_err(|e| ErrorKind::Invalid(format!("failed to parse csv devices: {e}")))?;
    let mut d = Device::default();
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            if key == "required" {
                d.required = true;
            } else if d.name.is_empty() {
                d.name = field.clone();
            } else {
                return Err(ErrorKind::Invalid(format!(
                    "invalid field '{field}' must be a key=value pair"
                )));
            }
            continue;
        };
        match key.as_str() {
            "name" => {
                if !d.name.is_empty() {
                    return Err(ErrorKind::Invalid(format!(
                        "device name already set to {}",
                        d.name
                    )));
                }
                d.name = val.to_string();
            }
            "required" => {
                d.required = parse_go_bool(val)
                    .ok_or_else(|| ErrorKind::Invalid(format!("invalid value for {key}: {val}")))?;
            }
            _ => {
                if d.name.is_empty() {
                    d.name = field.clone();
                    continue;
                }
                let base = format!("unexpected key '{key}' in '{field}'");
                return Err(with_suggestion(
                    base,
                    suggest(&key, &["name", "required"], true),
                ));
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(v: &str) -> Result<Mount, ErrorKind> {
        let mut id = |s: &str| Ok(s.to_string());
        parse_mount(v, Some(&mut id))
    }

    #[test]
    fn mounts() {
        let m = full("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert_eq!(m.mount_type, MountType::Secret);
        assert_eq!(m.cache_id, "tok");
        assert!(m.required && m.read_only);
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = full("type=cache,target=/root/.cache,sharing=locked,mode=0755,uid=1").unwrap();
        assert!(!m.read_only);
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(
            full("type=cahce").unwrap_err().to_string(),
            "unsupported mount type \"cahce\" (did you mean cache?)"
        );
        assert_eq!(
            full("type=secret").unwrap_err().to_string(),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            full("type=bind,mode=1").unwrap_err().to_string(),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(full("type=tmpfs,size=64m").unwrap().size_limit, 64 << 20);
        assert!(parse_mount("from=$X", None).is_err());
        assert!(parse_mount("from=a$,type=bogus", None).is_ok());
    }

    #[test]
    fn devices() {
        assert_eq!(
            parse_device("a=b,required").unwrap(),
            Device {
                name: "a=b".into(),
                required: true
            }
        );
        assert_eq!(
            parse_device("a,name=b").unwrap_err().to_string(),
            "device name already set to a"
        );
    }
}

//! From a registry name to the endpoints to contact, with BuildKit's rules
//! (`util/resolver`): mirrors first (pull and resolve only), the origin last (also push);
//! `docker.io` is served by `registry-1.docker.io`; plain HTTP for `http = true` and, when
//! `http` is unset, for localhost, `127.0.0.0/8` and `::1`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::{Config, KeyPair, RegistryConfig};

/// The host that serves the `docker.io` registry API.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// The URL scheme to contact a host with first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One endpoint of a registry, as [`Config::hosts`] plans it. Holds paths, not loaded
/// certificates: the registry client reads the files when it builds its HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryHost {
    /// `host[:port]` to connect to (`registry-1.docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// The API root path: `/v2`, or `/v2/<prefix>` for a mirror written with a path
    /// (`harbor.example/proxy.docker.io` → `/v2/proxy.docker.io`).
    pub path: String,
    /// The scheme to try first.
    pub scheme: Scheme,
    /// With [`Scheme::Https`]: when the TLS handshake fails because the server speaks plain
    /// HTTP, retry over plain HTTP (and keep using it for this host). Set for hosts that would
    /// be plain HTTP but have TLS settings (`insecure`, `ca`, `keypair`, `tlsconfigdir`), as
    /// BuildKit does, except on port 80.
    pub http_fallback: bool,
    /// `insecure = true`: do not verify the server certificate.
    pub insecure_skip_verify: bool,
    /// Extra CA files (PEM) to trust besides the system's.
    pub ca: Vec<PathBuf>,
    /// Client certificates for mutual TLS.
    pub keypairs: Vec<KeyPair>,
    /// Directories of `*.crt` CAs and `x.cert`/`x.key` pairs, read when the client is built.
    pub tls_config_dirs: Vec<PathBuf>,
    /// Whether this is a mirror (pull and resolve only) rather than the registry itself.
    pub is_mirror: bool,
}

impl RegistryHost {
    /// Whether images may be pushed here (only to the registry itself, never a mirror).
    pub fn can_push(&self) -> bool {
        !self.is_mirror
    }

    /// `scheme://host/v2[/prefix]`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }
}

impl Config {
    /// The endpoints for the registry `domain` (a reference's domain: `docker.io`,
    /// `127.0.0.1:5000`), in the order to try them when pulling: each mirror of
    /// `[registry."<domain>"]` (configured by its own section, if any), then the registry
    /// itself. Pushes use only the last one (see [`RegistryHost::can_push`]).
    pub fn hosts(&self, domain: &str) -> Vec<RegistryHost> {
        let empty = RegistryConfig::default();
        let section = self.registries.get(domain).unwrap_or(&empty);
        let mut out = Vec::with_capacity(section.mirrors.len() + 1);
        for mirror in &section.mirrors {
            let (host, prefix) = split_mirror(mirror);
            if host.is_empty() {
                continue;
            }
            let own = self.registries.get(host).unwrap_or(&empty);
            out.push(plan(host, &format!("/v2{prefix}"), own, true));
        }
        let origin = if domain == "docker.io" {
            DOCKER_HUB_HOST
        } else {
            domain
        };
        out.push(plan(origin, "/v2", section, false));
        out
    }
}

/// BuildKit's `fillInsecureOpts`: the scheme and TLS settings for `host` under `config`.
fn plan(host: &str, path: &str, config: &RegistryConfig, is_mirror: bool) -> RegistryHost {
    let plain_http = match config.http {
        Some(http) => http,
        None => is_localhost(host),
    };
    let insecure = config.insecure == Some(true);
    let explicit_tls = insecure
        || !config.ca.is_empty()
        || !config.keypair.is_empty()
        || !config.tlsconfigdir.is_empty();
    let (scheme, http_fallback) = if !plain_http {
        (Scheme::Https, false)
    } else if explicit_tls && port_of(host) != Some("80") {
        (Scheme::Https, true)
    } else {
        (Scheme::Http, false)
    };
    RegistryHost {
        host: host.to_string(),
        path: path.to_string(),
        scheme,
        http_fallback,
        insecure_skip_verify: insecure,
        ca: config.ca.clone(),
        keypairs: config.keypair.clone(),
        tls_config_dirs: config.tlsconfigdir.clone(),
        is_mirror,
    }
}

/// Splits `host[:port]` (or `[v6]:port`) into the host and the port, if any.
fn split_host_port(host: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']')?;
        let inner = &rest[..end];
        let after = &rest[end + 1..];
        return match after {
            "" => Some((inner, None)),
            _ => after.strip_prefix(':').map(|p| (inner, Some(p))),
        };
    }
    match host.matches(':').count() {
        0 => Some((host, None)),
        1 => host.split_once(':').map(|(h, p)| (h, Some(p))),
        // An unbracketed IPv6 address: no port.
        _ => Some((host, None)),
    }
}

fn port_of(host: &str) -> Option<&str> {
    split_host_port(host).and_then(|(_, p)| p)
}

/// containerd's `MatchLocalhost`: `localhost`, any `127.0.0.0/8` address or `::1`, with or
/// without a port (`localhost:5000`, `[::1]:5000`). Other spellings of loopback (octal,
/// hexadecimal) are not recognised.
pub fn is_localhost(host: &str) -> bool {
    let Some((name, port)) = split_host_port(host) else {
        return false;
    };
    if port == Some("") {
        return false;
    }
    if name == "localhost" {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Splits a mirror as written in `mirrors = [...]` into its host and its path prefix
/// (`""` or `/proxy.docker.io`), as BuildKit does: a scheme, if written, is dropped (the
/// scheme comes from the mirror's own `[registry."host"]` section), trailing slashes too.
pub fn split_mirror(mirror: &str) -> (&str, &str) {
    let mirror = mirror.trim();
    let rest = match mirror.find("://") {
        Some(i) => &mirror[i + 3..],
        None => mirror,
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    (host, path.trim_end_matches('/'))
}

pub(crate) fn de_mirrors<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mirrors = Vec::<String>::deserialize(d)?;
    for m in &mirrors {
        let (host, _) = split_mirror(m);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(serde::de::Error::custom(format!(
                "invalid mirror {m:?}: write a host such as \"mirror.example:5000\" or \"harbor.example/proxy.docker.io\""
            )));
        }
    }
    Ok(mirrors)
}

pub(crate) fn de_registries<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, RegistryConfig>, D::Error> {
    let map = BTreeMap::<String, RegistryConfig>::deserialize(d)?;
    for key in map.keys() {
        if key.is_empty() || key.contains("://") || key.contains('/') {
            let (host, _) = split_mirror(key);
            return Err(serde::de::Error::custom(format!(
                "[registry.{key:?}]: a registry section is named by its host alone, e.g. [registry.{host:?}]"
            )));
        }
    }
    Ok(map)
}

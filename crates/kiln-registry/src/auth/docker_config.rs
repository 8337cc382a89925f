//! Docker's client config (`~/.docker/config.json`, or `$DOCKER_CONFIG/config.json`):
//! reading credentials from `auths` (base64 `auth`, `identitytoken`, `registrytoken`), from
//! credential helpers (`credHelpers` per registry, `credsStore` for all) through
//! `docker-credential-<helper> get`, and writing them for `kiln login` / `kiln logout`.
//!
//! Docker Hub is stored under `https://index.docker.io/v1/`, whatever name it is reached by
//! (`docker.io`, `index.docker.io`, `registry-1.docker.io`); other registries by host. Entries
//! written with a scheme or path (`https://registry.example/v1/`) match their host, as in the
//! Docker CLI.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::{CredentialStore, Credentials};
use crate::secret::Secret;

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; `None` without either
/// variable.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The Docker CLI's key for a registry: [`DOCKER_HUB_KEY`] for Docker Hub under any of its
/// names, else the host (scheme and path removed).
pub fn registry_key(registry: &str) -> String {
    let host = convert_to_hostname(registry);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => host.to_string(),
    }
}

/// The Docker CLI's `ConvertToHostname`: strips `http://`/`https://` and any path.
fn convert_to_hostname(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

#[derive(Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// Docker's `config.json` as a [`CredentialStore`], and the writer behind `kiln login`.
///
/// The file is read once, at [`DockerConfig::load`]; helper answers are cached per registry
/// for the life of the value.
pub struct DockerConfig {
    path: PathBuf,
    file: RwLock<ConfigFile>,
    cache: Mutex<HashMap<String, Option<Credentials>>>,
    helper_path: Option<OsString>,
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file();
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("registries", &file.auths.keys().collect::<Vec<_>>())
            .field("creds_store", &file.creds_store)
            .field("cred_helpers", &file.cred_helpers)
            .finish()
    }
}

/// A JSON error without the offending value (which could be a secret).
fn json_error(path: &Path, e: &serde_json::Error) -> String {
    format!(
        "reading credentials from {}: invalid JSON at line {} column {}",
        path.display(),
        e.line(),
        e.column()
    )
}

impl DockerConfig {
    /// Reads the default file ([`docker_config_path`]); a missing file (or no `HOME`) is an
    /// empty config.
    pub fn load_default() -> Result<DockerConfig, String> {
        match docker_config_path() {
            Some(p) => DockerConfig::load(&p),
            None => Ok(DockerConfig {
                path: PathBuf::new(),
                file: RwLock::default(),
                cache: Mutex::default(),
                helper_path: None,
            }),
        }
    }

    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfig, String> {
        Ok(DockerConfig {
            path: path.to_path_buf(),
            file: RwLock::new(read_file(path)?),
            cache: Mutex::default(),
            helper_path: None,
        })
    }

    /// Looks credential helpers up in `path` (a `PATH`-style list) instead of `$PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_path = Some(path.into());
        self
    }

    fn file(&self) -> RwLockReadGuard<'_, ConfigFile> {
        // A panic while holding the lock leaves data that is still a parsed file.
        self.file.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the file after this value changed it.
    fn reload(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let fresh = read_file(&self.path)?;
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The file this config is read from and written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `registry`, if one is configured.
    fn helper_for(&self, key: &str) -> Option<String> {
        let host = convert_to_hostname(key);
        let file = self.file();
        file.cred_helpers
            .get(key)
            .or_else(|| file.cred_helpers.get(host))
            .or_else(|| {
                (key == DOCKER_HUB_KEY)
                    .then(|| file.cred_helpers.get("docker.io"))
                    .flatten()
            })
            .or(file.creds_store.as_ref())
            .filter(|h| !h.is_empty())
            .cloned()
    }

    fn lookup(&self, key: &str) -> Result<Option<Credentials>, String> {
        if let Some(helper) = self.helper_for(key) {
            return helper_get(&helper, key, &self.path, self.helper_path.as_deref());
        }
        let file = self.file();
        let entry = file.auths.get(key).or_else(|| {
            file.auths
                .iter()
                .find(|(k, _)| registry_key(k) == key)
                .map(|(_, v)| v)
        });
        match entry {
            Some(e) => self.decode(key, e),
            None => Ok(None),
        }
    }

    fn decode(&self, key: &str, e: &AuthEntry) -> Result<Option<Credentials>, String> {
        let invalid = || {
            format!(
                "reading credentials from {}: the auth entry for {key} is not base64 of user:password; run kiln login {} again",
                self.path.display(),
                convert_to_hostname(key)
            )
        };
        let (mut username, mut password) = (
            e.username.clone().unwrap_or_default(),
            e.password.clone().unwrap_or_default(),
        );
        if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = BASE64.decode(auth.trim()).map_err(|_| invalid())?;
            let text = String::from_utf8(raw).map_err(|_| invalid())?;
            let (u, p) = text.split_once(':').ok_or_else(invalid)?;
            username = u.to_string();
            password = p.to_string();
        }
        if let Some(token) = e.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::RegistryToken(Secret::new(token))));
        }
        if let Some(token) = e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken {
                username,
                token: Secret::new(token),
            }));
        }
        if username.is_empty() && password.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials::Basic {
            username,
            password: Secret::new(password),
        }))
    }

    /// Stores credentials for `registry` (`kiln login`): in its credential helper when one is
    /// configured, else as an `auths` entry (base64 `user:password`) in the file, keeping every
    /// other setting of the file. The file is replaced atomically, mode 0600.
    pub fn store(&self, registry: &str, credentials: &Credentials) -> Result<(), String> {
        let key = registry_key(registry);
        if let Some(helper) = self.helper_for(&key) {
            let (username, secret) = match credentials {
                Credentials::Basic { username, password } => (username.as_str(), password.expose()),
                Credentials::IdentityToken { token, .. } => ("<token>", token.expose()),
                Credentials::RegistryToken(token) => ("<token>", token.expose()),
            };
            let input =
                serde_json::json!({"ServerURL": key, "Username": username, "Secret": secret});
            helper_run(
                &helper,
                "store",
                input.to_string().as_bytes(),
                &self.path,
                self.helper_path.as_deref(),
            )?;
            return self.forget(&key);
        }
        let mut entry = serde_json::Map::new();
        match credentials {
            Credentials::Basic { username, password } => {
                let auth = BASE64.encode(format!("{username}:{}", password.expose()));
                entry.insert("auth".into(), auth.into());
            }
            Credentials::IdentityToken { username, token } => {
                entry.insert("auth".into(), BASE64.encode(format!("{username}:")).into());
                entry.insert("identitytoken".into(), token.expose().into());
            }
            Credentials::RegistryToken(token) => {
                entry.insert("registrytoken".into(), token.expose().into());
            }
        }
        self.edit_auths(|auths| {
            auths.retain(|k, _| registry_key(k) != key);
            auths.insert(key.clone(), serde_json::Value::Object(entry));
        })?;
        self.reload()?;
        self.forget(&key)
    }

    /// Removes the credentials of `registry` (`kiln logout`); returns whether there were any
    /// in the file (helpers are asked to erase in any case).
    pub fn erase(&self, registry: &str) -> Result<bool, String> {
        let key = registry_key(registry);
        if let Some(helper) = self.helper_for(&key) {
            helper_run(
                &helper,
                "erase",
                key.as_bytes(),
                &self.path,
                self.helper_path.as_deref(),
            )?;
        }
        let mut removed = false;
        let present = self.file().auths.keys().any(|k| registry_key(k) == key);
        if present {
            self.edit_auths(|auths| {
                let before = auths.len();
                auths.retain(|k, _| registry_key(k) != key);
                removed = auths.len() != before;
            })?;
            self.reload()?;
        }
        self.forget(&key)?;
        Ok(removed)
    }

    fn forget(&self, key: &str) -> Result<(), String> {
        self.cache
            .lock()
            .map_err(|_| "credential cache poisoned".to_string())?
            .remove(key);
        Ok(())
    }

    /// Rewrites the `auths` object of the file on disk, keeping everything else.
    fn edit_auths(
        &self,
        f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Result<(), String> {
        let path = &self.path;
        if path.as_os_str().is_empty() {
            return Err(
                "cannot tell where Docker's config.json is: set DOCKER_CONFIG or HOME".to_string(),
            );
        }
        let mut doc = match std::fs::read(path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => serde_json::json!({}),
            Ok(data) => serde_json::from_slice(&data).map_err(|e| json_error(path, &e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let Some(obj) = doc.as_object_mut() else {
            return Err(format!("{} is not a JSON object", path.display()));
        };
        let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        if let Some(map) = auths.as_object_mut() {
            f(map);
        }
        let text = serde_json::to_vec_pretty(&doc)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        write_private(path, &text).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Parses the file at `path`; missing or blank is an empty config.
fn read_file(path: &Path) -> Result<ConfigFile, String> {
    match std::fs::read(path) {
        Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(ConfigFile::default()),
        Ok(data) => serde_json::from_slice(&data).map_err(|e| json_error(path, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(format!("reading credentials from {}: {e}", path.display())),
    }
}

/// Writes `data` to `path` through a temporary file in the same directory, mode 0600.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl CredentialStore for DockerConfig {
    fn get(&self, host: &str) -> Result<Option<Credentials>, String> {
        let key = registry_key(host);
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return Ok(hit.clone());
        }
        let found = self.lookup(&key)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, found.clone());
        }
        Ok(found)
    }
}

/// The output of a helper, without its secret parts in any error.
fn helper_run(
    helper: &str,
    action: &str,
    input: &[u8],
    config: &Path,
    search_path: Option<&OsStr>,
) -> Result<Vec<u8>, String> {
    if helper.contains(['/', '\\']) || helper.starts_with('.') {
        return Err(format!(
            "invalid credential helper name {helper:?} in {}",
            config.display()
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut command = Command::new(&program);
    if let Some(p) = search_path {
        command.env("PATH", p);
    }
    let mut child = command
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the credential helper {program} named in {} is not installed: install it, or remove it from credsStore/credHelpers",
                    config.display()
                )
            } else {
                format!("running credential helper {program}: {e}")
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input makes this fail; its exit status
        // tells the real story below.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running credential helper {program}: {e}"))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let said = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .trim()
    .chars()
    .take(200)
    .collect::<String>();
    Err(format!(
        "credential helper {program} {action} failed ({}): {said}",
        out.status
    ))
}

fn helper_get(
    helper: &str,
    key: &str,
    config: &Path,
    search_path: Option<&OsStr>,
) -> Result<Option<Credentials>, String> {
    let out = match helper_run(helper, "get", key.as_bytes(), config, search_path) {
        Ok(out) => out,
        Err(e) if e.contains("credentials not found") => return Ok(None),
        Err(e) => return Err(e),
    };
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(&out).map_err(|e| {
        format!(
            "credential helper docker-credential-{helper} answered invalid JSON (line {} column {})",
            e.line(),
            e.column()
        )
    })?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    if a.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken {
            username: String::new(),
            token: Secret::new(a.secret),
        }));
    }
    Ok(Some(Credentials::Basic {
        username: a.username,
        password: Secret::new(a.secret),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys() {
        for hub in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
        ] {
            assert_eq!(registry_key(hub), DOCKER_HUB_KEY, "{hub}");
        }
        assert_eq!(
            registry_key("https://reg.example:5000/v1/"),
            "reg.example:5000"
        );
        assert_eq!(registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn reads_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = BASE64.encode("alice:s3cr:et");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{
                    "https://index.docker.io/v1/":{{"auth":"{auth}"}},
                    "https://reg.example/v1/":{{"username":"bob","password":"pw"}},
                    "tok.example":{{"identitytoken":"refresh"}},
                    "bad.example":{{"auth":"!!!"}},
                    "empty.example":{{}}
                }},"HttpHeaders":{{"X":"y"}}}}"#
            ),
        )
        .unwrap();
        let c = DockerConfig::load(&path).unwrap();
        let hub = c.get("registry-1.docker.io").unwrap().unwrap();
        assert_eq!(hub, Credentials::basic("alice", "s3cr:et"));
        assert_eq!(c.get("docker.io").unwrap().unwrap(), hub);
        assert_eq!(
            c.get("reg.example").unwrap().unwrap(),
            Credentials::basic("bob", "pw")
        );
        assert!(matches!(
            c.get("tok.example").unwrap(),
            Some(Credentials::IdentityToken { .. })
        ));
        let e = c.get("bad.example").unwrap_err();
        assert!(e.contains("not base64") && !e.contains("!!!"), "{e}");
        assert_eq!(c.get("empty.example").unwrap(), None);
        assert_eq!(c.get("other.example").unwrap(), None);
        // Debug never shows secrets.
        let dbg = format!("{c:?} {hub:?}");
        assert!(!dbg.contains("s3cr") && !dbg.contains(&auth), "{dbg}");
    }

    #[test]
    fn broken_file_errors_hide_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"x":{"auth":12345678}}}"#).unwrap();
        let e = DockerConfig::load(&path).unwrap_err();
        assert!(
            e.contains("invalid JSON at line 1") && !e.contains("12345678"),
            "{e}"
        );
        // Missing file: empty.
        let c = DockerConfig::load(&dir.path().join("none.json")).unwrap();
        assert_eq!(c.get("docker.io").unwrap(), None);
    }

    #[test]
    fn login_and_logout_keep_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"docker.io":{"auth":"b2xkOm9sZA=="}},"psFormat":"x"}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&path).unwrap();
        c.store("docker.io", &Credentials::basic("u", "p")).unwrap();
        c.store("127.0.0.1:5000", &Credentials::basic("v", "q"))
            .unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x");
        assert_eq!(doc["auths"][DOCKER_HUB_KEY]["auth"], BASE64.encode("u:p"));
        assert!(doc["auths"].get("docker.io").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(
            c.get("registry-1.docker.io").unwrap().unwrap(),
            Credentials::basic("u", "p")
        );
        assert!(c.erase("docker.io").unwrap());
        assert!(!c.erase("docker.io").unwrap());
        assert_eq!(c.get("docker.io").unwrap(), None);
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(c.get("docker.io").unwrap(), None);
        assert_eq!(
            c.get("127.0.0.1:5000").unwrap().unwrap(),
            Credentials::basic("v", "q")
        );
    }

    #[test]
    fn helpers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-kilntest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n  reg.example) echo '{\"ServerURL\":\"reg.example\",\"Username\":\"h\",\"Secret\":\"hs\"}' ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credHelpers":{"reg.example":"kilntest","other.example":"kilntest","gone.example":"nonexistent-kiln"}}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&path).unwrap().with_helper_path(&bin);
        assert_eq!(
            c.get("reg.example").unwrap().unwrap(),
            Credentials::basic("h", "hs")
        );
        assert_eq!(c.get("other.example").unwrap(), None);
        let e = c.get("gone.example").unwrap_err();
        assert!(
            e.contains("docker-credential-nonexistent-kiln") && e.contains("not installed"),
            "{e}"
        );
    }
}

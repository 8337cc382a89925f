//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution server, v2)
//! started on `127.0.0.1:<free port>` with a temporary storage directory, optionally behind
//! htpasswd basic auth and TLS with a CA made for the test; stopped (by its own PID) when the
//! [`TestRegistry`] is dropped.
//!
//! Where `/usr/bin/docker-registry` is missing, [`TestRegistry::start`] prints a skip line and
//! returns `None`, except under `CI=true`, where a missing registry fails the test.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::say;

/// Where Debian installs the registry.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// How a [`TestRegistry`] is set up.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Require HTTP basic auth with this user and password (htpasswd, bcrypt).
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` signed by a fresh CA.
    pub tls: bool,
}

/// A running registry; killed on drop.
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
    ca: Option<PathBuf>,
    basic_auth: Option<(String, String)>,
}

impl TestRegistry {
    /// Starts a registry and waits until `/v2/` answers. `None` (after a skip line) when the
    /// registry is not installed and `CI` is not `true`.
    pub fn start(options: RegistryOptions) -> Option<TestRegistry> {
        if !Path::new(REGISTRY_BINARY).exists() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "{REGISTRY_BINARY} is missing: install the docker-registry package (scripts/setup.sh does)"
            );
            say(&format!(
                "registry tests: skipped ({REGISTRY_BINARY} is missing; apt-get install docker-registry)"
            ));
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .expect("creating the registry's temporary directory");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n  secret: kiln-test-secret\n",
            dir.path().join("data").display()
        );
        let ca = if options.tls {
            let (ca, cert, key) = make_tls(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            Some(ca)
        } else {
            None
        };
        if let Some((user, password)) = &options.basic_auth {
            let hash = bcrypt::hash(password, 4).expect("hashing the test password");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("writing htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("writing the registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("creating the log");
        let log2 = log.try_clone().expect("cloning the log handle");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("starting docker-registry");
        let mut registry = TestRegistry {
            child,
            host,
            dir,
            ca,
            basic_auth: options.basic_auth,
        };
        registry.wait_ready();
        Some(registry)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.ca.is_some() { "https" } else { "http" }
    }

    /// The PEM file of the CA that signed the server certificate (TLS registries only).
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The user and password basic auth requires, if it does.
    pub fn basic_auth(&self) -> Option<(&str, &str)> {
        self.basic_auth
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's storage directory (`docker/registry/v2/...` inside).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry exited with {status} before answering:\n{}",
                    self.log()
                );
            }
            if answers(&self.host) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry on {} did not answer /v2/ within 30s:\n{}",
                self.host,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // Child::kill signals this child's own PID, nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something speaking HTTP answers `GET /v2/` on `host` (a TLS server answers a plain
/// request with a 400, which also shows it is up).
fn answers(host: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/1.")
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free port on 127.0.0.1")
}

/// Writes a CA and a server certificate for 127.0.0.1/localhost signed by it; returns the
/// paths of the CA certificate, the server certificate and the server key.
fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("generating the CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kiln test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("signing the CA");

    let key = KeyPair::generate().expect("generating the server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            Ipv4Addr::LOCALHOST,
        )));
    params
        .distinguished_name
        .push(DnType::CommonName, "kiln test registry");
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("signing the server certificate");

    let ca_path = dir.join("ca.pem");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server-key.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("writing ca.pem");
    std::fs::write(&cert_path, cert.pem()).expect("writing server.pem");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing server-key.pem");
    (ca_path, cert_path, key_path)
}

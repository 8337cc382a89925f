//! Unit tests: parsing buildkitd-shaped files, errors with lines, host planning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::*;

const FULL: &str = r#"
root = "/srv/kiln"
debug = true
insecure-entitlements = ["network.host"]

[grpc]
  address = ["tcp://0.0.0.0:1234"]

[worker.oci]
  enabled = true
  platforms = ["linux/amd64", "linux/arm64"]
  max-parallelism = 4
  gc = true
  reservedSpace = "30%"
  noProcessSandbox = false
  [worker.oci.labels]
    "foo" = "bar"
  [[worker.oci.gcpolicy]]
    keepBytes = "512MB"
    keepDuration = "48h"
    filters = ["type==source.local", "type==exec.cachemount"]
  [[worker.oci.gcpolicy]]
    all = true
    keepBytes = 1024000000
    keepDuration = 172800

[worker.containerd]
  address = "/run/containerd/containerd.sock"

[registry."docker.io"]
  mirrors = ["127.0.0.1:5000", "harbor.example/proxy.docker.io/"]
  http = true
  insecure = true
  ca = ["/etc/config/myca.pem"]
  [[registry."docker.io".keypair]]
    key = "/etc/config/key.pem"
    cert = "/etc/config/cert.pem"

[registry."harbor.example"]
  ca = ["/etc/harbor-ca.pem"]

[frontend."dockerfile.v0"]
  enabled = true
"#;

#[test]
fn parses_a_buildkitd_shaped_file() {
    let c = parse(FULL, Some(Path::new("/etc/kiln/kiln.toml"))).unwrap();
    assert_eq!(c.root(), Path::new("/srv/kiln"));
    assert!(c.debug);
    assert_eq!(c.insecure_entitlements, vec!["network.host"]);
    let oci = &c.worker.oci;
    assert_eq!(oci.max_parallelism, Some(4));
    assert_eq!(oci.enabled, Some(true));
    assert_eq!(oci.reserved_space, Some(DiskSpace::Percent(30)));
    assert_eq!(oci.labels.get("foo").map(String::as_str), Some("bar"));
    assert_eq!(oci.gcpolicy.len(), 2);
    assert_eq!(
        oci.gcpolicy[0].keep_bytes,
        Some(DiskSpace::Bytes(512 * 1024 * 1024))
    );
    assert_eq!(
        oci.gcpolicy[0].keep_duration,
        Some(Duration::from_secs(48 * 3600))
    );
    assert_eq!(oci.gcpolicy[0].filters.len(), 2);
    assert!(oci.gcpolicy[1].all);
    assert_eq!(
        oci.gcpolicy[1].keep_bytes,
        Some(DiskSpace::Bytes(1_024_000_000))
    );
    assert_eq!(
        oci.gcpolicy[1].keep_duration,
        Some(Duration::from_secs(172_800))
    );

    let hub = c.registry("docker.io").unwrap();
    assert_eq!(hub.mirrors.len(), 2);
    assert_eq!(hub.http, Some(true));
    assert_eq!(hub.insecure, Some(true));
    assert_eq!(hub.ca, vec![PathBuf::from("/etc/config/myca.pem")]);
    assert_eq!(hub.keypair[0].key, PathBuf::from("/etc/config/key.pem"));
    assert_eq!(hub.keypair[0].cert, PathBuf::from("/etc/config/cert.pem"));
    assert!(c.registry("quay.io").is_none());
    // Every key is known to buildkitd: no warnings.
    assert!(c.unknown_keys().is_empty(), "{:?}", c.unknown_keys());
    assert_eq!(c.source(), Some(Path::new("/etc/kiln/kiln.toml")));
}

#[test]
fn unknown_keys_are_tolerated_and_reported() {
    let text = r#"
rooot = "/x"
[registry."docker.io"]
  mirror = ["m:5000"]
  [[registry."docker.io".keypair]]
    key = "k"
    cert = "c"
    pass = "p"
[worker.oci]
  max-paralelism = 3
  binary = "crun"
  [[worker.oci.gcpolicy]]
    keepbytes = 1
[mystery.section]
  a = 1
"#;
    let c = parse(text, None).unwrap();
    assert_eq!(
        c.unknown_keys(),
        [
            "mystery",
            "registry.\"docker.io\".keypair[0].pass",
            "registry.\"docker.io\".mirror",
            "rooot",
            "worker.oci.gcpolicy[0].keepbytes",
            "worker.oci.max-paralelism",
        ]
    );
    assert!(c.registry("docker.io").unwrap().mirrors.is_empty());
}

fn parse_err(text: &str) -> String {
    parse(text, Some(Path::new("/etc/kiln/kiln.toml")))
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_file_line_and_key() {
    let e = parse_err("root = \"/x\"\n[registry.\"docker.io\"]\n  http = \"yes\"\n");
    assert!(e.starts_with("/etc/kiln/kiln.toml:3:10: "), "{e}");
    assert!(e.contains("expected a boolean"), "{e}");
    assert!(e.ends_with("(key registry.\"docker.io\".http)"), "{e}");

    let e = parse_err("[worker.oci]\nmax-parallelism = -1\n");
    assert!(e.starts_with("/etc/kiln/kiln.toml:2:19: "), "{e}");
    assert!(e.contains("worker.oci.max-parallelism"), "{e}");

    let e = parse_err("[[worker.oci.gcpolicy]]\nkeepBytes = \"lots\"\n");
    assert!(
        e.starts_with("/etc/kiln/kiln.toml:2:13: invalid disk space \"lots\""),
        "{e}"
    );

    let e = parse_err("[[worker.oci.gcpolicy]]\nkeepDuration = \"2 days\"\n");
    assert!(e.contains("invalid duration \"2 days\""), "{e}");
    let e = parse_err("[[worker.oci.gcpolicy]]\nkeepDuration = true\n");
    assert!(e.contains("seconds (172800) or a duration"), "{e}");

    let e = parse_err("[worker.oci]\nreservedSpace = \"120%\"\n");
    assert!(e.contains("at most 100%"), "{e}");

    // Malformed TOML.
    let e = parse_err("root = \n");
    assert!(e.starts_with("/etc/kiln/kiln.toml:1:"), "{e}");

    let e = parse_err("[registry.\"d\"]\n[[registry.\"d\".keypair]]\nkey = \"k\"\n");
    assert!(e.contains("missing field `cert`"), "{e}");
    assert!(e.starts_with("/etc/kiln/kiln.toml:2:"), "{e}");

    let e = parse_err("[registry.\"https://docker.io/\"]\nhttp = true\n");
    assert!(e.contains("[registry.\"docker.io\"]"), "{e}");

    let e = parse_err("[registry.\"docker.io\"]\nmirrors = [\"\"]\n");
    assert!(e.contains("invalid mirror"), "{e}");
}

#[test]
fn load_missing_default_is_empty_but_missing_explicit_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("kiln.toml");
    let e = load(Some(&missing)).unwrap_err();
    assert!(matches!(e, Error::Read { .. }));
    assert!(
        e.to_string()
            .starts_with(&format!("reading kiln config {}: ", missing.display()))
    );

    std::fs::write(&missing, "root = \"/r\"\n").unwrap();
    let c = load(Some(&missing)).unwrap();
    assert_eq!(c.root(), Path::new("/r"));
    assert_eq!(c.path_for_messages(), missing.as_path());

    // The default path: absent on test machines, or present and valid.
    if !Path::new(DEFAULT_CONFIG_PATH).exists() {
        let c = load(None).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.root(), Path::new(DEFAULT_ROOT));
        assert_eq!(c.path_for_messages(), Path::new(DEFAULT_CONFIG_PATH));
    }
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_disk_space("1024"), Ok(DiskSpace::Bytes(1024)));
    assert_eq!(parse_disk_space("1k"), Ok(DiskSpace::Bytes(1024)));
    assert_eq!(parse_disk_space("2GiB"), Ok(DiskSpace::Bytes(2 << 30)));
    assert_eq!(parse_disk_space("1.5 mb"), Ok(DiskSpace::Bytes(1_572_864)));
    assert_eq!(parse_disk_space("10%"), Ok(DiskSpace::Percent(10)));
    assert!(parse_disk_space("10 %x").is_err());
    assert!(parse_disk_space("12XB").is_err());
    assert!(parse_disk_space("").is_err());
    assert_eq!(DiskSpace::Percent(10).as_bytes(1000), 100);

    assert_eq!(parse_duration("172800"), Ok(Duration::from_secs(172_800)));
    assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(172_800)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert!(parse_duration("-1h").is_err());
    assert!(parse_duration("5d").is_err());
    assert!(parse_duration("h").is_err());
}

#[test]
fn localhost_matching() {
    for h in [
        "localhost",
        "localhost:5000",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.1.2.3:80",
        "::1",
        "[::1]",
        "[::1]:5000",
    ] {
        assert!(is_localhost(h), "{h}");
    }
    for h in [
        "localhost:",
        "docker.io",
        "10.0.0.1:5000",
        "localhost.example:5000",
        "128.0.0.1",
        "[::2]:5000",
        "0177.0.0.1",
    ] {
        assert!(!is_localhost(h), "{h}");
    }
}

#[test]
fn mirrors_split_like_buildkit() {
    assert_eq!(split_mirror("m.example:5000"), ("m.example:5000", ""));
    assert_eq!(
        split_mirror("https://harbor.example/proxy.docker.io/"),
        ("harbor.example", "/proxy.docker.io")
    );
    assert_eq!(split_mirror("h/a/b"), ("h", "/a/b"));
}

fn hosts_of(text: &str, domain: &str) -> Vec<RegistryHost> {
    parse(text, None).unwrap().hosts(domain)
}

#[test]
fn hosts_default_rules() {
    let hub = hosts_of("", "docker.io");
    assert_eq!(hub.len(), 1);
    assert_eq!(hub[0].base_url(), "https://registry-1.docker.io/v2");
    assert!(hub[0].can_push());

    let local = hosts_of("", "localhost:5000");
    assert_eq!(local[0].base_url(), "http://localhost:5000/v2");
    assert!(!local[0].http_fallback);
    assert_eq!(hosts_of("", "127.0.0.1:5000")[0].scheme, Scheme::Http);
    assert_eq!(hosts_of("", "[::1]:5000")[0].scheme, Scheme::Http);
    assert_eq!(hosts_of("", "registry.example")[0].scheme, Scheme::Https);

    // http = false wins over the localhost default.
    let h = hosts_of(
        "[registry.\"localhost:5000\"]\nhttp = false\n",
        "localhost:5000",
    );
    assert_eq!(h[0].scheme, Scheme::Https);
    // http = true on a remote host.
    let h = hosts_of("[registry.\"r.example\"]\nhttp = true\n", "r.example");
    assert_eq!(h[0].base_url(), "http://r.example/v2");
    // insecure alone: HTTPS without verification.
    let h = hosts_of("[registry.\"r.example\"]\ninsecure = true\n", "r.example");
    assert_eq!(h[0].scheme, Scheme::Https);
    assert!(h[0].insecure_skip_verify && !h[0].http_fallback);
    // Localhost with a CA: HTTPS first, then plain HTTP.
    let h = hosts_of(
        "[registry.\"127.0.0.1:5000\"]\nca = [\"/ca.pem\"]\n",
        "127.0.0.1:5000",
    );
    assert_eq!(h[0].scheme, Scheme::Https);
    assert!(h[0].http_fallback && !h[0].insecure_skip_verify);
    assert_eq!(h[0].ca, vec![PathBuf::from("/ca.pem")]);
    // ... except on port 80.
    let h = hosts_of(
        "[registry.\"localhost:80\"]\ninsecure = true\n",
        "localhost:80",
    );
    assert_eq!(h[0].scheme, Scheme::Http);
    // http = true and insecure = true: HTTPS without verification, falling back to HTTP.
    let h = hosts_of(
        "[registry.\"r.example:5000\"]\nhttp = true\ninsecure = true\n",
        "r.example:5000",
    );
    assert_eq!(h[0].scheme, Scheme::Https);
    assert!(h[0].http_fallback && h[0].insecure_skip_verify);
}

#[test]
fn hosts_mirrors_first_with_their_own_sections() {
    let text = r#"
[registry."docker.io"]
  mirrors = ["127.0.0.1:5000", "harbor.example/proxy.docker.io", "plain.example"]
  ca = ["/hub-ca.pem"]
[registry."harbor.example"]
  insecure = true
[registry."plain.example"]
  http = true
"#;
    let h = hosts_of(text, "docker.io");
    let urls: Vec<String> = h.iter().map(RegistryHost::base_url).collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:5000/v2",
            "https://harbor.example/v2/proxy.docker.io",
            "http://plain.example/v2",
            "https://registry-1.docker.io/v2",
        ]
    );
    assert!(h[..3].iter().all(|h| h.is_mirror && !h.can_push()));
    assert!(h[1].insecure_skip_verify);
    assert!(h[0].ca.is_empty());
    assert_eq!(h[3].ca, vec![PathBuf::from("/hub-ca.pem")]);
    assert!(h[3].can_push());
}

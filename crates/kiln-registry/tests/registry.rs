//! End-to-end tests against a real registry (Debian's docker-registry, started by
//! kiln-testkit): push an image with a two-platform index, pull it back by tag and digest,
//! resolve per platform, check it with skopeo, and the failure paths: auth, corrupt content,
//! TLS with a custom CA, plain HTTP fallback, mirrors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kiln_config::Config;
use kiln_platforms::Platform;
use kiln_reference::{Reference, parse_normalized_named};
use kiln_registry::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use kiln_registry::{
    BlobData, Client, Credentials, Descriptor, DockerConfig, ErrorKind, ManifestDocument,
    PushBlobOptions, PushedBlob, StaticCredentials,
};
use kiln_testkit::registry::{RegistryOptions, TestRegistry, free_port};

/// A tiny image: one gzip layer shared by a linux/amd64 and a linux/arm64 config.
struct Image {
    layer: Bytes,
    layer_desc: Descriptor,
    configs: Vec<(Platform, Bytes, Descriptor)>,
    manifests: Vec<(Platform, Bytes, Descriptor)>,
    index: Bytes,
    index_desc: Descriptor,
}

fn make_image() -> Image {
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from kiln\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &content[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = kiln_registry::Digest::sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer = Bytes::from(gz.finish().unwrap());
    let layer_desc = Descriptor::of(OCI_LAYER_GZIP, &layer);

    let mut configs = Vec::new();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let platform = Platform::new("linux", arch);
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        });
        let config = Bytes::from(serde_json::to_vec(&config).unwrap());
        let config_desc = Descriptor::of(OCI_CONFIG, &config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc,
            "layers": [layer_desc],
        });
        let manifest = Bytes::from(serde_json::to_vec(&manifest).unwrap());
        let mut manifest_desc = Descriptor::of(OCI_MANIFEST, &manifest);
        manifest_desc.platform = Some(platform.clone());
        configs.push((platform.clone(), config, config_desc));
        manifests.push((platform, manifest, manifest_desc));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests.iter().map(|m| &m.2).collect::<Vec<_>>(),
    });
    let index = Bytes::from(serde_json::to_vec(&index).unwrap());
    let index_desc = Descriptor::of(OCI_INDEX, &index);
    Image {
        layer,
        layer_desc,
        configs,
        manifests,
        index,
        index_desc,
    }
}

fn reference(host: &str, repo_tag: &str) -> Reference {
    parse_normalized_named(&format!("{host}/{repo_tag}")).unwrap()
}

fn config(text: &str) -> Arc<Config> {
    Arc::new(kiln_config::parse(text, None).unwrap())
}

/// Pushes the image to `host/repo:tag`; the first config goes up in PATCH chunks.
async fn push_image(client: &Client, host: &str, repo: &str, tag: &str, image: &Image) {
    let r = reference(host, &format!("{repo}:{tag}"));
    let pushed = client
        .push_blob(
            &r,
            &image.layer_desc,
            BlobData::Bytes(image.layer.clone()),
            &PushBlobOptions::default(),
        )
        .await
        .unwrap();
    assert!(matches!(pushed, PushedBlob::Uploaded | PushedBlob::Existed));
    for (i, (_, config, desc)) in image.configs.iter().enumerate() {
        let options = PushBlobOptions {
            chunk_size: (i == 0).then_some(7),
            ..Default::default()
        };
        client
            .push_blob(&r, desc, BlobData::Bytes(config.clone()), &options)
            .await
            .unwrap();
    }
    for (_, manifest, desc) in &image.manifests {
        let by_digest = r
            .with_digest(&desc.digest.to_string())
            .unwrap()
            .trimmed_to_digest();
        let got = client
            .push_manifest(&by_digest, OCI_MANIFEST, manifest.clone())
            .await
            .unwrap();
        assert_eq!(got.digest, desc.digest);
    }
    let got = client
        .push_manifest(&r, OCI_INDEX, image.index.clone())
        .await
        .unwrap();
    assert_eq!(got.digest, image.index_desc.digest);
}

trait DigestOnly {
    fn trimmed_to_digest(self) -> Reference;
}

impl DigestOnly for Reference {
    /// `name@digest` without the tag.
    fn trimmed_to_digest(self) -> Reference {
        let digest = self.digest().unwrap().to_string();
        self.trimmed().with_digest(&digest).unwrap()
    }
}

fn skopeo_raw(host: &str, repo_tag: &str, extra: &[&str]) -> Option<Vec<u8>> {
    if !Path::new("/usr/bin/skopeo").exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "/usr/bin/skopeo is missing: install the skopeo package"
        );
        kiln_testkit::say("registry tests: skopeo check skipped (/usr/bin/skopeo is missing)");
        return None;
    }
    let out = std::process::Command::new("/usr/bin/skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{host}/{repo_tag}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[tokio::test]
async fn push_then_pull_by_tag_digest_and_platform() {
    let Some(reg) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let host = reg.host();
    let image = make_image();
    let client = Client::anonymous(config(""));
    push_image(&client, host, "kiln/app", "v1", &image).await;

    // Pushing again finds everything there.
    let r = reference(host, "kiln/app:v1");
    let again = client
        .push_blob(
            &r,
            &image.layer_desc,
            BlobData::Bytes(image.layer.clone()),
            &PushBlobOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again, PushedBlob::Existed);
    assert_eq!(
        client
            .blob_exists(&r, &image.layer_desc.digest)
            .await
            .unwrap(),
        Some(image.layer_desc.size)
    );

    // Resolve by tag and by digest.
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.descriptor.digest, image.index_desc.digest);
    assert_eq!(resolved.descriptor.size, image.index_desc.size);
    assert_eq!(resolved.descriptor.media_type, OCI_INDEX);
    assert_eq!(resolved.host, host);
    let by_digest = r
        .with_digest(&image.index_desc.digest.to_string())
        .unwrap()
        .trimmed_to_digest();
    let resolved2 = client.resolve(&by_digest).await.unwrap();
    assert_eq!(resolved2.descriptor.digest, image.index_desc.digest);

    // Fetch and parse the index.
    let data = client
        .fetch_manifest(&r, &resolved.descriptor)
        .await
        .unwrap();
    assert_eq!(data, image.index);
    let ManifestDocument::Index(index) =
        kiln_registry::media::parse_manifest(OCI_INDEX, &data).unwrap()
    else {
        panic!("not an index");
    };
    assert_eq!(index.manifests.len(), 2);

    // Per platform.
    for (platform, manifest, desc) in &image.manifests {
        let img = client.resolve_platform(&r, platform).await.unwrap();
        assert_eq!(img.descriptor.digest, desc.digest, "{platform}");
        assert_eq!(&img.manifest_bytes, manifest);
        assert_eq!(img.platform.architecture, platform.architecture);
        assert_eq!(
            img.index.as_ref().unwrap().0.digest,
            image.index_desc.digest
        );
        let config = &image.configs.iter().find(|c| &c.0 == platform).unwrap().1;
        assert_eq!(&img.config, config);
    }
    // arm64/v8 is what a plain arm64 entry means; an arm/v7 machine has no image here.
    let img = client
        .resolve_platform(&r, &kiln_platforms::parse("linux/arm64/v8").unwrap())
        .await
        .unwrap();
    assert_eq!(img.platform.architecture, "arm64");
    let err = client
        .resolve_platform(&r, &kiln_platforms::parse("linux/s390x").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::PlatformNotFound { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("no image for platform linux/s390x"), "{text}");
    assert!(text.contains("linux/amd64, linux/arm64"), "{text}");

    // The layer, streamed and verified.
    let reader = client.fetch_blob(&r, &image.layer_desc).await.unwrap();
    let mut out = Vec::new();
    let n = reader.copy_to(&mut out).await.unwrap();
    assert_eq!(n, image.layer_desc.size);
    assert_eq!(out, image.layer);

    // A tag that does not exist.
    let err = client
        .resolve(&reference(host, "kiln/app:nope"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.status(), Some(404));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "pulling {host}/kiln/app:nope: 404 not found (MANIFEST_UNKNOWN"
        )),
        "{text}"
    );

    // Cross-repository mount.
    let other = reference(host, "kiln/other:v1");
    let mounted = client
        .push_blob(
            &other,
            &image.layer_desc,
            BlobData::Bytes(image.layer.clone()),
            &PushBlobOptions {
                mount_from: Some(r.clone()),
                chunk_size: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(mounted, PushedBlob::Mounted);

    // A real client agrees.
    if let Some(raw) = skopeo_raw(host, "kiln/app:v1", &[]) {
        assert_eq!(raw, image.index.to_vec());
        let raw = skopeo_raw(
            host,
            &format!("kiln/app@{}", image.manifests[1].2.digest),
            &[],
        )
        .unwrap();
        assert_eq!(raw, image.manifests[1].1.to_vec());
    }
}

#[tokio::test]
async fn single_manifest_and_file_uploads() {
    let Some(reg) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let host = reg.host();
    let image = make_image();
    let client = Client::anonymous(config(""));
    let r = reference(host, "single:latest");
    let dir = tempfile::tempdir().unwrap();
    let layer_file = dir.path().join("layer");
    std::fs::write(&layer_file, &image.layer).unwrap();
    // From a file, in chunks.
    let pushed = client
        .push_blob(
            &r,
            &image.layer_desc,
            BlobData::File(layer_file.clone()),
            &PushBlobOptions {
                mount_from: None,
                chunk_size: Some(16),
            },
        )
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Uploaded);
    let (_, config, config_desc) = &image.configs[1];
    client
        .push_blob(
            &r,
            config_desc,
            BlobData::Bytes(config.clone()),
            &PushBlobOptions::default(),
        )
        .await
        .unwrap();
    let (_, manifest, _) = &image.manifests[1];
    // Name only: pushing needs a tag.
    let err = client
        .push_manifest(
            &parse_normalized_named(&format!("{host}/single")).unwrap(),
            OCI_MANIFEST,
            manifest.clone(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("add :<tag>"), "{err}");
    client
        .push_manifest(&r, OCI_MANIFEST, manifest.clone())
        .await
        .unwrap();

    // A name without a tag means latest; a single manifest is checked against its config.
    let name_only = parse_normalized_named(&format!("{host}/single")).unwrap();
    let img = client
        .resolve_platform(&name_only, &Platform::new("linux", "arm64"))
        .await
        .unwrap();
    assert!(img.index.is_none());
    assert_eq!(
        img.descriptor.platform.as_ref().unwrap().architecture,
        "arm64"
    );
    let err = client
        .resolve_platform(&name_only, &Platform::new("linux", "amd64"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the image has linux/arm64"),
        "{err}"
    );

    // Data whose size is not the descriptor's.
    let err = client
        .push_blob(
            &r,
            config_desc,
            BlobData::Bytes(Bytes::from_static(b"x")),
            &PushBlobOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the data to push has 1 bytes"),
        "{err}"
    );
}

/// The registry's file for a blob.
fn blob_file(reg: &TestRegistry, digest: &kiln_registry::Digest) -> std::path::PathBuf {
    let hex = digest.hex();
    reg.storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[tokio::test]
async fn corrupt_content_is_rejected() {
    let Some(reg) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let host = reg.host();
    let image = make_image();
    let client = Client::anonymous(config(""));
    push_image(&client, host, "corrupt", "v1", &image).await;
    let r = reference(host, "corrupt:v1");

    // Flip bytes of the stored layer (same length): the registry serves wrong content.
    let path = blob_file(&reg, &image.layer_desc.digest);
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&path, &data).unwrap();

    let mut reader = match client.fetch_blob(&r, &image.layer_desc).await {
        Ok(r) => r,
        Err(e) => panic!("{e}\n{}", reg.log()),
    };
    let mut got = 0;
    let err = loop {
        match reader.next_chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => panic!("corrupt content reported as complete"),
            Err(e) => break e,
        }
    };
    assert_eq!(got as u64, image.layer_desc.size);
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "pulling layer {} of {host}/corrupt: content from {host} does not match its digest",
            image.layer_desc.digest
        )),
        "{text}"
    );
    // The in-memory helpers refuse it too.
    let err = client
        .fetch_blob(&r, &image.layer_desc)
        .await
        .unwrap()
        .read_all(1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );

    // A descriptor that claims another size.
    let mut wrong = image.configs[0].2.clone();
    wrong.size += 10;
    let err = client.fetch_blob(&r, &wrong).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SizeMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn basic_auth_and_credentials() {
    let Some(reg) = TestRegistry::start(RegistryOptions {
        basic_auth: Some(("kiln".into(), "s3cret-pw".into())),
        tls: false,
    }) else {
        return;
    };
    let host = reg.host().to_string();
    let image = make_image();
    let r = reference(&host, "private/app:v1");

    // Anonymous: 401 with the fix in the message.
    let anon = Client::anonymous(config(""));
    let err = anon.resolve(&r).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unauthorized(_)), "{err}");
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("pulling {host}/private/app:v1: 401 unauthorized")),
        "{text}"
    );
    assert!(text.ends_with(&format!("run kiln login {host}")), "{text}");
    let err = anon.check_login(&host).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("logging in to {host}: 401 unauthorized")),
        "{err}"
    );

    // Wrong password: rejected, and the password is nowhere in the message.
    let wrong = Client::new(
        config(""),
        Arc::new(StaticCredentials::new().with(&host, Credentials::basic("kiln", "wrong-pw"))),
    );
    let err = wrong.check_login(&host).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("rejected the credentials"), "{text}");
    assert!(!text.contains("wrong-pw"), "{text}");

    // kiln login writes config.json; the client reads it back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let docker = DockerConfig::load(&path).unwrap();
    let good = Credentials::basic("kiln", "s3cret-pw");
    let checker = Client::new(
        config(""),
        Arc::new(StaticCredentials::new().with(&host, good.clone())),
    );
    checker.check_login(&host).await.unwrap();
    docker.store(&host, &good).unwrap();
    let client = Client::new(config(""), Arc::new(DockerConfig::load(&path).unwrap()));
    push_image(&client, &host, "private/app", "v1", &image).await;
    let img = client
        .resolve_platform(&r, &Platform::new("linux", "amd64"))
        .await
        .unwrap();
    assert_eq!(img.descriptor.digest, image.manifests[0].2.digest);
    if let Some((user, pass)) = reg.basic_auth() {
        let creds = format!("--creds={user}:{pass}");
        if let Some(raw) = skopeo_raw(&host, "private/app:v1", &[&creds]) {
            assert_eq!(raw, image.index.to_vec());
        }
    }
}

#[tokio::test]
async fn tls_with_a_custom_ca() {
    let Some(reg) = TestRegistry::start(RegistryOptions {
        basic_auth: None,
        tls: true,
    }) else {
        return;
    };
    let host = reg.host().to_string();
    let ca = reg.ca_path().unwrap().display().to_string();
    let image = make_image();
    let r = reference(&host, "tls/app:v1");

    // Default for 127.0.0.1: plain HTTP, which a TLS registry refuses; the hint says how to
    // make kiln try HTTPS.
    let plain = Client::anonymous(config(""));
    let err = plain.resolve(&r).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("400 bad request"), "{text}");
    assert!(
        text.contains(&format!(
            "add ca = [\"/path/to/ca.pem\"] (or insecure = true) under [registry.\"{host}\"]"
        )),
        "{text}"
    );

    // HTTPS without the CA: untrusted.
    let no_ca = Client::anonymous(config(&format!("[registry.\"{host}\"]\nhttp = false\n")));
    let err = no_ca.resolve(&r).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("its certificate is not trusted: add the CA"),
        "{err}"
    );

    // With the CA: HTTPS works (HTTPS first, as for a local registry with TLS settings).
    let with_ca = Client::anonymous(config(&format!("[registry.\"{host}\"]\nca = [\"{ca}\"]\n")));
    push_image(&with_ca, &host, "tls/app", "v1", &image).await;
    let resolved = with_ca.resolve(&r).await.unwrap();
    assert_eq!(resolved.descriptor.digest, image.index_desc.digest);

    // insecure = true: no verification.
    let insecure = Client::anonymous(config(&format!("[registry.\"{host}\"]\ninsecure = true\n")));
    let img = insecure
        .resolve_platform(&r, &Platform::new("linux", "arm64"))
        .await
        .unwrap();
    assert_eq!(img.descriptor.digest, image.manifests[1].2.digest);

    if let Some(raw) = skopeo_raw(&host, "tls/app:v1", &[]) {
        assert_eq!(raw, image.index.to_vec());
    }
}

#[tokio::test]
async fn https_first_falls_back_to_plain_http() {
    let Some(reg) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let host = reg.host().to_string();
    let image = make_image();
    // insecure = true on a local registry: HTTPS first, then plain HTTP (BuildKit's rule).
    let client = Client::anonymous(config(&format!("[registry.\"{host}\"]\ninsecure = true\n")));
    push_image(&client, &host, "fallback/app", "v1", &image).await;
    let resolved = client
        .resolve(&reference(&host, "fallback/app:v1"))
        .await
        .unwrap();
    assert_eq!(resolved.descriptor.digest, image.index_desc.digest);

    // http = false on a plain-HTTP registry: the TLS failure says to set http = true.
    let strict = Client::anonymous(config(&format!("[registry.\"{host}\"]\nhttp = false\n")));
    let err = strict
        .resolve(&reference(&host, "fallback/app:v1"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("set http = true under [registry.\"{host}\"]")),
        "{err}"
    );

    // Nothing listening.
    let dead = format!("127.0.0.1:{}", free_port());
    let err = client.resolve(&reference(&dead, "x:1")).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connect { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "connection refused: is a registry listening at {dead}?"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn mirrors_are_tried_before_the_origin() {
    let Some(origin) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let Some(mirror) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let image = make_image();
    let direct = Client::anonymous(config(""));
    push_image(&direct, origin.host(), "library/busybox", "latest", &image).await;

    let dead = format!("127.0.0.1:{}", free_port());
    let cfg = config(&format!(
        "[registry.\"{}\"]\nmirrors = [\"{dead}\", \"{}\"]\n",
        origin.host(),
        mirror.host()
    ));
    let client = Client::anonymous(cfg);
    let r = reference(origin.host(), "library/busybox:latest");
    // The mirror lacks the image, the first mirror is down: the origin serves it.
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.host, origin.host());
    let img = client
        .resolve_platform(&r, &Platform::new("linux", "amd64"))
        .await
        .unwrap();
    assert_eq!(img.descriptor.digest, image.manifests[0].2.digest);

    // Once the mirror has it, the mirror answers.
    push_image(&direct, mirror.host(), "library/busybox", "latest", &image).await;
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.host, mirror.host());
    let data = client.fetch_blob(&r, &image.layer_desc).await.unwrap();
    assert_eq!(data.host(), mirror.host());
    assert_eq!(data.read_all(1 << 20).await.unwrap(), image.layer);

    // Pushes never go to a mirror.
    push_image(&client, origin.host(), "library/pushed", "v1", &image).await;
    assert!(
        direct
            .resolve(&reference(mirror.host(), "library/pushed:v1"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Missing everywhere: not found, from the origin.
    let err = client
        .resolve(&reference(origin.host(), "library/none:1"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

mod fake;
use fake::{FakeServer, Resp};

#[tokio::test]
async fn wrong_bytes_for_a_digest_are_rejected() {
    let good = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let desc = Descriptor::of(OCI_MANIFEST, good);
    let mut evil = good.to_vec();
    evil[0] = b' ';
    let evil2 = evil.clone();
    let digest = desc.digest.to_string();
    let server = FakeServer::start(move |req| {
        if req.path().ends_with(&format!("/manifests/{digest}"))
            || req.path().ends_with("/manifests/v1")
        {
            Resp::new(200)
                .header("Content-Type", OCI_MANIFEST)
                .header("Docker-Content-Digest", &digest)
                .body(evil2.clone())
        } else if req.path().contains("/blobs/") {
            Resp::new(200).body(evil2.clone())
        } else {
            Resp::new(404)
        }
    });
    let client = Client::anonymous(config(""));
    let r = reference(&server.host, "evil:v1");
    let err = client.fetch_manifest(&r, &desc).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    // Resolving trusts the registry's digest header (as containerd does); the bytes fetched
    // for it are checked.
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(resolved.descriptor.digest, desc.digest);
    let err = client
        .fetch_manifest(&r, &resolved.descriptor)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    let by_digest = r
        .with_digest(&desc.digest.to_string())
        .unwrap()
        .trimmed_to_digest();
    let resolved = client.resolve(&by_digest).await.unwrap();
    let err = client
        .fetch_manifest(&by_digest, &resolved.descriptor)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    // As a blob, streamed.
    let err = client
        .fetch_blob(&r, &desc)
        .await
        .unwrap()
        .read_all(1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );
    let _ = evil;
}

#[tokio::test]
async fn bearer_token_flow_with_caching() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let desc = Descriptor::of(OCI_MANIFEST, manifest);
    let token_requests = Arc::new(AtomicUsize::new(0));
    let counter = token_requests.clone();
    let digest = desc.digest.to_string();
    let host_cell: Arc<std::sync::OnceLock<String>> = Arc::new(std::sync::OnceLock::new());
    let host_for_handler = host_cell.clone();
    let server = FakeServer::start(move |req| {
        let host = host_for_handler.get().cloned().unwrap_or_default();
        if req.path() == "/token" {
            counter.fetch_add(1, Ordering::SeqCst);
            let q = req.query();
            assert!(q.contains("service=fake"), "{q}");
            let auth = req.header("authorization").unwrap_or("");
            // "alice:pw" in base64.
            return if auth == "Basic YWxpY2U6cHc=" {
                Resp::new(200).body(r#"{"access_token":"tok-alice","expires_in":300}"#)
            } else if auth.starts_with("Basic ") {
                Resp::new(401).body(r#"{"details":"incorrect username or password"}"#)
            } else {
                Resp::new(200).body(r#"{"token":"tok-anon"}"#)
            };
        }
        let challenge = format!(
            "Bearer realm=\"http://{host}/token\",service=\"fake\",scope=\"repository:private/app:pull\""
        );
        match req.header("authorization") {
            Some("Bearer tok-alice") => Resp::new(200)
                .header("Content-Type", OCI_MANIFEST)
                .header("Docker-Content-Digest", &digest)
                .body(manifest.to_vec()),
            _ => Resp::new(401)
                .header("WWW-Authenticate", &challenge)
                .header("Content-Type", "application/json")
                .body(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                ),
        }
    });
    host_cell.set(server.host.clone()).unwrap();
    let r = reference(&server.host, "private/app:v1");

    // Anonymous: the anonymous token is refused.
    let err = Client::anonymous(config("")).resolve(&r).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unauthorized(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("401 unauthorized (UNAUTHORIZED: authentication required)"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("run kiln login {}", server.host)),
        "{text}"
    );

    // Wrong password: the token server says no.
    let bad = Client::new(
        config(""),
        Arc::new(StaticCredentials::new().with(&server.host, Credentials::basic("alice", "nope"))),
    );
    let err = bad.resolve(&r).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("token server rejected the credentials"),
        "{text}"
    );
    assert!(!text.contains("nope"), "{text}");

    // Right password: a token, cached for the next requests of the same scope.
    let good = Client::new(
        config(""),
        Arc::new(StaticCredentials::new().with(&server.host, Credentials::basic("alice", "pw"))),
    );
    let before = token_requests.load(Ordering::SeqCst);
    let resolved = good.resolve(&r).await.unwrap();
    assert_eq!(resolved.descriptor.digest, desc.digest);
    let data = good.fetch_manifest(&r, &resolved.descriptor).await.unwrap();
    assert_eq!(&data[..], &manifest[..]);
    good.resolve(&r).await.unwrap();
    assert_eq!(
        token_requests.load(Ordering::SeqCst) - before,
        1,
        "the token is reused"
    );
}

#[tokio::test]
async fn fake_registry_edge_cases() {
    use std::sync::Mutex;
    let good = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let desc = Descriptor::of(OCI_MANIFEST, good);
    let digest = desc.digest.to_string();
    let blob = Bytes::from_static(b"some layer bytes");
    let blob_desc = Descriptor::of(OCI_LAYER_GZIP, &blob);
    let blob_digest = blob_desc.digest.to_string();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let server = FakeServer::start(move |req| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.target));
        let path = req.path();
        match (req.method.as_str(), path) {
            // No HEAD support, no Content-Type: resolve GETs and sniffs the body.
            ("HEAD", "/v2/nohead/manifests/v1") => Resp::new(405),
            ("GET", "/v2/nohead/manifests/v1") => Resp::new(200)
                .header("Content-Type", "application/octet-stream")
                .header("Docker-Content-Digest", &digest)
                .body(good.to_vec()),
            // A tag whose body does not match the digest header.
            ("HEAD", "/v2/liar/manifests/v1") => Resp::new(405),
            ("GET", "/v2/liar/manifests/v1") => Resp::new(200)
                .header("Docker-Content-Digest", &digest)
                .body(b" {}".to_vec()),
            (_, "/v2/limited/manifests/v1") => Resp::new(429)
                .header("Retry-After", "30")
                .body(r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#),
            (_, "/v2/broken/manifests/v1") => Resp::new(503).body("upstream down"),
            // Uploads with a relative Location that carries state.
            ("HEAD", p) if p.starts_with("/v2/up/blobs/") => Resp::new(404),
            ("POST", "/v2/up/blobs/uploads/") => {
                Resp::new(202).header("Location", "/v2/up/blobs/uploads/u1?_state=abc")
            }
            ("PUT", "/v2/up/blobs/uploads/u1") => {
                if req.query() == format!("_state=abc&digest={}", blob_digest.replace(':', "%3A")) {
                    Resp::new(201).header("Docker-Content-Digest", &blob_digest)
                } else {
                    Resp::new(400).body(format!("bad query {}", req.query()))
                }
            }
            _ => Resp::new(404),
        }
    });
    let client = Client::anonymous(config(""));
    let host = server.host.clone();

    let resolved = client
        .resolve(&reference(&host, "nohead:v1"))
        .await
        .unwrap();
    assert_eq!(resolved.descriptor.digest, desc.digest);
    assert_eq!(resolved.descriptor.media_type, OCI_MANIFEST);

    let err = client
        .resolve(&reference(&host, "liar:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DigestMismatch { .. }),
        "{err}"
    );

    let err = client
        .resolve(&reference(&host, "limited:v1"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TooManyRequests(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("429 too many requests (TOOMANYREQUESTS: slow down)"),
        "{text}"
    );
    assert!(text.contains("wait 30s and retry"), "{text}");

    let err = client
        .resolve(&reference(&host, "broken:v1"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Server(_)), "{err}");
    assert!(
        err.to_string()
            .contains("503 service unavailable (upstream down)"),
        "{err}"
    );

    let pushed = client
        .push_blob(
            &reference(&host, "up:v1"),
            &blob_desc,
            BlobData::Bytes(blob),
            &PushBlobOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(pushed, PushedBlob::Uploaded);
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("PUT /v2/up/blobs/uploads/u1?_state=abc&digest=")),
        "{seen:?}"
    );
}

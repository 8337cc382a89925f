//! The `builds` conformance suite, frontend half: converts every case's Dockerfile with a
//! resolver serving the suite's busybox OCI layout, and compares the image `config` and
//! `history` with what BuildKit recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_frontend::{ConvertOptions, ImageMetaResolver, ResolvedImage, convert};
use kiln_platforms::Platform;
use serde_json::{Value, json};

/// Serves `docker.io/library/busybox:latest` from an OCI layout directory.
struct Layout(PathBuf);

impl Layout {
    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(self.0.join("blobs/sha256").join(hex)).unwrap()
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).unwrap()
    }
}

impl ImageMetaResolver for Layout {
    fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        if reference != "docker.io/library/busybox:latest" {
            return Err(format!("{reference}: not found").into());
        }
        let index: Value = serde_json::from_slice(&std::fs::read(self.0.join("index.json"))?)?;
        let mut manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        // Follow nested indexes.
        while let Some(pos) = manifests
            .iter()
            .position(|m| m["mediaType"] == "application/vnd.oci.image.index.v1+json")
        {
            let nested = manifests.remove(pos);
            let inner = self.json(nested["digest"].as_str().unwrap());
            manifests.extend(inner["manifests"].as_array().cloned().unwrap_or_default());
        }
        let m = manifests
            .iter()
            .find(|m| {
                let p = &m["platform"];
                p["os"] == platform.os.as_str()
                    && p["architecture"] == platform.architecture.as_str()
                    && (platform.variant.is_empty()
                        || p["variant"].as_str().unwrap_or("") == platform.variant)
            })
            .ok_or("no manifest for platform")?;
        let digest = m["digest"].as_str().unwrap().to_string();
        let manifest = self.json(&digest);
        let config = self.blob(manifest["config"]["digest"].as_str().unwrap());
        Ok(ResolvedImage {
            reference: reference.to_string(),
            digest,
            config,
        })
    }
}

const CONFIG_KEYS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

fn summarize(image: &kiln_frontend::Image) -> (Value, Value) {
    let cfg = serde_json::to_value(&image.config).unwrap();
    let mut out = serde_json::Map::new();
    for k in CONFIG_KEYS {
        let Some(v) = cfg.get(k) else { continue };
        let empty = match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            continue;
        }
        let mut v = v.clone();
        if k == "Env" {
            let mut env: Vec<String> = serde_json::from_value(v).unwrap();
            env.sort();
            v = json!(env);
        }
        out.insert(k.to_string(), v);
    }
    let history: Vec<Value> = image
        .history
        .iter()
        .map(|h| json!([h.created_by, h.empty_layer, h.comment]))
        .collect();
    (Value::Object(out), Value::Array(history))
}

fn build_args(case: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(case.join("args")) else {
        return out;
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0] == "--build-arg" {
            if let Some((k, v)) = pair[1].split_once('=') {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

fn platform_of(key: &str) -> Platform {
    let parts: Vec<&str> = key.split('/').collect();
    let mut p = Platform::new(parts[0], parts[1]);
    if let Some(v) = parts.get(2) {
        p.variant = (*v).to_string();
    }
    p
}

fn run_case(dir: &Path, layout: &Layout, name: &str) -> Result<(), String> {
    let case = dir.join("cases").join(name);
    let dockerfile_dir = match std::fs::read_to_string(case.join("contextdir")) {
        Ok(sub) => case.join(sub.trim()),
        Err(_) => case.clone(),
    };
    let dockerfile = std::fs::read(dockerfile_dir.join("Dockerfile")).map_err(|e| e.to_string())?;
    let expected = kiln_testkit::load_json(&dir.join("expected"), &format!("{name}.json"));
    let images = expected["images"].as_object().cloned().unwrap_or_default();
    let amd64 = Platform::new("linux", "amd64");
    if images.is_empty() {
        // An expected failure happens when the build runs, not here: the conversion must
        // succeed.
        let opts = ConvertOptions {
            target_platform: Some(amd64.clone()),
            build_platform: Some(amd64),
            build_args: build_args(&case),
            ..ConvertOptions::default()
        };
        return convert(&dockerfile, &opts, layout)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    for (key, want) in &images {
        let opts = ConvertOptions {
            target_platform: Some(platform_of(key)),
            build_platform: Some(amd64.clone()),
            build_args: build_args(&case),
            multi_platform: images.len() > 1,
            ..ConvertOptions::default()
        };
        let res = convert(&dockerfile, &opts, layout).map_err(|e| format!("{key}: {e}"))?;
        let (config, history) = summarize(&res.image);
        if config != want["config"] {
            return Err(format!(
                "{key}: config\n  got  {config}\n  want {}",
                want["config"]
            ));
        }
        if history != want["history"] {
            return Err(format!(
                "{key}: history\n  got  {history:#}\n  want {:#}",
                want["history"]
            ));
        }
    }
    Ok(())
}

#[test]
fn builds_config_and_history() {
    let Some(dir) = kiln_testkit::suite_dir("builds") else {
        return;
    };
    let layout = Layout(dir.join("base-busybox-oci"));
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut report = kiln_testkit::Report::new("builds (frontend config+history)");
    for name in names {
        report.run(&name, || run_case(&dir, &layout, &name));
    }
    report.finish();
}

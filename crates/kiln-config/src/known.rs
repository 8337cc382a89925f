//! Key paths: rendering them as TOML writes them (`registry."docker.io".mirrors`), and the
//! keys buildkitd knows, so that a `buildkitd.toml` used as a kiln config raises no warning
//! for the sections kiln does not use.

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// The segments of a path reported by `serde_ignored`.
pub(crate) fn from_ignored(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = Vec::new();
    collect_ignored(path, &mut out);
    out
}

fn collect_ignored(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            collect_ignored(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            collect_ignored(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => collect_ignored(parent, out),
    }
}

/// The segments of a path tracked by `serde_path_to_error`.
pub(crate) fn from_tracked(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Enum { variant } => Some(Segment::Key(variant.clone())),
            S::Unknown => None,
        })
        .collect()
}

/// `registry."docker.io".keypair[0].key`: bare keys as they are, others quoted.
pub(crate) fn render(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if bare {
                    out.push_str(k);
                } else {
                    out.push('"');
                    for c in k.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Top-level keys of buildkitd's config; sections whose whole content kiln ignores are in
/// [`IGNORED_SECTIONS`].
const TOP: &[&str] = &[
    "debug",
    "trace",
    "root",
    "insecure-entitlements",
    "proxyNetwork",
    "provenanceEnvDir",
    "worker",
    "registry",
];

/// buildkitd sections kiln does not read at all: anything below them is known.
const IGNORED_SECTIONS: &[&str] = &[
    "log", "dns", "grpc", "otel", "cdi", "history", "frontend", "system", "ghacache",
];

/// Keys of buildkitd's `[worker.oci]` (`OCIConfig` with its embedded GC and network configs).
const OCI_WORKER: &[&str] = &[
    "enabled",
    "labels",
    "platforms",
    "snapshotter",
    "rootless",
    "noProcessSandbox",
    "gc",
    "gckeepstorage",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
    "gcpolicy",
    "networkMode",
    "cniConfigPath",
    "cniBinaryPath",
    "cniPoolSize",
    "bridgeName",
    "bridgeSubnet",
    "userRemapUnsupported",
    "binary",
    "proxySnapshotterPath",
    "defaultCgroupParent",
    "isolateCgroups",
    "stargzSnapshotter",
    "apparmor-profile",
    "selinux",
    "max-parallelism",
];

/// Keys of a `[[worker.oci.gcpolicy]]` entry.
const GC_POLICY: &[&str] = &[
    "all",
    "filters",
    "keepDuration",
    "keepBytes",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
];

/// Keys of a `[registry."host"]` section.
const REGISTRY: &[&str] = &[
    "mirrors",
    "http",
    "insecure",
    "ca",
    "keypair",
    "tlsconfigdir",
    "capabilities",
];

/// Whether buildkitd knows the key at `path` (so ignoring it deserves no warning).
pub(crate) fn is_buildkitd_key(path: &[Segment]) -> bool {
    let key = |i: usize| match path.get(i) {
        Some(Segment::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let Some(top) = key(0) else {
        return false;
    };
    if IGNORED_SECTIONS.contains(&top) {
        return true;
    }
    if !TOP.contains(&top) {
        return false;
    }
    match top {
        "worker" => match key(1) {
            Some("containerd") => true,
            Some("oci") => match key(2) {
                // Free-form maps.
                Some("labels" | "stargzSnapshotter") => true,
                Some("gcpolicy") => key(4).is_some_and(|k| GC_POLICY.contains(&k)),
                Some(k) => OCI_WORKER.contains(&k),
                None => false,
            },
            _ => false,
        },
        "registry" => match key(2) {
            Some("keypair") => matches!(key(4), Some("key" | "cert")),
            Some(k) => REGISTRY.contains(&k),
            None => false,
        },
        _ => path.len() == 1,
    }
}

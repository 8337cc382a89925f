//! Conversion semantics, instruction by instruction, with a fake image resolver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use kiln_frontend::{
    ConvertOptions, ConvertResult, ImageMetaResolver, NoCache, ResolvedImage, convert,
};
use kiln_graph::op::{Chown, FileAction, MountKind, NetMode, UserOpt};
use kiln_graph::{Definition, Digest, Op, VertexDef};
use kiln_platforms::Platform;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Answers every image with a small config; records what was asked.
#[derive(Default)]
struct Fake {
    asked: RefCell<Vec<String>>,
    on_build: Vec<String>,
}

impl ImageMetaResolver for Fake {
    fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        self.asked.borrow_mut().push(reference.to_string());
        if reference.contains("missing") {
            return Err("not found".into());
        }
        let config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "OnBuild": self.on_build},
            "rootfs": {"type": "layers", "diff_ids": [DIGEST]},
            "history": [{"created_by": "base layer"}],
        });
        Ok(ResolvedImage {
            reference: reference.to_string(),
            digest: DIGEST.to_string(),
            config: serde_json::to_vec(&config).unwrap(),
        })
    }
}

fn opts() -> ConvertOptions {
    ConvertOptions {
        target_platform: Some(Platform::new("linux", "amd64")),
        build_platform: Some(Platform::new("linux", "amd64")),
        ..ConvertOptions::default()
    }
}

fn conv(df: &str) -> ConvertResult {
    convert(df.as_bytes(), &opts(), &Fake::default()).unwrap()
}

fn conv_with(df: &str, o: &ConvertOptions) -> ConvertResult {
    convert(df.as_bytes(), o, &Fake::default()).unwrap()
}

fn history(r: &ConvertResult) -> Vec<String> {
    r.image
        .history
        .iter()
        .skip(1)
        .map(|h| h.created_by.clone())
        .collect()
}

fn output_vertex(def: &Definition) -> &VertexDef {
    def.vertex(&def.output.as_ref().unwrap().digest).unwrap()
}

fn execs(def: &Definition) -> Vec<&kiln_graph::op::ExecOp> {
    def.vertices
        .iter()
        .filter_map(|v| match &v.def.op {
            Op::Exec(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn exec_digests(def: &Definition) -> Vec<Digest> {
    def.vertices
        .iter()
        .filter(|v| matches!(v.def.op, Op::Exec(_)))
        .map(|v| v.digest.clone())
        .collect()
}

#[test]
fn base_image_is_pinned_and_its_history_kept() {
    let r = conv("FROM busybox\nRUN echo hi\n");
    let def = &r.definition;
    let Op::Source(src) = &def.vertices[0].def.op else {
        panic!("first vertex is not the image");
    };
    assert_eq!(
        src.identifier,
        format!("docker-image://docker.io/library/busybox:latest@{DIGEST}")
    );
    assert_eq!(r.image.history[0].created_by, "base layer");
    assert_eq!(r.image.rootfs.diff_ids, [DIGEST]);
    assert_eq!(
        def.metadata[&def.vertices[0].digest].name,
        format!("[1/2] FROM docker.io/library/busybox:latest@{DIGEST}")
    );
    let out = &def.output.as_ref().unwrap().digest;
    assert_eq!(def.metadata[out].name, "[2/2] RUN echo hi");
    assert_eq!(def.metadata[out].locations[0].start, 2);
}

#[test]
fn run_env_cwd_user_and_shell() {
    let r = conv(
        "FROM busybox\nENV A=1\nWORKDIR /w\nUSER app\nSHELL [\"/bin/bash\", \"-c\"]\nRUN make\n",
    );
    let e = execs(&r.definition)[0];
    assert_eq!(e.meta.args, ["/bin/bash", "-c", "make"]);
    assert_eq!(e.meta.cwd, "/w");
    assert_eq!(e.meta.user, "app");
    assert_eq!(e.meta.env, ["PATH=/bin", "A=1"]);
}

#[test]
fn workdir_creates_the_directory_owned_by_the_user() {
    let r = conv("FROM busybox\nUSER app\nWORKDIR /srv/app\n");
    let Op::File(f) = &output_vertex(&r.definition).op else {
        panic!("WORKDIR is not a file op");
    };
    let FileAction::Mkdir(m) = &f.actions[0] else {
        panic!("not a mkdir");
    };
    assert_eq!(m.path, "/srv/app");
    assert!(m.make_parents);
    assert_eq!(
        m.chown,
        Some(Chown {
            user: Some(UserOpt::Name("app".into())),
            group: None
        })
    );
    let last = r.image.history.last().unwrap();
    assert_eq!(last.created_by, "WORKDIR /srv/app");
    assert!(!last.empty_layer);
    // `WORKDIR /` makes no layer.
    let r = conv("FROM busybox\nWORKDIR /\n");
    assert!(r.image.history.last().unwrap().empty_layer);
}

#[test]
fn build_args_change_only_the_steps_that_see_them() {
    let df = "FROM busybox AS other\nRUN echo other\nFROM busybox\nRUN echo before\nARG X\nRUN echo after\nCOPY --from=other / /o\n";
    let mut o1 = opts();
    o1.build_args.insert("X".into(), "1".into());
    let mut o2 = opts();
    o2.build_args.insert("X".into(), "2".into());
    let a = conv_with(df, &o1);
    let b = conv_with(df, &o2);
    let (ea, eb) = (exec_digests(&a.definition), exec_digests(&b.definition));
    assert_eq!(ea.len(), 3);
    let common: Vec<_> = ea.iter().filter(|d| eb.contains(d)).collect();
    assert_eq!(
        common.len(),
        2,
        "the other stage and the step before the ARG are unchanged"
    );
    assert_ne!(a.definition.output, b.definition.output);
    // An unused build arg changes nothing.
    let mut o3 = opts();
    o3.build_args.insert("UNUSED".into(), "x".into());
    assert_eq!(
        conv_with(df, &opts()).definition,
        conv_with(df, &o3).definition
    );
}

#[test]
fn conversion_is_deterministic() {
    let df = "ARG V=1\nFROM busybox AS a\nRUN echo $V\nFROM busybox\nCOPY --from=a /x /y\nCOPY . /src\nRUN --mount=type=cache,target=/c make\n";
    let a = conv(df).definition.marshal();
    let b = conv(df).definition.marshal();
    assert_eq!(a, b);
    Definition::unmarshal(&a).unwrap();
}

#[test]
fn identical_stages_collapse() {
    let df = "FROM busybox AS a\nRUN echo same\nFROM busybox AS b\nRUN echo same\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n";
    let r = conv(df);
    assert_eq!(execs(&r.definition).len(), 1);
    let sources = r
        .definition
        .vertices
        .iter()
        .filter(|v| matches!(v.def.op, Op::Source(_)))
        .count();
    assert_eq!(sources, 1, "one image, no build context");
}

#[test]
fn only_needed_stages_are_resolved_and_built() {
    let fake = Fake::default();
    let df = "FROM busybox AS a\nRUN echo a\nFROM alpine AS unused\nRUN echo u\nFROM a AS final\nRUN echo f\n";
    let r = convert(df.as_bytes(), &opts(), &fake).unwrap();
    assert_eq!(*fake.asked.borrow(), ["docker.io/library/busybox:latest"]);
    assert_eq!(execs(&r.definition).len(), 2);
    let mut o = opts();
    o.target = Some("a".into());
    let r = convert(df.as_bytes(), &o, &fake).unwrap();
    assert_eq!(execs(&r.definition).len(), 1);
    o.target = Some("fnal".into());
    let err = convert(df.as_bytes(), &o, &fake).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target stage \"fnal\" could not be found (did you mean final?)"
    );
}

#[test]
fn copy_from_context_stage_image_and_heredoc() {
    let df = "FROM busybox AS s\nRUN echo s\nFROM busybox\nWORKDIR /w\nCOPY --chown=1:2 --chmod=640 a.txt sub/\nCOPY --from=s /x /y\nCOPY --from=alpine /etc/os-release /\nCOPY <<EOF /etc/conf\nv=$HOME\nEOF\n";
    let r = conv(df);
    let h = history(&r);
    assert_eq!(h[0], "WORKDIR /w");
    assert_eq!(h[1], "COPY --chown=1:2 --chmod=640 a.txt sub/ # buildkit");
    assert_eq!(h[2], "COPY /x /y # buildkit");
    assert_eq!(h[4], "COPY <<EOF /etc/conf # buildkit");
    let copies: Vec<_> = r
        .definition
        .vertices
        .iter()
        .filter_map(|v| match &v.def.op {
            Op::File(f) => match &f.actions[0] {
                FileAction::Copy(c) => Some(c.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(copies[0].src_path, "/a.txt");
    assert_eq!(copies[0].dest, "/w/sub/");
    assert!(copies[0].follow_symlinks && copies[0].allow_wildcard && !copies[0].attempt_unpack);
    // The build context is read only for what COPY selects, minus .dockerignore.
    let local = r
        .definition
        .vertices
        .iter()
        .find_map(|v| match &v.def.op {
            Op::Source(s) if s.identifier == "local://context" => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(local.attrs["local.followpaths"], "[\"a.txt\"]");
    assert!(
        r.definition
            .vertices
            .iter()
            .any(|v| matches!(&v.def.op, Op::Source(s) if s.identifier.starts_with("docker-image://docker.io/library/alpine:latest")))
    );
}

#[test]
fn add_unpacks_local_archives_and_fetches_urls_and_git() {
    let df = "FROM busybox\nADD a.tgz /x/\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/f.tar.gz /y/\nADD https://github.com/moby/buildkit.git#v0.10.1:docs /z\n";
    let r = conv(df);
    let ids: Vec<String> = r
        .definition
        .vertices
        .iter()
        .filter_map(|v| match &v.def.op {
            Op::Source(s) => Some(s.identifier.clone()),
            _ => None,
        })
        .collect();
    assert!(ids.contains(&"https://example.com/f.tar.gz".to_string()));
    assert!(ids.contains(&"git://github.com/moby/buildkit.git#v0.10.1".to_string()));
    let unpacks: Vec<bool> = r
        .definition
        .vertices
        .iter()
        .filter_map(|v| match &v.def.op {
            Op::File(f) => match &f.actions[0] {
                FileAction::Copy(c) => Some(c.attempt_unpack),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(unpacks, [true, false, false]);
    let err = convert(
        b"FROM busybox\nCOPY https://example.com/x /x\n",
        &opts(),
        &Fake::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "source can't be a URL for COPY");
    assert_eq!(err.line(), Some(2));
}

#[test]
fn copy_link_is_a_merge() {
    let r = conv("FROM busybox\nCOPY --link a /a\n");
    assert!(matches!(output_vertex(&r.definition).op, Op::Merge(_)));
}

#[test]
fn run_mounts_network_and_secrets() {
    let df = "FROM busybox AS data\nRUN echo d\nFROM busybox\nRUN --mount=type=cache,target=/cache,sharing=locked --mount=type=bind,from=data,source=/d,target=/d --mount=type=tmpfs,target=/t,size=1m --mount=type=secret,id=token --mount=type=secret,id=k,env=KEY --mount=type=ssh --network=none --security=insecure true\n";
    let r = conv(df);
    let e = execs(&r.definition)
        .into_iter()
        .find(|e| e.meta.args.last().unwrap() == "true")
        .unwrap();
    assert_eq!(e.network, NetMode::None);
    let kinds: Vec<(&str, &MountKind)> = e
        .mounts
        .iter()
        .map(|m| (m.dest.as_str(), &m.kind))
        .collect();
    assert_eq!(kinds[0].0, "/");
    assert!(matches!(kinds[1], ("/cache", MountKind::Cache { .. })));
    assert!(matches!(kinds[2], ("/d", MountKind::Bind)));
    assert!(e.mounts[2].readonly && e.mounts[2].input.is_some());
    assert!(matches!(
        kinds[3],
        ("/t", MountKind::Tmpfs { size: 1_048_576 })
    ));
    assert!(matches!(
        kinds[4],
        ("/run/secrets/token", MountKind::Secret { .. })
    ));
    assert!(matches!(
        kinds[5],
        ("/run/buildkit/ssh_agent.0", MountKind::Ssh { .. })
    ));
    assert_eq!(e.secret_env[0].name, "KEY");
    // History has no mount flags.
    assert_eq!(
        history(&r).last().unwrap(),
        "RUN /bin/sh -c true # buildkit"
    );
}

#[test]
fn heredoc_with_shebang_runs_as_a_file() {
    let r = conv("FROM busybox\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\n");
    let e = execs(&r.definition)[0];
    assert_eq!(e.meta.args, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(e.mounts[1].dest, "/dev/pipes/");
    let name = &r.definition.metadata[&r.definition.output.as_ref().unwrap().digest].name;
    assert_eq!(name, "[2/2] RUN <<EOF (#!/bin/sh...)");
}

#[test]
fn onbuild_triggers_of_a_base_image_run_first() {
    let fake = Fake {
        on_build: vec!["RUN echo triggered".into()],
        ..Fake::default()
    };
    let r = convert(b"FROM busybox\nRUN echo own\n", &opts(), &fake).unwrap();
    let h = history(&r);
    assert_eq!(
        h,
        [
            "RUN /bin/sh -c echo triggered # buildkit",
            "RUN /bin/sh -c echo own # buildkit"
        ]
    );
    assert!(r.image.config.on_build.is_empty());
}

#[test]
fn no_cache_filter_marks_the_stage() {
    let df = "FROM busybox AS a\nRUN echo a\nFROM busybox\nCOPY --from=a /x /x\nRUN echo b\n";
    let mut o = opts();
    o.no_cache = NoCache::Stages(vec!["a".into()]);
    let r = conv_with(df, &o);
    let ignored: Vec<String> = r
        .definition
        .metadata
        .values()
        .filter(|m| m.ignore_cache)
        .map(|m| m.name.clone())
        .collect();
    assert_eq!(ignored, ["[a 2/2] RUN echo a"]);
}

#[test]
fn errors_name_the_line() {
    let cases: [(&str, &str, usize); 6] = [
        (
            "FROM busybox\nCOPY --from=later /a /b\nFROM busybox AS later\nFROM busybox\nCOPY --from=0 / /\n",
            "cannot copy from stage \"later\", it needs to be defined before current stage \"stage-0\"",
            2,
        ),
        (
            "FROM missing/image\n",
            "missing/image: failed to resolve source metadata for docker.io/missing/image:latest: not found",
            1,
        ),
        (
            "FROM busybox\nSTOPSIGNAL SIGBOGUS\n",
            "invalid signal: SIGBOGUS",
            2,
        ),
        (
            "FROM busybox\nEXPOSE 99999\n",
            "invalid containerPort: 99999",
            2,
        ),
        (
            "FROM busybox\nRUN --network=bogus true\n",
            "dockerfile parse error on line 2: invalid network mode \"bogus\"",
            2,
        ),
        (
            "FROM busybox AS a\nCOPY --from=b / /\nFROM busybox AS b\nCOPY --from=a / /\n",
            "circular dependency detected on stage: a",
            1,
        ),
    ];
    for (df, msg, line) in cases {
        let err = match convert(df.as_bytes(), &opts(), &Fake::default()) {
            Ok(_) => panic!("no error for {df:?}"),
            Err(e) => e,
        };
        assert_eq!(err.to_string(), msg, "{df}");
        assert_eq!(err.line(), Some(line), "{df}");
    }
    let err = convert(b"", &opts(), &Fake::default()).unwrap_err();
    assert_eq!(err.to_string(), "the Dockerfile cannot be empty");
    let err = convert(b"FROM busybox\nBOGUS x\n", &opts(), &Fake::default()).unwrap_err();
    assert_eq!(err.line(), Some(2));
}

#[test]
fn labels_platform_and_scratch() {
    let mut o = opts();
    o.labels = BTreeMap::from([("org.x".to_string(), "1".to_string())]);
    o.target_platform = Some(Platform {
        variant: "v7".into(),
        ..Platform::new("linux", "arm")
    });
    let r = conv_with("FROM scratch\nCOPY a /\n", &o);
    assert_eq!(r.image.config.labels["org.x"], "1");
    assert_eq!(
        (r.image.architecture.as_str(), r.image.variant.as_str()),
        ("arm", "v7")
    );
    assert_eq!(r.image.config.working_dir, "/");
    assert!(r.image.history.len() == 1);
}

#[test]
fn global_args_and_platform_args() {
    let df = "ARG BASE=busybox\nARG TAG\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG:-1.36} AS b\nARG TARGETARCH BUILDARCH\nRUN echo $TARGETARCH $BUILDARCH\n";
    let mut o = opts();
    o.target_platform = Some(Platform::new("linux", "arm64"));
    let fake = Fake::default();
    let r = convert(df.as_bytes(), &o, &fake).unwrap();
    assert_eq!(*fake.asked.borrow(), ["docker.io/library/busybox:1.36"]);
    assert_eq!(
        history(&r),
        [
            "ARG TARGETARCH=arm64 BUILDARCH=amd64",
            "RUN |2 TARGETARCH=arm64 BUILDARCH=amd64 /bin/sh -c echo $TARGETARCH $BUILDARCH # buildkit"
        ]
    );
    assert_eq!(r.platform, Platform::new("linux", "amd64"));
}

#[test]
fn lint_warnings_are_reported() {
    let r = conv("FROM busybox\nMAINTAINER me\nENV A 1\n");
    let rules: Vec<&str> = r.warnings.iter().map(|w| w.rule.name).collect();
    assert!(rules.contains(&"MaintainerDeprecated"), "{rules:?}");
    assert!(rules.contains(&"LegacyKeyValueFormat"), "{rules:?}");
    assert_eq!(r.image.author, "me");
}

#[test]
fn progress_names_number_the_steps_of_each_stage() {
    let df = "FROM busybox AS build\nWORKDIR /src\nRUN make\nFROM busybox\nCOPY --from=build /src/app /app\n";
    let r = conv(df);
    let mut names: Vec<String> = r
        .definition
        .metadata
        .values()
        .map(|m| m.name.clone())
        .collect();
    names.sort();
    assert!(
        names.contains(&"[build 2/3] WORKDIR /src".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[build 3/3] RUN make".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[stage-1 2/2] COPY --from=build /src/app /app".to_string()),
        "{names:?}"
    );
}

#[test]
fn no_cache_everywhere() {
    let mut o = opts();
    o.no_cache = NoCache::All;
    let r = conv_with("FROM busybox\nRUN a\nCOPY x /x\n", &o);
    let out = &r.definition.output.as_ref().unwrap().digest;
    assert!(r.definition.metadata[out].ignore_cache);
    // The flag is metadata: the graph itself is the same as with the cache.
    assert_eq!(
        r.definition.vertices,
        conv("FROM busybox\nRUN a\nCOPY x /x\n").definition.vertices
    );
}

#[test]
fn source_date_epoch_sets_history_times_and_mtimes() {
    let mut o = opts();
    o.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    let r = conv_with("FROM busybox\nWORKDIR /w\nCOPY a /a\n", &o);
    assert_eq!(r.epoch, Some(1_700_000_000));
    assert_eq!(r.image.history[0].created, None, "base history untouched");
    assert_eq!(
        r.image.history[1].created.as_deref(),
        Some("2023-11-14T22:13:20Z")
    );
    let Op::File(f) = &output_vertex(&r.definition).op else {
        panic!("not a file op");
    };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!("not a copy");
    };
    assert_eq!(c.mtime, Some(1_700_000_000));
    o.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "yesterday".into());
    assert!(convert(b"FROM busybox\n", &o, &Fake::default()).is_err());
}

#[test]
fn proxies_reach_run_without_changing_its_digest() {
    let mut o = opts();
    o.build_args
        .insert("http_proxy".into(), "http://proxy:3128".into());
    let with = conv_with("FROM busybox\nRUN wget x\n", &o);
    let without = conv("FROM busybox\nRUN wget x\n");
    assert_eq!(with.definition.output, without.definition.output);
    let out = &with.definition.output.as_ref().unwrap().digest;
    assert_eq!(
        with.definition.metadata[out].proxy_env["HTTP_PROXY"],
        "http://proxy:3128"
    );
}

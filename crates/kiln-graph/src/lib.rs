//! The build graph as an immutable, content-addressed value (BuildKit's LLB).
//!
//! A build is a DAG of [`Vertex`]es. Each holds an [`Op`] — [`Op::Source`] (image, local
//! context, git, HTTP), [`Op::Exec`] (a process over mounts), [`Op::File`] (copy, mkdir,
//! mkfile, rm, symlink), [`Op::Merge`], [`Op::Diff`] — its inputs (other vertices' outputs)
//! and a platform. Its [`Digest`] is the SHA-256 of the canonical serialization of
//! [`VertexDef`] (op, input digests, platform): compact `serde_json` output of plain data with
//! fields in declaration order and ordered maps. So a digest covers everything below the
//! vertex, identical vertices from different stages, targets or platforms collapse into one,
//! and it is the base of the solver's cache key. [`VertexMeta`] (progress name, source
//! location, ignore-cache) travels beside a vertex without being hashed.
//!
//! Graphs are built with [`State`], in `llb.State` style:
//!
//! ```
//! use kiln_graph::{State, Run, VertexMeta, FileActions, op::MkdirAction};
//! use kiln_platforms::Platform;
//!
//! let base = State::image(
//!     "docker.io/library/busybox:latest",
//!     Platform::new("linux", "amd64"),
//!     VertexMeta::named("FROM busybox"),
//! );
//! let built = base
//!     .add_env("A", "1")
//!     .dir("/src")
//!     .run(Run { args: vec!["make".into()], ..Run::default() })
//!     .root()
//!     .file(
//!         FileActions::new().mkdir(MkdirAction {
//!             path: "/out".into(),
//!             mode: 0o755,
//!             make_parents: true,
//!             chown: None,
//!             mtime: None,
//!         }),
//!         VertexMeta::default(),
//!     );
//! let def = built.definition();
//! assert_eq!(def.vertices.len(), 3);
//! let bytes = def.marshal();
//! assert_eq!(kiln_graph::Definition::unmarshal(&bytes).unwrap(), def);
//! ```
//!
//! Invariants: no I/O; no secret value can be represented (secrets and SSH agents are named
//! by ID only); vertices are immutable once made.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod definition;
mod digest;
mod error;
pub mod op;
mod state;
mod vertex;

pub use definition::{DEFINITION_VERSION, Definition, DefinitionVertex};
pub use digest::Digest;
pub use error::Error;
pub use op::{InputIndex, Op, OutputIndex};
pub use state::{
    ExecState, FileActions, GitOpts, HttpOpts, LocalOpts, Run, RunMount, State, StateMeta,
    clean_path,
};
pub use vertex::{LineRange, Output, OutputRef, Vertex, VertexDef, VertexMeta};

#[cfg(test)]
mod tests {
    use super::op::{
        CacheSharing, CopyAction, MkdirAction, MountKind, NetMode, SecretEnv, SecurityMode,
    };
    use super::*;
    use kiln_platforms::Platform;

    fn amd64() -> Platform {
        Platform::new("linux", "amd64")
    }

    fn base() -> State {
        State::image(
            "docker.io/library/busybox:latest",
            amd64(),
            VertexMeta::named("FROM busybox"),
        )
    }

    fn run(st: &State, cmd: &str, name: &str) -> State {
        st.run(Run {
            args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            meta: VertexMeta::named(name),
            ..Run::default()
        })
        .root()
    }

    #[test]
    fn identical_vertices_share_a_digest_and_metadata_is_not_hashed() {
        let a = run(&base(), "make", "[a 2/2] RUN make");
        let b = run(&base(), "make", "[b 2/2] RUN make");
        assert_eq!(
            a.output().unwrap().vertex.digest(),
            b.output().unwrap().vertex.digest()
        );
        let merged = State::merge(&[a, b], VertexMeta::default());
        let def = merged.definition();
        // image + exec + merge: the two execs collapsed into one.
        assert_eq!(def.vertices.len(), 3);
    }

    #[test]
    fn digests_cover_inputs_env_and_platform() {
        let a = run(&base(), "make", "");
        let b = run(&base().add_env("X", "1"), "make", "");
        assert_ne!(
            a.output().unwrap().vertex.digest(),
            b.output().unwrap().vertex.digest()
        );
        let arm = State::image(
            "docker.io/library/busybox:latest",
            Platform::new("linux", "arm64"),
            VertexMeta::default(),
        );
        let c = run(&arm, "make", "");
        assert_ne!(
            a.output().unwrap().vertex.digest(),
            c.output().unwrap().vertex.digest()
        );
        // A change below changes everything above.
        let d1 = run(&run(&base(), "one", ""), "two", "");
        let d2 = run(&run(&base(), "ONE", ""), "two", "");
        assert_ne!(
            d1.output().unwrap().vertex.digest(),
            d2.output().unwrap().vertex.digest()
        );
    }

    #[test]
    fn states_are_immutable_values() {
        let s = base().dir("/src").user("app").add_env("A", "1");
        let t = s.dir("sub").add_env("A", "2");
        assert_eq!(s.get_dir(), "/src");
        assert_eq!(t.get_dir(), "/src/sub");
        assert_eq!(s.get_env("A"), Some("1"));
        assert_eq!(t.get_env("A"), Some("2"));
        assert_eq!(t.dir("../..").get_dir(), "/");
    }

    #[test]
    fn marshal_round_trips_and_detects_tampering() {
        let ctx = State::local("context", &LocalOpts::default(), VertexMeta::default());
        let st = run(&base(), "make", "build").file(
            FileActions::new()
                .copy(
                    &ctx,
                    CopyAction {
                        src_path: "/a".into(),
                        dest: "/b".into(),
                        ..CopyAction::default()
                    },
                )
                .mkdir(MkdirAction {
                    path: "/out".into(),
                    mode: 0o755,
                    make_parents: true,
                    chown: None,
                    mtime: None,
                }),
            VertexMeta::named("COPY a b"),
        );
        let def = st.definition();
        let bytes = def.marshal();
        let back = Definition::unmarshal(&bytes).unwrap();
        assert_eq!(back, def);
        assert_eq!(back.marshal(), bytes, "serialization is canonical");
        // Inputs come before the vertices that use them.
        let pos = |d: &Digest| back.vertices.iter().position(|v| &v.digest == d).unwrap();
        for (i, v) in back.vertices.iter().enumerate() {
            for input in &v.def.inputs {
                assert!(pos(&input.digest) < i);
            }
        }
        let text = String::from_utf8(bytes).unwrap();
        let tampered = text.replacen("make", "rm -rf /", 1);
        assert!(matches!(
            Definition::unmarshal(tampered.as_bytes()),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(Definition::unmarshal(b"{").is_err());
    }

    #[test]
    fn exec_carries_mounts_and_modes() {
        let cache = RunMount {
            dest: "/cache".into(),
            source: None,
            selector: String::new(),
            readonly: false,
            output: false,
            kind: MountKind::Cache {
                id: "/cache".into(),
                sharing: CacheSharing::Locked,
            },
        };
        let secret = RunMount {
            dest: "/run/secrets/token".into(),
            source: None,
            selector: String::new(),
            readonly: true,
            output: false,
            kind: MountKind::Secret {
                id: "token".into(),
                uid: 0,
                gid: 0,
                mode: 0o400,
                optional: false,
            },
        };
        let exec = base().dir("/w").run_with(
            Run {
                args: vec!["true".into()],
                mounts: vec![cache, secret],
                secret_env: vec![SecretEnv {
                    id: "token".into(),
                    name: "TOKEN".into(),
                    optional: true,
                }],
                ..Run::default()
            },
            NetMode::None,
            SecurityMode::Sandbox,
        );
        let root = exec.root();
        let Op::Exec(e) = root.output().unwrap().vertex.op() else {
            panic!("not an exec");
        };
        assert_eq!(e.meta.cwd, "/w");
        assert_eq!(e.network, NetMode::None);
        assert_eq!(e.mounts.len(), 3);
        assert_eq!(e.mounts[0].dest, "/");
        assert_eq!(e.mounts[0].input, Some(0));
        assert_eq!(e.mounts[0].output, Some(0));
        assert_eq!(e.mounts[1].input, None);
        assert_eq!(root.output().unwrap().vertex.op().output_count(), 1);
    }

    #[test]
    fn deep_graphs_drop_without_recursion() {
        let mut st = base();
        for i in 0..20_000 {
            st = st.file(
                FileActions::new().mkdir(MkdirAction {
                    path: format!("/d{i}"),
                    mode: 0o755,
                    make_parents: false,
                    chown: None,
                    mtime: None,
                }),
                VertexMeta::default(),
            );
        }
        let def = st.definition();
        assert_eq!(def.vertices.len(), 20_001);
        drop(st);
    }

    #[test]
    fn chown_parsing() {
        use op::{Chown, UserOpt};
        assert_eq!(Chown::parse(""), None);
        assert_eq!(
            Chown::parse("42:svc"),
            Some(Chown {
                user: Some(UserOpt::Id(42)),
                group: Some(UserOpt::Name("svc".into())),
            })
        );
        assert_eq!(
            Chown::parse("app"),
            Some(Chown {
                user: Some(UserOpt::Name("app".into())),
                group: None,
            })
        );
    }
}

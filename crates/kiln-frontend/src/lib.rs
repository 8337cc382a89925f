//! Dockerfile → build graph + image config: BuildKit's
//! `frontend/dockerfile/dockerfile2llb` for kiln.
//!
//! [`convert`] parses a Dockerfile (`kiln-dockerfile-parser` → `kiln-dockerfile`), works out
//! the stages the target needs, resolves their base images through an [`ImageMetaResolver`],
//! and dispatches each instruction as BuildKit does: `RUN` becomes an exec op (with its
//! mounts, network and security modes, heredocs), `COPY`/`ADD` file ops over the build
//! context, another stage, an image, inline documents, URLs or git, `WORKDIR` a mkdir, and
//! every instruction its effect on the image config and its `history` entry (BuildKit's exact
//! `created_by` strings, `buildkit.dockerfile.v0` comments and `empty_layer` flags). `ARG`
//! scoping follows BuildKit: global args before `FROM`, the predefined platform args, build
//! args winning over defaults, and args entering the environment of later steps of their
//! stage only, so a build arg changes only the vertices that can see it.
//!
//! The build context is the source `local://<context name>` with the `.dockerignore` patterns
//! as excludes and, as follow paths, the context paths the build's `COPY`/`ADD`/bind mounts
//! read (found by converting twice: once to learn the paths, once over the restricted
//! source). The solver must key a `COPY` from it by the content of the selected paths, not by
//! the source vertex's digest (whose follow-paths attribute changes with any `COPY` line).
//!
//! The result's image config has no `created` times and `rootfs.diff_ids` of the base image
//! only: the exporter adds the new layers and the timestamps.
//!
//! Invariant: no I/O. Image metadata comes only through [`ImageMetaResolver`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod convert;
mod copy;
mod dispatch;
mod error;
pub mod image;
mod options;
mod run;

use kiln_graph::{Definition, State};
use kiln_platforms::Platform;

pub use error::{Error, ErrorKind};
pub use image::{Healthcheck, History, Image, ImageConfig, RootFs};
pub use options::{ConvertOptions, ImageMetaResolver, NoCache, ResolvedImage};

/// What [`convert`] produces for the target stage.
#[derive(Debug, Clone)]
pub struct ConvertResult {
    /// The graph of the target: every vertex it needs, once.
    pub definition: Definition,
    /// The target's final state (to combine several platforms' results into one graph).
    pub state: State,
    /// The image configuration (config, history, base layers, platform).
    pub image: Image,
    /// The platform of the target stage.
    pub platform: Platform,
    /// `SOURCE_DATE_EPOCH` (Unix seconds) when given: the exporter uses it as the image's
    /// `created` time (history entries and file mtimes already carry it).
    pub epoch: Option<i64>,
    /// Build check warnings (`kiln-lint`), with their Dockerfile lines.
    pub warnings: Vec<kiln_lint::Warning>,
}

/// Converts a Dockerfile into the build graph and image config of its target stage.
///
/// Errors carry the Dockerfile lines concerned ([`Error::locations`]). The `# syntax=`
/// directive is accepted and the built-in frontend used.
pub fn convert(
    dockerfile: &[u8],
    opts: &ConvertOptions,
    resolver: &dyn ImageMetaResolver,
) -> Result<ConvertResult, Error> {
    convert::convert(dockerfile, opts, resolver)
}

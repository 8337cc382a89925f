//! BuildKit's build checks for Dockerfiles: the rule table, the `# check=` directive, and the
//! check pass that reports rule violations with their source ranges; also the two other
//! answers that need the same walk over a Dockerfile, `--call=outline` and `--call=targets`.
//!
//! The pass reports; it does not stop at the first problem. Its result is data
//! ([`Warning`]s and an optional [`BuildError`]) that `kiln-subrequests` prints for
//! `--call=check` and a build prints as `N warnings found`.
//!
//! Invariant: this crate does no I/O (base images are looked up only through an
//! [`ImageConfigResolver`] the caller supplies) and never panics on any input.

mod check;
pub mod config;
mod engine;
pub mod expose;
mod outline;
pub mod rules;
pub mod secrets;
pub mod suggest;
mod targets;
pub mod warning;

pub use check::{CheckResult, check};
pub use config::{CheckOptionError, LintConfig, Linter};
pub use engine::{CHECK_BUILD_ARG, CheckOptions, ImageConfig, ImageConfigResolver};
pub use outline::{OutlineArg, OutlineMount, TargetOutline, outline};
pub use rules::Rule;
pub use targets::{TargetInfo, list_targets};
pub use warning::{BuildError, Position, Range, Warning};

//! Build progress: the event stream a build publishes (BuildKit's `SolveStatus`) and the
//! printers behind `--progress=auto|tty|plain|rawjson|quiet`, matching BuildKit's
//! `progressui` and buildx output.
//!
//! ```text
//! solver ──ProgressSender──▶ channel ──ProgressReceiver──▶ display() ──▶ Printer ──▶ stderr
//!   (Vertex, VertexStatus,                                 (100 ms pace)  plain | tty |
//!    VertexLog, VertexWarning)                                            rawjson | quiet
//! ```
//!
//! - [`channel`] creates an unbounded tokio channel: sending never blocks (see
//!   [`ProgressSender`]); RUN output goes through a [`LogWriter`] that applies BuildKit's
//!   2 MiB / 200 KiB/s limits.
//! - [`display`] drives a [`Printer`] until every sender is dropped and returns the warnings
//!   for [`print_warnings`] (`1 warning found (use docker --debug to expand):`).
//! - [`ProgressMode::resolve`] applies buildx's rules (`BUILDKIT_PROGRESS`, terminal
//!   detection); [`new_printer`] builds the printer for the result.
//! - Printers write to any `io::Write` and read time from a [`Clock`], so tests render
//!   exact text with a [`ManualClock`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//! use kiln_progress::{ManualClock, PlainPrinter, Printer, SolveStatus, Vertex};
//!
//! let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut p = PlainPrinter::new(Vec::new(), Arc::new(ManualClock::new(t0)));
//! p.update(&SolveStatus {
//!     vertexes: vec![Vertex {
//!         digest: "sha256:a".into(),
//!         name: "[1/2] RUN make".into(),
//!         started: Some(t0),
//!         completed: Some(t0 + Duration::from_millis(1250)),
//!         ..Vertex::default()
//!     }],
//!     ..SolveStatus::default()
//! })?;
//! p.done()?;
//! assert_eq!(String::from_utf8_lossy(&p.into_inner()), "#1 [1/2] RUN make\n#1 DONE 1.2s\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Invariant: printers never panic on any event sequence and print nothing on their own
//! initiative outside the writer they were given.

mod channel;
mod clock;
mod display;
mod error;
mod event;
mod format;
mod mode;
mod plain;
mod printer;
mod rawjson;
mod trace;
mod tty;
mod warnings;

pub use channel::{
    DEFAULT_MAX_LOG_SIZE, DEFAULT_MAX_LOG_SPEED, LogWriter, ProgressReceiver, ProgressSender,
    channel,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use display::{DISPLAY_INTERVAL, TICK_INTERVAL, display};
pub use error::Error;
pub use event::{
    Digest, Position, ProgressGroup, Range, STDERR, STDOUT, SolveStatus, SourceInfo, Vertex,
    VertexLog, VertexStatus, VertexWarning,
};
pub use format::{bytes as format_bytes, rfc3339_nano};
pub use mode::{PrinterOptions, ProgressMode, Resolved, new_printer};
pub use plain::PlainPrinter;
pub use printer::{Printer, QuietPrinter};
pub use rawjson::{RawJsonPrinter, to_json_line};
pub use tty::{FixedSize, TerminalSize, TtyPrinter};
pub use warnings::{ExcerptFn, WarningsStyle, print_warnings};

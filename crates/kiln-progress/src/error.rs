//! Errors of this crate.

/// What can go wrong choosing or running a progress display.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--progress` got a value that is not a mode.
    #[error("invalid progress mode {0}: use auto, plain, tty, rawjson or quiet")]
    InvalidMode(String),
    /// `--progress=tty` while stderr is not a terminal.
    #[error("failed to get console: stderr is not a terminal: use --progress=plain")]
    NotATerminal,
    /// Writing the progress output failed (closed pipe, full disk).
    #[error("writing build progress: {0}")]
    Write(#[from] std::io::Error),
}

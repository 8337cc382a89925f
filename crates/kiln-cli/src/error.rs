//! The errors `main` treats specially, and how every error becomes a message and an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

/// A feature that is not built yet. Printed as one line, `kiln: <message>`, exit code 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotImplemented(pub String);

impl NotImplemented {
    /// `"bake" is not implemented yet`.
    pub fn command(path: &str) -> Self {
        NotImplemented(format!("{path:?} is not implemented yet"))
    }
}

/// Exit code of a run that failed (buildx: 1).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a command line that does not parse: an unknown flag, a missing flag value
/// (the Docker CLI's cobra flag errors, which buildx users see as `docker buildx ...`).
pub const EXIT_USAGE: u8 = 125;

/// True when the error comes from writing to a closed pipe (`kiln ... | head`).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints `err` the way buildx does (`ERROR: <cause chain>`; with `-D`, every cause on its own
/// line) and returns the exit code. A closed stdout is not worth a message.
pub fn report(err: &anyhow::Error, debug: bool) -> ExitCode {
    let mut stderr = io::stderr().lock();
    let _ = if is_broken_pipe(err) {
        Ok(())
    } else if let Some(ni) = err.downcast_ref::<NotImplemented>() {
        writeln!(stderr, "kiln: {ni}")
    } else if debug {
        writeln!(stderr, "ERROR: {err:?}")
    } else {
        writeln!(stderr, "ERROR: {err:#}")
    };
    ExitCode::from(EXIT_FAILURE)
}

/// Maps a child's status (e.g. a subrequest's) to a process exit code; anything that does not
/// fit a byte, or is negative, is a plain failure.
pub fn exit_code(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(c) => ExitCode::from(c),
        Err(_) => ExitCode::from(EXIT_FAILURE),
    }
}

/// An I/O error worded like Go's (`no such file or directory`), which is what users of buildx
/// grep for, without Rust's `(os error 2)` suffix.
pub fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory".to_string(),
        io::ErrorKind::NotADirectory => "not a directory".to_string(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_like_go() {
        let nf = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(io_text(&nf), "no such file or directory");
        let other = io::Error::from_raw_os_error(28); // ENOSPC
        assert_eq!(io_text(&other), "no space left on device");
    }

    #[test]
    fn exit_codes_fit_a_byte() {
        assert_eq!(exit_code(0), ExitCode::SUCCESS);
        assert_eq!(exit_code(3), ExitCode::from(3));
        assert_eq!(exit_code(256), ExitCode::from(EXIT_FAILURE));
        assert_eq!(exit_code(-1), ExitCode::from(EXIT_FAILURE));
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn not_implemented_names_the_command() {
        assert_eq!(
            NotImplemented::command("bake").to_string(),
            r#""bake" is not implemented yet"#
        );
    }
}

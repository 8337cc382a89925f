//! `--progress` values and buildx's rules for choosing the display: `auto` becomes
//! `BUILDKIT_PROGRESS` when that is set, then `tty` on a terminal and `plain` elsewhere.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Error;
use crate::plain::PlainPrinter;
use crate::printer::{Printer, QuietPrinter};
use crate::rawjson::RawJsonPrinter;
use crate::tty::{TerminalSize, TtyPrinter};

/// A `--progress` value as the user typed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// `auto` (the default): `BUILDKIT_PROGRESS`, else tty on a terminal, else plain.
    #[default]
    Auto,
    /// `tty`: the live view; an error when the output is not a terminal.
    Tty,
    /// `plain`: BuildKit's text format.
    Plain,
    /// `rawjson`: one JSON `SolveStatus` per line.
    RawJson,
    /// `quiet`: nothing.
    Quiet,
}

impl FromStr for ProgressMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<ProgressMode, Error> {
        match s {
            "auto" | "" => Ok(ProgressMode::Auto),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "rawjson" => Ok(ProgressMode::RawJson),
            "quiet" => Ok(ProgressMode::Quiet),
            other => Err(Error::InvalidMode(other.to_string())),
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgressMode::Auto => "auto",
            ProgressMode::Tty => "tty",
            ProgressMode::Plain => "plain",
            ProgressMode::RawJson => "rawjson",
            ProgressMode::Quiet => "quiet",
        })
    }
}

/// The display actually used once `auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Live view.
    Tty,
    /// Text.
    Plain,
    /// JSON lines.
    RawJson,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// buildx's choice: `auto` takes `buildkit_progress` (the `BUILDKIT_PROGRESS`
    /// environment variable, read by the CLI) when it is non-empty; then `auto` is `tty`
    /// when the output is a terminal and `plain` otherwise; an explicit `tty` without a
    /// terminal is an error.
    pub fn resolve(
        self,
        buildkit_progress: Option<&str>,
        is_terminal: bool,
    ) -> Result<Resolved, Error> {
        let mode = match (self, buildkit_progress) {
            (ProgressMode::Auto, Some(env)) if !env.is_empty() => env.parse()?,
            (mode, _) => mode,
        };
        match mode {
            ProgressMode::Auto if is_terminal => Ok(Resolved::Tty),
            ProgressMode::Auto => Ok(Resolved::Plain),
            ProgressMode::Tty if is_terminal => Ok(Resolved::Tty),
            ProgressMode::Tty => Err(Error::NotATerminal),
            ProgressMode::Plain => Ok(Resolved::Plain),
            ProgressMode::RawJson => Ok(Resolved::RawJson),
            ProgressMode::Quiet => Ok(Resolved::Quiet),
        }
    }
}

/// What the CLI knows about the builder and the terminal, for [`new_printer`].
#[derive(Debug)]
pub struct PrinterOptions {
    /// The plain printer's `#0` line (buildx: `building with "default" instance using
    /// docker driver`).
    pub text_description: Option<String>,
    /// The tty header's right-aligned text (buildx: `docker:default`).
    pub console_description: Option<String>,
    /// Colors in the tty view.
    pub color: bool,
    /// Terminal size for the tty view.
    pub size: Box<dyn TerminalSize>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
}

/// The printer for a resolved mode, writing to `w` (normally stderr).
pub fn new_printer(
    mode: Resolved,
    w: Box<dyn Write + Send>,
    options: PrinterOptions,
) -> Box<dyn Printer> {
    match mode {
        Resolved::Tty => {
            let mut p = TtyPrinter::new(w, options.clock, options.size).with_color(options.color);
            if let Some(desc) = options.console_description {
                p = p.with_description(desc);
            }
            Box::new(p)
        }
        Resolved::Plain => {
            let mut p = PlainPrinter::new(w, options.clock);
            if let Some(desc) = options.text_description {
                p = p.with_description(desc);
            }
            Box::new(p)
        }
        Resolved::RawJson => Box::new(RawJsonPrinter::new(w)),
        Resolved::Quiet => Box::new(QuietPrinter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_buildx() {
        let auto = ProgressMode::Auto;
        assert_eq!(auto.resolve(None, true).ok(), Some(Resolved::Tty));
        assert_eq!(auto.resolve(None, false).ok(), Some(Resolved::Plain));
        assert_eq!(auto.resolve(Some(""), false).ok(), Some(Resolved::Plain));
        assert_eq!(
            auto.resolve(Some("rawjson"), true).ok(),
            Some(Resolved::RawJson)
        );
        assert_eq!(
            ProgressMode::Plain.resolve(Some("tty"), true).ok(),
            Some(Resolved::Plain)
        );
        assert!(matches!(
            ProgressMode::Tty.resolve(None, false),
            Err(Error::NotATerminal)
        ));
        assert!(matches!(
            auto.resolve(Some("fancy"), true),
            Err(Error::InvalidMode(m)) if m == "fancy"
        ));
    }

    #[test]
    fn modes_round_trip() {
        for m in ["auto", "tty", "plain", "rawjson", "quiet"] {
            let parsed: ProgressMode = m.parse().unwrap_or_default();
            assert_eq!(parsed.to_string(), m);
        }
        assert_eq!(
            "json".parse::<ProgressMode>().map_err(|e| e.to_string()),
            Err("invalid progress mode json: use auto, plain, tty, rawjson or quiet".to_string())
        );
    }
}

//! The [`Printer`] role trait every progress mode implements, and the quiet printer.

use std::io;

use crate::event::SolveStatus;

/// Renders the progress of a build.
///
/// Contract:
///
/// - [`Printer::update`] receives every batch of events, in the order the solver sent them.
///   It records them and may write at once (rawjson does), but printers that group output
///   (plain, tty) only write on `refresh`.
/// - [`Printer::refresh`] writes what is pending. The display loop ([`crate::display`])
///   calls it at most every 100 ms after updates and every 150 ms while idle, like
///   BuildKit's `progressui`; tests call it wherever they want a print to happen.
/// - [`Printer::done`] is called once, after the last update: it writes everything still
///   pending and then the error block of every failed vertex (`------` / ` > name:` /
///   last log lines / `------`). No call may follow it.
///
/// A printer owns its writer and never panics on any sequence of events (unknown digests,
/// statuses of unknown vertexes, logs before the vertex started, duplicate records are all
/// tolerated). Errors are only the writer's I/O errors. Printers are not shared between
/// threads; the display loop owns one.
pub trait Printer: Send {
    /// Records one batch of events.
    fn update(&mut self, status: &SolveStatus) -> io::Result<()>;
    /// Writes pending output.
    fn refresh(&mut self) -> io::Result<()>;
    /// Writes everything still pending and the error blocks; the last call.
    fn done(&mut self) -> io::Result<()>;
}

/// `--progress=quiet`: prints nothing (the CLI prints the image ID itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct QuietPrinter;

impl Printer for QuietPrinter {
    fn update(&mut self, _status: &SolveStatus) -> io::Result<()> {
        Ok(())
    }

    fn refresh(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn done(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<P: Printer + ?Sized> Printer for Box<P> {
    fn update(&mut self, status: &SolveStatus) -> io::Result<()> {
        (**self).update(status)
    }

    fn refresh(&mut self) -> io::Result<()> {
        (**self).refresh()
    }

    fn done(&mut self) -> io::Result<()> {
        (**self).done()
    }
}

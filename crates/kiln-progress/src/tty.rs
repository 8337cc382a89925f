//! `--progress=tty`: BuildKit's live view — a `[+] Building 2.8s (3/5)` header and one line
//! per step with its timer, redrawn in place with ANSI cursor movements, the last output
//! lines of running steps, and `FINISHED` at the end.

use std::io::{self, Write};
use std::sync::Arc;

use crate::clock::Clock;
use crate::event::SolveStatus;
use crate::format::{bytes, secs_between};
use crate::plain::print_error_blocks;
use crate::printer::Printer;
use crate::trace::{Interval, TERM_HEIGHT, Trace};

const COLOR_RUN: &str = "\x1b[34m";
const COLOR_CANCEL: &str = "\x1b[33m";
const COLOR_ERROR: &str = "\x1b[31m";
const FAINT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";
const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// The size of the terminal the tty printer draws on.
///
/// Called before every redraw so that a resized window is followed. Return `None` when the
/// size is unknown; the printer then draws 80×10 like BuildKit.
pub trait TerminalSize: Send + std::fmt::Debug {
    /// `(columns, rows)`.
    fn size(&self) -> Option<(usize, usize)>;
}

/// A terminal size that never changes (tests, or a CLI that measured once).
#[derive(Clone, Copy, Debug)]
pub struct FixedSize {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl TerminalSize for FixedSize {
    fn size(&self) -> Option<(usize, usize)> {
        Some((self.width, self.height))
    }
}

#[derive(Debug)]
struct Job {
    name: String,
    status: String,
    intervals: Vec<Interval>,
    completed: bool,
    has_error: bool,
    canceled: bool,
    term: Option<Vec<String>>,
    term_bytes: usize,
    show_term: bool,
}

/// The tty printer. It writes ANSI escape sequences; give it a terminal (or a buffer in
/// tests). Everything it draws is computed from the events and the injected clock, so a
/// redraw is deterministic.
#[derive(Debug)]
pub struct TtyPrinter<W: Write + Send> {
    w: W,
    trace: Trace,
    clock: Arc<dyn Clock>,
    size: Box<dyn TerminalSize>,
    phase: String,
    desc: Option<String>,
    color: bool,
    line_count: usize,
    repeated: bool,
}

impl<W: Write + Send> TtyPrinter<W> {
    /// A tty printer writing to `w`, sized by `size`, reading the time from `clock`.
    pub fn new(w: W, clock: Arc<dyn Clock>, size: Box<dyn TerminalSize>) -> TtyPrinter<W> {
        TtyPrinter {
            w,
            trace: Trace::new(true),
            clock,
            size,
            phase: "Building".to_string(),
            desc: None,
            color: true,
            line_count: 0,
            repeated: false,
        }
    }

    /// The word after `[+]` (`Building` by default).
    pub fn with_phase(mut self, phase: impl Into<String>) -> TtyPrinter<W> {
        self.phase = phase.into();
        self
    }

    /// Text aligned right on the header line (buildx: `docker:default`).
    pub fn with_description(mut self, desc: impl Into<String>) -> TtyPrinter<W> {
        self.desc = Some(desc.into());
        self
    }

    /// Colors finished steps (blue), failed ones (red) and canceled ones and warnings
    /// (yellow). On by default; the CLI turns it off for `NO_COLOR`.
    pub fn with_color(mut self, color: bool) -> TtyPrinter<W> {
        self.color = color;
        self
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.w
    }

    /// The writer, to inspect what was written so far.
    pub fn get_ref(&self) -> &W {
        &self.w
    }

    fn jobs(&self) -> (Vec<Job>, usize, usize) {
        let total = self.trace.by_digest.len();
        let completed = self
            .trace
            .by_digest
            .values()
            .filter(|v| {
                v.merged_intervals()
                    .last()
                    .is_some_and(|i| i.stop.is_some())
            })
            .count();
        let mut jobs = Vec::new();
        for d in &self.trace.order {
            let Some(v) = self.trace.by_digest.get(d) else {
                continue;
            };
            let mut name = v.vertex.name.replace('\t', " ");
            let failed = v.failed();
            let canceled = v.is_canceled();
            if canceled {
                name = format!("CANCELED {name}");
            } else if failed {
                name = format!("ERROR {name}");
            }
            if v.vertex.cached {
                name = format!("CACHED {name}");
            }
            let intervals = v.merged_intervals();
            jobs.push(Job {
                name,
                status: String::new(),
                completed: intervals.iter().all(|i| i.stop.is_some()),
                intervals,
                has_error: failed,
                canceled,
                term: Some(v.term.content().into_iter().map(str::to_string).collect()),
                term_bytes: v.term_bytes,
                show_term: false,
            });
            for id in &v.statuses {
                let Some(s) = v.by_id.get(id) else { continue };
                let status = if s.total != 0 {
                    format!("{} / {}", bytes(s.current), bytes(s.total))
                } else if s.current != 0 {
                    bytes(s.current)
                } else {
                    String::new()
                };
                jobs.push(Job {
                    name: format!("=> {}", s.id),
                    status,
                    intervals: s
                        .started
                        .map(|start| Interval {
                            start,
                            stop: s.completed,
                        })
                        .into_iter()
                        .collect(),
                    completed: s.completed.is_some(),
                    has_error: false,
                    canceled: false,
                    term: None,
                    term_bytes: 0,
                    show_term: false,
                });
            }
            let recent = v.merged_intervals().last().copied();
            for w in &v.warnings {
                jobs.push(Job {
                    name: format!("WARN: {}", String::from_utf8_lossy(&w.short)),
                    status: String::new(),
                    intervals: recent.into_iter().collect(),
                    completed: true,
                    has_error: false,
                    canceled: true,
                    term: None,
                    term_bytes: 0,
                    show_term: false,
                });
            }
        }
        (jobs, total, completed)
    }

    fn draw(&mut self, all: bool) -> io::Result<()> {
        let (width, height) = self
            .size
            .size()
            .filter(|(w, h)| *w > 0 && *h > 0)
            .unwrap_or((80, 10));
        let now = self.clock.now();
        let (jobs, total, completed) = self.jobs();
        let jobs = setup_terminals(jobs, height, all);

        let mut out = String::new();
        out.push_str(&format!("\x1b[{}A", self.line_count + 1));
        if !self.repeated {
            out.push_str("\x1b[1B");
        }
        self.repeated = true;
        out.push_str("\x1b[0G");
        out.push_str(HIDE_CURSOR);

        let status = if completed > 0 && completed == total && all {
            "FINISHED"
        } else {
            ""
        };
        let elapsed = self
            .trace
            .start_time
            .map_or(0.0, |s| secs_between(s, now).max(0.0));
        let mut header = format!(
            "[+] {} {elapsed:.1}s ({completed}/{total}) {status}",
            self.phase
        );
        header = match &self.desc {
            Some(desc) => align(&header, desc, width.saturating_sub(1)),
            None => align(&header, "", width),
        };
        truncate(&mut header, width);
        out.push_str(&header);
        out.push('\n');

        let mut line_count = 0;
        for job in &jobs {
            if job.intervals.is_empty() {
                continue;
            }
            let mut dt: f64 = job.intervals.iter().map(|i| i.secs(now)).sum();
            if dt < 0.05 {
                dt = 0.0;
            }
            let pfx = " => ";
            let timer = format!(" {dt:3.1}s\n");
            let mut left = width as i64 - pfx.len() as i64 - timer.len() as i64 - 1;
            let mut show_status = false;
            if !job.status.is_empty() && left + job.status.len() as i64 > 20 {
                show_status = true;
                left -= job.status.len() as i64 + 1;
            }
            if left < 12 {
                continue;
            }
            let mut name = job.name.clone();
            truncate(&mut name, usize::try_from(left).unwrap_or(0));
            let mut line = format!("{pfx}{name}");
            if show_status {
                line.push(' ');
                line.push_str(&job.status);
            }
            let mut line = align(&line, &timer, width);
            if job.completed && self.color {
                let color = if job.canceled {
                    COLOR_CANCEL
                } else if job.has_error {
                    COLOR_ERROR
                } else {
                    COLOR_RUN
                };
                line = format!("{color}{line}{RESET}");
            }
            out.push_str(&line);
            line_count += 1;
            if job.show_term {
                for l in job.term.iter().flatten() {
                    let l = format!(" => => # {l}\n");
                    if self.color {
                        out.push_str(&format!("{FAINT}{l}{RESET}"));
                    } else {
                        out.push_str(&l);
                    }
                    line_count += 1;
                }
            }
        }
        if self.line_count > line_count {
            let diff = self.line_count - line_count;
            for _ in 0..diff {
                out.push_str(&" ".repeat(width));
                out.push('\n');
            }
            out.push_str(&format!("\x1b[{diff}A\x1b[0G"));
        }
        self.line_count = line_count;
        out.push_str(SHOW_CURSOR);
        self.w.write_all(out.as_bytes())?;
        self.w.flush()
    }
}

/// Picks the running steps whose output is shown under them, and (while live) keeps the
/// view within the terminal's height, keeping running steps visible.
fn setup_terminals(mut jobs: Vec<Job>, height: usize, all: bool) -> Vec<Job> {
    let in_use = jobs.iter().filter(|j| !j.completed).count();
    let mut candidates: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].term.is_some() && jobs[i].term_bytes > 0 && !jobs[i].completed)
        .collect();
    candidates.sort_by_key(|&i| std::cmp::Reverse(jobs[i].term_bytes));
    let mut free = height as i64 - 2 - in_use as i64;
    let term_limit = TERM_HEIGHT as i64 + 3;
    let mut hidden = 0i64;
    for i in candidates {
        if free <= term_limit {
            break;
        }
        jobs[i].show_term = true;
        hidden += jobs[i].term.as_ref().map_or(0, Vec::len) as i64;
        free -= term_limit;
    }
    if all {
        return jobs;
    }
    wrap_height(jobs, height as i64 - 2 - hidden)
}

/// Keeps the last `limit` jobs, moving running jobs that would scroll away back into view.
fn wrap_height(jobs: Vec<Job>, limit: i64) -> Vec<Job> {
    let Ok(limit) = usize::try_from(limit) else {
        return Vec::new();
    };
    if jobs.len() <= limit {
        return jobs;
    }
    let cut = jobs.len() - limit;
    let mut jobs = jobs;
    let wrapped = jobs.split_off(cut);
    let invisible: Vec<Job> = jobs.into_iter().filter(|j| !j.completed).collect();
    if invisible.is_empty() {
        return wrapped;
    }
    let mut l = invisible.len() as i64;
    let total = wrapped.len();
    let mut rewrapped = Vec::with_capacity(total);
    for j in wrapped {
        if !j.completed || l <= 0 {
            rewrapped.push(j);
        }
        l -= 1;
    }
    let free = total - rewrapped.len();
    let skip = invisible.len().saturating_sub(free);
    let mut out: Vec<Job> = invisible.into_iter().skip(skip).collect();
    out.extend(rewrapped);
    out
}

/// Go's `fmt.Sprintf("%-*s %s", w-len(r)-1, l, r)`.
fn align(l: &str, r: &str, w: usize) -> String {
    let pad = w.saturating_sub(r.len() + 1);
    format!("{l:<pad$} {r}")
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while end > 0 && !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

impl<W: Write + Send> Printer for TtyPrinter<W> {
    fn update(&mut self, status: &SolveStatus) -> io::Result<()> {
        self.trace.update(status, self.clock.now());
        Ok(())
    }

    fn refresh(&mut self) -> io::Result<()> {
        self.draw(false)
    }

    fn done(&mut self) -> io::Result<()> {
        self.draw(true)?;
        print_error_blocks(&mut self.w, &self.trace, true)?;
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_pads_like_go() {
        assert_eq!(align("ab", " 1.0s\n", 12), "ab     1.0s\n");
        assert_eq!(align("abcdef", "", 4), "abcdef ");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let mut s = "héllo".to_string();
        truncate(&mut s, 2);
        assert_eq!(s, "h");
    }
}

//! `--progress=plain`: BuildKit's text format (`#N [stage 1/2] RUN …`, `#N 0.123 output`,
//! `#N DONE 0.3s`), with its rules for interleaving vertexes that run at the same time.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::event::{Digest, SolveStatus};
use crate::format::{bytes, secs_between};
use crate::printer::Printer;
use crate::trace::Trace;

/// A vertex that is not the current one but has waited this long is printed next.
const MAX_DELAY: Duration = Duration::from_secs(10);
/// Base time a busy vertex keeps the output before a busier one takes over.
const ANTI_FLICKER: Duration = Duration::from_secs(5);
/// A running status is printed again when it moved by this fraction of its total ...
const MIN_PROGRESS_DELTA: f64 = 0.05;
/// ... or when this much time passed since it was last printed.
const MIN_TIME_DELTA: Duration = Duration::from_secs(5);

/// The plain printer.
///
/// Output rules (BuildKit's `progressui` text mux):
///
/// - A vertex's block starts with `#N NAME`, blocks are separated by a blank line, and a
///   block ends with `#N DONE 1.2s`, `#N CACHED`, `#N ERROR: …` or `#N CANCELED`.
/// - `N` numbers vertexes in the order they are first printed, from 1 (`#0` is the
///   description line, see [`PlainPrinter::with_description`]). BuildKit numbers the same way
///   since it stopped printing vertexes that never run; the numbers never skip.
/// - Status lines: `#N ID[ CURRENT[ / TOTAL]][ 1.2s][ done]`; a running status is printed
///   again only when it moved 5 % or 5 s passed.
/// - Each output line: `#N SECS TEXT` where SECS is the time since the vertex started
///   (`0.123`, `12.34`, `123.4`); bytes are written as they came (`\r` included).
/// - When another vertex must print while one is running, the running one is closed with
///   `#N ...` and re-opened later with its `#N NAME` header again. The current vertex keeps
///   the output while it is the busiest, or for 5 s scaled by its share of the activity;
///   a vertex waiting more than 10 s is printed next.
#[derive(Debug)]
pub struct PlainPrinter<W: Write + Send> {
    w: W,
    trace: Trace,
    clock: Arc<dyn Clock>,
    current: Option<Digest>,
    last: HashMap<String, (i64, SystemTime)>,
    not_first: bool,
    next_index: usize,
    desc: Option<String>,
    name_limit: Option<usize>,
}

impl<W: Write + Send> PlainPrinter<W> {
    /// A plain printer writing to `w`, reading the time from `clock`.
    pub fn new(w: W, clock: Arc<dyn Clock>) -> PlainPrinter<W> {
        PlainPrinter {
            w,
            trace: Trace::new(false),
            clock,
            current: None,
            last: HashMap::new(),
            not_first: false,
            next_index: 0,
            desc: None,
            name_limit: None,
        }
    }

    /// Cuts vertex names to `limit` bytes plus `...` (BuildKit does this to 72 when
    /// `PROGRESS_NO_TRUNC=0`; the CLI reads the variable). Names are whole by default.
    pub fn with_name_limit(mut self, limit: Option<usize>) -> PlainPrinter<W> {
        self.name_limit = limit;
        self
    }

    /// Prints `#0 DESC` before the first vertex, as buildx does with
    /// `building with "default" instance using docker driver`.
    pub fn with_description(mut self, desc: impl Into<String>) -> PlainPrinter<W> {
        self.desc = Some(desc.into());
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

    fn print_desc(&mut self) -> io::Result<()> {
        if let Some(desc) = self.desc.take() {
            writeln!(self.w, "#0 {desc}")?;
            self.not_first = true;
        }
        Ok(())
    }

    fn print_vtx(&mut self, dgst: &str) -> io::Result<()> {
        if !self.trace.by_digest.contains_key(dgst) {
            return Ok(());
        }
        self.print_desc()?;
        if self.current.as_deref() != Some(dgst) {
            if let Some(cur) = self.current.take() {
                if let Some(old) = self.trace.by_digest.get_mut(&cur) {
                    if old.logs_partial {
                        writeln!(self.w)?;
                    }
                    old.logs_offset = 0;
                    old.count = 0;
                    writeln!(self.w, "#{} ...", old.index)?;
                }
            }
            if self.not_first {
                writeln!(self.w)?;
            } else {
                self.not_first = true;
            }
            let Some(v) = self.trace.by_digest.get_mut(dgst) else {
                return Ok(());
            };
            if v.index == 0 {
                self.next_index += 1;
                v.index = self.next_index;
            }
            match self.name_limit {
                Some(limit) if v.vertex.name.len() > limit => {
                    let mut end = limit;
                    while !v.vertex.name.is_char_boundary(end) {
                        end -= 1;
                    }
                    writeln!(self.w, "#{} {}...", v.index, &v.vertex.name[..end])?;
                }
                _ => writeln!(self.w, "#{} {}", v.index, v.vertex.name)?,
            }
        }
        let Some(v) = self.trace.by_digest.get_mut(dgst) else {
            return Ok(());
        };
        let index = v.index;

        for id in &v.statuses {
            if !v.status_updates.contains(id) {
                continue;
            }
            let Some(s) = v.by_id.get(id) else { continue };
            if let Some(&(last_current, last_ts)) = self.last.get(id) {
                if s.completed.is_none() {
                    let progress_delta = if s.total > 0 {
                        (s.current - last_current) as f64 / s.total as f64
                    } else {
                        0.0
                    };
                    let time_delta = secs_between(last_ts, s.timestamp);
                    if progress_delta < MIN_PROGRESS_DELTA
                        && time_delta < MIN_TIME_DELTA.as_secs_f64()
                    {
                        continue;
                    }
                }
            }
            self.last.insert(id.clone(), (s.current, s.timestamp));
            let amount = if s.total != 0 {
                format!(" {} / {}", bytes(s.current), bytes(s.total))
            } else if s.current != 0 {
                format!(" {}", bytes(s.current))
            } else {
                String::new()
            };
            let mut tm = String::new();
            if let Some(started) = s.started {
                let diff = secs_between(started, s.completed.unwrap_or(s.timestamp));
                if diff > 0.01 {
                    tm = format!(" {diff:.1}s");
                }
            }
            if s.completed.is_some() {
                tm.push_str(" done");
            }
            writeln!(self.w, "#{index} {}{amount}{tm}", s.id)?;
        }
        v.status_updates.clear();

        let n = v.logs.len();
        let logs = std::mem::take(&mut v.logs);
        for (i, line) in logs.iter().enumerate() {
            let is_last_partial = i + 1 == n && v.logs_partial;
            if i == 0 && v.logs_offset > 0 {
                let rest = line.get(v.logs_offset..).unwrap_or_default();
                self.w.write_all(rest)?;
            } else {
                write!(self.w, "#{index} ")?;
                self.w.write_all(line)?;
            }
            if !is_last_partial {
                writeln!(self.w)?;
            }
            v.remember_line(line, is_last_partial);
        }
        if n > 0 {
            if v.logs_partial {
                if let Some(last) = logs.into_iter().last() {
                    v.logs_offset = last.len();
                    v.logs = vec![last];
                }
            } else {
                v.logs_offset = 0;
            }
        }

        self.current = Some(dgst.to_string());
        if let Some(completed) = v.vertex.completed {
            self.current = None;
            v.count = 0;
            if let Some(err) = v.vertex.error.as_deref().filter(|e| !e.is_empty()) {
                if v.logs_partial {
                    writeln!(self.w)?;
                }
                if v.is_canceled() {
                    writeln!(self.w, "#{index} CANCELED")?;
                } else {
                    writeln!(self.w, "#{index} ERROR: {err}")?;
                }
            } else if v.vertex.cached {
                writeln!(self.w, "#{index} CACHED")?;
            } else if let Some(started) = v.vertex.started {
                writeln!(
                    self.w,
                    "#{index} DONE {:.1}s",
                    secs_between(started, completed)
                )?;
            } else {
                writeln!(self.w, "#{index} DONE")?;
            }
        }
        self.trace.updates.remove(dgst);
        Ok(())
    }

    /// Digests in a stable order: first seen first.
    fn ordered(&self, set: impl Fn(&str) -> bool) -> Vec<Digest> {
        self.trace.seen.iter().filter(|d| set(d)).cloned().collect()
    }

    fn print(&mut self) -> io::Result<()> {
        let is_completed = |t: &Trace, d: &str| {
            t.by_digest
                .get(d)
                .is_some_and(|v| v.vertex.completed.is_some())
        };
        let mut completed =
            self.ordered(|d| self.trace.updates.contains(d) && is_completed(&self.trace, d));
        let mut rest =
            self.ordered(|d| self.trace.updates.contains(d) && !is_completed(&self.trace, d));
        completed.sort_by_key(|d| self.trace.by_digest.get(d).and_then(|v| v.vertex.completed));

        let current = self.current.clone();
        // Completed vertexes print first, the current one before the others.
        if let Some(cur) = &current {
            if completed.contains(cur) {
                self.print_vtx(cur)?;
            }
        }
        for d in &completed {
            if Some(d) != current.as_ref() {
                self.print_vtx(d)?;
            }
        }

        if rest.is_empty() {
            if let Some(cur) = &current {
                if self
                    .trace
                    .by_digest
                    .get(cur)
                    .is_some_and(|v| v.is_running())
                {
                    return Ok(());
                }
            }
            // Show which vertex is still running.
            let open = self
                .trace
                .order
                .iter()
                .find(|d| self.trace.by_digest.get(*d).is_some_and(|v| v.is_running()));
            if let Some(d) = open.cloned() {
                self.print_vtx(&d)?;
            }
            return Ok(());
        }

        if let Some(cur) = &current {
            if rest.contains(cur) {
                self.print_vtx(cur)?;
            }
        }

        let now = self.clock.now();
        if let Some(cur) = &current {
            if !rest.contains(cur) {
                rest.push(cur.clone());
            }
        }
        struct Stat {
            block_secs: f64,
            speed: f64,
            over_limit: bool,
        }
        let mut stats: Vec<(Digest, Stat)> = Vec::with_capacity(rest.len());
        let mut sum = 0.0;
        let mut max: Option<usize> = None;
        for d in &rest {
            let Some(v) = self.trace.by_digest.get(d) else {
                continue;
            };
            let block_secs = secs_between(v.last_block_time.unwrap_or(now), now).max(1e-9);
            let speed = v.count as f64 / block_secs;
            let over_limit = block_secs > MAX_DELAY.as_secs_f64() && Some(d) != current.as_ref();
            sum += speed;
            let i = stats.len();
            let beats_max = match max {
                None => true,
                Some(m) => stats[m].1.speed < speed,
            };
            if over_limit || beats_max {
                max = Some(i);
            }
            stats.push((
                d.clone(),
                Stat {
                    block_secs,
                    speed,
                    over_limit,
                },
            ));
        }
        let Some(max) = max.map(|m| stats[m].0.clone()) else {
            return Ok(());
        };

        let current_done = current
            .as_ref()
            .is_none_or(|c| is_completed(&self.trace, c));
        if current_done {
            return self.print_vtx(&max);
        }
        if let Some((d, _)) = stats.iter().find(|(_, s)| s.over_limit) {
            let d = d.clone();
            return self.print_vtx(&d);
        }
        // Fair split between vertexes that print at the same time.
        if let Some((_, cur)) = stats.iter().find(|(d, _)| Some(d) == current.as_ref()) {
            let share = if sum > 0.0 { cur.speed / sum } else { 0.0 };
            if share < 1.0 && ANTI_FLICKER.as_secs_f64() / (1.0 - share) < cur.block_secs {
                return self.print_vtx(&max);
            }
        }
        Ok(())
    }

    fn print_error_logs(&mut self) -> io::Result<()> {
        print_error_blocks(&mut self.w, &self.trace, false)
    }
}

/// The block printed after the progress for every failed vertex: its name and its last log
/// lines between `------` rules. `all_logs` prints every line kept (tty), otherwise the last
/// ten printed (plain).
pub(crate) fn print_error_blocks(
    w: &mut dyn Write,
    trace: &Trace,
    all_logs: bool,
) -> io::Result<()> {
    for d in &trace.order {
        let Some(v) = trace.by_digest.get(d) else {
            continue;
        };
        if !v.failed() {
            continue;
        }
        writeln!(w, "------")?;
        writeln!(w, " > {}:", v.vertex.name)?;
        let lines: Vec<&Vec<u8>> = if all_logs {
            v.logs.iter().collect()
        } else {
            v.logs_buffer.iter().collect()
        };
        for l in lines {
            w.write_all(l)?;
            writeln!(w)?;
        }
        writeln!(w, "------")?;
    }
    Ok(())
}

impl<W: Write + Send> Printer for PlainPrinter<W> {
    fn update(&mut self, status: &SolveStatus) -> io::Result<()> {
        self.trace.update(status, self.clock.now());
        Ok(())
    }

    fn refresh(&mut self) -> io::Result<()> {
        self.print()?;
        self.w.flush()
    }

    fn done(&mut self) -> io::Result<()> {
        self.print()?;
        self.print_error_logs()?;
        self.w.flush()
    }
}

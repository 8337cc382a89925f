//! The state the plain and tty printers rebuild from the event stream (BuildKit's `trace`):
//! vertexes in the order they started, their statuses, log lines split at newlines with the
//! `seconds-since-start` prefix, and which vertexes changed since the last print.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use crate::event::{Digest, SolveStatus, Vertex, VertexStatus, VertexWarning};
use crate::format::{log_offset, secs_between};

/// How many log lines of a vertex the plain printer keeps for the error block.
pub(crate) const LOGS_BUFFER_SIZE: usize = 10;
/// How many lines of a running vertex's output the tty view shows.
pub(crate) const TERM_HEIGHT: usize = 6;

/// One run of a vertex (a vertex may run more than once, e.g. retried).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    pub start: SystemTime,
    pub stop: Option<SystemTime>,
}

impl Interval {
    /// Seconds spent, counting a running interval up to `now`.
    pub fn secs(&self, now: SystemTime) -> f64 {
        secs_between(self.start, self.stop.unwrap_or(now)).max(0.0)
    }
}

/// Merges overlapping intervals; an open interval swallows everything after it.
pub(crate) fn merge_intervals(mut ivals: Vec<Interval>) -> Vec<Interval> {
    ivals.sort_by_key(|i| i.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(ivals.len());
    for next in ivals {
        match merged.last_mut() {
            None => merged.push(next),
            Some(cur) => match cur.stop {
                None => break,
                Some(stop) if stop < next.start => merged.push(next),
                Some(stop) => match next.stop {
                    None => {
                        cur.stop = None;
                        break;
                    }
                    Some(next_stop) if next_stop > stop => cur.stop = Some(next_stop),
                    Some(_) => {}
                },
            },
        }
    }
    merged
}

/// The last lines a running vertex printed, as a terminal would show them: `\r` returns to
/// the start of the line, `\n` starts a new one.
#[derive(Debug, Default)]
pub(crate) struct TermView {
    lines: VecDeque<String>,
    cursor_reset: bool,
}

impl TermView {
    pub fn write(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if self.lines.is_empty() {
            self.lines.push_back(String::new());
        }
        for c in text.chars() {
            match c {
                '\n' => {
                    self.lines.push_back(String::new());
                    self.cursor_reset = false;
                    while self.lines.len() > TERM_HEIGHT + 1 {
                        self.lines.pop_front();
                    }
                }
                '\r' => self.cursor_reset = true,
                c => {
                    if let Some(line) = self.lines.back_mut() {
                        if self.cursor_reset {
                            line.clear();
                            self.cursor_reset = false;
                        }
                        if !c.is_control() || c == '\t' {
                            line.push(if c == '\t' { ' ' } else { c });
                        }
                    }
                }
            }
        }
    }

    /// The non-empty lines, at most [`TERM_HEIGHT`], oldest first.
    pub fn content(&self) -> Vec<&str> {
        let lines: Vec<&str> = self
            .lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        let skip = lines.len().saturating_sub(TERM_HEIGHT);
        lines.into_iter().skip(skip).collect()
    }
}

/// What the printers know about one vertex.
#[derive(Debug, Default)]
pub(crate) struct VertexState {
    pub vertex: Vertex,
    /// `#N` of the plain printer; 0 until the vertex is first printed.
    pub index: usize,
    pub intervals: Vec<Interval>,
    /// Status ids in the order they started.
    pub statuses: Vec<String>,
    pub by_id: HashMap<String, VertexStatus>,
    pub status_updates: HashSet<String>,
    /// Lines not yet printed (plain) or all lines (tty), each `"<secs> <text>"`.
    pub logs: Vec<Vec<u8>>,
    pub logs_partial: bool,
    /// How much of `logs[0]` the plain printer has already written.
    pub logs_offset: usize,
    /// The last lines printed (plain), for the error block.
    pub logs_buffer: VecDeque<Vec<u8>>,
    pub logs_buffer_partial: bool,
    pub prev: Option<Vertex>,
    pub last_block_time: Option<SystemTime>,
    pub count: usize,
    pub warnings: Vec<VertexWarning>,
    pub term: TermView,
    pub term_bytes: usize,
}

impl VertexState {
    fn touch(&mut self, now: SystemTime) {
        if self.count == 0 {
            self.last_block_time = Some(now);
        }
        self.count += 1;
    }

    pub fn merged_intervals(&self) -> Vec<Interval> {
        merge_intervals(self.intervals.clone())
    }

    pub fn is_started(&self) -> bool {
        !self.intervals.is_empty()
    }

    pub fn is_running(&self) -> bool {
        self.vertex.started.is_some() && self.vertex.completed.is_none()
    }

    pub fn is_canceled(&self) -> bool {
        self.vertex
            .error
            .as_deref()
            .is_some_and(|e| e.ends_with("context canceled"))
    }

    pub fn failed(&self) -> bool {
        self.vertex.error.as_deref().is_some_and(|e| !e.is_empty()) && !self.is_canceled()
    }

    /// Remembers a printed log line for the error block.
    pub fn remember_line(&mut self, line: &[u8], partial: bool) {
        if self.logs_buffer_partial {
            self.logs_buffer.pop_back();
        }
        self.logs_buffer.push_back(line.to_vec());
        while self.logs_buffer.len() > LOGS_BUFFER_SIZE {
            self.logs_buffer.pop_front();
        }
        self.logs_buffer_partial = partial;
    }
}

/// All vertexes seen so far.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Digests in the order their vertexes started.
    pub order: Vec<Digest>,
    /// Digests in the order they were first seen (started or not).
    pub seen: Vec<Digest>,
    pub by_digest: HashMap<Digest, VertexState>,
    /// Vertexes with something new to print.
    pub updates: HashSet<Digest>,
    pub start_time: Option<SystemTime>,
    /// Feed the terminal views (tty printer only).
    pub with_term: bool,
}

impl Trace {
    pub fn new(with_term: bool) -> Trace {
        Trace {
            with_term,
            ..Trace::default()
        }
    }

    /// Applies one batch of events; `now` times the start of a burst of updates.
    pub fn update(&mut self, s: &SolveStatus, now: SystemTime) {
        for v in &s.vertexes {
            if self.start_time.is_none() {
                self.start_time = v.started;
            }
            if !self.by_digest.contains_key(&v.digest) {
                self.seen.push(v.digest.clone());
            }
            let state = self.by_digest.entry(v.digest.clone()).or_default();
            let was_started = state.is_started();
            if v.started.is_some() {
                let changed = match &state.prev {
                    None => true,
                    Some(old) => {
                        old.digest != v.digest
                            || old.name != v.name
                            || old.started != v.started
                            || (old.completed != v.completed && v.completed.is_some())
                            || old.cached != v.cached
                            || old.error != v.error
                    }
                };
                if changed {
                    state.touch(now);
                    self.updates.insert(v.digest.clone());
                }
                state.prev = Some(v.clone());
            }
            if v.started.is_some() && !was_started {
                self.order.push(v.digest.clone());
            }
            // A duplicate initial (unstarted) record must not reset a started vertex.
            if !was_started || v.started.is_some() {
                state.vertex = v.clone();
            }
            if let Some(start) = v.started {
                let ival = Interval {
                    start,
                    stop: v.completed,
                };
                match state.intervals.iter_mut().find(|i| i.start == start) {
                    Some(existing) => *existing = ival,
                    None => state.intervals.push(ival),
                }
            }
        }
        for st in &s.statuses {
            let Some(state) = self.by_digest.get_mut(&st.vertex) else {
                continue;
            };
            let prev_started = state.by_id.get(&st.id).map(|p| p.started.is_some());
            if st.started.is_some() && prev_started != Some(true) {
                state.statuses.push(st.id.clone());
            }
            state.by_id.insert(st.id.clone(), st.clone());
            state.status_updates.insert(st.id.clone());
            self.updates.insert(st.vertex.clone());
            state.touch(now);
        }
        for w in &s.warnings {
            let Some(state) = self.by_digest.get_mut(&w.vertex) else {
                continue;
            };
            state.warnings.push(w.clone());
            state.touch(now);
        }
        for l in &s.logs {
            if l.data.is_empty() {
                continue;
            }
            let with_term = self.with_term;
            let Some(state) = self.by_digest.get_mut(&l.vertex) else {
                continue;
            };
            if with_term {
                state.term_bytes += l.data.len();
                state.term.write(&l.data);
            }
            let start = state.merged_intervals().last().map(|i| i.start);
            let complete = l.data.ends_with(b"\n");
            let body = if complete {
                &l.data[..l.data.len() - 1]
            } else {
                &l.data[..]
            };
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                if i == 0 && state.logs_partial && !state.logs.is_empty() {
                    if let Some(last) = state.logs.last_mut() {
                        last.extend_from_slice(line);
                    }
                } else {
                    let secs = start.map_or(0.0, |s| secs_between(s, l.timestamp));
                    let mut entry = log_offset(secs).into_bytes();
                    entry.push(b' ');
                    entry.extend_from_slice(line);
                    state.logs.push(entry);
                }
            }
            state.logs_partial = !complete;
            self.updates.insert(l.vertex.clone());
            state.touch(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn intervals_merge() {
        let m = merge_intervals(vec![
            Interval {
                start: t(5),
                stop: Some(t(7)),
            },
            Interval {
                start: t(1),
                stop: Some(t(3)),
            },
            Interval {
                start: t(2),
                stop: Some(t(4)),
            },
        ]);
        assert_eq!(
            m,
            vec![
                Interval {
                    start: t(1),
                    stop: Some(t(4))
                },
                Interval {
                    start: t(5),
                    stop: Some(t(7))
                }
            ]
        );
        let open = merge_intervals(vec![
            Interval {
                start: t(1),
                stop: Some(t(3)),
            },
            Interval {
                start: t(2),
                stop: None,
            },
            Interval {
                start: t(9),
                stop: Some(t(10)),
            },
        ]);
        assert_eq!(
            open,
            vec![Interval {
                start: t(1),
                stop: None
            }]
        );
    }

    #[test]
    fn term_view_handles_carriage_returns() {
        let mut term = TermView::default();
        term.write(b"downloading 10%\rdownloading 50%\rdownloading 100%\nok\n");
        assert_eq!(term.content(), vec!["downloading 100%", "ok"]);
        for i in 0..20 {
            term.write(format!("line {i}\n").as_bytes());
        }
        assert_eq!(term.content().len(), TERM_HEIGHT);
        assert_eq!(term.content().last(), Some(&"line 19"));
    }
}

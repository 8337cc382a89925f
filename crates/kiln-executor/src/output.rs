//! Where a process's output goes: a caller's sink, plus the tail kept for error messages.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::types::Stream;

/// Receives a process's output as it arrives, in chunks (not lines).
///
/// Called from the task running the process, in arrival order per stream; it should not block
/// for long (buffer or forward to a channel instead).
pub trait OutputSink: Send {
    /// One chunk of output from `stream`.
    fn output(&mut self, stream: Stream, chunk: Bytes);
}

impl<F: FnMut(Stream, Bytes) + Send> OutputSink for F {
    fn output(&mut self, stream: Stream, chunk: Bytes) {
        self(stream, chunk)
    }
}

/// Forwards chunks to a channel; a closed receiver just drops them.
impl OutputSink for tokio::sync::mpsc::UnboundedSender<(Stream, Bytes)> {
    fn output(&mut self, stream: Stream, chunk: Bytes) {
        // The receiver going away means nobody watches the log; the process keeps running.
        let _ = self.send((stream, chunk));
    }
}

/// Discards output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl OutputSink for Discard {
    fn output(&mut self, _: Stream, _: Bytes) {}
}

/// The last `max` complete lines of both streams (interleaved as they arrived), plus each
/// stream's unfinished line. Long lines are cut at `MAX_LINE` bytes.
#[derive(Debug)]
pub(crate) struct Tail {
    max: usize,
    lines: VecDeque<String>,
    partial: [Vec<u8>; 2],
}

const MAX_LINE: usize = 4096;

impl Tail {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            lines: VecDeque::with_capacity(max.min(64)),
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn push_line(&mut self, line: &[u8]) {
        if self.max == 0 {
            return;
        }
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.lines
            .push_back(String::from_utf8_lossy(line).into_owned());
    }

    pub(crate) fn feed(&mut self, stream: Stream, mut data: &[u8]) {
        let idx = usize::from(stream == Stream::Stderr);
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[idx]);
            line.extend_from_slice(&data[..pos]);
            self.push_line(&line);
            data = &data[pos + 1..];
        }
        let room = MAX_LINE.saturating_sub(self.partial[idx].len());
        self.partial[idx].extend_from_slice(&data[..data.len().min(room)]);
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        for idx in 0..2 {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.push_line(&rest);
            }
        }
        self.lines.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let mut t = Tail::new(3);
        t.feed(Stream::Stdout, b"one\ntw");
        t.feed(Stream::Stderr, b"err\r\n");
        t.feed(Stream::Stdout, b"o\nthree\nfour");
        assert_eq!(t.finish(), vec!["two", "three", "four"]);
        let mut t = Tail::new(5);
        t.feed(Stream::Stdout, b"a\n");
        t.feed(Stream::Stderr, b"b\n");
        assert_eq!(t.finish(), vec!["a", "b"]);
    }

    #[test]
    fn closures_and_channels_are_sinks() {
        let mut got = Vec::new();
        let mut sink = |s: Stream, b: Bytes| got.push((s, b));
        sink.output(Stream::Stdout, Bytes::from_static(b"x"));
        assert_eq!(got.len(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tx = tx;
        tx.output(Stream::Stderr, Bytes::from_static(b"y"));
        assert_eq!(
            rx.try_recv().unwrap(),
            (Stream::Stderr, Bytes::from_static(b"y"))
        );
    }
}

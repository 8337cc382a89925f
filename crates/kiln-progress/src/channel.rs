//! The progress channel from the solver to the display: an unbounded tokio channel of
//! [`SolveStatus`] batches, and [`LogWriter`], the `io::Write` a RUN step's output goes
//! through (with BuildKit's log size and speed limits).

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::event::{Digest, SolveStatus, Vertex, VertexLog, VertexStatus, VertexWarning};
use crate::format::binary_bytes;

/// Creates the channel a build reports progress on.
///
/// Unbounded on purpose: sending never blocks nor awaits, so the solver and the executor
/// (also from plain threads reading a container's output) report without slowing down for a
/// slow terminal. Memory stays bounded in practice because step output is limited by
/// [`LogWriter`]. The display ends when every [`ProgressSender`] is dropped.
pub fn channel() -> (ProgressSender, ProgressReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (ProgressSender { tx }, ProgressReceiver { rx })
}

/// The sending half; clone it freely (one per task). Safe to use from any thread.
///
/// Sending after the display ended (the receiver was dropped) silently drops the event:
/// progress is never a reason for a build to fail.
#[derive(Clone, Debug)]
pub struct ProgressSender {
    tx: mpsc::UnboundedSender<SolveStatus>,
}

impl ProgressSender {
    /// Sends one batch.
    pub fn send(&self, status: SolveStatus) {
        if !status.is_empty() {
            let _ = self.tx.send(status);
        }
    }

    /// Sends the current state of one vertex.
    pub fn vertex(&self, vertex: Vertex) {
        self.send(SolveStatus {
            vertexes: vec![vertex],
            ..SolveStatus::default()
        });
    }

    /// Sends the current state of one sub-task status.
    pub fn status(&self, status: VertexStatus) {
        self.send(SolveStatus {
            statuses: vec![status],
            ..SolveStatus::default()
        });
    }

    /// Sends one log chunk.
    pub fn log(&self, log: VertexLog) {
        self.send(SolveStatus {
            logs: vec![log],
            ..SolveStatus::default()
        });
    }

    /// Sends one warning.
    pub fn warning(&self, warning: VertexWarning) {
        self.send(SolveStatus {
            warnings: vec![warning],
            ..SolveStatus::default()
        });
    }

    /// True when the display has gone away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving half, consumed by [`crate::display`].
#[derive(Debug)]
pub struct ProgressReceiver {
    rx: mpsc::UnboundedReceiver<SolveStatus>,
}

impl ProgressReceiver {
    /// The next batch; `None` once every sender is dropped and the queue is drained.
    pub async fn recv(&mut self) -> Option<SolveStatus> {
        self.rx.recv().await
    }

    /// Blocking variant for a display running on its own thread. Must not be called from
    /// inside an async runtime.
    pub fn blocking_recv(&mut self) -> Option<SolveStatus> {
        self.rx.blocking_recv()
    }
}

/// BuildKit's default limit of one step's output: 2 MiB (`BUILDKIT_STEP_LOG_MAX_SIZE`).
pub const DEFAULT_MAX_LOG_SIZE: u64 = 2 * 1024 * 1024;
/// BuildKit's default output rate limit: 200 KiB per second since the step started
/// (`BUILDKIT_STEP_LOG_MAX_SPEED`).
pub const DEFAULT_MAX_LOG_SPEED: u64 = 200 * 1024;

/// The writer a step's stdout or stderr goes through: each write becomes a [`VertexLog`].
///
/// Output beyond the size limit, or beyond `speed × seconds since creation` (rounded up),
/// is dropped and replaced once by `\n[output clipped, log limit 2MiB reached]\n` (or
/// `200KiB/s`), as BuildKit does; output resumes being forwarded when a later write fits
/// again (speed limit). Writes never fail and always report the whole buffer written, so
/// the process is never blocked by its own output.
#[derive(Debug)]
pub struct LogWriter {
    tx: ProgressSender,
    vertex: Digest,
    stream: u8,
    clock: Arc<dyn Clock>,
    created: SystemTime,
    size: u64,
    clipping: bool,
    max_size: Option<u64>,
    max_speed: Option<u64>,
}

impl LogWriter {
    /// A writer for `stream` (1 stdout, 2 stderr) of `vertex` with BuildKit's default
    /// limits.
    pub fn new(tx: ProgressSender, vertex: Digest, stream: u8, clock: Arc<dyn Clock>) -> Self {
        let created = clock.now();
        LogWriter {
            tx,
            vertex,
            stream,
            clock,
            created,
            size: 0,
            clipping: false,
            max_size: Some(DEFAULT_MAX_LOG_SIZE),
            max_speed: Some(DEFAULT_MAX_LOG_SPEED),
        }
    }

    /// Overrides the limits; `None` means unlimited (BuildKit's `-1`).
    pub fn with_limits(mut self, max_size: Option<u64>, max_speed: Option<u64>) -> Self {
        self.max_size = max_size;
        self.max_speed = max_speed;
        self
    }

    /// How many of `n` new bytes fit, and the limit message if some do not.
    fn check_limit(&mut self, n: u64, now: SystemTime) -> (u64, String) {
        let old = self.size;
        self.size += n;
        let elapsed = now
            .duration_since(self.created)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
            .ceil()
            .max(1.0) as u64;
        let by_speed = self.max_speed.map(|s| elapsed.saturating_mul(s));
        let (max, reason) = match (by_speed, self.max_size) {
            (Some(speed), Some(size)) if speed <= size => (Some(speed), true),
            (Some(speed), None) => (Some(speed), true),
            (_, Some(size)) => (Some(size), false),
            (None, None) => (None, false),
        };
        let message = if reason {
            format!("{}/s", binary_bytes(self.max_speed.unwrap_or(0)))
        } else {
            binary_bytes(self.max_size.unwrap_or(0))
        };
        match max {
            Some(max) if max < old => (0, message),
            Some(max) if self.size > max => (max - old, message),
            _ => (n, message),
        }
    }
}

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let now = self.clock.now();
        let (fit, reason) = self.check_limit(buf.len() as u64, now);
        let fit = usize::try_from(fit).unwrap_or(buf.len()).min(buf.len());
        let mut data = buf[..fit].to_vec();
        if self.clipping && fit == buf.len() {
            self.clipping = false;
        }
        if !self.clipping && fit != buf.len() {
            data.extend_from_slice(
                format!("\n[output clipped, log limit {reason} reached]\n").as_bytes(),
            );
            self.clipping = true;
        }
        if !data.is_empty() {
            self.tx.log(VertexLog {
                vertex: self.vertex.clone(),
                stream: self.stream,
                data,
                timestamp: now,
            });
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

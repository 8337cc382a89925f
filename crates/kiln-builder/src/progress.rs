//! The builder's own progress records, shaped like BuildKit's: the `[internal]` vertices
//! around a build (`load build definition`, `load metadata for …`, `load .dockerignore`), the
//! exporting vertex with its sub-statuses, and the statuses of an image pull.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use kiln_progress::{Clock, ProgressSender, Vertex, VertexStatus};
use kiln_worker::{PullEvent, PullObserver};

/// A vertex of the builder's own, started when created; [`Step::done`] or [`Step::fail`]
/// completes it. Its statuses come from [`Step::status`].
pub(crate) struct Step<'a> {
    progress: &'a ProgressSender,
    vertex: Vertex,
}

impl<'a> Step<'a> {
    /// Starts a vertex named `name`. Its digest comes from `identity`: the same identity in
    /// one build is the same vertex (BuildKit dedupes `load metadata` the same way).
    pub(crate) fn start(progress: &'a ProgressSender, name: &str, identity: &str) -> Step<'a> {
        let vertex = Vertex {
            digest: kiln_graph::Digest::of(format!("kiln-internal:{identity}").as_bytes())
                .to_string(),
            name: name.to_string(),
            started: Some(SystemTime::now()),
            ..Vertex::default()
        };
        progress.vertex(vertex.clone());
        Step { progress, vertex }
    }

    /// A sub-status of the vertex that is already over (`writing image sha256:…`, `naming
    /// to …`; with `bytes`, `transferring dockerfile:` that printers show as `… 94B`): printed
    /// with `done`.
    pub(crate) fn status(&self, id: &str, bytes: u64, started: SystemTime) {
        self.progress.status(finished_status(
            &self.vertex.digest,
            id,
            bytes,
            started,
            SystemTime::now(),
        ));
    }

    /// Where the vertex's records go.
    pub(crate) fn sender(&self) -> &'a ProgressSender {
        self.progress
    }

    /// Completes the vertex successfully.
    pub(crate) fn done(mut self) {
        self.vertex.completed = Some(SystemTime::now());
        self.progress.vertex(self.vertex);
    }

    /// Completes the vertex with `error`.
    pub(crate) fn fail(mut self, error: &str) {
        self.vertex.completed = Some(SystemTime::now());
        self.vertex.error = Some(error.to_string());
        self.progress.vertex(self.vertex);
    }
}

/// A sub-status `id` of `vertex` that ran from `started` to `now`, with a byte count (0: none).
pub(crate) fn finished_status(
    vertex: &str,
    id: &str,
    bytes: u64,
    started: SystemTime,
    now: SystemTime,
) -> VertexStatus {
    VertexStatus {
        id: id.to_string(),
        vertex: vertex.to_string(),
        name: String::new(),
        total: 0,
        current: i64::try_from(bytes).unwrap_or(i64::MAX),
        timestamp: now,
        started: Some(started),
        completed: Some(now),
    }
}

/// A [`PullObserver`] that turns an image pull into statuses of the image source's vertex:
/// `resolve docker.io/library/busybox:latest@sha256:…`, `sha256:<layer>` with byte counts,
/// `extracting sha256:<layer>`.
pub(crate) struct PullStatuses {
    progress: ProgressSender,
    vertex: String,
    clock: Arc<dyn Clock>,
    started: Mutex<HashMap<String, SystemTime>>,
}

impl PullStatuses {
    pub(crate) fn new(progress: ProgressSender, vertex: String, clock: Arc<dyn Clock>) -> Self {
        PullStatuses {
            progress,
            vertex,
            clock,
            started: Mutex::new(HashMap::new()),
        }
    }

    fn send(&self, id: String, current: u64, total: u64, done: bool) {
        let now = self.clock.now();
        let started = *self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id.clone())
            .or_insert(now);
        self.progress.status(VertexStatus {
            id,
            vertex: self.vertex.clone(),
            name: String::new(),
            total: i64::try_from(total).unwrap_or(i64::MAX),
            current: i64::try_from(current).unwrap_or(i64::MAX),
            timestamp: now,
            started: Some(started),
            completed: done.then_some(now),
        });
    }
}

impl PullObserver for PullStatuses {
    fn event(&self, event: PullEvent) {
        match event {
            PullEvent::Resolving { reference } => {
                self.send(format!("resolve {reference}"), 0, 0, false);
            }
            PullEvent::Resolved { reference } => {
                self.send(format!("resolve {reference}"), 0, 0, true);
            }
            PullEvent::Downloading {
                digest,
                current,
                total,
                done,
            } => self.send(digest, current, total, done),
            PullEvent::Extracting { digest, done } => {
                self.send(format!("extracting {digest}"), 0, 0, done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_becomes_statuses_of_its_vertex() {
        let (tx, mut rx) = kiln_progress::channel();
        let obs = PullStatuses::new(tx, "sha256:v".into(), Arc::new(kiln_progress::SystemClock));
        obs.event(PullEvent::Resolving {
            reference: "docker.io/library/busybox:latest".into(),
        });
        obs.event(PullEvent::Downloading {
            digest: "sha256:l".into(),
            current: 10,
            total: 10,
            done: true,
        });
        obs.event(PullEvent::Extracting {
            digest: "sha256:l".into(),
            done: true,
        });
        let mut got = Vec::new();
        while let Some(s) = rx.blocking_recv() {
            for st in s.statuses {
                got.push((st.id, st.vertex, st.completed.is_some(), st.total));
            }
            if got.len() == 3 {
                break;
            }
        }
        assert_eq!(
            got,
            vec![
                (
                    "resolve docker.io/library/busybox:latest".to_string(),
                    "sha256:v".to_string(),
                    false,
                    0
                ),
                ("sha256:l".to_string(), "sha256:v".to_string(), true, 10),
                (
                    "extracting sha256:l".to_string(),
                    "sha256:v".to_string(),
                    true,
                    0
                ),
            ]
        );
    }
}

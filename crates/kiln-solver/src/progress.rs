//! Progress of one vertex, fanned out to every build waiting on it, in order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kiln_progress::{Clock, ProgressSender, SolveStatus, Vertex};
use tokio::task::JoinHandle;

use crate::sync::lock;

/// The progress identity of a vertex and the builds (jobs) subscribed to it.
///
/// Everything about a vertex goes through [`VertexProgress::publish`], directly or through a
/// channel from [`VertexProgress::sender`]: each subscriber sees the vertex's events in the
/// order they were produced, and a build that joins late first gets the vertex's last state.
#[derive(Debug)]
pub(crate) struct VertexProgress {
    digest: String,
    name: String,
    inputs: Vec<String>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    subscribers: Vec<(u64, ProgressSender)>,
    last: Option<Vertex>,
}

impl VertexProgress {
    pub(crate) fn new(
        digest: String,
        name: String,
        inputs: Vec<String>,
        clock: Arc<dyn Clock>,
    ) -> VertexProgress {
        VertexProgress {
            digest,
            name,
            inputs,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Adds the progress stream of build `job`; replays the vertex's last state to it.
    pub(crate) fn subscribe(&self, job: u64, tx: &ProgressSender) {
        let mut st = lock(&self.state);
        if st.subscribers.iter().any(|(id, _)| *id == job) {
            return;
        }
        if let Some(v) = &st.last {
            tx.vertex(v.clone());
        }
        st.subscribers.push((job, tx.clone()));
    }

    /// Removes the progress stream of build `job` (the build ended).
    pub(crate) fn unsubscribe(&self, job: u64) {
        lock(&self.state).subscribers.retain(|(id, _)| *id != job);
    }

    /// Sends `status` to every subscriber, remembering the vertex's latest state.
    pub(crate) fn publish(&self, status: SolveStatus) {
        let mut st = lock(&self.state);
        if let Some(v) = status
            .vertexes
            .iter()
            .rev()
            .find(|v| v.digest == self.digest)
        {
            st.last = Some(v.clone());
        }
        for (_, tx) in &st.subscribers {
            tx.send(status.clone());
        }
    }

    /// True once any state of the vertex was published.
    pub(crate) fn reported(&self) -> bool {
        lock(&self.state).last.is_some()
    }

    /// The vertex record with the given state.
    pub(crate) fn record(
        &self,
        started: Option<SystemTime>,
        completed: Option<SystemTime>,
        cached: bool,
        error: Option<String>,
    ) -> Vertex {
        Vertex {
            digest: self.digest.clone(),
            inputs: self.inputs.clone(),
            name: self.name.clone(),
            started,
            completed,
            cached,
            error,
            progress_group: None,
        }
    }

    /// Publishes the vertex as done from the cache.
    pub(crate) fn cached(&self) {
        let now = self.now();
        self.publish_vertex(self.record(Some(now), Some(now), true, None));
    }

    /// Publishes the vertex as failed with `error`.
    pub(crate) fn failed(&self, started: SystemTime, error: String) {
        self.publish_vertex(self.record(Some(started), Some(self.now()), false, Some(error)));
    }

    pub(crate) fn publish_vertex(&self, v: Vertex) {
        self.publish(SolveStatus {
            vertexes: vec![v],
            ..SolveStatus::default()
        });
    }

    /// A sender whose events reach [`VertexProgress::publish`] in order, through a forwarding
    /// task that ends when every clone of the sender is dropped; [`Forwarder::flush`] waits for
    /// that, so that nothing the op reported is published after the vertex is done.
    pub(crate) fn sender(self: &Arc<Self>) -> (ProgressSender, Forwarder) {
        let (tx, mut rx) = kiln_progress::channel();
        let this = self.clone();
        let task = tokio::spawn(async move {
            while let Some(status) = rx.recv().await {
                this.publish(status);
            }
        });
        (tx, Forwarder(task))
    }
}

/// The task behind a sender from [`VertexProgress::sender`].
#[derive(Debug)]
pub(crate) struct Forwarder(JoinHandle<()>);

/// How long a finished op's leftover progress senders (an output reader still draining) may
/// delay the vertex's completion.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

impl Forwarder {
    /// Waits until every event sent through the sender was published (every clone of the
    /// sender must be dropped first), for at most [`FLUSH_TIMEOUT`].
    pub(crate) async fn flush(self) {
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, self.0).await;
    }
}

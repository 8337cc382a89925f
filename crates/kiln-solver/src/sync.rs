//! Small concurrency helpers: poison-tolerant locking and spawned tasks whose shared handles
//! abort the task when the last one is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::future::{FutureExt, Shared};
use tokio::task::{JoinError, JoinHandle};

use crate::SolveError;
use crate::worker::BoxFuture;

/// Locks `m`, ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A spawned task's result, shared by everyone waiting on it.
pub(crate) type SharedTask<T> = Shared<BoxFuture<'static, Result<T, SolveError>>>;

/// Spawns `fut` on the current runtime. The task runs on its own (so deep graphs never nest
/// polls) and is aborted when every clone of the returned handle is dropped: that is how a
/// failed or abandoned build cancels work nobody waits for any more.
pub(crate) fn spawn_shared<T, F>(name: String, fut: F) -> SharedTask<T>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, SolveError>> + Send + 'static,
{
    let task = AbortOnDrop(tokio::spawn(fut));
    let joined: BoxFuture<'static, Result<T, SolveError>> = Box::pin(async move {
        match task.await {
            Ok(result) => result,
            Err(e) => Err(SolveError::Internal {
                name,
                message: join_message(&e),
            }),
        }
    });
    joined.shared()
}

fn join_message(e: &JoinError) -> String {
    if e.is_panic() {
        "the solver task panicked (this is a bug in kiln: please report it)".to_string()
    } else {
        "the solver task was cancelled".to_string()
    }
}

/// A join handle that aborts its task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

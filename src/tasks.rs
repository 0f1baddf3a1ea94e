//! Every background task the service runs, owned in one place: spawned under one tracker with one
//! cancellation token, so that shutdown can stop them and wait for them instead of dropping them
//! mid-write.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct BackgroundTasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl BackgroundTasks {
    pub fn new() -> BackgroundTasks {
        BackgroundTasks::default()
    }

    /// Spawns a long-running task; it gets the token that tells it to stop.
    pub fn spawn<F>(&self, name: &'static str, task: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let run = task(self.cancel.clone());
        self.tracker.spawn(async move {
            run.await;
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Spawns a short job (deleting a rejected object, say) that shutdown waits for.
    pub fn spawn_job<F>(&self, job: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(job);
    }

    /// Tells every task to stop and waits up to `grace` for them.
    pub async fn shutdown(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!(
                still_running = self.tracker.len(),
                "background tasks did not stop in time"
            );
        }
    }
}

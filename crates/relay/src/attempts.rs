//! A job's failed attempt, recorded: counted on the job, retried with backoff or given up
//! (`ziflow_core::storage::jobs::failed_in`). Used by the runner and by each kind's code.

use ziflow_core::storage::jobs::{self, Job};

use crate::state::AppState;

/// Records a failed attempt; returns whether the job will be tried again.
pub async fn failed(
    state: &AppState,
    job: &Job,
    error: &str,
    retry: bool,
) -> ziflow_core::Result<bool> {
    let _one_writer = state.writes.lock().await;
    let mut tx = state.db.begin_immediate().await?;
    let again = jobs::failed_in(&mut tx, job, error, retry, state.clock.now()).await?;
    tx.commit().await?;
    if again {
        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, "{error}");
    } else {
        tracing::error!(job = job.id, kind = %job.kind, "job failed for good: {error}");
    }
    Ok(again)
}

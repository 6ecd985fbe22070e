//! What the relay forgets after its retention period: answers to device commands (their
//! idempotency keys can no longer be replayed), delivery ticks other than failures, and
//! finished jobs. The event log is kept whole: everything else can be derived from it.

use crate::storage::Conn;

use crate::Result;

/// How many rows a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Command answers.
    pub command_results: u64,
    /// Delivery statuses (sent, delivered, read; failures are kept).
    pub statuses: u64,
    /// Finished jobs (done or given up).
    pub jobs: u64,
}

/// Removes what is older than `before` (Unix seconds).
pub async fn prune_in(conn: &mut Conn, before: i64) -> Result<Pruned> {
    let command_results = execute!(
        &mut *conn,
        "DELETE FROM command_results WHERE created_at < $1",
        before
    )?;
    let statuses = execute!(
        &mut *conn,
        "DELETE FROM message_statuses WHERE at < $1 AND status <> 'failed'",
        before
    )?;
    let jobs = execute!(
        &mut *conn,
        "DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at IS NOT NULL
         AND finished_at < $1",
        before
    )?;
    Ok(Pruned {
        command_results,
        statuses,
        jobs,
    })
}

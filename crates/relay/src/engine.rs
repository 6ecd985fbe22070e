//! The engine: applies the event log's effects (projections) after the intake has committed
//! and answered, so a webhook's answer never waits for them. It reads the log from a cursor
//! that moves in the same transaction as the effects, so every event is applied exactly once,
//! in log order, across crashes and restarts. Commands catch it up inside their own
//! transaction first, so they always decide on the whole log.
//!
//! The engine commits without waiting for the disk (`synchronous=NORMAL`, its own
//! connection): everything it writes can be derived again from the log. If a crash loses its
//! last commit, the cursor is lost with it and the events are applied again; in WAL mode a
//! later durable commit (the intake's) flushes earlier frames too, so the order holds. That
//! keeps one fsync per intake commit instead of two.

use std::time::Duration;

use sqlx::SqliteConnection;
use tokio::sync::{broadcast, watch};
use ziflow_core::storage::{engine, events};
use ziflow_core::{projection, Db};

use crate::intake::{Committed, Writes};

/// Most events applied in one transaction. Small, because the intake waits for the write
/// lock while a step holds it; steps and intake commits take turns (the lock is first come,
/// first served). Measured with `cargo xtask bench relay`: 32 gave the intake 0.82 of the
/// reference's throughput, 64 about 0.7, 256 about 0.6.
const BATCH: i64 = 32;

/// How long to wait before retrying after a failed step.
const RETRY: Duration = Duration::from_secs(1);

/// Applies every event after the projection cursor inside the caller's transaction and
/// moves the cursor. Returns the new cursor.
pub async fn catch_up_in(conn: &mut SqliteConnection) -> ziflow_core::Result<i64> {
    let start = engine::cursor(conn, engine::PROJECTION).await?;
    let mut cursor = start;
    loop {
        let batch = events::after_all(conn, cursor, BATCH).await?;
        let mut applier = projection::Applier::new(conn);
        for event in &batch {
            applier.apply(event).await?;
            cursor = event.id;
        }
        applier.finish().await?;
        if i64::try_from(batch.len()).unwrap_or(i64::MAX) < BATCH {
            break;
        }
    }
    if cursor != start {
        engine::set_cursor(conn, engine::PROJECTION, cursor).await?;
    }
    Ok(cursor)
}

/// Marks events up to `id` (appended and applied by the caller's transaction) as applied.
pub async fn applied_through(conn: &mut SqliteConnection, id: i64) -> ziflow_core::Result<()> {
    engine::set_cursor(conn, engine::PROJECTION, id).await
}

/// A handle on the running engine.
#[derive(Clone)]
pub struct Engine {
    applied: watch::Receiver<i64>,
}

impl Engine {
    /// Starts the engine task on `db` (a handle that does not fsync each commit, see the
    /// module docs): it catches up at once, then after each commit announced on `committed`,
    /// until `stopping` turns true.
    pub fn start(
        db: Db,
        writes: Writes,
        mut committed: broadcast::Receiver<Committed>,
        mut stopping: watch::Receiver<bool>,
    ) -> Self {
        let (applied_tx, applied) = watch::channel(0);
        tokio::spawn(async move {
            loop {
                match step(&db, &writes).await {
                    Ok((cursor, full)) => {
                        applied_tx.send_replace(cursor);
                        if full {
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::error!("engine step failed, retrying: {e}");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
                let woken = tokio::select! {
                    r = committed.recv() => !matches!(r, Err(broadcast::error::RecvError::Closed)),
                    _ = stopping.wait_for(|s| *s) => false,
                    // Commits by other processes on the same file are not announced.
                    () = tokio::time::sleep(Duration::from_secs(5)) => true,
                };
                if !woken {
                    break;
                }
            }
        });
        Self { applied }
    }

    /// Waits until every event up to `id` is applied.
    pub async fn wait_applied(&self, id: i64) {
        let mut rx = self.applied.clone();
        let _ = rx.wait_for(|c| *c >= id).await;
    }

    /// The newest event id applied.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }
}

/// Applies one batch in its own transaction. Returns the cursor and whether the batch was
/// full (more may be waiting).
async fn step(db: &Db, writes: &Writes) -> ziflow_core::Result<(i64, bool)> {
    let _one_writer = writes.lock().await;
    let mut tx = db.begin_immediate().await?;
    let start = engine::cursor(&mut tx, engine::PROJECTION).await?;
    let batch = events::after_all(&mut tx, start, BATCH).await?;
    let mut cursor = start;
    let mut applier = projection::Applier::new(&mut tx);
    for event in &batch {
        applier.apply(event).await?;
        cursor = event.id;
    }
    applier.finish().await?;
    if cursor != start {
        engine::set_cursor(&mut tx, engine::PROJECTION, cursor).await?;
    }
    tx.commit().await?;
    Ok((
        cursor,
        i64::try_from(batch.len()).unwrap_or(i64::MAX) == BATCH,
    ))
}

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

use crate::intake::{Committed, Intake, Writes};

/// Most events applied in one transaction. Small, because the intake waits for the write
/// lock while a step holds it; steps and intake commits take turns (the lock is first come,
/// first served). Measured with `cargo xtask bench relay` (six runs each): 16 keeps the
/// intake's p50 under 5 ms in every run at about 0.74 of the reference's throughput; 32 gave
/// a similar ratio but p50 above 5 ms in half the runs; 64 about 0.7, 256 about 0.6.
const BATCH: i64 = 16;

/// How long to wait before retrying after a failed step.
const RETRY: Duration = Duration::from_secs(1);

/// Applies up to [`BATCH`] events after `start` and records what they imply: a provider
/// event that changed an invoice is followed by `invoice.paid` (at most once per invoice),
/// `invoice.failed`, `invoice.expired` or `invoice.refunded` in the log. Returns the new
/// cursor, whether the batch was full, and the events recorded.
async fn apply_batch(
    conn: &mut SqliteConnection,
    start: i64,
    ctx: &Ctx,
) -> ziflow_core::Result<(i64, bool, Vec<Committed>)> {
    let batch = events::after_all(conn, start, BATCH).await?;
    let mut cursor = start;
    let mut derived = Vec::new();
    let mut applier = projection::Applier::new(conn);
    let mut enqueued = false;
    for event in &batch {
        let applied = applier.apply(event).await?;
        cursor = event.id;
        for work in &applied.sends {
            let conn = applier.conn().await?;
            ziflow_core::channel::enqueue_in(conn, &event.shop_uid, work, event.created_at).await?;
            enqueued = true;
        }
        if !applied.jobs.is_empty() {
            let conn = applier.conn().await?;
            ziflow_core::command::enqueue_rule_jobs(
                conn,
                &event.shop_uid,
                &applied.jobs,
                event.created_at,
            )
            .await?;
            enqueued = true;
        }
        for (step, work) in &applied.work {
            let conn = applier.conn().await?;
            ziflow_core::pay::work::enqueue_in(
                conn,
                &event.shop_uid,
                work,
                step,
                event.created_at,
                event.created_at,
            )
            .await?;
        }
        if event.kind == "whatsapp.message" {
            // The bot answers customers here, once per message (the cursor moves with it).
            let conn = applier.conn().await?;
            let agent = ziflow_core::agent::run::Context {
                public_url: &ctx.public_url,
            };
            enqueued = true; // its replies may wait on the phrasing model
            match ziflow_core::agent::run::on_message(conn, event, &agent).await {
                Ok(ids) => derived.extend(ids.into_iter().map(|id| Committed {
                    shop_uid: event.shop_uid.clone(),
                    id,
                })),
                Err(ziflow_core::Error::InvalidInput(why)) => {
                    tracing::warn!(id = event.id, "the agent skipped a message: {why}");
                }
                Err(e) => return Err(e),
            }
        }
        for (kind, payload) in &applied.derived {
            let conn = applier.conn().await?;
            if let Some(id) =
                events::append(conn, &event.shop_uid, kind, payload, None, event.created_at).await?
            {
                derived.push(Committed {
                    shop_uid: event.shop_uid.clone(),
                    id,
                });
            }
            if let ("invoice.paid", Some(invoice_id)) = (*kind, payload["invoice_id"].as_i64()) {
                // The bot thanks the customer whose invoice it sent.
                let thanks = ziflow_core::agent::run::on_paid(
                    conn,
                    &event.shop_uid,
                    invoice_id,
                    event.created_at,
                )
                .await?;
                derived.extend(thanks.map(|id| Committed {
                    shop_uid: event.shop_uid.clone(),
                    id,
                }));
            }
        }
    }
    applier.finish().await?;
    if enqueued {
        ctx.jobs_wake.notify_one();
    }
    let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) == BATCH;
    Ok((cursor, full, derived))
}

/// Applies every event after the projection cursor inside the caller's transaction and
/// moves the cursor. Returns the events it recorded (to announce after the commit).
pub async fn catch_up_in(
    conn: &mut SqliteConnection,
    ctx: &Ctx,
) -> ziflow_core::Result<Vec<Committed>> {
    let start = engine::cursor(conn, engine::PROJECTION).await?;
    let mut cursor = start;
    let mut recorded = Vec::new();
    loop {
        let (next, full, derived) = apply_batch(conn, cursor, ctx).await?;
        cursor = next;
        let more = full || !derived.is_empty();
        recorded.extend(derived);
        if !more {
            break;
        }
    }
    if cursor != start {
        engine::set_cursor(conn, engine::PROJECTION, cursor).await?;
    }
    Ok(recorded)
}

/// Marks events up to `id` (appended and applied by the caller's transaction) as applied.
pub async fn applied_through(conn: &mut SqliteConnection, id: i64) -> ziflow_core::Result<()> {
    engine::set_cursor(conn, engine::PROJECTION, id).await
}

/// What the engine's own work needs beyond the log.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The relay's public address (the agent's sandbox pay links).
    pub public_url: String,
    /// Wakes the job runner when the engine enqueued work (the agent's pay links).
    pub jobs_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// A handle on the running engine.
#[derive(Clone)]
pub struct Engine {
    applied: watch::Receiver<i64>,
}

impl Engine {
    /// Starts the engine task on `db` (a handle that does not fsync each commit, see the
    /// module docs): it catches up at once, then after each commit `intake` announces, until
    /// `stopping` turns true. Events it records are announced through `intake` too.
    pub fn start(
        db: Db,
        writes: Writes,
        intake: Intake,
        ctx: Ctx,
        mut stopping: watch::Receiver<bool>,
    ) -> Self {
        let (applied_tx, applied) = watch::channel(0);
        let mut committed = intake.subscribe();
        tokio::spawn(async move {
            loop {
                match step(&db, &writes, &intake, &ctx).await {
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
async fn step(
    db: &Db,
    writes: &Writes,
    intake: &Intake,
    ctx: &Ctx,
) -> ziflow_core::Result<(i64, bool)> {
    let _one_writer = writes.lock().await;
    let mut tx = db.begin_immediate().await?;
    let start = engine::cursor(&mut tx, engine::PROJECTION).await?;
    let (cursor, full, derived) = apply_batch(&mut tx, start, ctx).await?;
    if cursor != start {
        engine::set_cursor(&mut tx, engine::PROJECTION, cursor).await?;
    }
    tx.commit().await?;
    let more = full || !derived.is_empty();
    if !derived.is_empty() {
        ctx.jobs_wake.notify_one();
    }
    for c in derived {
        intake.announce(c);
    }
    Ok((cursor, more))
}

/// A write transaction that decides on the whole log, for commands and jobs: it holds the
/// process's write turn, takes SQLite's write lock (`BEGIN IMMEDIATE`) and applies every
/// event not yet applied before the caller reads anything. Events the caller records
/// (applied by `command::record`) move the cursor with them; all are announced after commit.
pub struct LogTx {
    _one_writer: tokio::sync::OwnedMutexGuard<()>,
    /// The transaction.
    pub tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    recorded: Vec<Committed>,
}

impl LogTx {
    /// Begins, catching the engine up.
    pub async fn begin(state: &crate::http::AppState) -> ziflow_core::Result<Self> {
        let one_writer = state.writes.clone().lock_owned().await;
        let mut tx = state.db.begin_immediate().await?;
        let recorded = catch_up_in(&mut tx, &state.engine_ctx).await?;
        Ok(Self {
            _one_writer: one_writer,
            tx,
            recorded,
        })
    }

    /// Commits, with `events` (appended and applied by the caller for `shop`) marked
    /// applied, and announces everything recorded.
    pub async fn commit(
        mut self,
        state: &crate::http::AppState,
        shop: &str,
        events: &[i64],
    ) -> ziflow_core::Result<()> {
        if let Some(id) = events.iter().max() {
            applied_through(&mut self.tx, *id).await?;
        }
        self.tx.commit().await?;
        drop(self._one_writer);
        // Messages recorded in it may wait to be posted.
        state.jobs_wake.notify_one();
        for c in self.recorded {
            state.intake.announce(c);
        }
        if let Some(id) = events.iter().max() {
            state.intake.announce(Committed {
                shop_uid: shop.to_string(),
                id: *id,
            });
        }
        Ok(())
    }
}

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
//!
//! Faults stay inside one event: a batch that fails is retried one event at a time; an event
//! that fails the same way [`MAX_TRIES`] times (a constraint it breaks, a panic) is
//! quarantined — recorded with its reason in `quarantined_events` and announced to its shop
//! as `engine.quarantined` — and the cursor moves past it, so that shop's later events and
//! every other shop's go on. Failures that may pass (the disk, a lock) are retried without
//! end and reported by `/healthz`. Each step runs in its own task, so a panic is caught,
//! counted, and the engine goes on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use ziflow_core::storage::Conn;
use ziflow_core::storage::{engine, events};
use ziflow_core::{projection, Db};

use crate::health::Part;
use crate::intake::{Committed, Intake, Writes};

/// Most events applied in one transaction. Small, because the intake waits for the write
/// lock while a step holds it; steps and intake commits take turns (the lock is first come,
/// first served). Measured with `cargo xtask bench relay` (six runs each): 16 keeps the
/// intake's p50 under 5 ms in every run at about 0.74 of the reference's throughput; 32 gave
/// a similar ratio but p50 above 5 ms in half the runs; 64 about 0.7, 256 about 0.6.
const BATCH: i64 = 16;

/// Events applied in a step taken after the engine yielded for all of [`YIELD_MAX`]: at one
/// such step per 50 ms the engine applies over 2,500 events/s while webhooks keep arriving.
const BATCH_AFTER_YIELD: i64 = 128;

/// Longest the engine lets webhooks on their way in go before it takes its turn.
const YIELD_MAX: Duration = Duration::from_millis(50);

/// How long to wait before retrying after a failed step.
const RETRY: Duration = Duration::from_secs(1);

/// Times one event may fail the same way before it is quarantined.
pub const MAX_TRIES: u32 = 3;

/// Quarantines allowed within [`BRAKE_WINDOW`]. More events failing than that is not one bad
/// event but a fault of the whole relay (a bad release, a broken migration): setting them all
/// aside would hide it, so the engine stops quarantining, keeps retrying, and `/healthz` says
/// so until the window has room again.
pub const BRAKE_LIMIT: usize = 20;

/// The window [`BRAKE_LIMIT`] counts in.
pub const BRAKE_WINDOW: Duration = Duration::from_secs(600);

/// Counts recent quarantines (see [`BRAKE_LIMIT`]).
#[derive(Debug, Default)]
pub struct Brake {
    recent: std::collections::VecDeque<std::time::Instant>,
}

impl Brake {
    /// Whether one more event may be quarantined at `now`; counts it if so.
    pub fn allow(&mut self, now: std::time::Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= BRAKE_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= BRAKE_LIMIT {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// Applies up to [`BATCH`] events after `start` and records what they imply: a provider
/// event that changed an invoice is followed by `invoice.paid` (at most once per invoice),
/// `invoice.failed`, `invoice.expired` or `invoice.refunded` in the log. Returns the new
/// cursor, whether the batch was full, and the events recorded.
async fn apply_batch(
    conn: &mut Conn,
    start: i64,
    ctx: &Ctx,
    limit: i64,
) -> ziflow_core::Result<(i64, bool, Vec<Committed>)> {
    let batch = events::after_all(conn, start, limit).await?;
    let mut cursor = start;
    let mut derived = Vec::new();
    let mut applier = projection::Applier::new(conn);
    let mut enqueued = false;
    for event in &batch {
        enqueued |= apply_one(&mut applier, event, ctx, &mut derived).await?;
        cursor = event.id;
    }
    applier.finish().await?;
    if enqueued {
        ctx.jobs_wake.notify_one();
    }
    let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) == limit;
    Ok((cursor, full, derived))
}

/// Applies one event and what it calls for: channel sends, rule jobs, provider work, the
/// bot's answer, derived events. Returns whether a job was enqueued.
async fn apply_one(
    applier: &mut projection::Applier<'_>,
    event: &events::Event,
    ctx: &Ctx,
    derived: &mut Vec<Committed>,
) -> ziflow_core::Result<bool> {
    let applied = applier.apply(event).await?;
    let mut enqueued = {
        let conn = applier.conn().await?;
        ziflow_core::log::enqueue_effects(conn, &event.shop_uid, &applied, event.created_at).await?
    };
    if event.kind == "whatsapp.message" {
        // The bot answers customers here, once per message (the cursor moves with it).
        let conn = applier.conn().await?;
        let agent = ziflow_core::agent::run::Context {
            public_url: &ctx.public_url,
            sandbox: ctx.sandbox,
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
    for fact in &applied.derived {
        let conn = applier.conn().await?;
        if let Some(id) =
            ziflow_core::log::append(conn, &event.shop_uid, fact, event.created_at).await?
        {
            derived.push(Committed {
                shop_uid: event.shop_uid.clone(),
                id,
            });
        }
        if let ziflow_protocol::Event::InvoicePaid(paid) = fact {
            let invoice_id = paid.invoice_id;
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
    Ok(enqueued)
}

/// Applies every event after the projection cursor inside the caller's transaction and
/// moves the cursor. Returns the events it recorded (to announce after the commit).
pub async fn catch_up_in(conn: &mut Conn, ctx: &Ctx) -> ziflow_core::Result<Vec<Committed>> {
    let start = engine::cursor(conn, engine::PROJECTION).await?;
    let mut cursor = start;
    let mut recorded = Vec::new();
    loop {
        let (next, full, derived) = apply_batch(conn, cursor, ctx, BATCH).await?;
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
pub async fn applied_through(conn: &mut Conn, id: i64) -> ziflow_core::Result<()> {
    engine::set_cursor(conn, engine::PROJECTION, id).await
}

/// What the engine's own work needs beyond the log.
#[derive(Clone)]
pub struct Ctx {
    /// The relay's public address (the agent's sandbox pay links).
    pub public_url: String,
    /// The sandbox provider is on (shops without Stripe get sandbox links).
    pub sandbox: bool,
    /// Wakes the job runner when the engine enqueued work (the agent's pay links).
    pub jobs_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Where the engine reports how it is doing.
    pub health: std::sync::Arc<crate::health::Health>,
    /// The time (quarantine records).
    pub clock: std::sync::Arc<dyn ziflow_core::Clock>,
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
        let mut committed = intake.subscribe_local();
        tokio::spawn(async move {
            // While an event fails: its id and how many times it failed the same way.
            let mut failing: Option<(i64, u32)> = None;
            let mut brake = Brake::default();
            loop {
                // Webhooks on their way in go first: a provider waits on their answer, while
                // the projections may trail by a moment. At most YIELD_MAX at a time, so the
                // engine keeps moving under any load; after waiting that long (a steady
                // stream of webhooks) it takes a larger step, so it keeps up with any stream
                // the machine can take in and trails only a flood.
                let deferred = std::time::Instant::now();
                while intake.busy() && deferred.elapsed() < YIELD_MAX {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let limit = match failing {
                    Some(_) => 1,
                    None if deferred.elapsed() >= YIELD_MAX => BATCH_AFTER_YIELD,
                    None => BATCH,
                };
                match supervised_step(&db, &writes, &intake, &ctx, limit).await {
                    Ok((cursor, full)) => {
                        ctx.health.ok(Part::Engine);
                        failing = None;
                        applied_tx.send_replace(cursor);
                        if full {
                            continue;
                        }
                    }
                    Err(fault) => {
                        tracing::error!("engine step failed: {fault}");
                        ctx.health.failed(Part::Engine, &fault.to_string());
                        let next = next_event(&db).await;
                        match (next, limit) {
                            // A batch failed: find the event, one at a time, at once.
                            (Some(ev), l) if l > 1 => {
                                failing = Some((ev.id, 0));
                                continue;
                            }
                            (Some(ev), _) if fault.lasting() => {
                                let tries = match failing {
                                    Some((id, n)) if id == ev.id => n + 1,
                                    _ => 1,
                                };
                                failing = Some((ev.id, tries));
                                if tries >= MAX_TRIES && !brake.allow(std::time::Instant::now()) {
                                    let why = format!(
                                        "quarantine paused: more than {BRAKE_LIMIT} events failed to apply within {} minutes — a fault of the relay, not of one event; retrying (last: {fault})",
                                        BRAKE_WINDOW.as_secs() / 60
                                    );
                                    tracing::error!("{why}");
                                    ctx.health.failed(Part::Engine, &why);
                                } else if tries >= MAX_TRIES {
                                    match quarantine(
                                        &db,
                                        &writes,
                                        &intake,
                                        &ev,
                                        &fault,
                                        tries,
                                        ctx.clock.now(),
                                    )
                                    .await
                                    {
                                        Ok(()) => {
                                            ctx.health.quarantined.fetch_add(1, Ordering::Relaxed);
                                            failing = None;
                                            continue;
                                        }
                                        Err(e) => tracing::error!(
                                            event = ev.id,
                                            "could not quarantine the event: {e}"
                                        ),
                                    }
                                }
                            }
                            _ => {}
                        }
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
                let woken = tokio::select! {
                    r = committed.recv() => !matches!(r, Err(broadcast::error::RecvError::Closed)),
                    _ = stopping.wait_for(|s| *s) => false,
                    // Commits by other processes on the same file, and other relays' commits
                    // their engines did not apply (a relay that died first): the sweep.
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

/// Why a step failed.
#[derive(Debug)]
enum Fault {
    /// An error applying the events.
    Error(ziflow_core::Error),
    /// The step panicked (caught: the engine goes on).
    Panic(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(e) => write!(f, "{e}"),
            Self::Panic(p) => write!(f, "panicked: {p}"),
        }
    }
}

impl Fault {
    /// Whether trying the same event again will fail the same way: a panic, a constraint
    /// the event breaks, something it names that is not there. The disk, a lock or a closed
    /// pool may pass, so those are never a reason to quarantine.
    fn lasting(&self) -> bool {
        match self {
            Self::Panic(_) => true,
            Self::Error(e) => e.lasting(),
        }
    }
}

/// [`step`] in a task of its own, so a panic inside is caught and reported as a fault.
async fn supervised_step(
    db: &Db,
    writes: &Writes,
    intake: &Intake,
    ctx: &Ctx,
    limit: i64,
) -> Result<(i64, bool), Fault> {
    let (db, writes, intake, c) = (db.clone(), writes.clone(), intake.clone(), ctx.clone());
    match tokio::spawn(async move { step(&db, &writes, &intake, &c, limit).await }).await {
        Ok(result) => result.map_err(Fault::Error),
        Err(e) if e.is_panic() => {
            ctx.health.panicked(Part::Engine);
            Err(Fault::Panic(crate::health::panic_text(&*e.into_panic())))
        }
        Err(e) => Err(Fault::Panic(e.to_string())),
    }
}

/// The next event the engine will apply, if any.
async fn next_event(db: &Db) -> Option<events::Event> {
    let mut conn = db.acquire().await.ok()?;
    let cursor = engine::cursor(&mut conn, engine::PROJECTION).await.ok()?;
    events::after_all(&mut conn, cursor, 1)
        .await
        .ok()?
        .into_iter()
        .next()
}

/// Sets `ev` aside: records why, tells its shop (`engine.quarantined`), moves the cursor
/// past it. Its effects are not applied; the event itself stays in the log.
async fn quarantine(
    db: &Db,
    writes: &Writes,
    intake: &Intake,
    ev: &events::Event,
    fault: &Fault,
    tries: u32,
    now: i64,
) -> ziflow_core::Result<()> {
    let reason = fault.to_string();
    tracing::error!(event = ev.id, shop = %ev.shop_uid, kind = %ev.kind, %reason,
        "event quarantined after {tries} tries; later events go on");
    let _one_writer = writes.lock().await;
    let mut tx = db.begin_immediate().await?;
    let notice = ziflow_core::storage::quarantine::add_in(&mut tx, ev, &reason, tries, now).await?;
    engine::set_cursor(&mut tx, engine::PROJECTION, ev.id).await?;
    tx.commit().await?;
    if let Some(id) = notice {
        intake.announce(Committed {
            shop_uid: ev.shop_uid.clone(),
            id,
        });
    }
    Ok(())
}

/// Applies up to `limit` events in their own transaction. Returns the cursor and whether
/// the batch was full (more may be waiting).
async fn step(
    db: &Db,
    writes: &Writes,
    intake: &Intake,
    ctx: &Ctx,
    limit: i64,
) -> ziflow_core::Result<(i64, bool)> {
    let _one_writer = writes.lock().await;
    let mut tx = db.begin_immediate().await?;
    let start = engine::cursor(&mut tx, engine::PROJECTION).await?;
    let (cursor, full, derived) = apply_batch(&mut tx, start, ctx, limit).await?;
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
/// (applied by `ziflow_core::log::record`) move the cursor with them; all are announced after commit.
pub struct LogTx {
    _one_writer: tokio::sync::OwnedMutexGuard<()>,
    /// The transaction.
    pub tx: Conn,
    recorded: Vec<Committed>,
    intake: Intake,
    jobs_wake: std::sync::Arc<tokio::sync::Notify>,
}

impl LogTx {
    /// Begins, catching the engine up (`AppState::log` passes the relay's parts).
    pub async fn begin(
        db: &Db,
        writes: &Writes,
        intake: &Intake,
        ctx: &Ctx,
    ) -> ziflow_core::Result<Self> {
        let one_writer = writes.clone().lock_owned().await;
        let mut tx = db.begin_immediate().await?;
        let recorded = catch_up_in(&mut tx, ctx).await?;
        Ok(Self {
            _one_writer: one_writer,
            tx,
            recorded,
            intake: intake.clone(),
            jobs_wake: ctx.jobs_wake.clone(),
        })
    }

    /// Commits, with `events` (appended and applied by the caller for `shop`) marked
    /// applied, and announces everything recorded.
    pub async fn commit(mut self, shop: &str, events: &[i64]) -> ziflow_core::Result<()> {
        if let Some(id) = events.iter().max() {
            applied_through(&mut self.tx, *id).await?;
        }
        self.tx.commit().await?;
        drop(self._one_writer);
        // Messages recorded in it may wait to be posted.
        self.jobs_wake.notify_one();
        for c in self.recorded {
            self.intake.announce(c);
        }
        if let Some(id) = events.iter().max() {
            self.intake.announce(Committed {
                shop_uid: shop.to_string(),
                id: *id,
            });
        }
        Ok(())
    }
}

/// Applies the shop's quarantined event `event_id` again, now (the owner fixed what made it
/// fail). Applied: it leaves the quarantine and `engine.released` tells the shop's devices.
/// Failing again: it stays, with the new reason. Returns `Ok(Err(reason))` then.
pub async fn retry(
    db: &Db,
    writes: &Writes,
    intake: &Intake,
    ctx: &Ctx,
    shop: &str,
    event_id: i64,
) -> ziflow_core::Result<Result<(), String>> {
    use ziflow_core::storage::quarantine;
    let now = ctx.clock.now();
    let event = {
        let mut conn = db.acquire().await?;
        if quarantine::get_in(&mut conn, shop, event_id)
            .await?
            .is_none()
        {
            return Err(ziflow_core::Error::NotFound(format!(
                "quarantined event {event_id}"
            )));
        }
        events::after_all(&mut conn, event_id - 1, 1)
            .await?
            .into_iter()
            .find(|e| e.id == event_id && e.shop_uid == shop)
            .ok_or_else(|| ziflow_core::Error::NotFound(format!("event {event_id}")))?
    };
    let attempt = async {
        let _one_writer = writes.lock().await;
        let mut tx = db.begin_immediate().await?;
        let mut derived = Vec::new();
        let mut applier = projection::Applier::new(&mut tx);
        let enqueued = apply_one(&mut applier, &event, ctx, &mut derived).await?;
        applier.finish().await?;
        if let Some(id) = quarantine::release_in(&mut tx, &event, now).await? {
            derived.push(Committed {
                shop_uid: shop.to_string(),
                id,
            });
        }
        tx.commit().await?;
        Ok::<_, ziflow_core::Error>((derived, enqueued))
    };
    match attempt.await {
        Ok((derived, enqueued)) => {
            for c in derived {
                intake.announce(c);
            }
            if enqueued {
                ctx.jobs_wake.notify_one();
            }
            tracing::info!(event = event_id, %shop, "a quarantined event was applied again");
            Ok(Ok(()))
        }
        Err(e) => {
            let reason = e.to_string();
            quarantine::failed_again(db, event_id, &reason).await?;
            Ok(Err(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brake_stops_mass_quarantine_and_lets_go_after_its_window() {
        let mut brake = Brake::default();
        let t0 = std::time::Instant::now();
        for _ in 0..BRAKE_LIMIT {
            assert!(brake.allow(t0));
        }
        assert!(!brake.allow(t0), "the 21st within the window is held");
        assert!(!brake.allow(t0 + BRAKE_WINDOW / 2));
        assert!(
            brake.allow(t0 + BRAKE_WINDOW),
            "room again once the window passed"
        );
    }
}

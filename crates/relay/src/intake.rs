//! Durable intake with group commit.
//!
//! Handlers hand verified events to one writer task and wait for its answer. The writer
//! takes everything queued since its last commit and appends it in a single transaction
//! (one fsync for many webhooks), then answers each caller. A caller answers its provider
//! 2xx only after that answer, so nothing is acknowledged before it is durable. Redeliveries
//! (same provider id) are answered as duplicates and not stored again.
//!
//! After each commit the writer announces the newest event id per shop on a broadcast
//! channel; the sync push stream uses it to wake devices.

use tokio::sync::{broadcast, mpsc, oneshot};
use ziflow_core::webhook::ProviderEvent;
use ziflow_core::{storage, Clock, Db};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 512;

/// A committed event id announced to push subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The shop whose log grew.
    pub shop_uid: String,
    /// The newest id of that shop in the commit.
    pub id: i64,
}

struct Job {
    shop: String,
    events: Vec<ProviderEvent>,
    reply: oneshot::Sender<Result<Vec<Option<i64>>, String>>,
}

/// The handle handlers use.
#[derive(Clone)]
pub struct Intake {
    jobs: mpsc::Sender<Job>,
    committed: broadcast::Sender<Committed>,
}

impl Intake {
    /// Starts the writer task on `db`.
    pub fn start(db: Db, clock: std::sync::Arc<dyn Clock>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let (committed, _) = broadcast::channel(1024);
        tokio::spawn(writer(db, clock, rx, committed.clone()));
        Self { jobs, committed }
    }

    /// Appends `events` for `shop` durably. Returns each event's id, or `None` for a
    /// redelivery that was already stored.
    pub async fn append(
        &self,
        shop: &str,
        events: Vec<ProviderEvent>,
    ) -> Result<Vec<Option<i64>>, String> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                shop: shop.to_string(),
                events,
                reply,
            })
            .await
            .map_err(|_| "the intake writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "the intake writer dropped the request".to_string())?
    }

    /// Announces events committed outside the intake (by commands).
    pub fn announce(&self, committed: Committed) {
        let _ = self.committed.send(committed);
    }

    /// Subscribes to commit announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }
}

async fn writer(
    db: Db,
    clock: std::sync::Arc<dyn Clock>,
    mut rx: mpsc::Receiver<Job>,
    committed: broadcast::Sender<Committed>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit(&db, clock.now(), &batch).await {
            Ok(results) => {
                let mut newest: Vec<Committed> = Vec::new();
                for (job, ids) in batch.drain(..).zip(results) {
                    if let Some(max) = ids.iter().flatten().max() {
                        match newest.iter_mut().find(|c| c.shop_uid == job.shop) {
                            Some(c) => c.id = c.id.max(*max),
                            None => newest.push(Committed {
                                shop_uid: job.shop.clone(),
                                id: *max,
                            }),
                        }
                    }
                    let _ = job.reply.send(Ok(ids));
                }
                for c in newest {
                    let _ = committed.send(c);
                }
            }
            Err(e) => {
                tracing::error!("intake commit failed: {e}");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

async fn commit(
    db: &Db,
    now: i64,
    batch: &[Job],
) -> Result<Vec<Vec<Option<i64>>>, ziflow_core::Error> {
    let mut tx = db.pool().begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut ids = Vec::with_capacity(job.events.len());
        for ev in &job.events {
            let text = ev.payload.to_string();
            let id = storage::events::append_text(
                &mut tx,
                &job.shop,
                &ev.kind,
                &text,
                Some(&ev.provider_id),
                now,
            )
            .await?;
            if let Some(id) = id {
                // Projections change in the same transaction as the log, so the tables never
                // disagree with the events.
                let event = storage::events::Event {
                    id,
                    shop_uid: job.shop.clone(),
                    kind: ev.kind.clone(),
                    payload: text,
                    provider_id: Some(ev.provider_id.clone()),
                    created_at: now,
                };
                ziflow_core::projection::apply_parsed(&mut tx, &event, &ev.payload).await?;
            }
            ids.push(id);
        }
        results.push(ids);
    }
    tx.commit().await?;
    Ok(results)
}

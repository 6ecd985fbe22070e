//! Durable intake with group commit.
//!
//! Handlers hand verified events to one writer task and wait for its answer. The writer
//! takes everything queued since its last commit and appends it in a single transaction
//! (one fsync for many webhooks), then answers each caller. A caller answers its provider
//! 2xx only after that answer, so nothing is acknowledged before it is durable. Redeliveries
//! (same provider id) are answered as duplicates and not stored again.
//!
//! Nothing else happens in that transaction: the engine applies the events' effects after
//! the commit, from the log (see `engine`).
//!
//! After each commit the writer announces the newest event id per shop on a broadcast
//! channel; the sync push stream uses it to wake devices.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, Mutex};
use ziflow_core::storage::events::NewProviderEvent;
use ziflow_core::webhook::ProviderEvent;
use ziflow_core::{storage, Clock, Db};

/// One writer at a time in this process: the intake, the engine and commands take it before
/// a write transaction, so they queue here instead of in SQLite's busy handler (which sleeps
/// in milliseconds).
pub type Writes = Arc<Mutex<()>>;

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 512;

/// A committed event id announced to push subscribers.
/// The shop of a [`Committed`] that stands for every shop: listeners may have missed
/// commits (another relay's, while the notifications were down) and pull from their cursors.
pub const EVERY_SHOP: &str = "*";

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
    announcer: Announcer,
    /// Appends from their start until their caller has its answer.
    in_flight: Arc<AtomicUsize>,
    /// When the last append started, in microseconds since `epoch`.
    last_start: Arc<AtomicU64>,
    epoch: std::time::Instant,
}

/// How long the intake must have been quiet (no append started, none in flight) before
/// [`Intake::busy`] says no: webhooks of a steady stream arrive a moment apart, and the
/// engine should not slip its step into every such gap.
const QUIET: std::time::Duration = std::time::Duration::from_millis(2);

/// Counts one append in flight while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Intake {
    /// Starts the writer task on `db`.
    pub fn start(db: Db, writes: Writes, clock: Arc<dyn Clock>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let (committed, _) = broadcast::channel(1024);
        let (local, _) = broadcast::channel(1024);
        let announcer = Announcer {
            committed,
            local,
            forward: Arc::default(),
        };
        tokio::spawn(writer(db, writes, clock, rx, announcer.clone()));
        Self {
            jobs,
            announcer,
            in_flight: Arc::default(),
            last_start: Arc::default(),
            epoch: std::time::Instant::now(),
        }
    }

    /// Whether webhooks are on their way into the log right now — queued for the writer or
    /// in its commit, their providers waiting for the answer — or one started within the
    /// last [`QUIET`] (the engine lets them go first).
    pub fn busy(&self) -> bool {
        let since = self
            .micros()
            .saturating_sub(self.last_start.load(Ordering::Relaxed));
        self.in_flight.load(Ordering::Relaxed) > 0 || u128::from(since) < QUIET.as_micros()
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Appends `events` for `shop` durably. Returns each event's id, or `None` for a
    /// redelivery that was already stored.
    pub async fn append(
        &self,
        shop: &str,
        events: Vec<ProviderEvent>,
    ) -> Result<Vec<Option<i64>>, String> {
        let _counted = InFlight::new(&self.in_flight);
        self.last_start.store(self.micros(), Ordering::Relaxed);
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
        self.announcer.announce(committed);
    }

    /// Tells this relay's own listeners only (a commit another relay announced).
    pub fn announce_here(&self, committed: Committed) {
        let _ = self.announcer.committed.send(committed);
    }

    /// From now on every announced commit is also sent to `to` (the other relays).
    pub fn forward_to(&self, to: mpsc::UnboundedSender<Committed>) {
        let _ = self.announcer.forward.set(to);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.announcer.committed.subscribe()
    }

    /// Like [`Intake::subscribe`], but only this relay's own commits: the engine's wake-up
    /// (another relay's engine applies that relay's commits; the sweep covers a relay that
    /// died first).
    pub fn subscribe_local(&self) -> broadcast::Receiver<Committed> {
        self.announcer.local.subscribe()
    }
}

/// Tells this relay's listeners (push streams, the engine) about a commit, and the other
/// relays on the same database once `cluster` set `forward`.
#[derive(Clone)]
struct Announcer {
    committed: broadcast::Sender<Committed>,
    /// This relay's own commits only.
    local: broadcast::Sender<Committed>,
    /// Where commits go to reach the other relays (see `cluster`).
    forward: Arc<std::sync::OnceLock<mpsc::UnboundedSender<Committed>>>,
}

impl Announcer {
    fn announce(&self, committed: Committed) {
        if let Some(forward) = self.forward.get() {
            let _ = forward.send(committed.clone());
        }
        let _ = self.local.send(committed.clone());
        let _ = self.committed.send(committed);
    }
}

async fn writer(
    db: Db,
    writes: Writes,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::Receiver<Job>,
    announcer: Announcer,
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
        match commit(&db, &writes, clock.now(), &batch).await {
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
                    announcer.announce(c);
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
    writes: &Writes,
    now: i64,
    batch: &[Job],
) -> Result<Vec<Vec<Option<i64>>>, ziflow_core::Error> {
    let rows: Vec<NewProviderEvent<'_>> = batch
        .iter()
        .flat_map(|job| {
            job.events.iter().map(|ev| NewProviderEvent {
                shop: &job.shop,
                kind: &ev.kind,
                payload: &ev.payload,
                provider_id: &ev.provider_id,
            })
        })
        .collect();
    let ids = {
        let _one_writer = writes.lock().await;
        let mut tx = db.begin().await?;
        let ids = storage::events::append_provider_events(&mut tx, &rows, now).await?;
        tx.commit().await?;
        ids
    };
    let mut ids = ids.into_iter();
    Ok(batch
        .iter()
        .map(|job| ids.by_ref().take(job.events.len()).collect())
        .collect())
}

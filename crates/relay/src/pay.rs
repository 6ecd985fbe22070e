//! Payments on the relay: which provider a shop uses, and the runner of the durable jobs
//! that call it (make a pay link, deactivate it after 48 hours, refund).
//!
//! A job is claimed with a lease in a short transaction, the provider is called with no
//! transaction open, and the result is recorded in a second transaction that decides on the
//! whole log (the engine caught up first). A crash between the call and the record leaves the
//! job pending; it runs again with the same idempotency key and the provider answers as the
//! first time. Retryable failures (timeouts, 429, 5xx) come back with backoff; refusals are
//! kept on the job with the provider's words.

use std::sync::Arc;
use std::time::Duration;

use ziflow_core::pay::sandbox::{Deliver, Sandbox};
use ziflow_core::pay::stripe::Stripe;
use ziflow_core::pay::work::{self, Work};
use ziflow_core::pay::{PaymentProvider, ProviderError};
use ziflow_core::secrets::Secret;
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::shop_secrets::{self, SecretName};

use crate::engine::LogTx;
use crate::health::Part;
use crate::http::AppState;

/// Where the providers are (tests point Stripe at a fake on 127.0.0.1).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Stripe's API base URL.
    pub stripe_api_base: String,
    /// How long one Stripe call may take before it is retried later.
    pub stripe_timeout: Duration,
    /// The relay's address as customers reach it, for links the relay makes on its own (the
    /// bot's sandbox pay links); `http://<listen address>` when unset.
    pub public_url: Option<String>,
    /// Meta's Graph API base URL (the WhatsApp Cloud API).
    pub graph_api_base: String,
    /// How long one WhatsApp call may take before it is retried later.
    pub whatsapp_timeout: Duration,
    /// Messages per second per business number.
    pub whatsapp_rate: u32,
    /// Telegram's Bot API base URL (notifications).
    pub telegram_api_base: String,
    /// One more certificate authority (PEM) trusted for SMTP servers.
    pub smtp_ca_pem: Option<Vec<u8>>,
    /// How long one notification call may take before it is retried later.
    pub notify_timeout: Duration,
    /// The sandbox provider and channel (pay page, customer chat, sandbox links) are served.
    /// Off unless asked for (`serve --sandbox`, local mode, the demo, tests): a relay with
    /// real shops must never offer a way to mark an invoice paid without money.
    pub sandbox: bool,
    /// Owner-typed addresses (Slack webhook, model endpoint, SMTP server) may be this machine
    /// (`--allow-loopback-outbound`: local mode and tests). Never by default on `serve`;
    /// private, link-local and metadata addresses are refused either way.
    pub allow_loopback_outbound: bool,
    /// The bearer token `/metrics` asks for (`--metrics-token`). Without one, `/metrics`
    /// answers only requests from this machine.
    pub metrics_token: Option<String>,
    /// Days after which command answers, delivery ticks and finished jobs are pruned
    /// (`--retention-days`; 0 keeps everything). The event log is never pruned.
    pub retention_days: u32,
    /// Reverse proxies in front of the relay (`--trusted-proxy`): from these peers only, the
    /// client's address is read from `X-Forwarded-For` for per-source limits.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Tests only: runs before each job (fault injection). `None` in every binary.
    pub job_probe: Option<JobProbe>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            stripe_api_base: ziflow_core::pay::stripe::DEFAULT_API_BASE.into(),
            stripe_timeout: ziflow_core::pay::stripe::DEFAULT_TIMEOUT,
            public_url: None,
            graph_api_base: ziflow_core::channel::whatsapp::DEFAULT_GRAPH_BASE.into(),
            whatsapp_timeout: ziflow_core::channel::whatsapp::DEFAULT_TIMEOUT,
            whatsapp_rate: ziflow_core::channel::whatsapp::DEFAULT_RATE,
            telegram_api_base: ziflow_core::notify::DEFAULT_TELEGRAM_BASE.into(),
            smtp_ca_pem: None,
            notify_timeout: ziflow_core::notify::TIMEOUT,
            sandbox: false,
            allow_loopback_outbound: false,
            metrics_token: None,
            retention_days: 30,
            trusted_proxies: Vec::new(),
            job_probe: None,
        }
    }
}

impl ProviderConfig {
    /// What owner-typed addresses may reach.
    pub fn outbound(&self) -> ziflow_core::net::Outbound {
        ziflow_core::net::Outbound {
            allow_loopback: self.allow_loopback_outbound,
        }
    }

    /// The defaults with the sandbox on (local mode, the demo, tests).
    pub fn sandboxed() -> Self {
        Self {
            sandbox: true,
            ..Self::default()
        }
    }
}

/// How often the runner looks for due jobs when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);

/// Jobs running at once (across shops; one per shop and lane).
const CONCURRENCY: usize = 16;

/// One job's longest run: its provider calls and recording the result. Each call has its
/// own shorter timeout; this bounds whatever else could hang.
const JOB_DEADLINE: Duration = Duration::from_secs(60);

/// A shop's sealed secret `name`, if set: from the cache of recently opened secrets, else
/// opened from the database and cached.
pub async fn secret(
    state: &AppState,
    shop: &str,
    name: SecretName,
) -> ziflow_core::Result<Option<ziflow_core::secrets::Secret>> {
    if let Some(s) = state.secrets.get(shop, name) {
        return Ok(Some(s));
    }
    let value = shop_secrets::get(&state.db, &state.master_key, shop, name).await?;
    if let Some(v) = &value {
        state.secrets.put(shop, name, v.clone());
    }
    Ok(value)
}

/// The shop's Stripe key, if connected.
pub async fn stripe_key(
    state: &AppState,
    shop: &str,
) -> ziflow_core::Result<Option<ziflow_core::secrets::Secret>> {
    secret(state, shop, SecretName::StripeApiKey).await
}

/// The provider a shop sends new links with: Stripe once connected, else the sandbox where
/// it is on, else none (the bot hands the order to a person; `invoice.send` is refused).
pub async fn current_provider(
    state: &AppState,
    shop: &str,
) -> ziflow_core::Result<Option<&'static str>> {
    let stripe = stripe_key(state, shop).await?.is_some();
    Ok(ziflow_core::pay::link_provider(
        stripe,
        state.sandbox_key.is_some(),
    ))
}

/// The provider called `name` for `shop`.
pub async fn provider(
    state: &AppState,
    shop: &str,
    name: &str,
) -> Result<Box<dyn PaymentProvider>, ProviderError> {
    provider_and_key(state, shop, name).await.map(|(p, _)| p)
}

/// [`provider`], and the shop's Stripe key it calls with (for Stripe).
async fn provider_and_key(
    state: &AppState,
    shop: &str,
    name: &str,
) -> Result<(Box<dyn PaymentProvider>, Option<Secret>), ProviderError> {
    match name {
        "sandbox" if state.sandbox_key.is_some() => {
            Ok((Box::new(Sandbox::new(sandbox_delivery(state))), None))
        }
        "stripe" => {
            let key = stripe_key(state, shop)
                .await
                .map_err(|e| ProviderError::Retry(format!("reading the Stripe key: {e}")))?
                .ok_or_else(|| {
                    ProviderError::Refused(
                        "Stripe is not connected any more (Settings → Billing)".into(),
                    )
                })?;
            let client = Stripe::new(
                &state.providers.stripe_api_base,
                key.clone(),
                state.providers.stripe_timeout,
            )?;
            Ok((Box::new(client), Some(key)))
        }
        other => Err(ProviderError::Refused(format!(
            "no payment provider called {other:?} on this relay"
        ))),
    }
}

/// The sandbox's events go through this relay's own webhook path, signed.
fn sandbox_delivery(state: &AppState) -> Deliver {
    let state = state.clone();
    Arc::new(move |shop, kind, object| {
        let state = state.clone();
        Box::pin(async move {
            crate::http::sandbox_deliver(&state, &shop, kind, object)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Starts the job runner; it ends when shutdown starts.
///
/// Up to [`CONCURRENCY`] jobs run at once, at most one per shop and lane
/// ([`jobs::lane`]), so one shop's slow SMTP server or Stripe outage delays no other shop's
/// pay links. Each job has [`JOB_DEADLINE`] for its calls and its record; over it, or if it
/// panics, that is a failed attempt (counted, retried with backoff, given up after
/// [`jobs::MAX_ATTEMPTS`]) and the runner goes on.
pub fn start_runner(state: AppState) {
    tokio::spawn(async move {
        let mut stopping = state.stopping.clone();
        let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut busy: std::collections::HashMap<tokio::task::Id, Job> = Default::default();
        loop {
            let free = CONCURRENCY.saturating_sub(running.len());
            if free > 0 {
                match claim(&state, free as i64, None).await {
                    Ok(claimed) => {
                        state.engine_ctx.health.ok(Part::Jobs);
                        for job in claimed {
                            let s = state.clone();
                            let j = job.clone();
                            let handle = running.spawn(async move {
                                run_one(&s, j.clone()).await;
                                s.lanes.leave(&j);
                            });
                            busy.insert(handle.id(), job);
                        }
                    }
                    Err(e) => {
                        tracing::error!("job runner: {e}");
                        state.engine_ctx.health.failed(Part::Jobs, &e.to_string());
                    }
                }
            }
            tokio::select! {
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match &done { Ok((id, ())) => *id, Err(e) => e.id() };
                    let job = busy.remove(&id);
                    if let (Err(e), Some(job)) = (done, job) {
                        // The task ended before leaving its lane.
                        state.lanes.leave(&job);
                        if e.is_panic() {
                            state.engine_ctx.health.panicked(Part::Jobs);
                            let why = crate::health::panic_text(&*e.into_panic());
                            tracing::error!(job = job.id, kind = %job.kind, "a job panicked: {why}");
                            if let Err(e) = record_failure(&state, &job, &format!("panicked: {why}"), true).await {
                                tracing::error!(job = job.id, "recording the panic failed: {e}");
                            }
                        }
                    }
                }
                () = state.jobs_wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = crate::server::stopped(&mut stopping) => break,
            }
        }
        // Jobs cut short here come back when their lease ends.
        running.shutdown().await;
    });
}

/// Claims due jobs in a short write transaction, none in a lane (shop and kind of work)
/// where a job is running — whether the runner or a command runs it — and marks their lanes
/// busy (the caller leaves them when each job is over).
async fn claim(state: &AppState, limit: i64, only: Option<i64>) -> ziflow_core::Result<Vec<Job>> {
    let _one_writer = state.writes.lock().await;
    let busy = state.lanes.busy();
    let mut tx = state.db.begin_immediate().await?;
    let claimed = jobs::claim_in(&mut tx, state.clock.now(), limit, only, &busy).await?;
    tx.commit().await?;
    for job in &claimed {
        state.lanes.enter(job);
    }
    Ok(claimed)
}

/// The lanes where a job is running now: one job at a time per shop and lane.
#[derive(Debug, Default)]
pub struct Lanes(std::sync::Mutex<std::collections::HashMap<(String, &'static str), usize>>);

impl Lanes {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, &'static str), usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The busy lanes.
    pub fn busy(&self) -> Vec<(String, &'static str)> {
        self.map().keys().cloned().collect()
    }

    fn enter(&self, job: &Job) {
        *self
            .map()
            .entry((job.shop_uid.clone(), jobs::lane(&job.kind)))
            .or_default() += 1;
    }

    fn leave(&self, job: &Job) {
        let key = (job.shop_uid.clone(), jobs::lane(&job.kind));
        let mut map = self.map();
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

/// Runs job `only` now if it is due (a command waiting for its pay link). Returns how many
/// ran.
pub async fn run_due(state: &AppState, only: Option<i64>) -> ziflow_core::Result<usize> {
    // Its lane may be busy a moment (the runner sending this shop's last message): wait a
    // little, then leave the job to the runner (the command answers "pending").
    let mut claimed = claim(state, 1, only).await?;
    let waited = std::time::Instant::now();
    while claimed.is_empty() && waited.elapsed() < LANE_WAIT {
        let busy = match only {
            Some(id) => jobs::get(&state.db, id)
                .await?
                .is_some_and(|j| j.state == "pending" && j.run_at <= state.clock.now()),
            None => false,
        };
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        claimed = claim(state, 1, only).await?;
    }
    let n = claimed.len();
    for job in claimed {
        run_one(state, job.clone()).await;
        state.lanes.leave(&job);
    }
    Ok(n)
}

/// How long a command waits for its job's lane before leaving the job to the runner.
const LANE_WAIT: Duration = Duration::from_secs(2);

/// Runs one claimed job within [`JOB_DEADLINE`]. A panic inside it is a failed attempt like
/// any other (counted on `/metrics`, retried with backoff), wherever the job runs — in the
/// runner or inline for a command.
async fn run_one(state: &AppState, job: Job) {
    use futures_util::FutureExt;
    let id = job.id;
    let kind = job.kind.clone();
    let work = async {
        if let Some(probe) = &state.providers.job_probe {
            (probe.0)(&job);
        }
        dispatch(state, job.clone()).await
    };
    let outcome = std::panic::AssertUnwindSafe(tokio::time::timeout(JOB_DEADLINE, work))
        .catch_unwind()
        .await;
    match outcome {
        Ok(Ok(Ok(()))) => {}
        // The lease brings it back (and the attempts cap ends it).
        Ok(Ok(Err(e))) => {
            tracing::error!(job = id, %kind, "recording a job's result failed: {e}")
        }
        Ok(Err(_)) => {
            let why = format!("took longer than {} s", JOB_DEADLINE.as_secs());
            tracing::warn!(job = id, %kind, "{why}; tried again later");
            if let Err(e) = record_failure(state, &job, &why, true).await {
                tracing::error!(job = id, "recording the timeout failed: {e}");
            }
        }
        Err(panic) => {
            state.engine_ctx.health.panicked(Part::Jobs);
            let why = crate::health::panic_text(&*panic);
            tracing::error!(job = id, %kind, "a job panicked: {why}");
            if let Err(e) = record_failure(state, &job, &format!("panicked: {why}"), true).await {
                tracing::error!(job = id, "recording the panic failed: {e}");
            }
        }
    }
}

/// A hook run just before each job: how the tests make a job panic. `None` in every binary.
#[derive(Clone)]
pub struct JobProbe(pub std::sync::Arc<dyn Fn(&Job) + Send + Sync>);

impl std::fmt::Debug for JobProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobProbe")
    }
}

/// Runs a job by its kind.
async fn dispatch(state: &AppState, job: Job) -> ziflow_core::Result<()> {
    if job.kind.starts_with("wa.") {
        crate::channel::run(state, job).await
    } else if job.kind == ziflow_core::agent::phrase::PhraseWork::KIND {
        crate::phrase::run(state, job).await
    } else if job.kind == ziflow_core::agent::reader::ReadWork::KIND {
        crate::reader::run(state, job).await
    } else if job.kind == ziflow_core::reminders::KIND {
        remind(state, job).await
    } else if job.kind == ziflow_core::notify::KIND {
        crate::notify::run(state, job).await
    } else if job.kind == ziflow_core::crm::MESSAGE_KIND
        || job.kind == ziflow_core::crm::HANDOFF_KIND
    {
        crate::notify::run_rule_job(state, job).await
    } else {
        run(state, job).await
    }
}

/// What a provider call came to.
enum Done {
    Link(ziflow_core::pay::CreatedLink),
    Expired,
    Nothing,
}

async fn run(state: &AppState, job: Job) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let work: Work = match serde_json::from_str(&job.payload) {
        Ok(w) => w,
        Err(e) => {
            record_failure(state, &job, &format!("unreadable job: {e}"), false).await?;
            return Ok(());
        }
    };
    let (provider, used_key) = match provider_and_key(state, &job.shop_uid, work.provider()).await {
        Ok(found) => found,
        Err(e) => return failed(state, &job, &work, e, now).await,
    };
    let result = async {
        let key = job.idempotency_key.as_str();
        match &work {
            Work::CreateLink { request, .. } => {
                provider.create_link(request, key).await.map(Done::Link)
            }
            Work::ExpireLink {
                invoice_id,
                reference,
                ..
            } => {
                let mut conn = state
                    .db
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| ProviderError::Retry(format!("database: {e}")))?;
                if work::still_unpaid(&mut conn, &job.shop_uid, *invoice_id)
                    .await
                    .map_err(|e| ProviderError::Retry(e.to_string()))?
                {
                    provider.deactivate_link(reference, key).await?;
                    Ok(Done::Expired)
                } else {
                    Ok(Done::Nothing)
                }
            }
            Work::Refund { request, .. } => {
                provider.refund(request, key).await.map(|()| Done::Nothing)
            }
            Work::AlignFirstCharge {
                subscription_ref,
                first_charge_at,
                ..
            } => provider
                .align_first_charge(subscription_ref, *first_charge_at, key)
                .await
                .map(|()| Done::Nothing),
        }
    }
    .await;
    match result {
        Ok(done) => {
            let mut log = LogTx::begin(state).await?;
            let events = match (&work, done) {
                (Work::CreateLink { request, .. }, Done::Link(link))
                    if !still_connected(state, &mut log.tx, &job.shop_uid, used_key.as_ref())
                        .await? =>
                {
                    // Stripe was disconnected (or another key connected) while the link was
                    // being made: its payments could no longer be verified here, so the link
                    // is switched off with the key that made it and the rep is told.
                    drop(log);
                    let off = provider
                        .deactivate_link(&link.reference, &format!("{}-stale", job.idempotency_key))
                        .await;
                    let reason = match off {
                        Ok(()) => "Stripe was disconnected while the pay link was being made; that link was switched off — send the invoice again".to_string(),
                        Err(e) => format!("Stripe was disconnected while the pay link was being made; switching that link off failed ({e}) — switch it off in Stripe's dashboard: {}", link.url),
                    };
                    send_failed(state, &job, request.invoice_id, &reason, true, now).await?;
                    tracing::warn!(
                        job = job.id,
                        "a pay link made as Stripe was disconnected was switched off"
                    );
                    return Ok(());
                }
                (Work::CreateLink { provider, request }, Done::Link(link)) => {
                    work::link_created(&mut log.tx, &job.shop_uid, provider, request, &link, now)
                        .await?
                }
                (Work::ExpireLink { invoice_id, .. }, Done::Expired) => {
                    work::link_expired(&mut log.tx, &job.shop_uid, *invoice_id, now).await?
                }
                _ => Vec::new(),
            };
            jobs::done_in(&mut log.tx, job.id, now).await?;
            log.commit(state, &job.shop_uid, &events).await?;
            tracing::info!(job = job.id, kind = %job.kind, "job done");
            Ok(())
        }
        Err(e) => failed(state, &job, &work, e, now).await,
    }
}

/// Whether the Stripe key a call used (`used`; `None`: not a Stripe call) is still the shop's,
/// read inside the transaction that would record the call's result — so a disconnect (which
/// deletes the key first) either comes before, and this says no, or after, and finds the
/// recorded link among those it switches off.
async fn still_connected(
    state: &AppState,
    tx: &mut sqlx::SqliteConnection,
    shop: &str,
    used: Option<&Secret>,
) -> ziflow_core::Result<bool> {
    let Some(used) = used else {
        return Ok(true);
    };
    let now = ziflow_core::storage::shop_secrets::get_in(
        tx,
        &state.master_key,
        shop,
        SecretName::StripeApiKey,
    )
    .await?;
    Ok(now.is_some_and(|k| k.expose() == used.expose()))
}

/// A provider call failed: the attempt is recorded; a link that will not be made is
/// explained on its invoice.
async fn failed(
    state: &AppState,
    job: &Job,
    work: &Work,
    e: ProviderError,
    now: i64,
) -> ziflow_core::Result<()> {
    let retry = matches!(e, ProviderError::Retry(_));
    let gave_up = !record_failure(state, job, &e.to_string(), retry).await?;
    if let (true, Work::CreateLink { request, .. }) = (gave_up, work) {
        send_failed(state, job, request.invoice_id, &e.to_string(), false, now).await?;
    }
    Ok(())
}

/// Records why an invoice got no link (`invoice.send_failed`: the rep sees it on the invoice,
/// desks learn it from the log); with `done`, the job ends in the same commit.
async fn send_failed(
    state: &AppState,
    job: &Job,
    invoice_id: i64,
    reason: &str,
    done: bool,
    now: i64,
) -> ziflow_core::Result<()> {
    let mut log = LogTx::begin(state).await?;
    let payload = serde_json::json!({ "invoice_id": invoice_id, "reason": reason });
    let id = ziflow_core::command::record(
        &mut log.tx,
        &job.shop_uid,
        "invoice.send_failed",
        &payload,
        now,
    )
    .await?;
    if done {
        jobs::done_in(&mut log.tx, job.id, now).await?;
    }
    log.commit(state, &job.shop_uid, &[id]).await
}

/// Records a failed attempt; returns whether the job will be tried again.
pub(crate) async fn record_failure(
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

/// Runs one payment reminder step: what it records and the job's end commit together, so a
/// reminder goes out exactly once whatever stops the relay.
async fn remind(state: &AppState, job: Job) -> ziflow_core::Result<()> {
    let Ok(work) = serde_json::from_str::<ziflow_core::reminders::RemindWork>(&job.payload) else {
        record_failure(state, &job, "unreadable job", false).await?;
        return Ok(());
    };
    let now = state.clock.now();
    let mut log = LogTx::begin(state).await?;
    let events = ziflow_core::reminders::remind_in(&mut log.tx, &job.shop_uid, &work, now).await?;
    jobs::done_in(&mut log.tx, job.id, now).await?;
    log.commit(state, &job.shop_uid, &events).await?;
    Ok(())
}

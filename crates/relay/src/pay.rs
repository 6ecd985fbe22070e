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
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::shop_secrets::{self, SecretName};

use crate::engine::LogTx;
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
        }
    }
}

/// How often the runner looks for due jobs when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);

/// Jobs run per look.
const BATCH: i64 = 8;

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

/// The provider a shop sends new links with: Stripe once connected, else the sandbox.
pub async fn current_provider(state: &AppState, shop: &str) -> ziflow_core::Result<&'static str> {
    Ok(if stripe_key(state, shop).await?.is_some() {
        "stripe"
    } else {
        "sandbox"
    })
}

/// The provider called `name` for `shop`.
pub async fn provider(
    state: &AppState,
    shop: &str,
    name: &str,
) -> Result<Box<dyn PaymentProvider>, ProviderError> {
    match name {
        "sandbox" => Ok(Box::new(Sandbox::new(sandbox_delivery(state)))),
        "stripe" => {
            let key = stripe_key(state, shop)
                .await
                .map_err(|e| ProviderError::Retry(format!("reading the Stripe key: {e}")))?
                .ok_or_else(|| {
                    ProviderError::Refused(
                        "Stripe is not connected any more (Settings → Billing)".into(),
                    )
                })?;
            Ok(Box::new(Stripe::new(
                &state.providers.stripe_api_base,
                key,
                state.providers.stripe_timeout,
            )?))
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
pub fn start_runner(state: AppState) {
    tokio::spawn(async move {
        let mut stopping = state.stopping.clone();
        loop {
            match run_due(&state, None).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::error!("job runner: {e}"),
            }
            tokio::select! {
                () = state.jobs_wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stopping.wait_for(|s| *s) => break,
            }
        }
    });
}

/// Claims and runs the due jobs (or only job `only`, if due). Returns how many ran.
pub async fn run_due(state: &AppState, only: Option<i64>) -> ziflow_core::Result<usize> {
    let claimed = {
        let _one_writer = state.writes.lock().await;
        let mut tx = state.db.begin_immediate().await?;
        let claimed = jobs::claim_in(&mut tx, state.clock.now(), BATCH, only).await?;
        tx.commit().await?;
        claimed
    };
    let n = claimed.len();
    for job in claimed {
        let id = job.id;
        let ran = if job.kind.starts_with("wa.") {
            crate::channel::run(state, job).await
        } else if job.kind == ziflow_core::agent::phrase::PhraseWork::KIND {
            crate::phrase::run(state, job).await
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
        };
        if let Err(e) = ran {
            // The lease brings it back.
            tracing::error!(job = id, "recording a job's result failed: {e}");
        }
    }
    Ok(n)
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
    let result = async {
        let provider = provider(state, &job.shop_uid, work.provider()).await?;
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
        Err(e) => {
            let retry = matches!(e, ProviderError::Retry(_));
            let gave_up = !record_failure(state, &job, &e.to_string(), retry).await?;
            if let (true, Work::CreateLink { request, .. }) = (gave_up, &work) {
                // The rep sees why on the invoice (desks learn it from the log).
                let mut log = LogTx::begin(state).await?;
                let payload = serde_json::json!({
                    "invoice_id": request.invoice_id, "reason": e.to_string(),
                });
                let id = ziflow_core::command::record(
                    &mut log.tx,
                    &job.shop_uid,
                    "invoice.send_failed",
                    &payload,
                    now,
                )
                .await?;
                log.commit(state, &job.shop_uid, &[id]).await?;
            }
            Ok(())
        }
    }
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

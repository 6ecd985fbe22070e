//! Payments on the relay: which provider a shop uses, and the `pay.*` jobs that call it
//! (make a pay link, deactivate it after 48 hours, refund, align a subscription's first
//! charge); the runner ([`crate::jobs`]) hands them here.
//!
//! The provider is called with no transaction open, and the result is recorded in a
//! transaction that decides on the whole log (the engine caught up first). Retryable
//! failures (timeouts, 429, 5xx) come back with backoff; refusals are kept on the job with
//! the provider's words.

use std::sync::Arc;
use ziflow_core::storage::Conn;

use ziflow_core::pay::sandbox::{Deliver, Sandbox};
use ziflow_core::pay::stripe::Stripe;
use ziflow_core::pay::work::Work;
use ziflow_core::pay::{PaymentProvider, ProviderError};
use ziflow_core::secrets::Secret;
use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::storage::shop_secrets::SecretName;

use crate::state::AppState;

/// The shop's Stripe key, if connected.
pub async fn stripe_key(
    state: &AppState,
    shop: &str,
) -> ziflow_core::Result<Option<ziflow_core::secrets::Secret>> {
    state.secret(shop, SecretName::StripeApiKey).await
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
            crate::ingest::sandbox_event(&state, &shop, kind, object)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// What a provider call came to.
enum Done {
    Link(ziflow_core::pay::CreatedLink),
    Expired,
    Nothing,
}

/// Runs one `pay.*` job.
pub async fn run(state: &AppState, job: Job, work: Work) -> ziflow_core::Result<()> {
    let now = state.clock.now();
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
                    .acquire()
                    .await
                    .map_err(|e| ProviderError::Retry(format!("database: {e}")))?;
                if ziflow_core::pay::steps::still_unpaid(&mut conn, &job.shop_uid, *invoice_id)
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
            let mut log = state.log().await?;
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
                    ziflow_core::pay::steps::link_created(
                        &mut log.tx,
                        &job.shop_uid,
                        provider,
                        request,
                        &link,
                        now,
                    )
                    .await?
                }
                (Work::ExpireLink { invoice_id, .. }, Done::Expired) => {
                    ziflow_core::pay::steps::link_expired(
                        &mut log.tx,
                        &job.shop_uid,
                        *invoice_id,
                        now,
                    )
                    .await?
                }
                _ => Vec::new(),
            };
            jobs::done_in(&mut log.tx, &job, now).await?;
            log.commit(&job.shop_uid, &events).await?;
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
    tx: &mut Conn,
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
    let gave_up = !crate::attempts::failed(state, job, &e.to_string(), retry).await?;
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
    let mut log = state.log().await?;
    let failed =
        ziflow_protocol::Event::InvoiceSendFailed(ziflow_protocol::event::InvoiceSendFailed {
            invoice_id,
            reason: Some(reason.to_string()),
        });
    let id = ziflow_core::log::record(&mut log.tx, &job.shop_uid, &failed, now).await?;
    if done {
        jobs::done_in(&mut log.tx, job, now).await?;
    }
    log.commit(&job.shop_uid, &[id]).await
}

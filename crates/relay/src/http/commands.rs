//! `POST /api/v1/commands`: a device asks the relay to act. The `Idempotency-Key` header is
//! required; the first answer for a key is stored with the command's effects in one
//! transaction, and a retry with the same key gets that answer back without running again
//! (marked `Idempotent-Replayed: true`). Commands run one at a time per relay, in a
//! transaction holding SQLite's write lock, so two concurrent retries cannot both execute.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use ziflow_core::storage::command_results::{self, Stored};
use ziflow_protocol::Command;

use super::stored::{refusal, reply};
use super::sync::Authed;
use super::{AppState, HttpError};
use ziflow_core::storage::jobs;

/// Longest idempotency key accepted.
const MAX_KEY: usize = 200;

/// Runs a command once per idempotency key.
pub async fn commands(
    State(state): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let key = headers
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY)
        .ok_or_else(|| {
            HttpError::BadRequest(format!(
                "an Idempotency-Key header of 1 to {MAX_KEY} characters is required"
            ))
        })?
        .to_string();
    let command: Command = serde_json::from_slice(&body)
        .map_err(|e| HttpError::BadRequest(format!("not a known command: {e}")))?;
    let shop = auth.shop_uid().to_string();
    if command.owner_only() && !auth.is_owner() {
        return Err(HttpError::Forbidden(
            "only the shop owner's devices can change providers, keys, the bot's scenario and \
             replies, the catalog or templates; this device is a rep's"
                .into(),
        ));
    }
    if let Some(what) = command.money_permission() {
        let allowed = ziflow_core::storage::devices::Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == what)
            .is_some_and(|p| auth.device.may(p));
        if !allowed {
            return Err(HttpError::Forbidden(format!(
                "refunds and marking invoices paid by hand are the owner's; this rep's device \
                 has not been allowed {what} (ziflow-relay device permit --can {what})"
            )));
        }
    }
    if let Some(res) = super::billing::run(&state, &shop, &key, &command).await? {
        return Ok(res);
    }
    if let Some(res) = super::admin::run(&state, &shop, auth.device.id, &key, &command).await? {
        return Ok(res);
    }
    let provider = crate::pay::current_provider(&state, &shop).await?;

    let mut log = state.log().await?;
    if let Some(stored) = command_results::get(&mut log.tx, &shop, &key).await? {
        return Ok(reply(&stored, true));
    }
    let now = state.clock.now();
    // Links the relay makes carry its configured address, never one a client's Host or
    // X-Forwarded-Host header named (that would let anyone mint links to their own site).
    let public = state.engine_ctx.public_url.clone();
    let (stored, event_ids, jobs) = match ziflow_core::command::execute(
        &mut log.tx,
        &shop,
        &command,
        now,
        &ziflow_core::command::Context {
            public_url: &public,
            provider,
        },
    )
    .await
    {
        Ok(outcome) => (
            Stored {
                status: 200,
                body: outcome.answer.to_string(),
            },
            outcome.event_ids,
            outcome.jobs,
        ),
        Err(e @ (ziflow_core::Error::NotFound(_) | ziflow_core::Error::InvalidInput(_))) => {
            (refusal(&e), Vec::new(), Vec::new())
        }
        Err(e) => return Err(e.into()),
    };
    command_results::put(&mut log.tx, &shop, &key, &stored, now).await?;
    log.commit(&shop, &event_ids).await?;
    if jobs.is_empty() {
        return Ok(reply(&stored, false));
    }
    // The answer waits for the provider (bounded by its timeout); if it has not answered,
    // the job is retried in the background and the answer says the link is on its way.
    for job in &jobs {
        crate::jobs::run_due(&state, Some(*job)).await?;
    }
    let stored = after_jobs(&state, &shop, &command, &jobs, stored).await?;
    let mut tx = state
        .db
        .pool()
        .begin()
        .await
        .map_err(ziflow_core::Error::from)?;
    command_results::put(&mut tx, &shop, &key, &stored, now).await?;
    tx.commit().await.map_err(ziflow_core::Error::from)?;
    Ok(reply(&stored, false))
}

/// The answer once the command's jobs ran: the link (or the refund) if the provider
/// answered, its refusal if it refused, else that it is being retried.
async fn after_jobs(
    state: &AppState,
    shop: &str,
    command: &Command,
    jobs: &[i64],
    first: Stored,
) -> Result<Stored, HttpError> {
    for id in jobs {
        let Some(job) = jobs::get(&state.db, *id).await? else {
            continue;
        };
        let error = job.last_error.clone().unwrap_or_default();
        if job.state == "failed" {
            return Ok(Stored {
                status: 502,
                body: json!({ "error": "provider_refused", "message": error }).to_string(),
            });
        }
        if job.state == "pending" {
            let mut body: serde_json::Value =
                serde_json::from_str(&first.body).unwrap_or_else(|_| json!({}));
            body["pending"] = json!(true);
            body["message"] = json!(format!(
                "{error}. ZiFlow keeps trying and the rep's screen updates when it is done."
            ));
            return Ok(Stored {
                status: 202,
                body: body.to_string(),
            });
        }
    }
    if let Command::InvoiceSend { invoice_id } = command {
        let invoice = ziflow_core::storage::invoices::get(&state.db, shop, *invoice_id).await?;
        return Ok(Stored {
            status: 200,
            body: ziflow_core::command::sent_answer(&invoice, true).to_string(),
        });
    }
    let mut body: serde_json::Value =
        serde_json::from_str(&first.body).unwrap_or_else(|_| json!({}));
    body["pending"] = json!(false);
    Ok(Stored {
        status: 200,
        body: body.to_string(),
    })
}

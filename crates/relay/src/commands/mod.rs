//! Running a device's command on the relay, once per idempotency key: the first answer is
//! stored with the command's effects in one transaction, and a retry with the same key gets
//! that answer back without running again. Commands run one at a time per relay, in a
//! transaction holding SQLite's write lock, so two concurrent retries cannot both execute.
//!
//! Modules: `billing` (commands that need the relay's secrets and a provider's check:
//! Stripe, WhatsApp, the model, notification channels), `admin` (the owner's devices and
//! set-aside events). Every other command is `ziflow_core::command::execute`, followed by the
//! jobs it enqueued (a pay link, a refund), whose outcome the answer waits for.
//! Who may run what is decided by the caller (`http::commands`).

mod admin;
mod billing;

use ziflow_core::storage::command_results::{self, Stored};
use ziflow_core::storage::jobs;
use ziflow_protocol::answer::{self, Refusal};
use ziflow_protocol::Command;

use crate::error::Error;
use crate::state::AppState;

/// A command's answer (HTTP status and JSON body) and whether it is the stored answer of an
/// earlier run with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status and body.
    pub stored: Stored,
    /// A retry got the first run's answer.
    pub replayed: bool,
}

/// Runs `command` for the shop's device `device` once per idempotency `key`.
pub async fn run(
    state: &AppState,
    shop: &str,
    device: i64,
    key: &str,
    command: &Command,
) -> Result<Answer, Error> {
    if let Some(answer) = billing::run(state, shop, key, command).await? {
        return Ok(answer);
    }
    if let Some(answer) = admin::run(state, shop, device, key, command).await? {
        return Ok(answer);
    }
    let provider = crate::pay::current_provider(state, shop).await?;

    let mut log = state.log().await?;
    if let Some(stored) = command_results::get(&mut log.tx, shop, key).await? {
        return Ok(Answer {
            stored,
            replayed: true,
        });
    }
    let now = state.clock.now();
    // Links the relay makes carry its configured address, never one a client's Host or
    // X-Forwarded-Host header named (that would let anyone mint links to their own site).
    let public = state.engine_ctx.public_url.clone();
    let (stored, event_ids, jobs) = match ziflow_core::command::execute(
        &mut log.tx,
        shop,
        command,
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
    command_results::put(&mut log.tx, shop, key, &stored, now).await?;
    log.commit(shop, &event_ids).await?;
    if jobs.is_empty() {
        return Ok(Answer {
            stored,
            replayed: false,
        });
    }
    // The answer waits for the provider (bounded by its timeout); if it has not answered,
    // the job is retried in the background and the answer says the link is on its way.
    for job in &jobs {
        crate::jobs::run_due(state, Some(*job)).await?;
    }
    let stored = after_jobs(state, shop, command, &jobs, stored).await?;
    let mut tx = state.db.begin().await?;
    command_results::put(&mut tx, shop, key, &stored, now).await?;
    tx.commit().await?;
    Ok(Answer {
        stored,
        replayed: false,
    })
}

/// The answer once the command's jobs ran: the link (or the refund) if the provider
/// answered, its refusal if it refused, else that it is being retried.
async fn after_jobs(
    state: &AppState,
    shop: &str,
    command: &Command,
    jobs: &[i64],
    first: Stored,
) -> Result<Stored, Error> {
    let mut pending = None;
    for id in jobs {
        let Some(job) = jobs::get(&state.db, *id).await? else {
            continue;
        };
        let error = job.last_error.clone().unwrap_or_default();
        if job.state == "failed" {
            return Ok(refused(502, &Refusal::new("provider_refused", error)));
        }
        if job.state == "pending" {
            pending = Some(format!(
                "{error}. ZiFlow keeps trying and the rep's screen updates when it is done."
            ));
            break;
        }
    }
    let status = if pending.is_some() { 202 } else { 200 };
    Ok(match command {
        Command::InvoiceSend { invoice_id } => {
            let invoice = ziflow_core::storage::invoices::get(&state.db, shop, *invoice_id).await?;
            let mut sent = ziflow_core::command::invoices::sent_answer(&invoice, true);
            if let Some(why) = pending {
                sent.pending = true;
                sent.message = Some(why);
            }
            answered(status, &sent)
        }
        Command::InvoiceRefund { .. } => {
            let mut refund: answer::InvoiceRefund = serde_json::from_str(&first.body)
                .map_err(|e| Error::Internal(format!("the refund's answer: {e}")))?;
            refund.pending = pending.is_some();
            refund.message = pending;
            answered(status, &refund)
        }
        _ => first,
    })
}

/// `answer` as a stored answer with `status`.
pub(crate) fn answered(status: u16, answer: &impl serde::Serialize) -> Stored {
    Stored {
        status,
        body: ziflow_core::command::answer(answer).to_string(),
    }
}

/// A refusal as a stored answer with `status`.
pub(crate) fn refused(status: u16, refusal: &Refusal) -> Stored {
    answered(status, refusal)
}

/// The first answer to `key` if the command already ran (a retry gets it again).
async fn replayed(state: &AppState, shop: &str, key: &str) -> Result<Option<Answer>, Error> {
    let mut conn = state.db.acquire().await?;
    Ok(command_results::get(&mut conn, shop, key)
        .await?
        .map(|stored| Answer {
            stored,
            replayed: true,
        }))
}

/// A refusal as a stored answer (a retry gets the same refusal).
fn refusal(e: &ziflow_core::Error) -> Stored {
    let (status, code) = match e {
        ziflow_core::Error::NotFound(_) => (404, "not_found"),
        _ => (400, "bad_request"),
    };
    refused(status, &Refusal::new(code, e.to_string()))
}

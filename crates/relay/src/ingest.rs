//! Intake of provider deliveries, whatever door they come through: verify the signature over
//! the raw bytes (large bodies off the async workers), turn the body into log events, append
//! them through the group-commit writer ([`crate::intake`]) and count the outcome. The
//! webhook handlers (`http::webhooks`) and the sandbox (its pay page and customer chat, and
//! the sandbox provider's own events) all come here, so a sandbox event is verified exactly
//! like Stripe's or Meta's.

use std::time::Instant;

use axum::body::Bytes;
use serde_json::{json, Value};
use ziflow_core::secrets::Secret;
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_core::storage::shops;
use ziflow_core::webhook::{self, stripe, whatsapp};

use crate::error::Error;
use crate::metrics::Rejection;
use crate::state::AppState;

/// A refusal and the reason it is counted under.
pub type Refused = (Rejection, Error);

pub async fn shop_secret(state: &AppState, uid: &str, name: SecretName) -> Result<Secret, Refused> {
    if let Some(secret) = state.secrets.get(uid, name) {
        return Ok(secret);
    }
    let secret = load_secret(state, uid, name).await?;
    state.secrets.put(uid, name, secret.clone());
    Ok(secret)
}

async fn load_secret(state: &AppState, uid: &str, name: SecretName) -> Result<Secret, Refused> {
    shops::get(&state.db, uid)
        .await
        .map_err(|e| (Rejection::UnknownShop, e.into()))?;
    shop_secrets::get(&state.db, &state.master_key, uid, name)
        .await
        .map_err(|e| (Rejection::Internal, e.into()))?
        .ok_or_else(|| {
            (
                Rejection::NotConfigured,
                Error::BadRequest(format!(
                    "shop {uid} has no {} configured, so its webhooks cannot be verified",
                    name.as_str()
                )),
            )
        })
}

/// Runs one delivery's intake `work`, counts its outcome on `/metrics` under `provider`, and
/// turns it into the answer (what was stored, or why nothing was).
pub async fn counted(
    state: &AppState,
    provider: &str,
    work: impl std::future::Future<Output = Result<(Value, bool), Refused>>,
) -> Result<Value, Error> {
    let started = Instant::now();
    match work.await {
        Ok((answer, duplicate)) => {
            state
                .metrics
                .accepted(provider, duplicate, started.elapsed());
            Ok(answer)
        }
        Err((why, err)) => {
            state.metrics.rejected(provider, why);
            Err(err)
        }
    }
}

fn bad_signature(e: webhook::SignatureError) -> Refused {
    (
        Rejection::Signature,
        Error::BadRequest(format!("webhook signature rejected: {e}")),
    )
}

fn malformed(e: webhook::PayloadError) -> Refused {
    (Rejection::Malformed, Error::BadRequest(e.0))
}

pub fn internal(e: String) -> Refused {
    (Rejection::Internal, Error::Internal(e))
}

/// Bodies up to this size are hashed on the async worker; larger ones on the blocking pool,
/// so a 1 MiB Stripe body or a 4 MiB WhatsApp body never holds up other requests.
const INLINE_HASH_LIMIT: usize = 64 * 1024;

/// Runs a signature check `check` over a body of `len` bytes, off the async workers when
/// the body is large.
async fn hashed<T: Send + 'static>(
    len: usize,
    check: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refused> {
    if len <= INLINE_HASH_LIMIT {
        return Ok(check());
    }
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| internal(format!("signature check did not finish: {e}")))
}

/// Stores an event of the sandbox provider (its pay page), signed with the relay's
/// sandbox-only key and verified exactly like Stripe's deliveries; logged as `sandbox.*`, so
/// it can only ever pay an invoice whose link the sandbox made.
async fn sandbox(state: &AppState, uid: &str, signature: String, body: Bytes) -> Result<(), Error> {
    counted(state, "sandbox", async {
        let key = sandbox_key(state)?;
        stripe_format(state, uid, "sandbox", key, Some(signature), body).await
    })
    .await
    .map(|_| ())
}

/// The relay's sandbox-only signing key, or why there is none (the sandbox is off).
fn sandbox_key(state: &AppState) -> Result<Secret, Refused> {
    state.sandbox_key.clone().ok_or_else(|| {
        (
            Rejection::NotConfigured,
            Error::NotFound("the sandbox on this relay".into()),
        )
    })
}

/// Verifies an event in Stripe's format with `secret` and appends it as `provider`'s.
pub async fn stripe_format(
    state: &AppState,
    uid: &str,
    provider: &'static str,
    secret: Secret,
    signature: Option<String>,
    body: Bytes,
) -> Result<(Value, bool), Refused> {
    let now = state.clock.now();
    let verified = hashed(body.len(), move || {
        stripe::verify(secret.expose(), signature.as_deref(), &body, now)
    })
    .await?
    .map_err(bad_signature)?;
    let event = stripe::event_from(&verified, provider).map_err(malformed)?;
    let ids = state
        .intake
        .append(uid, vec![event])
        .await
        .map_err(internal)?;
    let duplicate = ids.first().is_some_and(Option::is_none);
    Ok((
        json!({ "received": true, "duplicate": duplicate }),
        duplicate,
    ))
}

/// Stores a message from the sandbox customer chat, signed with the relay's sandbox-only key
/// and verified like Meta's deliveries (never with the shop's WhatsApp app secret).
pub async fn sandbox_chat(
    state: &AppState,
    uid: &str,
    signature: String,
    body: Bytes,
) -> Result<Value, Error> {
    counted(state, "sandbox", async {
        let key = sandbox_key(state)?;
        whatsapp_format(state, uid, key, Some(signature), body, None).await
    })
    .await
}

/// Verifies a Cloud API body with `secret` and appends its messages and statuses.
pub async fn whatsapp_format(
    state: &AppState,
    uid: &str,
    secret: Secret,
    signature: Option<String>,
    body: Bytes,
    number: Option<String>,
) -> Result<(Value, bool), Refused> {
    let verified = hashed(body.len(), move || {
        whatsapp::verify(secret.expose(), signature.as_deref(), &body)
    })
    .await?
    .map_err(bad_signature)?;
    let mut events = whatsapp::events(&verified).map_err(malformed)?;
    if let Some(number) = number {
        let (kept, dropped) = whatsapp::for_number(events, &number);
        if dropped > 0 {
            tracing::warn!(
                shop = uid,
                dropped,
                "WhatsApp entries for another number dropped"
            );
            state.metrics.foreign_number(dropped);
        }
        events = kept;
    }
    let count = events.len();
    let ids = if events.is_empty() {
        Vec::new()
    } else {
        state.intake.append(uid, events).await.map_err(internal)?
    };
    let stored = ids.iter().flatten().count();
    Ok((
        json!({ "received": count, "stored": stored }),
        count > 0 && stored == 0,
    ))
}

/// Makes, signs and stores an event of the sandbox provider (`kind`, about `object`) for
/// `shop_uid`: how the sandbox's pay page and sandbox pay links report what the customer
/// pressed. Refused where the sandbox is off.
pub async fn sandbox_event(
    state: &AppState,
    shop_uid: &str,
    kind: &str,
    object: Value,
) -> Result<(), Error> {
    let Some(key) = &state.sandbox_key else {
        return Err(Error::NotFound("the sandbox on this relay".into()));
    };
    let id = ziflow_core::secrets::new_token("evt_sandbox")
        .map_err(|e| Error::Internal(e.to_string()))?;
    let body = json!({
        "id": id, "object": "event", "type": kind, "livemode": false,
        "created": state.clock.now(), "data": { "object": object },
    })
    .to_string();
    let signature = stripe::sign(key.expose(), body.as_bytes(), state.clock.now());
    sandbox(state, shop_uid, signature, Bytes::from(body)).await
}

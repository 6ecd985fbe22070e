//! Provider webhooks: verify over the raw bytes, commit, then answer 2xx.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use ziflow_core::secrets::Secret;
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_core::storage::shops;
use ziflow_core::webhook::{self, stripe, whatsapp};

use super::{AppState, HttpError};
use crate::metrics::Rejection;

/// A refusal and the reason it is counted under.
pub(super) type Refused = (Rejection, HttpError);

pub(super) async fn shop_secret(
    state: &AppState,
    uid: &str,
    name: SecretName,
) -> Result<Secret, Refused> {
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
                HttpError::BadRequest(format!(
                    "shop {uid} has no {} configured, so its webhooks cannot be verified",
                    name.as_str()
                )),
            )
        })
}

/// Reads a webhook's body, at most `limit` bytes: a declared length over it is refused before
/// anything is read, and reading stops at the limit. Handlers call this only once the shop
/// is known to exist and have its secret, so a stranger's megabytes are never buffered.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Refused> {
    let too_large = || {
        (
            Rejection::TooLarge,
            HttpError::TooLarge(format!(
                "the body is over the {limit} bytes this route takes"
            )),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            (
                Rejection::Malformed,
                HttpError::BadRequest(format!("reading the body: {e}")),
            )
        }
    })
}

/// Counts the outcome and turns it into the answer.
fn finish(
    state: &AppState,
    provider: &str,
    started: Instant,
    outcome: Result<(Value, bool), Refused>,
) -> Result<Json<Value>, HttpError> {
    match outcome {
        Ok((answer, duplicate)) => {
            state
                .metrics
                .accepted(provider, duplicate, started.elapsed());
            Ok(Json(answer))
        }
        Err((why, err)) => {
            state.metrics.rejected(provider, why);
            Err(err)
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bad_signature(e: webhook::SignatureError) -> Refused {
    (
        Rejection::Signature,
        HttpError::BadRequest(format!("webhook signature rejected: {e}")),
    )
}

fn malformed(e: webhook::PayloadError) -> Refused {
    (Rejection::Malformed, HttpError::BadRequest(e.0))
}

fn internal(e: String) -> Refused {
    (Rejection::Internal, HttpError::Internal(e))
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

/// `POST /api/payment/webhook/{uid}`: a Stripe event.
pub async fn stripe(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let outcome = async {
        let secret = shop_secret(&state, &uid, SecretName::StripeWebhook).await?;
        let body = read_body(&headers, body, super::STRIPE_BODY_LIMIT).await?;
        let signature = header(&headers, stripe::HEADER).map(str::to_owned);
        stripe_format(&state, &uid, "stripe", secret, signature, body).await
    }
    .await;
    finish(&state, "stripe", started, outcome)
}

/// Stores an event of the sandbox provider (its pay page), signed with the relay's
/// sandbox-only key and verified exactly like Stripe's deliveries; logged as `sandbox.*`, so
/// it can only ever pay an invoice whose link the sandbox made.
pub(super) async fn sandbox(
    state: &AppState,
    uid: &str,
    signature: String,
    body: Bytes,
) -> Result<(), HttpError> {
    let started = Instant::now();
    let outcome = match sandbox_key(state) {
        Ok(key) => stripe_format(state, uid, "sandbox", key, Some(signature), body).await,
        Err(refused) => Err(refused),
    };
    finish(state, "sandbox", started, outcome).map(|_| ())
}

/// The relay's sandbox-only signing key, or why there is none (the sandbox is off).
fn sandbox_key(state: &AppState) -> Result<Secret, Refused> {
    state.sandbox_key.clone().ok_or_else(|| {
        (
            Rejection::NotConfigured,
            HttpError::NotFound("the sandbox on this relay".into()),
        )
    })
}

/// Verifies an event in Stripe's format with `secret` and appends it as `provider`'s.
async fn stripe_format(
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

/// `POST /api/whatsapp/webhook/{uid}`: Cloud API messages and statuses.
pub async fn whatsapp(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let outcome = async {
        let secret = shop_secret(&state, &uid, SecretName::WhatsAppApp).await?;
        let body = read_body(&headers, body, super::WHATSAPP_BODY_LIMIT).await?;
        let signature = header(&headers, whatsapp::HEADER).map(str::to_owned);
        // A shop on a WhatsApp number takes only that number's entries.
        let number =
            ziflow_core::storage::settings::get(&state.db, &uid, "whatsapp.phone_number_id")
                .await
                .map_err(|e| internal(e.to_string()))?
                .filter(|n| !n.is_empty());
        whatsapp_format(&state, &uid, secret, signature, body, number).await
    }
    .await;
    finish(&state, "whatsapp", started, outcome)
}

/// Stores a message from the sandbox customer chat, signed with the relay's sandbox-only key
/// and verified like Meta's deliveries (never with the shop's WhatsApp app secret).
pub(super) async fn sandbox_chat(
    state: &AppState,
    uid: &str,
    signature: String,
    body: Bytes,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let outcome = match sandbox_key(state) {
        Ok(key) => whatsapp_format(state, uid, key, Some(signature), body, None).await,
        Err(refused) => Err(refused),
    };
    finish(state, "sandbox", started, outcome)
}

/// Verifies a Cloud API body with `secret` and appends its messages and statuses.
async fn whatsapp_format(
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

/// Meta's subscription handshake query.
#[derive(Debug, Deserialize)]
pub struct Subscribe {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /api/whatsapp/webhook/{uid}`: echoes `hub.challenge` when the verify token matches.
pub async fn whatsapp_subscribe(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(q): Query<Subscribe>,
) -> Result<String, HttpError> {
    shops::get(&state.db, &uid).await?;
    let expected = shops::whatsapp_verify_token(&state.db, &uid).await?;
    let given = q.verify_token.unwrap_or_default();
    let matches = expected.is_some_and(|e| {
        use subtle::ConstantTimeEq;
        bool::from(e.as_bytes().ct_eq(given.as_bytes()))
    });
    if q.mode.as_deref() != Some("subscribe") || !matches {
        return Err(HttpError::Forbidden(
            "hub.mode must be subscribe and hub.verify_token must match the shop's".into(),
        ));
    }
    Ok(q.challenge.unwrap_or_default())
}

//! Provider webhooks: verify over the raw bytes, commit, then answer 2xx.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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

fn body_or_refusal(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refused> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            (Rejection::TooLarge, HttpError::TooLarge(e.body_text()))
        } else {
            (Rejection::Malformed, HttpError::BadRequest(e.body_text()))
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

/// `POST /api/payment/webhook/{uid}`: a Stripe event.
pub async fn stripe(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let outcome = async {
        let body = body_or_refusal(body)?;
        let secret = shop_secret(&state, &uid, SecretName::StripeWebhook).await?;
        let verified = stripe::verify(
            secret.expose(),
            header(&headers, stripe::HEADER),
            &body,
            state.clock.now(),
        )
        .map_err(bad_signature)?;
        let event = stripe::event(&verified).map_err(malformed)?;
        let ids = state
            .intake
            .append(&uid, vec![event])
            .await
            .map_err(internal)?;
        let duplicate = ids.first().is_some_and(Option::is_none);
        Ok((
            json!({ "received": true, "duplicate": duplicate }),
            duplicate,
        ))
    }
    .await;
    finish(&state, "stripe", started, outcome)
}

/// `POST /api/whatsapp/webhook/{uid}`: Cloud API messages and statuses.
pub async fn whatsapp(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, HttpError> {
    let started = Instant::now();
    let outcome = async {
        let body = body_or_refusal(body)?;
        let secret = shop_secret(&state, &uid, SecretName::WhatsAppApp).await?;
        let verified = whatsapp::verify(secret.expose(), header(&headers, whatsapp::HEADER), &body)
            .map_err(bad_signature)?;
        let events = whatsapp::events(&verified).map_err(malformed)?;
        let count = events.len();
        let ids = if events.is_empty() {
            Vec::new()
        } else {
            state.intake.append(&uid, events).await.map_err(internal)?
        };
        let stored = ids.iter().flatten().count();
        Ok((
            json!({ "received": count, "stored": stored }),
            count > 0 && stored == 0,
        ))
    }
    .await;
    finish(&state, "whatsapp", started, outcome)
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

//! Provider webhooks, the door: find the shop's secret, read the body within its limit, and
//! hand both to [`crate::ingest`], which verifies over the raw bytes and commits before the
//! 2xx.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use ziflow_core::storage::shop_secrets::SecretName;
use ziflow_core::storage::shops;
use ziflow_core::webhook::{stripe, whatsapp};

use super::{AppState, HttpError};
use crate::ingest::{self, Refused};
use crate::metrics::Rejection;

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

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /api/payment/webhook/{uid}`: a Stripe event.
pub async fn stripe(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, HttpError> {
    ingest::counted(&state, "stripe", async {
        let secret = ingest::shop_secret(&state, &uid, SecretName::StripeWebhook).await?;
        let body = read_body(&headers, body, super::STRIPE_BODY_LIMIT).await?;
        let signature = header(&headers, stripe::HEADER).map(str::to_owned);
        ingest::stripe_format(&state, &uid, "stripe", secret, signature, body).await
    })
    .await
    .map(Json)
}

/// `POST /api/whatsapp/webhook/{uid}`: Cloud API messages and statuses.
pub async fn whatsapp(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, HttpError> {
    ingest::counted(&state, "whatsapp", async {
        let secret = ingest::shop_secret(&state, &uid, SecretName::WhatsAppApp).await?;
        let body = read_body(&headers, body, super::WHATSAPP_BODY_LIMIT).await?;
        let signature = header(&headers, whatsapp::HEADER).map(str::to_owned);
        // A shop on a WhatsApp number takes only that number's entries.
        let number =
            ziflow_core::storage::settings::get(&state.db, &uid, "whatsapp.phone_number_id")
                .await
                .map_err(|e| ingest::internal(e.to_string()))?
                .filter(|n| !n.is_empty());
        ingest::whatsapp_format(&state, &uid, secret, signature, body, number).await
    })
    .await
    .map(Json)
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

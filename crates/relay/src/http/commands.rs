//! `POST /api/v1/commands`: a device asks the relay to act. The handler reads the
//! `Idempotency-Key` header (required) and the command, checks that this device may run it,
//! and hands it to `crate::commands`, which runs it once per key; a retry's answer is marked
//! `Idempotent-Replayed: true`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ziflow_protocol::Command;

use super::sync::Authed;
use super::{AppState, HttpError};

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
    let answer = crate::commands::run(&state, &shop, auth.device.id, &key, &command).await?;
    let status =
        StatusCode::from_u16(answer.stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer.stored.body,
    )
        .into_response();
    if answer.replayed {
        res.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

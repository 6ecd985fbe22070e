//! `POST /api/v1/commands`: a device asks the relay to act. The `Idempotency-Key` header is
//! required; the first answer for a key is stored with the command's effects in one
//! transaction, and a retry with the same key gets that answer back without running again
//! (marked `Idempotent-Replayed: true`). Commands run one at a time per relay, in a
//! transaction holding SQLite's write lock, so two concurrent retries cannot both execute.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ziflow_core::storage::command_results::{self, Stored};
use ziflow_protocol::Command;

use super::sync::Authed;
use super::{AppState, HttpError};
use crate::intake::Committed;

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

    let _one_writer = state.writes.lock().await;
    let mut tx = state.db.begin_immediate().await?;
    if let Some(stored) = command_results::get(&mut tx, &shop, &key).await? {
        return Ok(reply(&stored, true));
    }
    // Decide on the whole log: events committed but not yet applied are applied first.
    let recorded = crate::engine::catch_up_in(&mut tx).await?;
    let now = state.clock.now();
    let (stored, event_ids) = match ziflow_core::command::execute(
        &mut tx,
        &shop,
        &command,
        now,
        &ziflow_core::command::Context {
            public_url: &public_url(&headers),
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
        ),
        Err(e @ (ziflow_core::Error::NotFound(_) | ziflow_core::Error::InvalidInput(_))) => {
            // A refusal is an answer too: the retry must get the same refusal.
            let status = if matches!(e, ziflow_core::Error::NotFound(_)) {
                404
            } else {
                400
            };
            let code = if status == 404 {
                "not_found"
            } else {
                "bad_request"
            };
            (
                Stored {
                    status,
                    body: json!({ "error": code, "message": e.to_string() }).to_string(),
                },
                Vec::new(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(id) = event_ids.iter().max() {
        // The command applied its own events.
        crate::engine::applied_through(&mut tx, *id).await?;
    }
    command_results::put(&mut tx, &shop, &key, &stored, now).await?;
    tx.commit().await.map_err(ziflow_core::Error::from)?;
    for c in recorded {
        state.intake.announce(c);
    }
    if let Some(id) = event_ids.iter().max() {
        state.intake.announce(Committed {
            shop_uid: shop,
            id: *id,
        });
    }
    Ok(reply(&stored, false))
}

/// The relay's address as the caller reached it: `Host`, with `X-Forwarded-Proto` from a
/// TLS-terminating proxy (plain http otherwise).
fn public_url(headers: &HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .unwrap_or("127.0.0.1");
    let scheme = match get("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

fn reply(stored: &Stored, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        stored.body.clone(),
    )
        .into_response();
    if replayed {
        res.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    res
}

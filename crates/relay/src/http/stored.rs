//! Stored command answers, shared by every command route (`commands`, `billing`, `admin`):
//! the first answer to an idempotency key replayed, a refusal as a stored answer, and the
//! HTTP reply for a stored answer.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ziflow_core::storage::command_results::{self, Stored};

use super::{AppState, HttpError};

/// The first answer to `key` if the command already ran (a retry gets it again).
pub(super) async fn replayed(
    state: &AppState,
    shop: &str,
    key: &str,
) -> Result<Option<Response>, HttpError> {
    let mut conn = state
        .db
        .pool()
        .acquire()
        .await
        .map_err(ziflow_core::Error::from)?;
    Ok(command_results::get(&mut conn, shop, key)
        .await?
        .map(|stored| reply(&stored, true)))
}

/// A refusal as a stored answer (a retry gets the same refusal).
pub(super) fn refusal(e: &ziflow_core::Error) -> Stored {
    let (status, code) = match e {
        ziflow_core::Error::NotFound(_) => (404, "not_found"),
        _ => (400, "bad_request"),
    };
    Stored {
        status,
        body: json!({ "error": code, "message": e.to_string() }).to_string(),
    }
}

/// The HTTP reply for `stored`; `replayed` marks a retry's (`Idempotent-Replayed: true`).
pub(super) fn reply(stored: &Stored, replayed: bool) -> Response {
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

//! The relay's HTTP surface and its one error type: 4xx says what was wrong with the
//! request; 5xx is logged with detail and answered without it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use ziflow_core::Db;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The relay's database.
    pub db: Db,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, HttpError> {
    sqlx_ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}

async fn sqlx_ping(db: &Db) -> Result<(), HttpError> {
    ziflow_core::storage::shops::first(db)
        .await
        .map(|_| ())
        .map_err(|e| HttpError::Unavailable(e.to_string()))
}

/// Every error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A dependency (the database) is not answering.
    #[error("service unavailable")]
    Unavailable(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "health check failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "unavailable", "message": self.to_string() })),
                )
                    .into_response()
            }
        }
    }
}

//! The relay's HTTP surface and its one error type: 4xx says what was wrong with the
//! request; 5xx is logged with detail and answered without it.
//!
//! Body limits (over the limit → 413): Stripe webhooks 1 MiB (Stripe events are a few KiB),
//! WhatsApp webhooks 4 MiB (Cloud API payloads reach 3 MB), sync commands 64 KiB.
//!
//! Routes by module: `webhooks` (Stripe and WhatsApp), `sync` (devices pull and stream
//! the log), `commands` (devices act; the command runs in `crate::commands`), `admin` (the
//! owner's device list),
//! `sandbox` (the pay page) and `sandbox_chat` (the customer's phone), `limits`
//! (per-source rate limits).

mod admin;
mod commands;
pub mod limits;
mod sandbox;
mod sandbox_chat;
mod sync;
mod webhooks;

use std::sync::Arc;

pub use crate::error::Error as HttpError;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

/// Largest Stripe webhook body accepted.
pub const STRIPE_BODY_LIMIT: usize = 1024 * 1024;
/// Largest command body accepted.
pub const COMMAND_BODY_LIMIT: usize = 64 * 1024;
/// Largest WhatsApp webhook body accepted.
pub const WHATSAPP_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Builds the router. The sandbox's pages exist only where the sandbox is on: elsewhere
/// every `/sandbox/...` path is a plain 404.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        // The webhooks read their bodies themselves, once the shop is known (its limit then).
        .route("/api/payment/webhook/{uid}", post(webhooks::stripe))
        .route(
            "/api/whatsapp/webhook/{uid}",
            get(webhooks::whatsapp_subscribe).post(webhooks::whatsapp),
        )
        .route("/api/v1/shop", get(sync::shop))
        .route("/api/v1/devices", get(admin::devices))
        .route("/api/v1/events", get(sync::events))
        .route("/api/v1/stream", get(sync::stream))
        .route(
            "/api/v1/commands",
            post(commands::commands).layer(DefaultBodyLimit::max(COMMAND_BODY_LIMIT)),
        );
    if state.sandbox_key.is_some() {
        app = app
            .route(
                "/sandbox/pay/{token}",
                get(sandbox::show)
                    .post(sandbox::act)
                    .layer(DefaultBodyLimit::max(COMMAND_BODY_LIMIT)),
            )
            .route(
                "/sandbox/chat/{uid}",
                get(sandbox_chat::show)
                    .post(sandbox_chat::send)
                    .layer(DefaultBodyLimit::max(COMMAND_BODY_LIMIT)),
            )
            .route("/sandbox/chat/{uid}/messages", get(sandbox_chat::messages));
    }
    let budgets = limits::Budgets {
        limits: Arc::new(limits::SourceLimits::new(
            state.providers.trusted_proxies.clone(),
        )),
        metrics: state.metrics.clone(),
    };
    app.layer(axum::middleware::from_fn_with_state(
        budgets,
        limits::budget,
    ))
    .with_state(state)
}

/// `GET /healthz`: 503 when the database does not answer; else 200 with `"status": "ok"`, or
/// `"degraded"` and the reasons when the engine or the job runner has been failing for a
/// while (webhooks are still taken durably then, so the relay stays in rotation; alert on
/// `status`). Quarantined events are counted.
async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, HttpError> {
    ziflow_core::storage::shops::first(&state.db)
        .await
        .map_err(|e| HttpError::Unavailable(e.to_string()))?;
    let reasons = state.engine_ctx.health.reasons();
    let quarantined = ziflow_core::storage::quarantine::count(&state.db)
        .await
        .unwrap_or_default();
    // This process's view: its engine and job runner, its connection to the database, and
    // (on PostgreSQL) how many writers of the whole cluster wait for the write lock.
    let writers_waiting = state.db.write_lock_waiters().await.unwrap_or_default();
    Ok(Json(json!({
        "status": if reasons.is_empty() { "ok" } else { "degraded" },
        "reasons": reasons,
        "quarantined_events": quarantined,
        "database": state.db.backend().name(),
        "writers_waiting": writers_waiting,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// `GET /metrics`: Prometheus text exposition, plus how far the engine is behind the log.
/// Only with the operator's bearer token (`--metrics-token`), or, without one, only from this
/// machine: the counters tell an outsider which shops get traffic and what fails.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    extensions: axum::http::Extensions,
) -> Result<impl IntoResponse, HttpError> {
    use std::fmt::Write;
    let allowed = match &state.providers.metrics_token {
        Some(token) => headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| {
                use subtle::ConstantTimeEq;
                bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
            }),
        // From this machine, and not relayed for someone else by a reverse proxy on it.
        None => {
            let proxied =
                headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
            !proxied
                && extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .is_some_and(|peer| peer.0.ip().is_loopback())
        }
    };
    if !allowed {
        return Err(HttpError::NotFound("/metrics".into()));
    }
    let mut text = state.metrics.render();
    // Which relay this is, for a cluster's dashboards (Prometheus adds the scraped address
    // as `instance`; these say what runs there).
    let _ = writeln!(
        text,
        "# HELP ziflow_relay_info This relay process: its database, version and process id."
    );
    let _ = writeln!(text, "# TYPE ziflow_relay_info gauge");
    let _ = writeln!(
        text,
        "ziflow_relay_info{{database=\"{}\",version=\"{}\",pid=\"{}\"}} 1",
        state.db.backend().name(),
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    // Due, then running, then the engine: a job moves from due to running to recorded, so
    // reading in this order never misses one in between.
    let due = ziflow_core::storage::jobs::due_count(&state.db, state.clock.now())
        .await
        .unwrap_or_default();
    let running = state.lanes.running();
    let _ = writeln!(
        text,
        "# HELP ziflow_jobs_due Jobs whose time has come, waiting for a free lane or the runner."
    );
    let _ = writeln!(text, "# TYPE ziflow_jobs_due gauge");
    let _ = writeln!(text, "ziflow_jobs_due {due}");
    let _ = writeln!(text, "# HELP ziflow_jobs_running Jobs running now.");
    let _ = writeln!(text, "# TYPE ziflow_jobs_running gauge");
    let _ = writeln!(text, "ziflow_jobs_running {running}");
    // The cursor in the database: on a cluster any relay's engine may have moved it.
    let applied = match state.db.acquire().await {
        Ok(mut conn) => ziflow_core::storage::engine::cursor(
            &mut conn,
            ziflow_core::storage::engine::PROJECTION,
        )
        .await
        .unwrap_or_else(|_| state.engine.applied()),
        Err(_) => state.engine.applied(),
    };
    let newest = ziflow_core::storage::events::newest_any(&state.db)
        .await
        .unwrap_or(applied);
    let _ = writeln!(
        text,
        "# HELP ziflow_engine_lag_events Events committed but not yet applied by the engine."
    );
    let _ = writeln!(text, "# TYPE ziflow_engine_lag_events gauge");
    let _ = writeln!(
        text,
        "ziflow_engine_lag_events {}",
        newest.saturating_sub(applied).max(0)
    );
    let _ = writeln!(
        text,
        "# HELP ziflow_engine_lag_events_by_shop Events not yet applied, per shop (only shops \
         with some; at most 1,000)."
    );
    let _ = writeln!(text, "# TYPE ziflow_engine_lag_events_by_shop gauge");
    for (shop, behind) in ziflow_core::storage::engine::lag_by_shop(&state.db)
        .await
        .unwrap_or_default()
    {
        let _ = writeln!(
            text,
            "ziflow_engine_lag_events_by_shop{{shop=\"{shop}\"}} {behind}"
        );
    }
    let health = &state.engine_ctx.health;
    let quarantined = ziflow_core::storage::quarantine::count(&state.db)
        .await
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "# HELP ziflow_quarantined_events Events set aside after failing to apply (see /healthz)."
    );
    let _ = writeln!(text, "# TYPE ziflow_quarantined_events gauge");
    let _ = writeln!(text, "ziflow_quarantined_events {quarantined}");
    let _ = writeln!(
        text,
        "# HELP ziflow_panics_total Panics caught in background work (the work went on)."
    );
    let _ = writeln!(text, "# TYPE ziflow_panics_total counter");
    for (part, n) in [
        ("engine", &health.engine_panics),
        ("jobs", &health.job_panics),
    ] {
        let _ = writeln!(
            text,
            "ziflow_panics_total{{part=\"{part}\"}} {}",
            n.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        text,
        "# HELP ziflow_degraded 1 while /healthz says degraded."
    );
    let _ = writeln!(text, "# TYPE ziflow_degraded gauge");
    let _ = writeln!(
        text,
        "ziflow_degraded {}",
        u8::from(!health.reasons().is_empty())
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        (
            status,
            Json(json!({ "error": code, "message": self.to_string() })),
        )
            .into_response()
    }
}

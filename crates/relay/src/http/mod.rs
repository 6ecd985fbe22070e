//! The relay's HTTP surface and its one error type: 4xx says what was wrong with the
//! request; 5xx is logged with detail and answered without it.
//!
//! Body limits (over the limit → 413): Stripe webhooks 1 MiB (Stripe events are a few KiB),
//! WhatsApp webhooks 4 MiB (Cloud API payloads reach 3 MB), sync commands 64 KiB.

mod admin;
mod billing;
mod commands;
pub mod limits;
mod sandbox;
mod sandbox_chat;
mod sync;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use ziflow_core::secrets::MasterKey;
use ziflow_core::{Clock, Db};

use crate::intake::Intake;

/// Largest Stripe webhook body accepted.
pub const STRIPE_BODY_LIMIT: usize = 1024 * 1024;
/// Largest command body accepted.
pub const COMMAND_BODY_LIMIT: usize = 64 * 1024;
/// Largest WhatsApp webhook body accepted.
pub const WHATSAPP_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Shared state of every handler: one pointer, so the clone axum makes per request (and per
/// middleware layer) costs one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the relay's shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler and background task of the relay shares (behind [`AppState`]).
pub struct Shared {
    /// The relay's database.
    pub db: Db,
    /// The durable intake writer.
    pub intake: Intake,
    /// Applies the log's effects after commits.
    pub engine: crate::engine::Engine,
    /// Opens the shops' provider secrets.
    pub master_key: MasterKey,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Recently opened provider secrets.
    pub secrets: Arc<crate::secret_cache::SecretCache>,
    /// Operational counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// One writer at a time in this process (intake, engine, commands).
    pub writes: crate::intake::Writes,
    /// The sandbox provider's signing key, made at start-up and never stored: `Some` only on
    /// a relay started with the sandbox on. Never a shop's secret.
    pub sandbox_key: Option<ziflow_core::secrets::Secret>,
    /// Invoices whose sandbox payment is on its way (the pay page says "Processing").
    pub sandbox_pending: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    /// Where the payment providers are.
    pub providers: crate::pay::ProviderConfig,
    /// The one HTTP client for calls out (WhatsApp, the phrasing model): connections and TLS
    /// set-up are reused across calls.
    pub http: reqwest::Client,
    /// The client for addresses the owner typed (Slack webhook, model endpoint): checked
    /// resolution (no private or metadata addresses), no redirects (see `ziflow_core::net`).
    pub owner_http: reqwest::Client,
    /// Spaces WhatsApp sends per business number.
    pub limiter: Arc<crate::channel::Limiter>,
    /// The lanes where a job runs now (the runner's and commands' alike).
    pub lanes: Arc<crate::pay::Lanes>,
    /// Wakes the job runner (a job was enqueued).
    pub jobs_wake: Arc<tokio::sync::Notify>,
    /// What the engine's own work needs (shared with commands catching the engine up).
    pub engine_ctx: crate::engine::Ctx,
    /// Open push streams per device (capped).
    pub streams: Arc<crate::streams::StreamSlots>,
    /// Per-source budgets for rejections and open routes (see [`limits`]).
    pub limits: Arc<limits::SourceLimits>,
    /// Turns true when shutdown starts; push streams end on it.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

pub(crate) use sandbox::deliver as sandbox_deliver;

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
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
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
    Ok(Json(json!({
        "status": if reasons.is_empty() { "ok" } else { "degraded" },
        "reasons": reasons,
        "quarantined_events": quarantined,
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
    let applied = state.engine.applied();
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

/// Every error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request is wrong; the text says how. Nothing was stored.
    #[error("{0}")]
    BadRequest(String),
    /// No or a bad device token.
    #[error("a valid device token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// The thing addressed does not exist (or is not the caller's).
    #[error("{0} not found")]
    NotFound(String),
    /// The body is over the route's limit.
    #[error("{0}")]
    TooLarge(String),
    /// Refused by policy (e.g. a wrong WhatsApp verify token).
    #[error("{0}")]
    Forbidden(String),
    /// A dependency (the database) is not answering.
    #[error("service unavailable")]
    Unavailable(String),
    /// Too many of something at once (push streams of one device, one source's requests).
    #[error("{0}")]
    TooMany(String),
    /// Our fault; details go to the log only.
    #[error("internal error")]
    Internal(String),
}

impl From<ziflow_core::Error> for HttpError {
    fn from(e: ziflow_core::Error) -> Self {
        match e {
            ziflow_core::Error::NotFound(what) => Self::NotFound(what),
            ziflow_core::Error::InvalidInput(why) => Self::BadRequest(why),
            other => Self::Internal(other.to_string()),
        }
    }
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

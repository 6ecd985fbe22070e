//! The sync API for devices. Every route takes `Authorization: Bearer <device token>` and
//! only ever sees the token's own shop; a revoked token stops working on the next request
//! and, on an open push stream, within [`REVALIDATE`].

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::broadcast::error::RecvError;
use ziflow_core::storage::devices::{self, Device};
use ziflow_core::storage::events;
use ziflow_protocol::sync::{stream as names, DeviceRef, EventsPage, ShopInfo, WireEvent};

use super::{AppState, HttpError};
use crate::streams::{StreamSlot, MAX_STREAMS_PER_DEVICE};

/// How often an open push stream re-checks its token (on a fixed beat: a busy stream's
/// broadcasts never postpone the check).
pub const REVALIDATE: Duration = Duration::from_millis(500);

/// The authenticated device of a request.
pub struct Authed {
    token: String,
    pub(super) device: Device,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(HttpError::Unauthorized)?
            .to_string();
        let device = devices::authenticate(&state.db, &token)
            .await?
            .ok_or(HttpError::Unauthorized)?;
        Ok(Self { token, device })
    }
}

impl Authed {
    /// Whether the device is the shop owner's.
    pub fn is_owner(&self) -> bool {
        self.device.role == "owner"
    }

    /// The shop this device may read and act on.
    pub fn shop_uid(&self) -> &str {
        &self.device.shop_uid
    }
}

/// `GET /api/v1/shop`: the device's shop and role, what a desktop needs to set up its replica.
pub async fn shop(
    State(state): State<AppState>,
    auth: Authed,
) -> Result<Json<ShopInfo>, HttpError> {
    let shop = ziflow_core::storage::shops::get(&state.db, &auth.device.shop_uid).await?;
    Ok(Json(ShopInfo {
        uid: shop.uid,
        name: shop.name,
        currency: shop.currency,
        timezone: shop.timezone,
        created_at: shop.created_at,
        device: DeviceRef {
            id: auth.device.id,
            name: auth.device.name.clone(),
            role: auth.device.role.clone(),
        },
        sandbox: state.sandbox_key.is_some(),
    }))
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    500
}

/// `GET /api/v1/events?after=CURSOR&limit=N`: the device's shop's events after the cursor.
pub async fn events(
    State(state): State<AppState>,
    auth: Authed,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsPage>, HttpError> {
    if q.after < 0 || !(1..=1000).contains(&q.limit) {
        return Err(HttpError::BadRequest(
            "after must be ≥ 0 and limit 1..=1000".into(),
        ));
    }
    let rows = events::after(&state.db, &auth.device.shop_uid, q.after, q.limit).await?;
    let next = rows.last().map_or(q.after, |e| e.id);
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) == q.limit;
    let mut events = Vec::with_capacity(rows.len());
    let rep = !auth.is_owner();
    for e in rows {
        // Stored payloads are valid JSON (a CHECK constraint); they go out as stored — to a
        // rep's device without what only owners see (`ziflow_core::redact`).
        let text = match rep {
            true => ziflow_core::redact::for_rep(&e.kind, &e.payload).unwrap_or(e.payload),
            false => e.payload,
        };
        let payload = RawValue::from_string(text)
            .map_err(|err| HttpError::Internal(format!("event {} payload: {err}", e.id)))?;
        events.push(WireEvent {
            id: e.id,
            kind: e.kind,
            payload,
            provider_id: e.provider_id,
            created_at: e.created_at,
        });
    }
    Ok(Json(EventsPage {
        events,
        next_cursor: next,
        more,
    }))
}

/// `GET /api/v1/stream`: server-sent events. Sends `ready` at once, then `events` with the
/// newest id whenever the shop's log grows; the device pulls `/api/v1/events` after it.
/// Ends when the token is revoked.
pub async fn stream(
    State(state): State<AppState>,
    auth: Authed,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, HttpError> {
    struct S {
        state: AppState,
        auth: Authed,
        rx: tokio::sync::broadcast::Receiver<crate::intake::Committed>,
        stop: tokio::sync::watch::Receiver<bool>,
        _counted: crate::metrics::SyncClientGuard,
        _slot: StreamSlot,
        check: tokio::time::Interval,
        started: bool,
        done: bool,
    }
    let slot = state.streams.take(auth.device.id).ok_or_else(|| {
        HttpError::TooMany(format!(
            "this device already has {MAX_STREAMS_PER_DEVICE} push streams open"
        ))
    })?;
    let mut check = tokio::time::interval(REVALIDATE);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rx = state.intake.subscribe();
    let stop = state.stopping.clone();
    let state_metrics = state.metrics.clone();
    let init = S {
        state,
        auth,
        rx,
        stop,
        _counted: state_metrics.sync_client(),
        _slot: slot,
        check,
        started: false,
        done: false,
    };
    let s = stream::unfold(init, |mut s| async move {
        if s.done {
            return None;
        }
        if !s.started {
            s.started = true;
            let ev = Event::default()
                .event(names::READY)
                .data(s.auth.device.shop_uid.clone());
            return Some((Ok(ev), s));
        }
        loop {
            if *s.stop.borrow() {
                return None;
            }
            tokio::select! {
                // The relay is shutting down: end the stream so the connection can close.
                _ = s.stop.changed() => return None,
                msg = s.rx.recv() => match msg {
                    Ok(c) if c.shop_uid == s.auth.device.shop_uid => {
                        let ev = Event::default().event(names::EVENTS).data(c.id.to_string());
                        return Some((Ok(ev), s));
                    }
                    // Commits may have been missed (another relay's, while the notifications
                    // were down): the device pulls from its cursor.
                    Ok(c) if c.shop_uid == crate::intake::EVERY_SHOP => {
                        return Some((Ok(Event::default().event(names::EVENTS).data(names::LAGGED)), s));
                    }
                    Ok(_) => {}
                    // Fell behind: tell the device to pull; it will catch up from its cursor.
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event(names::EVENTS).data(names::LAGGED)), s));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = s.check.tick() => {
                    let still = devices::authenticate(&s.state.db, &s.auth.token).await;
                    if !matches!(still, Ok(Some(_))) {
                        s.done = true;
                        let ev = Event::default().event(names::REVOKED).data("this device token was revoked");
                        return Some((Ok(ev), s));
                    }
                }
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

//! The desktop's sync client: keeps the local SQLite replica equal to the relay's tables for
//! this shop.
//!
//! It pulls `/api/v1/events` after its cursor (the newest event id it stores) and applies each
//! page in one transaction — the events under their relay ids plus the same projection code
//! the relay runs — so a crash or restart mid-stream resumes without gaps or duplicates. A
//! push stream (`/api/v1/stream`) wakes it when the relay commits; when the relay is
//! unreachable it reports "offline" and retries with exponential backoff (1 s … 30 s).

use std::time::Duration;

use tokio::sync::watch;
use ziflow_core::projection;
use ziflow_core::storage::{events, shops};
use ziflow_core::{Clock, Db, SystemClock};
use ziflow_protocol::answer::Refusal;
use ziflow_protocol::sync::{stream as names, EventsPage, ShopInfo};

/// Events per pull request.
pub const PAGE: i64 = 1000;

/// What the UI shows about sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Not started yet.
    Connecting,
    /// Connected to the relay's push stream and caught up.
    Online,
    /// The relay cannot be reached; retrying.
    Offline {
        /// Why (for the tooltip).
        reason: String,
    },
    /// The relay refused this device's token; a person must pair again.
    Revoked,
}

/// Sync state plus the time of the last successful pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// Current state.
    pub state: SyncState,
    /// Unix seconds of the last successful pull.
    pub last_synced_at: Option<i64>,
}

pub use ziflow_core::projection::Pulled;

/// Why sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The token was refused (401): revoked or wrong.
    #[error("the relay refused this device's token")]
    Unauthorized,
    /// Network or HTTP trouble; try again later.
    #[error("relay unreachable: {0}")]
    Unreachable(String),
    /// The relay answered something this version cannot read.
    #[error("unexpected answer from the relay: {0}")]
    Protocol(String),
    /// The relay refused a command; the text says why.
    #[error("{0}")]
    Refused(String),
    /// The local database failed.
    #[error(transparent)]
    Storage(#[from] ziflow_core::Error),
}

/// A client for one relay, one device token and one local replica.
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
    token: String,
    db: Db,
    status: watch::Sender<SyncStatus>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl SyncClient {
    /// A client for the relay at `base` (e.g. `http://127.0.0.1:8787`).
    pub fn new(base: &str, token: &str, db: Db) -> Result<Self, SyncError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SyncError::Setup(e.to_string()))?;
        let (status, _) = watch::channel(SyncStatus {
            state: SyncState::Connecting,
            last_synced_at: None,
        });
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            db,
            status,
        })
    }

    /// Watches the sync status.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response, SyncError> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        match res.status().as_u16() {
            200 => Ok(res),
            401 => Err(SyncError::Unauthorized),
            code => Err(SyncError::Unreachable(format!("HTTP {code} from {path}"))),
        }
    }

    /// Asks the relay to run `command` once (a fresh idempotency key, reused if the request
    /// is retried) and reads its typed answer (`ziflow_protocol::answer`). A refusal (4xx,
    /// or a provider's refusal relayed as 502) comes back as [`SyncError::Refused`] with the
    /// relay's words.
    pub async fn command<T: serde::de::DeserializeOwned>(
        &self,
        command: &ziflow_protocol::Command,
    ) -> Result<T, SyncError> {
        match self.command_answer(command).await? {
            Ok(answer) => Ok(answer),
            Err(refusal) if refusal.message.is_empty() => {
                Err(SyncError::Refused("the relay refused the change".into()))
            }
            Err(refusal) => Err(SyncError::Refused(refusal.message)),
        }
    }

    /// [`command`](Self::command), with a decided refusal as `Ok(Err(refusal))` (its code
    /// and, for a Stripe key, the checks that ran), so a screen can show its details.
    pub async fn command_answer<T: serde::de::DeserializeOwned>(
        &self,
        command: &ziflow_protocol::Command,
    ) -> Result<Result<T, Refusal>, SyncError> {
        let key =
            ziflow_core::secrets::new_token("cmd").map_err(|e| SyncError::Setup(e.to_string()))?;
        let url = format!("{}/api/v1/commands", self.base);
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
            }
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .header("Idempotency-Key", &key)
                .json(command)
                .send()
                .await;
            let res = match sent {
                Ok(res) => res,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = res.status().as_u16();
            let body = match res.bytes().await {
                Ok(body) => body,
                Err(e) => {
                    // The answer was cut off: the same key gets the stored answer again.
                    last = e.to_string();
                    continue;
                }
            };
            let refusal = || serde_json::from_slice::<Refusal>(&body).unwrap_or_default();
            match status {
                401 => return Err(SyncError::Unauthorized),
                200..=299 => {
                    return serde_json::from_slice(&body)
                        .map(Ok)
                        .map_err(|e| SyncError::Protocol(format!("the relay's answer: {e}")))
                }
                300..=499 => return Ok(Err(refusal())),
                502 if refusal().error == "provider_refused" => return Ok(Err(refusal())),
                _ => last = format!("HTTP {status} from the relay"),
            }
        }
        Err(SyncError::Unreachable(last))
    }

    /// The shop's devices (the owner's Settings → Devices; a rep's device is refused).
    pub async fn devices(&self) -> Result<Vec<ziflow_protocol::DeviceInfo>, SyncError> {
        let res = self
            .http
            .get(format!("{}/api/v1/devices", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        match res.status().as_u16() {
            200 => res
                .json()
                .await
                .map_err(|e| SyncError::Protocol(e.to_string())),
            401 => Err(SyncError::Unauthorized),
            403 => Err(SyncError::Refused(
                "only the owner's devices see the shop's devices".into(),
            )),
            code => Err(SyncError::Unreachable(format!(
                "HTTP {code} from /api/v1/devices"
            ))),
        }
    }

    /// Makes sure the local replica has this device's shop; returns its uid.
    pub async fn ensure_shop(&self) -> Result<String, SyncError> {
        let shop: ShopInfo = self
            .get("/api/v1/shop")
            .await?
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        if shops::get(&self.db, &shop.uid).await.is_err() {
            shops::create(
                &self.db,
                &shop.uid,
                &shop.name,
                &shop.currency,
                &shop.timezone,
                shop.created_at,
            )
            .await?;
        }
        // The replica is this shop's: another relay's rows (a shop synced before pairing or
        // unpairing) would collide with its ids. That shop re-syncs from 0 if it comes back.
        // What this device may do, for the screens (the relay enforces it).
        if !shop.device.role.is_empty() {
            ziflow_core::storage::settings::set(
                &self.db,
                &shop.uid,
                "device.role",
                &shop.device.role,
            )
            .await?;
        }
        ziflow_core::storage::settings::set(
            &self.db,
            &shop.uid,
            "relay.sandbox",
            if shop.sandbox { "1" } else { "0" },
        )
        .await?;
        let gone = shops::delete_others(&self.db, &shop.uid).await?;
        if gone > 0 {
            tracing::info!(shop = %shop.uid, gone, "replica now holds only the synced shop");
        }
        Ok(shop.uid)
    }

    /// Pulls one page after the local cursor and applies it in one transaction.
    /// Returns what it stored and whether the relay has more.
    pub async fn pull_page(&self, shop: &str, limit: i64) -> Result<(Pulled, bool), SyncError> {
        let cursor = events::newest_id(&self.db, shop).await?;
        let page: EventsPage = self
            .get(&format!("/api/v1/events?after={cursor}&limit={limit}"))
            .await?
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let events: Vec<events::Event> = page
            .events
            .into_iter()
            .map(|e| events::Event {
                id: e.id,
                shop_uid: shop.to_string(),
                kind: e.kind,
                payload: e.payload.get().to_string(),
                provider_id: e.provider_id,
                created_at: e.created_at,
            })
            .collect();
        let mut tx = self.db.begin().await?;
        let pulled = projection::apply_pulled(&mut tx, &events).await?;
        tx.commit().await?;
        Ok((pulled, page.more))
    }

    /// Pulls until caught up.
    pub async fn catch_up(&self, shop: &str) -> Result<Pulled, SyncError> {
        let mut total = Pulled::default();
        loop {
            let (pulled, more) = self.pull_page(shop, PAGE).await?;
            total.add(pulled);
            if !more {
                break;
            }
        }
        self.status
            .send_modify(|s| s.last_synced_at = Some(SystemClock.now()));
        Ok(total)
    }

    /// Runs until `stop` turns true: catch up, then follow the push stream; on trouble,
    /// report offline and retry with backoff. `on_pulled` sees every catch-up's result.
    pub async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        on_pulled: impl Fn(Pulled) + Send + Sync + 'static,
    ) {
        let mut backoff = Duration::from_secs(1);
        loop {
            if *stop.borrow() {
                return;
            }
            let outcome = tokio::select! {
                r = self.session(&on_pulled) => r,
                _ = stop.changed() => return,
            };
            match outcome {
                Err(SyncError::Unauthorized) => {
                    self.set_state(SyncState::Revoked);
                    return;
                }
                Err(e) => {
                    self.set_state(SyncState::Offline {
                        reason: e.to_string(),
                    });
                }
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    self.set_state(SyncState::Offline {
                        reason: "the relay closed the connection".into(),
                    });
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {},
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    fn set_state(&self, state: SyncState) {
        self.status.send_modify(|s| s.state = state);
    }

    /// One connection: open the push stream, catch up, then pull on every wake-up.
    async fn session(&self, on_pulled: &(impl Fn(Pulled) + Send + Sync)) -> Result<(), SyncError> {
        use futures_util::StreamExt;
        let shop = self.ensure_shop().await?;
        let res = self.get("/api/v1/stream").await?;
        let mut stream = res.bytes_stream();
        // Subscribed first, then caught up: nothing committed in between is missed.
        on_pulled(self.catch_up(&shop).await?);
        self.set_state(SyncState::Online);
        let mut buf = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SyncError::Unreachable(e.to_string()))?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let event = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event:"))
                    .map(str::trim)
                    .unwrap_or_default();
                match event {
                    names::EVENTS => on_pulled(self.catch_up(&shop).await?),
                    names::REVOKED => return Err(SyncError::Unauthorized),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

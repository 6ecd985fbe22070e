//! The relay's shared state: the database, the intake writer, the engine, the job lanes,
//! the outbound HTTP clients and the provider configuration, behind one cheap handle
//! ([`AppState`]). Services below `http` take it; `http` only hands it to them.

use std::sync::Arc;

use ziflow_core::secrets::MasterKey;
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_core::{Clock, Db};

use crate::intake::Intake;

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
    pub providers: crate::config::ProviderConfig,
    /// The one HTTP client for calls out (WhatsApp, the phrasing model): connections and TLS
    /// set-up are reused across calls.
    pub http: reqwest::Client,
    /// The client for addresses the owner typed (Slack webhook, model endpoint): checked
    /// resolution (no private or metadata addresses), no redirects (see `ziflow_core::net`).
    pub owner_http: reqwest::Client,
    /// Spaces WhatsApp sends per business number.
    pub limiter: Arc<crate::limiter::Limiter>,
    /// The lanes where a job runs now (the runner's and commands' alike).
    pub lanes: Arc<crate::lanes::Lanes>,
    /// Wakes the job runner (a job was enqueued).
    pub jobs_wake: Arc<tokio::sync::Notify>,
    /// What the engine's own work needs (shared with commands catching the engine up).
    pub engine_ctx: crate::engine::Ctx,
    /// Open push streams per device (capped).
    pub streams: Arc<crate::streams::StreamSlots>,
    /// Turns true when shutdown starts; push streams end on it.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// A write transaction that decides on the whole log (see [`crate::engine::LogTx`]).
    pub async fn log(&self) -> ziflow_core::Result<crate::engine::LogTx> {
        crate::engine::LogTx::begin(&self.db, &self.writes, &self.intake, &self.engine_ctx).await
    }

    /// A shop's sealed secret `name`, if set: from the cache of recently opened secrets, else
    /// opened from the database and cached.
    pub async fn secret(
        &self,
        shop: &str,
        name: SecretName,
    ) -> ziflow_core::Result<Option<ziflow_core::secrets::Secret>> {
        if let Some(s) = self.secrets.get(shop, name) {
            return Ok(Some(s));
        }
        let value = shop_secrets::get(&self.db, &self.master_key, shop, name).await?;
        if let Some(v) = &value {
            self.secrets.put(shop, name, v.clone());
        }
        Ok(value)
    }
}

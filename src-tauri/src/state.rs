//! What the commands share: the replica database, the shop this desktop belongs to, the
//! config, the in-app relay and the sync status. Loaded once in Tauri's `setup`; start-up
//! stops with a clear error if any of it fails.

use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::watch;
use ziflow_core::storage::shops::{self, Shop};
use ziflow_core::Db;

use crate::config::{self, FileConfig};
use crate::local::{self, LocalRelay};
use crate::sync::{SyncClient, SyncStatus};

/// Shared state of every command.
#[derive(Debug)]
pub struct AppState {
    /// The app's replica database.
    pub db: Db,
    /// The shop this desktop shows.
    pub shop: Shop,
    /// Parsed `config.toml`.
    pub config: FileConfig,
    /// The relay running inside the app (local mode).
    pub relay: LocalRelay,
    /// How sync is doing.
    pub sync: watch::Receiver<SyncStatus>,
    stop_sync: watch::Sender<bool>,
}

impl AppState {
    /// Finds the data folder, reads the config, starts the in-app relay, opens the replica
    /// and starts syncing it.
    pub async fn load<R: Runtime>(app: &AppHandle<R>) -> anyhow::Result<Self> {
        ziflow_relay::install_crypto_provider();
        let dir = config::data_dir(|| app.path().app_data_dir().ok())?;
        let config = config::load(&dir)?;
        let name = config
            .shop_name
            .as_deref()
            .unwrap_or(config::DEFAULT_SHOP_NAME);
        let relay = local::start(&dir, config.local_relay.listen.as_deref(), name).await?;
        let db = Db::open(dir.join("ziflow.db")).await?;
        let client = SyncClient::new(&relay.base, &relay.token, db.clone())?;
        let uid = client.ensure_shop().await?;
        let shop = shops::get(&db, &uid).await?;
        let sync = client.status();
        let (stop_sync, stop) = watch::channel(false);
        tauri::async_runtime::spawn(client.run(stop, |pulled| {
            crate::notify::show(crate::notify::notes(&pulled.payments));
        }));
        Ok(Self {
            db,
            shop,
            config,
            relay,
            sync,
            stop_sync,
        })
    }

    /// Stops sync and the in-app relay (on exit).
    pub fn shutdown(&self) {
        let _ = self.stop_sync.send(true);
        self.relay.stop();
    }
}

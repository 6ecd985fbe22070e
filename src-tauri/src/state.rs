//! What the commands share: the database, the shop this desktop belongs to, and the config.
//! Loaded once in Tauri's `setup`; start-up stops with a clear error if any of it fails.

use tauri::{AppHandle, Manager, Runtime};
use ziflow_core::storage::shops::{self, Shop};
use ziflow_core::{Clock, Db, SystemClock};

use crate::config::{self, FileConfig};

/// The uid of the shop a local-mode install creates for itself.
pub const LOCAL_SHOP_UID: &str = "local";

/// Shared state of every command.
#[derive(Debug)]
pub struct AppState {
    /// The app's database.
    pub db: Db,
    /// The shop this desktop shows.
    pub shop: Shop,
    /// Parsed `config.toml`.
    pub config: FileConfig,
}

impl AppState {
    /// Finds the data folder, reads the config, opens and migrates the database, and makes
    /// sure the local shop exists.
    pub async fn load<R: Runtime>(app: &AppHandle<R>) -> anyhow::Result<Self> {
        let dir = config::data_dir(|| app.path().app_data_dir().ok())?;
        let config = config::load(&dir)?;
        let db = Db::open(dir.join("ziflow.db")).await?;
        let shop = match shops::first(&db).await? {
            Some(shop) => shop,
            None => {
                let name = config
                    .shop_name
                    .as_deref()
                    .unwrap_or(config::DEFAULT_SHOP_NAME);
                shops::create(
                    &db,
                    LOCAL_SHOP_UID,
                    name,
                    "USD",
                    "America/Chicago",
                    SystemClock.now(),
                )
                .await?
            }
        };
        Ok(Self { db, shop, config })
    }
}

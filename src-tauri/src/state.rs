//! What the commands share: the replica database, the config and the current session — the
//! shop this desktop shows, the relay it syncs with (the in-app relay in local mode, or a
//! paired remote relay) and the sync status. Loaded once in Tauri's `setup`; start-up stops
//! with a clear error if any of it fails. Pairing swaps the session without a restart.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::watch;
use ziflow_core::storage::shops::{self, Shop};
use ziflow_core::Db;

use crate::config::{self, FileConfig};
use crate::live::Live;
use crate::local::{self, LocalRelay};
use crate::notify::OnClick;
use crate::pairing;
use crate::sync::{SyncClient, SyncStatus};

/// The relay a session syncs with.
#[derive(Debug)]
pub enum Relay {
    /// The relay inside this process.
    Local(LocalRelay),
    /// A paired relay elsewhere.
    Remote {
        /// Its base URL.
        url: String,
    },
}

/// One shop, one relay, one sync loop.
#[derive(Debug)]
pub struct Session {
    /// The shop this desktop shows.
    pub shop: Shop,
    /// The relay synced with.
    pub relay: Relay,
    /// How sync is doing.
    pub sync: watch::Receiver<SyncStatus>,
    /// Talks to the relay (commands).
    pub client: SyncClient,
    stop_sync: watch::Sender<bool>,
}

impl Session {
    /// The relay's base URL.
    pub fn relay_url(&self) -> &str {
        match &self.relay {
            Relay::Local(r) => &r.base,
            Relay::Remote { url } => url,
        }
    }

    /// `local` or `paired`.
    pub fn mode(&self) -> &'static str {
        match self.relay {
            Relay::Local(_) => "local",
            Relay::Remote { .. } => "paired",
        }
    }

    fn stop(&self) {
        let _ = self.stop_sync.send(true);
        if let Relay::Local(r) = &self.relay {
            r.stop();
        }
    }
}

/// Shared state of every command.
pub struct AppState {
    /// The app's replica database.
    pub db: Db,
    /// Parsed `config.toml`.
    pub config: FileConfig,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The last notification click: (count of clicks, its order).
    pub focus: Arc<std::sync::Mutex<(u64, Option<i64>)>>,
    on_click: OnClick,
    live: Live,
    session: RwLock<Arc<Session>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("data_dir", &self.data_dir)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Finds the data folder, reads the config, opens the replica and starts a session: with
    /// the paired relay if there is one, else with the in-app relay.
    pub async fn load<R: Runtime>(app: &AppHandle<R>) -> anyhow::Result<Self> {
        ziflow_relay::install_crypto_provider();
        let data_dir = config::data_dir(|| app.path().app_data_dir().ok())?;
        let config = config::load(&data_dir)?;
        let db = Db::open_replica(data_dir.join("ziflow.db")).await?;
        let focus = Arc::new(std::sync::Mutex::new((0, None)));
        let live = Live::new(app.clone());
        let on_click = focus_on_click(app.clone(), focus.clone(), live.clone());
        let session = match pairing::load(&data_dir)? {
            Some((p, token)) => {
                let relay = Relay::Remote { url: p.relay_url };
                start_session(&db, relay, &token, Some(&p.shop_uid), &on_click, &live).await?
            }
            None => start_local(&db, &config, &data_dir, &on_click, &live).await?,
        };
        Ok(Self {
            db,
            config,
            data_dir,
            focus,
            on_click,
            live,
            session: RwLock::new(Arc::new(session)),
        })
    }

    /// The current session.
    pub fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Pairs with the relay at `url` using `token`: checks both with the relay, keeps the
    /// token in the OS keyring, then switches this window to the relay's shop. On any error
    /// nothing changes.
    pub async fn pair(&self, url: &str, token: &str) -> Result<Arc<Session>, pairing::PairError> {
        let url = pairing::normalize_url(url)?;
        let shop = pairing::check(&url, token).await?;
        let stored = pairing::Pairing {
            relay_url: url.clone(),
            shop_uid: shop.uid.clone(),
        };
        let (dir, token_c) = (self.data_dir.clone(), token.to_string());
        tokio::task::spawn_blocking(move || pairing::store(&dir, &stored, &token_c))
            .await
            .map_err(|e| pairing::PairError::Keyring(e.to_string()))??;
        let relay = Relay::Remote { url };
        let session = start_session(
            &self.db,
            relay,
            token,
            Some(&shop.uid),
            &self.on_click,
            &self.live,
        )
        .await
        .map_err(|e| pairing::PairError::File(format!("{e:#}")))?;
        Ok(self.replace(session))
    }

    /// Forgets the paired relay and goes back to the in-app relay.
    pub async fn unpair(&self) -> anyhow::Result<Arc<Session>> {
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || pairing::forget(&dir)).await??;
        let session = start_local(
            &self.db,
            &self.config,
            &self.data_dir,
            &self.on_click,
            &self.live,
        )
        .await?;
        Ok(self.replace(session))
    }

    fn replace(&self, session: Session) -> Arc<Session> {
        let new = Arc::new(session);
        let old = std::mem::replace(
            &mut *self
                .session
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            new.clone(),
        );
        old.stop();
        // Another shop or relay: every screen reads again.
        self.live.status_changed();
        self.live
            .replica_changed(ziflow_protocol::ReplicaChanged::everything());
        new
    }

    /// Stops sync and the in-app relay (on exit).
    pub fn shutdown(&self) {
        self.session().stop();
    }
}

/// A notification click: the window comes forward and the UI opens the order.
fn focus_on_click<R: Runtime>(
    app: AppHandle<R>,
    focus: Arc<std::sync::Mutex<(u64, Option<i64>)>>,
    live: Live,
) -> OnClick {
    Arc::new(move |order| {
        if let Ok(mut f) = focus.lock() {
            *f = (f.0 + 1, order);
        }
        live.status_changed();
        if let Some(window) = app.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
    })
}

async fn start_local(
    db: &Db,
    config: &FileConfig,
    dir: &std::path::Path,
    on_click: &OnClick,
    live: &Live,
) -> anyhow::Result<Session> {
    let name = config
        .shop_name
        .as_deref()
        .unwrap_or(config::DEFAULT_SHOP_NAME);
    let relay = local::start(dir, config.local_relay.listen.as_deref(), name).await?;
    let token = relay.token.clone();
    start_session(db, Relay::Local(relay), &token, None, on_click, live).await
}

/// Starts syncing with `relay`. A remote relay that cannot be reached right now is not an
/// error when the replica already has the shop (`known_shop`): the app opens offline and
/// sync keeps retrying.
async fn start_session(
    db: &Db,
    relay: Relay,
    token: &str,
    known_shop: Option<&str>,
    on_click: &OnClick,
    live: &Live,
) -> anyhow::Result<Session> {
    let url = match &relay {
        Relay::Local(r) => r.base.clone(),
        Relay::Remote { url } => url.clone(),
    };
    let client = SyncClient::new(&url, token, db.clone())?;
    let uid = match (client.ensure_shop().await, known_shop) {
        (Ok(uid), _) => uid,
        (Err(e), Some(uid)) if shops::get(db, uid).await.is_ok() => {
            tracing::warn!("relay {url} not reachable at start ({e}); opening offline");
            uid.to_string()
        }
        (Err(e), _) => return Err(e.into()),
    };
    let shop = shops::get(db, &uid).await?;
    let sync = client.status();
    let (stop_sync, stop) = watch::channel(false);
    let on_click = on_click.clone();
    tauri::async_runtime::spawn(crate::live::follow_status(live.clone(), sync.clone()));
    let live = live.clone();
    tauri::async_runtime::spawn(client.clone().run(stop, move |pulled| {
        live.replica_changed(pulled.changed());
        crate::notify::show(
            crate::notify::notes(&pulled.payments, &pulled.notes),
            on_click.clone(),
        );
    }));
    Ok(Session {
        shop,
        relay,
        sync,
        client,
        stop_sync,
    })
}

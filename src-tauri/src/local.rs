//! Local mode: with no remote relay configured, the app runs the relay inside its own
//! process on 127.0.0.1, so one machine is a complete install. Its files live in
//! `<data>/relay/`: `relay.db`, `master.key` (0600) and `desktop.token` (0600, this desktop's
//! device token for its own relay). The shop of a local install has the uid `local`.

use std::path::Path;

use anyhow::Context;
use tokio::sync::watch;
use ziflow_core::secrets;
use ziflow_core::storage::shop_secrets::{self, SecretName};
use ziflow_core::storage::shops;
use ziflow_relay::config::{self, KeySource};
use ziflow_relay::provision;

/// The uid of a local install's shop.
pub const LOCAL_SHOP_UID: &str = "local";

/// The running in-process relay.
#[derive(Debug)]
pub struct LocalRelay {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// This desktop's device token for it.
    pub token: String,
    stop: watch::Sender<bool>,
}

impl LocalRelay {
    /// Asks the relay to stop (it finishes in-flight requests).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The catalog a new local install starts with, so the invoice composer has something to
/// offer (replace it any time through `catalog.set`).
const DEMO_CATALOG: &str = include_str!("../demo-catalog.json");

/// Records the demo catalog in the new shop's log, as a `catalog.set` command would.
async fn seed_demo_catalog(db: &ziflow_core::Db) -> anyhow::Result<()> {
    use ziflow_core::Clock;
    let catalog: serde_json::Value = serde_json::from_str(DEMO_CATALOG)?;
    let mut tx = db.begin_immediate().await?;
    let outcome = ziflow_core::command::execute(
        &mut tx,
        LOCAL_SHOP_UID,
        &ziflow_protocol::Command::CatalogSet { catalog },
        ziflow_core::SystemClock.now(),
        &ziflow_core::command::Context {
            public_url: "",
            provider: Some("sandbox"),
        },
    )
    .await?;
    if let Some(id) = outcome.event_ids.iter().max() {
        use ziflow_core::storage::engine;
        engine::set_cursor(&mut tx, engine::PROJECTION, *id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Where the local relay reaches Stripe and Telegram, and which extra CA it trusts for SMTP:
/// `ZIFLOW_STRIPE_API_BASE`, `ZIFLOW_TELEGRAM_API_BASE`, `ZIFLOW_SMTP_CA_FILE` (as for
/// `ziflow-relay serve`), else the real services and the usual roots.
fn providers() -> ziflow_relay::config::ProviderConfig {
    // Local mode (one machine, the demo) runs the sandbox: a shop that has not connected
    // Stripe yet can still try the whole flow. Its events can never pay a Stripe invoice.
    let mut p = ziflow_relay::config::ProviderConfig::sandboxed();
    // One machine: a model or mail server on this computer is the owner's own.
    p.allow_loopback_outbound = true;
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(base) = var("ZIFLOW_STRIPE_API_BASE") {
        p.stripe_api_base = base;
    }
    if let Some(base) = var("ZIFLOW_TELEGRAM_API_BASE") {
        p.telegram_api_base = base;
    }
    if let Some(path) = var("ZIFLOW_SMTP_CA_FILE") {
        match std::fs::read(&path) {
            Ok(pem) => p.smtp_ca_pem = Some(pem),
            Err(e) => tracing::warn!("ZIFLOW_SMTP_CA_FILE {path}: {e}; using the usual roots"),
        }
    }
    p
}

/// Starts the relay for `data_dir`, creating its shop and this desktop's device on first start.
pub async fn start(
    data_dir: &Path,
    listen: Option<&str>,
    shop_name: &str,
) -> anyhow::Result<LocalRelay> {
    let dir = data_dir.join("relay");
    let key = config::master_key(
        &KeySource {
            local: true,
            ..KeySource::default()
        },
        &dir,
    )?;
    let db = ziflow_relay::open_db(&dir).await?;
    if shops::get(&db, LOCAL_SHOP_UID).await.is_err() {
        provision::create_shop_with_uid(&db, LOCAL_SHOP_UID, shop_name, "USD", "America/Chicago")
            .await?;
        seed_demo_catalog(&db).await?;
    }
    // The sandbox pay page signs its Stripe-format events with this secret.
    if shop_secrets::get(&db, &key, LOCAL_SHOP_UID, SecretName::StripeWebhook)
        .await?
        .is_none()
    {
        let secret = format!("whsec_{}", secrets::new_token("local")?);
        shop_secrets::set(
            &db,
            &key,
            LOCAL_SHOP_UID,
            SecretName::StripeWebhook,
            &secret,
        )
        .await?;
    }
    // The sandbox customer chat signs its Cloud-API-format webhooks with this one.
    if shop_secrets::get(&db, &key, LOCAL_SHOP_UID, SecretName::WhatsAppApp)
        .await?
        .is_none()
    {
        let secret = secrets::new_token("local_app")?;
        shop_secrets::set(&db, &key, LOCAL_SHOP_UID, SecretName::WhatsAppApp, &secret).await?;
    }
    let token_file = dir.join("desktop.token");
    let token = match std::fs::read_to_string(&token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let device =
                provision::add_device(&db, LOCAL_SHOP_UID, "This computer", "owner", "").await?;
            let _ = std::fs::remove_file(&token_file);
            config::write_private(&token_file, &device.device_token)?;
            device.device_token
        }
    };
    db.close().await;

    let addr = listen.unwrap_or("127.0.0.1:0");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the local relay to {addr}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, mut stopped) = watch::channel(false);
    let config = ziflow_relay::Config {
        data_dir: dir,
        postgres: None,
        master_key: key,
        providers: providers(),
    };
    tauri::async_runtime::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = ziflow_relay::run(config, listener, shutdown).await {
            tracing::error!("the local relay stopped: {e:#}");
        }
    });
    Ok(LocalRelay { base, token, stop })
}

//! Updates: ask the configured endpoint for a newer version, download it, and verify its
//! minisign signature against the trusted public key before saying a word about it.
//!
//! The key and endpoint come from tauri.conf.json (`plugins.updater`), and `config.toml`
//! may override both (`[update] endpoint`, `pubkey`) for self-hosted builds. A download whose
//! signature does not verify is refused with code `update_signature`; nothing is installed
//! by a check.

use std::time::Duration;
use ziflow_protocol::ErrorCode;

use tauri::{AppHandle, Runtime, Url};
use tauri_plugin_updater::UpdaterExt;
use ziflow_protocol::{AvailableUpdate, UpdateCheck};

use crate::config::UpdateConfig;
use crate::error::{Error, Result};

/// The endpoint the app will check, for display: the config override if any.
pub fn endpoint(cfg: &UpdateConfig) -> Option<String> {
    cfg.endpoint.clone()
}

/// Checks for a newer version and verifies its download.
pub async fn check<R: Runtime>(app: &AppHandle<R>, cfg: &UpdateConfig) -> Result<UpdateCheck> {
    let current_version = app.package_info().version.to_string();
    let mut builder = app.updater_builder().timeout(Duration::from_secs(60));
    if let Some(endpoint) = &cfg.endpoint {
        let url = Url::parse(endpoint).map_err(|e| {
            Error::new(
                ErrorCode::UpdateConfig,
                format!("the update endpoint {endpoint:?} is not a URL: {e}"),
            )
        })?;
        builder = builder.endpoints(vec![url]).map_err(map_err)?;
    }
    if let Some(path) = &cfg.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorCode::UpdateConfig,
                format!(
                    "cannot read the update CA certificate {}: {e}",
                    path.display()
                ),
            )
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            Error::new(
                ErrorCode::UpdateConfig,
                format!("{} is not a PEM certificate: {e}", path.display()),
            )
        })?;
        builder = builder.configure_client(move |client| client.add_root_certificate(cert.clone()));
    }
    if let Some(pubkey) = &cfg.pubkey {
        builder = builder.pubkey(pubkey.clone());
    }
    let updater = builder.build().map_err(map_err)?;
    let Some(update) = updater.check().await.map_err(map_err)? else {
        return Ok(UpdateCheck {
            current_version,
            available: None,
        });
    };
    let bytes = update
        .download(|_, _| {}, || {})
        .await
        .map_err(|e| match e {
            tauri_plugin_updater::Error::Minisign(_)
            | tauri_plugin_updater::Error::Base64(_)
            | tauri_plugin_updater::Error::SignatureUtf8(_) => Error::new(
                ErrorCode::UpdateSignature,
                format!(
                "ZiFlow {} was offered, but its signature does not match ZiFlow's release key, \
                 so it was refused and nothing was installed ({e}).",
                update.version
            ),
            ),
            other => map_err(other),
        })?;
    Ok(UpdateCheck {
        current_version,
        available: Some(AvailableUpdate {
            version: update.version.clone(),
            notes: update.body.clone(),
            size_bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        }),
    })
}

fn map_err(e: tauri_plugin_updater::Error) -> Error {
    use tauri_plugin_updater::Error as E;
    match e {
        E::EmptyEndpoints => Error::new(
            ErrorCode::UpdateNotConfigured,
            "No update server is configured. Set [update] endpoint in config.toml.",
        ),
        E::Reqwest(_) | E::Network(_) => Error::new(
            ErrorCode::UpdateUnreachable,
            format!("The update server could not be reached: {e}"),
        ),
        other => Error::new(
            ErrorCode::Update,
            format!("Checking for updates failed: {other}"),
        ),
    }
}

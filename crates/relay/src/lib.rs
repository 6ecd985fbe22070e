//! The relay: the always-on half of ZiFlow. It receives provider webhooks on the shop's
//! behalf, runs the engine, and serves the sync API that desktops pull from.
//!
//! # Layout
//! - [`run`]: opens the database, serves HTTP on the given listener until `shutdown`
//!   resolves, then lets in-flight requests finish and closes the database.
//! - [`http`]: the router and the one HTTP error type.

pub mod http;

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use tokio::net::TcpListener;
use ziflow_core::Db;

/// What the relay needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder for `relay.db`.
    pub data_dir: PathBuf,
}

/// Serves the relay on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    install_crypto_provider();
    let db_path = config.data_dir.join("relay.db");
    let db = Db::open(&db_path)
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    tracing::info!(%addr, db = %db_path.display(), "ziflow-relay listening");
    let app = http::router(http::AppState { db: db.clone() });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    db.close().await;
    tracing::info!("ziflow-relay stopped");
    Ok(())
}

/// Makes ring the process's TLS provider (for reqwest and rustls), unless one is already
/// installed. Call once before any HTTPS client is built; calling again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

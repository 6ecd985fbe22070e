//! The relay: the always-on half of ZiFlow. It receives provider webhooks on the shops'
//! behalf, stores them durably, and serves the sync API that desktops pull from.
//!
//! # Layout
//! Layers, top to bottom; a module imports only from its own layer or below, and nothing
//! below `http` imports `http`.
//!
//! - **Doors.** [`http`]: the router, one handler per route (parse, authorise, call a
//!   service, map its error), per-source limits. `main.rs`: the command line.
//! - **Services.**
//!   - [`ingest`]: every provider delivery — webhook or sandbox — verified over its raw bytes
//!     and appended through [`intake`], the group-commit writer (2xx only after the commit).
//!   - [`engine`]: applies the log's effects after commits, from a cursor; [`engine::LogTx`]
//!     is the one write transaction for commands and jobs.
//!   - [`jobs`]: the durable job runner, dispatching on `ziflow_core::task::Task`; each kind's
//!     code is in its domain: [`pay`] (pay links, expiry, refunds), [`channel`] (WhatsApp
//!     sends), [`phrase`] and [`reader`] (the shop's optional model), [`notify`] (owner
//!     notifications, the rules' jobs), [`reminders`] (payment reminders). [`attempts`]
//!     records a failed attempt; [`lanes`] keeps one job per shop and lane running.
//!   - [`commands`]: a device's command, run once per idempotency key (billing and channel
//!     commands, the owner's device and event commands, then `ziflow_core::command` and the
//!     jobs it enqueued).
//!   - [`sandbox`]: the sandbox pay page's buttons and the sandbox chat's messages, made
//!     into the deliveries a real provider would send and handed to [`ingest`].
//!   - [`provision`]: shops, secrets and devices, for the command line; [`replay`]: `agent
//!     replay`.
//! - **State and parts.** [`state`]: what every service shares ([`state::AppState`]).
//!   [`config`]: the master key and the providers' configuration. [`error`]: the one error
//!   type. [`health`], [`metrics`]: how background work is doing and the operator's
//!   counters. [`secret_cache`], [`limiter`] (WhatsApp sends per number), [`streams`] (push
//!   streams per device), [`server`] (serving with connection limits and shutdown).
//!   `cluster` (with the `postgres` feature): relays on one PostgreSQL database wake each
//!   other's push streams and engines.
//! - [`run`]: opens the database, starts the intake, engine, job runner and pruning, serves
//!   HTTP until `shutdown` resolves, then ends push streams, lets in-flight requests finish
//!   and closes the database.

pub mod attempts;
pub mod channel;
#[cfg(feature = "postgres")]
pub mod cluster;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod health;
pub mod http;
pub mod ingest;
pub mod intake;
pub mod jobs;
pub mod lanes;
pub mod limiter;
pub mod metrics;
pub mod notify;
pub mod pay;
pub mod phrase;
pub mod provision;
pub mod reader;
pub mod reminders;
pub mod replay;
pub mod sandbox;
pub mod secret_cache;
pub mod server;
pub mod state;
pub mod streams;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use ziflow_core::secrets::MasterKey;
use ziflow_core::{Clock, Db, SystemClock};

/// What the relay needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder for `relay.db` (and `master.key` in local mode).
    pub data_dir: PathBuf,
    /// A PostgreSQL database to serve from instead of `relay.db` (`--database-url`).
    pub postgres: Option<Postgres>,
    /// Seals and opens the shops' provider secrets.
    pub master_key: MasterKey,
    /// Where the payment providers are.
    pub providers: config::ProviderConfig,
}

/// The relay's database file inside `data_dir`.
pub fn db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("relay.db")
}

/// Opens the relay database (every commit fsynced).
pub async fn open_db(data_dir: &std::path::Path) -> anyhow::Result<Db> {
    let path = db_path(data_dir);
    Db::open_durable(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// A PostgreSQL database several relays share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postgres {
    /// `postgres://user[:password]@host[:port]/database`.
    pub url: String,
    /// Connections this relay keeps open ([`Postgres::DEFAULT_POOL`] unless told).
    pub pool: u32,
}

impl Postgres {
    /// Connections a relay keeps to PostgreSQL unless told otherwise (`--database-pool`).
    pub const DEFAULT_POOL: u32 = 16;
}

/// Opens the relay's database: the PostgreSQL database if there is one (migrated to this
/// version's schema; any number of relays may do this at once), else `relay.db` in
/// `data_dir`.
pub async fn open_store(
    data_dir: &std::path::Path,
    postgres: Option<&Postgres>,
) -> anyhow::Result<Db> {
    match postgres {
        None => open_db(data_dir).await,
        Some(pg) => open_postgres(&pg.url, pg.pool).await,
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, pool: u32) -> anyhow::Result<Db> {
    Db::open_postgres(url, pool)
        .await
        .with_context(|| format!("opening the PostgreSQL database {}", without_password(url)))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str, _pool: u32) -> anyhow::Result<Db> {
    anyhow::bail!(
        "this ziflow-relay was built without PostgreSQL support (the `postgres` feature); \
         build it with default features, or leave out --database-url to use relay.db"
    )
}

/// A database URL fit for a log line: the password, if any, replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
    let hidden = if user_info.contains(':') { ":***" } else { "" };
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{user}{hidden}@{host}{slash}{path}")
}

/// Serves the relay on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// [`run`] with an injected clock (tests move time).
pub async fn run_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    install_crypto_provider();
    let db = open_store(&config.data_dir, config.postgres.as_ref()).await?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    match &config.postgres {
        Some(pg) => {
            let database = without_password(&pg.url);
            tracing::info!(%addr, %database, "ziflow-relay listening")
        }
        None => {
            tracing::info!(%addr, data_dir = %config.data_dir.display(), "ziflow-relay listening")
        }
    }
    let (stop_tx, stopping) = tokio::sync::watch::channel(false);
    let writes = intake::Writes::default();
    let intake = intake::Intake::start(db.clone(), writes.clone(), clock.clone());
    // Relays sharing a PostgreSQL database wake each other's streams and engines.
    #[cfg(feature = "postgres")]
    cluster::start(&db, &intake, stopping.clone())
        .await
        .context("listening for the other relays' events")?;
    // The engine's own handle: its commits need not reach the disk at once (see `engine`).
    // On PostgreSQL it shares the pool, its transactions committing without waiting for the
    // flush.
    let engine_db = match db.backend() {
        ziflow_core::storage::Backend::Sqlite => Db::open(db_path(&config.data_dir))
            .await
            .context("opening the engine's database handle")?,
        ziflow_core::storage::Backend::Postgres => db.without_waiting_for_flush(),
    };
    let jobs_wake: Arc<tokio::sync::Notify> = Arc::default();
    let engine_ctx = engine::Ctx {
        public_url: config
            .providers
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        sandbox: config.providers.sandbox,
        jobs_wake: jobs_wake.clone(),
        health: Arc::default(),
        clock: clock.clone(),
    };
    let engine = engine::Engine::start(
        engine_db.clone(),
        writes.clone(),
        intake.clone(),
        engine_ctx.clone(),
        stopping.clone(),
    );
    let state = state::AppState::new(state::Shared {
        db: db.clone(),
        intake,
        engine,
        master_key: config.master_key,
        clock,
        writes,
        metrics: Arc::default(),
        secrets: Arc::default(),
        sandbox_key: if config.providers.sandbox {
            tracing::warn!("the sandbox is on: /sandbox pages and sandbox pay links are served; no real money moves through them");
            Some(ziflow_core::secrets::Secret::new(
                ziflow_core::secrets::new_token("whsec_sandbox")
                    .context("making the sandbox's signing key")?,
            ))
        } else {
            None
        },
        sandbox_pending: Arc::default(),
        streams: Arc::default(),
        lanes: Arc::default(),
        limiter: Arc::default(),
        http: reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the HTTP client for outbound calls")?,
        owner_http: ziflow_core::net::owner_client(
            config.providers.outbound(),
            std::time::Duration::from_secs(10),
        )
        .context("building the HTTP client for owner-typed addresses")?,
        providers: config.providers,
        jobs_wake,
        engine_ctx,
        stopping: stopping.clone(),
    });
    jobs::start_runner(state.clone());
    start_pruning(state.clone());
    let app = http::router(state);
    let stopped = stopping.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    server::serve(listener, app, server::Limits::default(), stopped).await;
    engine_db.close().await;
    db.close().await;
    tracing::info!("ziflow-relay stopped");
    Ok(())
}

/// How often the retention prune runs (and once at start).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Prunes what is past the retention period now and then every [`PRUNE_EVERY`], until
/// shutdown. The event log is kept whole.
fn start_pruning(state: state::AppState) {
    if state.providers.retention_days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut stopping = state.stopping.clone();
        loop {
            let next = match prune(&state).await {
                Ok(p) => {
                    if p != Default::default() {
                        tracing::info!(?p, "pruned");
                    }
                    PRUNE_EVERY
                }
                Err(e) => {
                    tracing::warn!("pruning failed, tried again in a minute: {e}");
                    std::time::Duration::from_secs(60)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(next) => {}
                () = server::stopped(&mut stopping) => break,
            }
        }
    });
}

/// One retention prune.
pub async fn prune(
    state: &state::AppState,
) -> ziflow_core::Result<ziflow_core::storage::retention::Pruned> {
    let before = state.clock.now() - i64::from(state.providers.retention_days) * 86_400;
    let _one_writer = state.writes.lock().await;
    let mut tx = state.db.begin_immediate().await?;
    let pruned = ziflow_core::storage::retention::prune_in(&mut tx, before).await?;
    tx.commit().await?;
    Ok(pruned)
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

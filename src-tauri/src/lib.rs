//! The ZiFlow desktop app: a Tauri window around the Leptos UI, with the app's own SQLite
//! database and the updater.
//!
//! # Layout
//! - [`config`]: where data lives and what the optional `config.toml` may set.
//! - [`state`]: the database and the shop, loaded once at start-up.
//! - [`commands`]: the typed commands the UI invokes (thin doors into `ziflow-core`).
//! - [`error`]: the one `{code, message}` error every command returns.
//! - [`update`]: checking for, downloading and verifying a newer version.

pub mod commands;
pub mod config;
pub mod error;
pub mod state;
pub mod update;

use std::process::ExitCode;

use tauri::Manager;

/// Opens the window and runs until it is closed.
pub fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    if let Err(why) = config::check_display() {
        eprintln!("ziflow-app: {why}");
        return ExitCode::from(2);
    }

    let result = tauri::Builder::default()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .setup(|app| {
            let state = tauri::async_runtime::block_on(state::AppState::load(app.handle()))?;
            tracing::info!(db = %state.db.path().display(), shop = %state.shop.name, "ZiFlow ready");
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_conversations,
            commands::list_invoices,
            commands::list_ship_board,
            commands::list_payments,
            commands::metrics_summary,
            commands::get_settings,
            commands::check_for_update,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ziflow-app: {e}");
            ExitCode::FAILURE
        }
    }
}

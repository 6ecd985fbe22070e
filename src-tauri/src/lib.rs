//! The ZiFlow desktop app: a Tauri window around the Leptos UI, with the app's own SQLite
//! database and the updater.
//!
//! # Layout
//! - [`config`]: where data lives and what the optional `config.toml` may set.
//! - [`state`]: the database and the shop, loaded once at start-up.
//! - [`commands`]: the typed commands the UI invokes, one module per screen area (thin doors
//!   into `ziflow-core` and the relay).
//! - [`error`]: the one `{code, message}` error every command returns, and the one
//!   conversion of a failed relay call.
//! - [`pairing`]: pairing with a remote relay (device token in the OS keyring).
//! - [`local`]: local mode, the relay inside the app.
//! - [`live`]: telling the window what changed (push, not poll).
//! - [`notify`]: OS notifications for new payments.
//! - [`sync`]: the replica of the relay's tables, kept current by pull and push.
//! - [`update`]: checking for, downloading and verifying a newer version.

pub mod commands;
pub mod config;
pub mod error;
pub mod live;
pub mod local;
pub mod notify;
pub mod pairing;
pub mod state;
pub mod sync;
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
            tracing::info!(db = %state.db.path().map(|p| p.display().to_string()).unwrap_or_default(), shop = %state.session().shop.name, "ZiFlow ready");
            let session = state.session();
            app.manage(state);
            if std::env::var("ZIFLOW_CUSTOMER_WINDOW").is_ok_and(|v| v == "1")
                && session.mode() == "local"
            {
                // The demo: the customer's side of the chat, beside the rep's window.
                let url = format!("{}/sandbox/chat/{}", session.relay_url(), session.shop.uid);
                tauri::WebviewWindowBuilder::new(
                    app,
                    "customer",
                    tauri::WebviewUrl::External(url.parse()?),
                )
                .title("Customer phone (sandbox)")
                .inner_size(420.0, 760.0)
                .build()?;
            }
            Ok(())
        })
        .invoke_handler(invoke_handler())
        .build(tauri::generate_context!("../tauri.conf.json"))
        .map(|app| {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    if let Some(state) = handle.try_state::<state::AppState>() {
                        state.shutdown();
                    }
                }
            });
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ziflow-app: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every command the window may call (the same list the capability grants, see
/// `capabilities/main.json`), for any runtime: the app's, and the mock one its IPC test uses.
pub fn invoke_handler<R: tauri::Runtime>(
) -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::settings::app_info,
        commands::inbox::list_conversations,
        commands::invoices::list_invoices,
        commands::board::list_ship_board,
        commands::invoices::list_payments,
        commands::metrics::metrics_summary,
        commands::settings::get_settings,
        commands::settings::check_for_update,
        commands::settings::sync_status,
        commands::settings::pair_relay,
        commands::settings::unpair_relay,
        commands::invoices::get_invoice_template,
        commands::invoices::preview_invoice_template,
        commands::invoices::save_invoice_template,
        commands::invoices::composer_data,
        commands::invoices::preview_invoice,
        commands::invoices::send_invoice,
        commands::invoices::refund_invoice,
        commands::settings::billing_status,
        commands::settings::connect_stripe,
        commands::settings::save_webhook_secret,
        commands::settings::disconnect_stripe,
        commands::settings::list_devices,
        commands::settings::permit_device,
        commands::settings::revoke_device,
        commands::bottests::bot_tests,
        commands::bottests::save_bot_test,
        commands::bottests::delete_bot_test,
        commands::bottests::preview_catalog,
        commands::bottests::preview_scenario,
        commands::settings::list_set_aside,
        commands::settings::retry_event,
        commands::inbox::conversation_thread,
        commands::inbox::send_message,
        commands::inbox::set_bot,
        commands::inbox::search_conversations,
        commands::settings::whatsapp_status,
        commands::settings::connect_whatsapp,
        commands::settings::disconnect_whatsapp,
        commands::agent::get_scenario,
        commands::agent::save_scenario,
        commands::agent::agent_replies,
        commands::agent::save_reply,
        commands::agent::import_catalog,
        commands::agent::export_catalog,
        commands::agent::get_llm,
        commands::agent::save_llm,
        commands::board::move_order,
        commands::crm::lead_view,
        commands::crm::list_leads,
        commands::crm::update_lead,
        commands::crm::get_automations,
        commands::crm::save_automations,
        commands::crm::save_pipeline,
        commands::crm::get_notifications,
        commands::crm::save_notify_channel,
        commands::crm::test_notify,
        commands::crm::save_notify_template,
        commands::metrics::export_metrics,
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn repo_file(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Command names the UI invokes: every `call("name"` in ui/src/api.rs.
    fn ui_commands() -> BTreeSet<String> {
        repo_file("ui/src/api.rs")
            .split("call(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_window_is_granted_exactly_the_commands_the_ui_calls() {
        let caps: serde_json::Value =
            serde_json::from_str(&repo_file("src-tauri/capabilities/main.json")).unwrap();
        let all: Vec<&str> = caps["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().expect("a permission is a string"))
            .collect();
        // Beside the commands, only listening for the backend's events (ui/src/live.rs):
        // no emitting, no other core plugin.
        let core: Vec<&str> = all
            .iter()
            .copied()
            .filter(|p| p.starts_with("core:"))
            .collect();
        assert_eq!(
            core,
            ["core:event:allow-listen"],
            "the window listens, nothing more"
        );
        assert!(
            repo_file("ui/src/live.rs").contains("\"__TAURI__\", \"event\"], js_name = listen"),
            "the UI listens through window.__TAURI__.event.listen"
        );
        let granted: BTreeSet<String> = all
            .iter()
            .filter(|p| !p.starts_with("core:"))
            .map(|p| {
                p.strip_prefix("allow-")
                    .unwrap_or_else(|| panic!("only allow-<command> permissions: {p}"))
                    .replace('-', "_")
            })
            .collect();
        let used = ui_commands();
        assert!(used.len() >= 8, "api.rs was parsed: {used:?}");
        assert_eq!(
            granted, used,
            "capabilities must grant the UI's commands and nothing more"
        );
    }

    #[test]
    fn the_csp_forbids_remote_and_inline_scripts() {
        let conf: serde_json::Value = serde_json::from_str(&repo_file("tauri.conf.json")).unwrap();
        let csp = &conf["app"]["security"]["csp"];
        let scripts = csp["script-src"].as_str().unwrap();
        assert!(
            !scripts.contains("http"),
            "no remote script origins: {scripts}"
        );
        assert!(
            !scripts.contains("unsafe-inline"),
            "no inline scripts: {scripts}"
        );
        assert_eq!(csp["default-src"], "'self'");
        assert_eq!(csp["object-src"], "'none'");
    }

    #[test]
    fn the_updater_trusts_a_well_formed_minisign_key() {
        use base64::Engine;
        let conf: serde_json::Value = serde_json::from_str(&repo_file("tauri.conf.json")).unwrap();
        let b64 = conf["plugins"]["updater"]["pubkey"].as_str().unwrap();
        let text = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("pubkey is base64"),
        )
        .unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("untrusted comment:"));
        let key = base64::engine::general_purpose::STANDARD
            .decode(lines.next().unwrap())
            .unwrap();
        assert_eq!(
            key.len(),
            42,
            "Ed25519 minisign key: 2 alg + 8 id + 32 key bytes"
        );
        assert_eq!(&key[..2], b"Ed");
    }
}

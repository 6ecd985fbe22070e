//! The ZiFlow desktop app: a Tauri window around the Leptos UI, with the app's own SQLite
//! database and the updater.
//!
//! # Layout
//! - [`config`]: where data lives and what the optional `config.toml` may set.
//! - [`state`]: the database and the shop, loaded once at start-up.
//! - [`commands`]: the typed commands the UI invokes (thin doors into `ziflow-core`).
//! - [`error`]: the one `{code, message}` error every command returns.
//! - [`local`]: local mode, the relay inside the app.
//! - [`notify`]: OS notifications for new payments.
//! - [`sync`]: the replica of the relay's tables, kept current by pull and push.
//! - [`update`]: checking for, downloading and verifying a newer version.

pub mod agent_commands;
pub mod bottest_commands;
pub mod commands;
pub mod config;
pub mod crm_commands;
pub mod error;
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
            tracing::info!(db = %state.db.path().display(), shop = %state.session().shop.name, "ZiFlow ready");
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
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_conversations,
            commands::list_invoices,
            commands::list_ship_board,
            commands::list_payments,
            commands::metrics_summary,
            commands::get_settings,
            commands::check_for_update,
            commands::sync_status,
            commands::pair_relay,
            commands::unpair_relay,
            commands::get_invoice_template,
            commands::preview_invoice_template,
            commands::save_invoice_template,
            commands::composer_data,
            commands::preview_invoice,
            commands::send_invoice,
            commands::refund_invoice,
            commands::billing_status,
            commands::connect_stripe,
            commands::save_webhook_secret,
            commands::disconnect_stripe,
            commands::list_devices,
            commands::permit_device,
            commands::revoke_device,
            bottest_commands::bot_tests,
            bottest_commands::save_bot_test,
            bottest_commands::delete_bot_test,
            bottest_commands::preview_catalog,
            bottest_commands::preview_scenario,
            commands::list_set_aside,
            commands::retry_event,
            commands::conversation_thread,
            commands::send_message,
            commands::set_bot,
            agent_commands::search_conversations,
            agent_commands::whatsapp_status,
            agent_commands::connect_whatsapp,
            agent_commands::disconnect_whatsapp,
            agent_commands::get_scenario,
            agent_commands::save_scenario,
            agent_commands::agent_replies,
            agent_commands::save_reply,
            agent_commands::import_catalog,
            agent_commands::export_catalog,
            agent_commands::get_llm,
            agent_commands::save_llm,
            agent_commands::move_order,
            agent_commands::lead_view,
            crm_commands::list_leads,
            crm_commands::update_lead,
            crm_commands::get_automations,
            crm_commands::save_automations,
            crm_commands::save_pipeline,
            crm_commands::get_notifications,
            crm_commands::save_notify_channel,
            crm_commands::test_notify,
            crm_commands::save_notify_template,
            agent_commands::export_metrics,
        ])
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
        let granted: BTreeSet<String> = caps["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p.as_str()
                    .and_then(|p| p.strip_prefix("allow-"))
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

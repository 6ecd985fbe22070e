//! Embeds tauri.conf.json (kept at the repository root) and generates the permissions for
//! exactly the commands the UI calls.

fn main() {
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(ziflow_commands()));
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri build step failed: {e:#}");
    }
}

/// Keep in sync with `tauri::generate_handler!` in src/lib.rs and capabilities/main.json.
fn ziflow_commands() -> &'static [&'static str] {
    &[
        "app_info",
        "list_conversations",
        "list_invoices",
        "list_ship_board",
        "list_payments",
        "metrics_summary",
        "get_settings",
        "check_for_update",
        "sync_status",
        "pair_relay",
        "unpair_relay",
        "get_invoice_template",
        "preview_invoice_template",
        "save_invoice_template",
        "composer_data",
        "preview_invoice",
        "send_invoice",
        "refund_invoice",
        "billing_status",
        "connect_stripe",
        "save_webhook_secret",
        "disconnect_stripe",
        "list_devices",
        "permit_device",
        "revoke_device",
        "bot_tests",
        "save_bot_test",
        "delete_bot_test",
        "preview_catalog",
        "preview_scenario",
        "list_set_aside",
        "retry_event",
        "conversation_thread",
        "send_message",
        "set_bot",
        "search_conversations",
        "whatsapp_status",
        "connect_whatsapp",
        "disconnect_whatsapp",
        "get_scenario",
        "save_scenario",
        "agent_replies",
        "save_reply",
        "import_catalog",
        "export_catalog",
        "get_llm",
        "save_llm",
        "move_order",
        "lead_view",
        "export_metrics",
        "list_leads",
        "update_lead",
        "get_automations",
        "save_automations",
        "save_pipeline",
        "get_notifications",
        "save_notify_channel",
        "test_notify",
        "save_notify_template",
    ]
}

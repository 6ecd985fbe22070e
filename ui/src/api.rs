//! The only place that calls Tauri's `invoke`. Each command has one typed async function
//! returning `Result<T, ApiError>`; the error is the backend's `{code, message}`, or code
//! `ipc` when the call itself could not be made (e.g. the page opened outside the app).

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use ziflow_protocol::automation::{AutomationsView, LeadRow, NotificationsView, Rule};
use ziflow_protocol::Command;
use ziflow_protocol::ErrorCode;
use ziflow_protocol::{
    AppInfo, BillingView, CommandError, ComposerData, ConnectResult, ConversationSummary,
    DeviceInfo, DraftPreview, InvoiceDraft, InvoiceSent, InvoiceSummary, LeadView, LlmView,
    MetricsSummary, PaymentEntry, ReplyView, Scenario, SearchHit, SetAsideEvent, SettingsView,
    ShipCard, SyncStatusView, TemplateView, ThreadMessage, UpdateCheck, WhatsappView,
};

/// The error every API function returns.
pub type ApiError = CommandError;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

#[derive(Serialize)]
struct NoArgs {}

async fn call<T: DeserializeOwned>(cmd: &str, args: &impl Serialize) -> Result<T, ApiError> {
    let args = args
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| ApiError::new(ErrorCode::Ipc, format!("could not encode the request: {e}")))?;
    match tauri_invoke(cmd, args).await {
        Ok(value) => serde_wasm_bindgen::from_value(value).map_err(|e| {
            ApiError::new(ErrorCode::Ipc, format!("unexpected answer from {cmd}: {e}"))
        }),
        Err(err) => Err(
            serde_wasm_bindgen::from_value::<ApiError>(err.clone()).unwrap_or_else(|_| {
                let text = err
                    .as_string()
                    .or_else(|| {
                        js_sys::JSON::stringify(&err)
                            .ok()
                            .and_then(|s| s.as_string())
                    })
                    .unwrap_or_else(|| "unknown error".into());
                ApiError::new(
                    ErrorCode::Ipc,
                    format!("the ZiFlow backend did not answer: {text}"),
                )
            }),
        ),
    }
}

/// Version, shop and database of this install.
pub async fn app_info() -> Result<AppInfo, ApiError> {
    call("app_info", &NoArgs {}).await
}

/// Conversations for the inbox.
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, ApiError> {
    call("list_conversations", &NoArgs {}).await
}

/// Invoices, newest first.
pub async fn list_invoices() -> Result<Vec<InvoiceSummary>, ApiError> {
    call("list_invoices", &NoArgs {}).await
}

/// Cards of the Ready-to-ship board.
pub async fn list_ship_board() -> Result<Vec<ShipCard>, ApiError> {
    call("list_ship_board", &NoArgs {}).await
}

/// The payment feed.
pub async fn list_payments() -> Result<Vec<PaymentEntry>, ApiError> {
    call("list_payments", &NoArgs {}).await
}

#[derive(Serialize)]
struct PeriodArgs<'a> {
    from: &'a str,
    to: &'a str,
    weekly: bool,
}

/// The owner's figures for a period (empty dates: the last 30 days).
pub async fn metrics_summary(
    from: &str,
    to: &str,
    weekly: bool,
) -> Result<MetricsSummary, ApiError> {
    call("metrics_summary", &PeriodArgs { from, to, weekly }).await
}

/// Writes the period's figures as CSV to Downloads; returns the path.
pub async fn export_metrics(from: &str, to: &str, weekly: bool) -> Result<String, ApiError> {
    call("export_metrics", &PeriodArgs { from, to, weekly }).await
}

/// Settings for the Settings screen.
pub async fn get_settings() -> Result<SettingsView, ApiError> {
    call("get_settings", &NoArgs {}).await
}

/// Checks for a newer, verified version.
pub async fn check_for_update() -> Result<UpdateCheck, ApiError> {
    call("check_for_update", &NoArgs {}).await
}

/// How sync with the relay is doing.
pub async fn sync_status() -> Result<SyncStatusView, ApiError> {
    call("sync_status", &NoArgs {}).await
}

#[derive(Serialize)]
struct PairArgs<'a> {
    url: &'a str,
    token: &'a str,
}

/// Pairs this desktop with a relay; the app switches to that relay's shop.
pub async fn pair_relay(url: &str, token: &str) -> Result<SyncStatusView, ApiError> {
    call("pair_relay", &PairArgs { url, token }).await
}

/// Forgets the paired relay (back to local mode).
pub async fn unpair_relay() -> Result<SyncStatusView, ApiError> {
    call("unpair_relay", &NoArgs {}).await
}

#[derive(Serialize)]
struct TextArgs<'a> {
    text: &'a str,
}

/// The shop's invoice message template.
pub async fn get_invoice_template() -> Result<TemplateView, ApiError> {
    call("get_invoice_template", &NoArgs {}).await
}

/// Checks a template being edited: its preview, or why it cannot be used.
pub async fn preview_invoice_template(text: &str) -> Result<TemplateView, ApiError> {
    call("preview_invoice_template", &TextArgs { text }).await
}

/// Saves the invoice message template (refused if invalid).
pub async fn save_invoice_template(text: &str) -> Result<TemplateView, ApiError> {
    call("save_invoice_template", &TextArgs { text }).await
}

/// Customers, catalog and shipping zones for the invoice composer.
pub async fn composer_data() -> Result<ComposerData, ApiError> {
    call("composer_data", &NoArgs {}).await
}

#[derive(Serialize)]
struct DraftArgs<'a> {
    draft: &'a InvoiceDraft,
}

/// A draft's total and message as the customer will read it.
pub async fn preview_invoice(draft: &InvoiceDraft) -> Result<DraftPreview, ApiError> {
    call("preview_invoice", &DraftArgs { draft }).await
}

/// Creates and sends the invoice.
pub async fn send_invoice(draft: &InvoiceDraft) -> Result<InvoiceSent, ApiError> {
    call("send_invoice", &DraftArgs { draft }).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundArgs {
    invoice_id: i64,
    amount_minor: Option<i64>,
}

/// Refunds a paid invoice (the whole remainder when `amount_minor` is `None`).
pub async fn refund_invoice(
    invoice_id: i64,
    amount_minor: Option<i64>,
) -> Result<String, ApiError> {
    let args = RefundArgs {
        invoice_id,
        amount_minor,
    };
    call("refund_invoice", &args).await
}

/// The Billing screen.
pub async fn billing_status() -> Result<BillingView, ApiError> {
    call("billing_status", &NoArgs {}).await
}

#[derive(Serialize)]
struct KeyArgs<'a> {
    key: &'a str,
}

/// Connects Stripe with a pasted key (checked with Stripe first).
pub async fn connect_stripe(key: &str) -> Result<ConnectResult, ApiError> {
    call("connect_stripe", &KeyArgs { key }).await
}

#[derive(Serialize)]
struct SecretArgs<'a> {
    secret: &'a str,
}

/// Stores Stripe's webhook signing secret.
pub async fn save_webhook_secret(secret: &str) -> Result<String, ApiError> {
    call("save_webhook_secret", &SecretArgs { secret }).await
}

/// Back to the sandbox provider.
pub async fn disconnect_stripe() -> Result<String, ApiError> {
    call("disconnect_stripe", &NoArgs {}).await
}

/// Settings → Devices (owner).
pub async fn list_devices() -> Result<Vec<DeviceInfo>, ApiError> {
    call("list_devices", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PermitArgs {
    device_id: i64,
    can: Vec<String>,
}

/// Sets what a device may do beyond its role.
pub async fn permit_device(device_id: i64, can: Vec<String>) -> Result<String, ApiError> {
    call("permit_device", &PermitArgs { device_id, can }).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceArgs {
    device_id: i64,
}

/// Signs a device out of the shop for good.
pub async fn revoke_device(device_id: i64) -> Result<String, ApiError> {
    call("revoke_device", &DeviceArgs { device_id }).await
}

/// Settings → Events set aside (owner).
pub async fn list_set_aside() -> Result<Vec<SetAsideEvent>, ApiError> {
    call("list_set_aside", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventArgs {
    event_id: i64,
}

/// Has the relay apply a set-aside event again.
pub async fn retry_event(event_id: i64) -> Result<String, ApiError> {
    call("retry_event", &EventArgs { event_id }).await
}

#[derive(Serialize)]
struct PhoneArgs<'a> {
    phone: &'a str,
}

/// A conversation's messages, oldest first.
pub async fn conversation_thread(phone: &str) -> Result<Vec<ThreadMessage>, ApiError> {
    call("conversation_thread", &PhoneArgs { phone }).await
}

#[derive(Serialize)]
struct SendArgs<'a> {
    phone: &'a str,
    text: &'a str,
}

/// Sends a rep's message to the customer.
pub async fn send_message(phone: &str, text: &str) -> Result<(), ApiError> {
    call("send_message", &SendArgs { phone, text }).await
}

#[derive(Serialize)]
struct BotArgs<'a> {
    phone: &'a str,
    enabled: bool,
}

/// Takes the conversation over (`false`) or gives it back to the bot.
pub async fn set_bot(phone: &str, enabled: bool) -> Result<(), ApiError> {
    call("set_bot", &BotArgs { phone, enabled }).await
}

#[derive(Serialize)]
struct QueryArgs<'a> {
    query: &'a str,
}

/// Conversations whose messages match `query`.
pub async fn search_conversations(query: &str) -> Result<Vec<SearchHit>, ApiError> {
    call("search_conversations", &QueryArgs { query }).await
}

/// The customer channel (sandbox chat or a WhatsApp number).
pub async fn whatsapp_status() -> Result<WhatsappView, ApiError> {
    call("whatsapp_status", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WhatsappArgs<'a> {
    phone_number_id: &'a str,
    access_token: &'a str,
    app_secret: &'a str,
}

/// Connects a WhatsApp Cloud API number (checked with Meta by the relay).
pub async fn connect_whatsapp(
    phone_number_id: &str,
    access_token: &str,
    app_secret: &str,
) -> Result<String, ApiError> {
    let args = WhatsappArgs {
        phone_number_id,
        access_token,
        app_secret,
    };
    call("connect_whatsapp", &args).await
}

/// Back to the sandbox chat.
pub async fn disconnect_whatsapp() -> Result<String, ApiError> {
    call("disconnect_whatsapp", &NoArgs {}).await
}

/// The payment scenario.
pub async fn get_scenario() -> Result<Scenario, ApiError> {
    call("get_scenario", &NoArgs {}).await
}

#[derive(Serialize)]
struct ScenarioArgs<'a> {
    scenario: &'a Scenario,
}

/// Saves the payment scenario.
pub async fn save_scenario(scenario: &Scenario) -> Result<String, ApiError> {
    call("save_scenario", &ScenarioArgs { scenario }).await
}

/// The bot tests a scenario would change if it were saved (nothing is saved).
pub async fn preview_scenario(
    scenario: &Scenario,
) -> Result<Vec<ziflow_protocol::BotTestChange>, ApiError> {
    call("preview_scenario", &ScenarioArgs { scenario }).await
}

/// The agent's editable replies.
pub async fn agent_replies() -> Result<Vec<ReplyView>, ApiError> {
    call("agent_replies", &NoArgs {}).await
}

#[derive(Serialize)]
struct ReplyArgs<'a> {
    key: &'a str,
    text: &'a str,
}

/// Saves one reply's wording (empty: the built-in text).
pub async fn save_reply(key: &str, text: &str) -> Result<String, ApiError> {
    call("save_reply", &ReplyArgs { key, text }).await
}

#[derive(Serialize)]
struct CatalogTextArgs<'a> {
    text: &'a str,
}

/// Imports a catalog file's text (JSON or CSV).
pub async fn import_catalog(text: &str) -> Result<String, ApiError> {
    call("import_catalog", &CatalogTextArgs { text }).await
}

/// The bot tests a catalog file's text would change (nothing is saved).
pub async fn preview_catalog(text: &str) -> Result<Vec<ziflow_protocol::BotTestChange>, ApiError> {
    call("preview_catalog", &CatalogTextArgs { text }).await
}

/// Every bot test, played with the shop's current setup.
pub async fn bot_tests() -> Result<Vec<ziflow_protocol::BotTestRun>, ApiError> {
    call("bot_tests", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SaveTestArgs<'a> {
    phone: &'a str,
    name: &'a str,
    ending: &'a str,
}

/// Saves a conversation as a bot test (`ending`: `as_now`, `handoff`, `no_invoice`).
pub async fn save_bot_test(phone: &str, name: &str, ending: &str) -> Result<String, ApiError> {
    let args = SaveTestArgs {
        phone,
        name,
        ending,
    };
    call("save_bot_test", &args).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdArgs {
    id: i64,
}

/// Deletes a bot test.
pub async fn delete_bot_test(id: i64) -> Result<String, ApiError> {
    call("delete_bot_test", &IdArgs { id }).await
}

#[derive(Serialize)]
struct FormatArgs<'a> {
    format: &'a str,
}

/// Writes the catalog to the Downloads folder; returns the file's path.
pub async fn export_catalog(format: &str) -> Result<String, ApiError> {
    call("export_catalog", &FormatArgs { format }).await
}

/// The optional model (rewording, reading).
pub async fn get_llm() -> Result<LlmView, ApiError> {
    call("get_llm", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LlmArgs<'a> {
    enabled: bool,
    reader: bool,
    base_url: &'a str,
    model: &'a str,
    api_key: &'a str,
}

/// Turns the model's uses (rewording, reading) on or off.
pub async fn save_llm(
    enabled: bool,
    reader: bool,
    base_url: &str,
    model: &str,
    api_key: &str,
) -> Result<String, ApiError> {
    let args = LlmArgs {
        enabled,
        reader,
        base_url,
        model,
        api_key,
    };
    call("save_llm", &args).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MoveArgs<'a> {
    invoice_id: i64,
    stage: &'a str,
    notify: bool,
}

/// Moves a paid order to another column of the board.
pub async fn move_order(invoice_id: i64, stage: &str, notify: bool) -> Result<(), ApiError> {
    let args = MoveArgs {
        invoice_id,
        stage,
        notify,
    };
    call("move_order", &args).await
}

/// The customer's lead, if there is one.
pub async fn lead_view(phone: &str) -> Result<Option<LeadView>, ApiError> {
    call("lead_view", &PhoneArgs { phone }).await
}

/// The shop's leads, most recently changed first.
pub async fn list_leads() -> Result<Vec<LeadRow>, ApiError> {
    call("list_leads", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeadChangeArgs<'a> {
    phone: &'a str,
    stage: Option<&'a str>,
    add_tag: Option<&'a str>,
    remove_tag: Option<&'a str>,
}

/// Moves a lead to `stage`, or adds or removes a tag, by hand.
pub async fn update_lead(
    phone: &str,
    stage: Option<&str>,
    add_tag: Option<&str>,
    remove_tag: Option<&str>,
) -> Result<(), ApiError> {
    let args = LeadChangeArgs {
        phone,
        stage,
        add_tag,
        remove_tag,
    };
    call("update_lead", &args).await
}

/// The automation rules and the pipeline.
pub async fn get_automations() -> Result<AutomationsView, ApiError> {
    call("get_automations", &NoArgs {}).await
}

#[derive(Serialize)]
struct RulesArgs<'a> {
    rules: &'a [Rule],
}

/// Saves the rules, in order.
pub async fn save_automations(rules: &[Rule]) -> Result<String, ApiError> {
    call("save_automations", &RulesArgs { rules }).await
}

#[derive(Serialize)]
struct StagesArgs<'a> {
    stages: &'a [String],
}

/// Saves the pipeline's stages, in order.
pub async fn save_pipeline(stages: &[String]) -> Result<String, ApiError> {
    call("save_pipeline", &StagesArgs { stages }).await
}

/// Settings → Notifications.
pub async fn get_notifications() -> Result<NotificationsView, ApiError> {
    call("get_notifications", &NoArgs {}).await
}

#[derive(Serialize)]
struct NotifyChannelArgs<'a> {
    command: &'a Command,
}

/// Saves one channel (a `notify.set`).
pub async fn save_notify_channel(command: &Command) -> Result<String, ApiError> {
    call("save_notify_channel", &NotifyChannelArgs { command }).await
}

#[derive(Serialize)]
struct ChannelArgs<'a> {
    channel: &'a str,
}

/// Sends a test notification: (delivered, the provider's answer).
pub async fn test_notify(channel: &str) -> Result<(bool, String), ApiError> {
    call("test_notify", &ChannelArgs { channel }).await
}

#[derive(Serialize)]
struct NotifyTemplateArgs<'a> {
    event: &'a str,
    text: &'a str,
}

/// Saves an event's notification text (empty: the built-in one).
pub async fn save_notify_template(event: &str, text: &str) -> Result<String, ApiError> {
    call("save_notify_template", &NotifyTemplateArgs { event, text }).await
}

//! The typed commands the UI invokes. Each extracts its inputs, calls one core function and
//! converts the result to a protocol DTO; no logic lives here.

use tauri::{AppHandle, State};
use ziflow_core::storage::{conversations, invoices, payments, settings};
use ziflow_protocol as dto;
use ziflow_protocol::Money;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The app's version, shop and database location.
#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<dto::AppInfo> {
    Ok(dto::AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        shop_name: state.session().shop.name.clone(),
        mode: state.session().mode().into(),
        sandbox: true,
        database_path: state.db.path().display().to_string(),
    })
}

/// The inbox: conversations with their newest message.
#[tauri::command]
pub async fn list_conversations(
    state: State<'_, AppState>,
) -> Result<Vec<dto::ConversationSummary>> {
    let rows = conversations::list(&state.db, &state.session().shop.uid).await?;
    Ok(rows
        .into_iter()
        .map(|c| dto::ConversationSummary {
            id: c.id,
            customer_phone: c.customer_phone,
            customer_name: c.customer_name,
            last_message: c.last_message,
            last_message_at: c.last_message_at,
            bot_enabled: c.bot_enabled,
            unread: c.unread,
        })
        .collect())
}

/// All invoices, newest first.
#[tauri::command]
pub async fn list_invoices(state: State<'_, AppState>) -> Result<Vec<dto::InvoiceSummary>> {
    let rows = invoices::list(&state.db, &state.session().shop.uid).await?;
    Ok(rows
        .into_iter()
        .map(|i| dto::InvoiceSummary {
            id: i.id,
            number: i.number,
            status: i.status(),
            customer_phone: i.customer_phone,
            total: Money::new(i.total_minor, i.currency),
            created_at: i.created_at,
            paid_at: i.paid_at,
        })
        .collect())
}

/// Paid orders on the fulfilment board.
#[tauri::command]
pub async fn list_ship_board(state: State<'_, AppState>) -> Result<Vec<dto::ShipCard>> {
    let rows = invoices::on_board(&state.db, &state.session().shop.uid).await?;
    let mut cards = Vec::with_capacity(rows.len());
    for inv in rows {
        let items = invoices::items(&state.db, inv.id).await?;
        cards.push(dto::ShipCard {
            order_id: inv.id,
            invoice_number: inv.number,
            stage: inv.fulfilment_stage.unwrap_or_default(),
            items: items
                .iter()
                .map(|it| match &it.variant {
                    Some(v) => format!("{} × {} ({v})", it.qty, it.name),
                    None => format!("{} × {}", it.qty, it.name),
                })
                .collect(),
            address: inv.address.unwrap_or_default(),
            amount: Money::new(inv.total_minor, inv.currency),
            paid_at: inv.paid_at.unwrap_or(inv.created_at),
        });
    }
    Ok(cards)
}

/// The payment feed, newest first.
#[tauri::command]
pub async fn list_payments(state: State<'_, AppState>) -> Result<Vec<dto::PaymentEntry>> {
    let rows = payments::list(&state.db, &state.session().shop.uid).await?;
    Ok(rows
        .into_iter()
        .map(|p| dto::PaymentEntry {
            id: p.id,
            provider: p.provider,
            outcome: p.outcome,
            amount: Money::new(p.amount_minor, p.currency),
            invoice_number: p.invoice_number,
            customer_phone: p.customer_phone,
            occurred_at: p.occurred_at,
        })
        .collect())
}

/// The owner's headline figures.
#[tauri::command]
pub async fn metrics_summary(state: State<'_, AppState>) -> Result<dto::MetricsSummary> {
    let s = ziflow_core::metrics::summary(&state.db, &state.session().shop.uid).await?;
    Ok(dto::MetricsSummary {
        invoices: s.invoices,
        paid_within_24h: s.paid_within_24h,
        conversion_24h_bp: s.conversion_24h_bp,
        revenue: s.revenue,
        manual_reconciliations: s.manual_reconciliations,
    })
}

/// Settings as the Settings screen shows them.
#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<dto::SettingsView> {
    let session = state.session();
    let shop = &session.shop;
    let provider = settings::get(&state.db, &shop.uid, "payment.provider").await?;
    let channel = settings::get(&state.db, &shop.uid, "channel").await?;
    Ok(dto::SettingsView {
        shop_name: shop.name.clone(),
        currency: shop.currency.clone(),
        timezone: shop.timezone.clone(),
        payment_provider: provider.unwrap_or_else(|| "sandbox".into()),
        channel: channel.unwrap_or_else(|| "sandbox".into()),
        update_endpoint: crate::update::endpoint(&state.config.update),
    })
}

/// How sync with the relay is doing.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<dto::SyncStatusView> {
    use crate::sync::SyncState;
    let session = state.session();
    let status = session.sync.borrow().clone();
    let (focus_seq, focus_order) = state.focus.lock().map(|f| *f).unwrap_or_default();
    let (word, detail) = match status.state {
        SyncState::Connecting => ("connecting", None),
        SyncState::Online => ("online", None),
        SyncState::Offline { reason } => ("offline", Some(reason)),
        SyncState::Revoked => (
            "revoked",
            Some("this device was removed from the shop; pair it again".into()),
        ),
    };
    Ok(dto::SyncStatusView {
        state: word.into(),
        last_synced_at: status.last_synced_at,
        detail,
        relay_url: session.relay_url().to_string(),
        mode: session.mode().into(),
        focus_seq,
        focus_order,
    })
}

/// Checks the update endpoint; a newer version is reported only after its download
/// verified against the trusted key.
#[tauri::command]
pub async fn check_for_update(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<dto::UpdateCheck> {
    crate::update::check(&app, &state.config.update).await
}

/// Pairs this desktop with a relay (URL + device token); the window switches to its shop.
#[tauri::command]
pub async fn pair_relay(
    state: State<'_, AppState>,
    url: String,
    token: String,
) -> Result<dto::SyncStatusView> {
    state
        .pair(&url, &token)
        .await
        .map_err(|e| Error::new("pairing_failed", e.to_string()))?;
    sync_status(state).await
}

/// Forgets the paired relay; the app goes back to its own relay (local mode).
#[tauri::command]
pub async fn unpair_relay(state: State<'_, AppState>) -> Result<dto::SyncStatusView> {
    state
        .unpair()
        .await
        .map_err(|e| Error::new("pairing_failed", format!("{e:#}")))?;
    sync_status(state).await
}

/// The settings key of the invoice message template.
const INVOICE_TEMPLATE_KEY: &str = "template.invoice";

/// Checks `text` and renders it for a sample order (the demo's hydrating cream).
fn template_view(
    text: &str,
    shop: &str,
    relay_url: &str,
    saved_default: bool,
) -> dto::TemplateView {
    use ziflow_core::storage::invoices::LineItem;
    use ziflow_core::template::{InvoiceMessage, Template, INVOICE_VARIABLES};
    let sample_items = [LineItem {
        sku: "HC-50".into(),
        name: "Hydrating cream".into(),
        variant: None,
        qty: 1,
        unit_minor: 12_000,
    }];
    let link = format!("{relay_url}/sandbox/pay/example");
    let (preview, error) = match Template::parse(text, INVOICE_VARIABLES) {
        Ok(t) => {
            let msg = InvoiceMessage {
                items: &sample_items,
                shipping_minor: 800,
                currency: "USD",
                total_minor: 12_800,
                link: &link,
                expires: "in 48 hours",
                order: 1001,
                customer: "Ana",
                shop,
            };
            (Some(msg.render(&t)), None)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    dto::TemplateView {
        text: text.to_string(),
        preview,
        error,
        variables: INVOICE_VARIABLES.iter().map(|v| (*v).to_string()).collect(),
        is_default: saved_default,
    }
}

/// The shop's invoice message template (the default until one is saved).
#[tauri::command]
pub async fn get_invoice_template(state: State<'_, AppState>) -> Result<dto::TemplateView> {
    let session = state.session();
    let saved = settings::get(&state.db, &session.shop.uid, INVOICE_TEMPLATE_KEY).await?;
    let is_default = saved.is_none();
    let text = saved.unwrap_or_else(|| ziflow_core::template::DEFAULT_INVOICE.to_string());
    Ok(template_view(
        &text,
        &session.shop.name,
        session.relay_url(),
        is_default,
    ))
}

/// Checks a template while it is being edited: the preview, or why it cannot be used.
#[tauri::command]
pub async fn preview_invoice_template(
    state: State<'_, AppState>,
    text: String,
) -> Result<dto::TemplateView> {
    let session = state.session();
    Ok(template_view(
        &text,
        &session.shop.name,
        session.relay_url(),
        text == ziflow_core::template::DEFAULT_INVOICE,
    ))
}

/// Saves the invoice message template through the relay (so the relay, which sends
/// invoices, and every desk use it); an invalid one is refused and nothing changes.
#[tauri::command]
pub async fn save_invoice_template(
    state: State<'_, AppState>,
    text: String,
) -> Result<dto::TemplateView> {
    let session = state.session();
    let view = template_view(&text, &session.shop.name, session.relay_url(), false);
    if let Some(why) = view.error {
        return Err(Error::new("template_invalid", why));
    }
    let command = ziflow_protocol::Command::TemplateSet {
        name: "invoice".into(),
        text: text.clone(),
    };
    session
        .client
        .command(&command)
        .await
        .map_err(|e| match e {
            crate::sync::SyncError::Refused(why) => Error::new("template_invalid", why),
            other => Error::new(
                "relay_unreachable",
                format!("the template was not saved: {other}"),
            ),
        })?;
    Ok(view)
}

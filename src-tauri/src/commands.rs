//! The typed commands the UI invokes. Each extracts its inputs, calls one core function and
//! converts the result to a protocol DTO; no logic lives here.

use tauri::{AppHandle, State};
use ziflow_core::storage::{conversations, invoices, payments, settings};
use ziflow_protocol as dto;
use ziflow_protocol::Money;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The provider new invoices get links from: `stripe` once connected, else `sandbox` when the
/// relay runs one, else `none` (no link can be sent).
async fn payment_provider(state: &AppState) -> Result<String> {
    let uid = &state.session().shop.uid;
    let provider = settings::get(&state.db, uid, "billing.provider").await?;
    if provider.as_deref() == Some("stripe") {
        return Ok("stripe".into());
    }
    let sandbox = settings::get(&state.db, uid, "relay.sandbox").await?;
    Ok(if sandbox.as_deref() == Some("0") {
        "none".into()
    } else {
        "sandbox".into()
    })
}

/// The app's version, shop and database location.
#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<dto::AppInfo> {
    let provider = payment_provider(&state).await?;
    Ok(dto::AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        shop_name: state.session().shop.name.clone(),
        mode: state.session().mode().into(),
        sandbox: provider == "sandbox",
        payment_provider: provider,
        database_path: state.db.path().display().to_string(),
        role: settings::get(&state.db, &state.session().shop.uid, "device.role")
            .await?
            .unwrap_or_else(|| "owner".into()),
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
            handoff_reason: c.handoff_reason,
            stage: c.stage,
            opted_out: c.opted_out,
            tags: serde_json::from_str(&c.tags).unwrap_or_default(),
        })
        .collect())
}

/// All invoices, newest first.
#[tauri::command]
pub async fn list_invoices(state: State<'_, AppState>) -> Result<Vec<dto::InvoiceSummary>> {
    let rows = invoices::list(&state.db, &state.session().shop.uid).await?;
    let mut out = Vec::with_capacity(rows.len());
    for i in rows {
        let items = invoices::items(&state.db, i.id).await?;
        let money = |minor: i64| Money::new(minor, i.currency.clone());
        out.push(dto::InvoiceSummary {
            id: i.id,
            number: i.number,
            status: i.status(),
            customer_phone: i.customer_phone.clone(),
            total: money(i.total_minor),
            created_at: i.created_at,
            paid_at: i.paid_at,
            kind: i.kind.clone(),
            cadence: i.recurrence().map(|r| r.describe()),
            link: i.pay_link.clone(),
            link_expires_at: i.link_expires_at,
            provider: i.pay_provider.clone(),
            refunded: money(i.refunded_minor),
            paid_via: i.paid_via.clone(),
            send_error: i.send_error.clone(),
            items: items
                .iter()
                .map(|it| {
                    let name = match &it.variant {
                        Some(v) => format!("{} ({v})", it.name),
                        None => it.name.clone(),
                    };
                    format!(
                        "{} × {name} — {}",
                        it.qty,
                        money(it.unit_minor.saturating_mul(it.qty)).display()
                    )
                })
                .collect(),
        });
    }
    Ok(out)
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
            expected: p
                .invoice_total_minor
                .zip(p.invoice_currency)
                .map(|(minor, currency)| Money::new(minor, currency)),
            invoice_provider: p.invoice_provider,
        })
        .collect())
}

/// The owner's figures for a period (`from`/`to` as `2026-11-01`, both days included, in the
/// shop's time zone; by default the last 30 days, or since the first invoice if earlier), per
/// day or per week.
#[tauri::command]
pub async fn metrics_summary(
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
    weekly: Option<bool>,
) -> Result<dto::MetricsSummary> {
    let shop = state.session().shop.clone();
    metrics_view(&state.db, &shop, from, to, weekly.unwrap_or(false)).await
}

/// The figures as `metrics_summary` returns them.
pub async fn metrics_view(
    db: &ziflow_core::Db,
    shop: &ziflow_core::storage::shops::Shop,
    from: Option<String>,
    to: Option<String>,
    weekly: bool,
) -> Result<dto::MetricsSummary> {
    use jiff::civil::Date;
    use jiff::tz::TimeZone;
    let zone = TimeZone::get(&shop.timezone).unwrap_or(TimeZone::UTC);
    let today = zone.to_datetime(jiff::Timestamp::now()).date();
    let parse = |s: Option<String>, what: &str| -> Result<Option<Date>> {
        s.filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim().parse::<Date>().map_err(|_| {
                    Error::new(
                        "bad_date",
                        format!("{what}: a date like 2026-11-01, got {s:?}"),
                    )
                })
            })
            .transpose()
    };
    let to_day = parse(to, "to")?.unwrap_or(today);
    let from_day = match parse(from, "from")? {
        Some(d) => d,
        None => {
            // The last 30 days, or from the first invoice if that is earlier.
            let month = to_day
                .checked_sub(jiff::Span::new().days(29))
                .map_err(|e| Error::new("bad_date", e.to_string()))?;
            let first = ziflow_core::metrics::first_sent_at(db, &shop.uid)
                .await?
                .and_then(|t| jiff::Timestamp::from_second(t).ok())
                .map(|t| zone.to_datetime(t).date());
            first.map_or(month, |f| f.min(month))
        }
    };
    if from_day > to_day {
        return Err(Error::new("bad_date", "the period starts after it ends"));
    }
    let start = |d: Date| -> Result<i64> {
        Ok(zone
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| Error::new("bad_date", e.to_string()))?
            .as_second())
    };
    let from_s = start(from_day)?;
    let to_s = start(
        to_day
            .checked_add(jiff::Span::new().days(1))
            .map_err(|e| Error::new("bad_date", e.to_string()))?,
    )?;
    let s = ziflow_core::metrics::summary_between(db, &shop.uid, Some(from_s), Some(to_s)).await?;
    let buckets = ziflow_core::metrics::buckets(
        db,
        &shop.uid,
        from_s,
        to_s,
        &shop.timezone,
        weekly,
        &shop.currency,
    )
    .await?;
    let (chats, chats_paid) =
        ziflow_core::metrics::chats_to_payment(db, &shop.uid, from_s, to_s).await?;
    Ok(dto::MetricsSummary {
        invoices: s.invoices,
        paid_within_24h: s.paid_within_24h,
        conversion_24h_bp: s.conversion_24h_bp,
        revenue: s.revenue,
        manual_reconciliations: s.manual_reconciliations,
        avg_order_to_payment_s: s.avg_order_to_payment_s,
        median_order_to_payment_s: s.median_order_to_payment_s,
        abandoned: s.abandoned,
        chats,
        chats_paid,
        from: from_day.to_string(),
        to: to_day.to_string(),
        currency: shop.currency.clone(),
        buckets: buckets
            .into_iter()
            .map(|b| dto::MetricsBucket {
                label: b.label,
                invoices: b.invoices,
                paid_within_24h: b.paid_within_24h,
                revenue_minor: b.revenue_minor,
            })
            .collect(),
    })
}

/// Settings as the Settings screen shows them.
#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<dto::SettingsView> {
    let session = state.session();
    let shop = &session.shop;
    let provider = payment_provider(&state).await?;
    let channel = settings::get(&state.db, &shop.uid, "channel").await?;
    Ok(dto::SettingsView {
        shop_name: shop.name.clone(),
        currency: shop.currency.clone(),
        timezone: shop.timezone.clone(),
        payment_provider: provider,
        channel: match channel.filter(|c| !c.is_empty()) {
            Some(c) if c != "sandbox" => c,
            // No number connected: the sandbox chat where the relay runs one, else nothing.
            _ if settings::get(&state.db, &shop.uid, "relay.sandbox")
                .await?
                .as_deref()
                == Some("0") =>
            {
                "none".into()
            }
            _ => "sandbox".into(),
        },
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
    use ziflow_core::template::{InvoiceMessage, INVOICE_VARIABLES};
    let sample_items = [LineItem {
        sku: "HC-50".into(),
        name: "Hydrating cream".into(),
        variant: None,
        qty: 1,
        unit_minor: 12_000,
    }];
    let link = format!("{relay_url}/sandbox/pay/example");
    let (preview, error) = match ziflow_core::template::parse_invoice(text) {
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
        .map_err(|e| Error::from_relay(e, "template_invalid", "the template was not saved"))?;
    Ok(view)
}

/// What the invoice composer offers: customers with a conversation, the catalog, zones.
#[tauri::command]
pub async fn composer_data(state: State<'_, AppState>) -> Result<dto::ComposerData> {
    let session = state.session();
    let shop = &session.shop;
    let catalog = ziflow_core::catalog::load(&state.db, &shop.uid).await?;
    let customers = conversations::list(&state.db, &shop.uid).await?;
    let money = |minor: i64| Money::new(minor, shop.currency.clone());
    Ok(dto::ComposerData {
        payment_provider: payment_provider(&state).await?,
        currency: shop.currency.clone(),
        customers: customers
            .into_iter()
            .map(|c| dto::CustomerOption {
                phone: c.customer_phone,
                name: c.customer_name,
            })
            .collect(),
        products: catalog
            .catalog
            .into_iter()
            .map(|p| dto::ProductOption {
                price: money(p.price_cents),
                sku: p.sku,
                name: p.name,
                aliases: p.aliases,
                variants: p.variants,
            })
            .collect(),
        zones: catalog
            .shipping
            .into_iter()
            .map(|z| dto::ZoneOption {
                name: z.zone,
                price: money(z.price_cents),
                default: z.default,
            })
            .collect(),
    })
}

/// A draft as an invoice: items priced from the catalog, checked like the relay will.
async fn draft_invoice(
    state: &AppState,
    draft: &dto::InvoiceDraft,
) -> std::result::Result<ziflow_core::storage::invoices::NewInvoice, String> {
    let session = state.session();
    let catalog = ziflow_core::catalog::load(&state.db, &session.shop.uid)
        .await
        .map_err(|e| e.to_string())?;
    if draft.items.is_empty() {
        return Err("add at least one item".into());
    }
    let picks: Vec<_> = draft
        .items
        .iter()
        .map(|i| (i.sku.clone(), i.variant.clone(), i.qty))
        .collect();
    let items = catalog.line_items(&picks).map_err(|e| e.to_string())?;
    let new = ziflow_core::storage::invoices::NewInvoice {
        customer_phone: draft.customer_phone.trim().to_string(),
        currency: session.shop.currency.clone(),
        items,
        shipping_minor: draft.shipping_minor,
        address: draft
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        recurrence: None,
    };
    if new.customer_phone.is_empty() {
        return Err("choose a customer or type their phone (+15125550123)".into());
    }
    ziflow_core::storage::invoices::check(&new).map_err(|e| e.to_string())?;
    if let Some(sub) = &draft.subscription {
        let now = time_now();
        ziflow_core::pay::Recurrence::new(&sub.unit, sub.count, sub.first_charge_at, now)
            .map_err(|e| e.to_string())?;
    }
    Ok(new)
}

fn time_now() -> i64 {
    use ziflow_core::Clock;
    ziflow_core::SystemClock.now()
}

/// The invoice message for `new` with `link`, from the shop's template.
async fn invoice_message(
    state: &AppState,
    new: &ziflow_core::storage::invoices::NewInvoice,
    number: i64,
    link: &str,
    cadence: Option<String>,
) -> Result<String> {
    use ziflow_core::template::{InvoiceMessage, Template, INVOICE_VARIABLES};
    let session = state.session();
    let text = settings::get(&state.db, &session.shop.uid, INVOICE_TEMPLATE_KEY)
        .await?
        .unwrap_or_else(|| ziflow_core::template::DEFAULT_INVOICE.to_string());
    let template = Template::parse(&text, INVOICE_VARIABLES)
        .map_err(|e| Error::new("template_invalid", e.to_string()))?;
    let total = ziflow_core::storage::invoices::total_minor(&new.items, new.shipping_minor)?;
    let customer = conversations::list(&state.db, &session.shop.uid)
        .await?
        .into_iter()
        .find(|c| c.customer_phone == new.customer_phone)
        .and_then(|c| c.customer_name)
        .unwrap_or_else(|| ziflow_protocol::display_phone(&new.customer_phone));
    let msg = InvoiceMessage {
        items: &new.items,
        shipping_minor: new.shipping_minor,
        currency: &new.currency,
        total_minor: total,
        link,
        expires: "in 48 hours",
        order: number,
        customer: &customer,
        shop: &session.shop.name,
    };
    let mut text = msg.render(&template);
    if let Some(c) = cadence {
        text.push_str(&format!(" (Subscription: {c}.)"));
    }
    Ok(text)
}

fn cadence_of(draft: &dto::InvoiceDraft) -> Option<String> {
    let sub = draft.subscription.as_ref()?;
    let unit = ziflow_core::pay::Unit::parse(&sub.unit)?;
    Some(
        ziflow_core::pay::Recurrence {
            unit,
            count: sub.count,
            first_charge_at: sub.first_charge_at,
        }
        .describe(),
    )
}

/// A draft's live total and its message as the customer will read it.
#[tauri::command]
pub async fn preview_invoice(
    state: State<'_, AppState>,
    draft: dto::InvoiceDraft,
) -> Result<dto::DraftPreview> {
    let new = match draft_invoice(&state, &draft).await {
        Ok(n) => n,
        Err(why) if draft.items.is_empty() => {
            return Ok(dto::DraftPreview {
                total: None,
                message: None,
                error: Some(why),
            })
        }
        Err(why) => {
            // The total still shows while the draft is incomplete.
            let catalog = ziflow_core::catalog::load(&state.db, &state.session().shop.uid).await?;
            let subtotal: Option<i64> =
                draft.items.iter().try_fold(draft.shipping_minor, |acc, i| {
                    let p = catalog.catalog.iter().find(|p| p.sku == i.sku)?;
                    acc.checked_add(p.price_cents.checked_mul(i.qty.max(0))?)
                });
            return Ok(dto::DraftPreview {
                total: subtotal.map(|t| Money::new(t, state.session().shop.currency.clone())),
                message: None,
                error: Some(why),
            });
        }
    };
    let total = ziflow_core::storage::invoices::total_minor(&new.items, new.shipping_minor)?;
    let session = state.session();
    let sample = format!("{}/sandbox/pay/…", session.relay_url());
    let next: i64 = invoices::list(&state.db, &session.shop.uid)
        .await?
        .iter()
        .map(|i| i.number + 1)
        .max()
        .unwrap_or(invoices::FIRST_NUMBER);
    let message = invoice_message(&state, &new, next, &sample, cadence_of(&draft)).await?;
    Ok(dto::DraftPreview {
        total: Some(Money::new(total, new.currency)),
        message: Some(message),
        error: None,
    })
}

/// Creates the invoice on the relay and sends it: the relay numbers it and its provider
/// makes the pay link.
#[tauri::command]
pub async fn send_invoice(
    state: State<'_, AppState>,
    draft: dto::InvoiceDraft,
) -> Result<dto::InvoiceSent> {
    let new = draft_invoice(&state, &draft)
        .await
        .map_err(|why| Error::new("invoice_invalid", why))?;
    let session = state.session();
    let refused = |e: crate::sync::SyncError| {
        Error::from_relay(e, "invoice_invalid", "the invoice was not sent")
    };
    let create = ziflow_protocol::Command::InvoiceCreate {
        customer_phone: new.customer_phone.clone(),
        currency: new.currency.clone(),
        items: new.items.iter().map(dto::InvoiceItem::from).collect(),
        shipping_minor: new.shipping_minor,
        address: new.address.clone(),
        subscription: draft.subscription.clone(),
    };
    let made = session.client.command(&create).await.map_err(refused)?;
    let (Some(id), Some(number)) = (made["invoice_id"].as_i64(), made["number"].as_i64()) else {
        return Err(Error::new(
            "relay_unreachable",
            "the relay did not number the invoice",
        ));
    };
    let send = ziflow_protocol::Command::InvoiceSend { invoice_id: id };
    let (status, sent) = session
        .client
        .command_answer(&send)
        .await
        .map_err(refused)?;
    if status >= 400 {
        return Err(Error::new(
            "provider_refused",
            format!(
                "invoice #{number} was created but not sent: {}",
                sent["message"].as_str().unwrap_or("the provider refused")
            ),
        ));
    }
    let link = sent["link"].as_str().map(str::to_string);
    let message = match &link {
        Some(l) => Some(invoice_message(&state, &new, number, l, cadence_of(&draft)).await?),
        None => None,
    };
    Ok(dto::InvoiceSent {
        invoice_id: id,
        number,
        link,
        message,
        pending: sent["pending"].as_bool().filter(|p| *p).map(|_| {
            sent["message"]
                .as_str()
                .unwrap_or("the link is on its way")
                .to_string()
        }),
    })
}

/// Refunds a paid invoice through its provider, in full or in part.
#[tauri::command]
pub async fn refund_invoice(
    state: State<'_, AppState>,
    invoice_id: i64,
    amount_minor: Option<i64>,
) -> Result<String> {
    let session = state.session();
    let command = ziflow_protocol::Command::InvoiceRefund {
        invoice_id,
        amount_minor,
    };
    let (status, answer) = session
        .client
        .command_answer(&command)
        .await
        .map_err(|e| Error::from_relay(e, "refused", "no refund was made"))?;
    if status >= 400 {
        return Err(Error::new(
            "refund_refused",
            answer["message"]
                .as_str()
                .unwrap_or("the refund was refused")
                .to_string(),
        ));
    }
    let amount = answer["refund_minor"].as_i64().unwrap_or_default();
    let currency = invoices::get(&state.db, &session.shop.uid, invoice_id)
        .await
        .map(|i| i.currency)
        .unwrap_or_else(|_| session.shop.currency.clone());
    Ok(format!(
        "Refund of {} sent to the provider; the invoice updates when it confirms.",
        Money::new(amount, currency).display()
    ))
}

/// Settings → Devices (owner): the shop's devices and what each may do.
#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> Result<Vec<dto::DeviceInfo>> {
    state
        .session()
        .client
        .devices()
        .await
        .map_err(|e| Error::from_relay(e, "refused", "the devices are not shown"))
}

/// Lets a rep's device refund or mark paid by hand (or takes it back).
#[tauri::command]
pub async fn permit_device(
    state: State<'_, AppState>,
    device_id: i64,
    can: Vec<String>,
) -> Result<String> {
    state
        .session()
        .client
        .command(&ziflow_protocol::Command::DevicePermit {
            device_id,
            can: can.clone(),
        })
        .await
        .map_err(|e| Error::from_relay(e, "refused", "nothing changed"))?;
    Ok(if can.is_empty() {
        "Saved: this device may no longer refund or mark invoices paid.".into()
    } else {
        format!(
            "Saved: this device may now {}.",
            can.join(" and ").replace('_', " ")
        )
    })
}

/// Signs a device out of the shop for good (its token stops working at once).
#[tauri::command]
pub async fn revoke_device(state: State<'_, AppState>, device_id: i64) -> Result<String> {
    state
        .session()
        .client
        .command(&ziflow_protocol::Command::DeviceRevoke { device_id })
        .await
        .map_err(|e| Error::from_relay(e, "refused", "nothing changed"))?;
    Ok("Revoked: that device is signed out and can no longer reach the shop.".into())
}

/// Settings → Events set aside (owner): what the relay could not apply, from the replica.
#[tauri::command]
pub async fn list_set_aside(state: State<'_, AppState>) -> Result<Vec<dto::SetAsideEvent>> {
    let session = state.session();
    let notices =
        ziflow_core::storage::quarantine::open_notices(&state.db, &session.shop.uid).await?;
    Ok(notices
        .into_iter()
        .map(|n| dto::SetAsideEvent {
            event_id: n.event_id,
            kind: n.kind,
            reason: n.reason,
            at: n.at,
        })
        .collect())
}

/// Has the relay apply a set-aside event again.
#[tauri::command]
pub async fn retry_event(state: State<'_, AppState>, event_id: i64) -> Result<String> {
    let (status, answer) = state
        .session()
        .client
        .command_answer(&ziflow_protocol::Command::EventRetry { event_id })
        .await
        .map_err(|e| Error::from_relay(e, "refused", "not tried"))?;
    if status != 200 {
        return Err(Error::new(
            "failed_again",
            answer["message"]
                .as_str()
                .unwrap_or("the relay could not apply it")
                .to_string(),
        ));
    }
    Ok(format!(
        "Event {event_id} applied; it is no longer set aside."
    ))
}

/// The Billing screen.
#[tauri::command]
pub async fn billing_status(state: State<'_, AppState>) -> Result<dto::BillingView> {
    let session = state.session();
    let uid = &session.shop.uid;
    let get = |key: &'static str| settings::get(&state.db, uid, key);
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(dto::BillingView {
        provider: payment_provider(&state).await?,
        mode: nonempty(get("billing.mode").await?),
        key_hint: nonempty(get("billing.key_hint").await?),
        webhook_url: format!("{}/api/payment/webhook/{uid}", session.relay_url()),
        webhook_secret_hint: nonempty(get("billing.webhook_secret_hint").await?),
    })
}

/// Connects Stripe with a pasted key; the relay checks it with Stripe first.
#[tauri::command]
pub async fn connect_stripe(state: State<'_, AppState>, key: String) -> Result<dto::ConnectResult> {
    let session = state.session();
    let (status, answer) = session
        .client
        .command_answer(&ziflow_protocol::Command::BillingConnect { key })
        .await
        .map_err(|e| Error::from_relay(e, "refused", "the key was not checked"))?;
    let steps: Vec<dto::ConnectStep> =
        serde_json::from_value(answer["steps"].clone()).unwrap_or_default();
    let connected = status == 200 && answer["connected"] == true;
    Ok(dto::ConnectResult {
        connected,
        mode: answer["mode"].as_str().map(str::to_string),
        message: if connected {
            format!(
                "Connected: new invoices get Stripe pay links ({} mode).",
                answer["mode"].as_str().unwrap_or("test")
            )
        } else {
            answer["message"]
                .as_str()
                .unwrap_or("Stripe refused the key")
                .to_string()
        },
        steps,
    })
}

/// Stores the signing secret Stripe shows for the webhook endpoint.
#[tauri::command]
pub async fn save_webhook_secret(state: State<'_, AppState>, secret: String) -> Result<String> {
    let session = state.session();
    session
        .client
        .command(&ziflow_protocol::Command::BillingWebhookSecret { secret })
        .await
        .map_err(|e| Error::from_relay(e, "secret_invalid", "not saved"))?;
    Ok("Saved: Stripe's events for this shop are verified with it.".into())
}

/// Disconnects Stripe: key and signing secret go, open Stripe links are deactivated.
#[tauri::command]
pub async fn disconnect_stripe(state: State<'_, AppState>) -> Result<String> {
    let (status, answer) = state
        .session()
        .client
        .command_answer(&ziflow_protocol::Command::BillingDisconnect {})
        .await
        .map_err(|e| Error::from_relay(e, "refused", "still connected"))?;
    if status != 200 {
        return Err(Error::new(
            "refused",
            answer["message"]
                .as_str()
                .unwrap_or("the relay refused")
                .to_string(),
        ));
    }
    let mut text = String::from("Disconnected: Stripe's key and signing secret are removed");
    let expired = answer["links_expired"].as_u64().unwrap_or(0);
    if expired > 0 {
        text.push_str(&format!(
            "; {expired} open Stripe link(s) deactivated (customers ask for a new one)"
        ));
    }
    let left: Vec<String> = answer["not_deactivated"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["number"].as_i64().map(|n| format!("#{n}")))
        .collect();
    if !left.is_empty() {
        text.push_str(&format!(
            ". Stripe did not confirm deactivating the links of {} — switch them off in Stripe's dashboard",
            left.join(", ")
        ));
    }
    text.push_str(if answer["provider"] == "sandbox" {
        ". New invoices use the sandbox pay page."
    } else {
        ". New invoices get no pay link until a payment provider is connected."
    });
    Ok(text)
}

/// A conversation's messages, oldest first.
#[tauri::command]
pub async fn conversation_thread(
    state: State<'_, AppState>,
    phone: String,
) -> Result<Vec<dto::ThreadMessage>> {
    let rows = conversations::thread(&state.db, &state.session().shop.uid, &phone).await?;
    Ok(rows
        .into_iter()
        .map(|m| dto::ThreadMessage {
            direction: m.direction,
            text: m.body,
            at: m.sent_at,
            author: m.author,
            status: m.status,
            error: m.error,
        })
        .collect())
}

/// Sends a rep's message to a customer through the relay.
#[tauri::command]
pub async fn send_message(state: State<'_, AppState>, phone: String, text: String) -> Result<()> {
    state
        .session()
        .client
        .command(&ziflow_protocol::Command::MessageSend { to: phone, text })
        .await
        .map_err(|e| Error::from_relay(e, "message_refused", "not sent"))?;
    Ok(())
}

/// Takes a conversation over from the bot, or gives it back.
#[tauri::command]
pub async fn set_bot(state: State<'_, AppState>, phone: String, enabled: bool) -> Result<()> {
    state
        .session()
        .client
        .command(&ziflow_protocol::Command::ConversationBot { phone, enabled })
        .await
        .map_err(|e| Error::from_relay(e, "refused", "not changed"))?;
    Ok(())
}

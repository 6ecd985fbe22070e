//! Invoices: the list, the composer (draft, preview, send), refunds, the invoice message
//! template, and the payment feed.

use tauri::State;
use ziflow_core::storage::{conversations, invoices, payments, settings};
use ziflow_protocol as dto;
use ziflow_protocol::answer;
use ziflow_protocol::ErrorCode;
use ziflow_protocol::Money;

use crate::commands::{relay_answer, relay_for, time_now};
use crate::error::{Error, Result};
use crate::state::AppState;

/// The provider new invoices get links from: `stripe` once connected, else `sandbox` when the
/// relay runs one, else `none` (no link can be sent).
pub(crate) async fn payment_provider(state: &AppState) -> Result<String> {
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

/// All invoices, newest first.
#[tauri::command]
pub async fn list_invoices(state: State<'_, AppState>) -> Result<Vec<dto::InvoiceSummary>> {
    let shop = state.session().shop.uid.clone();
    let rows = invoices::list(&state.db, &shop).await?;
    // Two queries for the whole list, never one per row.
    let mut items_of = invoices::items_by_invoice(&state.db, &shop, false).await?;
    let mut out = Vec::with_capacity(rows.len());
    for i in rows {
        let items = items_of.remove(&i.id).unwrap_or_default();
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

/// The settings key of the invoice message template.
pub(crate) const INVOICE_TEMPLATE_KEY: &str = "template.invoice";

/// Checks `text` and renders it for a sample order (the demo's hydrating cream).
pub(crate) fn template_view(
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
        return Err(Error::new(ErrorCode::TemplateInvalid, why));
    }
    let command = ziflow_protocol::Command::TemplateSet {
        name: "invoice".into(),
        text: text.clone(),
    };
    let _: answer::Saved = relay_for(
        &state,
        &command,
        ErrorCode::TemplateInvalid,
        "the template was not saved",
    )
    .await?;
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
pub(crate) async fn draft_invoice(
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

/// The invoice message for `new` with `link`, from the shop's template.
pub(crate) async fn invoice_message(
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
        .map_err(|e| Error::new(ErrorCode::TemplateInvalid, e.to_string()))?;
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

pub(crate) fn cadence_of(draft: &dto::InvoiceDraft) -> Option<String> {
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
        .map_err(|why| Error::new(ErrorCode::InvoiceInvalid, why))?;
    let create = ziflow_protocol::Command::InvoiceCreate {
        customer_phone: new.customer_phone.clone(),
        currency: new.currency.clone(),
        items: new.items.iter().map(dto::InvoiceItem::from).collect(),
        shipping_minor: new.shipping_minor,
        address: new.address.clone(),
        subscription: draft.subscription.clone(),
    };
    let made: answer::InvoiceCreate = relay_for(
        &state,
        &create,
        ErrorCode::InvoiceInvalid,
        "the invoice was not sent",
    )
    .await?;
    let number = made.number;
    let send = ziflow_protocol::Command::InvoiceSend {
        invoice_id: made.invoice_id,
    };
    let sent: answer::InvoiceSend = relay_answer(&state, &send, "the invoice was not sent")
        .await?
        .map_err(|refusal| {
            Error::new(
                ErrorCode::ProviderRefused,
                format!(
                    "invoice #{number} was created but not sent: {}",
                    Some(refusal.message)
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "the provider refused".into())
                ),
            )
        })?;
    let message = match &sent.link {
        Some(l) => Some(invoice_message(&state, &new, number, l, cadence_of(&draft)).await?),
        None => None,
    };
    Ok(dto::InvoiceSent {
        invoice_id: made.invoice_id,
        number,
        link: sent.link,
        message,
        pending: sent.pending.then(|| {
            sent.message
                .unwrap_or_else(|| "the link is on its way".to_string())
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
    let refund: answer::InvoiceRefund = relay_for(
        &state,
        &command,
        ErrorCode::RefundRefused,
        "no refund was made",
    )
    .await?;
    let amount = refund.refund_minor;
    let currency = invoices::get(&state.db, &session.shop.uid, invoice_id)
        .await
        .map(|i| i.currency)
        .unwrap_or_else(|_| session.shop.currency.clone());
    Ok(format!(
        "Refund of {} sent to the provider; the invoice updates when it confirms.",
        Money::new(amount, currency).display()
    ))
}

//! Running a device's command against the shop's state, inside the caller's transaction,
//! appending the events it causes to the log.

use serde_json::{json, Value};
use sqlx::SqliteConnection;
use ziflow_protocol::Command;

use crate::storage::{events, invoices};
use crate::{projection, Error, InvoiceStatus, Result};

/// What a command did: its answer and the ids of the events it appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The JSON answer for the device.
    pub answer: Value,
    /// Events appended (for push wake-ups).
    pub event_ids: Vec<i64>,
}

/// How long a pay link works.
pub const LINK_LIFETIME_SECS: i64 = 48 * 3600;

/// Where the command runs.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The relay's address as customers reach it (for sandbox pay links).
    pub public_url: &'a str,
}

/// Appends a command's event to the log and applies it (the projection desks run too), in
/// the caller's transaction. Returns its id.
async fn record(
    conn: &mut SqliteConnection,
    shop: &str,
    kind: &str,
    payload: &Value,
    now: i64,
) -> Result<i64> {
    let id = events::append(conn, shop, kind, payload, None, now)
        .await?
        // Only provider events (with a provider id) can be refused as redeliveries.
        .ok_or_else(|| Error::InvalidInput(format!("the {kind} event was not recorded")))?;
    let event = events::Event {
        id,
        shop_uid: shop.to_string(),
        kind: kind.to_string(),
        payload: payload.to_string(),
        provider_id: None,
        created_at: now,
    };
    projection::apply(conn, &event).await?;
    Ok(id)
}

/// Executes `cmd` for `shop` at `now`.
pub async fn execute(
    conn: &mut SqliteConnection,
    shop: &str,
    cmd: &Command,
    now: i64,
    ctx: &Context<'_>,
) -> Result<Outcome> {
    match cmd {
        Command::InvoiceSend { invoice_id } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            if let (Some(link), Some(expires_at)) = (&invoice.pay_link, invoice.link_expires_at) {
                // Sent before: the same link, never a second one.
                return Ok(Outcome {
                    answer: json!({ "invoice_id": invoice_id, "link": link,
                                    "expires_at": expires_at, "changed": false }),
                    event_ids: Vec::new(),
                });
            }
            if invoice.status() != InvoiceStatus::Draft {
                return Err(Error::InvalidInput(format!(
                    "invoice #{} is {} and cannot be sent",
                    invoice.number, invoice.status
                )));
            }
            // The sandbox provider (no provider connected yet): a page on this relay.
            let token = crate::secrets::new_token("pay")
                .map_err(|e| Error::InvalidInput(format!("no randomness for a link: {e}")))?;
            let link = invoices::PayLink {
                provider: "sandbox".into(),
                url: format!(
                    "{}/sandbox/pay/{token}",
                    ctx.public_url.trim_end_matches('/')
                ),
                token: Some(token.clone()),
                expires_at: now + LINK_LIFETIME_SECS,
            };
            let payload = json!({
                "invoice_id": invoice_id,
                "provider": link.provider,
                "link": link.url,
                "token": token,
                "expires_at": link.expires_at,
            });
            let id = record(conn, shop, "invoice.sent", &payload, now).await?;
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "link": link.url,
                                "expires_at": link.expires_at, "changed": true }),
                event_ids: vec![id],
            })
        }
        Command::InvoiceMarkPaid { invoice_id } => {
            let invoice = invoices::get_in(conn, shop, *invoice_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("invoice {invoice_id}")))?;
            let changed = matches!(
                invoice.status(),
                InvoiceStatus::Draft
                    | InvoiceStatus::Sent
                    | InvoiceStatus::Expired
                    | InvoiceStatus::Failed
            );
            let mut event_ids = Vec::new();
            if changed {
                // The event is the fact; the projection (the same code the desktops run)
                // makes the invoice paid.
                let payload = json!({ "invoice_id": invoice_id, "via": "manual" });
                event_ids.push(record(conn, shop, "invoice.paid", &payload, now).await?);
            }
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "paid": true, "changed": changed }),
                event_ids,
            })
        }
        Command::InvoiceCreate {
            customer_phone,
            currency,
            items,
            shipping_minor,
            address,
        } => {
            let new = invoices::NewInvoice {
                customer_phone: customer_phone.clone(),
                currency: currency.clone(),
                items: items
                    .iter()
                    .map(|i| invoices::LineItem {
                        sku: i.sku.clone(),
                        name: i.name.clone(),
                        variant: i.variant.clone(),
                        qty: i.qty,
                        unit_minor: i.unit_minor,
                    })
                    .collect(),
                shipping_minor: *shipping_minor,
                address: address.clone(),
            };
            let (invoice_id, number) = invoices::create_in(conn, shop, &new, now).await?;
            let total = invoices::total_minor(&new.items, new.shipping_minor)?;
            let payload = json!({
                "invoice_id": invoice_id,
                "number": number,
                "customer_phone": customer_phone,
                "currency": currency,
                "items": items,
                "shipping_minor": shipping_minor,
                "total_minor": total,
                "address": address,
            });
            let id = record(conn, shop, "invoice.created", &payload, now).await?;
            Ok(Outcome {
                answer: json!({ "invoice_id": invoice_id, "number": number, "total_minor": total }),
                event_ids: vec![id],
            })
        }
        Command::TemplateSet { name, text } => {
            let allowed = match name.as_str() {
                "invoice" => crate::template::INVOICE_VARIABLES,
                other => {
                    return Err(Error::InvalidInput(format!(
                        "there is no {other:?} template; templates: invoice"
                    )))
                }
            };
            crate::template::Template::parse(text, allowed)
                .map_err(|e| Error::InvalidInput(format!("the {name} template: {e}")))?;
            let key = format!("template.{name}");
            let payload = json!({ "key": key, "value": text });
            let id = record(conn, shop, "settings.changed", &payload, now).await?;
            Ok(Outcome {
                answer: json!({ "key": key, "saved": true }),
                event_ids: vec![id],
            })
        }
    }
}

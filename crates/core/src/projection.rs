//! Projections: how each event changes the tables the screens read. The relay applies them in
//! the same transaction that appends the event; the desktop applies the same code to the
//! events it pulls, so its replica equals the relay's tables for its shop.
//!
//! Invariants: applying is deterministic (time comes from the event, never the clock) and
//! tolerant — an event whose payload this version cannot read is kept in the log and left
//! unprojected (logged), never a reason to refuse the transaction.

use serde_json::Value;
use sqlx::SqliteConnection;

use crate::storage::conversations::{self, Direction};
use crate::storage::events::Event;
use crate::storage::invoices::{self, PaidVia};
use crate::storage::payments;
use crate::{Error, Money, Result};

/// What applying an event did that someone may want to be told about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// A payment outcome that was recorded.
    pub payment: Option<PaymentApplied>,
    /// The invoice this event turned paid (a provider event; at most once per invoice). The
    /// relay's engine records it as `invoice.paid`.
    pub invoice_paid: Option<i64>,
}

/// A recorded payment outcome (for the desktop's OS notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentApplied {
    /// `succeeded`, `failed` or `refunded`.
    pub outcome: &'static str,
    /// The amount.
    pub amount: Money,
    /// The matched invoice's number and customer phone, if matched.
    pub invoice: Option<(i64, String)>,
}

/// Applies `event` to the projection tables inside the caller's transaction.
pub async fn apply(conn: &mut SqliteConnection, event: &Event) -> Result<Applied> {
    let mut applier = Applier::new(conn);
    let applied = applier.apply(event).await?;
    applier.finish().await?;
    Ok(applied)
}

/// Applies many events in log order inside the caller's transaction. Plain inserts nothing
/// else reads back while applying (payments) are held and written as one multi-row statement
/// before the next statement of any other kind, and at [`Applier::finish`] — the tables end
/// up exactly as with one [`apply`] per event, with far fewer round trips to SQLite.
pub struct Applier<'c> {
    conn: &'c mut SqliteConnection,
    payments: Vec<payments::Payment>,
}

impl<'c> Applier<'c> {
    /// An applier writing through `conn`.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        Self {
            conn,
            payments: Vec::new(),
        }
    }

    /// Applies one event (the next in log order).
    pub async fn apply(&mut self, event: &Event) -> Result<Applied> {
        let payload: Value = match serde_json::from_str(&event.payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(id = event.id, kind = %event.kind, "event payload unreadable: {e}");
                return Ok(Applied::default());
            }
        };
        let result = match event.kind.as_str() {
            "whatsapp.message" => inbound_message(self.conn().await?, event, &payload).await,
            "invoice.paid" => invoice_paid(self.conn().await?, event, &payload).await,
            "settings.changed" => settings_changed(self.conn().await?, event, &payload).await,
            "invoice.created" => invoice_created(self.conn().await?, event, &payload).await,
            "invoice.sent" => invoice_sent(self.conn().await?, event, &payload).await,
            kind if kind.starts_with("stripe.") => stripe_event(self, event, &payload).await,
            _ => Ok(Applied::default()),
        };
        match result {
            Err(Error::InvalidInput(why)) => {
                tracing::warn!(id = event.id, kind = %event.kind, "event left unprojected: {why}");
                Ok(Applied::default())
            }
            other => other,
        }
    }

    /// Writes what is held. Must be called before the transaction commits.
    pub async fn finish(mut self) -> Result<()> {
        self.flush().await
    }

    /// The connection, with everything held written first (so reads see it).
    pub async fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.flush().await?;
        Ok(&mut *self.conn)
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.payments.is_empty() {
            payments::record_many_in(self.conn, &self.payments).await?;
            self.payments.clear();
        }
        Ok(())
    }
}

async fn inbound_message(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let from = p["from"].as_str().unwrap_or_default();
    let phone = format!("+{from}");
    let msg = &p["message"];
    let kind = msg["type"].as_str().unwrap_or("unknown");
    let body = match kind {
        "text" => msg["text"]["body"].as_str().unwrap_or_default().to_string(),
        "interactive" => msg["interactive"]["button_reply"]["title"]
            .as_str()
            .or_else(|| msg["interactive"]["list_reply"]["title"].as_str())
            .unwrap_or("[interactive reply]")
            .to_string(),
        "button" => msg["button"]["text"]
            .as_str()
            .unwrap_or("[button]")
            .to_string(),
        "location" => "[location]".to_string(),
        "image" | "audio" => format!("[{kind}]"),
        other => format!("[unsupported message: {other}]"),
    };
    let at = msg["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(event.created_at);
    conversations::record_message_in(
        conn,
        &event.shop_uid,
        &phone,
        p["profile_name"].as_str(),
        Direction::Inbound,
        &body,
        at,
    )
    .await?;
    Ok(Applied::default())
}

async fn invoice_created(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let field = |k: &str| {
        p[k].as_i64()
            .ok_or_else(|| Error::InvalidInput(format!("invoice.created without {k}")))
    };
    let items: Vec<ziflow_protocol::InvoiceItem> = serde_json::from_value(p["items"].clone())
        .map_err(|e| Error::InvalidInput(format!("invoice.created items: {e}")))?;
    let new = invoices::NewInvoice {
        customer_phone: p["customer_phone"].as_str().unwrap_or_default().to_string(),
        currency: p["currency"].as_str().unwrap_or_default().to_string(),
        items: items
            .into_iter()
            .map(|i| invoices::LineItem {
                sku: i.sku,
                name: i.name,
                variant: i.variant,
                qty: i.qty,
                unit_minor: i.unit_minor,
            })
            .collect(),
        shipping_minor: field("shipping_minor")?,
        address: p["address"].as_str().map(str::to_string),
    };
    invoices::insert_replica_in(
        conn,
        &event.shop_uid,
        field("invoice_id")?,
        field("number")?,
        &new,
        event.created_at,
    )
    .await?;
    Ok(Applied::default())
}

async fn invoice_sent(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let (Some(id), Some(url), Some(expires_at)) = (
        p["invoice_id"].as_i64(),
        p["link"].as_str(),
        p["expires_at"].as_i64(),
    ) else {
        return Err(Error::InvalidInput(
            "invoice.sent without invoice_id, link and expires_at".into(),
        ));
    };
    let link = invoices::PayLink {
        provider: p["provider"].as_str().unwrap_or("sandbox").to_string(),
        url: url.to_string(),
        token: p["token"].as_str().map(str::to_string),
        expires_at,
    };
    invoices::send_in(conn, &event.shop_uid, id, &link, event.created_at).await?;
    Ok(Applied::default())
}

async fn settings_changed(
    conn: &mut SqliteConnection,
    event: &Event,
    p: &Value,
) -> Result<Applied> {
    let (Some(key), Some(value)) = (p["key"].as_str(), p["value"].as_str()) else {
        return Err(Error::InvalidInput(
            "settings.changed without key and value".into(),
        ));
    };
    crate::storage::settings::set_in(conn, &event.shop_uid, key, value).await?;
    Ok(Applied::default())
}

async fn invoice_paid(conn: &mut SqliteConnection, event: &Event, p: &Value) -> Result<Applied> {
    let id = p["invoice_id"]
        .as_i64()
        .ok_or_else(|| Error::InvalidInput("invoice.paid without an invoice_id".into()))?;
    let via = if p["via"] == "manual" {
        PaidVia::Manual
    } else {
        PaidVia::Webhook
    };
    invoices::mark_paid_in(conn, &event.shop_uid, id, via, event.created_at).await?;
    Ok(Applied::default())
}

async fn stripe_event(a: &mut Applier<'_>, event: &Event, p: &Value) -> Result<Applied> {
    let obj = &p["data"]["object"];
    let kind = event.kind.trim_start_matches("stripe.");
    let (outcome, amount_key) = match kind {
        "checkout.session.completed" if obj["payment_status"] == "paid" => {
            ("succeeded", "amount_total")
        }
        "checkout.session.async_payment_succeeded" => ("succeeded", "amount_total"),
        "checkout.session.async_payment_failed" => ("failed", "amount_total"),
        "payment_intent.payment_failed" => ("failed", "amount"),
        "charge.refunded" => ("refunded", "amount_refunded"),
        _ => return Ok(Applied::default()),
    };
    let amount = obj[amount_key]
        .as_i64()
        .ok_or_else(|| Error::InvalidInput(format!("{kind} without an integer {amount_key}")))?;
    let currency = obj["currency"]
        .as_str()
        .filter(|c| c.len() == 3)
        .ok_or_else(|| Error::InvalidInput(format!("{kind} without a currency")))?
        .to_ascii_uppercase();
    let invoice_id = obj["metadata"]["ziflow_invoice"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| obj["metadata"]["ziflow_invoice"].as_i64());
    let invoice = match invoice_id {
        Some(id) => invoices::get_in(a.conn().await?, &event.shop_uid, id).await?,
        None => None,
    };
    let mut invoice_paid = None;
    if let (Some(inv), "succeeded") = (&invoice, outcome) {
        if invoices::mark_paid_in(
            a.conn().await?,
            &event.shop_uid,
            inv.id,
            PaidVia::Webhook,
            event.created_at,
        )
        .await?
        {
            invoice_paid = Some(inv.id);
        }
    }
    a.payments.push(payments::Payment {
        shop: event.shop_uid.clone(),
        invoice_id: invoice.as_ref().map(|i| i.id),
        provider: "stripe",
        outcome,
        amount_minor: amount,
        currency: currency.clone(),
        occurred_at: event.created_at,
    });
    Ok(Applied {
        invoice_paid,
        payment: Some(PaymentApplied {
            outcome,
            amount: Money::new(amount, currency),
            invoice: invoice.map(|i| (i.number, i.customer_phone)),
        }),
    })
}

//! The payment jobs: what is enqueued (with the exact request fixed at that moment) and
//! what is recorded in the log once the provider has answered. The relay's job runner does
//! the provider call in between, outside any transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::SqliteConnection;

use super::{step_key, CreatedLink, LinkRequest, RefundRequest};
use crate::command::record;
use crate::storage::{invoices, jobs};
use crate::Result;

/// A job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Make the invoice's pay link, then record `invoice.sent`.
    CreateLink {
        /// Which provider.
        provider: String,
        /// The request, fixed when the invoice was sent.
        request: LinkRequest,
    },
    /// The link's 48 hours are up: deactivate it and record `invoice.expired`, unless paid.
    ExpireLink {
        /// Which provider.
        provider: String,
        /// The invoice.
        invoice_id: i64,
        /// The provider's id of the link.
        reference: String,
    },
    /// Move a new subscription's first charge to the date the invoice says.
    AlignFirstCharge {
        /// Which provider.
        provider: String,
        /// The invoice.
        invoice_id: i64,
        /// The provider's subscription id.
        subscription_ref: String,
        /// Unix seconds.
        first_charge_at: i64,
    },
    /// Refund through the provider; the state follows its `charge.refunded` event.
    Refund {
        /// Which provider.
        provider: String,
        /// The refund.
        request: RefundRequest,
    },
}

impl Work {
    /// The job kind stored with it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateLink { .. } => "pay.create_link",
            Self::ExpireLink { .. } => "pay.expire_link",
            Self::AlignFirstCharge { .. } => "pay.align_first_charge",
            Self::Refund { .. } => "pay.refund",
        }
    }

    /// The provider it goes to.
    pub fn provider(&self) -> &str {
        match self {
            Self::CreateLink { provider, .. }
            | Self::ExpireLink { provider, .. }
            | Self::AlignFirstCharge { provider, .. }
            | Self::Refund { provider, .. } => provider,
        }
    }

    /// The invoice it is for.
    pub fn invoice_id(&self) -> i64 {
        match self {
            Self::CreateLink { request, .. } => request.invoice_id,
            Self::ExpireLink { invoice_id, .. } | Self::AlignFirstCharge { invoice_id, .. } => {
                *invoice_id
            }
            Self::Refund { request, .. } => request.invoice_id,
        }
    }
}

/// Enqueues `work` for `shop`, due at `run_at`, under the step key of its invoice. Enqueueing
/// the same step again is a no-op. Returns the job id.
pub async fn enqueue_in(
    conn: &mut SqliteConnection,
    shop: &str,
    work: &Work,
    step: &str,
    run_at: i64,
    now: i64,
) -> Result<i64> {
    let key = step_key(shop, work.invoice_id(), step);
    let payload = serde_json::to_value(work)
        .map_err(|e| crate::Error::InvalidInput(format!("job payload: {e}")))?;
    jobs::enqueue_in(conn, shop, work.kind(), &key, &payload, run_at, now).await
}

/// The provider made the link: record `invoice.sent` (once) and schedule the expiry.
/// Returns the events appended.
pub async fn link_created(
    conn: &mut SqliteConnection,
    shop: &str,
    provider: &str,
    req: &LinkRequest,
    link: &CreatedLink,
    now: i64,
) -> Result<Vec<i64>> {
    let Some(invoice) = invoices::get_in(conn, shop, req.invoice_id).await? else {
        return Ok(Vec::new());
    };
    if invoice.pay_link.is_some() {
        return Ok(Vec::new());
    }
    let payload = json!({
        "invoice_id": req.invoice_id,
        "provider": provider,
        "link": link.url,
        "reference": link.reference,
        "token": (provider == "sandbox").then_some(&link.reference),
        "expires_at": req.expires_at,
    });
    let id = record(conn, shop, "invoice.sent", &payload, now).await?;
    let mut ids = vec![id];
    let notify: bool = sqlx::query_scalar("SELECT notify_customer FROM invoices WHERE id = ?")
        .bind(req.invoice_id)
        .fetch_one(&mut *conn)
        .await?;
    if notify {
        // The bot's invoice: its message, with the link, goes to the customer now.
        let text = invoice_message(conn, shop, req.invoice_id, &link.url).await?;
        let payload = json!({ "to": invoice.customer_phone, "text": text, "by": "bot",
                              "invoice_id": req.invoice_id });
        ids.push(record(conn, shop, "message.sent", &payload, now).await?);
    }
    let expire = Work::ExpireLink {
        provider: provider.to_string(),
        invoice_id: req.invoice_id,
        reference: link.reference.clone(),
    };
    enqueue_in(conn, shop, &expire, "expire", req.expires_at, now).await?;
    if invoice.kind == "one_time" {
        // Unpaid, it gets the shop's payment reminders.
        crate::reminders::start_in(conn, shop, req.invoice_id, now, now).await?;
    }
    Ok(ids)
}

/// The invoice's message from the shop's template (Templates → Invoice).
async fn invoice_message(
    conn: &mut SqliteConnection,
    shop: &str,
    invoice_id: i64,
    link: &str,
) -> Result<String> {
    use crate::template::{InvoiceMessage, Template, DEFAULT_INVOICE, INVOICE_VARIABLES};
    let inv = invoices::get_in(conn, shop, invoice_id)
        .await?
        .ok_or_else(|| crate::Error::NotFound(format!("invoice {invoice_id}")))?;
    let items = invoices::items_in(conn, invoice_id).await?;
    let template = crate::storage::settings::get_in(conn, shop, "template.invoice")
        .await?
        .and_then(|t| crate::template::parse_invoice(&t).ok())
        .or_else(|| Template::parse(DEFAULT_INVOICE, INVOICE_VARIABLES).ok())
        .ok_or_else(|| crate::Error::InvalidInput("no usable invoice template".into()))?;
    let (shop_name, customer): (String, Option<String>) = sqlx::query_as(
        "SELECT s.name, c.customer_name FROM shops s
         LEFT JOIN conversations c ON c.shop_uid = s.uid AND c.customer_phone = ?
         WHERE s.uid = ?",
    )
    .bind(&inv.customer_phone)
    .bind(shop)
    .fetch_one(&mut *conn)
    .await?;
    let customer = customer.unwrap_or_else(|| ziflow_protocol::display_phone(&inv.customer_phone));
    Ok(InvoiceMessage {
        items: &items,
        shipping_minor: inv.shipping_minor,
        currency: &inv.currency,
        total_minor: inv.total_minor,
        link,
        expires: "in 48 hours",
        order: inv.number,
        customer: &customer,
        shop: &shop_name,
    }
    .render(&template))
}

/// Whether an expiry still has work: an invoice paid meanwhile keeps its state.
pub async fn still_unpaid(
    conn: &mut SqliteConnection,
    shop: &str,
    invoice_id: i64,
) -> Result<bool> {
    Ok(invoices::get_in(conn, shop, invoice_id)
        .await?
        .is_some_and(|i| i.paid_at.is_none() && i.expired_at.is_none()))
}

/// The link is deactivated: record `invoice.expired` unless the invoice was paid meanwhile.
pub async fn link_expired(
    conn: &mut SqliteConnection,
    shop: &str,
    invoice_id: i64,
    now: i64,
) -> Result<Vec<i64>> {
    if !still_unpaid(conn, shop, invoice_id).await? {
        return Ok(Vec::new());
    }
    let payload = json!({ "invoice_id": invoice_id, "reason": "link_expired" });
    Ok(vec![
        record(conn, shop, "invoice.expired", &payload, now).await?,
    ])
}

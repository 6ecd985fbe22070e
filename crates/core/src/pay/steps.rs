//! What a provider call's result records: the pay link made (`invoice.sent`, the bot's
//! invoice message, the expiry job, the payment reminders) and the link expired
//! (`invoice.expired`). The relay's `pay.*` jobs call these inside their recording
//! transaction.

use crate::storage::Conn;

use super::work::{enqueue_in, Work};
use super::{CreatedLink, LinkRequest};
use crate::log::record;
use crate::storage::invoices;
use crate::Result;
use ziflow_protocol::event as ev;
use ziflow_protocol::Event;

/// The provider made the link: record `invoice.sent` (once) and schedule the expiry.
/// Returns the events appended.
pub async fn link_created(
    conn: &mut Conn,
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
    let sent = Event::InvoiceSent(ev::InvoiceSent {
        invoice_id: req.invoice_id,
        provider: provider.to_string(),
        link: link.url.clone(),
        reference: Some(link.reference.clone()),
        token: (provider == "sandbox").then(|| link.reference.clone()),
        expires_at: req.expires_at,
    });
    let id = record(conn, shop, &sent, now).await?;
    let mut ids = vec![id];
    if invoice.notify_customer {
        // The bot's invoice: its message, with the link, goes to the customer now.
        let text = invoice_message(conn, shop, req.invoice_id, &link.url).await?;
        let message = ev::MessageSent {
            invoice_id: Some(req.invoice_id),
            ..ev::MessageSent::new(&invoice.customer_phone, text, "bot")
        };
        ids.push(record(conn, shop, &Event::MessageSent(message), now).await?);
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
    conn: &mut Conn,
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
    let (shop_name, customer) =
        crate::storage::conversations::names_in(conn, shop, &inv.customer_phone).await?;
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
pub async fn still_unpaid(conn: &mut Conn, shop: &str, invoice_id: i64) -> Result<bool> {
    Ok(invoices::get_in(conn, shop, invoice_id)
        .await?
        .is_some_and(|i| i.paid_at.is_none() && i.expired_at.is_none()))
}

/// The link is deactivated: record `invoice.expired` unless the invoice was paid meanwhile.
pub async fn link_expired(
    conn: &mut Conn,
    shop: &str,
    invoice_id: i64,
    now: i64,
) -> Result<Vec<i64>> {
    if !still_unpaid(conn, shop, invoice_id).await? {
        return Ok(Vec::new());
    }
    let expired = Event::InvoiceExpired(ev::InvoiceClosed {
        invoice_id,
        source_event: None,
        reason: Some("link_expired".into()),
    });
    Ok(vec![record(conn, shop, &expired, now).await?])
}

//! A due reminder step, run inside the relay's recording transaction: the reminder (unless
//! paid, opted out or expired), `invoice.reminded`, and after the last step the abandonment
//! and the hand-off. Also the "shipped" message's wording.

use crate::storage::Conn;

use super::{
    default_shipped, default_text, enqueue_step, hours_in, step_time, RemindWork, REPLY,
    SHIPPED_REPLY, SHIPPED_VARIABLES, VARIABLES,
};
use crate::agent::wording::{customer_lang, shop_reply};
use crate::agent::Lang;
use crate::log::record;
use crate::storage::invoices;
use crate::Result;
use ziflow_protocol::event as ev;
use ziflow_protocol::Event;

/// Runs a due step at `now` inside the caller's transaction; returns the events recorded.
pub async fn remind_in(
    conn: &mut Conn,
    shop: &str,
    work: &RemindWork,
    now: i64,
) -> Result<Vec<i64>> {
    let Some(inv) = invoices::get_in(conn, shop, work.invoice_id).await? else {
        return Ok(Vec::new());
    };
    if inv.paid_at.is_some() || inv.abandoned_at.is_some() || inv.status == "draft" {
        return Ok(Vec::new()); // paid (or already over): the chain ends
    }
    let hours = hours_in(conn, shop).await?;
    let sent_at = inv.sent_at.unwrap_or(inv.created_at);
    // Down past several points: only the furthest one due goes out.
    let mut step = work.step;
    while step + 1 < hours.len() && step_time(sent_at, hours[step + 1], inv.link_expires_at) <= now
    {
        step += 1;
    }
    if step >= hours.len() {
        return Ok(Vec::new()); // the schedule was shortened under it
    }
    let last = step + 1 == hours.len();
    let opted_out = crate::storage::conversations::reach_in(conn, shop, &inv.customer_phone)
        .await?
        .is_some_and(|r| r.opted_out);
    let link_live = inv.link_expires_at.is_none_or(|e| now < e);
    let mut ids = Vec::new();
    let why_not = match (&inv.pay_link, opted_out, link_live) {
        (_, true, _) => Some("the customer opted out (STOP)"),
        (_, _, false) => Some("the pay link expired"),
        (None, _, _) => Some("the invoice has no pay link"),
        (Some(_), false, true) => None,
    };
    if let (None, Some(link)) = (why_not, &inv.pay_link) {
        let text = reminder_text(conn, shop, &inv, link).await?;
        let reminder = ev::MessageSent {
            invoice_id: Some(inv.id),
            reminder: Some(i64::try_from(step + 1).unwrap_or(i64::MAX)),
            ..ev::MessageSent::new(&inv.customer_phone, text, "reminder")
        };
        ids.push(record(conn, shop, &Event::MessageSent(reminder), now).await?);
    }
    let reminded = Event::InvoiceReminded(ev::InvoiceReminded {
        invoice_id: Some(inv.id),
        reminder: i64::try_from(step + 1).unwrap_or(i64::MAX),
        sent: why_not.is_none(),
        skipped: why_not.map(str::to_string),
    });
    ids.push(record(conn, shop, &reminded, now).await?);
    if last {
        let n = hours.len();
        ids.push(
            record(
                conn,
                shop,
                &Event::InvoiceAbandoned(ev::InvoiceAbandoned {
                    invoice_id: inv.id,
                    reminders: i64::try_from(n).ok(),
                }),
                now,
            )
            .await?,
        );
        let reason = format!(
            "payment abandoned: order #{} unpaid after {n} reminders",
            inv.number
        );
        ids.push(
            record(
                conn,
                shop,
                &Event::ConversationHandoff(ev::Handoff {
                    phone: inv.customer_phone.clone(),
                    reason: Some(reason),
                    by: Some("reminder".into()),
                }),
                now,
            )
            .await?,
        );
    } else {
        enqueue_step(conn, shop, inv.id, step + 1, sent_at, &hours, now).await?;
    }
    Ok(ids)
}

async fn reminder_text(
    conn: &mut Conn,
    shop: &str,
    inv: &invoices::InvoiceRow,
    link: &str,
) -> Result<String> {
    let lang = customer_lang(conn, shop, &inv.customer_phone).await?;
    let amount = ziflow_protocol::Money::new(inv.total_minor, inv.currency.clone()).display();
    shop_reply(
        conn,
        shop,
        lang,
        REPLY,
        default_text(lang == Lang::Es),
        VARIABLES,
        |v| match v {
            "order" => inv.number.to_string(),
            "amount" => amount.clone(),
            _ => link.to_string(),
        },
    )
    .await
}

/// The "shipped" message for `inv`, in the customer's language and the shop's wording.
pub async fn shipped_text(
    conn: &mut Conn,
    shop: &str,
    inv: &invoices::InvoiceRow,
) -> Result<String> {
    let lang = customer_lang(conn, shop, &inv.customer_phone).await?;
    let address = inv.address.clone().unwrap_or_else(|| "you".into());
    let default = default_shipped(lang == Lang::Es);
    shop_reply(
        conn,
        shop,
        lang,
        SHIPPED_REPLY,
        default,
        SHIPPED_VARIABLES,
        |v| match v {
            "order" => inv.number.to_string(),
            _ => address.clone(),
        },
    )
    .await
}

//! Payment reminders (AI Agent → Scenarios → Payment → Retry): an unpaid invoice gets a
//! reminder at each point of the shop's schedule (hours after it was sent; 2, 24 and 48 by
//! default; one due at or after the link's expiry goes ten minutes before it); after the
//! last it is abandoned — `invoice.abandoned`, and the conversation goes to
//! a person. Each step is a durable job (`invoice.remind`, key `…-inv<id>-remind<step>`) that
//! the relay runs in one transaction with what it records, so a reminder goes out exactly once
//! across restarts. A relay that was down past several steps sends only the furthest one due
//! when it returns. A paid invoice gets none; a customer who wrote STOP gets none (the steps
//! still pass, so abandonment still comes); an expired link is not sent again. Editing the
//! schedule moves the waiting steps of invoices already sent.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::SqliteConnection;

use crate::agent::run::{customer_lang, shop_reply};
use crate::agent::Lang;
use crate::command::record;
use crate::pay::step_key;
use crate::storage::{invoices, jobs};
use crate::{Error, Result};

/// The job kind.
pub const KIND: &str = "invoice.remind";

/// Hours after sending, by default.
pub const DEFAULT_HOURS: &[i64] = &[2, 24, 48];

/// The reply key of the reminder's text (editable like the agent's replies).
pub const REPLY: &str = "reminder";

/// The variables the reminder's text may use.
pub const VARIABLES: &[&str] = &["order", "amount", "link"];

/// The built-in reminder.
pub fn default_text(spanish: bool) -> &'static str {
    if spanish {
        "Un recordatorio: tu pedido #{order} ({amount}) está pendiente de pago. Paga aquí: {link}"
    } else {
        "A quick reminder: your order #{order} ({amount}) is waiting for payment. Pay here: {link}"
    }
}

/// A reminder step's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemindWork {
    /// The invoice.
    pub invoice_id: i64,
    /// Which point of the schedule (0 = the first).
    pub step: usize,
}

/// Reads a schedule as the owner types it ("2, 24, 48"): whole hours, rising, 1 to 720,
/// at most 10.
pub fn parse_hours(text: &str) -> Result<Vec<i64>> {
    let hours: Vec<i64> = text
        .split([',', ' ', ';'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| Error::InvalidInput(format!("{s:?} is not a whole number of hours")))
        })
        .collect::<Result<_>>()?;
    check_hours(&hours)?;
    Ok(hours)
}

/// Checks a schedule.
pub fn check_hours(hours: &[i64]) -> Result<()> {
    if hours.is_empty() || hours.len() > 10 {
        return Err(Error::InvalidInput(
            "give 1 to 10 reminder times, in hours after sending (like 2, 24, 48)".into(),
        ));
    }
    if hours.iter().any(|h| !(1..=720).contains(h)) {
        return Err(Error::InvalidInput(
            "each reminder is 1 to 720 hours after sending".into(),
        ));
    }
    if hours.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidInput(
            "reminder times go up: each later than the one before".into(),
        ));
    }
    Ok(())
}

/// The shop's schedule.
pub async fn hours_in(conn: &mut SqliteConnection, shop: &str) -> Result<Vec<i64>> {
    Ok(
        crate::storage::settings::get_in(conn, shop, "reminders.hours")
            .await?
            .and_then(|t| parse_hours(&t).ok())
            .unwrap_or_else(|| DEFAULT_HOURS.to_vec()),
    )
}

/// How long before its pay link expires a reminder that would come later is sent instead.
pub const BEFORE_EXPIRY_SECS: i64 = 10 * 60;

/// When a step of `hours` goes out for an invoice sent at `sent_at` whose link expires at
/// `expires_at`: a reminder due at or after the expiry is sent ten minutes before it (a
/// reminder with a dead link helps no one), so 2, 24, 48 with 48-hour links is 2 h, 24 h and
/// 47 h 50 min.
pub fn step_time(sent_at: i64, hours: i64, expires_at: Option<i64>) -> i64 {
    let at = sent_at + hours * 3600;
    match expires_at {
        Some(e) if at > e - BEFORE_EXPIRY_SECS => (e - BEFORE_EXPIRY_SECS).max(sent_at),
        _ => at,
    }
}

/// Enqueues `step` of `invoice_id` (sent at `sent_at`), if the schedule has it.
async fn enqueue_step(
    conn: &mut SqliteConnection,
    shop: &str,
    invoice_id: i64,
    step: usize,
    sent_at: i64,
    hours: &[i64],
    now: i64,
) -> Result<()> {
    let Some(h) = hours.get(step) else {
        return Ok(());
    };
    let expires_at = invoices::get_in(conn, shop, invoice_id)
        .await?
        .and_then(|i| i.link_expires_at);
    let work = RemindWork { invoice_id, step };
    let payload =
        serde_json::to_value(&work).map_err(|e| Error::InvalidInput(format!("job: {e}")))?;
    let key = step_key(shop, invoice_id, &format!("remind{step}"));
    let at = step_time(sent_at, *h, expires_at);
    jobs::enqueue_in(conn, shop, KIND, &key, &payload, at, now).await?;
    Ok(())
}

/// Starts the reminders of an invoice just sent.
pub async fn start_in(
    conn: &mut SqliteConnection,
    shop: &str,
    invoice_id: i64,
    sent_at: i64,
    now: i64,
) -> Result<()> {
    let hours = hours_in(conn, shop).await?;
    enqueue_step(conn, shop, invoice_id, 0, sent_at, &hours, now).await
}

/// Runs a due step at `now` inside the caller's transaction; returns the events recorded.
pub async fn remind_in(
    conn: &mut SqliteConnection,
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
    let opted_out: bool = sqlx::query_scalar(
        "SELECT opted_out FROM conversations WHERE shop_uid = ? AND customer_phone = ?",
    )
    .bind(shop)
    .bind(&inv.customer_phone)
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(false);
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
        let payload = json!({ "to": inv.customer_phone, "text": text, "by": "reminder",
                              "invoice_id": inv.id, "reminder": step + 1 });
        ids.push(record(conn, shop, "message.sent", &payload, now).await?);
    }
    let payload = json!({ "invoice_id": inv.id, "reminder": step + 1, "sent": why_not.is_none(),
                          "skipped": why_not });
    ids.push(record(conn, shop, "invoice.reminded", &payload, now).await?);
    if last {
        let n = hours.len();
        ids.push(
            record(
                conn,
                shop,
                "invoice.abandoned",
                &json!({ "invoice_id": inv.id, "reminders": n }),
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
                "conversation.handoff",
                &json!({ "phone": inv.customer_phone, "reason": reason, "by": "reminder" }),
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
    conn: &mut SqliteConnection,
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

/// A new schedule applies to invoices already waiting: their pending step moves to the new
/// time of that step (or ends, if the schedule has fewer steps now).
pub async fn reschedule_in(conn: &mut SqliteConnection, shop: &str, now: i64) -> Result<()> {
    let hours = hours_in(conn, shop).await?;
    let pending: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, payload FROM jobs WHERE shop_uid = ? AND kind = ? AND state = 'pending'",
    )
    .bind(shop)
    .bind(KIND)
    .fetch_all(&mut *conn)
    .await?;
    for (job, payload) in pending {
        let Ok(work) = serde_json::from_str::<RemindWork>(&payload) else {
            continue;
        };
        let inv = invoices::get_in(conn, shop, work.invoice_id).await?;
        let sent_at = inv.as_ref().and_then(|i| i.sent_at);
        let expires_at = inv.as_ref().and_then(|i| i.link_expires_at);
        let (Some(sent_at), Some(h)) = (sent_at, hours.get(work.step)) else {
            sqlx::query(
                "UPDATE jobs SET state = 'done', finished_at = ?,
                     last_error = 'the reminder schedule has no such step any more' WHERE id = ?",
            )
            .bind(now)
            .bind(job)
            .execute(&mut *conn)
            .await?;
            continue;
        };
        sqlx::query("UPDATE jobs SET run_at = ? WHERE id = ?")
            .bind(step_time(sent_at, *h, expires_at))
            .bind(job)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The reply key of the "shipped" message (Ready-to-ship board → Shipped).
pub const SHIPPED_REPLY: &str = "shipped";

/// The variables the "shipped" message may use.
pub const SHIPPED_VARIABLES: &[&str] = &["order", "address"];

/// The built-in "shipped" message.
pub fn default_shipped(spanish: bool) -> &'static str {
    if spanish {
        "¡Buenas noticias! Tu pedido #{order} va en camino a {address}."
    } else {
        "Good news! Your order #{order} is on its way to {address}."
    }
}

/// The "shipped" message for `inv`, in the customer's language and the shop's wording.
pub async fn shipped_text(
    conn: &mut SqliteConnection,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_read_as_typed_and_refused_when_they_make_no_sense() {
        assert_eq!(parse_hours("2, 24, 48").unwrap(), vec![2, 24, 48]);
        assert_eq!(parse_hours("1 6").unwrap(), vec![1, 6]);
        assert!(parse_hours("24, 2").is_err(), "not rising");
        assert!(parse_hours("0").is_err());
        assert!(parse_hours("2h").is_err());
        assert!(parse_hours("").is_err());
    }
}

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
//!
//! This module holds the schedule and the texts' defaults; [`send`] runs a due step and
//! words the messages (in the customer's language, with the shop's own wording).

pub mod send;

use crate::storage::Conn;
use serde::{Deserialize, Serialize};

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
pub async fn hours_in(conn: &mut Conn, shop: &str) -> Result<Vec<i64>> {
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
pub(crate) async fn enqueue_step(
    conn: &mut Conn,
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
    conn: &mut Conn,
    shop: &str,
    invoice_id: i64,
    sent_at: i64,
    now: i64,
) -> Result<()> {
    let hours = hours_in(conn, shop).await?;
    enqueue_step(conn, shop, invoice_id, 0, sent_at, &hours, now).await
}

/// A new schedule applies to invoices already waiting: their pending step moves to the new
/// time of that step (or ends, if the schedule has fewer steps now).
pub async fn reschedule_in(conn: &mut Conn, shop: &str, now: i64) -> Result<()> {
    let hours = hours_in(conn, shop).await?;
    let pending = jobs::pending_of_kind_in(conn, shop, KIND).await?;
    for (job, payload) in pending {
        let Ok(work) = serde_json::from_str::<RemindWork>(&payload) else {
            continue;
        };
        let inv = invoices::get_in(conn, shop, work.invoice_id).await?;
        let sent_at = inv.as_ref().and_then(|i| i.sent_at);
        let expires_at = inv.as_ref().and_then(|i| i.link_expires_at);
        let (Some(sent_at), Some(h)) = (sent_at, hours.get(work.step)) else {
            jobs::end_in(
                conn,
                job,
                "the reminder schedule has no such step any more",
                now,
            )
            .await?;
            continue;
        };
        jobs::move_in(conn, job, step_time(sent_at, *h, expires_at)).await?;
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

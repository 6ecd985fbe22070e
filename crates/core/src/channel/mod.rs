//! The customer channel. Messages the shop sends are `message.sent` events; on a shop whose
//! channel is WhatsApp each one becomes a durable job that the relay's runner posts to the
//! Cloud API ([`whatsapp`]), and the answer (its wamid, or why not) is recorded as
//! `message.delivery`. Statuses (sent, delivered, read, failed) come back as webhooks and are
//! kept per wamid, in whatever order they arrive. On the sandbox channel the sandbox chat page
//! reads the log instead and nothing is posted.
//!
//! What is sent is decided when the job runs, from the conversation as it is then:
//! - a customer who wrote STOP (and has not written since) gets nothing from the bot;
//! - outside the 24-hour customer-service window (only a customer message opens it) the text
//!   goes inside the shop's approved template;
//! - an invoice's message carries its pay link as a "Pay $128" button, a plain link, or
//!   both, as the payment scenario says.

pub mod whatsapp;

#[cfg(test)]
mod tests {
    #[test]
    fn a_button_only_message_loses_the_sentence_with_the_link() {
        let link = "http://127.0.0.1:9/sandbox/pay/pay_x";
        let text = format!(
            "Your order: Gel cleanser $28, shipping $6. Total: $34. Pay here: {link}. Link expires in 48 hours."
        );
        assert_eq!(
            super::without_link(&text, link),
            "Your order: Gel cleanser $28, shipping $6. Total: $34. Link expires in 48 hours."
        );
        let lines = format!("Hi Ana!\nPay: {link}\nThanks");
        assert_eq!(super::without_link(&lines, link), "Hi Ana!\nThanks");
    }
}

use crate::storage::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::storage::{invoices, jobs, settings};
use crate::{Error, Result};

/// How long a customer's message keeps the window open.
pub const WINDOW_SECS: i64 = 24 * 60 * 60;

/// The template used outside the window unless the shop names another
/// (setting `whatsapp.template`): one body variable that carries the message.
pub const DEFAULT_TEMPLATE: &str = "ziflow_update";

/// A channel job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum ChannelWork {
    /// Post the `message.sent` event `event_id` to the customer.
    Send {
        /// The event.
        event_id: i64,
    },
    /// Mark an inbound message read.
    MarkRead {
        /// WhatsApp's id of the message.
        wamid: String,
    },
}

impl ChannelWork {
    /// The job kind stored with it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Send { .. } => "wa.send",
            Self::MarkRead { .. } => "wa.mark_read",
        }
    }

    /// Its idempotency key: one job per message.
    pub fn key(&self, shop: &str) -> String {
        match self {
            Self::Send { event_id } => format!("ziflow-{shop}-msg{event_id}"),
            Self::MarkRead { wamid } => format!("ziflow-{shop}-read-{wamid}"),
        }
    }
}

/// Enqueues `work` (once per key), due now.
pub async fn enqueue_in(conn: &mut Conn, shop: &str, work: &ChannelWork, now: i64) -> Result<i64> {
    let payload =
        serde_json::to_value(work).map_err(|e| Error::InvalidInput(format!("job payload: {e}")))?;
    jobs::enqueue_in(conn, shop, work.kind(), &work.key(shop), &payload, now, now).await
}

/// Whether the shop talks to customers over the real WhatsApp Cloud API.
pub async fn is_whatsapp_in(conn: &mut Conn, shop: &str) -> Result<bool> {
    Ok(settings::get_in(conn, shop, "channel").await?.as_deref() == Some("whatsapp"))
}

/// How an invoice's pay link goes out (AI Agent → Scenarios → Payment → link style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkStyle {
    /// The link in the text.
    Link,
    /// A "Pay $128" button (Apple Pay and Google Pay open from the checkout it leads to).
    Button,
    /// The button, with the link in the text as well.
    #[default]
    Both,
}

impl LinkStyle {
    /// From the setting's value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "link" => Some(Self::Link),
            "button" => Some(Self::Button),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Button => "button",
            Self::Both => "both",
        }
    }
}

/// What the runner does with a `message.sent`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Post this JSON to `/messages`.
    Send(Value),
    /// Send nothing, for this reason (recorded on the message).
    Skip(String),
}

/// Decides what the `message.sent` event `event_id` becomes at `now`.
pub async fn prepare_in(conn: &mut Conn, shop: &str, event_id: i64, now: i64) -> Result<Outgoing> {
    let payload =
        crate::storage::events::payload_of_in(conn, shop, event_id, "message.sent").await?;
    let Some(payload) = payload else {
        return Ok(Outgoing::Skip(format!("no message {event_id} to send")));
    };
    let Ok(ziflow_protocol::Event::MessageSent(message)) =
        ziflow_protocol::Event::parse("message.sent", &payload)
    else {
        return Ok(Outgoing::Skip(
            "the message has no recipient or text".into(),
        ));
    };
    let (to, text, by) = (
        message.to.as_str(),
        message.text.as_str(),
        message.by.as_str(),
    );
    let reach = crate::storage::conversations::reach_in(conn, shop, to).await?;
    let (last_inbound, opted_out) =
        reach.map_or((None, false), |r| (r.last_inbound_at, r.opted_out));
    if opted_out && by != "rep" {
        return Ok(Outgoing::Skip(
            "not sent: the customer opted out (STOP) and has not written since".into(),
        ));
    }
    let window_open = last_inbound.is_some_and(|t| t > 0 && now < t + WINDOW_SECS);
    if !window_open {
        let name = settings::get_in(conn, shop, "whatsapp.template")
            .await?
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
        let lang = language_in(conn, shop, to).await?;
        return Ok(Outgoing::Send(whatsapp::template(
            to,
            &name,
            &lang,
            &[text],
        )));
    }
    let invoice = match message.invoice_id {
        Some(id) if message.link != Some(false) => invoices::get_in(conn, shop, id).await?,
        _ => None,
    };
    if let Some((inv, link)) = invoice.and_then(|i| i.pay_link.clone().map(|l| (i, l))) {
        if text.contains(&link) {
            let style = settings::get_in(conn, shop, "scenario.link_style")
                .await?
                .and_then(|s| LinkStyle::parse(&s))
                .unwrap_or_default();
            let label = format!(
                "{} {}",
                pay_word(&language_in(conn, shop, to).await?),
                ziflow_protocol::Money::new(inv.total_minor, inv.currency).display()
            );
            return Ok(Outgoing::Send(match style {
                LinkStyle::Link => whatsapp::text(to, text, true),
                LinkStyle::Both => whatsapp::cta_url(to, text, &label, &link),
                LinkStyle::Button => {
                    whatsapp::cta_url(to, &without_link(text, &link), &label, &link)
                }
            }));
        }
    }
    Ok(Outgoing::Send(whatsapp::text(
        to,
        text,
        text.contains("https://"),
    )))
}

/// The text with the sentence that holds `link` taken out (the button carries it).
pub fn without_link(text: &str, link: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .filter_map(|line| {
            if !line.contains(link) {
                return Some(line.to_string());
            }
            let kept: Vec<&str> = line
                .split_inclusive(". ")
                .filter(|sentence| !sentence.contains(link))
                .collect();
            let kept = kept.concat().trim().to_string();
            (!kept.is_empty()).then_some(kept)
        })
        .collect();
    lines.join("\n").trim().to_string()
}

fn pay_word(lang: &str) -> &'static str {
    if lang.starts_with("es") {
        "Pagar"
    } else {
        "Pay"
    }
}

/// The template language for a customer: the agent's idea of their language.
async fn language_in(conn: &mut Conn, shop: &str, phone: &str) -> Result<String> {
    Ok(
        if crate::agent::wording::customer_lang(conn, shop, phone).await? == crate::agent::Lang::Es
        {
            "es".into()
        } else {
            "en_US".into()
        },
    )
}

/// The `message.delivery` event that records what became of the `message.sent` `event_id`:
/// WhatsApp's id, or why it was not sent (for `log::record`).
pub fn delivery(event_id: i64, outcome: std::result::Result<&str, &str>) -> ziflow_protocol::Event {
    let (wamid, error) = match outcome {
        Ok(wamid) => (Some(wamid.to_string()), None),
        Err(why) => (None, Some(why.to_string())),
    };
    ziflow_protocol::Event::MessageDelivery(ziflow_protocol::event::MessageDelivery {
        event_id,
        wamid,
        error,
    })
}

/// A status of a sent message, from a webhook or the send's own answer.
pub async fn status_in(
    conn: &mut Conn,
    shop: &str,
    wamid: &str,
    status: &str,
    at: i64,
    error: Option<&str>,
) -> Result<()> {
    if !matches!(
        status,
        "accepted" | "sent" | "delivered" | "read" | "failed"
    ) {
        return Err(Error::InvalidInput(format!(
            "unknown message status {status:?}"
        )));
    }
    crate::storage::conversations::record_status_in(conn, shop, wamid, status, at, error).await
}

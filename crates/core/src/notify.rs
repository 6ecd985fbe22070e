//! Notifications: the shop's people told on Telegram, Slack, email or the desk's OS
//! notification when something happens to a customer. A rule's `notify` action (see
//! [`crate::crm`]) renders the event's template once, when the event is applied, and
//! enqueues one durable job per outside channel (key: shop, event, rule, action, channel), so
//! each notification is sent once whatever restarts; desks show the desktop ones.
//!
//! Each attempt's outcome is recorded as `notification.result` — the owner sees the provider's
//! answer in Settings → Notifications and in the lead's history. Timeouts, 429 and 5xx come
//! back with backoff; a refusal (a wrong token) is shown and not retried.

use crate::storage::Conn;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ziflow_protocol::automation::{channel_label, NotifySettings, Trigger};

use crate::storage::settings;
use crate::template::Template;
use crate::Result;

/// The job that posts one notification.
pub const KIND: &str = "notify.send";

/// The settings key of the channels' (public) settings.
pub const SETTINGS_KEY: &str = "notify";

/// Telegram's Bot API.
pub const DEFAULT_TELEGRAM_BASE: &str = "https://api.telegram.org";

/// How long one notification call may take before it is retried later.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a notification or a rule's message may say.
pub const VARIABLES: &[&str] = &[
    "amount", "phone", "order", "name", "text", "reason", "stage", "link", "shop",
];

/// The built-in notification text for `trigger`.
pub fn default_template(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::PaymentSucceeded => "Payment {amount} from {phone}, order #{order}",
        Trigger::PaymentFailed => "Payment of {amount} failed for {phone}, order #{order}",
        Trigger::InvoiceSent => "Invoice #{order} for {amount} sent to {phone}",
        Trigger::LinkExpired => {
            "The pay link of order #{order} ({amount}) expired unpaid — {phone}"
        }
        Trigger::ReminderExhausted => {
            "{phone} did not pay order #{order} ({amount}) after the reminders"
        }
        Trigger::MessageReceived => "{name} ({phone}): {text}",
        Trigger::Handoff => "{phone} needs a person: {reason}",
    }
}

/// The settings key of the shop's text for `trigger`.
pub fn template_key(trigger: Trigger) -> String {
    format!("template.notify.{}", trigger.key())
}

/// The shop's notification text for `trigger` (its own, else the built-in one).
pub async fn template_in(conn: &mut Conn, shop: &str, trigger: Trigger) -> Result<String> {
    Ok(settings::get_in(conn, shop, &template_key(trigger))
        .await?
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| default_template(trigger).to_string()))
}

/// The shop's channels.
pub async fn settings_in(conn: &mut Conn, shop: &str) -> Result<NotifySettings> {
    Ok(settings::get_in(conn, shop, SETTINGS_KEY)
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Renders `text` (checked when saved) with `vars`; unknown placeholders stay as written.
pub fn render(text: &str, vars: &[(&str, String)]) -> String {
    match Template::parse(text, VARIABLES) {
        Ok(t) => t.render(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }),
        Err(_) => text.to_string(),
    }
}

/// One notification to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyWork {
    /// `telegram`, `slack` or `email`.
    pub channel: String,
    /// What it says.
    pub text: String,
    /// The customer it is about (E.164), for the lead's history.
    pub phone: Option<String>,
    /// The event that caused it, in words (the email's subject).
    pub subject: String,
}

/// A desktop notification a desk shows when it applies the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopNote {
    /// Title line.
    pub title: String,
    /// Body text.
    pub body: String,
    /// The order a click opens.
    pub order: Option<i64>,
}

/// How a channel's call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered; the provider's answer.
    Sent(String),
    /// Try again later; why.
    Retry(String),
    /// Refused (will not work until the settings change); the provider's words.
    Refused(String),
}

impl Outcome {
    /// How an HTTP answer reads: 2xx sent, 408/429/5xx again later, other refusals.
    pub fn of_http(status: u16, body: &str) -> Self {
        let said = crate::net::short_answer(status, body);
        match status {
            200..=299 => Self::Sent(said),
            408 | 429 | 500..=599 => Self::Retry(said),
            _ => Self::Refused(said),
        }
    }
}

/// Telegram's `sendMessage` call: the URL (with the token) and the JSON body.
pub fn telegram_request(base: &str, token: &str, chat_id: &str, text: &str) -> (String, Value) {
    (
        format!("{}/bot{token}/sendMessage", base.trim_end_matches('/')),
        json!({ "chat_id": chat_id, "text": text, "disable_web_page_preview": true }),
    )
}

/// Slack's incoming-webhook body. The text is escaped as Slack asks (`&`, `<`, `>`), so a
/// customer's words cannot become a mention (`<!channel>`) or a disguised link.
pub fn slack_body(text: &str) -> Value {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    json!({ "text": escaped })
}

/// A Slack webhook address with its secret part hidden (`https://hooks.slack.com/services/T…/…`).
pub fn url_hint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

/// The lead-history line for a recorded attempt.
pub fn history_line(channel: &str, state: &str, attempts: i64, answer: &str) -> String {
    let label = channel_label(channel);
    match state {
        "sent" => format!("{label} notified"),
        "retrying" => {
            format!("{label} notification failed (attempt {attempts}): {answer}; retrying")
        }
        _ => format!("{label} notification failed after {attempts} attempts: {answer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_template_uses_only_known_variables() {
        for t in Trigger::ALL {
            Template::parse(default_template(t), VARIABLES).unwrap();
        }
        let text = render(
            default_template(Trigger::PaymentSucceeded),
            &[
                ("amount", "$128".into()),
                ("phone", "+1 512 555 0123".into()),
                ("order", "4821".into()),
            ],
        );
        assert_eq!(text, "Payment $128 from +1 512 555 0123, order #4821");
    }

    #[test]
    fn provider_answers_are_sorted_into_sent_again_and_refused() {
        assert!(matches!(Outcome::of_http(200, "ok"), Outcome::Sent(_)));
        assert!(matches!(Outcome::of_http(429, "slow"), Outcome::Retry(_)));
        assert!(matches!(Outcome::of_http(502, ""), Outcome::Retry(_)));
        assert_eq!(
            Outcome::of_http(401, "Unauthorized"),
            Outcome::Refused("HTTP 401: Unauthorized".into())
        );
        assert_eq!(
            url_hint("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
    }
}

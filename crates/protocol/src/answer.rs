//! What the relay answers to each device command (`POST /api/v1/commands`), typed: the relay
//! writes these, the desktop reads them. One struct per command, named after it
//! ([`InvoiceCreate`] answers `invoice.create`), and [`Refusal`] for every refused one.
//!
//! Invariants:
//! - An answer is stored as JSON with its idempotency key and replayed to a retry, so a
//!   field added later has a default (an answer stored by an older relay still reads).
//! - Readers ignore fields they do not know (a newer relay may say more).

use serde::{Deserialize, Serialize};

use crate::event::{ChannelConnected, LlmChanged};
use crate::ConnectStep;

/// A refused command (4xx, or 502 when a provider refused the work): the reason, and for
/// `billing.connect` the checks that ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// A stable code: `bad_request`, `not_found`, `forbidden`, `provider_refused`,
    /// `stripe_refused`, `whatsapp_refused`, `llm_refused`, `notify_refused`,
    /// `failed_again`, …
    #[serde(default)]
    pub error: String,
    /// What a person reads.
    #[serde(default)]
    pub message: String,
    /// `billing.connect`: each check of the key and whether it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<ConnectStep>,
}

impl Refusal {
    /// A refusal with `error` code and `message`.
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_string(),
            message: message.into(),
            steps: Vec::new(),
        }
    }
}

/// `invoice.create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceCreate {
    /// The new invoice.
    pub invoice_id: i64,
    /// Its number (`#1001`).
    pub number: i64,
    /// Items plus shipping, in minor units of its currency.
    pub total_minor: i64,
}

/// `invoice.send`: the pay link once there is one, else that it is on its way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSend {
    /// The invoice.
    pub invoice_id: i64,
    /// The pay link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// When the link stops working (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// `stripe` or `sandbox`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The provider is slow: the link comes later (through sync).
    #[serde(default)]
    pub pending: bool,
    /// Why it is pending, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// This request sent it (false: it had been sent before, same link).
    #[serde(default)]
    pub changed: bool,
}

/// `invoice.refund`: asked of the provider; the invoice changes when it confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRefund {
    /// The invoice.
    pub invoice_id: i64,
    /// The amount asked back, in minor units.
    pub refund_minor: i64,
    /// The provider has not confirmed yet.
    #[serde(default)]
    pub pending: bool,
    /// Why it is still pending, for a person (the provider did not answer in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `invoice.mark_paid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceMarkPaid {
    /// The invoice.
    pub invoice_id: i64,
    /// It is paid now.
    pub paid: bool,
    /// This request marked it (false: it was paid already).
    pub changed: bool,
}

/// `order.move`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMove {
    /// The order's invoice.
    pub invoice_id: i64,
    /// Where it is now.
    pub stage: String,
    /// This request moved it (false: it was there already).
    pub changed: bool,
}

/// `message.send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSend {
    /// Logged; the channel delivers it.
    pub sent: bool,
}

/// `conversation.bot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationBot {
    /// The customer.
    pub phone: String,
    /// Whether the bot answers them now.
    pub bot_enabled: bool,
}

/// `lead.update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadUpdate {
    /// The lead's customer.
    pub phone: String,
    /// Something changed.
    pub changed: bool,
}

/// `catalog.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSet {
    /// Products in the new catalog.
    pub products: usize,
    /// Shipping zones.
    pub zones: usize,
}

/// `agent_test.save` and `agent_test.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTest {
    /// The bot test.
    pub id: i64,
    /// Saved.
    #[serde(default)]
    pub saved: bool,
    /// Deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// A setting saved: `template.set`, `automations.set`, `pipeline.set` name the setting's
/// key; `scenario.set` has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Saved.
    pub saved: bool,
}

/// `billing.connect`: Stripe checked the key and it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingConnect {
    /// Connected.
    pub connected: bool,
    /// `stripe`.
    pub provider: String,
    /// `test` or `live`.
    pub mode: String,
    /// The key's last characters.
    pub key_hint: String,
    /// Each check that ran.
    #[serde(default)]
    pub steps: Vec<ConnectStep>,
}

/// An open invoice whose Stripe link could not be deactivated on disconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkLeftOpen {
    /// The invoice's number.
    pub number: i64,
    /// Its link.
    pub link: Option<String>,
}

/// `billing.disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDisconnect {
    /// Always false.
    pub connected: bool,
    /// The provider new invoices get: `sandbox` or `none`.
    pub provider: String,
    /// Open links expired.
    pub links_expired: usize,
    /// Links Stripe did not confirm deactivated (deactivate them in Stripe's dashboard).
    #[serde(default)]
    pub not_deactivated: Vec<LinkLeftOpen>,
}

/// `billing.webhook_secret` and `notify.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSaved {
    /// Saved.
    pub saved: bool,
    /// The secret's last characters (`billing.webhook_secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The channel (`notify.set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `whatsapp.connect` and `whatsapp.disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// On WhatsApp now.
    pub connected: bool,
    /// `whatsapp` or `sandbox`.
    pub channel: String,
    /// The number Meta confirmed (`whatsapp.connect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<ChannelConnected>,
}

/// `llm.set`: the model's settings as now stored (never the key).
pub type LlmSet = LlmChanged;

/// `notify.test`: the provider's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyTest {
    /// The channel tried.
    pub channel: String,
    /// It was delivered.
    pub ok: bool,
    /// What the provider said.
    pub answer: String,
}

/// `device.permit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePermit {
    /// The device.
    pub device_id: i64,
    /// What it may do now.
    pub can: Vec<String>,
}

/// `device.revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevoke {
    /// The device.
    pub device_id: i64,
    /// It is revoked.
    pub revoked: bool,
    /// This request revoked it (false: it was already).
    pub revoked_now: bool,
}

/// `event.retry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRetry {
    /// The event.
    pub event_id: i64,
    /// Applied now.
    pub applied: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_stored_by_the_earlier_relay_still_read() {
        // As the untyped relay wrote them (and a retry replays them from command_results).
        let sent: InvoiceSend = serde_json::from_str(
            r#"{"invoice_id":3,"link":"https://pay/x","expires_at":9,"provider":"stripe","changed":true,"pending":false}"#,
        )
        .expect("a sent answer reads");
        assert_eq!(sent.link.as_deref(), Some("https://pay/x"));
        let pending: InvoiceSend = serde_json::from_str(
            r#"{"invoice_id":3,"pending":true,"changed":true,"message":"Stripe is slow. ZiFlow keeps trying"}"#,
        )
        .expect("a pending answer reads");
        assert!(pending.pending && pending.link.is_none());
        let refused: Refusal =
            serde_json::from_str(r#"{"error":"not_found","message":"invoice 9 not found"}"#)
                .expect("a refusal reads");
        assert_eq!(refused, Refusal::new("not_found", "invoice 9 not found"));
        let made: InvoiceCreate = serde_json::from_str(
            r#"{"invoice_id":1,"number":1001,"total_minor":12800,"pending":false}"#,
        )
        .expect("extra fields are ignored");
        assert_eq!(made.number, 1001);
    }
}

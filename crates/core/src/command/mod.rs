//! Running a device's command against the shop's state, inside the caller's transaction,
//! appending the events it causes to the log.
//!
//! Layout: this file routes a command to its domain — `invoices` (create, send, refund,
//! mark paid, the board), `conversations` (messages, the bot switch, leads) and `setup`
//! (catalog, scenario, templates, automations, pipeline, bot tests) — and holds what they
//! share: [`Outcome`], [`Context`], [`answer`]. Provider connections, devices and set-aside
//! events are the relay's own (`ziflow_relay::commands`).

mod conversations;
pub mod invoices;
mod setup;

use crate::storage::Conn;
use serde_json::Value;
use ziflow_protocol::Command;

use crate::{Error, Result};

/// What a command did: its answer and the ids of the events it appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The JSON answer for the device.
    pub answer: Value,
    /// Events appended (for push wake-ups).
    pub event_ids: Vec<i64>,
    /// Jobs enqueued that the caller should run now (the answer waits for them).
    pub jobs: Vec<i64>,
}

/// Why an order cannot get a pay link: the shop has no payment provider (no Stripe, and
/// the relay runs no sandbox). The bot's hand-off reason and the composer say this.
pub const NO_PROVIDER: &str = "no payment provider connected";

/// How long a pay link works.
pub const LINK_LIFETIME_SECS: i64 = 48 * 3600;

/// Where the command runs.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The relay's address as customers reach it (for sandbox pay links).
    pub public_url: &'a str,
    /// The shop's payment provider now: `stripe` once connected, else `sandbox` where the
    /// relay runs one, else none — and then no pay link can be made.
    pub provider: Option<&'a str>,
}

/// Executes `cmd` for `shop` at `now`.
pub async fn execute(
    conn: &mut Conn,
    shop: &str,
    cmd: &Command,
    now: i64,
    ctx: &Context<'_>,
) -> Result<Outcome> {
    match cmd {
        Command::InvoiceCreate { .. }
        | Command::InvoiceSend { .. }
        | Command::InvoiceRefund { .. }
        | Command::InvoiceMarkPaid { .. }
        | Command::OrderMove { .. } => invoices::execute(conn, shop, cmd, now, ctx).await,
        Command::MessageSend { .. }
        | Command::ConversationBot { .. }
        | Command::LeadUpdate { .. } => conversations::execute(conn, shop, cmd, now).await,
        Command::CatalogSet { .. }
        | Command::ScenarioSet { .. }
        | Command::TemplateSet { .. }
        | Command::AutomationsSet { .. }
        | Command::PipelineSet { .. }
        | Command::AgentTestSave { .. }
        | Command::AgentTestDelete { .. } => setup::execute(conn, shop, cmd, now).await,
        Command::BillingConnect { .. }
        | Command::BillingWebhookSecret { .. }
        | Command::BillingDisconnect {}
        | Command::WhatsappConnect { .. }
        | Command::WhatsappDisconnect {}
        | Command::LlmSet { .. }
        | Command::NotifySet { .. }
        | Command::NotifyTest { .. } => Err(Error::InvalidInput(
            "connecting providers is done by the relay, which holds the shop's keys".into(),
        )),
        Command::DevicePermit { .. }
        | Command::DeviceRevoke { .. }
        | Command::EventRetry { .. } => Err(Error::InvalidInput(
            "devices and quarantined events are the relay's own; send this to the relay".into(),
        )),
    }
}

/// An answer as the JSON the relay stores and sends.
pub fn answer(answer: &impl serde::Serialize) -> Value {
    // These plain structs serialise without fail (string keys, no custom code).
    serde_json::to_value(answer).unwrap_or(Value::Null)
}

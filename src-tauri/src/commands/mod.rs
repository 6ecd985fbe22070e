//! The typed commands the UI invokes, one module per screen area. Each extracts its inputs,
//! reads the replica or calls one core function, and converts the result to a protocol DTO;
//! changes go to the relay through [`relay`] (one error conversion: `Error::from_relay`) and
//! come back through sync.
//!
//! - [`inbox`]: conversations, the thread, sending, the bot switch, search.
//! - [`invoices`]: the invoice list and composer, sending and refunding, the invoice message
//!   template, the payment feed.
//! - [`board`]: the "Ready to ship" board.
//! - [`crm`]: leads, automations, the pipeline, notifications.
//! - [`agent`]: the AI Agent screen (scenario, replies, catalog, the model);
//!   [`bottests`]: its bot tests.
//! - [`settings`]: the app, pairing, updates, devices, set-aside events, Stripe and WhatsApp.
//! - [`metrics`]: the owner's figures and their export.

pub mod agent;
pub mod board;
pub mod bottests;
pub mod crm;
pub mod inbox;
pub mod invoices;
pub mod metrics;
pub mod settings;

use ziflow_protocol as dto;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Sends `command` to the relay; a refusal comes back as `code` with the relay's words.
pub(crate) async fn relay(
    state: &AppState,
    command: dto::Command,
    code: dto::ErrorCode,
) -> Result<serde_json::Value> {
    state
        .session()
        .client
        .command(&command)
        .await
        .map_err(|e| Error::from_relay(e, code, "not saved"))
}

/// The time now, in Unix seconds.
pub(crate) fn time_now() -> i64 {
    use ziflow_core::Clock;
    ziflow_core::SystemClock.now()
}

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

/// Sends `command` to the relay for its effect; a refusal comes back as `code` with the
/// relay's words, any other failure says the change was not saved.
pub(crate) async fn relay(
    state: &AppState,
    command: dto::Command,
    code: dto::ErrorCode,
) -> Result<()> {
    let _: serde::de::IgnoredAny = relay_for(state, &command, code, "not saved").await?;
    Ok(())
}

/// The one way a command calls the relay: `command`'s typed answer
/// (`ziflow_protocol::answer`), or [`Error::from_relay`] with `code` for a refusal and
/// `not_done` (what did not happen) for anything else.
pub(crate) async fn relay_for<T: serde::de::DeserializeOwned>(
    state: &AppState,
    command: &dto::Command,
    code: dto::ErrorCode,
    not_done: &str,
) -> Result<T> {
    state
        .session()
        .client
        .command(command)
        .await
        .map_err(|e| Error::from_relay(e, code, not_done))
}

/// [`relay_for`] with a decided refusal kept whole (its code, a Stripe key's checks) for the
/// screen to show: `Ok(Err(refusal))`.
pub(crate) async fn relay_answer<T: serde::de::DeserializeOwned>(
    state: &AppState,
    command: &dto::Command,
    not_done: &str,
) -> Result<std::result::Result<T, dto::answer::Refusal>> {
    state
        .session()
        .client
        .command_answer(command)
        .await
        .map_err(|e| Error::from_relay(e, dto::ErrorCode::Refused, not_done))
}

/// The time now, in Unix seconds.
pub(crate) fn time_now() -> i64 {
    use ziflow_core::Clock;
    ziflow_core::SystemClock.now()
}

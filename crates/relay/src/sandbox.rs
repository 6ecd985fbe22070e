//! The sandbox as a service: what the customer presses on a sandbox pay page, and what a
//! person types as the customer in the sandbox chat, become the deliveries a real provider
//! would make — Stripe-format events signed with the relay's sandbox-only key, and Cloud API
//! webhooks signed the same way — and go through [`crate::ingest`] like Stripe's and Meta's.
//! No money moves and no WhatsApp account is involved; the events are logged as `sandbox.*`,
//! so they can pay only invoices whose link the sandbox made. The pages themselves are
//! `http::sandbox` and `http::sandbox_chat`.

use axum::body::Bytes;
use serde_json::{json, Value};
use ziflow_core::storage::invoices;
use ziflow_core::webhook::whatsapp;

use crate::error::Error;
use crate::state::AppState;

/// A button of the sandbox pay page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// "Pay with card".
    Card,
    /// "Pay with Apple Pay".
    ApplePay,
    /// "Decline": the card is declined.
    Decline,
    /// "Pay later (async)": a bank debit that settles a moment later.
    Later,
}

impl Press {
    /// Reads the page's `outcome` value.
    pub fn parse(outcome: &str) -> Option<Self> {
        match outcome {
            "card" => Some(Self::Card),
            "apple_pay" => Some(Self::ApplePay),
            "decline" => Some(Self::Decline),
            "later" => Some(Self::Later),
            _ => None,
        }
    }
}

/// What a press did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressed {
    /// No invoice has this pay token.
    UnknownLink,
    /// The invoice cannot be paid now (paid, expired, …); nothing was sent.
    NothingToPay,
    /// The provider's events were delivered.
    Delivered,
}

/// How long an asynchronous method (a bank debit) takes to settle in the sandbox.
const ASYNC_SETTLES_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// The customer pressed `press` on the pay page of the link with `token`: the events a real
/// checkout would produce are delivered, in order.
pub async fn press(state: &AppState, token: &str, press: Press) -> Result<Pressed, Error> {
    let Some((shop_uid, inv)) = invoices::by_pay_token(&state.db, token).await? else {
        return Ok(Pressed::UnknownLink);
    };
    if !matches!(inv.status.as_str(), "sent" | "failed")
        || inv.link_expires_at.is_some_and(|at| state.clock.now() > at)
    {
        return Ok(Pressed::NothingToPay);
    }
    let metadata = json!({ "ziflow_shop": shop_uid, "ziflow_invoice": inv.id.to_string() });
    let payment_ref = ziflow_core::pay::sandbox::payment_ref(inv.id);
    let session = |payment_status: &str| {
        json!({
            "object": "checkout.session",
            "payment_status": payment_status,
            "amount_total": inv.total_minor,
            "currency": inv.currency.to_ascii_lowercase(),
            "payment_method_types": [if press == Press::ApplePay { "apple_pay" } else { "card" }],
            "payment_intent": payment_ref,
            "metadata": metadata,
        })
    };
    let events = match press {
        Press::Card | Press::ApplePay => vec![("checkout.session.completed", session("paid"))],
        Press::Later => vec![
            ("checkout.session.completed", session("unpaid")),
            ("checkout.session.async_payment_succeeded", session("paid")),
        ],
        Press::Decline => vec![(
            "payment_intent.payment_failed",
            json!({
                "object": "payment_intent",
                "id": format!("{payment_ref}_declined"),
                "amount": inv.total_minor,
                "currency": inv.currency.to_ascii_lowercase(),
                "metadata": metadata,
            }),
        )],
    };
    if press != Press::Decline {
        // The page shows "Processing…" until the invoice is paid.
        if let Ok(mut pending) = state.sandbox_pending.lock() {
            pending.insert(inv.id);
        }
    }
    for (n, (kind, object)) in events.into_iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(ASYNC_SETTLES_AFTER).await;
        }
        crate::ingest::sandbox_event(state, &shop_uid, kind, object).await?;
    }
    Ok(Pressed::Delivered)
}

/// The customer with the number `digits` (country code, digits only) writes `text` to shop
/// `uid` in the sandbox chat: the Cloud API webhook WhatsApp would send, signed with the
/// sandbox-only key and verified like Meta's. Returns what the intake stored.
pub async fn customer_writes(
    state: &AppState,
    uid: &str,
    digits: &str,
    text: &str,
) -> Result<Value, Error> {
    let key = state
        .sandbox_key
        .clone()
        .ok_or_else(|| Error::NotFound("the sandbox on this relay".into()))?;
    let now = state.clock.now();
    let wamid = ziflow_core::secrets::new_token("wamid.sandbox")
        .map_err(|e| Error::Internal(e.to_string()))?;
    let payload = whatsapp::meta_json(&json!({
        "object": "whatsapp_business_account", "entry": [{"id": "sandbox",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "sandbox", "phone_number_id": "sandbox"},
        "contacts": [{"wa_id": digits, "profile": {"name": null}}],
        "messages": [{"from": digits, "id": wamid, "timestamp": now.to_string(), "type": "text",
            "text": {"body": text}}]}}]}]}));
    let signature = whatsapp::sign(key.expose(), payload.as_bytes());
    crate::ingest::sandbox_chat(state, uid, signature, Bytes::from(payload)).await
}

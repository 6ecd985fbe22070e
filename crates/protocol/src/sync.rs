//! The sync API's wire types, written by the relay and read by the desktop (and by tests):
//! `GET /api/v1/shop` ([`ShopInfo`]), `GET /api/v1/events` ([`EventsPage`] of
//! [`WireEvent`]s) and the names of the push stream's server-sent events ([`stream`]).
//!
//! Invariants:
//! - Readable across versions: a field added later has a default, so an older relay's
//!   answer still reads, and a reader ignores fields it does not know.
//! - A payload travels as the log stores it ([`RawValue`]): the relay never re-encodes it and
//!   the desktop stores the same text; [`crate::Event::parse`] reads it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `GET /api/v1/shop`: the device's shop and role, what a desktop needs to set up its
/// replica (and pairing checks a token with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopInfo {
    /// The shop's uid.
    pub uid: String,
    /// Its name.
    pub name: String,
    /// ISO 4217 code of its prices.
    pub currency: String,
    /// IANA time zone its days are counted in.
    pub timezone: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// The device asking.
    #[serde(default)]
    pub device: DeviceRef,
    /// The relay runs the sandbox provider (shops without Stripe get sandbox links).
    #[serde(default)]
    pub sandbox: bool,
}

/// The device a token belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    /// Its id on the relay.
    #[serde(default)]
    pub id: i64,
    /// Its name (`Front desk`).
    #[serde(default)]
    pub name: String,
    /// `owner` or `rep`.
    #[serde(default)]
    pub role: String,
}

/// `GET /api/v1/events?after=CURSOR&limit=N`: one page of the shop's log after the cursor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsPage {
    /// In log order.
    pub events: Vec<WireEvent>,
    /// The cursor to ask after next (the last event's id, or the cursor asked with).
    #[serde(default)]
    pub next_cursor: i64,
    /// The page is full: there may be more after `next_cursor`.
    pub more: bool,
}

/// One event of a shop's log, as devices receive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    /// Its place in the log (ids grow in commit order).
    pub id: i64,
    /// `invoice.paid`, `stripe.checkout.session.completed`, …
    pub kind: String,
    /// The payload as the log stores it.
    pub payload: Box<RawValue>,
    /// The provider's own id of the event (Stripe's `evt_…`, WhatsApp's `wamid…`), if any.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// When it was logged (Unix seconds).
    pub created_at: i64,
}

impl WireEvent {
    /// The event, typed.
    pub fn event(&self) -> Result<crate::Event, crate::event::EventError> {
        crate::Event::parse(&self.kind, self.payload.get())
    }
}

/// The server-sent events of `GET /api/v1/stream`.
pub mod stream {
    /// Sent once when the stream is open (data: the shop's uid).
    pub const READY: &str = "ready";
    /// The shop's log grew (data: the newest id, or `lagged`): pull after your cursor.
    pub const EVENTS: &str = "events";
    /// The device's token was revoked (data: why); the stream ends.
    pub const REVOKED: &str = "revoked";
    /// The data of [`EVENTS`] when the relay could not keep up with the log: pull anyway.
    pub const LAGGED: &str = "lagged";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_relays_shop_answer_reads_with_defaults() {
        let shop: ShopInfo = serde_json::from_str(
            r#"{"uid":"s1","name":"Glow Bar","currency":"USD","timezone":"America/Denver","created_at":1}"#,
        )
        .expect("an answer without device and sandbox reads");
        assert_eq!(shop.device, DeviceRef::default());
        assert!(!shop.sandbox, "no sandbox unless the relay says so");
    }

    #[test]
    fn a_payload_travels_byte_exact() {
        let body = r#"{"events":[{"id":7,"kind":"invoice.paid","payload":{"invoice_id": 3,"via":"webhook"},"created_at":5}],"next_cursor":7,"more":false}"#;
        let page: EventsPage = serde_json::from_str(body).expect("a page reads");
        assert_eq!(
            page.events[0].payload.get(),
            r#"{"invoice_id": 3,"via":"webhook"}"#,
            "the payload's text, spacing included, is kept"
        );
        assert!(matches!(
            page.events[0].event(),
            Ok(crate::Event::InvoicePaid(p)) if p.invoice_id == 3
        ));
        let again = serde_json::to_string(&page).expect("a page writes");
        assert!(
            again.contains(r#""payload":{"invoice_id": 3,"via":"webhook"}"#),
            "{again}"
        );
    }
}

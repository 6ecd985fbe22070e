//! Verifying provider webhooks over the raw body bytes, before anything parses or stores
//! them. A [`Verified`] value can only be made by a successful check in this module, so code
//! that persists webhooks cannot be handed an unverified body by mistake.

pub mod stripe;
pub mod whatsapp;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A webhook body whose signature checked out. Only this module can make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    body: Vec<u8>,
}

impl Verified {
    fn new(body: &[u8]) -> Self {
        Self {
            body: body.to_vec(),
        }
    }

    /// The body exactly as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// Why a webhook was refused. Each variant is a 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header is present but not in the provider's format.
    #[error("malformed {0} header")]
    Malformed(&'static str),
    /// The timestamp is outside the accepted window (replay protection).
    #[error("timestamp outside the {0} s tolerance")]
    Stale(i64),
    /// No signature in the header matches the body.
    #[error("signature does not match")]
    Mismatch,
}

/// A provider event ready for the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEvent {
    /// Event kind, e.g. `stripe.checkout.session.completed`, `whatsapp.message`.
    pub kind: String,
    /// The provider's id, unique per shop: a redelivery carries the same id.
    pub provider_id: String,
    /// The event's JSON text. For a Stripe event it is the body exactly as received.
    pub payload: String,
}

/// Why a verified body still cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `parts` (concatenated) under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac
}

/// Lower-case hex of the HMAC-SHA256, for signing (the sandbox providers and tests).
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(key, parts).finalize().into_bytes())
}

/// Constant-time check of a hex signature against the HMAC of `parts`. A signature that is
/// not 32 bytes of hex is refused before anything is hashed.
fn hmac_matches(key: &[u8], parts: &[&[u8]], hex_sig: &str) -> bool {
    let mut sig = [0u8; 32];
    if hex::decode_to_slice(hex_sig, &mut sig).is_err() {
        return false;
    }
    hmac_sha256(key, parts).verify_slice(&sig).is_ok()
}

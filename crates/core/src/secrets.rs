//! Secrets at rest and bearer tokens.
//!
//! Provider secrets are sealed with XChaCha20-Poly1305 under the operator's 32-byte master
//! key; the shop uid and secret name are the associated data, so a sealed value copied to
//! another shop or slot does not open. Device tokens are 256 random bits, shown once, and
//! stored only as their SHA-256 (a slow hash adds nothing for tokens of that entropy).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A secret string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it (a signature check).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The operator's key that seals provider secrets.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses 64 hex digits or the base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self> {
        use base64::Engine;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| Error::InvalidInput(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    Error::InvalidInput(
                        "the master key must be 64 hex digits or base64 of 32 bytes".into(),
                    )
                })?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::InvalidInput(format!("the master key must be 32 bytes, got {}", b.len()))
        })?;
        Ok(Self(key))
    }

    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut key = [0u8; 32];
        fill_random(&mut key)?;
        Ok(Self(key))
    }

    /// The key as 64 hex digits (for writing a key file).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Seals `plaintext` for (`shop`, `name`).
    pub fn seal(&self, shop: &str, name: &str, plaintext: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        fill_random(&mut nonce)?;
        let aad = format!("{shop}\0{name}");
        let ct = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::InvalidInput("sealing the secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a value sealed for (`shop`, `name`). Fails if the key differs or the value was
    /// tampered with or moved.
    pub fn open(&self, shop: &str, name: &str, sealed: &[u8]) -> Result<Secret> {
        if sealed.len() < 24 {
            return Err(Error::InvalidInput("sealed secret is truncated".into()));
        }
        let (nonce, ct) = sealed.split_at(24);
        let aad = format!("{shop}\0{name}");
        let pt = XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::InvalidInput(format!(
                    "the {name} of shop {shop} does not open with this master key"
                ))
            })?;
        String::from_utf8(pt)
            .map(Secret)
            .map_err(|_| Error::InvalidInput("sealed secret is not text".into()))
    }
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::InvalidInput(format!("no random source: {e}")))
}

/// A new random token: 256 bits, URL-safe base64 without padding, with a readable prefix.
pub fn new_token(prefix: &str) -> Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Hex SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_shop_and_name() {
        let key = MasterKey::generate().unwrap();
        let sealed = key
            .seal("shop1", "stripe_webhook_secret", "whsec_abc")
            .unwrap();
        assert!(
            !sealed.windows(9).any(|w| w == b"whsec_abc"),
            "not stored in clear"
        );
        assert_eq!(
            key.open("shop1", "stripe_webhook_secret", &sealed)
                .unwrap()
                .expose(),
            "whsec_abc"
        );
        assert!(
            key.open("shop2", "stripe_webhook_secret", &sealed).is_err(),
            "moved to another shop"
        );
        assert!(
            key.open("shop1", "whatsapp_app_secret", &sealed).is_err(),
            "moved to another slot"
        );
        assert!(MasterKey::generate()
            .unwrap()
            .open("shop1", "stripe_webhook_secret", &sealed)
            .is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key
            .open("shop1", "stripe_webhook_secret", &tampered)
            .is_err());
    }

    #[test]
    fn master_key_parses_hex_and_base64_and_refuses_short_keys() {
        let key = MasterKey::generate().unwrap();
        let hex = key.to_hex();
        let again = MasterKey::parse(&format!("{hex}\n")).unwrap();
        assert_eq!(again.to_hex(), hex);
        assert!(
            MasterKey::parse("c2hvcnQ=").is_err(),
            "8 bytes is too short"
        );
        assert!(MasterKey::parse("not a key").is_err());
    }

    #[test]
    fn secrets_and_keys_never_print() {
        assert_eq!(format!("{:?}", Secret::new("whsec_abc")), "[redacted]");
        let key = MasterKey::generate().unwrap();
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let a = new_token("zdt").unwrap();
        let b = new_token("zdt").unwrap();
        assert_ne!(a, b);
        assert!(
            a.starts_with("zdt_") && a.len() >= 4 + 43,
            "256 bits of base64: {a}"
        );
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}

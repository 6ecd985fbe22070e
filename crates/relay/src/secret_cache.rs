//! Opened provider secrets, kept for [`TTL`] so verifying a webhook does not read and
//! decrypt from the database every time. A secret changed with `ziflow-relay shop set`
//! (another process) is picked up within [`TTL`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ziflow_core::secrets::Secret;
use ziflow_core::storage::shop_secrets::SecretName;

/// How long an opened secret is reused.
pub const TTL: Duration = Duration::from_secs(5);

/// (shop uid, secret name) → the opened secret and when it was opened.
type Entries = HashMap<(String, &'static str), (Secret, Instant)>;

/// The cache.
#[derive(Debug, Default)]
pub struct SecretCache {
    entries: RwLock<Entries>,
}

impl SecretCache {
    /// A fresh cached secret, if any.
    pub fn get(&self, shop: &str, name: SecretName) -> Option<Secret> {
        let entries = self.entries.read().ok()?;
        entries
            .get(&(shop.to_string(), name.as_str()))
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(s, _)| s.clone())
    }

    /// Forgets a secret that was changed or deleted by this process.
    pub fn forget(&self, shop: &str, name: SecretName) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&(shop.to_string(), name.as_str()));
        }
    }

    /// Remembers an opened secret.
    pub fn put(&self, shop: &str, name: SecretName, secret: Secret) {
        if let Ok(mut entries) = self.entries.write() {
            entries.insert((shop.to_string(), name.as_str()), (secret, Instant::now()));
        }
    }
}

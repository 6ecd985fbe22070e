//! Pairing this desktop with a remote relay: the relay's URL and this device's token.
//!
//! The URL lives in `<data>/pairing.toml`; the token lives in the OS keyring (Secret Service
//! on Linux, Keychain on macOS, Credential Manager on Windows) under the service
//! [`KEYRING_SERVICE`] and the relay URL as the account — never in a plain file. Pairing
//! checks the token against the relay (`GET /api/v1/shop`) before anything is stored, so a
//! wrong URL or token changes nothing and says what was wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ziflow_protocol::sync::ShopInfo;

/// The keyring service under which device tokens are stored.
pub const KEYRING_SERVICE: &str = "app.ziflow.desktop";

/// A stored pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairing {
    /// The relay's base URL, e.g. `https://relay.example.com`.
    pub relay_url: String,
    /// The shop the token belongs to (so the app starts offline on the replica).
    pub shop_uid: String,
}

/// Why pairing failed. Each message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The URL is not one ZiFlow will send a token to.
    #[error("{0}")]
    BadUrl(String),
    /// The token is empty or has spaces in it.
    #[error("paste the device token exactly as `ziflow-relay device add` printed it")]
    BadToken,
    /// Nothing answered.
    #[error("cannot reach the relay at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The relay refused the token.
    #[error("the relay at {0} refused this device token (revoked, or for another relay)")]
    Refused(String),
    /// Something answered, but not a ZiFlow relay.
    #[error("{url} answered HTTP {status}; is this the address of a ZiFlow relay?")]
    NotARelay {
        /// The URL tried.
        url: String,
        /// What it answered.
        status: u16,
    },
    /// The OS keyring failed.
    #[error("cannot use the OS keyring to keep the device token: {0}")]
    Keyring(String),
    /// The pairing file could not be written or read.
    #[error("{0}")]
    File(String),
}

/// Checks and normalizes a relay URL: http(s), no path, query or credentials. Plain http is
/// allowed only to this computer (a token must not cross a network in clear).
pub fn normalize_url(input: &str) -> Result<String, PairError> {
    let url = reqwest::Url::parse(input.trim()).map_err(|e| {
        PairError::BadUrl(format!(
            "{input:?} is not a URL ({e}); use e.g. https://relay.example.com"
        ))
    })?;
    let local = ziflow_core::net::is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err(PairError::BadUrl(
            "use https:// for a relay on another machine; http is only allowed to this computer"
                .into(),
        )),
        other => {
            return Err(PairError::BadUrl(format!(
                "a relay URL starts with https://, not {other}://"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PairError::BadUrl(
            "put the token in the token field, not in the URL".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
        return Err(PairError::BadUrl(
            "give the relay's address only, without a path (e.g. https://relay.example.com)".into(),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Asks the relay who the token belongs to.
pub async fn check(url: &str, token: &str) -> Result<ShopInfo, PairError> {
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return Err(PairError::BadToken);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| PairError::Unreachable {
            url: url.into(),
            reason: e.to_string(),
        })?;
    let res = http
        .get(format!("{url}/api/v1/shop"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| PairError::Unreachable {
            url: url.into(),
            reason: e.to_string(),
        })?;
    match res.status().as_u16() {
        200 => res.json().await.map_err(|_| PairError::NotARelay {
            url: url.into(),
            status: 200,
        }),
        401 => Err(PairError::Refused(url.into())),
        status => Err(PairError::NotARelay {
            url: url.into(),
            status,
        }),
    }
}

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("pairing.toml")
}

fn entry(relay_url: &str) -> Result<keyring::Entry, PairError> {
    keyring::Entry::new(KEYRING_SERVICE, relay_url).map_err(|e| PairError::Keyring(e.to_string()))
}

/// Stores a checked pairing: the token in the keyring first, then the URL file.
pub fn store(data_dir: &Path, pairing: &Pairing, token: &str) -> Result<(), PairError> {
    entry(&pairing.relay_url)?
        .set_password(token)
        .map_err(|e| PairError::Keyring(e.to_string()))?;
    let text = toml::to_string(pairing).map_err(|e| PairError::File(e.to_string()))?;
    std::fs::write(file(data_dir), text)
        .map_err(|e| PairError::File(format!("writing {}: {e}", file(data_dir).display())))
}

/// The stored pairing and its token, if this desktop is paired.
pub fn load(data_dir: &Path) -> Result<Option<(Pairing, String)>, PairError> {
    let path = file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PairError::File(format!("reading {}: {e}", path.display()))),
    };
    let pairing: Pairing =
        toml::from_str(&text).map_err(|e| PairError::File(format!("{}: {e}", path.display())))?;
    let token = entry(&pairing.relay_url)?.get_password().map_err(|e| {
        PairError::Keyring(format!(
            "this desktop is paired with {} but its device token is not in the OS keyring ({e}); pair it again",
            pairing.relay_url
        ))
    })?;
    Ok(Some((pairing, token)))
}

/// Forgets the pairing: the token leaves the keyring, the URL file is removed.
pub fn forget(data_dir: &Path) -> Result<(), PairError> {
    if let Ok(Some((pairing, _))) = load(data_dir) {
        match entry(&pairing.relay_url)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => {}
            Err(e) => return Err(PairError::Keyring(e.to_string())),
        }
    }
    match std::fs::remove_file(file(data_dir)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PairError::File(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_checked_before_a_token_is_sent() {
        assert_eq!(
            normalize_url(" https://relay.example.com/ ").unwrap(),
            "https://relay.example.com"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:8787").unwrap(),
            "http://127.0.0.1:8787"
        );
        for (bad, why) in [
            ("http://relay.example.com", "https://"),
            ("ftp://relay.example.com", "not ftp"),
            ("relay.example.com", "not a URL"),
            ("https://u:p@relay.example.com", "token field"),
            ("https://relay.example.com/api/v1", "without a path"),
        ] {
            let err = normalize_url(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

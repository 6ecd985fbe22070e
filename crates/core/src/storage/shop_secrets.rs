//! A shop's provider secrets, sealed with the master key (see [`crate::secrets`]).

use crate::secrets::{MasterKey, Secret};
use crate::storage::Conn;
use crate::{Db, Error, Result};

/// Which secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    /// Stripe's `whsec_…` endpoint secret.
    StripeWebhook,
    /// The Meta app secret that signs WhatsApp webhooks.
    WhatsAppApp,
    /// Stripe's secret or restricted API key (`sk_…`, `rk_…`).
    StripeApiKey,
    /// The WhatsApp Cloud API access token (a system user's token) for sending.
    WhatsAppAccessToken,
    /// The API key of the optional phrasing model (an OpenAI-compatible endpoint).
    LlmApiKey,
    /// The Telegram bot's token (notifications).
    TelegramBotToken,
    /// The Slack incoming webhook's address (notifications).
    SlackWebhookUrl,
    /// The SMTP server's password (email notifications).
    SmtpPassword,
}

impl SecretName {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StripeWebhook => "stripe_webhook_secret",
            Self::WhatsAppApp => "whatsapp_app_secret",
            Self::StripeApiKey => "stripe_api_key",
            Self::WhatsAppAccessToken => "whatsapp_access_token",
            Self::LlmApiKey => "llm_api_key",
            Self::TelegramBotToken => "telegram_bot_token",
            Self::SlackWebhookUrl => "slack_webhook_url",
            Self::SmtpPassword => "smtp_password",
        }
    }
}

/// Seals and stores a secret, replacing the previous one.
pub async fn set(
    db: &Db,
    key: &MasterKey,
    shop: &str,
    name: SecretName,
    value: &str,
) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidInput(format!(
            "{} cannot be empty",
            name.as_str()
        )));
    }
    if name == SecretName::StripeWebhook && !value.starts_with("whsec_") {
        return Err(Error::InvalidInput(
            "a Stripe webhook signing secret starts with whsec_ (Dashboard → Developers → Webhooks → Signing secret)".into(),
        ));
    }
    if name == SecretName::StripeApiKey {
        crate::pay::stripe::key_mode(value).map_err(Error::InvalidInput)?;
    }
    super::shops::get(db, shop).await?;
    let sealed = key.seal(shop, name.as_str(), value)?;
    execute!(
        &mut db.acquire().await?,
        "INSERT INTO shop_secrets (shop_uid, name, sealed) VALUES ($1, $2, $3)
         ON CONFLICT (shop_uid, name) DO UPDATE SET sealed = excluded.sealed",
        shop,
        name.as_str(),
        sealed
    )?;
    Ok(())
}

/// Opens a shop's secret, if set.
pub async fn get(db: &Db, key: &MasterKey, shop: &str, name: SecretName) -> Result<Option<Secret>> {
    let mut conn = db.acquire().await?;
    get_in(&mut conn, key, shop, name).await
}

/// [`get`] inside the caller's transaction (what is stored as the transaction sees it).
pub async fn get_in(
    conn: &mut Conn,
    key: &MasterKey,
    shop: &str,
    name: SecretName,
) -> Result<Option<Secret>> {
    let sealed: Option<Vec<u8>> = query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT sealed FROM shop_secrets WHERE shop_uid = $1 AND name = $2",
        shop,
        name.as_str()
    )?;
    sealed
        .map(|s| key.open(shop, name.as_str(), &s))
        .transpose()
}

/// Whether the shop has the secret (without opening it), inside the caller's transaction.
pub async fn exists_in(conn: &mut Conn, shop: &str, name: SecretName) -> Result<bool> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT CAST(1 AS BIGINT) FROM shop_secrets WHERE shop_uid = $1 AND name = $2",
        shop,
        name.as_str()
    )?
    .is_some())
}

/// Deletes a shop's secret. Returns whether there was one.
pub async fn delete(db: &Db, shop: &str, name: SecretName) -> Result<bool> {
    Ok(execute!(
        &mut db.acquire().await?,
        "DELETE FROM shop_secrets WHERE shop_uid = $1 AND name = $2",
        shop,
        name.as_str()
    )? == 1)
}

//! Shops: the tenant every other row belongs to.

use crate::storage::Conn;
use sqlx::FromRow;

use crate::{Db, Error, Result};

/// A shop.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Shop {
    /// Public id used in webhook URLs.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// ISO 4217 currency of its prices.
    pub currency: String,
    /// IANA time zone of the shop.
    pub timezone: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Creates a shop. Refuses an empty name or a currency that is not three letters.
pub async fn create(
    db: &Db,
    uid: &str,
    name: &str,
    currency: &str,
    timezone: &str,
    now: i64,
) -> Result<Shop> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput("a shop needs a name".into()));
    }
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::InvalidInput(format!(
            "currency must be an ISO 4217 code like USD, not {currency:?}"
        )));
    }
    execute!(
        &mut db.acquire().await?,
        "INSERT INTO shops (uid, name, currency, timezone, created_at) VALUES ($1, $2, $3, $4, $5)",
        uid,
        name.trim(),
        currency,
        timezone,
        now
    )?;
    get(db, uid).await
}

/// The shop with this uid.
pub async fn get(db: &Db, uid: &str) -> Result<Shop> {
    query_as!(
        fetch_optional,
        &mut db.acquire().await?,
        Shop,
        "SELECT uid, name, currency, timezone, created_at FROM shops WHERE uid = $1",
        uid
    )?
    .ok_or_else(|| Error::NotFound(format!("shop {uid}")))
}

/// Sets the token Meta must echo when subscribing the WhatsApp webhook.
pub async fn set_whatsapp_verify_token(db: &Db, uid: &str, token: &str) -> Result<()> {
    let n = execute!(
        &mut db.acquire().await?,
        "UPDATE shops SET whatsapp_verify_token = $1 WHERE uid = $2",
        token,
        uid
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("shop {uid}")));
    }
    Ok(())
}

/// The shop's WhatsApp verify token, if the shop exists and has one.
pub async fn whatsapp_verify_token(db: &Db, uid: &str) -> Result<Option<String>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut db.acquire().await?,
        "SELECT whatsapp_verify_token FROM shops WHERE uid = $1",
        uid
    )?
    .flatten())
}

/// The first shop of this database, if any (a desktop replica holds exactly one).
pub async fn first(db: &Db) -> Result<Option<Shop>> {
    Ok(query_as!(fetch_optional, &mut db.acquire().await?, Shop,
        "SELECT uid, name, currency, timezone, created_at FROM shops ORDER BY created_at, uid LIMIT 1")?)
}

/// Deletes every shop but `keep`, with everything of theirs (a desk's replica holds the one
/// shop it syncs: event and invoice ids come from that shop's relay, so two relays' rows
/// cannot share the tables). Returns how many shops went.
pub async fn delete_others(db: &Db, keep: &str) -> Result<u64> {
    Ok(execute!(
        &mut db.acquire().await?,
        "DELETE FROM shops WHERE uid != $1",
        keep
    )?)
}

/// The shop's time zone (IANA name).
pub async fn timezone_in(conn: &mut Conn, uid: &str) -> Result<String> {
    Ok(query_scalar!(
        fetch_one,
        &mut *conn,
        "SELECT timezone FROM shops WHERE uid = $1",
        uid
    )?)
}

/// The shop's currency (ISO 4217).
pub async fn currency_in(conn: &mut Conn, uid: &str) -> Result<String> {
    Ok(query_scalar!(
        fetch_one,
        &mut *conn,
        "SELECT currency FROM shops WHERE uid = $1",
        uid
    )?)
}

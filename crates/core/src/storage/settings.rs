//! Per-shop settings as key/value text. Typed access lives with the feature that owns a key.

use crate::storage::Conn;
use crate::{Db, Result};

/// The value of `key` for the shop, if set.
pub async fn get(db: &Db, shop: &str, key: &str) -> Result<Option<String>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut db.acquire().await?,
        "SELECT value FROM settings WHERE shop_uid = $1 AND key = $2",
        shop,
        key
    )?)
}

/// [`get`] inside the caller's transaction.
pub async fn get_in(conn: &mut Conn, shop: &str, key: &str) -> Result<Option<String>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT value FROM settings WHERE shop_uid = $1 AND key = $2",
        shop,
        key
    )?)
}

/// Sets `key` for the shop, replacing any previous value.
pub async fn set(db: &Db, shop: &str, key: &str, value: &str) -> Result<()> {
    let mut conn = db.acquire().await?;
    set_in(&mut conn, shop, key, value).await
}

/// [`set`] inside the caller's transaction.
pub async fn set_in(conn: &mut Conn, shop: &str, key: &str, value: &str) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO settings (shop_uid, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (shop_uid, key) DO UPDATE SET value = excluded.value",
        shop,
        key,
        value
    )?;
    Ok(())
}

/// The shop's own wording of the agent's replies: `(<lang>.<key>, text)` for every non-empty
/// setting `reply.<lang>.<key>`.
pub async fn own_replies_in(conn: &mut Conn, shop: &str) -> Result<Vec<(String, String)>> {
    Ok(query_as!(
        fetch_all,
        conn,
        KeyValue,
        r#"SELECT substr(key, 7) AS "key!: String", value FROM settings
           WHERE shop_uid = $1 AND key LIKE 'reply.%' AND value <> ''"#,
        shop
    )?
    .into_iter()
    .map(|r| (r.key, r.value))
    .collect())
}

/// The shop's settings among `keys` that are set: `(key, value)`.
pub async fn many_in(conn: &mut Conn, shop: &str, keys: &[&str]) -> Result<Vec<(String, String)>> {
    let keys = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
    Ok(query_as!(
        fetch_all,
        conn,
        KeyValue,
        sqlite: "SELECT key, value FROM settings
         WHERE shop_uid = $1 AND key IN (SELECT value FROM json_each($2))",
        postgres: "SELECT key, value FROM settings
         WHERE shop_uid = $1 AND key IN (SELECT jsonb_array_elements_text($2::jsonb))",
        shop,
        keys
    )?
    .into_iter()
    .map(|r| (r.key, r.value))
    .collect())
}

#[derive(sqlx::FromRow)]
struct KeyValue {
    key: String,
    value: String,
}

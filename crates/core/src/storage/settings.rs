//! Per-shop settings as key/value text. Typed access lives with the feature that owns a key.

use crate::{Db, Result};

/// The value of `key` for the shop, if set.
pub async fn get(db: &Db, shop: &str, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT value FROM settings WHERE shop_uid = $1 AND key = $2",
        shop,
        key
    )
    .fetch_optional(db.pool())
    .await?)
}

/// [`get`] inside the caller's transaction.
pub async fn get_in(
    conn: &mut sqlx::SqliteConnection,
    shop: &str,
    key: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT value FROM settings WHERE shop_uid = $1 AND key = $2",
        shop,
        key
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Sets `key` for the shop, replacing any previous value.
pub async fn set(db: &Db, shop: &str, key: &str, value: &str) -> Result<()> {
    let mut conn = db.pool().acquire().await?;
    set_in(&mut conn, shop, key, value).await
}

/// [`set`] inside the caller's transaction.
pub async fn set_in(
    conn: &mut sqlx::SqliteConnection,
    shop: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO settings (shop_uid, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (shop_uid, key) DO UPDATE SET value = excluded.value",
        shop,
        key,
        value
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The shop's own wording of the agent's replies: `(<lang>.<key>, text)` for every non-empty
/// setting `reply.<lang>.<key>`.
pub async fn own_replies_in(
    conn: &mut sqlx::SqliteConnection,
    shop: &str,
) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query!(
        r#"SELECT substr(key, 7) AS "key!: String", value FROM settings
           WHERE shop_uid = $1 AND key LIKE 'reply.%' AND value <> ''"#,
        shop
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.key, r.value))
    .collect())
}

/// The shop's settings among `keys` that are set: `(key, value)`.
pub async fn many_in(
    conn: &mut sqlx::SqliteConnection,
    shop: &str,
    keys: &[&str],
) -> Result<Vec<(String, String)>> {
    let keys = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
    Ok(sqlx::query!(
        "SELECT key, value FROM settings
         WHERE shop_uid = $1 AND key IN (SELECT value FROM json_each($2))",
        shop,
        keys
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.key, r.value))
    .collect())
}

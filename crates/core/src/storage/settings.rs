//! Per-shop settings as key/value text. Typed access lives with the feature that owns a key.

use crate::{Db, Result};

/// The value of `key` for the shop, if set.
pub async fn get(db: &Db, shop: &str, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE shop_uid = ? AND key = ?")
            .bind(shop)
            .bind(key)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// [`get`] inside the caller's transaction.
pub async fn get_in(
    conn: &mut sqlx::SqliteConnection,
    shop: &str,
    key: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE shop_uid = ? AND key = ?")
            .bind(shop)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?,
    )
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
    sqlx::query(
        "INSERT INTO settings (shop_uid, key, value) VALUES (?, ?, ?)
         ON CONFLICT (shop_uid, key) DO UPDATE SET value = excluded.value",
    )
    .bind(shop)
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

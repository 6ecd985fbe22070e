//! The append-only event log. An event's `id` is the sync cursor; a provider event carries
//! the provider's own id under a unique index so a redelivery is stored once.

use sqlx::{FromRow, SqliteConnection};

use crate::{Db, Error, Result};

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Event {
    /// Monotonic id; the sync cursor.
    pub id: i64,
    /// Owning shop.
    pub shop_uid: String,
    /// Dotted kind, e.g. `invoice.paid`.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// Provider's id for provider events.
    pub provider_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// [`append`] with the payload already serialized (the relay's intake serializes once).
pub async fn append_text(
    conn: &mut SqliteConnection,
    shop: &str,
    kind: &str,
    payload: &str,
    provider_id: Option<&str>,
    now: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO events (shop_uid, kind, payload, provider_id, created_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(shop)
    .bind(kind)
    .bind(payload)
    .bind(provider_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Appends an event inside the caller's transaction. Returns `None` when an event with the
/// same `provider_id` is already stored for the shop (a redelivery): nothing is written.
pub async fn append(
    conn: &mut SqliteConnection,
    shop: &str,
    kind: &str,
    payload: &serde_json::Value,
    provider_id: Option<&str>,
    now: i64,
) -> Result<Option<i64>> {
    if kind.is_empty() || !kind.contains('.') {
        return Err(Error::InvalidInput(format!(
            "event kind must look like `noun.verb`, got {kind:?}"
        )));
    }
    append_text(conn, shop, kind, &payload.to_string(), provider_id, now).await
}

/// Stores an event pulled from the relay under its relay id (the desktop replica). Returns
/// `false` if that id is already stored (a repeated pull), so it is applied only once.
pub async fn insert_replica(conn: &mut SqliteConnection, event: &Event) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO events (id, shop_uid, kind, payload, provider_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(event.id)
    .bind(&event.shop_uid)
    .bind(&event.kind)
    .bind(&event.payload)
    .bind(&event.provider_id)
    .bind(event.created_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// The newest event id stored for the shop (the desktop's sync cursor), 0 if none.
pub async fn newest_id(db: &Db, shop: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM events WHERE shop_uid = ?")
            .bind(shop)
            .fetch_one(db.pool())
            .await?
            .unwrap_or(0),
    )
}

/// The shop's events after `cursor`, oldest first, at most `limit`.
pub async fn after(db: &Db, shop: &str, cursor: i64, limit: i64) -> Result<Vec<Event>> {
    Ok(sqlx::query_as::<_, Event>(
        "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE shop_uid = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(shop)
    .bind(cursor)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?)
}

//! The append-only event log. An event's `id` is the sync cursor; a provider event carries
//! the provider's own id under a unique index so a redelivery is stored once.

use sqlx::FromRow;

use crate::storage::Conn;

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

/// A provider event for [`append_provider_events`].
#[derive(Debug, Clone, Copy)]
pub struct NewProviderEvent<'a> {
    /// Owning shop.
    pub shop: &'a str,
    /// Dotted kind.
    pub kind: &'a str,
    /// JSON text.
    pub payload: &'a str,
    /// The provider's id (unique per shop).
    pub provider_id: &'a str,
}

/// Appends many provider events with a few multi-row statements (the relay's group commit).
/// Returns, in input order, each event's new id, or `None` for a redelivery: an event whose
/// (shop, provider id) is already stored, or appears earlier in `events`.
pub async fn append_provider_events(
    conn: &mut Conn,
    events: &[NewProviderEvent<'_>],
    now: i64,
) -> Result<Vec<Option<i64>>> {
    let mut ids = vec![None; events.len()];
    // Ids in commit order across writers (a no-op on SQLite).
    conn.serialize_writes().await?;
    for (n, chunk) in events.chunks(super::ROWS_PER_INSERT).enumerate() {
        let sql = super::multi_row_sql(
            "INSERT INTO events (shop_uid, kind, payload, provider_id, created_at)",
            chunk.len(),
            5,
            " ON CONFLICT DO NOTHING RETURNING id, shop_uid, provider_id",
        );
        let stored: Vec<(i64, String, String)> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_as(sql);
            for e in chunk {
                query = query
                    .bind(e.shop)
                    .bind(e.kind)
                    .bind(e.payload)
                    .bind(e.provider_id)
                    .bind(now);
            }
            query.fetch_all(c).await
        })?;
        for (id, shop, provider_id) in stored {
            // The first occurrence is the one stored; a later copy in the chunk conflicted.
            if let Some(i) = chunk
                .iter()
                .position(|e| e.shop == shop && e.provider_id == provider_id)
            {
                ids[n * super::ROWS_PER_INSERT + i] = Some(id);
            }
        }
    }
    Ok(ids)
}

/// Appends one of ZiFlow's own events (no provider id) to `shop`'s log at `now`; returns the
/// stored row. A kind this version does not know is never written.
pub async fn append_event(
    conn: &mut Conn,
    shop: &str,
    event: &ziflow_protocol::Event,
    now: i64,
) -> Result<Option<Event>> {
    let kind = event.kind();
    let payload = event.payload().ok_or_else(|| {
        Error::InvalidInput(format!("{kind}: this version does not write that kind"))
    })?;
    let id = append(conn, shop, &kind, &payload, None, now).await?;
    Ok(id.map(|id| Event {
        id,
        shop_uid: shop.to_string(),
        kind,
        payload: payload.to_string(),
        provider_id: None,
        created_at: now,
    }))
}

/// Appends an event inside the caller's transaction. Returns `None` when an event with the
/// same `provider_id` is already stored for the shop (a redelivery): nothing is written.
pub async fn append(
    conn: &mut Conn,
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
    // Ids in commit order across writers (a no-op on SQLite).
    conn.serialize_writes().await?;
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        r#"INSERT INTO events (shop_uid, kind, payload, provider_id, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING
         RETURNING id AS "id!""#,
        shop,
        kind,
        payload.to_string(),
        provider_id,
        now
    )?)
}

/// Stores an event pulled from the relay under its relay id (the desktop replica). Returns
/// `false` if that id is already stored (a repeated pull), so it is applied only once.
pub async fn insert_replica(conn: &mut Conn, event: &Event) -> Result<bool> {
    let done = execute!(
        &mut *conn,
        "INSERT INTO events (id, shop_uid, kind, payload, provider_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        event.id,
        &event.shop_uid,
        &event.kind,
        &event.payload,
        &event.provider_id,
        event.created_at
    )?;
    Ok(done == 1)
}

/// Every shop's events after `cursor`, oldest first, at most `limit` (the relay's engine).
pub async fn after_all(conn: &mut Conn, cursor: i64, limit: i64) -> Result<Vec<Event>> {
    Ok(query_as!(
        fetch_all,
        &mut *conn,
        Event,
        "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE id > $1 ORDER BY id LIMIT $2",
        cursor,
        limit
    )?)
}

/// The newest event id of any shop, 0 if the log is empty.
pub async fn newest_any(db: &Db) -> Result<i64> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        "SELECT MAX(id) FROM events"
    )?
    .unwrap_or(0))
}

/// The newest event id stored for the shop (the desktop's sync cursor), 0 if none.
pub async fn newest_id(db: &Db, shop: &str) -> Result<i64> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        "SELECT MAX(id) FROM events WHERE shop_uid = $1",
        shop
    )?
    .unwrap_or(0))
}

/// The shop's event `id`.
pub async fn get(db: &Db, shop: &str, id: i64) -> Result<Option<Event>> {
    Ok(query_as!(
        fetch_optional,
        &mut db.acquire().await?,
        Event,
        "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )?)
}

/// The shop's events after `cursor`, oldest first, at most `limit`.
pub async fn after(db: &Db, shop: &str, cursor: i64, limit: i64) -> Result<Vec<Event>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        Event,
        "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE shop_uid = $1 AND id > $2 ORDER BY id LIMIT $3",
        shop,
        cursor,
        limit.clamp(1, 1000)
    )?)
}

/// A shop's provider events before `before` whose object belongs to the provider
/// subscription `subscription_ref` (to match them once the subscription's invoice is known).
pub async fn of_subscription_in(
    conn: &mut Conn,
    shop: &str,
    subscription_ref: &str,
    before: i64,
) -> Result<Vec<Event>> {
    Ok(query_as!(
        fetch_all,
        &mut *conn,
        Event,
        sqlite: "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE shop_uid = $1 AND id < $2 AND kind LIKE 'stripe.%'
           AND json_extract(payload, '$.data.object.subscription') = $3
         ORDER BY id",
        postgres: "SELECT id, shop_uid, kind, payload, provider_id, created_at FROM events
         WHERE shop_uid = $1 AND id < $2 AND kind LIKE 'stripe.%'
           AND payload::json #>> '{data,object,subscription}' = $3
         ORDER BY id",
        shop,
        before,
        subscription_ref
    )?)
}
/// The payload of the shop's event `id` if it is of `kind`.
pub async fn payload_of_in(
    conn: &mut Conn,
    shop: &str,
    id: i64,
    kind: &str,
) -> Result<Option<String>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT payload FROM events WHERE id = $1 AND shop_uid = $2 AND kind = $3",
        id,
        shop,
        kind
    )?)
}

//! Events the relay's engine set aside after they failed the same way several times. The
//! event stays in the log; its shop hears of it through an `engine.quarantined` event.

use sqlx::{FromRow, SqliteConnection};

use super::events::{self, Event};
use crate::{Db, Result};

/// One quarantined event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Quarantined {
    /// The event's id.
    pub event_id: i64,
    /// Its shop.
    pub shop_uid: String,
    /// Its kind.
    pub kind: String,
    /// Why applying it failed.
    pub reason: String,
    /// How many times it was tried.
    pub tries: i64,
    /// Unix seconds.
    pub quarantined_at: i64,
}

/// Records `event` as quarantined (once) and appends the `engine.quarantined` notice to its
/// shop's log. Returns the notice's id.
pub async fn add_in(
    conn: &mut SqliteConnection,
    event: &Event,
    reason: &str,
    tries: u32,
    now: i64,
) -> Result<Option<i64>> {
    let added = sqlx::query(
        "INSERT INTO quarantined_events (event_id, shop_uid, kind, reason, tries, quarantined_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.id)
    .bind(&event.shop_uid)
    .bind(&event.kind)
    .bind(reason)
    .bind(i64::from(tries))
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added == 0 {
        return Ok(None);
    }
    let notice = serde_json::json!({
        "event_id": event.id, "kind": event.kind, "reason": reason, "tries": tries,
    });
    events::append(
        conn,
        &event.shop_uid,
        "engine.quarantined",
        &notice,
        None,
        now,
    )
    .await
}

/// The shop's quarantined events, newest first (all shops' with `None`).
pub async fn list(db: &Db, shop: Option<&str>) -> Result<Vec<Quarantined>> {
    Ok(sqlx::query_as::<_, Quarantined>(
        "SELECT event_id, shop_uid, kind, reason, tries, quarantined_at FROM quarantined_events
         WHERE ? IS NULL OR shop_uid = ? ORDER BY event_id DESC",
    )
    .bind(shop)
    .bind(shop)
    .fetch_all(db.pool())
    .await?)
}

/// How many events are quarantined (for `/metrics`).
pub async fn count(db: &Db) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM quarantined_events")
            .fetch_one(db.pool())
            .await?,
    )
}

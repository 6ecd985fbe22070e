//! Events the relay's engine set aside after they failed the same way several times. The
//! event stays in the log; its shop hears of it through an `engine.quarantined` event.

use sqlx::FromRow;

use crate::storage::Conn;

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
    conn: &mut Conn,
    event: &Event,
    reason: &str,
    tries: u32,
    now: i64,
) -> Result<Option<i64>> {
    let added = execute!(
        &mut *conn,
        "INSERT INTO quarantined_events (event_id, shop_uid, kind, reason, tries, quarantined_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        event.id,
        &event.shop_uid,
        &event.kind,
        reason,
        i64::from(tries),
        now
    )?;
    if added == 0 {
        return Ok(None);
    }
    let notice =
        ziflow_protocol::Event::EngineQuarantined(ziflow_protocol::event::EngineQuarantined {
            event_id: event.id,
            kind: event.kind.clone(),
            reason: reason.to_string(),
            tries: i64::from(tries),
        });
    Ok(events::append_event(conn, &event.shop_uid, &notice, now)
        .await?
        .map(|row| row.id))
}

/// The shop's quarantined events, newest first (all shops' with `None`).
pub async fn list(db: &Db, shop: Option<&str>) -> Result<Vec<Quarantined>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        Quarantined,
        "SELECT event_id, shop_uid, kind, reason, tries, quarantined_at FROM quarantined_events
         WHERE $1 IS NULL OR shop_uid = $2 ORDER BY event_id DESC",
        shop,
        shop
    )?)
}

/// The shop's quarantined event `event_id`, if it is quarantined.
pub async fn get_in(conn: &mut Conn, shop: &str, event_id: i64) -> Result<Option<Quarantined>> {
    Ok(query_as!(
        fetch_optional,
        &mut *conn,
        Quarantined,
        "SELECT event_id, shop_uid, kind, reason, tries, quarantined_at FROM quarantined_events
         WHERE shop_uid = $1 AND event_id = $2",
        shop,
        event_id
    )?)
}

/// Takes `event` out of the quarantine (it was applied) and appends `engine.released` to its
/// shop's log. Returns the notice's id.
pub async fn release_in(conn: &mut Conn, event: &Event, now: i64) -> Result<Option<i64>> {
    execute!(
        &mut *conn,
        "DELETE FROM quarantined_events WHERE event_id = $1",
        event.id
    )?;
    let notice = ziflow_protocol::Event::EngineReleased(ziflow_protocol::event::EngineReleased {
        event_id: event.id,
        kind: event.kind.clone(),
    });
    Ok(events::append_event(conn, &event.shop_uid, &notice, now)
        .await?
        .map(|row| row.id))
}

/// Records that applying a quarantined event again failed, with the new reason.
pub async fn failed_again(db: &Db, event_id: i64, reason: &str) -> Result<()> {
    execute!(
        &mut db.acquire().await?,
        "UPDATE quarantined_events SET reason = $1, tries = tries + 1 WHERE event_id = $2",
        reason,
        event_id
    )?;
    Ok(())
}

/// An event set aside, as a shop's replica knows it from the log.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Notice {
    /// The event's id.
    pub event_id: i64,
    /// Its kind.
    pub kind: String,
    /// Why applying it failed.
    pub reason: String,
    /// Unix seconds it was set aside.
    pub at: i64,
}

/// The shop's events that are set aside now, read from its log (`engine.quarantined`
/// without a later `engine.released`): what a desk's replica can show the owner. Newest first.
pub async fn open_notices(db: &Db, shop: &str) -> Result<Vec<Notice>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        Notice,
        sqlite: r#"SELECT json_extract(q.payload, '$.event_id') AS "event_id!: i64",
                COALESCE(json_extract(q.payload, '$.kind'), '') AS "kind!: String",
                COALESCE(json_extract(q.payload, '$.reason'), '') AS "reason!: String",
                q.created_at AS at
         FROM events q
         WHERE q.shop_uid = $1 AND q.kind = 'engine.quarantined'
           AND NOT EXISTS (
               SELECT 1 FROM events r
               WHERE r.shop_uid = q.shop_uid AND r.kind = 'engine.released' AND r.id > q.id
                 AND json_extract(r.payload, '$.event_id') = json_extract(q.payload, '$.event_id'))
         ORDER BY q.id DESC LIMIT 200"#,
        postgres: r#"SELECT (q.payload::json ->> 'event_id')::bigint AS event_id,
                COALESCE(q.payload::json ->> 'kind', '') AS kind,
                COALESCE(q.payload::json ->> 'reason', '') AS reason,
                q.created_at AS at
         FROM events q
         WHERE q.shop_uid = $1 AND q.kind = 'engine.quarantined'
           AND NOT EXISTS (
               SELECT 1 FROM events r
               WHERE r.shop_uid = q.shop_uid AND r.kind = 'engine.released' AND r.id > q.id
                 AND r.payload::json ->> 'event_id' = q.payload::json ->> 'event_id')
         ORDER BY q.id DESC LIMIT 200"#,
        shop
    )?)
}

/// How many events are quarantined (for `/metrics`).
pub async fn count(db: &Db) -> Result<i64> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        "SELECT COUNT(*) FROM quarantined_events"
    )?)
}

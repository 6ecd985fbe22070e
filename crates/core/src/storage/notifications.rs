//! The `notifications` table: the latest state of each owner notification (one row per
//! notification key), projected from `notification.result`.

use crate::storage::Conn;
use ziflow_protocol::event::NotificationResult;

use crate::Result;

/// Records the outcome of an attempt to post notification `n.key` (its latest state wins).
pub async fn record_in(conn: &mut Conn, shop: &str, n: &NotificationResult, at: i64) -> Result<()> {
    execute!(&mut *conn, "INSERT INTO notifications (shop_uid, key, channel, text, phone, state, attempts, answer, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (shop_uid, key) DO UPDATE SET state = $6, attempts = $7, answer = $8, at = $9",
        shop,
        &n.key,
        &n.channel,
        &n.text,
        n.phone.as_deref(),
        &n.state,
        n.attempts,
        &n.answer,
        at)?;
    Ok(())
}

/// The shop's latest notifications, newest first.
pub async fn recent(
    db: &crate::Db,
    shop: &str,
    limit: i64,
) -> Result<Vec<ziflow_protocol::automation::NotificationRow>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        Notification,
        // Newest first; among notifications of one second, the latest written first (SQLite's
        // rowid, PostgreSQL's serial id).
        sqlite: "SELECT channel, text, phone, state, attempts, answer, at FROM notifications
         WHERE shop_uid = $1 ORDER BY at DESC, rowid DESC LIMIT $2",
        postgres: "SELECT channel, text, phone, state, attempts, answer, at FROM notifications
         WHERE shop_uid = $1 ORDER BY at DESC, id DESC LIMIT $2",
        shop,
        limit
    )?
    .into_iter()
    .map(|n| ziflow_protocol::automation::NotificationRow {
        channel: n.channel,
        text: n.text,
        phone: n.phone,
        state: n.state,
        attempts: n.attempts,
        answer: n.answer,
        at: n.at,
    })
    .collect())
}

#[derive(sqlx::FromRow)]
struct Notification {
    channel: String,
    text: String,
    phone: Option<String>,
    state: String,
    attempts: i64,
    answer: String,
    at: i64,
}

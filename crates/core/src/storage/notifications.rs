//! The `notifications` table: the latest state of each owner notification (one row per
//! notification key), projected from `notification.result`.

use sqlx::SqliteConnection;
use ziflow_protocol::event::NotificationResult;

use crate::Result;

/// Records the outcome of an attempt to post notification `n.key` (its latest state wins).
pub async fn record_in(
    conn: &mut SqliteConnection,
    shop: &str,
    n: &NotificationResult,
    at: i64,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO notifications (shop_uid, key, channel, text, phone, state, attempts, answer, at)
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
        at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The shop's latest notifications, newest first.
pub async fn recent(
    db: &crate::Db,
    shop: &str,
    limit: i64,
) -> Result<Vec<ziflow_protocol::automation::NotificationRow>> {
    Ok(sqlx::query_as!(
        ziflow_protocol::automation::NotificationRow,
        "SELECT channel, text, phone, state, attempts, answer, at FROM notifications
         WHERE shop_uid = $1 ORDER BY at DESC, rowid DESC LIMIT $2",
        shop,
        limit
    )
    .fetch_all(db.pool())
    .await?)
}

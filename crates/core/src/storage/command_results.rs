//! Remembered results of device commands, by idempotency key, so a retried command returns
//! its first answer instead of running again.

use crate::storage::Conn;

use crate::Result;

/// A stored answer: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status of the first execution.
    pub status: u16,
    /// JSON body of the first execution.
    pub body: String,
}

/// The stored answer for `key`, if any.
pub async fn get(conn: &mut Conn, shop: &str, key: &str) -> Result<Option<Stored>> {
    let row = query_as!(
        fetch_optional,
        conn,
        StoredRow,
        "SELECT status, body FROM command_results WHERE shop_uid = $1 AND idempotency_key = $2",
        shop,
        key
    )?;
    Ok(row.map(|r| Stored {
        status: u16::try_from(r.status).unwrap_or(500),
        body: r.body,
    }))
}

/// Remembers the answer for `key` (in the caller's transaction), replacing an earlier one
/// (a command whose provider answered after the first answer was stored).
pub async fn put(conn: &mut Conn, shop: &str, key: &str, stored: &Stored, now: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO command_results (shop_uid, idempotency_key, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (shop_uid, idempotency_key) DO UPDATE
            SET status = excluded.status, body = excluded.body",
        shop,
        key,
        i64::from(stored.status),
        &stored.body,
        now
    )?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    status: i64,
    body: String,
}

//! The relay engine's cursor: the newest event id whose effects (projections) are applied.

use crate::storage::Conn;

use crate::Result;

/// The projection cursor's name.
pub const PROJECTION: &str = "projection";

/// The cursor `name`, 0 if it was never moved.
pub async fn cursor(conn: &mut Conn, name: &str) -> Result<i64> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT last_id FROM engine_cursor WHERE name = $1",
        name
    )?
    .unwrap_or(0))
}

/// Moves the cursor `name` to `last_id`.
pub async fn set_cursor(conn: &mut Conn, name: &str, last_id: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO engine_cursor (name, last_id) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
        name,
        last_id
    )?;
    Ok(())
}

/// How far the engine and the jobs are: the projection cursor, the newest event id (if any)
/// and how many pending jobs are due by `due_by` (a tool waits for the relay to settle).
pub async fn backlog(db: &crate::Db, due_by: i64) -> Result<(i64, Option<i64>, i64)> {
    let row = query_as!(
        fetch_one,
        &mut db.acquire().await?,
        Backlog,
        r#"SELECT COALESCE((SELECT last_id FROM engine_cursor WHERE name = 'projection'), 0)
                      AS "applied!: i64",
                  (SELECT MAX(id) FROM events) AS "newest: i64",
                  (SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= $1)
                      AS "due!: i64""#,
        due_by
    )?;
    Ok((row.applied, row.newest, row.due))
}

#[derive(sqlx::FromRow)]
struct Backlog {
    applied: i64,
    newest: Option<i64>,
    due: i64,
}

/// The events not yet applied, per shop (at most 1,000 shops, those with the most first):
/// where the engine's lag is, for `/metrics`.
pub async fn lag_by_shop(db: &crate::Db) -> Result<Vec<(String, i64)>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        ShopLag,
        r#"SELECT shop_uid, COUNT(*) AS "behind!: i64" FROM events
           WHERE id > COALESCE((SELECT last_id FROM engine_cursor WHERE name = 'projection'), 0)
           GROUP BY shop_uid ORDER BY 2 DESC, shop_uid LIMIT 1000"#
    )?
    .into_iter()
    .map(|l| (l.shop_uid, l.behind))
    .collect())
}

#[derive(sqlx::FromRow)]
struct ShopLag {
    shop_uid: String,
    behind: i64,
}

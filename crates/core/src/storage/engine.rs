//! The relay engine's cursor: the newest event id whose effects (projections) are applied.

use sqlx::SqliteConnection;

use crate::Result;

/// The projection cursor's name.
pub const PROJECTION: &str = "projection";

/// The cursor `name`, 0 if it was never moved.
pub async fn cursor(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar!("SELECT last_id FROM engine_cursor WHERE name = $1", name)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0),
    )
}

/// Moves the cursor `name` to `last_id`.
pub async fn set_cursor(conn: &mut SqliteConnection, name: &str, last_id: i64) -> Result<()> {
    sqlx::query!(
        "INSERT INTO engine_cursor (name, last_id) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
        name,
        last_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How far the engine and the jobs are: the projection cursor, the newest event id (if any)
/// and how many pending jobs are due by `due_by` (a tool waits for the relay to settle).
pub async fn backlog(db: &crate::Db, due_by: i64) -> Result<(i64, Option<i64>, i64)> {
    let row = sqlx::query!(
        r#"SELECT COALESCE((SELECT last_id FROM engine_cursor WHERE name = 'projection'), 0)
                      AS "applied!: i64",
                  (SELECT MAX(id) FROM events) AS "newest: i64",
                  (SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= $1)
                      AS "due!: i64""#,
        due_by
    )
    .fetch_one(db.pool())
    .await?;
    Ok((row.applied, row.newest, row.due))
}

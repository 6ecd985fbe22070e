//! All SQL lives here, one module per table family. Other modules call these functions and
//! never write SQL themselves, so a second backend (PostgreSQL) is an addition, not a rewrite.
//!
//! Functions take the [`Db`](crate::Db) handle; functions that must be part of a larger
//! transaction take a `&mut SqliteConnection` instead.
//!
//! Statements are `sqlx::query!` and friends, checked at compile time against the schema the
//! migrations make (offline data in `crates/core/.sqlx/`, rewritten by
//! `cargo xtask sql-prepare`). The exception is the multi-row insert of [`multi_row_sql`],
//! whose number of rows varies. Placeholders are numbered (`$1`, `$2`, …), which SQLite
//! binds as well as PostgreSQL does: one SQL text per statement for both backends.

pub mod agent_tests;
pub mod catalog;
pub mod command_results;
pub mod conversations;
pub mod db;
pub mod devices;
pub mod engine;
pub mod events;
pub mod invoices;
pub mod jobs;
pub mod leads;
pub mod metrics;
pub mod notifications;
pub mod payments;
pub mod quarantine;
pub mod retention;
pub mod settings;
pub mod shop_secrets;
pub mod shops;

/// Rows per multi-row `INSERT` (group commits, the engine's held inserts).
pub(crate) const ROWS_PER_INSERT: usize = 32;

/// `head` followed by `rows` groups of `cols` placeholders, then `tail`: the text of a
/// multi-row insert. Only the number of placeholders varies; values are always bound, never
/// spliced into the text.
pub(crate) fn multi_row_sql(
    head: &str,
    rows: usize,
    cols: usize,
    tail: &str,
) -> sqlx::AssertSqlSafe<String> {
    let groups: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=cols).map(|c| format!("${}", row * cols + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let mut sql = String::from(head);
    sql.push_str(" VALUES ");
    sql.push_str(&groups.join(","));
    sql.push_str(tail);
    sqlx::AssertSqlSafe(sql)
}

/// A savepoint inside the caller's transaction: [`release_in`] keeps what was done since,
/// [`rollback_to_in`] undoes it. Not nested.
pub async fn savepoint_in(conn: &mut sqlx::SqliteConnection) -> crate::Result<()> {
    sqlx::query!("SAVEPOINT ziflow_one")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Keeps the work since [`savepoint_in`].
pub async fn release_in(conn: &mut sqlx::SqliteConnection) -> crate::Result<()> {
    sqlx::query!("RELEASE ziflow_one")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Undoes the work since [`savepoint_in`] and ends the savepoint.
pub async fn rollback_to_in(conn: &mut sqlx::SqliteConnection) -> crate::Result<()> {
    sqlx::query!("ROLLBACK TO ziflow_one")
        .execute(&mut *conn)
        .await?;
    release_in(conn).await
}

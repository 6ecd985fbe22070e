//! The shop's bot tests (`agent_tests`, projected from `agent_test.saved` / `.deleted`). The
//! messages and the ending are kept as the JSON they were saved as; `agent::bottests` reads
//! them.

use sqlx::SqliteConnection;

use crate::{Db, Result};

/// A stored test.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestRow {
    /// The id of the event that saved it.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The customer's messages, a JSON array of strings.
    pub messages: String,
    /// The ending, JSON.
    pub expect: String,
}

/// Stores a saved test under the id of the event that saved it.
pub async fn insert_in(
    conn: &mut SqliteConnection,
    shop: &str,
    id: i64,
    name: &str,
    messages: &str,
    expect: &str,
    at: i64,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO agent_tests (id, shop_uid, name, messages, expect, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        id,
        shop,
        name,
        messages,
        expect,
        at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the shop has test `id`.
pub async fn exists_in(conn: &mut SqliteConnection, shop: &str, id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "SELECT 1 FROM agent_tests WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// Removes a test. Returns whether there was one.
pub async fn delete_in(conn: &mut SqliteConnection, shop: &str, id: i64) -> Result<bool> {
    Ok(sqlx::query!(
        "DELETE FROM agent_tests WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// The shop's tests, oldest first.
pub async fn list_in(conn: &mut SqliteConnection, shop: &str) -> Result<Vec<TestRow>> {
    Ok(sqlx::query_as!(
        TestRow,
        "SELECT id, name, messages, expect FROM agent_tests WHERE shop_uid = $1 ORDER BY id",
        shop
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// [`list_in`] on a pooled connection.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<TestRow>> {
    let mut conn = db.pool().acquire().await?;
    list_in(&mut conn, shop).await
}

//! The shop's bot tests (`agent_tests`, projected from `agent_test.saved` / `.deleted`). The
//! messages and the ending are kept as the JSON they were saved as; `agent::bottests` reads
//! them.

use crate::storage::Conn;

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
    conn: &mut Conn,
    shop: &str,
    id: i64,
    name: &str,
    messages: &str,
    expect: &str,
    at: i64,
) -> Result<()> {
    execute!(
        &mut *conn,
        "INSERT INTO agent_tests (id, shop_uid, name, messages, expect, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        id,
        shop,
        name,
        messages,
        expect,
        at
    )?;
    Ok(())
}

/// Whether the shop has test `id`.
pub async fn exists_in(conn: &mut Conn, shop: &str, id: i64) -> Result<bool> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT CAST(1 AS BIGINT) FROM agent_tests WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )?
    .is_some())
}

/// Removes a test. Returns whether there was one.
pub async fn delete_in(conn: &mut Conn, shop: &str, id: i64) -> Result<bool> {
    Ok(execute!(
        &mut *conn,
        "DELETE FROM agent_tests WHERE shop_uid = $1 AND id = $2",
        shop,
        id
    )? == 1)
}

/// The shop's tests, oldest first.
pub async fn list_in(conn: &mut Conn, shop: &str) -> Result<Vec<TestRow>> {
    Ok(query_as!(
        fetch_all,
        &mut *conn,
        TestRow,
        "SELECT id, name, messages, expect FROM agent_tests WHERE shop_uid = $1 ORDER BY id",
        shop
    )?)
}

/// [`list_in`] on a pooled connection.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<TestRow>> {
    let mut conn = db.acquire().await?;
    list_in(&mut conn, shop).await
}

//! The shop's bot tests (`agent_tests`, projected from `agent_test.saved` / `.deleted`).

use sqlx::SqliteConnection;

use crate::agent::bottests::{BotTest, Ending};
use crate::{Db, Error, Result};

/// Stores a saved test under the id of the event that saved it.
pub async fn insert_in(
    conn: &mut SqliteConnection,
    shop: &str,
    id: i64,
    name: &str,
    messages: &[String],
    expect: &Ending,
    at: i64,
) -> Result<()> {
    let messages =
        serde_json::to_string(messages).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let expect = serde_json::to_string(expect).map_err(|e| Error::InvalidInput(e.to_string()))?;
    sqlx::query(
        "INSERT INTO agent_tests (id, shop_uid, name, messages, expect, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(shop)
    .bind(name)
    .bind(messages)
    .bind(expect)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the shop has test `id`.
pub async fn exists_in(conn: &mut SqliteConnection, shop: &str, id: i64) -> Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM agent_tests WHERE shop_uid = ? AND id = ?")
            .bind(shop)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// Removes a test. Returns whether there was one.
pub async fn delete_in(conn: &mut SqliteConnection, shop: &str, id: i64) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM agent_tests WHERE shop_uid = ? AND id = ?")
            .bind(shop)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// The shop's tests, oldest first.
pub async fn list_in(conn: &mut SqliteConnection, shop: &str) -> Result<Vec<BotTest>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, name, messages, expect FROM agent_tests WHERE shop_uid = ? ORDER BY id",
    )
    .bind(shop)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, name, messages, expect)| {
            Ok(BotTest {
                id,
                name,
                messages: serde_json::from_str(&messages)
                    .map_err(|e| Error::InvalidInput(format!("bot test {id}: {e}")))?,
                expect: serde_json::from_str(&expect)
                    .map_err(|e| Error::InvalidInput(format!("bot test {id}: {e}")))?,
            })
        })
        .collect()
}

/// [`list_in`] on a pooled connection.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<BotTest>> {
    let mut conn = db.pool().acquire().await?;
    list_in(&mut conn, shop).await
}

//! Opening the database. One SQLite file per install (relay or desktop), in WAL mode with
//! foreign keys enforced, migrated to the current schema before anything reads it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::Result;

/// A handle to the migrated database. Cheap to clone (it wraps a pool).
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the SQLite file at `path` and runs pending migrations.
    /// Commits survive a crash of the process (WAL, `synchronous=NORMAL`): right for the
    /// desktop replica, which can always pull again.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Normal).await
    }

    /// Like [`Db::open`], but every commit is fsynced (`synchronous=FULL`), so a commit that
    /// returned survives power loss too: what the relay needs before it acknowledges a
    /// webhook.
    pub async fn open_durable(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Full).await
    }

    async fn open_with(path: impl AsRef<Path>, synchronous: SqliteSynchronous) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    crate::Error::InvalidInput(format!(
                        "cannot create the data folder {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Switching a fresh file to WAL can meet another opener's lock and fail at once
        // (SQLite's busy handler does not cover it): try again shortly.
        let mut tries = 0;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if tries < 10 => {
                    tries += 1;
                    tracing::debug!("opening attempt {tries} failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        // Two processes opening a fresh file at the same moment (the relay starting while a
        // provisioning command runs) can both try migration 1; the loser sees "table exists".
        // A second attempt reads the winner's bookkeeping and finds nothing left to do.
        let mut attempt = 0;
        loop {
            match sqlx::migrate!("./migrations").run(&pool).await {
                Ok(()) => break,
                Err(e) if attempt < 8 => {
                    attempt += 1;
                    tracing::debug!("migration attempt {attempt} failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self { pool, path })
    }

    /// The connection pool, for the storage modules.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Begins a transaction that takes the write lock at once (`BEGIN IMMEDIATE`): what it
    /// reads cannot be changed by another writer before it commits.
    pub async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Where the database file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection; pending writes are flushed.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_a_real_file_in_wal_mode_with_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("nested/ziflow.db")).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal", "concurrent readers need WAL");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1, "foreign keys must be enforced on every connection");
        assert!(
            dir.path().join("nested/ziflow.db").exists(),
            "the file is on disk"
        );
    }

    #[tokio::test]
    async fn two_openers_of_a_fresh_file_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        let (a, b) = tokio::join!(Db::open_durable(&path), Db::open(&path));
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_does_not_rerun_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let db = Db::open(&path).await.unwrap();
        crate::storage::shops::create(&db, "s1", "Shop", "USD", "America/Chicago", 1)
            .await
            .unwrap();
        db.close().await;
        let db = Db::open(&path).await.unwrap();
        let shop = crate::storage::shops::get(&db, "s1").await.unwrap();
        assert_eq!(shop.name, "Shop", "data survives a reopen");
    }
}

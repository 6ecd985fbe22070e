//! Opening the database. One SQLite file per install (relay or desktop), in WAL mode with
//! foreign keys enforced, migrated to the current schema before anything reads it.
//!
//! Two schemas: a relay's (`migrations/`, every table) and a desktop replica's (the same
//! history, then `migrations-replica/`, which drops the tables only a relay uses: devices,
//! secrets, command answers, the engine cursor, jobs, quarantine). Migration numbers are
//! unique across both folders, so one `_sqlx_migrations` table records either.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::Result;

/// The relay's schema: every table.
static RELAY: Migrator = sqlx::migrate!("./migrations");

/// What a desktop replica applies after [`RELAY`]'s history.
static REPLICA_ONLY: Migrator = sqlx::migrate!("./migrations-replica");

/// The relay's schema on PostgreSQL: the same tables, in PostgreSQL's types.
#[cfg(feature = "postgres")]
static RELAY_POSTGRES: Migrator = sqlx::migrate!("./migrations-postgres");

/// A handle to the migrated database. Cheap to clone (it wraps a pool).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    path: Option<PathBuf>,
    /// PostgreSQL: commits of [`Db::begin_immediate`] return before their flush
    /// ([`Db::without_waiting_for_flush`]).
    relaxed: bool,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Which database a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (the desktop, a single relay).
    Sqlite,
    /// A PostgreSQL database shared by any number of relays.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`, as `/healthz` and `/metrics` name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One connection taken from a [`Db`], possibly inside a transaction ([`Db::begin`]). Every
/// storage function that must share the caller's transaction takes `&mut Conn`; the
/// transaction ends with [`Conn::commit`] (dropping it uncommitted rolls it back).
#[derive(Debug)]
pub struct Conn {
    inner: Inner,
    /// This transaction holds the write lock ([`Conn::serialize_writes`]).
    writing: bool,
    /// Its commit need not wait for the flush ([`Db::without_waiting_for_flush`]).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    relaxed: bool,
}

#[derive(Debug)]
enum Inner {
    Sqlite(PoolConnection<Sqlite>),
    SqliteTx(Transaction<'static, Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(PoolConnection<sqlx::Postgres>),
    #[cfg(feature = "postgres")]
    PostgresTx(Transaction<'static, sqlx::Postgres>),
}

/// A [`Conn`]'s driver connection, for the storage modules' query macros.
pub(crate) enum Driver<'c> {
    Sqlite(&'c mut SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
}

/// The PostgreSQL advisory lock every transaction that writes takes first (see
/// [`Conn::serialize_writes`]).
pub const WRITE_LOCK: i64 = 0x5a49_464c_4f57; // "ZIFLOW"

/// How long a writer waits for the write lock before it fails (and is retried), like
/// SQLite's busy timeout.
#[cfg(feature = "postgres")]
const WRITE_LOCK_WAIT_MS: &str = "5000";

impl Conn {
    /// Makes this transaction the only one writing until it ends, as SQLite's file lock does
    /// (already held there by `BEGIN IMMEDIATE` or the first write): on PostgreSQL a
    /// transaction-scoped advisory lock, which every relay sharing the database takes before
    /// it writes. So the log's ids are drawn in commit order — a reader following
    /// `after=ID` never sees a higher id before a lower one commits — and a read-then-write
    /// (an invoice's next number, a job's claim) sees no other writer's work in between.
    /// Taking it again in the same transaction costs nothing (no statement). On PostgreSQL it
    /// lasts until the transaction ends, and so does its 5 s `lock_timeout` (a later row lock
    /// in the same transaction waits as long at most); a relaxed handle's transaction also
    /// commits without waiting for the flush.
    pub async fn serialize_writes(&mut self) -> Result<()> {
        if self.writing {
            return Ok(());
        }
        #[cfg(feature = "postgres")]
        if matches!(self.inner, Inner::Postgres(_)) {
            // Outside a transaction the lock would end with this very statement.
            return Err(crate::Error::InvalidInput(
                "a write to the log on PostgreSQL must be inside a transaction (Db::begin)".into(),
            ));
        }
        #[cfg(feature = "postgres")]
        let relaxed = self.relaxed;
        match self.driver() {
            Driver::Sqlite(_) => {}
            #[cfg(feature = "postgres")]
            Driver::Postgres(c) => {
                sqlx::query(
                    "SELECT set_config('lock_timeout', $1, true),
                            set_config('synchronous_commit',
                                       CASE WHEN $2 THEN 'off'
                                            ELSE current_setting('synchronous_commit') END,
                                       true),
                            pg_advisory_xact_lock($3)",
                )
                .bind(WRITE_LOCK_WAIT_MS)
                .bind(relaxed)
                .bind(WRITE_LOCK)
                .execute(c)
                .await?;
            }
        }
        self.writing = true;
        Ok(())
    }

    /// The driver connection underneath.
    pub(crate) fn driver(&mut self) -> Driver<'_> {
        match &mut self.inner {
            Inner::Sqlite(c) => Driver::Sqlite(c),
            Inner::SqliteTx(t) => Driver::Sqlite(t),
            #[cfg(feature = "postgres")]
            Inner::Postgres(c) => Driver::Postgres(c),
            #[cfg(feature = "postgres")]
            Inner::PostgresTx(t) => Driver::Postgres(t),
        }
    }

    /// Which database this connection is to.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Sqlite(_) | Inner::SqliteTx(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) | Inner::PostgresTx(_) => Backend::Postgres,
        }
    }

    /// Commits the transaction begun by [`Db::begin`] (nothing to do outside one).
    pub async fn commit(self) -> Result<()> {
        match self.inner {
            Inner::SqliteTx(t) => t.commit().await?,
            #[cfg(feature = "postgres")]
            Inner::PostgresTx(t) => t.commit().await?,
            _ => {}
        }
        Ok(())
    }

    /// Undoes the transaction begun by [`Db::begin`] (what dropping it does too, but
    /// waiting for it).
    pub async fn rollback(self) -> Result<()> {
        match self.inner {
            Inner::SqliteTx(t) => t.rollback().await?,
            #[cfg(feature = "postgres")]
            Inner::PostgresTx(t) => t.rollback().await?,
            _ => {}
        }
        Ok(())
    }
}

impl Db {
    /// Opens (creating if needed) the SQLite file at `path` with the relay's schema and runs
    /// pending migrations. Commits survive a crash of the process (WAL,
    /// `synchronous=NORMAL`).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Normal, &RELAY).await
    }

    /// Like [`Db::open`], but every commit is fsynced (`synchronous=FULL`), so a commit that
    /// returned survives power loss too: what the relay needs before it acknowledges a
    /// webhook.
    pub async fn open_durable(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Full, &RELAY).await
    }

    /// Opens a desktop replica: the relay's shared history, then the replica's own
    /// migrations (see the module comment), `synchronous=NORMAL` (a replica can always pull
    /// again). Refuses a file that holds relay state (a device, a secret or a job), leaving
    /// it untouched.
    pub async fn open_replica(path: impl AsRef<Path>) -> Result<Self> {
        let replica =
            Migrator::with_migrations(RELAY.iter().chain(REPLICA_ONLY.iter()).cloned().collect());
        Self::open_with(path, SqliteSynchronous::Normal, &replica).await
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user@host/db`) with a pool of
    /// at most `connections`, and brings its schema to the relay's current one. Any number of
    /// relays may do this at the same moment: the migrations take a database-wide advisory
    /// lock, so one instance runs them and the others find nothing left to do.
    #[cfg(feature = "postgres")]
    pub async fn open_postgres(url: &str, connections: u32) -> Result<Self> {
        let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        RELAY_POSTGRES.run(&pool).await?;
        // Each connection caching a run of ids would hand them out out of order across
        // relays; the log's order rests on one counter.
        let cache: i64 = sqlx::query_scalar(
            "SELECT seqcache FROM pg_sequence WHERE seqrelid = 'events_id_seq'::regclass",
        )
        .fetch_one(&pool)
        .await?;
        if cache != 1 {
            pool.close().await;
            return Err(crate::Error::InvalidInput(format!(
                "the events id sequence caches {cache} ids per connection; the log needs \
                 CACHE 1 (ALTER SEQUENCE events_id_seq CACHE 1)"
            )));
        }
        Ok(Self {
            pool: Pool::Postgres(pool),
            path: None,
            relaxed: false,
        })
    }

    async fn open_with(
        path: impl AsRef<Path>,
        synchronous: SqliteSynchronous,
        migrator: &Migrator,
    ) -> Result<Self> {
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
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(e) if attempt < 8 && lost_a_race(&e) => {
                    attempt += 1;
                    tracing::debug!("migration attempt {attempt} failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self {
            pool: Pool::Sqlite(pool),
            path: Some(path),
            relaxed: false,
        })
    }

    /// The same PostgreSQL database, but its write transactions' commits return before they
    /// reach the disk (`synchronous_commit = off`, per transaction): what the relay's engine
    /// uses, as it uses `synchronous=NORMAL` on SQLite. Its work is derived from the log, which
    /// every webhook's commit flushed before its 2xx, so a crash can only make it apply again;
    /// and a later flushed commit flushes the earlier ones too. No change on SQLite.
    pub fn without_waiting_for_flush(&self) -> Self {
        Self {
            relaxed: true,
            ..self.clone()
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool underneath, if this is SQLite: for a test's own bookkeeping queries
    /// and SQLite-only maintenance (the online backup). Domain code goes through the storage
    /// modules.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool underneath, if this is PostgreSQL: the push notifications' own
    /// connections, and a test's own bookkeeping queries.
    #[cfg(feature = "postgres")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// How many transactions wait for the write lock right now ([`Conn::serialize_writes`]):
    /// PostgreSQL's own account (`pg_locks`); always 0 on SQLite, whose writers wait inside
    /// the driver.
    pub async fn write_lock_waiters(&self) -> Result<i64> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(0),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => Ok(sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                 WHERE l.locktype = 'advisory' AND NOT l.granted
                   AND d.datname = current_database()",
            )
            .fetch_one(p)
            .await?),
        }
    }

    /// A connection from the pool, outside any transaction.
    pub async fn acquire(&self) -> Result<Conn> {
        Ok(self.conn(match &self.pool {
            Pool::Sqlite(p) => Inner::Sqlite(p.acquire().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => Inner::Postgres(p.acquire().await?),
        }))
    }

    fn conn(&self, inner: Inner) -> Conn {
        Conn {
            inner,
            writing: false,
            relaxed: self.relaxed,
        }
    }

    /// Begins a transaction (SQLite: deferred, taking the write lock at its first write).
    pub async fn begin(&self) -> Result<Conn> {
        Ok(self.conn(match &self.pool {
            Pool::Sqlite(p) => Inner::SqliteTx(p.begin().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => Inner::PostgresTx(p.begin().await?),
        }))
    }

    /// Begins a transaction that writes, taking the write lock at once: what it reads cannot
    /// be changed by another writer before it commits. SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
    /// [`Conn::serialize_writes`], for every relay sharing the database.
    pub async fn begin_immediate(&self) -> Result<Conn> {
        let mut conn = self.conn(match &self.pool {
            Pool::Sqlite(p) => Inner::SqliteTx(p.begin_with("BEGIN IMMEDIATE").await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => Inner::PostgresTx(p.begin().await?),
        });
        conn.serialize_writes().await?;
        Ok(conn)
    }

    /// Where the database file lives (`None` on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Closes every connection; pending writes are flushed.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// Whether a migration failed because another opener was migrating the same fresh file at
/// that moment (worth another try: the loser sees "table exists", "duplicate column", a lock),
/// rather than because of the file itself: a migration this build does not know or that
/// changed, or the replica's guard refusing a relay's file.
fn lost_a_race(e: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::VersionMissing(_) | MigrateError::VersionMismatch(_) => false,
        other => !other.to_string().contains("CHECK constraint failed"),
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
            .fetch_one(db.sqlite_pool().unwrap())
            .await
            .unwrap();
        assert_eq!(mode, "wal", "concurrent readers need WAL");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.sqlite_pool().unwrap())
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

    /// The tables of the file, by name.
    async fn tables(db: &Db) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(db.sqlite_pool().unwrap())
            .await
            .unwrap()
    }

    const RELAY_ONLY: [&str; 6] = [
        "command_results",
        "devices",
        "engine_cursor",
        "jobs",
        "quarantined_events",
        "shop_secrets",
    ];

    #[tokio::test]
    async fn a_replica_carries_no_relay_tables_and_an_old_replica_loses_them_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = Db::open_replica(dir.path().join("fresh.db")).await.unwrap();
        let have = tables(&fresh).await;
        for t in RELAY_ONLY {
            assert!(
                !have.contains(&t.to_string()),
                "{t} is on a fresh replica: {have:?}"
            );
        }
        assert!(have.contains(&"invoices".to_string()), "{have:?}");

        // A replica written before the split was migrated like a relay.
        let path = dir.path().join("old.db");
        let old = Db::open(&path).await.unwrap();
        crate::storage::shops::create(&old, "s1", "Shop", "USD", "America/Chicago", 1)
            .await
            .unwrap();
        old.close().await;
        let db = Db::open_replica(&path).await.unwrap();
        let have = tables(&db).await;
        for t in RELAY_ONLY {
            assert!(
                !have.contains(&t.to_string()),
                "{t} survived the upgrade: {have:?}"
            );
        }
        let shop = crate::storage::shops::get(&db, "s1").await.unwrap();
        assert_eq!(shop.name, "Shop", "the replica's data survives the upgrade");
    }

    #[tokio::test]
    async fn a_relay_database_is_never_opened_as_a_replica() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let relay = Db::open_durable(&path).await.unwrap();
        crate::storage::shops::create(&relay, "s1", "Shop", "USD", "America/Chicago", 1)
            .await
            .unwrap();
        crate::storage::devices::add(
            &relay,
            "s1",
            "Front desk",
            crate::storage::devices::Role::Owner,
            &[],
            "token",
            1,
        )
        .await
        .unwrap();
        relay.close().await;
        let err = Db::open_replica(&path).await.unwrap_err();
        assert!(
            err.to_string().contains("CHECK"),
            "refused by the guard: {err}"
        );
        let relay = Db::open_durable(&path).await.unwrap();
        let have = tables(&relay).await;
        for t in RELAY_ONLY {
            assert!(
                have.contains(&t.to_string()),
                "{t} was dropped from a relay: {have:?}"
            );
        }

        // And a replica is never opened as a relay: it has a migration the relay lacks.
        let replica = dir.path().join("replica.db");
        Db::open_replica(&replica).await.unwrap().close().await;
        assert!(
            Db::open(&replica).await.is_err(),
            "a relay refuses a replica file"
        );
    }
}

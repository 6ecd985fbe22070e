//! Waking the other relays that share a PostgreSQL database: after a commit, a relay tells
//! the others which shops' logs grew (`NOTIFY ziflow_log`), and each relay listens for that
//! on a connection of its own. On SQLite there is one relay per file and nothing to say.
//!
//! A notification is a hint, never the data: a relay that misses one (its listening
//! connection dropped and came back) tells its devices to pull from their cursors.

use crate::{Db, Result};

/// The channel relays notify and listen on.
pub const CHANNEL: &str = "ziflow_log";

/// The longest payload PostgreSQL takes is 8,000 bytes; notifications stay below this.
pub const MAX_PAYLOAD: usize = 7_900;

/// Sends `payload` to every relay listening on the database (none on SQLite). Outside any
/// transaction: a NOTIFY inside one takes a database-wide lock at its commit.
pub async fn notify(db: &Db, payload: &str) -> Result<()> {
    #[cfg(feature = "postgres")]
    if let Some(pool) = db.postgres_pool() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pool)
            .await?;
    }
    #[cfg(not(feature = "postgres"))]
    let _ = (db, payload);
    Ok(())
}

/// What a [`Listener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Another relay's (or this one's) notification.
    Payload(String),
    /// The listening connection was lost and is back: notifications sent meanwhile are gone.
    Reconnected,
}

/// A connection listening on [`CHANNEL`].
#[cfg(feature = "postgres")]
pub struct Listener(sqlx::postgres::PgListener);

#[cfg(feature = "postgres")]
impl Listener {
    /// Listens on `db`'s database; `None` on SQLite.
    pub async fn connect(db: &Db) -> Result<Option<Self>> {
        let Some(pool) = db.postgres_pool() else {
            return Ok(None);
        };
        // A connection of its own, outside the relay's pool (which it would hold forever).
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// The next notification, or that the connection came back after a loss (it reconnects
    /// and listens again by itself).
    pub async fn next(&mut self) -> Result<Heard> {
        Ok(match self.0.try_recv().await? {
            Some(n) => Heard::Payload(n.payload().to_string()),
            None => Heard::Reconnected,
        })
    }
}

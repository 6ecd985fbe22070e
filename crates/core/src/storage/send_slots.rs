//! The WhatsApp per-number send rate for every relay on one PostgreSQL database: a slot row
//! per business number (generic cell rate: a second's worth may go at once, then one message
//! each `1/rate` seconds), on the database's clock so relays on different machines agree.
//! On SQLite there is one relay per file, and it spaces its sends in memory.

use crate::{Db, Result};

/// How long the caller waits before sending one more message from `number` at `rate` per
/// second, having taken that turn (its slot is reserved). `None` on SQLite.
pub async fn take(db: &Db, number: &str, rate: u32) -> Result<Option<std::time::Duration>> {
    #[cfg(feature = "postgres")]
    if let Some(pool) = db.postgres_pool() {
        let step = 1_000_000 / i64::from(rate.max(1));
        let wait_us: i64 = sqlx::query_scalar(
            "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us),
                  slot AS (
                      INSERT INTO send_slots (number, next_us)
                      SELECT $1, now.us - 1000000 + 2 * $2 FROM now
                      ON CONFLICT (number) DO UPDATE
                      SET next_us = GREATEST(send_slots.next_us,
                                             (SELECT us FROM now) - 1000000 + $2) + $2
                      RETURNING next_us)
             SELECT GREATEST(0, slot.next_us - $2 - now.us) FROM slot, now",
        )
        .bind(number)
        .bind(step)
        .fetch_one(pool)
        .await?;
        return Ok(Some(std::time::Duration::from_micros(
            u64::try_from(wait_us).unwrap_or(0),
        )));
    }
    #[cfg(not(feature = "postgres"))]
    let _ = (db, number, rate);
    Ok(None)
}

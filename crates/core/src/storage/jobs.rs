//! Durable outbound work. A job is enqueued in the transaction of whatever caused it; the
//! relay's runner claims due jobs, runs them outside any transaction, and records the result.
//!
//! Invariants: one job per idempotency key (enqueueing it again is a no-op), and that key is
//! what the provider receives, so a job run twice (a crash after the call, before the
//! result was stored) is still done once. Claiming pushes `run_at` forward by a lease: a job
//! whose runner died is picked up again when the lease ends, not while it may still run.

use serde_json::Value;
use sqlx::FromRow;

use crate::storage::Conn;

use crate::{Db, Error, Result};

/// A job row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// The shop.
    pub shop_uid: String,
    /// What to do (`pay.create_link`, `pay.expire_link`, `pay.refund`).
    pub kind: String,
    /// The key sent to the provider.
    pub idempotency_key: String,
    /// The step's input, fixed when enqueued.
    pub payload: String,
    /// Unix seconds when it is due.
    pub run_at: i64,
    /// Attempts started so far.
    pub attempts: i64,
    /// `pending`, `done` or `failed`.
    pub state: String,
    /// The last failure, in words.
    pub last_error: Option<String>,
}

/// Most attempts before a job is given up as failed (with backoff, about a day).
pub const MAX_ATTEMPTS: i64 = 16;

/// How long a claimed job is left alone before another runner may take it.
pub const LEASE_SECS: i64 = 120;

/// Seconds to wait before attempt `attempts + 1`: 2, 4, 8 … capped at 2 hours.
pub fn backoff(attempts: i64) -> i64 {
    2_i64
        .saturating_pow(u32::try_from(attempts.clamp(1, 13)).unwrap_or(13))
        .min(7200)
}

/// Enqueues a job unless one with `key` exists. Returns its id either way.
pub async fn enqueue_in(
    conn: &mut Conn,
    shop: &str,
    kind: &str,
    key: &str,
    payload: &Value,
    run_at: i64,
    now: i64,
) -> Result<i64> {
    execute!(
        &mut *conn,
        "INSERT INTO jobs (shop_uid, kind, idempotency_key, payload, run_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
        shop,
        kind,
        key,
        payload.to_string(),
        run_at,
        now
    )?;
    Ok(query_scalar!(
        fetch_one,
        &mut *conn,
        "SELECT id FROM jobs WHERE idempotency_key = $1",
        key
    )?)
}

/// [`query_as!`] of [`Job`]s: the job columns, then the rest of the statement and its
/// arguments.
macro_rules! query_jobs {
    ($fetch:ident, $conn:expr, $rest:literal $(, $arg:expr)* $(,)?) => {
        query_as!(
            $fetch,
            $conn,
            Job,
            "SELECT id, shop_uid, kind, idempotency_key, payload, run_at, attempts, state,
                    last_error FROM jobs " + $rest
            $(, $arg)*
        )
    };
}

/// How many jobs wait for their turn at `now`: pending and due, not claimed by a runner.
pub async fn due_count(db: &Db, now: i64) -> Result<i64> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        "SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= $1",
        now
    )?)
}

/// Claims due jobs for `now`: at most one per shop and lane (see [`lane`]) — the oldest due
/// one — and none of a lane in `busy` (already running), so one shop's backlog or slow
/// provider never keeps another shop's jobs waiting, and each shop's messages still go out in
/// order. Each claimed job's attempt is counted and its `run_at` pushed forward by the lease.
/// A job whose lease ran out [`MAX_ATTEMPTS`] times (its result could never be recorded)
/// gives up here. With `only`, just that job, if due.
pub async fn claim_in(
    conn: &mut Conn,
    now: i64,
    limit: i64,
    only: Option<i64>,
    busy: &[(String, &'static str)],
) -> Result<Vec<Job>> {
    execute!(
        &mut *conn,
        "UPDATE jobs SET state = 'failed', finished_at = $1,
                last_error = 'gave up after ' || attempts || ' attempts: ' ||
                             COALESCE(last_error, 'its result could not be recorded')
         WHERE state = 'pending' AND run_at <= $2 AND attempts >= $3",
        now,
        now,
        MAX_ATTEMPTS
    )?;
    let notify_kind = crate::notify::KIND;
    let wanted = limit.saturating_add(i64::try_from(busy.len()).unwrap_or(i64::MAX));
    let candidates = query_as!(
        fetch_all,
        &mut *conn,
        Job,
        r#"SELECT id AS "id!", shop_uid AS "shop_uid!", kind AS "kind!",
                  idempotency_key AS "idempotency_key!", payload AS "payload!",
                  run_at AS "run_at!", attempts AS "attempts!", state AS "state!", last_error
           FROM (SELECT j.*, ROW_NUMBER() OVER (
                     PARTITION BY shop_uid,
                         CASE kind WHEN $1 THEN 'notify' WHEN $2 THEN 'agent' ELSE 'main' END
                     ORDER BY run_at, id) AS nth
                 FROM jobs j
                 WHERE state = 'pending' AND run_at <= $3 AND ($4 IS NULL OR id = $5))
                 AS due
           WHERE nth = 1 ORDER BY run_at, id LIMIT $6"#,
        notify_kind,
        READ_KIND,
        now,
        only,
        only,
        wanted
    )?;
    let mut jobs = Vec::new();
    for job in candidates {
        if busy
            .iter()
            .any(|(s, l)| *s == job.shop_uid && *l == lane(&job.kind))
        {
            continue;
        }
        if i64::try_from(jobs.len()).unwrap_or(i64::MAX) >= limit {
            break;
        }
        execute!(
            &mut *conn,
            "UPDATE jobs SET attempts = attempts + 1, run_at = $1 WHERE id = $2",
            now + LEASE_SECS,
            job.id
        )?;
        jobs.push(Job {
            attempts: job.attempts + 1,
            ..job
        });
    }
    Ok(jobs)
}

/// The kind of the model reader's jobs (the agent's `ReadWork`), which have their own lane.
/// Spelt here so storage does not import the agent.
pub const READ_KIND: &str = "agent.read";

/// A job's lane: `notify` for notifications (a slow SMTP server must not hold up the shop's
/// pay links and replies), `agent` for the model reader's calls (a slow model holds up only
/// the next reading), `main` for everything else (one at a time, in order, per shop).
pub fn lane(kind: &str) -> &'static str {
    if kind == crate::notify::KIND {
        "notify"
    } else if kind == READ_KIND {
        "agent"
    } else {
        "main"
    }
}

/// Whether a job of `kind` older than job `id`, with a key starting `prefix`, is still to run
/// (the same conversation's earlier message, answered first).
pub async fn earlier_open(db: &Db, shop: &str, kind: &str, prefix: &str, id: i64) -> Result<bool> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        r#"SELECT EXISTS (SELECT 1 FROM jobs WHERE shop_uid = $1 AND kind = $2 AND id < $3
                AND state = 'pending' AND substr(idempotency_key, 1, length($4)) = $5)
                AS "open!: bool""#,
        shop,
        kind,
        id,
        prefix,
        prefix
    )?)
}

/// Records a job as done by the attempt that claimed it (`job` as `claim_in` returned it).
/// [`Error::Stale`] if that attempt no longer owns the job — its lease ran out and a newer
/// attempt claimed it — so the caller's transaction, with the attempt's result, is dropped.
pub async fn done_in(conn: &mut Conn, job: &Job, now: i64) -> Result<()> {
    let counted = execute!(
        &mut *conn,
        "UPDATE jobs SET state = 'done', finished_at = $1, last_error = NULL
         WHERE id = $2 AND attempts = $3 AND state = 'pending'",
        now,
        job.id,
        job.attempts
    )?;
    if counted == 0 {
        return Err(Error::Stale(format!(
            "job {} ({}): attempt {} no longer owns it (its lease ran out and it was taken over, \
             or it ended meanwhile); this attempt's result is dropped",
            job.id, job.kind, job.attempts
        )));
    }
    Ok(())
}

/// Records a failed attempt: retried after a backoff, or given up (`retry` false, or out
/// of attempts). Returns whether it will be retried — or `true` if the attempt was no
/// longer out (the job was done meanwhile), so nobody reports it as given up.
pub async fn failed_in(
    conn: &mut Conn,
    job: &Job,
    error: &str,
    retry: bool,
    now: i64,
) -> Result<bool> {
    let again = retry && job.attempts < MAX_ATTEMPTS;
    // Only the attempt that is still out: a job that was meanwhile done (its result recorded
    // just before a timeout or a panic was noticed) stays done.
    let changed = execute!(
        &mut *conn,
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, finished_at = $4
         WHERE id = $5 AND state = 'pending' AND attempts = $6",
        if again { "pending" } else { "failed" },
        now + backoff(job.attempts),
        error,
        (!again).then_some(now),
        job.id,
        job.attempts
    )?;
    // A job no longer out (done meanwhile) was not given up by this attempt.
    Ok(again || changed == 0)
}

/// Gives a failed job another run now (a person asked again, e.g. after fixing the key).
/// Returns whether it was failed.
pub async fn revive_in(conn: &mut Conn, id: i64, now: i64) -> Result<bool> {
    Ok(execute!(
        &mut *conn,
        "UPDATE jobs SET state = 'pending', attempts = 0, run_at = $1, finished_at = NULL
         WHERE id = $2 AND state = 'failed'",
        now,
        id
    )? == 1)
}

/// A job by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<Job>> {
    Ok(query_jobs!(
        fetch_optional,
        &mut db.acquire().await?,
        "WHERE id = $1",
        id
    )?)
}

/// A shop's jobs, newest first (for the operator and tests).
pub async fn list(db: &Db, shop: &str) -> Result<Vec<Job>> {
    Ok(query_jobs!(
        fetch_all,
        &mut db.acquire().await?,
        "WHERE shop_uid = $1 ORDER BY id DESC",
        shop
    )?)
}

/// The earliest `run_at` of a pending job, to sleep until.
pub async fn next_due(db: &Db) -> Result<Option<i64>> {
    Ok(query_scalar!(
        fetch_one,
        &mut db.acquire().await?,
        "SELECT MIN(run_at) FROM jobs WHERE state = 'pending'"
    )?)
}

/// The states of the refund jobs (`pay.refund`) of invoice `invoice_id`, oldest first.
pub async fn refund_states_in(conn: &mut Conn, shop: &str, invoice_id: i64) -> Result<Vec<String>> {
    Ok(query_scalar!(
        fetch_all,
        &mut *conn,
        sqlite: "SELECT state FROM jobs WHERE shop_uid = $1 AND kind = 'pay.refund'
           AND json_extract(payload, '$.request.invoice_id') = $2 ORDER BY id",
        postgres: "SELECT state FROM jobs WHERE shop_uid = $1 AND kind = 'pay.refund'
           AND (payload::json #>> '{request,invoice_id}')::bigint = $2 ORDER BY id",
        shop,
        invoice_id
    )?)
}

/// The shop's pending jobs of `kind`: id and payload.
pub async fn pending_of_kind_in(
    conn: &mut Conn,
    shop: &str,
    kind: &str,
) -> Result<Vec<(i64, String)>> {
    Ok(query_as!(
        fetch_all,
        conn,
        IdPayload,
        "SELECT id, payload FROM jobs WHERE shop_uid = $1 AND kind = $2 AND state = 'pending'",
        shop,
        kind
    )?
    .into_iter()
    .map(|r| (r.id, r.payload))
    .collect())
}

#[derive(sqlx::FromRow)]
struct IdPayload {
    id: i64,
    payload: String,
}

/// Ends job `id` without running it, saying `why`.
pub async fn end_in(conn: &mut Conn, id: i64, why: &str, now: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE jobs SET state = 'done', finished_at = $1, last_error = $2 WHERE id = $3",
        now,
        why,
        id
    )?;
    Ok(())
}

/// Moves job `id` to run at `run_at`.
pub async fn move_in(conn: &mut Conn, id: i64, run_at: i64) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE jobs SET run_at = $1 WHERE id = $2",
        run_at,
        id
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), 2);
        assert_eq!(backoff(2), 4);
        assert_eq!(backoff(5), 32);
        assert_eq!(backoff(40), 7200);
    }
}

//! The log primitive: record an event in a shop's log, apply it (the projection desks run
//! too) and enqueue the outbound work it calls for — one function, in the caller's
//! transaction, for commands, jobs and the agent alike. The relay's engine applies provider
//! events with the same [`enqueue_effects`].

use crate::storage::Conn;

use crate::projection::{self, Applied};
use crate::storage::{events, jobs};
use crate::{Error, Result};
use ziflow_protocol::Event;

/// Appends `event` to `shop`'s log at `now`, applies it and enqueues what it calls for, in
/// the caller's transaction. Returns its id.
pub async fn record(conn: &mut Conn, shop: &str, event: &Event, now: i64) -> Result<i64> {
    let row = events::append_event(conn, shop, event, now)
        .await?
        // Only provider events (with a provider id) can be refused as redeliveries.
        .ok_or_else(|| {
            Error::InvalidInput(format!("the {} event was not recorded", event.kind()))
        })?;
    let applied = projection::apply(conn, &row).await?;
    enqueue_effects(conn, shop, &applied, now).await?;
    Ok(row.id)
}

/// Appends `event` to `shop`'s log at `now` without applying it (the relay's engine applies
/// it in log order). Returns its id.
pub async fn append(conn: &mut Conn, shop: &str, event: &Event, now: i64) -> Result<Option<i64>> {
    Ok(events::append_event(conn, shop, event, now)
        .await?
        .map(|row| row.id))
}

/// Enqueues the outbound work an applied event calls for, each job once per key: WhatsApp
/// sends and read marks, the CRM rules' jobs, and provider work (under its step name).
/// Returns whether anything was enqueued (the caller wakes the job runner).
pub async fn enqueue_effects(
    conn: &mut Conn,
    shop: &str,
    applied: &Applied,
    at: i64,
) -> Result<bool> {
    for work in &applied.sends {
        crate::channel::enqueue_in(conn, shop, work, at).await?;
    }
    for (kind, key, payload) in &applied.jobs {
        jobs::enqueue_in(conn, shop, kind, key, payload, at, at).await?;
    }
    for (step, work) in &applied.work {
        crate::pay::work::enqueue_in(conn, shop, work, step, at, at).await?;
    }
    Ok(!applied.sends.is_empty() || !applied.jobs.is_empty() || !applied.work.is_empty())
}

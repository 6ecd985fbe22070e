//! Moving a relay from SQLite to PostgreSQL (`ziflow-relay migrate`): every row of every
//! relay table, ids included, copied in one PostgreSQL transaction into an empty database,
//! then each id sequence set past the highest id. Event ids (the desktops' cursors), jobs,
//! command answers and sealed secrets arrive as they were, so desktops carry on syncing from
//! their cursors and the same master key opens the secrets.

use sqlx::Row;

use crate::{Db, Error, Result};

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `INTEGER` / `BIGINT`.
    Int,
    /// `TEXT`.
    Text,
    /// 0/1 on SQLite, `BOOLEAN` on PostgreSQL.
    Flag,
    /// `BLOB` / `BYTEA`.
    Bytes,
}

use Kind::{Bytes, Flag, Int, Text};

/// Every relay table, parents before children, with every column the copy carries. A test
/// checks this against PostgreSQL's own list of columns, so a new column is not left behind.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "shops",
        &[
            ("uid", Text),
            ("name", Text),
            ("currency", Text),
            ("timezone", Text),
            ("created_at", Int),
            ("whatsapp_verify_token", Text),
        ],
    ),
    (
        "events",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("kind", Text),
            ("payload", Text),
            ("provider_id", Text),
            ("created_at", Int),
        ],
    ),
    (
        "conversations",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("customer_phone", Text),
            ("customer_name", Text),
            ("bot_enabled", Flag),
            ("unread", Int),
            ("handoff_reason", Text),
            ("last_inbound_at", Int),
            ("opted_out", Flag),
        ],
    ),
    (
        "messages",
        &[
            ("id", Int),
            ("conversation_id", Int),
            ("direction", Text),
            ("body", Text),
            ("sent_at", Int),
            ("event_id", Int),
            ("wamid", Text),
            ("author", Text),
            ("send_error", Text),
        ],
    ),
    (
        "invoices",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("number", Int),
            ("customer_phone", Text),
            ("currency", Text),
            ("shipping_minor", Int),
            ("total_minor", Int),
            ("address", Text),
            ("status", Text),
            ("paid_via", Text),
            ("fulfilment_stage", Text),
            ("created_at", Int),
            ("sent_at", Int),
            ("paid_at", Int),
            ("pay_provider", Text),
            ("pay_link", Text),
            ("pay_token", Text),
            ("link_expires_at", Int),
            ("kind", Text),
            ("every_unit", Text),
            ("every_count", Int),
            ("first_charge_at", Int),
            ("link_ref", Text),
            ("payment_ref", Text),
            ("failed_at", Int),
            ("expired_at", Int),
            ("refunded_minor", Int),
            ("subscription_ref", Text),
            ("send_error", Text),
            ("notify_customer", Flag),
            ("reminders_sent", Int),
            ("abandoned_at", Int),
        ],
    ),
    (
        "invoice_items",
        &[
            ("id", Int),
            ("invoice_id", Int),
            ("sku", Text),
            ("name", Text),
            ("variant", Text),
            ("qty", Int),
            ("unit_minor", Int),
        ],
    ),
    (
        "settings",
        &[("shop_uid", Text), ("key", Text), ("value", Text)],
    ),
    (
        "devices",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("name", Text),
            ("role", Text),
            ("token_hash", Text),
            ("created_at", Int),
            ("revoked_at", Int),
            ("can", Text),
        ],
    ),
    (
        "command_results",
        &[
            ("shop_uid", Text),
            ("idempotency_key", Text),
            ("status", Int),
            ("body", Text),
            ("created_at", Int),
        ],
    ),
    ("engine_cursor", &[("name", Text), ("last_id", Int)]),
    (
        "jobs",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("kind", Text),
            ("idempotency_key", Text),
            ("payload", Text),
            ("run_at", Int),
            ("attempts", Int),
            ("state", Text),
            ("last_error", Text),
            ("created_at", Int),
            ("finished_at", Int),
        ],
    ),
    (
        "products",
        &[
            ("shop_uid", Text),
            ("sku", Text),
            ("name", Text),
            ("aliases", Text),
            ("price_minor", Int),
            ("variants", Text),
            ("deposit_minor", Int),
            ("service", Flag),
            ("position", Int),
        ],
    ),
    (
        "shipping_zones",
        &[
            ("shop_uid", Text),
            ("position", Int),
            ("name", Text),
            ("price_minor", Int),
            ("cities", Text),
            ("states", Text),
            ("zip_prefixes", Text),
            ("is_default", Flag),
        ],
    ),
    (
        "agent_states",
        &[
            ("shop_uid", Text),
            ("customer_phone", Text),
            ("state", Text),
            ("updated_at", Int),
        ],
    ),
    (
        "message_statuses",
        &[
            ("shop_uid", Text),
            ("wamid", Text),
            ("status", Text),
            ("at", Int),
            ("error", Text),
        ],
    ),
    (
        "leads",
        &[
            ("shop_uid", Text),
            ("phone", Text),
            ("stage", Text),
            ("tags", Text),
            ("fields", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
    ),
    (
        "lead_history",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("phone", Text),
            ("event_id", Int),
            ("rule", Text),
            ("what", Text),
            ("at", Int),
        ],
    ),
    (
        "automation_runs",
        &[("shop_uid", Text), ("rule", Text), ("event_id", Int)],
    ),
    (
        "shop_secrets",
        &[("shop_uid", Text), ("name", Text), ("sealed", Bytes)],
    ),
    (
        "notifications",
        &[
            ("shop_uid", Text),
            ("key", Text),
            ("channel", Text),
            ("text", Text),
            ("phone", Text),
            ("state", Text),
            ("attempts", Int),
            ("answer", Text),
            ("at", Int),
        ],
    ),
    (
        "quarantined_events",
        &[
            ("event_id", Int),
            ("shop_uid", Text),
            ("kind", Text),
            ("reason", Text),
            ("tries", Int),
            ("quarantined_at", Int),
        ],
    ),
    (
        "payments",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("invoice_id", Int),
            ("provider", Text),
            ("outcome", Text),
            ("amount_minor", Int),
            ("currency", Text),
            ("occurred_at", Int),
            ("source_event", Int),
        ],
    ),
    (
        "agent_tests",
        &[
            ("id", Int),
            ("shop_uid", Text),
            ("name", Text),
            ("messages", Text),
            ("expect", Text),
            ("created_at", Int),
        ],
    ),
];

/// Columns PostgreSQL has that the copy leaves to their defaults (not in SQLite).
const POSTGRES_ONLY: &[(&str, &str)] = &[("notifications", "id")];

/// Tables of the PostgreSQL schema that hold no relay data to copy.
const NOT_COPIED: &[&str] = &["send_slots", "_sqlx_migrations"];

/// Rows read from SQLite at a time.
const PAGE: i64 = 2_000;

/// One value of a row in flight.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Flag(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

/// Copies every relay table of `from` (SQLite) into `to` (PostgreSQL), which must hold no
/// shop yet; one transaction, so a failure leaves `to` empty. Returns the rows per table.
pub async fn sqlite_to_postgres(from: &Db, to: &Db) -> Result<Vec<(&'static str, u64)>> {
    let (Some(source), Some(target)) = (from.sqlite_pool(), to.postgres_pool()) else {
        return Err(Error::InvalidInput(
            "a move goes from a SQLite relay to a PostgreSQL database".into(),
        ));
    };
    let mut tx = target.begin().await?;
    let shops: i64 = sqlx::query_scalar("SELECT count(*) FROM shops")
        .fetch_one(&mut *tx)
        .await?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    if shops + events > 0 {
        return Err(Error::InvalidInput(format!(
            "the PostgreSQL database already holds a relay ({shops} shops, {events} events): \
             a move goes into an empty database only"
        )));
    }
    let mut counts = Vec::new();
    for (table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let select = format!(
            "SELECT rowid AS copy_rowid, {} FROM {table} WHERE rowid > $1 ORDER BY rowid LIMIT $2",
            names.join(", ")
        );
        let mut after = 0_i64;
        let mut copied = 0_u64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(after)
                .bind(PAGE)
                .fetch_all(source)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("copy_rowid")?;
            let values = rows
                .iter()
                .map(|row| read_row(row, columns))
                .collect::<Result<Vec<_>>>()?;
            // PostgreSQL takes at most 65,535 parameters a statement.
            let per_statement = (60_000 / columns.len()).max(1);
            for chunk in values.chunks(per_statement) {
                let sql = super::multi_row_sql(
                    &format!("INSERT INTO {table} ({})", names.join(", ")),
                    chunk.len(),
                    columns.len(),
                    "",
                );
                let mut insert = sqlx::query(sql);
                for row in chunk {
                    for value in row {
                        insert = match value {
                            Value::Int(v) => insert.bind(*v),
                            Value::Text(v) => insert.bind(v.clone()),
                            Value::Flag(v) => insert.bind(*v),
                            Value::Bytes(v) => insert.bind(v.clone()),
                        };
                    }
                }
                insert.execute(&mut *tx).await?;
            }
            copied += u64::try_from(values.len()).unwrap_or(0);
        }
        if columns.first().is_some_and(|(name, _)| *name == "id") {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                        COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ));
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        counts.push((*table, copied));
    }
    tx.commit().await?;
    Ok(counts)
}

fn read_row(row: &sqlx::sqlite::SqliteRow, columns: &[(&str, Kind)]) -> Result<Vec<Value>> {
    columns
        .iter()
        .map(|(name, kind)| {
            Ok(match kind {
                Int => Value::Int(row.try_get(*name)?),
                Text => Value::Text(row.try_get(*name)?),
                Flag => Value::Flag(row.try_get::<Option<i64>, _>(*name)?.map(|v| v != 0)),
                Bytes => Value::Bytes(row.try_get(*name)?),
            })
        })
        .collect()
}

/// The relay's PostgreSQL columns the copy does not carry, as `table.column`: empty when
/// [`TABLES`] covers the schema (checked by the tests).
pub async fn uncopied_columns(to: &Db) -> Result<Vec<String>> {
    let Some(pool) = to.postgres_pool() else {
        return Ok(Vec::new());
    };
    let all: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    Ok(all
        .into_iter()
        .filter(|(t, c)| {
            !NOT_COPIED.contains(&t.as_str())
                && !POSTGRES_ONLY.contains(&(t.as_str(), c.as_str()))
                && !TABLES
                    .iter()
                    .any(|(table, cols)| table == t && cols.iter().any(|(n, _)| n == c))
        })
        .map(|(t, c)| format!("{t}.{c}"))
        .collect())
}

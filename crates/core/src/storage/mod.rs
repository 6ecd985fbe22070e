//! All SQL lives here, one module per table family. Other modules call these functions and
//! never write SQL themselves.
//!
//! Two databases, one code path: SQLite (the desktop, a single relay) and, with the
//! `postgres` feature, PostgreSQL (relays scaled out over one database). Functions take the
//! [`Db`](crate::Db) handle; functions that must be part of a larger transaction take a
//! [`&mut Conn`](Conn) instead.
//!
//! Every statement is one SQL text for both databases, run through the macros below
//! ([`query_as!`], [`query_scalar!`], [`execute!`]): on SQLite they are `sqlx::query_as!` and
//! friends, checked at compile time against the schema the migrations make (offline data in
//! `crates/core/.sqlx/`, rewritten by `cargo xtask sql-prepare`); on PostgreSQL the same text
//! runs as a prepared statement whose rows decode into the same types, checked by the whole
//! test suite running on both. Placeholders are numbered (`$1`, `$2`, …), which SQLite binds
//! as PostgreSQL does. Where the two dialects must differ, the statement gives both texts
//! side by side (`sqlite: "…", postgres: "…"`), so the difference is visible in one place.
//! Statements whose text varies (the multi-row insert of [`multi_row_sql`]) run through
//! [`on_conn!`], which compiles one body per driver.

pub use db::{Backend, Conn};

/// Runs `$body` with `$c` bound to the driver connection under `$conn` (a `&mut Conn`): the
/// body is compiled once per database, so a runtime `sqlx::query` in it binds and decodes
/// with each driver's own types.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $crate::storage::Conn::driver($conn) {
            $crate::storage::db::Driver::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            $crate::storage::db::Driver::Postgres($c) => $body,
        }
    };
}

/// `sqlx::query_as!($T, SQL, args…).$fetch(conn)` on either database. `$conn` is a
/// `&mut Conn`; `$fetch` is `fetch_one`, `fetch_optional` or `fetch_all`. Evaluates to
/// `Result<_, sqlx::Error>`.
macro_rules! query_as {
    ($fetch:ident, $conn:expr, $T:path, sqlite: $sql:literal, postgres: $pg:literal $(, $arg:expr)* $(,)?) => {
        match $crate::storage::Conn::driver($conn) {
            $crate::storage::db::Driver::Sqlite(c) => {
                sqlx::query_as!($T, $sql $(, $arg)*).$fetch(c).await
            }
            #[cfg(feature = "postgres")]
            $crate::storage::db::Driver::Postgres(c) => {
                sqlx::query_as::<_, $T>($crate::storage::plain($pg))$(.bind($arg))*.$fetch(c).await
            }
        }
    };
    // A statement in two parts (a table's column list, then the rest): SQLite's checked macro
    // takes `"…" + "…"`, PostgreSQL the same text joined.
    ($fetch:ident, $conn:expr, $T:path, $head:literal + $rest:literal $(, $arg:expr)* $(,)?) => {
        match $crate::storage::Conn::driver($conn) {
            $crate::storage::db::Driver::Sqlite(c) => {
                sqlx::query_as!($T, $head + $rest $(, $arg)*).$fetch(c).await
            }
            #[cfg(feature = "postgres")]
            $crate::storage::db::Driver::Postgres(c) => {
                sqlx::query_as::<_, $T>($crate::storage::plain(concat!($head, $rest)))
                    $(.bind($arg))*
                    .$fetch(c)
                    .await
            }
        }
    };
    ($fetch:ident, $conn:expr, $T:path, $sql:literal $(, $arg:expr)* $(,)?) => {
        $crate::storage::query_as!($fetch, $conn, $T, sqlite: $sql, postgres: $sql $(, $arg)*)
    };
}
pub(crate) use query_as;

/// `sqlx::query_scalar!(SQL, args…).$fetch(conn)` on either database; the PostgreSQL arm
/// decodes into the type SQLite's checked statement gives.
macro_rules! query_scalar {
    ($fetch:ident, $conn:expr, sqlite: $sql:literal, postgres: $pg:literal $(, $arg:expr)* $(,)?) => {
        match $crate::storage::Conn::driver($conn) {
            $crate::storage::db::Driver::Sqlite(c) => {
                sqlx::query_scalar!($sql $(, $arg)*).$fetch(c).await
            }
            #[cfg(feature = "postgres")]
            $crate::storage::db::Driver::Postgres(c) => {
                sqlx::query_scalar($crate::storage::plain($pg))$(.bind($arg))*.$fetch(c).await
            }
        }
    };
    ($fetch:ident, $conn:expr, $sql:literal $(, $arg:expr)* $(,)?) => {
        $crate::storage::query_scalar!($fetch, $conn, sqlite: $sql, postgres: $sql $(, $arg)*)
    };
}
pub(crate) use query_scalar;

/// `sqlx::query!(SQL, args…).execute(conn)` on either database; evaluates to
/// `Result<u64, sqlx::Error>`, the number of rows changed.
macro_rules! execute {
    ($conn:expr, sqlite: $sql:literal, postgres: $pg:literal $(, $arg:expr)* $(,)?) => {
        match $crate::storage::Conn::driver($conn) {
            $crate::storage::db::Driver::Sqlite(c) => {
                sqlx::query!($sql $(, $arg)*).execute(c).await.map(|r| r.rows_affected())
            }
            #[cfg(feature = "postgres")]
            $crate::storage::db::Driver::Postgres(c) => {
                sqlx::query($crate::storage::plain($pg))$(.bind($arg))*
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    };
    ($conn:expr, $sql:literal $(, $arg:expr)* $(,)?) => {
        $crate::storage::execute!($conn, sqlite: $sql, postgres: $sql $(, $arg)*)
    };
}
pub(crate) use execute;

/// A checked statement's text as PostgreSQL runs it: sqlx's column annotations for SQLite
/// (`AS "id!"`, `AS "n!: i64"`, `AS "flag: bool"`) become plain column names.
#[cfg(feature = "postgres")]
pub(crate) fn plain(sql: &'static str) -> sqlx::AssertSqlSafe<std::borrow::Cow<'static, str>> {
    if !sql.contains('"') {
        return sqlx::AssertSqlSafe(std::borrow::Cow::Borrowed(sql));
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let quoted = &after[..close];
        match quoted.find(['!', '?', ':']) {
            Some(end) => out.push_str(quoted[..end].trim()),
            None => {
                out.push('"');
                out.push_str(quoted);
                out.push('"');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    sqlx::AssertSqlSafe(std::borrow::Cow::Owned(out))
}

pub mod agent_tests;
pub mod catalog;
pub mod command_results;
pub mod conversations;
#[cfg(feature = "postgres")]
pub mod copy;
pub mod db;
pub mod devices;
pub mod engine;
pub mod events;
pub mod invoices;
pub mod jobs;
pub mod leads;
pub mod metrics;
pub mod notifications;
pub mod payments;
pub mod push;
pub mod quarantine;
pub mod retention;
pub mod send_slots;
pub mod settings;
pub mod shop_secrets;
pub mod shops;

/// Rows per multi-row `INSERT` (group commits, the engine's held inserts).
pub(crate) const ROWS_PER_INSERT: usize = 32;

/// `head` followed by `rows` groups of `cols` placeholders, then `tail`: the text of a
/// multi-row insert. Only the number of placeholders varies; values are always bound, never
/// spliced into the text.
pub(crate) fn multi_row_sql(
    head: &str,
    rows: usize,
    cols: usize,
    tail: &str,
) -> sqlx::AssertSqlSafe<String> {
    let groups: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=cols).map(|c| format!("${}", row * cols + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let mut sql = String::from(head);
    sql.push_str(" VALUES ");
    sql.push_str(&groups.join(","));
    sql.push_str(tail);
    sqlx::AssertSqlSafe(sql)
}

/// A savepoint inside the caller's transaction: [`release_in`] keeps what was done since,
/// [`rollback_to_in`] undoes it. Not nested.
pub async fn savepoint_in(conn: &mut Conn) -> crate::Result<()> {
    execute!(conn, "SAVEPOINT ziflow_one")?;
    Ok(())
}

/// Keeps the work since [`savepoint_in`].
pub async fn release_in(conn: &mut Conn) -> crate::Result<()> {
    execute!(conn, "RELEASE ziflow_one")?;
    Ok(())
}

/// Undoes the work since [`savepoint_in`] and ends the savepoint.
pub async fn rollback_to_in(conn: &mut Conn) -> crate::Result<()> {
    execute!(conn, "ROLLBACK TO ziflow_one")?;
    release_in(conn).await
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    #[test]
    fn plain_drops_sqlite_annotations_and_keeps_quoted_names() {
        assert_eq!(
            &*super::plain(
                r#"SELECT a AS "a!", b AS "n!: i64", c AS "f: bool", "odd name" FROM t"#
            )
            .0,
            r#"SELECT a AS a, b AS n, c AS f, "odd name" FROM t"#
        );
    }
}

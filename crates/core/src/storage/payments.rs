//! The payment feed: what providers reported, matched to an invoice when possible.

use crate::storage::Conn;
use sqlx::FromRow;

use crate::{Db, Result};

/// One reported payment outcome.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PaymentRow {
    /// Payment id.
    pub id: i64,
    /// `stripe`, `sandbox`, …
    pub provider: String,
    /// `succeeded`, `failed`, `refunded`; or kept but not applied: `mismatch`,
    /// `wrong_provider`, `test_mode`.
    pub outcome: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Matched invoice's number.
    pub invoice_number: Option<i64>,
    /// Matched invoice's customer phone.
    pub customer_phone: Option<String>,
    /// Unix seconds.
    pub occurred_at: i64,
    /// Matched invoice's total (what a payment should have been).
    pub invoice_total_minor: Option<i64>,
    /// Matched invoice's currency.
    pub invoice_currency: Option<String>,
    /// Provider of the matched invoice's link.
    pub invoice_provider: Option<String>,
}

/// A new payment outcome to record.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// Owning shop.
    pub shop: &'a str,
    /// Invoice it belongs to, if matched.
    pub invoice_id: Option<i64>,
    /// Provider name.
    pub provider: &'a str,
    /// `succeeded`, `failed` or `refunded`.
    pub outcome: &'a str,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// Unix seconds.
    pub occurred_at: i64,
}

/// A payment outcome held for [`record_many_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Owning shop.
    pub shop: String,
    /// Invoice it belongs to, if matched.
    pub invoice_id: Option<i64>,
    /// Provider name.
    pub provider: &'static str,
    /// `succeeded`, `failed` or `refunded`.
    pub outcome: &'static str,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Unix seconds.
    pub occurred_at: i64,
    /// The event it came from.
    pub source_event: Option<i64>,
}

/// Records many payment outcomes, in order, with a few multi-row statements.
pub async fn record_many_in(conn: &mut Conn, all: &[Payment]) -> Result<()> {
    for chunk in all.chunks(super::ROWS_PER_INSERT) {
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(super::multi_row_sql(
                "INSERT INTO payments (shop_uid, invoice_id, provider, outcome, amount_minor, currency, occurred_at, source_event)",
                chunk.len(),
                8,
                "",
            ));
            for p in chunk {
                query = query
                    .bind(&p.shop)
                    .bind(p.invoice_id)
                    .bind(p.provider)
                    .bind(p.outcome)
                    .bind(p.amount_minor)
                    .bind(&p.currency)
                    .bind(p.occurred_at)
                    .bind(p.source_event);
            }
            query.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Records a payment outcome; returns its id.
pub async fn record(db: &Db, p: &NewPayment<'_>) -> Result<i64> {
    let mut conn = db.acquire().await?;
    record_in(&mut conn, p).await
}

/// [`record`] inside the caller's transaction.
pub async fn record_in(conn: &mut Conn, p: &NewPayment<'_>) -> Result<i64> {
    Ok(query_scalar!(
        fetch_one,
        &mut *conn,
        r#"INSERT INTO payments (shop_uid, invoice_id, provider, outcome, amount_minor, currency, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id AS "id!""#,
        p.shop,
        p.invoice_id,
        p.provider,
        p.outcome,
        p.amount_minor,
        p.currency,
        p.occurred_at
    )?)
}

/// The shop's payments, newest first.
pub async fn list(db: &Db, shop: &str) -> Result<Vec<PaymentRow>> {
    Ok(query_as!(
        fetch_all,
        &mut db.acquire().await?,
        PaymentRow,
        "SELECT p.id, p.provider, p.outcome, p.amount_minor, p.currency,
                i.number AS invoice_number, i.customer_phone, p.occurred_at,
                i.total_minor AS invoice_total_minor, i.currency AS invoice_currency,
                i.pay_provider AS invoice_provider
         FROM payments p LEFT JOIN invoices i ON i.id = p.invoice_id
         WHERE p.shop_uid = $1
         ORDER BY p.occurred_at DESC, p.id DESC",
        shop
    )?)
}

/// The unmatched payment row an event caused, if any.
pub async fn unmatched_of_event_in(conn: &mut Conn, event_id: i64) -> Result<Option<i64>> {
    Ok(query_scalar!(
        fetch_optional,
        &mut *conn,
        "SELECT id FROM payments WHERE source_event = $1 AND invoice_id IS NULL",
        event_id
    )?)
}

/// Matches a payment row to its invoice, with the amount the invoice's rules give it.
pub async fn match_in(
    conn: &mut Conn,
    id: i64,
    invoice_id: i64,
    outcome: &str,
    amount_minor: i64,
) -> Result<()> {
    execute!(
        &mut *conn,
        "UPDATE payments SET invoice_id = $1, outcome = $2, amount_minor = $3 WHERE id = $4",
        invoice_id,
        outcome,
        amount_minor,
        id
    )?;
    Ok(())
}

/// Deletes a payment row that turned out to repeat one already recorded.
pub async fn delete_in(conn: &mut Conn, id: i64) -> Result<()> {
    execute!(&mut *conn, "DELETE FROM payments WHERE id = $1", id)?;
    Ok(())
}

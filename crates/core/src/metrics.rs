//! The owner's headline figures, computed from stored facts so every reader gets the same
//! numbers to the cent.

use std::collections::BTreeMap;

use crate::{storage, Db, Money, Result};

/// Seconds in the "paid within 24 hours" window.
pub const DAY: i64 = 24 * 60 * 60;

fn in_range(t: i64, from: Option<i64>, to: Option<i64>) -> bool {
    from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e)
}

/// Headline figures over all invoices that were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Invoices sent.
    pub invoices: i64,
    /// Of those, paid within 24 h of being sent.
    pub paid_within_24h: i64,
    /// `paid_within_24h / invoices` in basis points; `None` without invoices.
    pub conversion_24h_bp: Option<i64>,
    /// Revenue of paid invoices per currency.
    pub revenue: Vec<Money>,
    /// Invoices a person marked paid.
    pub manual_reconciliations: i64,
    /// Mean seconds from sending an invoice to its payment, over paid invoices.
    pub avg_order_to_payment_s: Option<i64>,
    /// Median of the same (the lower middle for an even count).
    pub median_order_to_payment_s: Option<i64>,
    /// Invoices left unpaid after the last reminder.
    pub abandoned: i64,
}

impl Summary {
    /// The figures as `ziflow-relay metrics --json` prints them; revenue is the shop's
    /// currency in minor units.
    pub fn to_json(&self, currency: &str) -> serde_json::Value {
        let revenue = self
            .revenue
            .iter()
            .find(|m| m.currency == currency)
            .map_or(0, |m| m.minor);
        serde_json::json!({
            "invoices": self.invoices,
            "paid_within_24h": self.paid_within_24h,
            // Percent with one decimal, from integers: 7300 basis points → 73.0.
            "conversion_24h": self.conversion_24h_bp.map(|bp| {
                serde_json::Number::from_f64(bp as f64 / 100.0).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }),
            "avg_order_to_payment_s": self.avg_order_to_payment_s,
            "median_order_to_payment_s": self.median_order_to_payment_s,
            "manual_reconciliations": self.manual_reconciliations,
            "revenue_cents": revenue,
            "currency": currency,
        })
    }
}

/// Computes the summary for a shop.
pub async fn summary(db: &Db, shop: &str) -> Result<Summary> {
    summary_between(db, shop, None, None).await
}

/// The summary of the invoices sent in `[from, to)` (Unix seconds; open ends when `None`).
pub async fn summary_between(
    db: &Db,
    shop: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Summary> {
    let invoices: Vec<_> = storage::invoices::list(db, shop)
        .await?
        .into_iter()
        .filter(|i| in_range(i.sent_at.unwrap_or(i.created_at), from, to))
        .collect();
    let mut sent = 0_i64;
    let mut within = 0_i64;
    let mut manual = 0_i64;
    let mut abandoned = 0_i64;
    let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
    let mut waits: Vec<i64> = Vec::new();
    for inv in &invoices {
        if let Some(sent_at) = inv.sent_at {
            sent += 1;
            if inv.paid_at.is_some_and(|p| p - sent_at <= DAY) {
                within += 1;
            }
            if let Some(p) = inv.paid_at {
                waits.push((p - sent_at).max(0));
            }
        }
        if inv.paid_at.is_some() {
            *revenue.entry(inv.currency.clone()).or_default() += inv.total_minor;
        }
        if inv.paid_via.as_deref() == Some("manual") {
            manual += 1;
        }
        if inv.abandoned_at.is_some() && inv.paid_at.is_none() {
            abandoned += 1;
        }
    }
    Ok(Summary {
        invoices: sent,
        paid_within_24h: within,
        conversion_24h_bp: (sent > 0).then(|| within * 10_000 / sent),
        revenue: revenue
            .into_iter()
            .map(|(currency, minor)| Money::new(minor, currency))
            .collect(),
        manual_reconciliations: manual,
        avg_order_to_payment_s: i64::try_from(waits.len())
            .ok()
            .filter(|n| *n > 0)
            .map(|n| waits.iter().sum::<i64>() / n),
        median_order_to_payment_s: {
            waits.sort_unstable();
            waits.get(waits.len().saturating_sub(1) / 2).copied()
        },
        abandoned,
    })
}

/// One day or week of figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Its first day, `2026-11-26`, in the shop's time zone.
    pub label: String,
    /// Invoices sent in it.
    pub invoices: i64,
    /// Of those, paid within 24 h.
    pub paid_within_24h: i64,
    /// Paid in it, minor units of the shop's currency.
    pub revenue_minor: i64,
}

/// Day (or ISO week, starting Monday) buckets from `from` to `to` (Unix seconds), in the
/// shop's time zone: invoices counted on the day they were sent, revenue on the day paid.
pub async fn buckets(
    db: &Db,
    shop: &str,
    from: i64,
    to: i64,
    tz: &str,
    weekly: bool,
    currency: &str,
) -> Result<Vec<Bucket>> {
    use jiff::tz::TimeZone;
    let zone = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
    let day_of = |t: i64| -> Option<jiff::civil::Date> {
        let d = zone
            .to_datetime(jiff::Timestamp::from_second(t).ok()?)
            .date();
        Some(if weekly {
            d.checked_sub(jiff::Span::new().days(i64::from(d.weekday().to_monday_zero_offset())))
                .ok()?
        } else {
            d
        })
    };
    let (Some(first), Some(last)) = (day_of(from), day_of(to - 1)) else {
        return Ok(Vec::new());
    };
    let step = jiff::Span::new().days(if weekly { 7 } else { 1 });
    let mut out: BTreeMap<jiff::civil::Date, Bucket> = BTreeMap::new();
    let mut d = first;
    while d <= last && out.len() < 400 {
        out.insert(
            d,
            Bucket {
                label: d.to_string(),
                invoices: 0,
                paid_within_24h: 0,
                revenue_minor: 0,
            },
        );
        d = match d.checked_add(step) {
            Ok(n) => n,
            Err(_) => break,
        };
    }
    for inv in storage::invoices::list(db, shop).await? {
        if let Some(sent) = inv.sent_at.filter(|t| in_range(*t, Some(from), Some(to))) {
            if let Some(b) = day_of(sent).and_then(|d| out.get_mut(&d)) {
                b.invoices += 1;
                if inv.paid_at.is_some_and(|p| p - sent <= DAY) {
                    b.paid_within_24h += 1;
                }
            }
        }
        if let Some(paid) = inv.paid_at.filter(|t| in_range(*t, Some(from), Some(to))) {
            if inv.currency == currency {
                if let Some(b) = day_of(paid).and_then(|d| out.get_mut(&d)) {
                    b.revenue_minor += inv.total_minor;
                }
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Customers who wrote in `[from, to)`, and how many of them paid an invoice sent after their
/// first message in the range (chat → payment).
pub async fn chats_to_payment(db: &Db, shop: &str, from: i64, to: i64) -> Result<(i64, i64)> {
    let row: (i64, i64) = sqlx::query_as(
        "WITH chats AS (
             SELECT c.customer_phone AS phone, MIN(m.sent_at) AS first_at
             FROM conversations c JOIN messages m ON m.conversation_id = c.id
             WHERE c.shop_uid = ? AND m.direction = 'in' AND m.sent_at >= ? AND m.sent_at < ?
             GROUP BY c.customer_phone)
         SELECT COUNT(*), COUNT(*) FILTER (WHERE EXISTS (
             SELECT 1 FROM invoices i WHERE i.shop_uid = ? AND i.customer_phone = chats.phone
             AND i.paid_at IS NOT NULL AND i.created_at >= chats.first_at))
         FROM chats",
    )
    .bind(shop)
    .bind(from)
    .bind(to)
    .bind(shop)
    .fetch_one(db.pool())
    .await?;
    Ok(row)
}

/// When the shop's first invoice was sent, if any (the metrics' default period starts there
/// when that is more than 30 days back).
pub async fn first_sent_at(db: &Db, shop: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MIN(sent_at) FROM invoices WHERE shop_uid = ?")
            .bind(shop)
            .fetch_one(db.pool())
            .await?,
    )
}

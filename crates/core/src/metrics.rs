//! The owner's headline figures, computed from stored facts so every reader gets the same
//! numbers to the cent.

use std::collections::BTreeMap;

use crate::{storage, Db, Money, Result};

/// Seconds in the "paid within 24 hours" window.
pub const DAY: i64 = 24 * 60 * 60;

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
    let invoices = storage::invoices::list(db, shop).await?;
    let mut sent = 0_i64;
    let mut within = 0_i64;
    let mut manual = 0_i64;
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
    })
}

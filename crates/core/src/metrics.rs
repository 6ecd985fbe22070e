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
}

/// Computes the summary for a shop.
pub async fn summary(db: &Db, shop: &str) -> Result<Summary> {
    let invoices = storage::invoices::list(db, shop).await?;
    let mut sent = 0_i64;
    let mut within = 0_i64;
    let mut manual = 0_i64;
    let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
    for inv in &invoices {
        if let Some(sent_at) = inv.sent_at {
            sent += 1;
            if inv.paid_at.is_some_and(|p| p - sent_at <= DAY) {
                within += 1;
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
    })
}

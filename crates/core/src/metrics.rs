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

/// The days a metrics view covers, in the shop's time zone, both ends included: `from` and
/// `to` as `YYYY-MM-DD`, and the instants `[start, end)` they span (midnight to midnight
/// there, so a day with a DST change is 23 or 25 hours long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The first day.
    pub from: String,
    /// The last day.
    pub to: String,
    /// Unix seconds at the start of `from`.
    pub start: i64,
    /// Unix seconds at the end of `to` (the next midnight).
    pub end: i64,
}

/// The period the owner asked for: `from`/`to` as typed (`2026-11-01`; empty is unset). By
/// default it ends today (at `now`, in `timezone`) and covers the last 30 days — or starts at
/// the day of the shop's first invoice (`first_sent`) when that is earlier. Refused with a
/// sentence saying why: a date that does not read, or a period that starts after it ends.
pub fn period(
    timezone: &str,
    now: i64,
    from: Option<&str>,
    to: Option<&str>,
    first_sent: Option<i64>,
) -> Result<Period> {
    use jiff::civil::Date;
    use jiff::tz::TimeZone;
    let bad = |e: jiff::Error| crate::Error::InvalidInput(e.to_string());
    let zone = TimeZone::get(timezone).unwrap_or(TimeZone::UTC);
    let day_at = |t: i64| -> Result<Date> {
        Ok(zone
            .to_datetime(jiff::Timestamp::from_second(t).map_err(bad)?)
            .date())
    };
    let parse = |s: Option<&str>, what: &str| -> Result<Option<Date>> {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Date>().map_err(|_| {
                    crate::Error::InvalidInput(format!("{what}: a date like 2026-11-01, got {s:?}"))
                })
            })
            .transpose()
    };
    let to_day = match parse(to, "to")? {
        Some(d) => d,
        None => day_at(now)?,
    };
    let from_day = match parse(from, "from")? {
        Some(d) => d,
        None => {
            let month = to_day
                .checked_sub(jiff::Span::new().days(29))
                .map_err(bad)?;
            match first_sent {
                Some(t) => day_at(t)?.min(month),
                None => month,
            }
        }
    };
    if from_day > to_day {
        return Err(crate::Error::InvalidInput(
            "the period starts after it ends".into(),
        ));
    }
    let midnight = |d: Date| -> Result<i64> {
        Ok(zone
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(bad)?
            .as_second())
    };
    Ok(Period {
        from: from_day.to_string(),
        to: to_day.to_string(),
        start: midnight(from_day)?,
        end: midnight(to_day.checked_add(jiff::Span::new().days(1)).map_err(bad)?)?,
    })
}

/// Everything the Metrics screen shows for `period`, per day or per week.
pub async fn view(
    db: &Db,
    shop: &storage::shops::Shop,
    period: &Period,
    weekly: bool,
) -> Result<ziflow_protocol::MetricsSummary> {
    let s = summary_between(db, &shop.uid, Some(period.start), Some(period.end)).await?;
    let buckets = buckets(
        db,
        &shop.uid,
        period.start,
        period.end,
        &shop.timezone,
        weekly,
        &shop.currency,
    )
    .await?;
    let (chats, chats_paid) =
        crate::storage::metrics::chats_to_payment(db, &shop.uid, period.start, period.end).await?;
    Ok(ziflow_protocol::MetricsSummary {
        invoices: s.invoices,
        paid_within_24h: s.paid_within_24h,
        conversion_24h_bp: s.conversion_24h_bp,
        revenue: s.revenue,
        manual_reconciliations: s.manual_reconciliations,
        avg_order_to_payment_s: s.avg_order_to_payment_s,
        median_order_to_payment_s: s.median_order_to_payment_s,
        abandoned: s.abandoned,
        chats,
        chats_paid,
        from: period.from.clone(),
        to: period.to.clone(),
        currency: shop.currency.clone(),
        buckets: buckets
            .into_iter()
            .map(|b| ziflow_protocol::MetricsBucket {
                label: b.label,
                invoices: b.invoices,
                paid_within_24h: b.paid_within_24h,
                revenue_minor: b.revenue_minor,
            })
            .collect(),
    })
}

/// The figures per day or week as CSV: one header line, one line per bucket, conversion as a
/// percentage with two decimals (empty when nothing was sent), revenue in currency units.
pub fn csv(m: &ziflow_protocol::MetricsSummary, weekly: bool) -> String {
    use std::fmt::Write;
    let mut text = format!(
        "{},invoices_sent,paid_within_24h,conversion_24h_percent,revenue_{}\n",
        if weekly { "week_of" } else { "day" },
        m.currency.to_lowercase()
    );
    for b in &m.buckets {
        let conversion = if b.invoices > 0 {
            let bp = b.paid_within_24h * 10_000 / b.invoices;
            format!("{}.{:02}", bp / 100, bp % 100)
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "{},{},{},{},{}",
            b.label,
            b.invoices,
            b.paid_within_24h,
            conversion,
            ziflow_protocol::Money::new(b.revenue_minor, m.currency.clone()).plain()
        );
    }
    text
}

#[cfg(test)]
mod period_tests {
    use super::*;

    /// 2026-11-30 12:00 UTC (05:00 in Denver).
    const NOW: i64 = 1_796_040_000;

    #[test]
    fn by_default_the_last_30_days_end_today_in_the_shops_time_zone() {
        let p = period("America/Denver", NOW, None, None, None).unwrap();
        assert_eq!(
            (p.from.as_str(), p.to.as_str()),
            ("2026-11-01", "2026-11-30")
        );
        // Midnight in Denver: UTC-6 on 1 November (MDT), UTC-7 after DST ended that day.
        assert_eq!(p.start, 1_793_512_800, "2026-11-01 00:00 MDT");
        assert_eq!(p.end, 1_796_108_400, "2026-12-01 00:00 MST");
        // Late on the 30th in UTC is already the next day in Madrid.
        let late = NOW + 11 * 3600 + 30 * 60;
        let p = period("Europe/Madrid", late, None, None, None).unwrap();
        assert_eq!(p.to, "2026-12-01");
    }

    #[test]
    fn a_first_invoice_older_than_30_days_starts_the_default_period() {
        let first = NOW - 90 * 86_400;
        let p = period("UTC", NOW, None, None, Some(first)).unwrap();
        assert_eq!(p.from, "2026-09-01");
        let recent = NOW - 3 * 86_400;
        let p = period("UTC", NOW, None, None, Some(recent)).unwrap();
        assert_eq!(p.from, "2026-11-01", "a recent first invoice keeps 30 days");
    }

    #[test]
    fn typed_days_are_whole_days_and_bad_ones_are_refused() {
        let p = period("UTC", NOW, Some(" 2026-11-10 "), Some("2026-11-10"), None).unwrap();
        assert_eq!(p.end - p.start, 86_400, "one day, both ends included");
        let p = period("UTC", NOW, Some(""), Some("2026-11-10"), None).unwrap();
        assert_eq!(p.from, "2026-10-12", "an empty from is unset");
        let e = period("UTC", NOW, Some("11/10/2026"), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "from: a date like 2026-11-01, got \"11/10/2026\""
        );
        let e = period("UTC", NOW, Some("2026-11-20"), Some("2026-11-10"), None).unwrap_err();
        assert_eq!(e.to_string(), "the period starts after it ends");
    }

    #[test]
    fn csv_has_a_header_and_a_line_per_bucket() {
        let m = ziflow_protocol::MetricsSummary {
            invoices: 3,
            paid_within_24h: 2,
            conversion_24h_bp: Some(6_666),
            revenue: vec![],
            manual_reconciliations: 0,
            avg_order_to_payment_s: None,
            median_order_to_payment_s: None,
            abandoned: 0,
            chats: 0,
            chats_paid: 0,
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            currency: "USD".into(),
            buckets: vec![
                ziflow_protocol::MetricsBucket {
                    label: "2026-11-01".into(),
                    invoices: 3,
                    paid_within_24h: 2,
                    revenue_minor: 12_850,
                },
                ziflow_protocol::MetricsBucket {
                    label: "2026-11-02".into(),
                    invoices: 0,
                    paid_within_24h: 0,
                    revenue_minor: 0,
                },
            ],
        };
        assert_eq!(
            csv(&m, false),
            "day,invoices_sent,paid_within_24h,conversion_24h_percent,revenue_usd\n\
             2026-11-01,3,2,66.66,128.50\n\
             2026-11-02,0,0,,0\n"
        );
    }
}

//! The owner's metrics and their CSV export.

use tauri::{AppHandle, Manager, State};
use ziflow_protocol as dto;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The owner's figures for a period (`from`/`to` as `2026-11-01`, both days included, in the
/// shop's time zone; by default the last 30 days, or since the first invoice if earlier), per
/// day or per week.
#[tauri::command]
pub async fn metrics_summary(
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
    weekly: Option<bool>,
) -> Result<dto::MetricsSummary> {
    let shop = state.session().shop.clone();
    metrics_view(&state.db, &shop, from, to, weekly.unwrap_or(false)).await
}

/// The figures as `metrics_summary` returns them.
pub async fn metrics_view(
    db: &ziflow_core::Db,
    shop: &ziflow_core::storage::shops::Shop,
    from: Option<String>,
    to: Option<String>,
    weekly: bool,
) -> Result<dto::MetricsSummary> {
    use jiff::civil::Date;
    use jiff::tz::TimeZone;
    let zone = TimeZone::get(&shop.timezone).unwrap_or(TimeZone::UTC);
    let today = zone.to_datetime(jiff::Timestamp::now()).date();
    let parse = |s: Option<String>, what: &str| -> Result<Option<Date>> {
        s.filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim().parse::<Date>().map_err(|_| {
                    Error::new(
                        "bad_date",
                        format!("{what}: a date like 2026-11-01, got {s:?}"),
                    )
                })
            })
            .transpose()
    };
    let to_day = parse(to, "to")?.unwrap_or(today);
    let from_day = match parse(from, "from")? {
        Some(d) => d,
        None => {
            // The last 30 days, or from the first invoice if that is earlier.
            let month = to_day
                .checked_sub(jiff::Span::new().days(29))
                .map_err(|e| Error::new("bad_date", e.to_string()))?;
            let first = ziflow_core::metrics::first_sent_at(db, &shop.uid)
                .await?
                .and_then(|t| jiff::Timestamp::from_second(t).ok())
                .map(|t| zone.to_datetime(t).date());
            first.map_or(month, |f| f.min(month))
        }
    };
    if from_day > to_day {
        return Err(Error::new("bad_date", "the period starts after it ends"));
    }
    let start = |d: Date| -> Result<i64> {
        Ok(zone
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| Error::new("bad_date", e.to_string()))?
            .as_second())
    };
    let from_s = start(from_day)?;
    let to_s = start(
        to_day
            .checked_add(jiff::Span::new().days(1))
            .map_err(|e| Error::new("bad_date", e.to_string()))?,
    )?;
    let s = ziflow_core::metrics::summary_between(db, &shop.uid, Some(from_s), Some(to_s)).await?;
    let buckets = ziflow_core::metrics::buckets(
        db,
        &shop.uid,
        from_s,
        to_s,
        &shop.timezone,
        weekly,
        &shop.currency,
    )
    .await?;
    let (chats, chats_paid) =
        ziflow_core::metrics::chats_to_payment(db, &shop.uid, from_s, to_s).await?;
    Ok(dto::MetricsSummary {
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
        from: from_day.to_string(),
        to: to_day.to_string(),
        currency: shop.currency.clone(),
        buckets: buckets
            .into_iter()
            .map(|b| dto::MetricsBucket {
                label: b.label,
                invoices: b.invoices,
                paid_within_24h: b.paid_within_24h,
                revenue_minor: b.revenue_minor,
            })
            .collect(),
    })
}

/// Writes the period's figures per day or week as CSV to the Downloads folder; returns the
/// file's path.
#[tauri::command]
pub async fn export_metrics(
    app: AppHandle,
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
    weekly: Option<bool>,
) -> Result<String> {
    let shop = state.session().shop.clone();
    let weekly = weekly.unwrap_or(false);
    let m = metrics_view(&state.db, &shop, from, to, weekly).await?;
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
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            b.label,
            b.invoices,
            b.paid_within_24h,
            conversion,
            dto::Money::new(b.revenue_minor, m.currency.clone()).plain()
        ));
    }
    let dir = export_dir(&app)?;
    let path = dir.join(format!("ziflow-metrics-{}-{}.csv", m.from, m.to));
    std::fs::write(&path, text)
        .map_err(|e| Error::new("export_failed", format!("{}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Where exports go: `$ZIFLOW_EXPORT_DIR`, else Downloads, else the home folder.
pub(crate) fn export_dir(app: &AppHandle) -> Result<std::path::PathBuf> {
    let dir = std::env::var_os("ZIFLOW_EXPORT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| app.path().download_dir().ok())
        .or_else(|| app.path().home_dir().ok())
        .ok_or_else(|| Error::new("export_failed", "no Downloads folder to write to"))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new("export_failed", format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

//! The owner's metrics and their CSV export.

use tauri::{AppHandle, Manager, Runtime, State};
use ziflow_protocol as dto;
use ziflow_protocol::ErrorCode;

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

/// The figures as `metrics_summary` returns them (the period and figures are core's).
pub async fn metrics_view(
    db: &ziflow_core::Db,
    shop: &ziflow_core::storage::shops::Shop,
    from: Option<String>,
    to: Option<String>,
    weekly: bool,
) -> Result<dto::MetricsSummary> {
    let first = ziflow_core::storage::metrics::first_sent_at(db, &shop.uid).await?;
    let period = ziflow_core::metrics::period(
        &shop.timezone,
        super::time_now(),
        from.as_deref(),
        to.as_deref(),
        first,
    )
    .map_err(|e| Error::new(ErrorCode::BadDate, e.to_string()))?;
    Ok(ziflow_core::metrics::view(db, shop, &period, weekly).await?)
}

/// Writes the period's figures per day or week as CSV to the Downloads folder; returns the
/// file's path.
#[tauri::command]
pub async fn export_metrics<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
    weekly: Option<bool>,
) -> Result<String> {
    let shop = state.session().shop.clone();
    let weekly = weekly.unwrap_or(false);
    let m = metrics_view(&state.db, &shop, from, to, weekly).await?;
    let text = ziflow_core::metrics::csv(&m, weekly);
    let dir = export_dir(&app)?;
    let path = dir.join(format!("ziflow-metrics-{}-{}.csv", m.from, m.to));
    std::fs::write(&path, text)
        .map_err(|e| Error::new(ErrorCode::ExportFailed, format!("{}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Where exports go: `$ZIFLOW_EXPORT_DIR`, else Downloads, else the home folder.
pub(crate) fn export_dir<R: Runtime>(app: &AppHandle<R>) -> Result<std::path::PathBuf> {
    let dir = std::env::var_os("ZIFLOW_EXPORT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| app.path().download_dir().ok())
        .or_else(|| app.path().home_dir().ok())
        .ok_or_else(|| Error::new(ErrorCode::ExportFailed, "no Downloads folder to write to"))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new(ErrorCode::ExportFailed, format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

//! The CRM screen (leads, automations, pipeline) and Settings → Notifications.

use tauri::State;
use ziflow_core::{crm, notify};
use ziflow_protocol as dto;
use ziflow_protocol::automation::{self as auto, Trigger};
use ziflow_protocol::ErrorCode;

use crate::commands::{relay, relay_for};
use crate::error::{Error, Result};
use crate::state::AppState;

/// A custom field's value as shown (`$128` for an amount).
pub fn shown_field(v: &serde_json::Value) -> String {
    match (v["minor"].as_i64(), v["currency"].as_str()) {
        (Some(minor), Some(cur)) => dto::Money::new(minor, cur).display(),
        _ => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// Every custom field as shown.
pub fn shown_fields(fields: &serde_json::Value) -> Vec<(String, String)> {
    fields
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), shown_field(v))).collect())
        .unwrap_or_default()
}

/// The customer's lead (CRM): stage, tags, fields and history.
#[tauri::command]
pub async fn lead_view(state: State<'_, AppState>, phone: String) -> Result<Option<dto::LeadView>> {
    let lead = ziflow_core::crm::lead(&state.db, &state.session().shop.uid, &phone).await?;
    Ok(lead.map(|l| dto::LeadView {
        phone: l.phone,
        stage: l.stage,
        tags: l.tags,
        fields: crate::commands::crm::shown_fields(&l.fields),
        history: l.history,
    }))
}

/// The shop's leads, most recently changed first.
#[tauri::command]
pub async fn list_leads(state: State<'_, AppState>) -> Result<Vec<auto::LeadRow>> {
    let rows = crm::list(&state.db, &state.session().shop.uid).await?;
    Ok(rows
        .into_iter()
        .map(
            |(phone, name, stage, tags, fields, updated_at)| auto::LeadRow {
                phone,
                name,
                stage,
                tags,
                fields: shown_fields(&fields),
                updated_at,
            },
        )
        .collect())
}

/// Moves a lead to a stage or tags it by hand.
#[tauri::command]
pub async fn update_lead(
    state: State<'_, AppState>,
    phone: String,
    stage: Option<String>,
    add_tag: Option<String>,
    remove_tag: Option<String>,
) -> Result<()> {
    relay(
        &state,
        dto::Command::LeadUpdate {
            phone,
            stage,
            add_tag,
            remove_tag,
        },
        ErrorCode::LeadRefused,
    )
    .await?;
    Ok(())
}

/// The rules and the pipeline.
#[tauri::command]
pub async fn get_automations(state: State<'_, AppState>) -> Result<auto::AutomationsView> {
    let uid = state.session().shop.uid.clone();
    let mut conn = state.db.acquire().await?;
    Ok(auto::AutomationsView {
        rules: crm::rules_in(&mut conn, &uid).await?,
        stages: crm::stages_in(&mut conn, &uid).await?,
        flow_stages: crm::FLOW_STAGES.iter().map(|s| s.to_string()).collect(),
        variables: notify::VARIABLES.iter().map(|s| s.to_string()).collect(),
    })
}

/// Saves the rules (the relay refuses bad ones whole).
#[tauri::command]
pub async fn save_automations(
    state: State<'_, AppState>,
    rules: Vec<auto::Rule>,
) -> Result<String> {
    let n = rules.len();
    relay(
        &state,
        dto::Command::AutomationsSet { rules },
        ErrorCode::RulesRefused,
    )
    .await?;
    Ok(format!("Saved: {n} rule(s), run in this order."))
}

/// Saves the pipeline's stages.
#[tauri::command]
pub async fn save_pipeline(state: State<'_, AppState>, stages: Vec<String>) -> Result<String> {
    let n = stages.len();
    relay(
        &state,
        dto::Command::PipelineSet { stages },
        ErrorCode::PipelineRefused,
    )
    .await?;
    Ok(format!("Saved: {n} stages."))
}

/// Settings → Notifications: channels, templates and the latest deliveries.
#[tauri::command]
pub async fn get_notifications(state: State<'_, AppState>) -> Result<auto::NotificationsView> {
    let uid = state.session().shop.uid.clone();
    let mut conn = state.db.acquire().await?;
    let mut templates = Vec::new();
    for t in Trigger::ALL {
        templates.push(auto::NotifyTemplateView {
            event: t.key().into(),
            label: t.label().into(),
            text: notify::template_in(&mut conn, &uid, t).await?,
            default_text: notify::default_template(t).into(),
        });
    }
    Ok(auto::NotificationsView {
        settings: notify::settings_in(&mut conn, &uid).await?,
        templates,
        variables: notify::VARIABLES.iter().map(|s| s.to_string()).collect(),
        recent: ziflow_core::storage::notifications::recent(&state.db, &uid, 30).await?,
    })
}

/// Saves one channel (`command` is a `notify.set`); the relay checks it first.
#[tauri::command]
pub async fn save_notify_channel(
    state: State<'_, AppState>,
    command: dto::Command,
) -> Result<String> {
    let dto::Command::NotifySet { channel, .. } = &command else {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "not a channel's settings",
        ));
    };
    let label = auto::channel_label(channel).to_string();
    relay(&state, command, ErrorCode::NotifyRefused).await?;
    Ok(format!("{label} saved."))
}

/// Sends a test notification; the provider's answer comes back either way. The desktop's
/// is shown here, by this desk.
#[tauri::command]
pub async fn test_notify(state: State<'_, AppState>, channel: String) -> Result<(bool, String)> {
    if channel == "desktop" {
        return Ok(crate::notify::test().await);
    }
    let tried: dto::answer::NotifyTest = relay_for(
        &state,
        &dto::Command::NotifyTest { channel },
        ErrorCode::NotifyRefused,
        "not tried",
    )
    .await?;
    Ok((tried.ok, tried.answer))
}

/// Saves an event's notification text (empty: the built-in one).
#[tauri::command]
pub async fn save_notify_template(
    state: State<'_, AppState>,
    event: String,
    text: String,
) -> Result<String> {
    relay(
        &state,
        dto::Command::TemplateSet {
            name: format!("notify.{event}"),
            text,
        },
        ErrorCode::TemplateRefused,
    )
    .await?;
    Ok("Saved.".into())
}

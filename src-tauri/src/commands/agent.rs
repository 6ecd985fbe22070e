//! The AI Agent screen: the payment scenario, the agent's replies, the catalog as CSV or
//! JSON, and the optional model.

use tauri::{AppHandle, Runtime, State};
use ziflow_core::catalog::{self, csv_form};
use ziflow_core::storage::settings;
use ziflow_protocol as dto;
use ziflow_protocol::ErrorCode;

use crate::commands::metrics::export_dir;
use crate::commands::relay;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The payment scenario.
#[tauri::command]
pub async fn get_scenario(state: State<'_, AppState>) -> Result<dto::Scenario> {
    let mut conn = state.db.acquire().await?;
    Ok(ziflow_core::scenario::load_in(&mut conn, &state.session().shop.uid).await?)
}

/// Saves the payment scenario (checked here first, then by the relay).
#[tauri::command]
pub async fn save_scenario(state: State<'_, AppState>, scenario: dto::Scenario) -> Result<String> {
    ziflow_core::scenario::check(&scenario)
        .map_err(|e| Error::new(ErrorCode::ScenarioInvalid, e.to_string()))?;
    relay(
        &state,
        dto::Command::ScenarioSet { scenario },
        ErrorCode::ScenarioInvalid,
    )
    .await?;
    Ok("Saved: the bot follows it from the next message.".into())
}

/// The agent's replies in both languages, with the shop's wording where it has one.
#[tauri::command]
pub async fn agent_replies(state: State<'_, AppState>) -> Result<Vec<dto::ReplyView>> {
    let uid = state.session().shop.uid.clone();
    let mut out = Vec::new();
    for r in ziflow_core::agent::replies() {
        let own = settings::get(&state.db, &uid, &format!("reply.{}", r.key))
            .await?
            .filter(|t| !t.trim().is_empty());
        out.push(dto::ReplyView {
            key: r.key,
            variables: r.variables.iter().map(|v| (*v).to_string()).collect(),
            custom: own.is_some(),
            text: own.unwrap_or(r.default),
        });
    }
    Ok(out)
}

/// Saves one reply's wording (empty: back to the built-in text). A reply with a variable it
/// cannot use is refused and nothing changes.
#[tauri::command]
pub async fn save_reply(state: State<'_, AppState>, key: String, text: String) -> Result<String> {
    let vars = ziflow_core::agent::reply_variables(&key).ok_or_else(|| {
        Error::new(
            ErrorCode::ReplyInvalid,
            format!("there is no reply {key:?}"),
        )
    })?;
    if !text.trim().is_empty() {
        ziflow_core::template::Template::parse(&text, vars)
            .map_err(|e| Error::new(ErrorCode::ReplyInvalid, e.to_string()))?;
    }
    relay(
        &state,
        dto::Command::TemplateSet {
            name: format!("reply.{key}"),
            text,
        },
        ErrorCode::ReplyInvalid,
    )
    .await?;
    Ok("Saved.".into())
}

/// Imports a catalog file's text: the JSON of agent-samples.json, or a products or shipping
/// CSV (which replaces only its part). Refused whole on the first mistake.
#[tauri::command]
pub async fn import_catalog(state: State<'_, AppState>, text: String) -> Result<String> {
    let (parsed, what) = parse_catalog_text(&state, &text).await?;
    let value = serde_json::to_value(&parsed)
        .map_err(|e| Error::new(ErrorCode::CatalogInvalid, e.to_string()))?;
    relay(
        &state,
        dto::Command::CatalogSet { catalog: value },
        ErrorCode::CatalogInvalid,
    )
    .await?;
    Ok(format!(
        "Imported {what}: {} products, {} shipping zones.",
        parsed.catalog.len(),
        parsed.shipping.len()
    ))
}

/// The catalog a file's text makes of the current one, and what it replaces.
pub(crate) async fn parse_catalog_text(
    state: &AppState,
    text: &str,
) -> Result<(catalog::Catalog, &'static str)> {
    let shop = state.session().shop.clone();
    let current = catalog::load(&state.db, &shop.uid).await?;
    Ok(if text.trim_start().starts_with('{') {
        let doc: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorCode::CatalogInvalid, format!("not JSON: {e}")))?;
        let c = catalog::Catalog::parse(
            &serde_json::json!({ "catalog": doc["catalog"], "shipping": doc["shipping"] }),
        )
        .map_err(|e| Error::new(ErrorCode::CatalogInvalid, e.to_string()))?;
        (c, "products and shipping zones")
    } else {
        let (c, kind) = csv_form::import(text, &shop.currency, &current)
            .map_err(|e| Error::new(ErrorCode::CatalogInvalid, e.to_string()))?;
        (
            c,
            match kind {
                csv_form::Kind::Products => "products",
                csv_form::Kind::Zones => "shipping zones",
            },
        )
    })
}

/// Writes the catalog to the Downloads folder as `format` (`json`, `products-csv`,
/// `zones-csv`); returns the file's path.
#[tauri::command]
pub async fn export_catalog<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    format: String,
) -> Result<String> {
    let shop = state.session().shop.clone();
    let c = catalog::load(&state.db, &shop.uid).await?;
    let invalid = |e: ziflow_core::Error| Error::new(ErrorCode::ExportFailed, e.to_string());
    let (name, text) = match format.as_str() {
        "json" => (
            "ziflow-catalog.json",
            serde_json::to_string_pretty(&c)
                .map_err(|e| Error::new(ErrorCode::ExportFailed, e.to_string()))?,
        ),
        "products-csv" => (
            "ziflow-products.csv",
            csv_form::export_products(&c, &shop.currency).map_err(invalid)?,
        ),
        "zones-csv" => (
            "ziflow-shipping.csv",
            csv_form::export_zones(&c, &shop.currency).map_err(invalid)?,
        ),
        other => {
            return Err(Error::new(
                ErrorCode::ExportFailed,
                format!("export as json, products-csv or zones-csv, not {other}"),
            ))
        }
    };
    let path = export_dir(&app)?.join(name);
    std::fs::write(&path, text)
        .map_err(|e| Error::new(ErrorCode::ExportFailed, format!("{}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// The optional model: rewording replies, reading messages.
#[tauri::command]
pub async fn get_llm(state: State<'_, AppState>) -> Result<dto::LlmView> {
    let uid = state.session().shop.uid.clone();
    let get = |key: &'static str| settings::get(&state.db, &uid, key);
    Ok(dto::LlmView {
        enabled: get("llm.enabled").await?.as_deref() == Some("true"),
        reader: get("llm.reader").await?.as_deref() == Some("true"),
        base_url: get("llm.base_url").await?.unwrap_or_default(),
        model: get("llm.model").await?.unwrap_or_default(),
        key_hint: get("llm.key_hint").await?.filter(|h| !h.is_empty()),
    })
}

/// Turns the model's uses on (the endpoint checked with one request by the relay) or off.
#[tauri::command]
pub async fn save_llm(
    state: State<'_, AppState>,
    enabled: bool,
    reader: bool,
    base_url: String,
    model: String,
    api_key: String,
) -> Result<String> {
    relay(
        &state,
        dto::Command::LlmSet {
            enabled,
            reader,
            base_url,
            model,
            api_key: Some(api_key).filter(|k| !k.trim().is_empty()),
        },
        ErrorCode::LlmRefused,
    )
    .await?;
    Ok(match (enabled, reader) {
        (false, false) => "Off: the bot reads and words everything itself.".into(),
        (true, false) => "On: replies are reworded by the model when it keeps every fact.".into(),
        (false, true) => {
            "On: the model reads customers' messages; the bot checks every reading against the catalog.".into()
        }
        (true, true) => "On: the model reads messages and rewords replies; the bot checks both.".into(),
    })
}

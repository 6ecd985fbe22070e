//! Settings and the app itself: app info, pairing with a relay, updates, devices, events
//! set aside, Stripe and WhatsApp connections.

use tauri::{AppHandle, Runtime, State};
use ziflow_core::storage::settings;
use ziflow_protocol as dto;
use ziflow_protocol::answer;
use ziflow_protocol::ErrorCode;

use crate::commands::invoices::payment_provider;
use crate::commands::{relay, relay_answer, relay_for};
use crate::error::{Error, Result};
use crate::state::AppState;

/// The app's version, shop and database location.
#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<dto::AppInfo> {
    let provider = payment_provider(&state).await?;
    Ok(dto::AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        shop_name: state.session().shop.name.clone(),
        mode: state.session().mode().into(),
        sandbox: provider == "sandbox",
        payment_provider: provider,
        database_path: state
            .db
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        role: settings::get(&state.db, &state.session().shop.uid, "device.role")
            .await?
            .unwrap_or_else(|| "owner".into()),
    })
}

/// Settings as the Settings screen shows them.
#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<dto::SettingsView> {
    let session = state.session();
    let shop = &session.shop;
    let provider = payment_provider(&state).await?;
    let channel = settings::get(&state.db, &shop.uid, "channel").await?;
    Ok(dto::SettingsView {
        shop_name: shop.name.clone(),
        currency: shop.currency.clone(),
        timezone: shop.timezone.clone(),
        payment_provider: provider,
        channel: match channel.filter(|c| !c.is_empty()) {
            Some(c) if c != "sandbox" => c,
            // No number connected: the sandbox chat where the relay runs one, else nothing.
            _ if settings::get(&state.db, &shop.uid, "relay.sandbox")
                .await?
                .as_deref()
                == Some("0") =>
            {
                "none".into()
            }
            _ => "sandbox".into(),
        },
        update_endpoint: crate::update::endpoint(&state.config.update),
    })
}

/// How sync with the relay is doing.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<dto::SyncStatusView> {
    use crate::sync::SyncState;
    let session = state.session();
    let status = session.sync.borrow().clone();
    let (focus_seq, focus_order) = state.focus.lock().map(|f| *f).unwrap_or_default();
    let (word, detail) = match status.state {
        SyncState::Connecting => ("connecting", None),
        SyncState::Online => ("online", None),
        SyncState::Offline { reason } => ("offline", Some(reason)),
        SyncState::Revoked => (
            "revoked",
            Some("this device was removed from the shop; pair it again".into()),
        ),
    };
    Ok(dto::SyncStatusView {
        state: word.into(),
        last_synced_at: status.last_synced_at,
        detail,
        relay_url: session.relay_url().to_string(),
        mode: session.mode().into(),
        focus_seq,
        focus_order,
    })
}

/// Checks the update endpoint; a newer version is reported only after its download
/// verified against the trusted key.
#[tauri::command]
pub async fn check_for_update<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<dto::UpdateCheck> {
    crate::update::check(&app, &state.config.update).await
}

/// Pairs this desktop with a relay (URL + device token); the window switches to its shop.
#[tauri::command]
pub async fn pair_relay(
    state: State<'_, AppState>,
    url: String,
    token: String,
) -> Result<dto::SyncStatusView> {
    state
        .pair(&url, &token)
        .await
        .map_err(|e| Error::new(ErrorCode::PairingFailed, e.to_string()))?;
    sync_status(state).await
}

/// Forgets the paired relay; the app goes back to its own relay (local mode).
#[tauri::command]
pub async fn unpair_relay(state: State<'_, AppState>) -> Result<dto::SyncStatusView> {
    state
        .unpair()
        .await
        .map_err(|e| Error::new(ErrorCode::PairingFailed, format!("{e:#}")))?;
    sync_status(state).await
}

/// Settings → Devices (owner): the shop's devices and what each may do.
#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> Result<Vec<dto::DeviceInfo>> {
    state
        .session()
        .client
        .devices()
        .await
        .map_err(|e| Error::from_relay(e, ErrorCode::Refused, "the devices are not shown"))
}

/// Lets a rep's device refund or mark paid by hand (or takes it back).
#[tauri::command]
pub async fn permit_device(
    state: State<'_, AppState>,
    device_id: i64,
    can: Vec<String>,
) -> Result<String> {
    let _: answer::DevicePermit = relay_for(
        &state,
        &dto::Command::DevicePermit {
            device_id,
            can: can.clone(),
        },
        ErrorCode::Refused,
        "nothing changed",
    )
    .await?;
    Ok(if can.is_empty() {
        "Saved: this device may no longer refund or mark invoices paid.".into()
    } else {
        format!(
            "Saved: this device may now {}.",
            can.join(" and ").replace('_', " ")
        )
    })
}

/// Signs a device out of the shop for good (its token stops working at once).
#[tauri::command]
pub async fn revoke_device(state: State<'_, AppState>, device_id: i64) -> Result<String> {
    let _: answer::DeviceRevoke = relay_for(
        &state,
        &dto::Command::DeviceRevoke { device_id },
        ErrorCode::Refused,
        "nothing changed",
    )
    .await?;
    Ok("Revoked: that device is signed out and can no longer reach the shop.".into())
}

/// Settings → Events set aside (owner): what the relay could not apply, from the replica.
#[tauri::command]
pub async fn list_set_aside(state: State<'_, AppState>) -> Result<Vec<dto::SetAsideEvent>> {
    let session = state.session();
    let notices =
        ziflow_core::storage::quarantine::open_notices(&state.db, &session.shop.uid).await?;
    Ok(notices
        .into_iter()
        .map(|n| dto::SetAsideEvent {
            event_id: n.event_id,
            kind: n.kind,
            reason: n.reason,
            at: n.at,
        })
        .collect())
}

/// Has the relay apply a set-aside event again.
#[tauri::command]
pub async fn retry_event(state: State<'_, AppState>, event_id: i64) -> Result<String> {
    let _: answer::EventRetry =
        relay_answer(&state, &dto::Command::EventRetry { event_id }, "not tried")
            .await?
            .map_err(|refusal| {
                Error::new(
                    ErrorCode::FailedAgain,
                    Some(refusal.message)
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "the relay could not apply it".into()),
                )
            })?;
    Ok(format!(
        "Event {event_id} applied; it is no longer set aside."
    ))
}

/// The Billing screen.
#[tauri::command]
pub async fn billing_status(state: State<'_, AppState>) -> Result<dto::BillingView> {
    let session = state.session();
    let uid = &session.shop.uid;
    let get = |key: &'static str| settings::get(&state.db, uid, key);
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(dto::BillingView {
        provider: payment_provider(&state).await?,
        mode: nonempty(get("billing.mode").await?),
        key_hint: nonempty(get("billing.key_hint").await?),
        webhook_url: format!("{}/api/payment/webhook/{uid}", session.relay_url()),
        webhook_secret_hint: nonempty(get("billing.webhook_secret_hint").await?),
    })
}

/// Connects Stripe with a pasted key; the relay checks it with Stripe first.
#[tauri::command]
pub async fn connect_stripe(state: State<'_, AppState>, key: String) -> Result<dto::ConnectResult> {
    let answer: std::result::Result<answer::BillingConnect, _> = relay_answer(
        &state,
        &dto::Command::BillingConnect { key },
        "the key was not checked",
    )
    .await?;
    Ok(match answer {
        Ok(connected) => dto::ConnectResult {
            connected: connected.connected,
            message: format!(
                "Connected: new invoices get Stripe pay links ({} mode).",
                connected.mode
            ),
            mode: Some(connected.mode),
            steps: connected.steps,
        },
        Err(refusal) => dto::ConnectResult {
            connected: false,
            mode: None,
            message: Some(refusal.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "Stripe refused the key".into()),
            steps: refusal.steps,
        },
    })
}

/// Stores the signing secret Stripe shows for the webhook endpoint.
#[tauri::command]
pub async fn save_webhook_secret(state: State<'_, AppState>, secret: String) -> Result<String> {
    let _: answer::SecretSaved = relay_for(
        &state,
        &dto::Command::BillingWebhookSecret { secret },
        ErrorCode::SecretInvalid,
        "not saved",
    )
    .await?;
    Ok("Saved: Stripe's events for this shop are verified with it.".into())
}

/// Disconnects Stripe: key and signing secret go, open Stripe links are deactivated.
#[tauri::command]
pub async fn disconnect_stripe(state: State<'_, AppState>) -> Result<String> {
    let answer: answer::BillingDisconnect = relay_for(
        &state,
        &dto::Command::BillingDisconnect {},
        ErrorCode::Refused,
        "still connected",
    )
    .await?;
    let mut text = String::from("Disconnected: Stripe's key and signing secret are removed");
    let expired = answer.links_expired;
    if expired > 0 {
        text.push_str(&format!(
            "; {expired} open Stripe link(s) deactivated (customers ask for a new one)"
        ));
    }
    let left: Vec<String> = answer
        .not_deactivated
        .iter()
        .map(|l| format!("#{}", l.number))
        .collect();
    if !left.is_empty() {
        text.push_str(&format!(
            ". Stripe did not confirm deactivating the links of {} — switch them off in Stripe's dashboard",
            left.join(", ")
        ));
    }
    text.push_str(if answer.provider == "sandbox" {
        ". New invoices use the sandbox pay page."
    } else {
        ". New invoices get no pay link until a payment provider is connected."
    });
    Ok(text)
}

/// The customer channel as Settings → WhatsApp shows it.
#[tauri::command]
pub async fn whatsapp_status(state: State<'_, AppState>) -> Result<dto::WhatsappView> {
    let session = state.session();
    let uid = &session.shop.uid;
    let get = |key: &'static str| settings::get(&state.db, uid, key);
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(dto::WhatsappView {
        channel: nonempty(get("channel").await?).unwrap_or_else(|| "sandbox".into()),
        display_phone_number: nonempty(get("whatsapp.display_phone_number").await?),
        verified_name: nonempty(get("whatsapp.verified_name").await?),
        webhook_url: format!("{}/api/whatsapp/webhook/{uid}", session.relay_url()),
    })
}

/// Connects a WhatsApp Cloud API number; the relay checks it with Meta first.
#[tauri::command]
pub async fn connect_whatsapp(
    state: State<'_, AppState>,
    phone_number_id: String,
    access_token: String,
    app_secret: String,
) -> Result<String> {
    let answer: answer::Channel = relay_for(
        &state,
        &dto::Command::WhatsappConnect {
            phone_number_id,
            access_token,
            app_secret: Some(app_secret).filter(|s| !s.trim().is_empty()),
        },
        ErrorCode::WhatsappRefused,
        "not connected",
    )
    .await?;
    let number = answer.number.unwrap_or_default();
    Ok(format!(
        "Connected {} ({}): the bot now answers customers on WhatsApp.",
        number.display_phone_number, number.verified_name
    ))
}

/// Back to the sandbox chat.
#[tauri::command]
pub async fn disconnect_whatsapp(state: State<'_, AppState>) -> Result<String> {
    relay(
        &state,
        dto::Command::WhatsappDisconnect {},
        ErrorCode::WhatsappRefused,
    )
    .await?;
    Ok("Disconnected: customers reach the shop through the sandbox chat only.".into())
}

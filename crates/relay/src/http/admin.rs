//! `GET /api/v1/devices`: the shop's devices, for the owner's Settings → Devices (the
//! commands that change them run in `crate::commands::admin`).

use axum::extract::State;
use axum::Json;
use ziflow_core::storage::devices::{self, Permission};
use ziflow_protocol::DeviceInfo;

use super::sync::Authed;
use super::{AppState, HttpError};

/// `GET /api/v1/devices`: the shop's devices, for the owner's Settings → Devices.
pub async fn devices(
    State(state): State<AppState>,
    auth: Authed,
) -> Result<Json<Vec<DeviceInfo>>, HttpError> {
    if !auth.is_owner() {
        return Err(HttpError::Forbidden(
            "only the shop owner's devices can list the shop's devices".into(),
        ));
    }
    let list = devices::list(&state.db, auth.shop_uid()).await?;
    Ok(Json(
        list.into_iter()
            .map(|d| DeviceInfo {
                id: d.id,
                name: d.name,
                role: d.role,
                can: Permission::parse_list(&d.can)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect(),
                created_at: d.created_at,
                revoked: d.revoked_at.is_some(),
                this_device: d.id == auth.device.id,
            })
            .collect(),
    ))
}

//! The owner's housekeeping on the relay's own tables: which devices may do what
//! (`device.permit`, `device.revoke`) and events the engine set aside (`event.retry`). Both
//! are owner-only; neither is in the shop's replicated state beyond the `engine.released`
//! notice.

use serde_json::json;
use ziflow_core::storage::command_results::{self, Stored};
use ziflow_core::storage::devices::{self, Permission};
use ziflow_protocol::Command;

use super::{refusal, replayed, Answer};
use crate::error::Error;
use crate::state::AppState;

/// Runs `command` if it is a device or quarantine command (`None` otherwise), once per
/// idempotency key, for the device `me`. The caller has checked that it is the owner's.
pub async fn run(
    state: &AppState,
    shop: &str,
    me: i64,
    key: &str,
    command: &Command,
) -> Result<Option<Answer>, Error> {
    if !matches!(
        command,
        Command::DevicePermit { .. } | Command::DeviceRevoke { .. } | Command::EventRetry { .. }
    ) {
        return Ok(None);
    }
    if let Some(answer) = replayed(state, shop, key).await? {
        return Ok(Some(answer));
    }
    let stored = match command {
        Command::DevicePermit { device_id, can } => {
            let parsed = Permission::parse_list(&can.join(","));
            match parsed {
                Ok(list) => {
                    match devices::set_permissions(&state.db, shop, *device_id, &list).await {
                        Ok(()) => Stored {
                            status: 200,
                            body: json!({
                                "device_id": device_id,
                                "can": list.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                            })
                            .to_string(),
                        },
                        Err(e @ ziflow_core::Error::NotFound(_)) => refusal(&e),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => refusal(&e),
            }
        }
        Command::DeviceRevoke { device_id } if *device_id == me => Stored {
            status: 400,
            body: json!({
                "error": "bad_request",
                "message": "this is the device you are using: revoke it from another owner's device, or with `ziflow-relay device revoke` on the relay",
            })
            .to_string(),
        },
        Command::DeviceRevoke { device_id } => {
            let known = devices::list(&state.db, shop)
                .await?
                .into_iter()
                .any(|d| d.id == *device_id);
            if known {
                let now = state.clock.now();
                let revoked_now = devices::revoke(&state.db, shop, *device_id, now).await?;
                Stored {
                    status: 200,
                    body: json!({ "device_id": device_id, "revoked": true, "revoked_now": revoked_now })
                        .to_string(),
                }
            } else {
                refusal(&ziflow_core::Error::NotFound(format!(
                    "device {device_id} of this shop"
                )))
            }
        }
        Command::EventRetry { event_id } => {
            match crate::engine::retry(
                &state.db,
                &state.writes,
                &state.intake,
                &state.engine_ctx,
                shop,
                *event_id,
            )
            .await
            {
                Ok(Ok(())) => Stored {
                    status: 200,
                    body: json!({ "event_id": event_id, "applied": true }).to_string(),
                },
                Ok(Err(reason)) => Stored {
                    status: 409,
                    body: json!({
                        "error": "failed_again",
                        "message": format!("event {event_id} failed again: {reason}"),
                    })
                    .to_string(),
                },
                Err(e @ ziflow_core::Error::NotFound(_)) => refusal(&e),
                Err(e) => return Err(e.into()),
            }
        }
        _ => return Ok(None),
    };
    let now = state.clock.now();
    let mut log = state.log().await?;
    command_results::put(&mut log.tx, shop, key, &stored, now).await?;
    log.commit(shop, &[]).await?;
    Ok(Some(Answer {
        stored,
        replayed: false,
    }))
}

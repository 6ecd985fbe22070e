//! The owner's housekeeping on the relay's own tables: which devices may do what
//! (`device.permit`, `device.revoke`) and events the engine set aside (`event.retry`). Both
//! are owner-only; neither is in the shop's replicated state beyond the `engine.released`
//! notice.

use ziflow_core::storage::command_results;
use ziflow_core::storage::devices::{self, Permission};
use ziflow_protocol::answer::{self, Refusal};
use ziflow_protocol::Command;

use super::{answered, refusal, refused, replayed, Answer};
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
                        Ok(()) => answered(
                            200,
                            &answer::DevicePermit {
                                device_id: *device_id,
                                can: list.iter().map(|p| p.as_str().to_string()).collect(),
                            },
                        ),
                        Err(e @ ziflow_core::Error::NotFound(_)) => refusal(&e),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => refusal(&e),
            }
        }
        Command::DeviceRevoke { device_id } if *device_id == me => refused(
            400,
            &Refusal::new(
                "bad_request",
                "this is the device you are using: revoke it from another owner's device, or with `ziflow-relay device revoke` on the relay",
            ),
        ),
        Command::DeviceRevoke { device_id } => {
            let known = devices::list(&state.db, shop)
                .await?
                .into_iter()
                .any(|d| d.id == *device_id);
            if known {
                let now = state.clock.now();
                let revoked_now = devices::revoke(&state.db, shop, *device_id, now).await?;
                answered(
                    200,
                    &answer::DeviceRevoke {
                        device_id: *device_id,
                        revoked: true,
                        revoked_now,
                    },
                )
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
                Ok(Ok(())) => answered(
                    200,
                    &answer::EventRetry {
                        event_id: *event_id,
                        applied: true,
                    },
                ),
                Ok(Err(reason)) => refused(
                    409,
                    &Refusal::new(
                        "failed_again",
                        format!("event {event_id} failed again: {reason}"),
                    ),
                ),
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

//! Payment reminders on the relay: the `invoice.remind` job (the steps themselves are decided
//! in `ziflow_core::reminders`).

use ziflow_core::storage::jobs::{self, Job};

use crate::state::AppState;

/// Runs one payment reminder step: what it records and the job's end commit together, so a
/// reminder goes out exactly once whatever stops the relay.
pub async fn run(
    state: &AppState,
    job: Job,
    work: ziflow_core::reminders::RemindWork,
) -> ziflow_core::Result<()> {
    let now = state.clock.now();
    let mut log = state.log().await?;
    let events =
        ziflow_core::reminders::send::remind_in(&mut log.tx, &job.shop_uid, &work, now).await?;
    jobs::done_in(&mut log.tx, &job, now).await?;
    log.commit(&job.shop_uid, &events).await?;
    Ok(())
}

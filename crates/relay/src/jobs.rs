//! The durable job runner: claims due jobs, runs each by its kind ([`Task`]) and records how
//! it went.
//!
//! A job is claimed with a lease in a short transaction; its provider calls run with no
//! transaction open; its result is recorded in a second transaction (the engine caught up
//! first). A crash between the call and the record leaves the job pending; it runs again
//! with the same idempotency key and the provider answers as the first time. Retryable
//! failures come back with backoff ([`jobs::failed_in`]); refusals are kept on the job with
//! the provider's words. Each kind's code lives in its domain's module: `pay` (links,
//! expiry, refunds), `channel` (WhatsApp sends), `phrase` and `reader` (the shop's model),
//! `notify` (owner notifications and the rules' jobs) and `reminders` (payment reminders).

use std::time::Duration;

use ziflow_core::storage::jobs::{self, Job};
use ziflow_core::task::Task;

use crate::health::Part;
use crate::state::AppState;

/// How often the runner looks for due jobs when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);

/// Jobs running at once (across shops; one per shop and lane).
const CONCURRENCY: usize = 16;

/// One job's longest run: its provider calls and recording the result. Each call has its
/// own shorter timeout; this bounds whatever else could hang.
const JOB_DEADLINE: Duration = Duration::from_secs(60);

/// Starts the job runner; it ends when shutdown starts.
///
/// Up to [`CONCURRENCY`] jobs run at once, at most one per shop and lane
/// ([`jobs::lane`]), so one shop's slow SMTP server or Stripe outage delays no other shop's
/// pay links. Each job has [`JOB_DEADLINE`] for its calls and its record; over it, or if it
/// panics, that is a failed attempt (counted, retried with backoff, given up after
/// [`jobs::MAX_ATTEMPTS`]) and the runner goes on.
pub fn start_runner(state: AppState) {
    tokio::spawn(async move {
        let mut stopping = state.stopping.clone();
        let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut busy: std::collections::HashMap<tokio::task::Id, Job> = Default::default();
        loop {
            let free = CONCURRENCY.saturating_sub(running.len());
            if free > 0 {
                match claim(&state, free as i64, None).await {
                    Ok(claimed) => {
                        state.engine_ctx.health.ok(Part::Jobs);
                        for job in claimed {
                            let s = state.clone();
                            let j = job.clone();
                            let handle = running.spawn(async move {
                                run_one(&s, j.clone()).await;
                                s.lanes.leave(&j);
                            });
                            busy.insert(handle.id(), job);
                        }
                    }
                    Err(e) => {
                        tracing::error!("job runner: {e}");
                        state.engine_ctx.health.failed(Part::Jobs, &e.to_string());
                    }
                }
            }
            tokio::select! {
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match &done { Ok((id, ())) => *id, Err(e) => e.id() };
                    let job = busy.remove(&id);
                    if let (Err(e), Some(job)) = (done, job) {
                        // The task ended before leaving its lane.
                        state.lanes.leave(&job);
                        if e.is_panic() {
                            state.engine_ctx.health.panicked(Part::Jobs);
                            let why = crate::health::panic_text(&*e.into_panic());
                            tracing::error!(job = job.id, kind = %job.kind, "a job panicked: {why}");
                            if let Err(e) = crate::attempts::failed(&state, &job, &format!("panicked: {why}"), true).await {
                                tracing::error!(job = job.id, "recording the panic failed: {e}");
                            }
                        }
                    }
                }
                () = state.jobs_wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = crate::server::stopped(&mut stopping) => break,
            }
        }
        // Jobs cut short here come back when their lease ends.
        running.shutdown().await;
    });
}

/// Claims due jobs in a short write transaction, none in a lane (shop and kind of work)
/// where a job is running — whether the runner or a command runs it — and marks their lanes
/// busy (the caller leaves them when each job is over).
async fn claim(state: &AppState, limit: i64, only: Option<i64>) -> ziflow_core::Result<Vec<Job>> {
    let _one_writer = state.writes.lock().await;
    let busy = state.lanes.busy();
    let mut tx = state.db.begin_immediate().await?;
    let claimed = jobs::claim_in(&mut tx, state.clock.now(), limit, only, &busy).await?;
    // Running from before the claim is visible: a job is always due or running, never
    // neither (what `/metrics` reports, and how the tests know the relay is idle).
    for job in &claimed {
        state.lanes.enter(job);
    }
    if let Err(e) = tx.commit().await {
        for job in &claimed {
            state.lanes.leave(job);
        }
        return Err(e);
    }
    Ok(claimed)
}

/// Runs job `only` now if it is due (a command waiting for its pay link). Returns how many
/// ran here. When the runner claimed the job first (it wakes on the same commit), this waits
/// for the runner to finish it instead, so the command can still answer with the link.
pub async fn run_due(state: &AppState, only: Option<i64>) -> ziflow_core::Result<usize> {
    // Its lane may be busy a moment (the runner sending this shop's last message, or running
    // this very job): wait a little, then leave the job to the runner (the command answers
    // "pending").
    let mut claimed = claim(state, 1, only).await?;
    let waited = std::time::Instant::now();
    while claimed.is_empty() && waited.elapsed() < LANE_WAIT {
        let waiting = match only {
            Some(id) => jobs::get(&state.db, id).await?.is_some_and(|j| {
                let running = state
                    .lanes
                    .busy()
                    .contains(&(j.shop_uid.clone(), jobs::lane(&j.kind)));
                j.state == "pending" && (j.run_at <= state.clock.now() || running)
            }),
            None => false,
        };
        if !waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        claimed = claim(state, 1, only).await?;
    }
    let n = claimed.len();
    for job in claimed {
        run_one(state, job.clone()).await;
        state.lanes.leave(&job);
    }
    Ok(n)
}

/// How long a command waits for its job's lane, or for the runner to finish its job, before
/// leaving the job to the runner.
const LANE_WAIT: Duration = Duration::from_secs(10);

/// Runs one claimed job within [`JOB_DEADLINE`]. A panic inside it is a failed attempt like
/// any other (counted on `/metrics`, retried with backoff), wherever the job runs — in the
/// runner or inline for a command.
async fn run_one(state: &AppState, job: Job) {
    use futures_util::FutureExt;
    let id = job.id;
    let kind = job.kind.clone();
    let work = async {
        if let Some(probe) = &state.providers.job_probe {
            (probe.0)(&job);
        }
        dispatch(state, job.clone()).await
    };
    let outcome = std::panic::AssertUnwindSafe(tokio::time::timeout(JOB_DEADLINE, work))
        .catch_unwind()
        .await;
    match outcome {
        Ok(Ok(Ok(()))) => {}
        // The lease brings it back (and the attempts cap ends it).
        // Another runner owns the job now: nothing of this attempt was recorded.
        Ok(Ok(Err(ziflow_core::Error::Stale(why)))) => tracing::warn!(job = id, %kind, "{why}"),
        Ok(Ok(Err(e))) => {
            tracing::error!(job = id, %kind, "recording a job's result failed: {e}")
        }
        Ok(Err(_)) => {
            let why = format!("took longer than {} s", JOB_DEADLINE.as_secs());
            tracing::warn!(job = id, %kind, "{why}; tried again later");
            if let Err(e) = crate::attempts::failed(state, &job, &why, true).await {
                tracing::error!(job = id, "recording the timeout failed: {e}");
            }
        }
        Err(panic) => {
            state.engine_ctx.health.panicked(Part::Jobs);
            let why = crate::health::panic_text(&*panic);
            tracing::error!(job = id, %kind, "a job panicked: {why}");
            if let Err(e) =
                crate::attempts::failed(state, &job, &format!("panicked: {why}"), true).await
            {
                tracing::error!(job = id, "recording the panic failed: {e}");
            }
        }
    }
}

/// Runs a job by its kind: each kind's code is in its domain's module. A job that does not
/// read as any kind fails for good (running it again cannot help).
async fn dispatch(state: &AppState, job: Job) -> ziflow_core::Result<()> {
    let task = match Task::read(&job.kind, &job.payload) {
        Ok(task) => task,
        Err(unreadable) => {
            crate::attempts::failed(state, &job, &unreadable.to_string(), false).await?;
            return Ok(());
        }
    };
    match task {
        Task::Pay(work) => crate::pay::run(state, job, work).await,
        Task::Channel(work) => crate::channel::run(state, job, work).await,
        Task::Phrase(work) => crate::phrase::run(state, job, work).await,
        Task::Read(work) => crate::reader::run(state, job, work).await,
        Task::Remind(work) => crate::reminders::run(state, job, work).await,
        Task::Notify(work) => crate::notify::run(state, job, work).await,
        Task::RuleMessage(work) => crate::notify::rule_message(state, job, work).await,
        Task::RuleHandoff(work) => crate::notify::rule_handoff(state, job, work).await,
    }
}

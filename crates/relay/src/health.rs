//! How the relay's background work is doing, for `/healthz` and `/metrics`: the engine and
//! the job runner each report success or failure after every step, and a part that has
//! failed for longer than [`STUCK_AFTER`] makes the relay `degraded` with its last error.
//! Panics are counted here too (the task that panicked is started again by its supervisor).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A part failing for this long is reported.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// A background part of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Applies the log's effects.
    Engine,
    /// Runs the durable jobs.
    Jobs,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::Jobs => "job runner",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    failing_since: Option<Instant>,
    last_error: String,
}

/// Shared between the background tasks and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Health {
    engine: Mutex<State>,
    jobs: Mutex<State>,
    /// Panics caught in the engine (each restarted it).
    pub engine_panics: AtomicU64,
    /// Panics caught in jobs (each counted as a failed attempt).
    pub job_panics: AtomicU64,
    /// Events quarantined since start.
    pub quarantined: AtomicU64,
}

impl Health {
    fn state(&self, part: Part) -> &Mutex<State> {
        match part {
            Part::Engine => &self.engine,
            Part::Jobs => &self.jobs,
        }
    }

    /// `part` just did its work.
    pub fn ok(&self, part: Part) {
        if let Ok(mut s) = self.state(part).lock() {
            s.failing_since = None;
        }
    }

    /// `part` just failed with `error`.
    pub fn failed(&self, part: Part, error: &str) {
        if let Ok(mut s) = self.state(part).lock() {
            s.failing_since.get_or_insert_with(Instant::now);
            s.last_error = error.chars().take(300).collect();
        }
    }

    /// Counts a panic of `part`.
    pub fn panicked(&self, part: Part) {
        match part {
            Part::Engine => &self.engine_panics,
            Part::Jobs => &self.job_panics,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Why the relay is degraded (empty when it is not): each part failing for longer than
    /// [`STUCK_AFTER`], with its last error.
    pub fn reasons(&self) -> Vec<String> {
        [Part::Engine, Part::Jobs]
            .into_iter()
            .filter_map(|part| {
                let s = self.state(part).lock().ok()?;
                let since = s.failing_since?;
                (since.elapsed() >= STUCK_AFTER).then(|| {
                    format!(
                        "{} failing for {} s: {}",
                        part.name(),
                        since.elapsed().as_secs(),
                        s.last_error
                    )
                })
            })
            .collect()
    }
}

/// The text of a panic's payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

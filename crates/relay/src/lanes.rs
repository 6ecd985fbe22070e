//! The lanes where a job runs now: one job at a time per shop and lane ([`jobs::lane`]), in
//! this process — whether the runner or a command runs it.

use ziflow_core::storage::jobs::{self, Job};

/// The lanes where a job is running now: one job at a time per shop and lane.
#[derive(Debug, Default)]
pub struct Lanes(std::sync::Mutex<std::collections::HashMap<(String, &'static str), usize>>);

impl Lanes {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, &'static str), usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The busy lanes.
    pub fn busy(&self) -> Vec<(String, &'static str)> {
        self.map().keys().cloned().collect()
    }

    /// How many jobs run now (the `ziflow_jobs_running` gauge).
    pub fn running(&self) -> usize {
        self.map().values().sum()
    }

    /// Marks `job`'s lane busy.
    pub fn enter(&self, job: &Job) {
        *self
            .map()
            .entry((job.shop_uid.clone(), jobs::lane(&job.kind)))
            .or_default() += 1;
    }

    /// Leaves `job`'s lane (busy until every job in it left).
    pub fn leave(&self, job: &Job) {
        let key = (job.shop_uid.clone(), jobs::lane(&job.kind));
        let mut map = self.map();
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

//! Spacing of WhatsApp sends per business number (Meta's per-number throughput limit): for
//! the whole cluster on PostgreSQL (a slot row per number, `storage::send_slots`), in memory
//! on SQLite (one relay per file).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keeps each business number under `rate` messages a second: a token bucket holding up to
/// one second's worth, so a quiet number sends at once and a busy one is spread out.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// Waits until `number` may send one more message at `rate` per second, counting every
    /// relay that shares `db`'s PostgreSQL database.
    pub async fn wait_in(&self, db: &ziflow_core::Db, number: &str, rate: u32) {
        match ziflow_core::storage::send_slots::take(db, number, rate).await {
            Ok(Some(delay)) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Ok(None) => self.wait(number, rate).await,
            Err(e) => {
                // Sending at this relay's own rate is better than not sending.
                tracing::warn!("the cluster's send rate could not be read: {e}");
                self.wait(number, rate).await;
            }
        }
    }

    /// Waits until `number` may send one more message at `rate` per second (this process).
    pub async fn wait(&self, number: &str, rate: u32) {
        let rate = f64::from(rate.max(1));
        let delay = {
            let Ok(mut buckets) = self.buckets.lock() else {
                return;
            };
            let now = Instant::now();
            let (tokens, last) = buckets.get(number).copied().unwrap_or((rate, now));
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate) - 1.0;
            buckets.insert(number.to_string(), (tokens, now));
            // Below zero: this message's turn comes when the bucket has refilled to it.
            (tokens < 0.0).then(|| Duration::from_secs_f64(-tokens / rate))
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_number_sends_a_seconds_worth_at_once_then_at_its_rate() {
        let limiter = Limiter::default();
        let start = Instant::now();
        for _ in 0..10 {
            limiter.wait("A", 10).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "a burst of 10 at 10/s"
        );
        for _ in 0..5 {
            limiter.wait("A", 10).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(480),
            "5 more wait 0.1 s each: {took:?}"
        );
        let other = Instant::now();
        limiter.wait("B", 10).await;
        assert!(
            other.elapsed() < Duration::from_millis(20),
            "numbers are apart"
        );
    }
}

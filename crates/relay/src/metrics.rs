//! Operational counters, served as Prometheus text at `GET /metrics`: webhooks accepted,
//! duplicated and rejected (by reason), intake latency (verify → commit → answer), and open
//! push connections. Plain atomics; nothing here blocks a request.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Providers whose webhooks are counted.
pub const PROVIDERS: [&str; 3] = ["stripe", "whatsapp", "sandbox"];

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Missing, malformed, stale or wrong signature.
    Signature,
    /// Verified, but not a valid event body.
    Malformed,
    /// No such shop.
    UnknownShop,
    /// The shop has no secret to verify with.
    NotConfigured,
    /// Over the route's body limit.
    TooLarge,
    /// Our failure (the provider will retry).
    Internal,
}

impl Rejection {
    const ALL: [Rejection; 6] = [
        Rejection::Signature,
        Rejection::Malformed,
        Rejection::UnknownShop,
        Rejection::NotConfigured,
        Rejection::TooLarge,
        Rejection::Internal,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Signature => "signature",
            Self::Malformed => "malformed",
            Self::UnknownShop => "unknown_shop",
            Self::NotConfigured => "not_configured",
            Self::TooLarge => "too_large",
            Self::Internal => "internal",
        }
    }
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const BUCKETS_US: [u64; 12] = [
    500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000,
];

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: [AtomicU64; 3],
    duplicates: [AtomicU64; 3],
    rejected: [[AtomicU64; 6]; 3],
    /// Requests per bucket (each counted in the first bucket it fits).
    latency_buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    sync_clients: AtomicI64,
    foreign_numbers: AtomicU64,
    rate_limited: AtomicU64,
}

/// The provider's place in [`PROVIDERS`]: the sandbox's pay-page events are counted apart
/// from Stripe's deliveries.
fn provider_index(provider: &str) -> usize {
    PROVIDERS.iter().position(|p| *p == provider).unwrap_or(0)
}

impl Metrics {
    /// Counts an accepted webhook and how long it took to commit and answer.
    pub fn accepted(&self, provider: &str, duplicate: bool, took: Duration) {
        let p = provider_index(provider);
        self.accepted[p].fetch_add(1, Ordering::Relaxed);
        if duplicate {
            self.duplicates[p].fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // One counter per request: the bucket it falls in (made cumulative when rendered).
        if let Some(i) = BUCKETS_US.iter().position(|bound| us <= *bound) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts a refused webhook.
    pub fn rejected(&self, provider: &str, why: Rejection) {
        let r = Rejection::ALL.iter().position(|x| *x == why).unwrap_or(0);
        self.rejected[provider_index(provider)][r].fetch_add(1, Ordering::Relaxed);
    }

    /// One request refused because its source spent its budget (see `http::limits`).
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts WhatsApp entries dropped because they were for another business number.
    pub fn foreign_number(&self, n: usize) {
        self.foreign_numbers
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a push connection for as long as the guard lives.
    pub fn sync_client(self: &std::sync::Arc<Self>) -> SyncClientGuard {
        self.sync_clients.fetch_add(1, Ordering::Relaxed);
        SyncClientGuard(self.clone())
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP ziflow_webhooks_accepted_total Webhooks verified, committed and answered 2xx."
        );
        let _ = writeln!(out, "# TYPE ziflow_webhooks_accepted_total counter");
        for (i, p) in PROVIDERS.iter().enumerate() {
            let _ = writeln!(
                out,
                "ziflow_webhooks_accepted_total{{provider=\"{p}\"}} {}",
                get(&self.accepted[i])
            );
        }
        let _ = writeln!(out, "# HELP ziflow_webhooks_duplicate_total Accepted webhooks that were redeliveries (stored once).");
        let _ = writeln!(out, "# TYPE ziflow_webhooks_duplicate_total counter");
        for (i, p) in PROVIDERS.iter().enumerate() {
            let _ = writeln!(
                out,
                "ziflow_webhooks_duplicate_total{{provider=\"{p}\"}} {}",
                get(&self.duplicates[i])
            );
        }
        let _ = writeln!(out, "# HELP ziflow_webhooks_rejected_total Webhooks refused, by reason; nothing was stored.");
        let _ = writeln!(out, "# TYPE ziflow_webhooks_rejected_total counter");
        for (i, p) in PROVIDERS.iter().enumerate() {
            for (j, r) in Rejection::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "ziflow_webhooks_rejected_total{{provider=\"{p}\",reason=\"{}\"}} {}",
                    r.label(),
                    get(&self.rejected[i][j])
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP ziflow_intake_seconds Time from request to durable commit and answer."
        );
        let _ = writeln!(out, "# TYPE ziflow_intake_seconds histogram");
        let mut below = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            below += get(&self.latency_buckets[i]);
            let _ = writeln!(out, "ziflow_intake_seconds_bucket{{le=\"{b}\"}} {below}");
        }
        let count = get(&self.latency_count);
        let _ = writeln!(out, "ziflow_intake_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum_us = get(&self.latency_sum_us);
        let _ = writeln!(
            out,
            "ziflow_intake_seconds_sum {}.{:06}",
            sum_us / 1_000_000,
            sum_us % 1_000_000
        );
        let _ = writeln!(out, "ziflow_intake_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP ziflow_whatsapp_foreign_number_total WhatsApp messages and statuses dropped: \
             their phone_number_id was not the shop's number."
        );
        let _ = writeln!(out, "# TYPE ziflow_whatsapp_foreign_number_total counter");
        let _ = writeln!(
            out,
            "ziflow_whatsapp_foreign_number_total {}",
            get(&self.foreign_numbers)
        );
        let _ = writeln!(
            out,
            "# HELP ziflow_rate_limited_total Requests answered 429: their source had spent its \
             budget of rejections or of open-route requests."
        );
        let _ = writeln!(out, "# TYPE ziflow_rate_limited_total counter");
        let _ = writeln!(out, "ziflow_rate_limited_total {}", get(&self.rate_limited));
        let _ = writeln!(
            out,
            "# HELP ziflow_sync_clients Open push (SSE) connections."
        );
        let _ = writeln!(out, "# TYPE ziflow_sync_clients gauge");
        let _ = writeln!(
            out,
            "ziflow_sync_clients {}",
            self.sync_clients.load(Ordering::Relaxed)
        );
        out
    }
}

/// Keeps a push connection counted until dropped.
#[derive(Debug)]
pub struct SyncClientGuard(std::sync::Arc<Metrics>);

impl Drop for SyncClientGuard {
    fn drop(&mut self) {
        self.0.sync_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

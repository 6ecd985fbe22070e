//! Per-source limits on what an outsider can make the relay do.
//!
//! Two budgets per source address (an IPv6 source is its /64, which one subscriber holds):
//! - **Rejections**: every request answered 401, 403, 404, 405 or 413 — and 400 on the
//!   unauthenticated routes (webhooks, the sandbox) — spends one. A rejected webhook may have
//!   cost an HMAC over a large body, so guessing shop uids, tokens or signatures is what is
//!   budgeted: [`REJECT_BURST`] at once, then [`REJECT_PER_SEC`] a second. A source with the
//!   budget spent is answered 429 (with `Retry-After`) before any work, on every route.
//! - **Open routes**: `/healthz`, the WhatsApp subscription check and the sandbox pages cost a
//!   database read each and need no credential: [`OPEN_BURST`], then [`OPEN_PER_SEC`] a second.
//!
//! Signed webhooks and authenticated device requests that succeed spend nothing: Stripe and
//! Meta deliver from a handful of addresses in bursts, and a 429 would only delay real events.
//! Behind a reverse proxy the source is the address the proxy names in `X-Forwarded-For`, only
//! when the peer is one of the operator's `--trusted-proxy` addresses. The table is bounded
//! ([`MAX_SOURCES`]); idle sources are forgotten.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the middleware needs: the budgets and the counters it reports refusals to.
#[derive(Clone)]
pub struct Budgets {
    /// The per-source budgets.
    pub limits: std::sync::Arc<SourceLimits>,
    /// Where refusals are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// Rejections one source may have at once.
pub const REJECT_BURST: f64 = 120.0;
/// Rejections a second one source earns back.
pub const REJECT_PER_SEC: f64 = 2.0;
/// Requests to the open routes one source may make at once.
pub const OPEN_BURST: f64 = 200.0;
/// Requests a second to the open routes one source earns back.
pub const OPEN_PER_SEC: f64 = 50.0;
/// Sources remembered at most; beyond it, idle ones are dropped first.
pub const MAX_SOURCES: usize = 65_536;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, burst: f64, per_sec: f64, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * per_sec;
        self.tokens = (self.tokens + gained).min(burst);
        self.at = now;
    }

    /// Seconds until one token is back.
    fn wait(&self, per_sec: f64) -> u64 {
        ((1.0 - self.tokens).max(0.0) / per_sec).ceil().max(1.0) as u64
    }
}

#[derive(Clone, Copy)]
struct Source {
    rejects: Bucket,
    open: Bucket,
}

/// The per-source budgets of one relay.
pub struct SourceLimits {
    trusted_proxies: Vec<IpAddr>,
    sources: Mutex<HashMap<IpAddr, Source>>,
}

impl SourceLimits {
    /// Limits that believe `X-Forwarded-For` only from `trusted_proxies`.
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            trusted_proxies,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// The source a request is counted against.
    fn source(&self, peer: Option<IpAddr>, forwarded: Option<&HeaderValue>) -> Option<IpAddr> {
        let peer = peer?;
        let peer = canonical(peer);
        if !self.trusted_proxies.iter().any(|p| canonical(*p) == peer) {
            return Some(key(peer));
        }
        // The proxy appends the address it saw: the last entry is the one it vouches for.
        let named = forwarded
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        Some(key(canonical(named.unwrap_or(peer))))
    }

    /// Seconds to wait when `source` may not be served now.
    fn refused(&self, source: IpAddr, open_route: bool, now: Instant) -> Option<u64> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let s = sources.get_mut(&source)?;
        s.rejects.refill(REJECT_BURST, REJECT_PER_SEC, now);
        if s.rejects.tokens < 1.0 {
            return Some(s.rejects.wait(REJECT_PER_SEC));
        }
        if open_route {
            s.open.refill(OPEN_BURST, OPEN_PER_SEC, now);
            if s.open.tokens < 1.0 {
                return Some(s.open.wait(OPEN_PER_SEC));
            }
        }
        None
    }

    /// Spends one from the budget (`reject`: a rejection; else an open-route request).
    fn spend(&self, source: IpAddr, reject: bool, now: Instant) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if !sources.contains_key(&source) && sources.len() >= MAX_SOURCES {
            forget_idle(&mut sources, now);
            if sources.len() >= MAX_SOURCES {
                // Every remembered source is busy: this one goes unbudgeted rather than
                // pushing out one that is being limited.
                return;
            }
        }
        let s = sources.entry(source).or_insert(Source {
            rejects: Bucket::full(REJECT_BURST, now),
            open: Bucket::full(OPEN_BURST, now),
        });
        let (bucket, burst, per_sec) = if reject {
            (&mut s.rejects, REJECT_BURST, REJECT_PER_SEC)
        } else {
            (&mut s.open, OPEN_BURST, OPEN_PER_SEC)
        };
        bucket.refill(burst, per_sec, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    /// Sources remembered now (for `/metrics`).
    pub fn tracked(&self) -> usize {
        self.sources.lock().map(|s| s.len()).unwrap_or_default()
    }
}

/// Drops the sources whose budgets are full again (they would start from full anyway).
fn forget_idle(sources: &mut HashMap<IpAddr, Source>, now: Instant) {
    sources.retain(|_, s| {
        let mut s = *s;
        s.rejects.refill(REJECT_BURST, REJECT_PER_SEC, now);
        s.open.refill(OPEN_BURST, OPEN_PER_SEC, now);
        s.rejects.tokens < REJECT_BURST || s.open.tokens < OPEN_BURST
    });
}

/// An IPv4 address inside IPv6 (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What a source is counted as: the IPv4 address, or the IPv6 /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Routes anyone may call without a credential or a signature.
fn open_route(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/sandbox/")
}

/// Routes whose 400 answers are rejections of an outsider's input (bad signature, bad shape).
fn unauthenticated(path: &str) -> bool {
    path.starts_with("/api/payment/webhook/")
        || path.starts_with("/api/whatsapp/webhook/")
        || path.starts_with("/sandbox/")
}

/// The middleware: refuses a source over its budget before any work, and charges rejections.
pub async fn budget(State(state): State<Budgets>, req: Request, next: Next) -> Response {
    let limits = &state.limits;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let Some(source) = limits.source(peer, req.headers().get("x-forwarded-for")) else {
        return next.run(req).await;
    };
    // What the route is, read before the request moves on (no copy of the path).
    let path = req.uri().path();
    let whatsapp_check =
        req.method() == axum::http::Method::GET && path.starts_with("/api/whatsapp/webhook/");
    let open = open_route(path) || whatsapp_check;
    let outsider_input = unauthenticated(path);
    if let Some(wait) = limits.refused(source, open, Instant::now()) {
        state.metrics.count_rate_limited();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, wait.to_string())],
            axum::Json(serde_json::json!({
                "error": format!(
                    "too many requests from this address; try again in {wait} s"
                ),
            })),
        )
            .into_response();
    }
    if open {
        limits.spend(source, false, Instant::now());
    }
    let response = next.run(req).await;
    let status = response.status();
    let rejected = matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::PAYLOAD_TOO_LARGE
    ) || (status == StatusCode::BAD_REQUEST && outsider_input);
    if rejected {
        limits.spend(source, true, Instant::now());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_is_refused_after_its_rejections_and_earns_them_back() {
        let limits = SourceLimits::new(vec![]);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..REJECT_BURST as usize {
            assert_eq!(limits.refused(ip, false, t0), None);
            limits.spend(ip, true, t0);
        }
        let wait = limits.refused(ip, false, t0).expect("over budget");
        assert!(wait >= 1);
        // Another source is untouched.
        assert_eq!(
            limits.refused("203.0.113.8".parse().unwrap(), false, t0),
            None
        );
        // One token is back after 1/REJECT_PER_SEC seconds.
        let later = t0 + Duration::from_secs_f64(1.0 / REJECT_PER_SEC + 0.01);
        assert_eq!(limits.refused(ip, false, later), None);
    }

    #[test]
    fn ipv6_sources_count_per_64_and_mapped_ipv4_is_ipv4() {
        let limits = SourceLimits::new(vec![]);
        let a = limits.source(Some("2001:db8:1:2::1".parse().unwrap()), None);
        let b = limits.source(Some("2001:db8:1:2:ffff::9".parse().unwrap()), None);
        assert_eq!(a, b);
        let mapped = limits.source(Some("::ffff:198.51.100.4".parse().unwrap()), None);
        assert_eq!(mapped, Some("198.51.100.4".parse().unwrap()));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let limits = SourceLimits::new(vec![proxy]);
        let header = HeaderValue::from_static("1.2.3.4, 198.51.100.9");
        assert_eq!(
            limits.source(Some(proxy), Some(&header)),
            Some("198.51.100.9".parse().unwrap())
        );
        let stranger: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(limits.source(Some(stranger), Some(&header)), Some(stranger));
        // A proxy that names nothing readable: the proxy itself.
        let junk = HeaderValue::from_static("not an address");
        assert_eq!(limits.source(Some(proxy), Some(&junk)), Some(proxy));
    }

    #[test]
    fn the_table_is_bounded_and_idle_sources_make_room() {
        let limits = SourceLimits::new(vec![]);
        let t0 = Instant::now();
        for i in 0..MAX_SOURCES as u32 {
            limits.spend(IpAddr::V4(i.into()), true, t0);
        }
        assert_eq!(limits.tracked(), MAX_SOURCES);
        // Full table, all busy: a new source is served unbudgeted, nothing is pushed out.
        limits.spend(IpAddr::V4(u32::MAX.into()), true, t0);
        assert_eq!(limits.tracked(), MAX_SOURCES);
        // A minute later they are all full again and make room.
        let later = t0 + Duration::from_secs(60);
        limits.spend(IpAddr::V4(u32::MAX.into()), true, later);
        assert_eq!(limits.tracked(), 1);
    }
}

//! A small Stripe stand-in for what `localstripe` lacks (Prices, Payment Links): it answers
//! in Stripe's shapes, keeps Stripe's idempotency rule (a key seen before gets the first
//! answer back), records every request with its form fields and headers, and can be told to
//! fail after doing the work (a 500 or 429 whose answer is lost) or to hang, on any
//! attempt — first or replayed — at creating a payment link.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One request as Stripe would have seen it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to do to the next payment-link creation, after creating it.
#[derive(Debug, Clone, Copy)]
pub enum Trouble {
    Status(u16),
    Hang(Duration),
}

#[derive(Default)]
pub struct Fake {
    pub requests: Vec<Recorded>,
    answers: HashMap<String, (u16, Value)>,
    pub links_created: usize,
    pub trouble: VecDeque<Trouble>,
    /// Keys Stripe does not know: 401 with Stripe's message.
    pub invalid_keys: Vec<String>,
    counter: usize,
}

pub struct FakeStripe {
    pub base: String,
    pub state: Arc<Mutex<Fake>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let state = Arc::new(Mutex::new(Fake::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeStripe { base, state }
    }

    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn handle(
    State(state): State<Arc<Mutex<Fake>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
        form: parse_form(&body),
    };
    let auth = header("authorization").unwrap_or_default();
    let (status, answer, trouble) = {
        let mut fake = state.lock().unwrap();
        fake.requests.push(rec.clone());
        let key_used = {
            use base64::Engine;
            let b64 = auth.trim_start_matches("Basic ");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            String::from_utf8_lossy(&raw)
                .trim_end_matches(':')
                .to_string()
        };
        if fake.invalid_keys.contains(&key_used) {
            let tail: String = key_used
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"type": "invalid_request_error",
                    "message": format!("Invalid API Key provided: sk_test_****{tail}")}})),
            )
                .into_response();
        }
        if let Some((s, v)) = rec
            .idempotency_key
            .as_ref()
            .and_then(|k| fake.answers.get(k))
        {
            let (s, v) = (*s, v.clone());
            let trouble = if rec.path == "/v1/payment_links" {
                fake.trouble.pop_front()
            } else {
                None
            };
            (s, v, trouble)
        } else {
            fake.counter += 1;
            let n = fake.counter;
            let field = |k: &str| rec.field(k).unwrap_or_default().to_string();
            let (status, answer) = match (rec.method.as_str(), rec.path.as_str()) {
                ("GET", "/v1/balance") => (200, json!({"object": "balance", "available": []})),
                ("POST", "/v1/prices") => (
                    200,
                    json!({"id": format!("price_{n}"), "object": "price",
                    "unit_amount": field("unit_amount").parse::<i64>().unwrap_or(0)}),
                ),
                ("POST", "/v1/payment_links") => {
                    fake.links_created += 1;
                    (
                        200,
                        json!({"id": format!("plink_{n}"), "object": "payment_link", "active": true,
                        "url": format!("https://buy.stripe.com/test_{n}")}),
                    )
                }
                ("POST", p) if p.starts_with("/v1/payment_links/") => (
                    200,
                    json!({
                    "id": p.trim_start_matches("/v1/payment_links/"), "object": "payment_link",
                    "active": field("active") != "false"}),
                ),
                ("POST", p) if p.starts_with("/v1/subscriptions/") => (
                    200,
                    json!({
                    "id": p.trim_start_matches("/v1/subscriptions/"), "object": "subscription",
                    "status": "trialing", "trial_end": field("trial_end").parse::<i64>().unwrap_or(0)}),
                ),
                ("POST", "/v1/payment_intents") => (
                    200,
                    json!({"id": format!("pi_{n}"),
                    "object": "payment_intent", "status": "succeeded", "amount": 100}),
                ),
                ("POST", "/v1/refunds") => (
                    200,
                    json!({"id": format!("re_{n}"), "object": "refund",
                    "status": "succeeded"}),
                ),
                _ => (
                    404,
                    json!({"error": {"message": "Unrecognized request URL"}}),
                ),
            };
            if let Some(k) = &rec.idempotency_key {
                fake.answers.insert(k.clone(), (status, answer.clone()));
            }
            let trouble = if rec.path == "/v1/payment_links" {
                fake.trouble.pop_front()
            } else {
                None
            };
            (status, answer, trouble)
        }
    };
    match trouble {
        // The work was done; the answer is lost.
        Some(Trouble::Status(s)) => (
            StatusCode::from_u16(s).unwrap(),
            axum::Json(
                json!({"error": {"type": "api_error", "message": "An unknown error occurred"}}),
            ),
        )
            .into_response(),
        Some(Trouble::Hang(d)) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        None => (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response(),
    }
}

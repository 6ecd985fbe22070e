//! A stand-in for Meta's Graph API (WhatsApp Cloud API) on 127.0.0.1: it checks the bearer
//! token, answers `/messages` in Meta's shapes with fresh wamids, records every body, and can
//! be told to answer the next sends with an error code (130429, 131056, …).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const TOKEN: &str = "EAAGfakeTokenForZiFlowTests0123456789";
pub const NUMBER_ID: &str = "106540352242922";

#[derive(Default)]
pub struct Graph {
    /// Every `/messages` body, in order, with the number ID it was posted to.
    pub posted: Vec<(String, Value)>,
    /// Answers for the next sends: (HTTP status, Meta error code).
    pub trouble: VecDeque<(u16, i64)>,
    counter: usize,
}

pub struct FakeGraph {
    pub base: String,
    pub state: Arc<Mutex<Graph>>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let state = Arc::new(Mutex::new(Graph::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGraph { base, state }
    }

    /// The messages (not read receipts) posted so far.
    pub fn messages(&self) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .posted
            .iter()
            .filter(|(_, b)| b.get("status").is_none())
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// The read receipts posted so far (their message ids).
    pub fn reads(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .posted
            .iter()
            .filter(|(_, b)| b["status"] == "read")
            .map(|(_, b)| b["message_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (up to 10 s) until `n` messages were posted; returns them.
    pub async fn wait_messages(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("expected {n} messages, got {:#?}", self.messages());
    }
}

fn meta_error(status: u16, code: i64, message: &str, details: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(
            json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AbCdEf"}}),
        ),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<Mutex<Graph>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        return meta_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "",
        );
    }
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["v23.0", id]) if *id == NUMBER_ID => axum::Json(json!({
            "display_phone_number": "+1 555-010-4477", "verified_name": "Glow Bar", "id": id
        }))
        .into_response(),
        ("GET", ["v23.0", _]) => meta_error(
            400,
            100,
            "Unsupported get request. Object with ID does not exist",
            "",
        ),
        ("POST", ["v23.0", id, "messages"]) => {
            let Ok(body) = serde_json::from_slice::<Value>(&body) else {
                return meta_error(400, 100, "Invalid parameter", "body is not JSON");
            };
            let mut g = state.lock().unwrap();
            g.posted.push((id.to_string(), body.clone()));
            if body["status"] == "read" {
                return axum::Json(json!({"success": true})).into_response();
            }
            if let Some((status, code)) = g.trouble.pop_front() {
                return meta_error(
                    status,
                    code,
                    "(#130429) Rate limit hit",
                    "Cloud API message throughput has been reached.",
                );
            }
            g.counter += 1;
            let to = body["to"].as_str().unwrap_or_default().to_string();
            axum::Json(json!({"messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": format!("wamid.FAKE{}", g.counter)}]}))
            .into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such Graph path").into_response(),
    }
}

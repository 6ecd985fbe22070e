//! The WhatsApp Cloud API (Meta's Graph API) for sending: the JSON of each message kind, and a
//! small client that posts it to `/{version}/{phone-number-id}/messages` with the shop's
//! access token. Inbound webhooks are read by [`crate::webhook::whatsapp`].
//!
//! Errors are sorted into "later" and "no": throughput and pair rate limits (130429, 131056),
//! Meta's temporary errors and HTTP 429/5xx come back with backoff and are never dropped;
//! anything else is a refusal, kept with Meta's words.

use std::time::Duration;

use serde_json::{json, Value};

use crate::pay::ProviderError;
use crate::secrets::Secret;

/// The Graph API version ZiFlow speaks.
pub const GRAPH_VERSION: &str = "v23.0";

/// Meta's Graph API.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.facebook.com";

/// How long one call may take before it is retried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Messages per second one business number may send (Meta's default throughput).
pub const DEFAULT_RATE: u32 = 80;

/// Longest text body.
pub const TEXT_MAX: usize = 4096;

/// Longest body of an interactive message.
pub const INTERACTIVE_BODY_MAX: usize = 1024;

/// Longest button label.
pub const BUTTON_MAX: usize = 20;

/// Error codes that mean "not now": 130429 throughput reached, 131056 too many messages to
/// one customer, 131000/131016 something went wrong/service unavailable, 4 and 80007 the app's
/// and the account's call rate, 133016 registration rate.
const RETRY_CODES: [i64; 7] = [130_429, 131_056, 131_000, 131_016, 4, 80_007, 133_016];

/// Error 131047: more than 24 hours since the customer last wrote (a template is needed).
pub const OUTSIDE_WINDOW: i64 = 131_047;

/// The number the API addresses: E.164 digits without the `+`.
pub fn to_field(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A text message; `preview_url` lets WhatsApp show a link's preview.
pub fn text(to: &str, body: &str, preview_url: bool) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_field(to),
        "type": "text",
        "text": { "preview_url": preview_url, "body": cut(body, TEXT_MAX) },
    })
}

/// A message with one link button ("Pay $128").
pub fn cta_url(to: &str, body: &str, label: &str, url: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_field(to),
        "type": "interactive",
        "interactive": {
            "type": "cta_url",
            "body": { "text": cut(body, INTERACTIVE_BODY_MAX) },
            "action": {
                "name": "cta_url",
                "parameters": { "display_text": cut(label, BUTTON_MAX), "url": url },
            },
        },
    })
}

/// An approved template message whose body has one variable per parameter. Meta refuses
/// parameters with new lines, tabs or more than four spaces in a row, so they are folded.
pub fn template(to: &str, name: &str, language: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({ "type": "text", "text": fold_param(p) }))
        .collect();
    let mut components = Vec::new();
    if !parameters.is_empty() {
        components.push(json!({ "type": "body", "parameters": parameters }));
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_field(to),
        "type": "template",
        "template": { "name": name, "language": { "code": language }, "components": components },
    })
}

fn fold_param(p: &str) -> String {
    let lines: Vec<&str> = p.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let one = lines.join(" · ").replace('\t', " ");
    let mut out = String::with_capacity(one.len());
    let mut spaces = 0;
    for c in one.chars() {
        spaces = if c == ' ' { spaces + 1 } else { 0 };
        if spaces <= 1 {
            out.push(c);
        }
    }
    out
}

/// Marks an inbound message read (the customer sees blue ticks).
pub fn mark_read(wamid: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": wamid })
}

/// A business phone number reached with one access token.
pub struct Graph {
    base: String,
    token: Secret,
    phone_number_id: String,
    client: reqwest::Client,
    timeout: Duration,
}

/// What Meta says about a business number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberInfo {
    /// "+1 555-000-1111" as Meta writes it.
    pub display_phone_number: String,
    /// The business name customers see.
    pub verified_name: String,
}

impl Graph {
    /// The number `phone_number_id` at `base` (Meta, or a local stand-in in tests), reached
    /// through `client` (shared, so connections are reused); each call times out after
    /// `timeout`.
    pub fn new(
        client: reqwest::Client,
        base: &str,
        token: Secret,
        phone_number_id: &str,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        if phone_number_id.is_empty() || !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ProviderError::Refused(format!(
                "a WhatsApp phone number ID is the digits shown in Meta's WhatsApp Manager \
                 (API Setup), got {phone_number_id:?}"
            )));
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            phone_number_id: phone_number_id.to_string(),
            client,
            timeout,
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let res = req
            .bearer_auth(self.token.expose())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                ProviderError::Retry(if e.is_timeout() {
                    "WhatsApp did not answer in time".to_string()
                } else {
                    format!("cannot reach WhatsApp: {e}")
                })
            })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(classify(status.as_u16(), &body))
    }

    /// Sends one message (JSON from this module); returns its wamid.
    pub async fn send(&self, message: &Value) -> Result<String, ProviderError> {
        let url = format!(
            "{}/{GRAPH_VERSION}/{}/messages",
            self.base, self.phone_number_id
        );
        let body = self.call(self.client.post(url).json(message)).await?;
        body["messages"][0]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::Retry(format!("WhatsApp answered without a message id: {body}"))
            })
    }

    /// Marks an inbound message read.
    pub async fn mark_read(&self, wamid: &str) -> Result<(), ProviderError> {
        let url = format!(
            "{}/{GRAPH_VERSION}/{}/messages",
            self.base, self.phone_number_id
        );
        self.call(self.client.post(url).json(&mark_read(wamid)))
            .await
            .map(|_| ())
    }

    /// Reads the number's name and display form (checks the token and the ID together).
    pub async fn number_info(&self) -> Result<NumberInfo, ProviderError> {
        let url = format!(
            "{}/{GRAPH_VERSION}/{}?fields=display_phone_number,verified_name",
            self.base, self.phone_number_id
        );
        let body = self.call(self.client.get(url)).await?;
        Ok(NumberInfo {
            display_phone_number: body["display_phone_number"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            verified_name: body["verified_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// Sorts a Graph API error answer into retry-later or refused.
pub fn classify(status: u16, body: &Value) -> ProviderError {
    let err = &body["error"];
    let code = err["code"].as_i64();
    let message = err["message"].as_str().unwrap_or("no message");
    let details = err["error_data"]["details"].as_str();
    let words = match (code, details) {
        (Some(c), Some(d)) => format!("WhatsApp answered {status} (#{c}) {message}: {d}"),
        (Some(c), None) => format!("WhatsApp answered {status} (#{c}) {message}"),
        _ => format!("WhatsApp answered {status}: {message}"),
    };
    if status == 429 || status >= 500 || code.is_some_and(|c| RETRY_CODES.contains(&c)) {
        ProviderError::Retry(words)
    } else {
        ProviderError::Refused(words)
    }
}

/// Whether a refusal says the 24-hour window is closed.
pub fn is_outside_window(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Refused(w) if w.contains(&format!("(#{OUTSIDE_WINDOW})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_retried_other_errors_refused() {
        let e = |code: i64| json!({"error": {"message": "x", "code": code}});
        assert!(matches!(
            classify(400, &e(130_429)),
            ProviderError::Retry(_)
        ));
        assert!(matches!(
            classify(400, &e(131_056)),
            ProviderError::Retry(_)
        ));
        assert!(matches!(
            classify(503, &Value::Null),
            ProviderError::Retry(_)
        ));
        let refused = classify(400, &e(131_026));
        assert!(matches!(refused, ProviderError::Refused(ref w) if w.contains("#131026")));
        assert!(is_outside_window(&classify(400, &e(OUTSIDE_WINDOW))));
    }

    #[test]
    fn template_parameters_lose_new_lines_and_runs_of_spaces() {
        let v = template(
            "+15125550123",
            "ziflow_update",
            "en_US",
            &["a\n\nb\tc     d"],
        );
        assert_eq!(v["to"], "15125550123");
        assert_eq!(
            v["template"]["components"][0]["parameters"][0]["text"],
            "a · b c d"
        );
    }

    #[test]
    fn long_bodies_and_labels_are_cut_to_meta_limits() {
        let v = cta_url(
            "+1",
            &"x".repeat(2000),
            "Pay $1,234,567.89 now please",
            "https://p",
        );
        let body = v["interactive"]["body"]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(body.chars().count(), INTERACTIVE_BODY_MAX);
        let label = v["interactive"]["action"]["parameters"]["display_text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(label.chars().count(), BUTTON_MAX);
    }
}

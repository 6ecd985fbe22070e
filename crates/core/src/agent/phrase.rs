//! Optional phrasing of the agent's replies by a chat model behind any OpenAI-compatible
//! endpoint (`POST {base}/chat/completions`). Off by default. The agent still decides
//! everything — which reply, which products, which amounts; the model only rewords the text,
//! and its wording is used only if it keeps every fact of the original: each number, amount
//! and link, each product named, and no product or number the original did not have. Anything
//! else — a changed price, a slow or failing endpoint — and the customer gets the agent's own
//! words. A reply is never lost to the model.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::secrets::Secret;

/// How long the customer's reply may wait for the model.
pub const TIMEOUT: Duration = Duration::from_secs(8);

/// A reply waiting to be phrased (a job of kind `agent.phrase`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhraseWork {
    /// The customer, E.164.
    pub to: String,
    /// The agent's own words.
    pub text: String,
    /// The inbound event it answers.
    pub in_reply_to: i64,
    /// Its place among that event's replies.
    pub n: usize,
    /// `en` or `es`.
    pub lang: String,
}

impl PhraseWork {
    /// The job kind.
    pub const KIND: &'static str = "agent.phrase";

    /// Its idempotency key.
    pub fn key(&self, shop: &str) -> String {
        format!("ziflow-{shop}-phrase-{}-{}", self.in_reply_to, self.n)
    }
}

/// The chat completion request for rewording `text`.
pub fn request(model: &str, text: &str, lang: &str) -> Value {
    let language = if lang == "es" { "Spanish" } else { "English" };
    json!({
        "model": model,
        "temperature": 0.3,
        "max_tokens": 300,
        "messages": [
            {"role": "system", "content": format!(
                "You reword a small shop's WhatsApp replies so they sound warm and natural, in \
                 {language}. Keep every number, price, product name, address and link exactly as \
                 written, keep any question, add no new facts, products or prices. Answer with \
                 the reworded message only.")},
            {"role": "user", "content": text},
        ],
    })
}

/// Calls the model through `client`; returns its wording or why not.
pub async fn phrase(
    client: &reqwest::Client,
    base: &str,
    key: Option<&Secret>,
    model: &str,
    text: &str,
    lang: &str,
    timeout: Duration,
) -> Result<String, String> {
    complete(client, base, key, &request(model, text, lang), timeout).await
}

/// Sends one chat completion `body` to `{base}/chat/completions` through `client`; returns the
/// model's message or why not (unreachable, too slow, an error status, no message).
pub async fn complete(
    client: &reqwest::Client,
    base: &str,
    key: Option<&Secret>,
    body: &Value,
    timeout: Duration,
) -> Result<String, String> {
    let mut req = client
        .post(format!("{}/chat/completions", base.trim_end_matches('/')))
        .timeout(timeout)
        .json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k.expose());
    }
    let res = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "the model did not answer in time".to_string()
        } else {
            format!("cannot reach the model: {e}")
        }
    })?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "the model's endpoint answered {}: {}",
            status.as_u16(),
            body["error"]["message"].as_str().unwrap_or("no message")
        ));
    }
    body["choices"][0]["message"]["content"]
        .as_str()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "the model answered without a message".into())
}

/// The facts of a text: every word with a digit, an amount or a link.
fn facts(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_end_matches(['.', ',', '!', '?', ';', ':', ')'])
                .trim_start_matches(['(', '¿', '¡'])
        })
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()) || w.contains("://") || w.contains('$'))
        .map(str::to_string)
        .collect()
}

/// Whether `phrased` says what `original` says: the same numbers, amounts and links (none
/// dropped, none added), every product of `products` the original names still named, and no
/// other product of `products` brought in.
pub fn keeps_facts(original: &str, phrased: &str, products: &[String]) -> bool {
    let (mut a, mut b) = (facts(original), facts(phrased));
    a.sort();
    b.sort();
    if a != b || phrased.chars().count() > original.chars().count() * 3 + 200 {
        return false;
    }
    let (lo, lp) = (original.to_lowercase(), phrased.to_lowercase());
    products.iter().all(|name| {
        let n = name.to_lowercase();
        lo.contains(&n) == lp.contains(&n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["Gel cleanser".into(), "Vitamin C serum".into()]
    }

    #[test]
    fn a_warmer_wording_with_the_same_facts_is_kept() {
        assert!(keeps_facts(
            "Gel cleanser is $28. Shipping within Denver is $6. Would you like to order?",
            "Our Gel cleanser is $28, and shipping within Denver is just $6! Shall I set one aside for you?",
            &names()
        ));
    }

    #[test]
    fn a_changed_amount_a_new_number_a_lost_link_or_another_product_is_refused() {
        let o = "Gel cleanser is $28. Pay here: https://p/x";
        let n = names();
        assert!(!keeps_facts(
            o,
            "Gel cleanser is $25. Pay here: https://p/x",
            &n
        ));
        assert!(!keeps_facts(
            o,
            "Gel cleanser is $28, 2 for $50. Pay: https://p/x",
            &n
        ));
        assert!(!keeps_facts(o, "Gel cleanser is $28. Pay at our site.", &n));
        assert!(!keeps_facts(
            o,
            "Gel cleanser is $28 — try the Vitamin C serum too! https://p/x",
            &n
        ));
        assert!(
            !keeps_facts(o, "Our cleanser is $28. https://p/x", &n),
            "product dropped"
        );
    }
}

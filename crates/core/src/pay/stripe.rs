//! Stripe through its HTTP API (reqwest, form-encoded, hand-written calls: the few endpoints
//! used here cost far less to build than a generated Stripe crate covering all of them).
//!
//! Pay links are Stripe **Payment Links**, not Checkout Sessions: a Checkout Session expires
//! after 24 hours at most, so "link expires in 48 hours" could not be true with one. A payment
//! link has no expiry of its own; the relay's job deactivates it (`active=false`) when the 48
//! hours are up. Each link allows one completed checkout, carries `ziflow_shop` and
//! `ziflow_invoice` metadata on itself and on the payment intent or subscription it creates,
//! and leaves payment methods to Stripe's automatic ones (cards, Apple Pay, Google Pay).
//!
//! The API version is pinned in [`API_VERSION`], sent with every request.

use std::time::Duration;

use serde_json::Value;
use ziflow_protocol::ConnectStep;

use super::{BoxFuture, CreatedLink, LinkRequest, PaymentProvider, ProviderError, RefundRequest};
use crate::secrets::Secret;

/// The one Stripe API version ZiFlow speaks.
pub const API_VERSION: &str = "2025-03-31.basil";

/// Stripe's API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// How long one call may take before it counts as a timeout (and is retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Test or live mode, from the key's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `sk_test_…` / `rk_test_…`: no real money.
    Test,
    /// `sk_live_…` / `rk_live_…`.
    Live,
}

impl Mode {
    /// `test` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }
}

/// Checks a pasted key's shape; returns its mode. Says what is wrong in words.
pub fn key_mode(key: &str) -> Result<Mode, String> {
    let key = key.trim();
    let (kind, rest) = key.split_at(key.find('_').map_or(0, |i| i + 1));
    if kind != "sk_" && kind != "rk_" {
        return Err(if key.starts_with("pk_") {
            "that is a publishable key (pk_…); paste the secret key (sk_…) or a restricted key (rk_…)".into()
        } else if key.starts_with("whsec_") {
            "that is a webhook signing secret; paste it under \"Webhook signing secret\" and the API key (sk_… or rk_…) here".into()
        } else {
            "a Stripe secret key starts with sk_test_, sk_live_, rk_test_ or rk_live_".into()
        });
    }
    let (mode, tail) = if let Some(t) = rest.strip_prefix("test_") {
        (Mode::Test, t)
    } else if let Some(t) = rest.strip_prefix("live_") {
        (Mode::Live, t)
    } else {
        return Err("a Stripe key reads sk_test_…, sk_live_…, rk_test_… or rk_live_…".into());
    };
    if tail.len() < 8 || !tail.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("this key is cut short or has spaces in it; copy it again from Stripe (Developers → API keys)".into());
    }
    Ok(mode)
}

/// A key shown safely: `sk_test_…4242`.
pub fn key_hint(key: &str) -> String {
    let key = key.trim();
    let prefix: String = key.chars().take(8).collect();
    let last: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}…{last}")
}

/// A Stripe account reached with one key.
pub struct Stripe {
    base: String,
    key: Secret,
    client: reqwest::Client,
}

impl Stripe {
    /// Stripe at `base` (its real API, or a fake in tests) with `key`; calls time out after
    /// `timeout`.
    pub fn new(base: &str, key: Secret, timeout: Duration) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ProviderError::Refused(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            key,
            client,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let res = req
            .basic_auth(self.key.expose(), None::<&str>)
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(|e| {
                ProviderError::Retry(if e.is_timeout() {
                    "Stripe did not answer in time".to_string()
                } else {
                    format!("cannot reach Stripe: {e}")
                })
            })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 409 {
            // 409: the same idempotency key is still being processed by Stripe.
            Err(ProviderError::Retry(format!(
                "Stripe answered {}: {message}",
                status.as_u16()
            )))
        } else {
            Err(ProviderError::Refused(format!(
                "Stripe answered {}: {message}",
                status.as_u16()
            )))
        }
    }

    /// A POST with its idempotency key.
    pub async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        key: &str,
    ) -> Result<Value, ProviderError> {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("Idempotency-Key", key)
                .form(form),
        )
        .await
    }

    /// A GET.
    pub async fn get(&self, path: &str) -> Result<Value, ProviderError> {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// The form of a pay link's Price for one line.
    fn price_form(
        req: &LinkRequest,
        name: &str,
        unit_minor: i64,
        recurring: bool,
    ) -> Vec<(String, String)> {
        let mut f = vec![
            ("currency".to_string(), req.currency.to_ascii_lowercase()),
            ("unit_amount".to_string(), unit_minor.to_string()),
            ("product_data[name]".to_string(), name.to_string()),
            ("metadata[ziflow_shop]".to_string(), req.shop.clone()),
            (
                "metadata[ziflow_invoice]".to_string(),
                req.invoice_id.to_string(),
            ),
        ];
        if let (true, Some(r)) = (recurring, req.recurrence) {
            f.push(("recurring[interval]".into(), r.unit.as_str().into()));
            f.push(("recurring[interval_count]".into(), r.count.to_string()));
        }
        f
    }

    async fn create_link_now(
        &self,
        req: &LinkRequest,
        key: &str,
    ) -> Result<CreatedLink, ProviderError> {
        let mut prices = Vec::new();
        for (n, line) in req.lines.iter().enumerate() {
            let form = Self::price_form(req, &line.name, line.unit_minor, true);
            let price = self
                .post("/v1/prices", &form, &format!("{key}-price{n}"))
                .await?;
            prices.push((id_of(&price, "price")?, line.qty));
        }
        if req.shipping_minor > 0 {
            // Shipping is charged once, also on a subscription's first invoice.
            let form = Self::price_form(req, "Shipping", req.shipping_minor, false);
            let price = self
                .post("/v1/prices", &form, &format!("{key}-shipping"))
                .await?;
            prices.push((id_of(&price, "price")?, 1));
        }
        let mut form: Vec<(String, String)> = Vec::new();
        for (n, (price, qty)) in prices.iter().enumerate() {
            form.push((format!("line_items[{n}][price]"), price.clone()));
            form.push((format!("line_items[{n}][quantity]"), qty.to_string()));
        }
        let meta = [
            ("ziflow_shop", req.shop.clone()),
            ("ziflow_invoice", req.invoice_id.to_string()),
        ];
        let with_meta = |prefix: &str, form: &mut Vec<(String, String)>| {
            for (k, v) in &meta {
                form.push((format!("{prefix}[{k}]"), v.clone()));
            }
        };
        with_meta("metadata", &mut form);
        // One payment per invoice: the link closes after its first completed checkout.
        form.push(("restrictions[completed_sessions][limit]".into(), "1".into()));
        match req.recurrence {
            Some(r) => {
                with_meta("subscription_data[metadata]", &mut form);
                let days = r.trial_days(req.created_at);
                if days > 0 {
                    form.push((
                        "subscription_data[trial_period_days]".into(),
                        days.to_string(),
                    ));
                }
            }
            None => with_meta("payment_intent_data[metadata]", &mut form),
        }
        let link = self
            .post("/v1/payment_links", &form, &format!("{key}-link"))
            .await?;
        let url = link["url"]
            .as_str()
            .ok_or_else(|| ProviderError::Refused("Stripe's payment link has no url".into()))?;
        Ok(CreatedLink {
            url: url.to_string(),
            reference: id_of(&link, "payment link")?,
        })
    }

    /// Checks the key the way the Billing screen shows it. Test keys: a $1 payment intent
    /// confirmed with Stripe's test card, then refunded. Live keys: a read-only call (the
    /// balance); no card can be charged without a customer. Returns the steps, each with
    /// its result; the key is good if every step passed.
    pub async fn check_key(&self, mode: Mode, key_prefix: &str) -> Vec<ConnectStep> {
        let mut steps = Vec::new();
        let step = |name: &str, ok: bool, detail: String| ConnectStep {
            step: name.into(),
            ok,
            detail,
        };
        match self.get("/v1/balance").await {
            Ok(_) => steps.push(step(
                "key",
                true,
                format!("Stripe accepted the {} key", mode.as_str()),
            )),
            Err(e) => {
                steps.push(step("key", false, e.to_string()));
                return steps;
            }
        }
        if mode == Mode::Live {
            steps.push(step(
                "read",
                true,
                "Live mode: checked with a read-only call. No card was charged — a live charge needs a real customer.".into(),
            ));
            return steps;
        }
        let charge = [
            ("amount", "100"),
            ("currency", "usd"),
            ("confirm", "true"),
            ("payment_method", "pm_card_visa"),
            ("payment_method_types[]", "card"),
            ("metadata[ziflow_check]", "connect: refunded at once"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let pi = match self
            .post(
                "/v1/payment_intents",
                &charge,
                &format!("{key_prefix}-charge"),
            )
            .await
        {
            Ok(pi) if pi["status"] == "succeeded" => {
                steps.push(step(
                    "charge",
                    true,
                    format!(
                        "Charged $1.00 to Stripe's test Visa ({})",
                        pi["id"].as_str().unwrap_or("payment intent")
                    ),
                ));
                pi
            }
            Ok(pi) => {
                steps.push(step(
                    "charge",
                    false,
                    format!(
                        "The $1 test charge ended {}",
                        pi["status"].as_str().unwrap_or("in an unknown state")
                    ),
                ));
                return steps;
            }
            Err(e) => {
                steps.push(step("charge", false, e.to_string()));
                return steps;
            }
        };
        let refund = [(
            "payment_intent".to_string(),
            pi["id"].as_str().unwrap_or_default().to_string(),
        )];
        match self
            .post("/v1/refunds", &refund, &format!("{key_prefix}-refund"))
            .await
        {
            Ok(r) if matches!(r["status"].as_str(), Some("succeeded" | "pending")) => {
                steps.push(step("refund", true, "Refunded the $1.00 at once".into()));
            }
            Ok(r) => steps.push(step(
                "refund",
                false,
                format!(
                    "The refund ended {}",
                    r["status"].as_str().unwrap_or("in an unknown state")
                ),
            )),
            Err(e) => steps.push(step("refund", false, e.to_string())),
        }
        steps
    }
}

fn id_of(obj: &Value, what: &str) -> Result<String, ProviderError> {
    obj["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ProviderError::Refused(format!("Stripe's {what} has no id")))
}

impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn create_link<'a>(
        &'a self,
        req: &'a LinkRequest,
        key: &'a str,
    ) -> BoxFuture<'a, Result<CreatedLink, ProviderError>> {
        Box::pin(self.create_link_now(req, key))
    }

    fn deactivate_link<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let form = [("active".to_string(), "false".to_string())];
            self.post(&format!("/v1/payment_links/{reference}"), &form, key)
                .await
                .map(|_| ())
        })
    }

    fn align_first_charge<'a>(
        &'a self,
        subscription_ref: &'a str,
        at: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let form = [
                ("trial_end", at.to_string()),
                ("proration_behavior", "none".to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v));
            self.post(&format!("/v1/subscriptions/{subscription_ref}"), &form, key)
                .await
                .map(|_| ())
        })
    }

    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let pi = req.payment_ref.as_deref().ok_or_else(|| {
                ProviderError::Refused(
                    "no Stripe payment is recorded for this invoice, so there is nothing to refund through Stripe".into(),
                )
            })?;
            let form = [
                ("payment_intent", pi.to_string()),
                ("amount", req.amount_minor.to_string()),
                ("metadata[ziflow_shop]", req.shop.clone()),
                ("metadata[ziflow_invoice]", req.invoice_id.to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v));
            self.post("/v1/refunds", &form, key).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes_are_explained() {
        assert_eq!(key_mode("sk_test_51Habcdefghijk"), Ok(Mode::Test));
        assert_eq!(key_mode("rk_live_51Habcdefghijk"), Ok(Mode::Live));
        assert!(key_mode("pk_test_51Habcdefgh")
            .unwrap_err()
            .contains("publishable"));
        assert!(key_mode("whsec_abc")
            .unwrap_err()
            .contains("webhook signing secret"));
        assert!(key_mode("sk_prod_abcdefghijk").is_err());
        assert!(key_mode("sk_test_abc").unwrap_err().contains("cut short"));
        assert!(key_mode("sk_test_abc def ghijk").is_err());
        assert_eq!(key_hint("sk_test_51Habcdefgh4242"), "sk_test_…4242");
    }
}

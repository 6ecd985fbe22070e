//! What a rep's device may see of the shop's log. Reps run the day — conversations, invoices,
//! payments, the board — and owners set the shop up, so a rep's sync carries no owner-only
//! data: no key or secret hints, no notification settings (chat ids, webhook addresses, mail
//! accounts), and of a payment provider's raw event only the fields the payment feed and the
//! invoices are built from (the projection reads nothing else, so a rep's replica holds the
//! same invoices and payments as the owner's).
//!
//! The relay filters; the window hiding owner screens is a second line, not the first.

use serde_json::{json, Map, Value};

/// Setting keys only owners see, in `settings.changed` events.
const OWNER_SETTINGS: &[&str] = &[crate::notify::SETTINGS_KEY, "billing.webhook_secret_hint"];

/// Fields of a provider object kept for reps (what `projection` reads).
const OBJECT_FIELDS: &[&str] = &[
    "object",
    "id",
    "payment_status",
    "amount_total",
    "amount",
    "amount_paid",
    "amount_due",
    "amount_refunded",
    "currency",
    "payment_intent",
    "subscription",
    "billing_reason",
];

/// The payload a rep's device receives for an event of `kind`: `None` when it goes as
/// stored, else the redacted JSON text.
pub fn for_rep(kind: &str, payload: &str) -> Option<String> {
    use ziflow_protocol::Event as E;
    let is_provider = kind.starts_with("stripe.") || kind.starts_with("sandbox.");
    let owner_only = matches!(
        kind,
        "settings.changed" | "billing.connected" | "llm.changed"
    );
    if !is_provider && !owner_only {
        return None;
    }
    // Fails closed: what does not read as its kind reaches a rep as an empty object.
    let Ok(event) = E::parse(kind, payload) else {
        return Some("{}".into());
    };
    let redacted = match event {
        E::SettingsChanged(mut s) => {
            if !OWNER_SETTINGS.contains(&s.key.as_str()) {
                return None;
            }
            s.value.clear();
            E::SettingsChanged(s).payload()
        }
        E::BillingConnected(mut b) => {
            b.key_hint.clear();
            b.steps.clear();
            E::BillingConnected(b).payload()
        }
        E::LlmChanged(mut l) => {
            l.key_hint.clear();
            l.base_url.clear();
            E::LlmChanged(l).payload()
        }
        E::Provider(p) => serde_json::from_str(p.body.get())
            .ok()
            .map(|body| provider_event(&body)),
        _ => None,
    };
    let redacted = redacted.unwrap_or_else(|| json!({}));
    Some(redacted.to_string())
}

/// A provider event cut down to what the projection reads (keep in step with
/// `projection::read` and `projection::ziflow_metadata`).
fn provider_event(body: &Value) -> Value {
    let obj = &body["data"]["object"];
    let mut kept = Map::new();
    for f in OBJECT_FIELDS {
        if let Some(v) = obj.get(*f) {
            kept.insert((*f).to_string(), v.clone());
        }
    }
    if let Some(m) = ziflow_only(&obj["metadata"]) {
        kept.insert("metadata".into(), m);
    }
    if let Some(m) = ziflow_only(&obj["subscription_details"]["metadata"]) {
        kept.insert("subscription_details".into(), json!({ "metadata": m }));
    }
    if let Some(m) = ziflow_only(&obj["parent"]["subscription_details"]["metadata"]) {
        kept.insert(
            "parent".into(),
            json!({ "subscription_details": { "metadata": m } }),
        );
    }
    if let Some(m) = ziflow_only(&obj["lines"]["data"][0]["metadata"]) {
        kept.insert("lines".into(), json!({ "data": [ { "metadata": m } ] }));
    }
    json!({
        "id": body["id"], "type": body["type"], "created": body["created"],
        "livemode": body["livemode"],
        "data": { "object": Value::Object(kept) },
    })
}

/// The `ziflow_*` keys of a metadata object (the ones ZiFlow set), if any.
fn ziflow_only(m: &Value) -> Option<Value> {
    let m = m.as_object()?;
    Some(Value::Object(
        m.iter()
            .filter(|(k, _)| k.starts_with("ziflow_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reps_get_no_hints_no_notification_settings_and_no_raw_provider_data() {
        let notify =
            json!({"key": "notify", "value": "{\"slack\":{\"url_hint\":\"https://hooks…\"}}"});
        let out: Value =
            serde_json::from_str(&for_rep("settings.changed", &notify.to_string()).unwrap())
                .unwrap();
        assert_eq!(out["value"], "", "notification settings are the owner's");
        let template = json!({"key": "template.reply.en.price", "value": "It is {price}."});
        assert_eq!(
            for_rep("settings.changed", &template.to_string()),
            None,
            "replies are everyone's"
        );
        let billing = json!({"provider": "stripe", "mode": "live", "key_hint": "sk_live_…4242"});
        let out = for_rep("billing.connected", &billing.to_string()).unwrap();
        assert!(!out.contains("4242") && out.contains("live"), "{out}");

        let stripe = json!({"id": "evt_1", "type": "checkout.session.completed",
            "created": 5, "livemode": true,
            "data": {"object": {"object": "checkout.session", "payment_status": "paid",
                "amount_total": 12800, "currency": "usd", "payment_intent": "pi_1",
                "customer_details": {"email": "ann@example.com", "phone": "+15125550123"},
                "metadata": {"ziflow_invoice": "7", "ziflow_shop": "s1", "crm": "x"}}}});
        let out: Value = serde_json::from_str(
            &for_rep("stripe.checkout.session.completed", &stripe.to_string()).unwrap(),
        )
        .unwrap();
        let o = &out["data"]["object"];
        assert_eq!(o["amount_total"], 12800);
        assert_eq!(o["payment_intent"], "pi_1");
        assert_eq!(
            o["metadata"],
            json!({"ziflow_invoice": "7", "ziflow_shop": "s1"})
        );
        assert!(o.get("customer_details").is_none(), "{out}");
        assert_eq!(out["livemode"], true);
        assert_eq!(
            for_rep("whatsapp.message", "{\"from\":\"1\"}"),
            None,
            "conversations are the rep's work"
        );
        // What does not read as its kind is withheld, never sent as stored.
        for (kind, payload) in [
            (
                "billing.connected",
                r#"{"mode":null,"key_hint":"sk_live_…4242"}"#,
            ),
            ("settings.changed", r#"{"key":"notify","value":7}"#),
            (
                "stripe.",
                r#"{"data":{"object":{"customer_details":{"email":"a@b.c"}}}}"#,
            ),
        ] {
            assert_eq!(for_rep(kind, payload).as_deref(), Some("{}"), "{kind}");
        }
    }
}

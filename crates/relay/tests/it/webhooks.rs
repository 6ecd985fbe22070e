//! Webhook intake: Stripe's SDK as the signature oracle, and every bad input answered with a
//! clear 4xx that stores nothing.

use ziflow_core::webhook::{stripe, whatsapp};

use crate::support::{
    checkout_completed, engine_caught_up, now, stripe_sdk_accepts, stripe_sdk_header, Relay,
    STRIPE_SECRET, WHATSAPP_SECRET,
};

async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn stripe_sdk_signed_events_are_stored_once_however_often_delivered() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);
    let body = checkout_completed("evt_sdk_1");
    let header = stripe_sdk_header(&body, STRIPE_SECRET, now());

    let res = post(&url, &[("Stripe-Signature", &header)], body.clone()).await;
    assert_eq!(
        res.status(),
        200,
        "a header made by Stripe's SDK is accepted"
    );
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["duplicate"], false);
    for _ in 0..3 {
        let res = post(&url, &[("Stripe-Signature", &header)], body.clone()).await;
        assert_eq!(res.status(), 200, "a redelivery is acknowledged");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["duplicate"],
            true
        );
    }
    assert_eq!(relay.event_count(&shop.uid).await, 1, "stored exactly once");

    let db = relay.db().await;
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10)
        .await
        .unwrap();
    assert_eq!(events[0].kind, "stripe.checkout.session.completed");
    assert_eq!(events[0].provider_id.as_deref(), Some("evt_sdk_1"));
}

#[tokio::test]
async fn our_signer_produces_headers_stripes_sdk_accepts() {
    let body = checkout_completed("evt_ours");
    let header = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    assert!(
        stripe_sdk_accepts(&body, &header, STRIPE_SECRET),
        "the sandbox's signatures are real"
    );
    assert!(
        !stripe_sdk_accepts(&body, &header, "whsec_other"),
        "and the oracle can say no"
    );
}

#[tokio::test]
async fn tampered_stale_and_wrong_secret_stripe_events_are_rejected_and_not_stored() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);
    let body = checkout_completed("evt_bad");
    let good = stripe_sdk_header(&body, STRIPE_SECRET, now());
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, String)> = vec![
        (
            "tampered body",
            vec![("Stripe-Signature", good.clone())],
            body.replace("12800", "1"),
        ),
        (
            "stale timestamp",
            vec![(
                "Stripe-Signature",
                stripe_sdk_header(&body, STRIPE_SECRET, now() - 301),
            )],
            body.clone(),
        ),
        (
            "wrong secret",
            vec![(
                "Stripe-Signature",
                stripe_sdk_header(&body, "whsec_wrong", now()),
            )],
            body.clone(),
        ),
        ("missing header", vec![], body.clone()),
        (
            "garbage header",
            vec![("Stripe-Signature", "t=x,v1=y".into())],
            body.clone(),
        ),
    ];
    for (what, headers, body) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = post(&url, &h, body).await;
        assert_eq!(res.status(), 400, "{what} → 400");
        let json: serde_json::Value = res.json().await.unwrap();
        assert!(
            json["message"].as_str().unwrap().contains("signature"),
            "{what}: {json}"
        );
        assert_eq!(
            relay.event_count(&shop.uid).await,
            0,
            "{what}: nothing stored"
        );
    }
}

#[tokio::test]
async fn malformed_unknown_and_oversized_requests_get_clear_errors_and_change_nothing() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);

    let not_json = "this is not json";
    let h = stripe::sign(STRIPE_SECRET, not_json.as_bytes(), now());
    let res = post(&url, &[("Stripe-Signature", &h)], not_json).await;
    assert_eq!(
        res.status(),
        400,
        "a validly signed body that is not JSON is refused"
    );

    let no_id = r#"{"type":"checkout.session.completed"}"#;
    let h = stripe::sign(STRIPE_SECRET, no_id.as_bytes(), now());
    assert_eq!(
        post(&url, &[("Stripe-Signature", &h)], no_id)
            .await
            .status(),
        400
    );

    let body = checkout_completed("evt_x");
    let h = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    let unknown = format!("{}/api/payment/webhook/shop_doesnotexist", relay.base);
    assert_eq!(
        post(&unknown, &[("Stripe-Signature", &h)], body)
            .await
            .status(),
        404
    );

    let huge = format!(
        r#"{{"id":"evt_big","type":"x","pad":"{}"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let h = stripe::sign(STRIPE_SECRET, huge.as_bytes(), now());
    assert_eq!(
        post(&url, &[("Stripe-Signature", &h)], huge).await.status(),
        413,
        "over 1 MiB"
    );

    let wa = format!("{}/api/whatsapp/webhook/{}", relay.base, shop.uid);
    let big = format!(r#"{{"entry":[],"pad":"{}"}}"#, "a".repeat(3 * 1024 * 1024));
    let h = whatsapp::sign(WHATSAPP_SECRET, big.as_bytes());
    assert_eq!(
        post(&wa, &[("X-Hub-Signature-256", &h)], big)
            .await
            .status(),
        200,
        "a 3 MB WhatsApp payload is within its limit"
    );
    let bigger = "a".repeat(5 * 1024 * 1024);
    let h = whatsapp::sign(WHATSAPP_SECRET, bigger.as_bytes());
    assert_eq!(
        post(&wa, &[("X-Hub-Signature-256", &h)], bigger)
            .await
            .status(),
        413
    );

    assert_eq!(relay.event_count(&shop.uid).await, 0, "nothing was stored");
}

const INBOUND: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID"},"contacts":[{"profile":{"name":"José"},"wa_id":"5215512345678"}],"messages":[{"from":"5215512345678","id":"wamid.ES1","timestamp":"1700000000","type":"text","text":{"body":"¿cuánto cuesta la crema? 💆"}}],"statuses":[{"id":"wamid.OUT1","status":"read","timestamp":"1700000001","recipient_id":"5215512345678"}]}}]}]}"#;

#[tokio::test]
async fn whatsapp_messages_with_non_ascii_text_are_verified_over_the_raw_bytes() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/whatsapp/webhook/{}", relay.base, shop.uid);
    let sig = whatsapp::sign(WHATSAPP_SECRET, INBOUND.as_bytes());
    let res = post(&url, &[("X-Hub-Signature-256", &sig)], INBOUND).await;
    assert_eq!(res.status(), 200);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["stored"], 2, "one message and one status");
    let again = post(&url, &[("X-Hub-Signature-256", &sig)], INBOUND).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["stored"],
        0,
        "same wamids: stored once"
    );

    let db = relay.db().await;
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10)
        .await
        .unwrap();
    let msg: serde_json::Value = serde_json::from_str(&events[0].payload).unwrap();
    assert_eq!(
        msg["message"]["text"]["body"],
        "¿cuánto cuesta la crema? 💆"
    );
    assert_eq!(msg["profile_name"], "José");

    let bad = whatsapp::sign("not-the-app-secret", INBOUND.as_bytes());
    assert_eq!(
        post(&url, &[("X-Hub-Signature-256", &bad)], INBOUND)
            .await
            .status(),
        400
    );
    assert_eq!(post(&url, &[], INBOUND).await.status(), 400, "unsigned");
    let db = relay.db().await;
    crate::support::engine_caught_up(&db).await;
    let provider_events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("whatsapp."))
        .count();
    assert_eq!(provider_events, 2, "rejected posts stored nothing");
}

#[tokio::test]
async fn whatsapp_subscription_echoes_the_challenge_only_for_the_shops_verify_token() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let url = format!("{}/api/whatsapp/webhook/{}", relay.base, shop.uid);
    let ok = reqwest::Client::new()
        .get(&url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", shop.whatsapp_verify_token.as_str()),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for (mode, token) in [
        ("subscribe", "wrong"),
        ("unsubscribe", shop.whatsapp_verify_token.as_str()),
    ] {
        let res = reqwest::Client::new()
            .get(&url)
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "mode {mode} token {token}");
    }
}

#[tokio::test]
async fn verified_events_update_the_shops_tables_once_through_the_engine() {
    use crate::payments::{run, story_invoice, stripe_relay, stripe_shop};
    use ziflow_core::storage::{conversations, invoices, payments};
    // A shop on Stripe (the stand-in) sends an invoice with a Stripe link: only Stripe's
    // events can pay it.
    let fake = crate::fake_stripe::FakeStripe::start().await;
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(now()));
    let relay = stripe_relay(&fake, clock, std::time::Duration::from_secs(5)).await;
    let shop = stripe_shop(&relay).await;
    let token = &shop.device_token;
    let (_, made) = run(&relay, token, "i1", story_invoice()).await;
    let (status, sent) = run(
        &relay,
        token,
        "s1",
        serde_json::json!({"type": "invoice.send", "invoice_id": made["invoice_id"]}),
    )
    .await;
    assert_eq!(
        (status, &sent["provider"]),
        (200, &serde_json::json!("stripe")),
        "{sent}"
    );
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let inv = invoices::get(&db, &shop.uid, made["invoice_id"].as_i64().unwrap())
        .await
        .unwrap();
    let url = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);
    let body = checkout_completed("evt_paid_1").replace("\"1001\"", &format!("\"{}\"", inv.id));
    let sig = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    for _ in 0..2 {
        let res = post(&url, &[("Stripe-Signature", &sig)], body.clone()).await;
        assert_eq!(res.status(), 200);
    }
    let orphan = checkout_completed("evt_orphan").replace("\"1001\"", "\"999999\"");
    let sig = stripe::sign(STRIPE_SECRET, orphan.as_bytes(), now());
    assert_eq!(
        post(&url, &[("Stripe-Signature", &sig)], orphan)
            .await
            .status(),
        200
    );

    engine_caught_up(&db).await;
    let feed = payments::list(&db, &shop.uid).await.unwrap();
    assert_eq!(
        feed.len(),
        2,
        "one payment per event, the redelivery not counted twice"
    );
    let matched = feed
        .iter()
        .find(|p| p.invoice_number == Some(inv.number))
        .expect("matched");
    assert_eq!(
        (matched.outcome.as_str(), matched.amount_minor),
        ("succeeded", 12_800)
    );
    assert!(
        feed.iter().any(|p| p.invoice_number.is_none()),
        "a payment for an unknown invoice is kept, unmatched, not dropped"
    );
    let inv = invoices::get(&db, &shop.uid, inv.id).await.unwrap();
    assert_eq!(inv.status, "paid");
    assert_eq!(inv.paid_via.as_deref(), Some("webhook"));

    let wa = format!("{}/api/whatsapp/webhook/{}", relay.base, shop.uid);
    let sig = whatsapp::sign(WHATSAPP_SECRET, INBOUND.as_bytes());
    assert_eq!(
        post(&wa, &[("X-Hub-Signature-256", &sig)], INBOUND)
            .await
            .status(),
        200
    );
    engine_caught_up(&db).await;
    let inbox = conversations::list(&db, &shop.uid).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].customer_phone, "+5215512345678");
    assert_eq!(inbox[0].customer_name.as_deref(), Some("José"));
    // This shop has no catalog: the bot does not guess, it calls a person (in Spanish).
    assert_eq!(
        inbox[0].last_message,
        "Te paso con una persona del equipo; te responderá aquí en breve."
    );
    assert!(!inbox[0].bot_enabled, "handed off: the bot is off here");
}

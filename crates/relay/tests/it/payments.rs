//! Payments through the real relay: Stripe pay links (against a recording fake, since
//! localstripe has no Prices or Payment Links), their 48-hour expiry, retries that never
//! make a second link, connecting a key, refunds, and provider events in any order.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use ziflow_core::pay::stripe::API_VERSION;
use ziflow_core::storage::{events, invoices, payments};
use ziflow_core::ManualClock;
use ziflow_relay::config::ProviderConfig;
use ziflow_relay::provision::CreatedShop;

use crate::fake_stripe::{FakeStripe, Trouble};
use crate::support::{engine_caught_up, now, settled, Relay, STRIPE_SECRET};
use crate::sync::{command, press, sent_story_invoice};

const T0: i64 = 1_790_000_000;
pub(crate) const TEST_KEY: &str = "sk_test_51HzFakeKeyForZiFlow";

pub(crate) async fn stripe_relay(
    fake: &FakeStripe,
    clock: Arc<ManualClock>,
    timeout: Duration,
) -> Relay {
    let providers = ProviderConfig {
        stripe_api_base: fake.base.clone(),
        stripe_timeout: timeout,
        ..crate::support::local_providers()
    };
    Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        providers,
        clock,
    )
    .await
}

/// A shop on `relay` that has connected Stripe (the stand-in checks the key).
pub(crate) async fn stripe_shop(relay: &Relay) -> CreatedShop {
    let shop = relay.shop("Glow Bar").await;
    let (status, connected) = run(
        relay,
        &shop.device_token,
        "connect-stripe",
        json!({"type": "billing.connect", "key": TEST_KEY}),
    )
    .await;
    assert_eq!(status, 200, "Stripe takes the test key: {connected}");
    shop
}

pub(crate) async fn run(relay: &Relay, token: &str, key: &str, body: Value) -> (u16, Value) {
    let res = command(relay, token, Some(key), &body.to_string()).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

pub(crate) fn story_invoice() -> Value {
    json!({"type": "invoice.create", "customer_phone": "+15125550123", "currency": "USD",
        "items": [{"sku": "HC", "name": "Hydrating cream", "variant": "50ml", "qty": 1,
                   "unit_minor": 12000}],
        "shipping_minor": 800, "address": "123 Oak St."})
}

async fn kinds(relay: &Relay, uid: &str) -> Vec<(String, Value)> {
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let all = events::after(&db, uid, 0, 1000).await.unwrap();
    db.close().await;
    all.into_iter()
        .map(|e| (e.kind, serde_json::from_str(&e.payload).unwrap()))
        .collect()
}

async fn invoice(relay: &Relay, uid: &str, id: i64) -> invoices::InvoiceRow {
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let inv = invoices::get(&db, uid, id).await.unwrap();
    db.close().await;
    inv
}

#[tokio::test]
async fn a_stripe_link_carries_metadata_and_line_items_and_is_deactivated_after_48_hours() {
    let fake = FakeStripe::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = stripe_relay(&fake, clock.clone(), Duration::from_secs(5)).await;
    let shop = relay.shop("Glow Bar").await;
    let token = &shop.device_token;

    let (status, connected) = run(
        &relay,
        token,
        "c1",
        json!({"type": "billing.connect", "key": TEST_KEY}),
    )
    .await;
    assert_eq!(status, 200, "{connected}");
    assert_eq!(connected["mode"], "test");
    assert_eq!(connected["key_hint"], "sk_test_…Flow");
    let steps: Vec<(&str, bool)> = connected["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(steps, [("key", true), ("charge", true), ("refund", true)]);
    let charge = &fake.requests_to("POST", "/v1/payment_intents")[0];
    for (k, v) in [
        ("amount", "100"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", "pm_card_visa"),
    ] {
        assert_eq!(charge.field(k), Some(v), "the $1 check sends {k}={v}");
    }
    let refund = &fake.requests_to("POST", "/v1/refunds")[0];
    assert_eq!(
        refund.field("payment_intent"),
        Some("pi_2"),
        "the check's charge is refunded"
    );

    let (_, made) = run(&relay, token, "i1", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, sent) = run(
        &relay,
        token,
        "s1",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["provider"], "stripe");
    assert_eq!(sent["expires_at"], T0 + 48 * 3600);
    let link = sent["link"].as_str().unwrap().to_string();
    assert!(link.starts_with("https://buy.stripe.com/test_"), "{link}");

    let key = |step: &str| format!("ziflow-{}-inv{id}-link-{step}", shop.uid);
    let prices = fake.requests_to("POST", "/v1/prices");
    assert_eq!(prices.len(), 2, "one price per item and one for shipping");
    let expect_price = |r: &crate::fake_stripe::Recorded, name: &str, amount: &str, step: &str| {
        assert_eq!(r.field("product_data[name]"), Some(name));
        assert_eq!(r.field("unit_amount"), Some(amount));
        assert_eq!(r.field("currency"), Some("usd"));
        assert_eq!(r.field("metadata[ziflow_shop]"), Some(shop.uid.as_str()));
        assert_eq!(
            r.field("metadata[ziflow_invoice]"),
            Some(id.to_string().as_str())
        );
        assert_eq!(r.field("recurring[interval]"), None, "one-time");
        assert_eq!(r.idempotency_key.as_deref(), Some(key(step).as_str()));
    };
    expect_price(&prices[0], "Hydrating cream (50ml)", "12000", "price0");
    expect_price(&prices[1], "Shipping", "800", "shipping");
    let links = fake.requests_to("POST", "/v1/payment_links");
    assert_eq!(links.len(), 1);
    let l = &links[0];
    assert_eq!(l.idempotency_key.as_deref(), Some(key("link").as_str()));
    let fields: Vec<(&str, &str)> = l
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let uid = shop.uid.as_str();
    let inv = id.to_string();
    assert_eq!(
        fields,
        [
            ("line_items[0][price]", "price_4"),
            ("line_items[0][quantity]", "1"),
            ("line_items[1][price]", "price_5"),
            ("line_items[1][quantity]", "1"),
            ("metadata[ziflow_shop]", uid),
            ("metadata[ziflow_invoice]", inv.as_str()),
            ("restrictions[completed_sessions][limit]", "1"),
            ("payment_intent_data[metadata][ziflow_shop]", uid),
            (
                "payment_intent_data[metadata][ziflow_invoice]",
                inv.as_str()
            ),
        ],
        "exactly these fields: no expiry (links have none), automatic payment methods"
    );
    for r in fake.state.lock().unwrap().requests.iter() {
        assert_eq!(
            r.stripe_version.as_deref(),
            Some(API_VERSION),
            "{} {}",
            r.method,
            r.path
        );
    }

    // Sending again: the same link, no call to Stripe.
    let (_, again) = run(
        &relay,
        token,
        "s2",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(again["link"], link.as_str());
    assert_eq!(fake.requests_to("POST", "/v1/payment_links").len(), 1);

    let deactivations = || {
        fake.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/v1/payment_links/plink_"))
            .cloned()
            .collect::<Vec<_>>()
    };
    clock.advance(48 * 3600 - 60);
    settled(&relay.base).await;
    assert!(
        deactivations().is_empty(),
        "a minute before expiry the link still works"
    );
    assert_eq!(invoice(&relay, &shop.uid, id).await.status, "sent");

    clock.advance(120);
    for _ in 0..100 {
        if !deactivations().is_empty() && invoice(&relay, &shop.uid, id).await.status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let off = deactivations();
    assert_eq!(off.len(), 1, "deactivated once");
    assert_eq!(off[0].path, "/v1/payment_links/plink_6");
    assert_eq!(off[0].field("active"), Some("false"));
    assert_eq!(
        off[0].idempotency_key.as_deref(),
        Some(format!("ziflow-{}-inv{id}-expire", shop.uid).as_str())
    );
    assert_eq!(invoice(&relay, &shop.uid, id).await.status, "expired");
    let log = kinds(&relay, &shop.uid).await;
    let expired: Vec<_> = log.iter().filter(|(k, _)| k == "invoice.expired").collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].1["invoice_id"], id);
    assert!(
        log.iter().all(|(_, p)| !p.to_string().contains(TEST_KEY)),
        "the key never enters the log"
    );
}

#[tokio::test]
async fn a_stripe_that_answers_500_or_429_or_hangs_never_yields_two_links() {
    let fake = FakeStripe::start().await;
    fake.state.lock().unwrap().trouble.extend([
        Trouble::Status(500),
        Trouble::Status(429),
        Trouble::Hang(Duration::from_secs(3)),
    ]);
    let clock = Arc::new(ManualClock::new(T0));
    let timeout = Duration::from_millis(800);
    let relay = stripe_relay(&fake, clock.clone(), timeout).await;
    let shop = stripe_shop(&relay).await;
    let token = shop.device_token.clone();
    let (_, made) = run(&relay, &token, "i1", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();

    let (status, first) = run(
        &relay,
        &token,
        "s1",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(
        status, 202,
        "Stripe failed: the link is on its way, {first}"
    );
    assert_eq!(first["pending"], true);
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("Stripe answered 500"),
        "{first}"
    );
    // A rep pressing Send again while Stripe is down finds the same job.
    let (status, second) = run(
        &relay,
        &token,
        "s2",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert!(status == 202 || status == 200, "{second}");

    // Restart the relay while the job is waiting for its retry.
    let Relay {
        dir,
        postgres,
        mut stop,
        task,
        key,
        ..
    } = relay;
    stop.take().unwrap().send(()).unwrap();
    task.await.unwrap().unwrap();
    let providers = ProviderConfig {
        stripe_api_base: fake.base.clone(),
        stripe_timeout: timeout,
        ..crate::support::local_providers()
    };
    let relay = Relay::start_on(dir, postgres, key, providers, clock.clone()).await;

    let mut linked = None;
    for _ in 0..120 {
        clock.advance(30);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let inv = invoice(&relay, &shop.uid, id).await;
        if inv.pay_link.is_some() {
            linked = Some(inv);
            break;
        }
    }
    let inv = linked.expect("the link arrives once Stripe answers");
    let attempts = fake.requests_to("POST", "/v1/payment_links");
    assert!(
        attempts.len() >= 4,
        "500, 429, timeout, then success: {}",
        attempts.len()
    );
    let keys: std::collections::BTreeSet<_> = attempts
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt used the same idempotency key: {keys:?}"
    );
    assert_eq!(
        fake.state.lock().unwrap().links_created,
        1,
        "Stripe made one link"
    );
    assert_eq!(inv.status, "sent");
    assert_eq!(
        inv.pay_link.as_deref(),
        Some("https://buy.stripe.com/test_6")
    );
    let log = kinds(&relay, &shop.uid).await;
    assert_eq!(log.iter().filter(|(k, _)| k == "invoice.sent").count(), 1);
    let (_, again) = run(
        &relay,
        &token,
        "s3",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(again["link"], "https://buy.stripe.com/test_6");
}

#[tokio::test]
async fn a_bad_stripe_key_is_explained_in_stripes_words_and_nothing_is_stored() {
    let fake = FakeStripe::start().await;
    fake.state
        .lock()
        .unwrap()
        .invalid_keys
        .push("sk_test_51HrevokedKey1234".into());
    let relay = stripe_relay(
        &fake,
        Arc::new(ManualClock::new(now())),
        Duration::from_secs(5),
    )
    .await;
    let shop = relay.shop("Glow Bar").await;
    let token = &shop.device_token;

    let (status, bad) = run(
        &relay,
        token,
        "k1",
        json!({"type": "billing.connect", "key": "sk_test_51HrevokedKey1234"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["message"],
        "Stripe answered 401: Invalid API Key provided: sk_test_****1234"
    );
    assert_eq!(bad["steps"][0]["ok"], false);
    let (status, publishable) = run(
        &relay,
        token,
        "k2",
        json!({"type": "billing.connect", "key": "pk_test_51Habcdefghijk"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(publishable["message"]
        .as_str()
        .unwrap()
        .contains("publishable key"));
    assert_eq!(
        fake.requests_to("GET", "/v1/balance").len(),
        1,
        "a pk_ key is not sent to Stripe"
    );

    let db = relay.db().await;
    let stored = ziflow_core::storage::shop_secrets::get(
        &db,
        &relay.key,
        &shop.uid,
        ziflow_core::storage::shop_secrets::SecretName::StripeApiKey,
    )
    .await
    .unwrap();
    assert!(stored.is_none(), "a refused key is not stored");
    db.close().await;
    assert!(
        kinds(&relay, &shop.uid).await.is_empty(),
        "nothing in the log"
    );

    // Live keys: a read-only check, no charge.
    let (status, live) = run(
        &relay,
        token,
        "k3",
        json!({"type": "billing.connect", "key": "rk_live_51HliveKeyForZiFlow"}),
    )
    .await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["mode"], "live");
    assert_eq!(live["steps"].as_array().unwrap().len(), 2);
    assert_eq!(live["steps"][1]["step"], "read");
    assert!(live["steps"][1]["detail"]
        .as_str()
        .unwrap()
        .contains("No card was charged"));
    assert!(
        fake.requests_to("POST", "/v1/payment_intents").is_empty(),
        "no live charge"
    );
    let log = kinds(&relay, &shop.uid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, "billing.connected");
    assert_eq!(log[0].1["key_hint"], "rk_live_…Flow");
}

async fn deliver_signed(relay: &Relay, uid: &str, body: &str) {
    let header = ziflow_core::webhook::stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    let res = reqwest::Client::new()
        .post(format!("{}/api/payment/webhook/{uid}", relay.base))
        .header("Stripe-Signature", header)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn every_provider_event_twice_in_any_order_ends_in_the_same_state() {
    // Stripe's events can only settle an invoice whose link Stripe made: each shop connects
    // Stripe (a recording fake) before sending.
    let fake = FakeStripe::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let relay = stripe_relay(&fake, clock, Duration::from_secs(5)).await;
    let mut finals = Vec::new();
    for round in 0u64..6 {
        let shop = relay.shop(&format!("Shop {round}")).await;
        let (status, connected) = run(
            &relay,
            &shop.device_token,
            "connect",
            json!({"type": "billing.connect", "key": TEST_KEY}),
        )
        .await;
        assert_eq!(status, 200, "{connected}");
        let (id, link) = sent_story_invoice(&relay, &shop.device_token, "x").await;
        assert!(!link.contains("/sandbox/"), "a Stripe link: {link}");
        let meta = json!({"ziflow_shop": shop.uid, "ziflow_invoice": id.to_string()});
        let obj = |extra: Value| {
            let mut o = json!({"currency": "usd", "metadata": meta});
            o.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            o
        };
        let all = [
            (
                "evt_a",
                "checkout.session.completed",
                obj(
                    json!({"payment_status": "paid", "amount_total": 12800, "payment_intent": "pi_1"}),
                ),
            ),
            (
                "evt_b",
                "payment_intent.succeeded",
                obj(json!({"id": "pi_1", "amount": 12800})),
            ),
            (
                "evt_c",
                "payment_intent.payment_failed",
                obj(json!({"id": "pi_0", "amount": 12800})),
            ),
            (
                "evt_d",
                "checkout.session.async_payment_failed",
                obj(json!({"amount_total": 12800})),
            ),
            (
                "evt_e",
                "checkout.session.async_payment_succeeded",
                obj(json!({"amount_total": 12800, "payment_intent": "pi_1"})),
            ),
            (
                "evt_f",
                "checkout.session.expired",
                obj(json!({"amount_total": 12800})),
            ),
            (
                "evt_g",
                "invoice.paid",
                obj(json!({"amount_paid": 12800, "payment_intent": "pi_1"})),
            ),
            (
                "evt_h",
                "invoice.payment_failed",
                obj(json!({"amount_due": 12800})),
            ),
            (
                "evt_i",
                "charge.refunded",
                obj(json!({"amount": 12800, "amount_refunded": 3000, "payment_intent": "pi_1"})),
            ),
            (
                "evt_j",
                "charge.refunded",
                obj(json!({"amount": 12800, "amount_refunded": 5000, "payment_intent": "pi_1"})),
            ),
            (
                "evt_k",
                "checkout.session.completed",
                json!({"payment_status": "paid", "amount_total": 999, "currency": "usd",
                "metadata": {"ziflow_shop": shop.uid, "ziflow_invoice": "999999"}}),
            ),
        ];
        let mut order: Vec<usize> = (0..all.len()).chain(0..all.len()).collect();
        // A different shuffle each round (xorshift, seeded by the round).
        let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (round + 1);
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, usize::try_from(x % (i as u64 + 1)).unwrap());
        }
        for n in order {
            let (eid, kind, object) = &all[n];
            let body = json!({"id": eid, "object": "event", "type": kind, "created": now(),
                              "data": {"object": object}})
            .to_string();
            deliver_signed(&relay, &shop.uid, &body).await;
        }
        let inv = invoice(&relay, &shop.uid, id).await;
        let log = kinds(&relay, &shop.uid).await;
        let db = relay.db().await;
        let feed = payments::list(&db, &shop.uid).await.unwrap();
        db.close().await;
        let rows = |outcome: &str, matched: bool| {
            feed.iter()
                .filter(|p| p.outcome == outcome && p.invoice_number.is_some() == matched)
                .map(|p| p.amount_minor)
                .collect::<Vec<_>>()
        };
        finals.push((
            inv.status.clone(),
            inv.refunded_minor,
            inv.paid_via.clone(),
            inv.payment_ref.clone(),
            log.iter().filter(|(k, _)| k == "invoice.paid").count(),
            log.iter()
                .filter(|(k, p)| k == "invoice.paid" && p["invoice_id"] == id)
                .count(),
            rows("succeeded", true),
            rows("failed", true).len(),
            rows("refunded", true).iter().sum::<i64>(),
            rows("succeeded", false),
        ));
    }
    let expected = (
        "partially_refunded".to_string(),
        5000,
        Some("webhook".to_string()),
        Some("pi_1".to_string()),
        1,
        1,
        vec![12800],
        3,
        5000,
        vec![999],
    );
    for (round, state) in finals.iter().enumerate() {
        assert_eq!(state, &expected, "round {round}");
    }
}

#[tokio::test]
async fn refunds_in_part_and_in_full_follow_the_providers_event() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let token = &shop.device_token;
    let (id, link) = sent_story_invoice(&relay, token, "r").await;
    let (status, early) = run(
        &relay,
        token,
        "r0",
        json!({"type": "invoice.refund", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 400, "an unpaid invoice cannot be refunded: {early}");

    assert!(press(&link, "card").await.status().is_redirection());
    for _ in 0..100 {
        if invoice(&relay, &shop.uid, id).await.status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, too_much) = run(
        &relay,
        token,
        "r1",
        json!({"type": "invoice.refund", "invoice_id": id, "amount_minor": 20000}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        too_much["message"],
        "a refund of invoice #1001 is between $0.01 and $128"
    );

    let (status, part) = run(
        &relay,
        token,
        "r2",
        json!({"type": "invoice.refund", "invoice_id": id, "amount_minor": 5000}),
    )
    .await;
    assert_eq!(status, 200, "{part}");
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!(
        (inv.status.as_str(), inv.refunded_minor),
        ("partially_refunded", 5000)
    );

    let (status, rest) = run(
        &relay,
        token,
        "r3",
        json!({"type": "invoice.refund", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["refund_minor"], 7800, "the remainder");
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!(
        (inv.status.as_str(), inv.refunded_minor),
        ("refunded", 12800)
    );
    let (status, _) = run(
        &relay,
        token,
        "r4",
        json!({"type": "invoice.refund", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 400, "nothing left to refund");

    let log = kinds(&relay, &shop.uid).await;
    let refunded: Vec<_> = log
        .iter()
        .filter(|(k, _)| k == "invoice.refunded")
        .map(|(_, p)| {
            (
                p["refunded_minor"].as_i64().unwrap(),
                p["full"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(refunded, [(5000, false), (12800, true)]);
    let db = relay.db().await;
    let feed = payments::list(&db, &shop.uid).await.unwrap();
    let refunds: Vec<i64> = feed
        .iter()
        .filter(|p| p.outcome == "refunded")
        .map(|p| p.amount_minor)
        .collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(
        refunds.iter().sum::<i64>(),
        12800,
        "each refund's own amount in the feed"
    );
    assert!(
        !invoices::on_board(&db, &shop.uid)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == id),
        "a refunded order leaves the Ready-to-ship board"
    );
}

#[tokio::test]
async fn a_subscription_link_uses_recurring_prices_and_a_trial_until_the_first_charge() {
    let fake = FakeStripe::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = stripe_relay(&fake, clock.clone(), Duration::from_secs(5)).await;
    let shop = stripe_shop(&relay).await;
    let token = &shop.device_token;

    let mut every_14_days = story_invoice();
    every_14_days["subscription"] =
        json!({"unit": "day", "count": 14, "first_charge_at": T0 + 5 * 86_400});
    let (status, made) = run(&relay, token, "i1", every_14_days).await;
    assert_eq!(status, 200, "{made}");
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, sent) = run(
        &relay,
        token,
        "s1",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");

    let prices = fake.requests_to("POST", "/v1/prices");
    assert_eq!(prices[0].field("recurring[interval]"), Some("day"));
    assert_eq!(prices[0].field("recurring[interval_count]"), Some("14"));
    assert_eq!(prices[1].field("product_data[name]"), Some("Shipping"));
    assert_eq!(
        prices[1].field("recurring[interval]"),
        None,
        "shipping is charged once"
    );
    let link = &fake.requests_to("POST", "/v1/payment_links")[0];
    assert_eq!(
        link.field("subscription_data[trial_period_days]"),
        Some("5")
    );
    assert_eq!(
        link.field("subscription_data[metadata][ziflow_invoice]"),
        Some(id.to_string().as_str())
    );
    assert_eq!(
        link.field("subscription_data[metadata][ziflow_shop]"),
        Some(shop.uid.as_str())
    );
    assert_eq!(
        link.field("payment_intent_data[metadata][ziflow_invoice]"),
        None
    );
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!(inv.kind, "subscription");
    assert_eq!(
        (inv.every_unit.as_deref(), inv.every_count),
        (Some("day"), Some(14))
    );

    // The customer checks out a day later, paying the one-time shipping now (the trial
    // defers the rest): Stripe's trial counts whole days from then, so the relay moves the
    // subscription's trial end to the first charge date exactly.
    clock.advance(86_400 + 7);
    let completed = json!({"id": "evt_sub", "object": "event", "type": "checkout.session.completed",
        "created": T0 + 86_400, "data": {"object": {"object": "checkout.session", "mode": "subscription",
        "payment_status": "paid", "amount_total": 800, "currency": "usd", "subscription": "sub_123",
        "metadata": {"ziflow_shop": shop.uid, "ziflow_invoice": id.to_string()}}}})
    .to_string();
    let header =
        ziflow_core::webhook::stripe::sign(STRIPE_SECRET, completed.as_bytes(), T0 + 86_400);
    let res = reqwest::Client::new()
        .post(format!("{}/api/payment/webhook/{}", relay.base, shop.uid))
        .header("Stripe-Signature", header)
        .body(completed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut aligned = Vec::new();
    for _ in 0..100 {
        aligned = fake.requests_to("POST", "/v1/subscriptions/sub_123");
        if !aligned.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(aligned.len(), 1, "the first charge is aligned once");
    let first_charge = (T0 + 5 * 86_400).to_string();
    assert_eq!(aligned[0].field("trial_end"), Some(first_charge.as_str()));
    assert_eq!(aligned[0].field("proration_behavior"), Some("none"));
    assert_eq!(
        aligned[0].idempotency_key.as_deref(),
        Some(format!("ziflow-{}-inv{id}-align", shop.uid).as_str())
    );
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!(inv.status, "paid");
    assert_eq!(inv.subscription_ref.as_deref(), Some("sub_123"));

    for (bad, why) in [
        (
            json!({"unit": "fortnight", "count": 1, "first_charge_at": T0}),
            "every N days, weeks or months",
        ),
        (
            json!({"unit": "month", "count": 13, "first_charge_at": T0}),
            "every 1 to 12 months",
        ),
        (
            json!({"unit": "week", "count": 2, "first_charge_at": T0 - 10 * 86_400}),
            "in the past",
        ),
    ] {
        let mut body = story_invoice();
        body["subscription"] = bad;
        let (status, refused) = run(&relay, token, &format!("bad-{why}"), body).await;
        assert_eq!(status, 400);
        assert!(
            refused["message"].as_str().unwrap().contains(why),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn localstripe_takes_the_one_dollar_check_and_refunds_it() {
    let ls = crate::support::LocalStripe::start().await;
    let providers = ProviderConfig {
        stripe_api_base: ls.base.clone(),
        stripe_timeout: Duration::from_secs(10),
        ..crate::support::local_providers()
    };
    let relay = Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        providers,
        Arc::new(ziflow_core::SystemClock),
    )
    .await;
    let shop = relay.shop("Glow Bar").await;
    let (status, connected) = run(
        &relay,
        &shop.device_token,
        "c1",
        json!({"type": "billing.connect", "key": TEST_KEY}),
    )
    .await;
    assert_eq!(status, 200, "{connected}");
    let detail = connected["steps"][1]["detail"].as_str().unwrap();
    let pi = detail
        .split(['(', ')'])
        .find(|s| s.starts_with("pi_"))
        .unwrap_or_else(|| panic!("the charge names its payment intent: {detail}"));
    let seen = ls.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(seen["amount"], 100);
    assert_eq!(seen["currency"], "usd");
    assert_eq!(seen["status"], "succeeded");
    assert_eq!(
        seen["charges"]["data"][0]["amount_refunded"], 100,
        "refunded in full"
    );
}

#[tokio::test]
async fn localstripes_signed_subscription_webhooks_pay_the_invoice_once() {
    let ls = crate::support::LocalStripe::start().await;
    // The pay link comes from the Stripe stand-in (localstripe has no Payment Links); the
    // subscription and its signed webhooks from localstripe.
    let fake = FakeStripe::start().await;
    let relay = stripe_relay(
        &fake,
        Arc::new(ManualClock::new(now())),
        Duration::from_secs(5),
    )
    .await;
    let shop = stripe_shop(&relay).await;
    let token = &shop.device_token;
    let mut body = story_invoice();
    body["items"] = json!([{"sku": "FAC", "name": "Facial", "qty": 1, "unit_minor": 2000}]);
    body["shipping_minor"] = json!(0);
    body["subscription"] = json!({"unit": "day", "count": 14, "first_charge_at": now()});
    let (_, made) = run(&relay, token, "i1", body).await;
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, sent) = run(
        &relay,
        token,
        "s1",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(
        (status, &sent["provider"]),
        (200, &json!("stripe")),
        "{sent}"
    );

    // localstripe signs with its own code and delivers to the shop's endpoint.
    let hook = format!("{}/api/payment/webhook/{}", relay.base, shop.uid);
    let cfg = reqwest::Client::new()
        .post(format!("{}/_config/webhooks/ziflow", ls.base))
        .form(&[("url", hook.as_str()), ("secret", STRIPE_SECRET)])
        .send()
        .await
        .unwrap();
    assert!(cfg.status().is_success());
    let plan = ls
        .post(
            "/v1/plans",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("interval", "day"),
                ("interval_count", "14"),
                ("product[name]", "Facial"),
            ],
        )
        .await;
    assert_eq!(plan["interval_count"], 14, "localstripe keeps the cadence");
    let customer = ls
        .post("/v1/customers", &[("email", "ana@example.com")])
        .await;
    let cus = customer["id"].as_str().unwrap();
    let pm = ls
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ],
        )
        .await;
    let pm = pm["id"].as_str().unwrap();
    ls.post(
        &format!("/v1/payment_methods/{pm}/attach"),
        &[("customer", cus)],
    )
    .await;
    ls.post(
        &format!("/v1/customers/{cus}"),
        &[("invoice_settings[default_payment_method]", pm)],
    )
    .await;
    let inv_id = id.to_string();
    let sub = ls
        .post(
            "/v1/subscriptions",
            &[
                ("customer", cus),
                ("items[0][plan]", plan["id"].as_str().unwrap()),
                ("metadata[ziflow_shop]", shop.uid.as_str()),
                ("metadata[ziflow_invoice]", inv_id.as_str()),
            ],
        )
        .await;
    assert_eq!(sub["status"], "active");

    let mut paid = None;
    for _ in 0..100 {
        let inv = invoice(&relay, &shop.uid, id).await;
        if inv.status == "paid" && inv.subscription_ref.is_some() {
            paid = Some(inv);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let inv = paid.expect("localstripe's webhooks pay the invoice");
    assert_eq!(inv.subscription_ref.as_deref(), sub["id"].as_str());
    settled(&relay.base).await; // any stragglers
    let log = kinds(&relay, &shop.uid).await;
    assert_eq!(log.iter().filter(|(k, _)| k == "invoice.paid").count(), 1);
    assert!(
        log.iter()
            .any(|(k, _)| k == "stripe.invoice.payment_succeeded"),
        "delivered and verified"
    );
    let db = relay.db().await;
    let feed = payments::list(&db, &shop.uid).await.unwrap();
    let rows: Vec<(&str, i64, Option<i64>)> = feed
        .iter()
        .map(|p| (p.outcome.as_str(), p.amount_minor, p.invoice_number))
        .collect();
    assert_eq!(
        rows,
        [("succeeded", 2000, Some(1001))],
        "one payment, matched"
    );
}

#[tokio::test]
async fn a_link_stripe_refuses_is_reported_on_the_invoice_and_sent_when_asked_again() {
    let fake = FakeStripe::start().await;
    fake.state
        .lock()
        .unwrap()
        .trouble
        .push_back(Trouble::Status(400));
    let clock = Arc::new(ManualClock::new(T0));
    let relay = stripe_relay(&fake, clock, Duration::from_secs(5)).await;
    let shop = stripe_shop(&relay).await;
    let token = &shop.device_token;
    let (_, made) = run(&relay, token, "i1", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();

    let (status, refused) = run(
        &relay,
        token,
        "s1",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 502, "{refused}");
    assert_eq!(refused["error"], "provider_refused");
    assert_eq!(
        refused["message"],
        "Stripe answered 400: An unknown error occurred"
    );
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!(inv.status, "draft");
    assert_eq!(
        inv.send_error.as_deref(),
        Some("Stripe answered 400: An unknown error occurred")
    );
    let log = kinds(&relay, &shop.uid).await;
    assert!(log
        .iter()
        .any(|(k, p)| k == "invoice.send_failed" && p["invoice_id"] == id));

    let (status, sent) = run(
        &relay,
        token,
        "s2",
        json!({"type": "invoice.send", "invoice_id": id}),
    )
    .await;
    assert_eq!(status, 200, "asked again, Stripe answers: {sent}");
    let inv = invoice(&relay, &shop.uid, id).await;
    assert_eq!((inv.status.as_str(), inv.send_error), ("sent", None));
    assert_eq!(inv.pay_link.as_deref(), sent["link"].as_str());
}

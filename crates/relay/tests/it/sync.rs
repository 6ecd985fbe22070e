//! The sync API: pull after a cursor, push wake-ups, shop isolation and revocation.

use std::time::Duration;

use futures_util::StreamExt;
use ziflow_core::webhook::stripe;

use crate::support::{checkout_completed, engine_caught_up, now, Relay, STRIPE_SECRET};

pub(crate) async fn deliver(relay: &Relay, uid: &str, event_id: &str) {
    let body = checkout_completed(event_id);
    let h = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
    let res = reqwest::Client::new()
        .post(format!("{}/api/payment/webhook/{uid}", relay.base))
        .header("Stripe-Signature", h)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

pub(crate) async fn pull(relay: &Relay, token: &str, after: i64, limit: i64) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!(
            "{}/api/v1/events?after={after}&limit={limit}",
            relay.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_device_pulls_its_shops_events_in_order_after_its_cursor() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    for i in 0..5 {
        deliver(&relay, &shop.uid, &format!("evt_{i}")).await;
    }
    let page: serde_json::Value = pull(&relay, &shop.device_token, 0, 3)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert_eq!(page["more"], true);
    let cursor = page["next_cursor"].as_i64().unwrap();
    let rest: serde_json::Value = pull(&relay, &shop.device_token, cursor, 100)
        .await
        .json()
        .await
        .unwrap();
    let rest_ids: Vec<&str> = rest["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest_ids, ["evt_3", "evt_4"], "no gaps, no repeats");
    assert_eq!(
        rest["events"][0]["payload"]["type"],
        "checkout.session.completed"
    );
}

#[tokio::test]
async fn one_shops_token_never_sees_another_shops_events() {
    let relay = Relay::start().await;
    let a = relay.shop("Shop A").await;
    let b = relay.shop("Shop B").await;
    deliver(&relay, &a.uid, "evt_a").await;
    let seen: serde_json::Value = pull(&relay, &b.device_token, 0, 100)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["events"],
        serde_json::json!([]),
        "B's token sees none of A's events"
    );
    for token in ["", "zdt_made_up_token"] {
        assert_eq!(
            pull(&relay, token, 0, 10).await.status(),
            401,
            "token {token:?}"
        );
    }
    let no_auth = reqwest::get(format!("{}/api/v1/events", relay.base))
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
    assert_eq!(
        pull(&relay, &a.device_token, -1, 10).await.status(),
        400,
        "negative cursor"
    );
}

/// The push stream of the device with `token` on `relay`, open and past its `ready`, with the
/// buffer [`next_sse_event`] reads it through.
pub(crate) async fn open_stream(
    relay: &Relay,
    token: &str,
) -> (
    impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    String,
) {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", relay.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    assert_eq!(next_sse_event(&mut stream, &mut buf).await.0, "ready");
    (stream, buf)
}

pub(crate) async fn next_sse_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> (String, String) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = v.trim().to_string();
                }
            }
            if !event.is_empty() {
                return (event, data);
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an SSE event within 10 s")
            .expect("the stream is open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_push_stream_wakes_the_device_when_its_shop_gets_an_event_and_ends_on_revocation() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let other = relay.shop("Other").await;
    let (mut stream, mut buf) = open_stream(&relay, &shop.device_token).await;

    deliver(&relay, &other.uid, "evt_other").await;
    deliver(&relay, &shop.uid, "evt_mine").await;
    let (kind, data) = next_sse_event(&mut stream, &mut buf).await;
    assert_eq!(
        kind, "events",
        "woken by its own shop's event, not the other shop's"
    );
    let db = relay.db().await;
    let mine = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        data,
        mine[0].id.to_string(),
        "the wake-up names the newest id"
    );

    let revoked = ziflow_relay::provision::revoke_device(&db, &shop.uid, shop.device_id)
        .await
        .unwrap();
    assert!(revoked.revoked_now);
    let (kind, _) = next_sse_event(&mut stream, &mut buf).await;
    assert_eq!(
        kind, "revoked",
        "an open stream is cut off when its token is revoked"
    );
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert!(end.is_none(), "and then closed");
    assert_eq!(
        pull(&relay, &shop.device_token, 0, 10).await.status(),
        401,
        "revoked at once"
    );
}

#[tokio::test]
async fn shutdown_closes_open_push_streams() {
    let mut relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let (_stream, _buf) = open_stream(&relay, &shop.device_token).await;
    relay.stop.take().unwrap().send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(10), &mut relay.task).await;
    assert!(
        stopped.is_ok(),
        "an open push stream does not hold shutdown up"
    );
}

pub async fn command(
    relay: &Relay,
    token: &str,
    key: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/commands", relay.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.unwrap()
}

/// A fresh desk replica of shop `uid` that took in `events` as a desk's sync does
/// (`projection::apply_pulled`, one transaction per page) — `times` over, to show that
/// pulling an event again changes nothing.
pub async fn desk_applying(
    uid: &str,
    events: &[ziflow_core::storage::events::Event],
    times: usize,
) -> (tempfile::TempDir, ziflow_core::Db) {
    let dir = tempfile::tempdir().unwrap();
    let replica = ziflow_core::Db::open_replica(dir.path().join("r.db"))
        .await
        .unwrap();
    ziflow_core::storage::shops::create(&replica, uid, "Glow Bar", "USD", "UTC", 0)
        .await
        .unwrap();
    for _ in 0..times {
        let mut tx = replica.begin().await.unwrap();
        ziflow_core::projection::apply_pulled(&mut tx, events)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    (dir, replica)
}

#[tokio::test]
async fn a_command_retried_with_the_same_key_runs_once_and_returns_the_first_answer() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let (id, _) = sent_story_invoice(&relay, &shop.device_token, "seed").await;
    let body = format!(r#"{{"type":"invoice.mark_paid","invoice_id":{id}}}"#);

    let first = command(&relay, &shop.device_token, Some("k-1"), &body).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["changed"], true, "the first run marks it paid");

    let again = command(&relay, &shop.device_token, Some("k-1"), &body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["Idempotent-Replayed"], "true");
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap(),
        first,
        "the first answer, again"
    );

    let other_key = command(&relay, &shop.device_token, Some("k-2"), &body).await;
    let other: serde_json::Value = other_key.json().await.unwrap();
    assert_eq!(
        other["changed"], false,
        "a new key runs, but an invoice is paid only once"
    );

    let db = relay.db().await;
    let paid = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "invoice.paid")
        .count();
    assert_eq!(paid, 1, "exactly one invoice.paid event");
    let m = ziflow_core::metrics::summary(&db, &shop.uid).await.unwrap();
    assert_eq!(
        m.manual_reconciliations, 1,
        "counted as a manual reconciliation"
    );
}

#[tokio::test]
async fn a_template_with_an_unknown_variable_is_refused_and_a_good_one_reaches_every_replica() {
    use ziflow_core::storage::settings;
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let before = relay.event_count(&shop.uid).await;

    let bad = serde_json::json!({"type": "template.set", "name": "invoice",
        "text": "Total {amount}. Pay: {url}"})
    .to_string();
    let res = command(&relay, &shop.device_token, Some("t-1"), &bad).await;
    assert_eq!(res.status(), 400);
    let why: serde_json::Value = res.json().await.unwrap();
    assert!(
        why["message"]
            .as_str()
            .unwrap()
            .contains("{url} at character 22 is not a variable"),
        "{why}"
    );
    assert_eq!(relay.event_count(&shop.uid).await, before, "nothing stored");

    let text = "Hi {customer}! {items}. Total {amount}: {link}";
    let good =
        serde_json::json!({"type": "template.set", "name": "invoice", "text": text}).to_string();
    let res = command(&relay, &shop.device_token, Some("t-2"), &good).await;
    assert_eq!(res.status(), 200);
    let db = relay.db().await;
    assert_eq!(
        settings::get(&db, &shop.uid, "template.invoice")
            .await
            .unwrap()
            .as_deref(),
        Some(text),
        "the relay uses it"
    );
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap();
    let change = events.last().unwrap();
    assert_eq!(
        change.kind, "settings.changed",
        "desks learn it from the log"
    );
    let (_replica_dir, replica) = desk_applying(&shop.uid, &events, 1).await;
    assert_eq!(
        settings::get(&replica, &shop.uid, "template.invoice")
            .await
            .unwrap()
            .as_deref(),
        Some(text),
        "a desk applying the log has it too"
    );
}

#[tokio::test]
async fn an_invoice_created_on_the_relay_reaches_a_desk_with_the_same_number_and_items() {
    use ziflow_core::storage::invoices;
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let before = relay.event_count(&shop.uid).await;

    let bad = serde_json::json!({"type": "invoice.create", "customer_phone": "512-555-0123",
        "currency": "USD", "items": [{"sku": "HC", "name": "Hydrating cream", "qty": 1, "unit_minor": 12000}],
        "shipping_minor": 800, "address": null})
    .to_string();
    let res = command(&relay, &shop.device_token, Some("i-1"), &bad).await;
    assert_eq!(res.status(), 400);
    let why: serde_json::Value = res.json().await.unwrap();
    assert!(why["message"].as_str().unwrap().contains("E.164"), "{why}");
    assert_eq!(relay.event_count(&shop.uid).await, before, "nothing stored");

    let good = serde_json::json!({"type": "invoice.create", "customer_phone": "+15125550123",
        "currency": "USD", "items": [
            {"sku": "HC", "name": "Hydrating cream", "qty": 1, "unit_minor": 12000},
            {"sku": "SS", "name": "Silk scarf", "variant": "M", "qty": 2, "unit_minor": 4500}],
        "shipping_minor": 800, "address": "123 Oak St."})
    .to_string();
    let res = command(&relay, &shop.device_token, Some("i-2"), &good).await;
    assert_eq!(res.status(), 200);
    let made: serde_json::Value = res.json().await.unwrap();
    assert_eq!(made["number"], 1001);
    assert_eq!(made["total_minor"], 12_000 + 9_000 + 800);
    let id = made["invoice_id"].as_i64().unwrap();

    let db = relay.db().await;
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap();
    assert_eq!(events.last().unwrap().kind, "invoice.created");
    // Applied twice: still one invoice.
    let (_replica_dir, replica) = desk_applying(&shop.uid, &events, 2).await;
    let on_relay = invoices::get(&db, &shop.uid, id).await.unwrap();
    let on_desk = invoices::get(&replica, &shop.uid, id).await.unwrap();
    assert_eq!(on_desk, on_relay, "same id, number, total, status");
    assert_eq!(
        invoices::items(&replica, id).await.unwrap(),
        invoices::items(&db, id).await.unwrap()
    );
    assert_eq!(invoices::list(&replica, &shop.uid).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_sent_invoice_gets_one_sandbox_link_for_48_hours_whatever_the_retries() {
    use ziflow_core::storage::invoices;
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let create = serde_json::json!({"type": "invoice.create", "customer_phone": "+15125550123",
        "currency": "USD", "items": [{"sku": "HC", "name": "Hydrating cream", "qty": 1, "unit_minor": 12000}],
        "shipping_minor": 800, "address": "123 Oak St."})
    .to_string();
    let made: serde_json::Value = command(&relay, &shop.device_token, Some("c-1"), &create)
        .await
        .json()
        .await
        .unwrap();
    let id = made["invoice_id"].as_i64().unwrap();
    let send = format!(r#"{{"type":"invoice.send","invoice_id":{id}}}"#);

    let before = now();
    let first: serde_json::Value = command(&relay, &shop.device_token, Some("s-1"), &send)
        .await
        .json()
        .await
        .unwrap();
    let link = first["link"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/sandbox/pay/pay_", relay.base)),
        "a sandbox page on this relay: {link}"
    );
    let expires = first["expires_at"].as_i64().unwrap();
    assert!(
        (before + 48 * 3600..=now() + 48 * 3600).contains(&expires),
        "48 hours"
    );
    assert_eq!(first["changed"], true);

    // A retry with a new key (the first answer was lost) still gets the same link.
    let again: serde_json::Value = command(&relay, &shop.device_token, Some("s-2"), &send)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["link"], first["link"]);
    assert_eq!(again["changed"], false);

    let db = relay.db().await;
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "invoice.sent").count(),
        1,
        "one invoice.sent, one link"
    );
    let inv = invoices::get(&db, &shop.uid, id).await.unwrap();
    assert_eq!(inv.status, "sent");
    assert_eq!(inv.pay_link.as_deref(), Some(link.as_str()));
    assert_eq!(inv.link_expires_at, Some(expires));

    // A desk applying the log sees the same.
    let (_replica_dir, replica) = desk_applying(&shop.uid, &events, 1).await;
    assert_eq!(invoices::get(&replica, &shop.uid, id).await.unwrap(), inv);

    // A paid invoice cannot be sent.
    let other: serde_json::Value = command(&relay, &shop.device_token, Some("c-2"), &create)
        .await
        .json()
        .await
        .unwrap();
    let other_id = other["invoice_id"].as_i64().unwrap();
    let pay = format!(r#"{{"type":"invoice.mark_paid","invoice_id":{other_id}}}"#);
    assert_eq!(
        command(&relay, &shop.device_token, Some("p-1"), &pay)
            .await
            .status(),
        200
    );
    let send_paid = format!(r#"{{"type":"invoice.send","invoice_id":{other_id}}}"#);
    let res = command(&relay, &shop.device_token, Some("s-3"), &send_paid).await;
    assert_eq!(res.status(), 400);
    let why: serde_json::Value = res.json().await.unwrap();
    assert!(
        why["message"]
            .as_str()
            .unwrap()
            .contains("is paid and cannot be sent"),
        "{why}"
    );
}

/// Creates and sends the story's invoice through commands; returns (invoice id, pay link).
pub async fn sent_story_invoice(relay: &Relay, token: &str, key: &str) -> (i64, String) {
    let create = serde_json::json!({"type": "invoice.create", "customer_phone": "+15125550123",
        "currency": "USD", "items": [{"sku": "HC", "name": "Hydrating cream", "variant": "50ml",
        "qty": 1, "unit_minor": 12000}], "shipping_minor": 800, "address": "123 Oak St."})
    .to_string();
    let made: serde_json::Value = command(relay, token, Some(&format!("{key}-c")), &create)
        .await
        .json()
        .await
        .unwrap();
    let id = made["invoice_id"].as_i64().unwrap();
    let send = format!(r#"{{"type":"invoice.send","invoice_id":{id}}}"#);
    let sent: serde_json::Value = command(relay, token, Some(&format!("{key}-s")), &send)
        .await
        .json()
        .await
        .unwrap();
    (id, sent["link"].as_str().unwrap().to_string())
}

pub async fn press(link: &str, outcome: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("outcome={outcome}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sandbox_pay_page_pays_through_the_signed_webhook_path() {
    use ziflow_core::storage::{invoices, payments};
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(now()));
    let relay = Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        crate::support::local_providers(),
        clock.clone(),
    )
    .await;
    let shop = relay.shop("Glow Bar").await;
    let (id, link) = sent_story_invoice(&relay, &shop.device_token, "a").await;

    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    for expected in [
        "Glow Bar",
        "Order #1001",
        "Hydrating cream (50ml)",
        "$120",
        "Shipping",
        "$8",
        "$128",
        "Pay with card",
        "Pay with Apple Pay",
        "Pay later (async)",
        "Decline",
    ] {
        assert!(page.contains(expected), "{expected} on the page");
    }
    assert_eq!(
        press(&link, "bitcoin").await.status(),
        400,
        "unknown button"
    );

    let res = press(&link, "apple_pay").await;
    assert_eq!(res.status(), 303, "back to the page");
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let inv = invoices::get(&db, &shop.uid, id).await.unwrap();
    assert_eq!(inv.status, "paid");
    assert_eq!(
        inv.paid_via.as_deref(),
        Some("webhook"),
        "through the verified webhook"
    );
    let feed = payments::list(&db, &shop.uid).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(
        (feed[0].outcome.as_str(), feed[0].amount_minor),
        ("succeeded", 12_800)
    );
    let stored = ziflow_core::storage::events::after(&db, &shop.uid, 0, 100)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .any(|e| e.kind == "sandbox.checkout.session.completed"
                && e.provider_id
                    .as_deref()
                    .is_some_and(|p| p.starts_with("evt_sandbox_"))),
        "stored as the sandbox's Stripe-format event (only sandbox invoices can take it)"
    );
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("Paid — thank you!"), "{page}");
    assert_eq!(press(&link, "card").await.status(), 303);
    engine_caught_up(&db).await;
    assert_eq!(
        payments::list(&db, &shop.uid).await.unwrap().len(),
        1,
        "a paid link pays once"
    );

    // Decline: a failed payment; the link still works, so the customer can try again.
    let (id2, link2) = sent_story_invoice(&relay, &shop.device_token, "b").await;
    assert_eq!(press(&link2, "decline").await.status(), 303);
    engine_caught_up(&db).await;
    assert_eq!(
        invoices::get(&db, &shop.uid, id2).await.unwrap().status,
        "failed"
    );
    let page = reqwest::get(&link2).await.unwrap().text().await.unwrap();
    assert!(page.contains("Pay with card"), "{page}");
    assert!(payments::list(&db, &shop.uid)
        .await
        .unwrap()
        .iter()
        .any(|p| p.outcome == "failed" && p.invoice_number == Some(1002)));

    // Pay later: unpaid at checkout, paid when the async method settles.
    let (id3, link3) = sent_story_invoice(&relay, &shop.device_token, "c").await;
    assert_eq!(press(&link3, "later").await.status(), 303);
    engine_caught_up(&db).await;
    assert_eq!(
        invoices::get(&db, &shop.uid, id3).await.unwrap().status,
        "paid"
    );

    // The log says each paid invoice was paid exactly once, whatever the provider sent.
    let log = ziflow_core::storage::events::after(&db, &shop.uid, 0, 1000)
        .await
        .unwrap();
    let paid_events = |invoice: i64| {
        log.iter()
            .filter(|e| e.kind == "invoice.paid")
            .filter(|e| {
                serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["invoice_id"]
                    == invoice
            })
            .count()
    };
    assert_eq!(paid_events(id), 1, "apple pay, then card pressed again");
    assert_eq!(
        paid_events(id3),
        1,
        "completed unpaid, then async succeeded"
    );
    assert_eq!(paid_events(id2), 0, "declined");

    // An expired link takes nothing: 48 hours and a second after it was sent.
    let (_, link4) = sent_story_invoice(&relay, &shop.device_token, "d").await;
    clock.advance(48 * 3600 + 1);
    let page = reqwest::get(&link4).await.unwrap().text().await.unwrap();
    assert!(page.contains("This link has expired"), "{page}");
    assert!(!page.contains("Pay with card"));
    let before = payments::list(&db, &shop.uid).await.unwrap().len();
    assert_eq!(press(&link4, "card").await.status(), 303);
    engine_caught_up(&db).await;
    assert_eq!(payments::list(&db, &shop.uid).await.unwrap().len(), before);
    assert_eq!(
        reqwest::get(format!("{}/sandbox/pay/pay_nope", relay.base))
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn commands_need_a_key_a_known_shape_and_stay_inside_the_devices_shop() {
    let relay = Relay::start().await;
    let a = relay.shop("Shop A").await;
    let b = relay.shop("Shop B").await;
    let (id, _) = sent_story_invoice(&relay, &a.device_token, "seed").await;
    let body = format!(r#"{{"type":"invoice.mark_paid","invoice_id":{id}}}"#);
    assert_eq!(
        command(&relay, &a.device_token, None, &body).await.status(),
        400,
        "no key"
    );
    assert_eq!(
        command(
            &relay,
            &a.device_token,
            Some("k"),
            r#"{"type":"invoice.delete"}"#
        )
        .await
        .status(),
        400,
        "unknown command"
    );
    let res = command(&relay, &b.device_token, Some("k-b"), &body).await;
    assert_eq!(res.status(), 404, "shop B cannot touch shop A's invoice");
    assert_eq!(
        command(&relay, "zdt_nope", Some("k"), &body).await.status(),
        401
    );
    let db = relay.db().await;
    let inv = ziflow_core::storage::invoices::get(&db, &a.uid, id)
        .await
        .unwrap();
    assert_eq!(inv.status, "sent", "nothing changed");
}

#[tokio::test]
async fn a_reps_device_runs_the_day_but_cannot_change_keys_the_bot_or_the_catalog() {
    let relay = Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let db = relay.db().await;
    let rep = ziflow_relay::provision::add_device(&db, &shop.uid, "Front desk", "rep", "")
        .await
        .unwrap();
    db.close().await;
    for (key, body) in [
        (
            "b",
            r#"{"type":"billing.connect","key":"sk_test_51HzFakeKeyForZiFlow"}"#,
        ),
        ("w", r#"{"type":"whatsapp.disconnect"}"#),
        (
            "c",
            r#"{"type":"catalog.set","catalog":{"catalog":[],"shipping":[]}}"#,
        ),
        (
            "t",
            r#"{"type":"template.set","name":"reply.en.greeting","text":"Yo"}"#,
        ),
        ("a", r#"{"type":"automations.set","rules":[]}"#),
        ("p", r#"{"type":"pipeline.set","stages":["New"]}"#),
        (
            "n",
            r#"{"type":"notify.set","channel":"desktop","enabled":false}"#,
        ),
        ("nt", r#"{"type":"notify.test","channel":"slack"}"#),
    ] {
        let res = command(&relay, &rep.device_token, Some(key), body).await;
        assert_eq!(res.status(), 403, "{body}");
        let why: serde_json::Value = res.json().await.unwrap();
        assert!(why["message"].as_str().unwrap().contains("owner"), "{why}");
    }
    // The owner's device may; the rep's may write to a customer.
    let res = command(
        &relay,
        &shop.device_token,
        Some("t-owner"),
        r#"{"type":"template.set","name":"reply.en.greeting","text":"Hello!"}"#,
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = command(
        &relay,
        &rep.device_token,
        Some("m"),
        r#"{"type":"message.send","to":"+15125550123","text":"On its way!"}"#,
    )
    .await;
    assert_eq!(res.status(), 200);
}

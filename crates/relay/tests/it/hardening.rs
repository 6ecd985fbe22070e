//! The relay on a public address, read as an attacker would: the binary started exactly as
//! docs/relay-operations.md tells an operator (`ziflow-relay serve --listen … --data-dir …` with a master
//! key, nothing else), then pushed where it must hold — no sandbox, signature headers that
//! cost one HMAC, connections that never finish their headers, owner-typed addresses that
//! point inside, reps that try to move money, payments that do not match their invoice.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ziflow_core::webhook::stripe;
use ziflow_relay::provision::CreatedShop;

use crate::fake_stripe::FakeStripe;
use crate::support::{free_port, healthy_within, now, STRIPE_SECRET};

const KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// `ziflow-relay serve` as an operator runs it, with two provisioned shops.
struct Served {
    base: String,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
    a: CreatedShop,
    b: CreatedShop,
}

impl Served {
    async fn start(extra: &[&str]) -> Served {
        ziflow_relay::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let key = ziflow_core::secrets::MasterKey::parse(KEY_HEX).unwrap();
        let db = ziflow_relay::open_db(dir.path()).await.unwrap();
        let mut shops = Vec::new();
        for name in ["Shop A", "Shop B"] {
            shops.push(crate::support::provisioned_shop(&db, &key, name).await);
        }
        db.close().await;
        let port = free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir.path())
            .args(extra)
            .env("ZIFLOW_MASTER_KEY", KEY_HEX)
            .env("RUST_LOG", "error")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            healthy_within(&base, Duration::from_secs(20)).await,
            "the relay started"
        );
        let b = shops.pop().unwrap();
        let a = shops.pop().unwrap();
        Served {
            base,
            dir,
            _child: child,
            a,
            b,
        }
    }

    async fn command(&self, token: &str, key: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/commands", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn stripe_event(&self, uid: &str, body: &str) -> (u16, Duration) {
        let started = Instant::now();
        let res = reqwest::Client::new()
            .post(format!("{}/api/payment/webhook/{uid}", self.base))
            .header(
                "Stripe-Signature",
                stripe::sign(STRIPE_SECRET, body.as_bytes(), now()),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), started.elapsed())
    }

    async fn invoice(&self, uid: &str, id: i64) -> ziflow_core::storage::invoices::InvoiceRow {
        let db = ziflow_relay::open_db(self.dir.path()).await.unwrap();
        crate::support::engine_caught_up(&db).await;
        let inv = ziflow_core::storage::invoices::get(&db, uid, id)
            .await
            .unwrap();
        db.close().await;
        inv
    }
}

fn story_invoice() -> Value {
    json!({"type": "invoice.create", "customer_phone": "+15125550123", "currency": "USD",
        "items": [{"sku": "HC", "name": "Hydrating cream", "qty": 1, "unit_minor": 12000}],
        "shipping_minor": 800, "address": "123 Oak St."})
}

#[tokio::test]
async fn a_relay_served_as_the_readme_says_has_no_sandbox_and_sends_no_link_without_a_provider() {
    let relay = Served::start(&[]).await;
    let client = reqwest::Client::new();
    for path in [
        "/sandbox/pay/pay_anything".to_string(),
        format!("/sandbox/chat/{}?phone=15125550123", relay.a.uid),
        format!("/sandbox/chat/{}/messages?phone=15125550123", relay.a.uid),
    ] {
        let res = client
            .get(format!("{}{path}", relay.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} does not exist without --sandbox");
    }
    let res = client
        .post(format!(
            "{}/sandbox/chat/{}?phone=15125550123",
            relay.base, relay.a.uid
        ))
        .body("text=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "nobody can post as a sandbox customer");

    let token = &relay.a.device_token;
    let (status, made) = relay.command(token, "c1", story_invoice()).await;
    assert_eq!(status, 200, "{made}");
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, refused) = relay
        .command(
            token,
            "s1",
            json!({"type": "invoice.send", "invoice_id": id}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no payment provider connected"),
        "the owner is told why: {refused}"
    );
    let inv = relay.invoice(&relay.a.uid, id).await;
    assert_eq!(
        (inv.status.as_str(), inv.pay_link),
        ("draft", None),
        "no link was made"
    );
}

#[tokio::test]
async fn a_header_stuffed_with_signatures_costs_one_hmac_and_delays_no_one() {
    let relay = Served::start(&[]).await;
    let body = format!(
        r#"{{"id":"evt_big","type":"checkout.session.completed","pad":"{}"}}"#,
        "x".repeat(1024 * 1024 - 80)
    );
    assert!(body.len() <= 1024 * 1024);
    let stuffed = format!("t={}{}", now(), ",v1=".repeat(50_000));
    let attack = {
        let (base, uid, body) = (relay.base.clone(), relay.a.uid.clone(), body.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let res = reqwest::Client::new()
                .post(format!("{base}/api/payment/webhook/{uid}"))
                .header("Stripe-Signature", stuffed)
                .body(body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), started.elapsed())
        })
    };
    // Meanwhile another shop's honest webhook.
    let (status, honest) = relay
        .stripe_event(
            &relay.b.uid,
            &crate::support::checkout_completed("evt_honest"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        honest < Duration::from_secs(1),
        "the honest webhook was answered at once, not after the attack: {honest:?}"
    );
    let (status, took) = attack.await.unwrap();
    assert_eq!(status, 400, "the stuffed header is refused");
    assert!(
        took < Duration::from_millis(900),
        "refused in well under a second: {took:?}"
    );
    // Eight candidates over a megabyte: still one HMAC, and the right one still counts.
    let t = now();
    let good = stripe::sign(STRIPE_SECRET, body.as_bytes(), t);
    let v1 = good.split_once(",v1=").unwrap().1;
    let rolled = format!(
        "t={t}{},v1={v1}",
        format!(",v1={}", "0".repeat(64)).repeat(7)
    );
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/payment/webhook/{}",
            relay.base, relay.a.uid
        ))
        .header("Stripe-Signature", rolled)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_source_guessing_signatures_is_slowed_and_no_one_else_is() {
    let relay = Served::start(&[]).await;
    // The guesser comes from another address of this machine (all of 127/8 is loopback).
    let guesser = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let body = crate::support::checkout_completed("evt_guess");
    let mut limited = None;
    for i in 0..200 {
        let res = guesser
            .post(format!(
                "{}/api/payment/webhook/{}",
                relay.base, relay.a.uid
            ))
            .header("Stripe-Signature", format!("t={},v1={:064x}", now(), i))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            let wait: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&wait), "Retry-After {wait}");
            let text = res.text().await.unwrap();
            assert!(text.contains("too many requests"), "{text}");
            limited = Some(i);
            break;
        }
        assert_eq!(res.status(), 400, "a wrong signature is refused");
    }
    let limited = limited.expect("the guesser was slowed down");
    assert!(
        (100..=140).contains(&limited),
        "slowed after about 120 rejections, not before: {limited}"
    );
    // Once over budget, even a valid request from that source waits: nothing is verified.
    let res = guesser
        .post(format!(
            "{}/api/payment/webhook/{}",
            relay.base, relay.a.uid
        ))
        .header(
            "Stripe-Signature",
            stripe::sign(STRIPE_SECRET, body.as_bytes(), now()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    // Every other source is served at once, signed deliveries and the open routes alike.
    let (status, took) = relay
        .stripe_event(
            &relay.a.uid,
            &crate::support::checkout_completed("evt_real"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(healthz(&relay.base).await["status"], "ok");
    // Honest deliveries spend nothing: many from one address all go through.
    for i in 0..300 {
        let (status, _) = relay
            .stripe_event(
                &relay.b.uid,
                &crate::support::checkout_completed(&format!("evt_many_{i}")),
            )
            .await;
        assert_eq!(status, 200, "delivery {i}");
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed_and_delay_no_one() {
    let relay = Served::start(&[]).await;
    let addr = relay.base.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for n in 0..256 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if n % 2 == 0 {
            // Half a request line and one header, then nothing.
            s.write_all(b"POST /api/payment/webhook/x HTTP/1.1\r\nHost: relay\r\n")
                .await
                .unwrap();
        }
        idle.push(s);
    }
    let (status, took) = relay
        .stripe_event(
            &relay.b.uid,
            &crate::support::checkout_completed("evt_slow"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_secs(1),
        "an honest webhook is answered beside 256 idle connections: {took:?}"
    );
    let started = Instant::now();
    for mut s in idle {
        let mut buf = [0u8; 512];
        let left = Duration::from_secs(40).saturating_sub(started.elapsed());
        let read = tokio::time::timeout(left, s.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(_) | Err(_))),
            "the relay closed the connection within 40 s"
        );
    }
}

/// A host name this machine's resolver maps to a loopback address (not spelled `localhost`).
fn loopback_name() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: std::net::IpAddr = words.next()?.parse().ok()?;
            ip.is_loopback().then_some(words.collect::<Vec<_>>())
        })
        .flatten()
        .find(|n| !n.starts_with('#') && !n.to_ascii_lowercase().contains("localhost"))
        .map(str::to_string)
        .expect("/etc/hosts names this machine on a loopback address")
}

#[tokio::test]
async fn owner_typed_addresses_that_point_inside_are_refused_with_the_reason() {
    let relay = Served::start(&[]).await;
    let token = &relay.a.device_token;
    let inside = loopback_name();
    let mut urls = vec![
        "https://127.0.0.1:9".to_string(),
        "https://localhost:9".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "https://10.1.2.3".to_string(),
        "https://[::1]:9".to_string(),
        "https://0x7f000001".to_string(),
        "https://[::ffff:169.254.169.254]/".to_string(),
    ];
    urls.push(format!("https://{inside}:9/hook"));
    for (n, url) in urls.iter().enumerate() {
        let (status, answer) = relay
            .command(
                token,
                &format!("slack-{n}"),
                json!({"type": "notify.set", "channel": "slack", "enabled": true, "secret": url}),
            )
            .await;
        assert_eq!(status, 400, "{url}: {answer}");
        let why = answer["message"].as_str().unwrap_or_default();
        assert!(
            why.contains("refused") || why.contains("https://") || why.contains("loopback"),
            "{url} is refused with the reason: {why}"
        );
        let (status, answer) = relay
            .command(
                token,
                &format!("llm-{n}"),
                json!({"type": "llm.set", "enabled": true, "base_url": url, "model": "m"}),
            )
            .await;
        assert_eq!(status, 400, "model endpoint {url}: {answer}");
    }
    let (status, answer) = relay
        .command(
            token,
            "smtp",
            json!({"type": "notify.set", "channel": "email", "enabled": true,
                   "host": inside, "port": 587, "from": "shop@example.com",
                   "to": "owner@example.com"}),
        )
        .await;
    // Saved (a mail server is checked when used), but the test send refuses to connect.
    assert_eq!(status, 200, "{answer}");
    let (_, tested) = relay
        .command(
            token,
            "smtp-test",
            json!({"type": "notify.test", "channel": "email"}),
        )
        .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{tested}"
    );
}

#[tokio::test]
async fn a_redirect_to_this_machine_is_not_followed_and_no_page_is_echoed() {
    use axum::routing::post;
    // Where the redirect points: it must never be reached.
    let secret_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits = secret_hits.clone();
    let inner = axum::Router::new().fallback(move || {
        hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { "<html>internal admin page</html>" }
    });
    let inner_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inner_addr = inner_l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(inner_l, inner).await });
    let location = format!("http://{inner_addr}/admin");
    let hook = axum::Router::new().route(
        "/hook",
        post(move || {
            let location = location.clone();
            async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, location)],
                    "<html>moved</html>",
                )
            }
        }),
    );
    let hook_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook_l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(hook_l, hook).await });

    // A single-machine install may call this machine, explicitly.
    let relay = Served::start(&["--allow-loopback-outbound"]).await;
    let token = &relay.a.device_token;
    let (status, saved) = relay
        .command(
            token,
            "slack",
            json!({"type": "notify.set", "channel": "slack", "enabled": true,
                   "secret": format!("http://{hook_addr}/hook")}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (_, tested) = relay
        .command(
            token,
            "slack-test",
            json!({"type": "notify.test", "channel": "slack"}),
        )
        .await;
    assert_eq!(
        tested["answer"], "HTTP 302",
        "the status only, not the page: {tested}"
    );
    assert_eq!(
        secret_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn reps_move_no_money_unless_the_owner_allows_their_device() {
    let relay = Served::start(&[]).await;
    let rep = |can: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
            .args([
                "device",
                "add",
                "--uid",
                &relay.a.uid,
                "--name",
                "Front desk",
            ])
            .args(["--role", "rep", "--can", can, "--json", "--data-dir"])
            .arg(relay.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let plain = rep("");
    let token = plain["device_token"].as_str().unwrap();
    let (_, made) = relay.command(token, "c", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    for (n, cmd) in [
        json!({"type": "invoice.mark_paid", "invoice_id": id}),
        json!({"type": "invoice.refund", "invoice_id": id}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, answer) = relay.command(token, &format!("m{n}"), cmd).await;
        assert_eq!(status, 403, "{answer}");
    }
    assert_eq!(relay.invoice(&relay.a.uid, id).await.status, "draft");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args([
            "device",
            "add",
            "--uid",
            &relay.a.uid,
            "--name",
            "X",
            "--can",
            "delete_all",
        ])
        .arg("--data-dir")
        .arg(relay.dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an unknown permission is refused");

    let trusted = rep("mark_paid");
    let token = trusted["device_token"].as_str().unwrap();
    let (status, answer) = relay
        .command(
            token,
            "mp",
            json!({"type": "invoice.mark_paid", "invoice_id": id}),
        )
        .await;
    assert_eq!(status, 200, "allowed by the owner: {answer}");
    let (status, _) = relay
        .command(
            token,
            "rf",
            json!({"type": "invoice.refund", "invoice_id": id}),
        )
        .await;
    assert_eq!(status, 403, "refunds were not allowed");

    // The same from the owner's app: Settings → Devices lists the shop's devices and changes
    // what a rep's may do; a rep can do neither.
    let devices = |token: &str| {
        let url = format!("{}/api/v1/devices", relay.base);
        let token = token.to_string();
        async move {
            let res = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, _) = devices(token).await;
    assert_eq!(status, 403, "a rep does not list the devices");
    let plain_id = plain["device_id"].as_i64().unwrap();
    let (status, answer) = relay
        .command(
            token,
            "self",
            json!({"type": "device.permit", "device_id": plain_id, "can": ["refund"]}),
        )
        .await;
    assert_eq!(status, 403, "a rep cannot allow itself: {answer}");
    let owner = relay.a.device_token.as_str();
    let (status, list) = devices(owner).await;
    assert_eq!(status, 200);
    let listed: Vec<(i64, String, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_i64().unwrap(),
                d["role"].as_str().unwrap().to_string(),
                d["can"].clone(),
            )
        })
        .collect();
    assert!(
        listed.contains(&(plain_id, "rep".into(), json!([]))),
        "{list}"
    );
    assert!(listed.iter().any(|(_, role, _)| role == "owner"), "{list}");
    let (status, answer) = relay
        .command(
            owner,
            "permit",
            json!({"type": "device.permit", "device_id": plain_id, "can": ["refund", "mark_paid"]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = relay
        .command(
            owner,
            "permit-bad",
            json!({"type": "device.permit", "device_id": plain_id, "can": ["delete_all"]}),
        )
        .await;
    assert_eq!(status, 400, "an unknown permission is refused: {answer}");
    let (_, made) = relay.command(token, "c2", story_invoice()).await;
    let second = made["invoice_id"].as_i64().unwrap();
    let (status, answer) = relay
        .command(
            token,
            "mp2",
            json!({"type": "invoice.mark_paid", "invoice_id": second}),
        )
        .await;
    assert_eq!(status, 200, "allowed from the app now: {answer}");
    let (status, _) = devices(owner).await;
    assert_eq!(status, 200);
    let (status, answer) = relay
        .command(
            owner,
            "unpermit",
            json!({"type": "device.permit", "device_id": plain_id, "can": []}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = relay
        .command(
            token,
            "rf2",
            json!({"type": "invoice.refund", "invoice_id": second}),
        )
        .await;
    assert_eq!(status, 403, "taken back");

    // Revoking from the owner's app: a rep cannot; the owner cannot revoke the device in
    // use; a rep's device revoked is signed out at once.
    let owner_id = listed
        .iter()
        .find(|(_, role, _)| role == "owner")
        .map(|(id, _, _)| *id)
        .unwrap();
    let (status, _) = relay
        .command(
            token,
            "rv-rep",
            json!({"type": "device.revoke", "device_id": owner_id}),
        )
        .await;
    assert_eq!(status, 403, "a rep revokes nothing");
    let (status, answer) = relay
        .command(
            owner,
            "rv-self",
            json!({"type": "device.revoke", "device_id": owner_id}),
        )
        .await;
    assert_eq!(status, 400, "not the device in use: {answer}");
    let (_, list) = devices(owner).await;
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == owner_id)
        .unwrap()
        .clone();
    assert_eq!(me["this_device"], true, "{list}");
    let (status, answer) = relay
        .command(
            owner,
            "rv-none",
            json!({"type": "device.revoke", "device_id": 987_654}),
        )
        .await;
    assert_eq!(status, 404, "another shop's or no device: {answer}");
    let (status, answer) = relay
        .command(
            owner,
            "rv",
            json!({"type": "device.revoke", "device_id": plain_id}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let plain_token = plain["device_token"].as_str().unwrap();
    let (status, _) = relay.command(plain_token, "after", story_invoice()).await;
    assert_eq!(status, 401, "the revoked device is signed out");
    let (status, _) = relay.command(token, "still", story_invoice()).await;
    assert_eq!(status, 200, "the other rep's device is not touched");
    let (_, list) = devices(owner).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == plain_id && d["revoked"] == true),
        "{list}"
    );
}

#[tokio::test]
async fn a_signed_payment_of_the_wrong_amount_or_currency_pays_nothing_and_is_shown() {
    let fake = FakeStripe::start().await;
    let relay = Served::start(&["--stripe-api-base", &fake.base]).await;
    let token = &relay.a.device_token;
    let (status, connected) = relay
        .command(
            token,
            "connect",
            json!({"type": "billing.connect", "key": "sk_test_51HzFakeKeyForZiFlow"}),
        )
        .await;
    assert_eq!(status, 200, "{connected}");
    let (_, made) = relay.command(token, "c", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, sent) = relay
        .command(
            token,
            "s",
            json!({"type": "invoice.send", "invoice_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let paid = |evt: &str, amount: i64, currency: &str| {
        json!({"id": evt, "object": "event", "type": "checkout.session.completed",
               "created": now(), "livemode": false,
               "data": {"object": {"object": "checkout.session", "payment_status": "paid",
                   "amount_total": amount, "currency": currency,
                   "metadata": {"ziflow_shop": relay.a.uid, "ziflow_invoice": id.to_string()}}}})
        .to_string()
    };
    for (evt, amount, currency) in [("evt_short", 100, "usd"), ("evt_eur", 12_800, "eur")] {
        let (status, _) = relay
            .stripe_event(&relay.a.uid, &paid(evt, amount, currency))
            .await;
        assert_eq!(status, 200, "stored: it is Stripe's word, kept in the log");
    }
    let inv = relay.invoice(&relay.a.uid, id).await;
    assert_eq!(
        inv.status, "sent",
        "a wrong payment does not pay the invoice"
    );
    let db = ziflow_relay::open_db(relay.dir.path()).await.unwrap();
    let feed = ziflow_core::storage::payments::list(&db, &relay.a.uid)
        .await
        .unwrap();
    db.close().await;
    let mismatches: Vec<(i64, String, Option<i64>)> = feed
        .iter()
        .filter(|p| p.outcome == "mismatch")
        .map(|p| (p.amount_minor, p.currency.clone(), p.invoice_total_minor))
        .collect();
    assert_eq!(
        mismatches.len(),
        2,
        "both are shown as mismatches with the invoice's figure: {feed:?}"
    );
    assert!(mismatches.contains(&(100, "USD".into(), Some(12_800))));
    assert!(mismatches.contains(&(12_800, "EUR".into(), Some(12_800))));
    let (status, _) = relay
        .stripe_event(&relay.a.uid, &paid("evt_right", 12_800, "usd"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(relay.invoice(&relay.a.uid, id).await.status, "paid");
}

#[tokio::test]
async fn connecting_stripe_ends_the_sandbox_links_already_out() {
    let fake = FakeStripe::start().await;
    let relay = Served::start(&["--sandbox", "--stripe-api-base", &fake.base]).await;
    let token = &relay.a.device_token;
    let (_, made) = relay.command(token, "c", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    let (_, sent) = relay
        .command(
            token,
            "s",
            json!({"type": "invoice.send", "invoice_id": id}),
        )
        .await;
    let link = sent["link"].as_str().unwrap().to_string();
    assert!(link.contains("/sandbox/pay/"), "{sent}");
    let (status, _) = relay
        .command(
            token,
            "connect",
            json!({"type": "billing.connect", "key": "sk_test_51HzFakeKeyForZiFlow"}),
        )
        .await;
    assert_eq!(status, 200);
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("data-state=\"expired\""), "{page}");
    let pressed = crate::sync::press(&link, "card").await;
    assert!(pressed.status().is_redirection());
    assert_eq!(
        relay.invoice(&relay.a.uid, id).await.status,
        "expired",
        "the old sandbox link cannot pay once the shop is on Stripe"
    );
}

#[tokio::test]
async fn disconnecting_stripe_removes_key_and_secret_and_deactivates_its_links() {
    let fake = FakeStripe::start().await;
    let relay = Served::start(&["--stripe-api-base", &fake.base]).await;
    let token = &relay.a.device_token;
    relay
        .command(
            token,
            "connect",
            json!({"type": "billing.connect", "key": "sk_test_51HzFakeKeyForZiFlow"}),
        )
        .await;
    let (_, made) = relay.command(token, "c", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    let (status, sent) = relay
        .command(
            token,
            "s",
            json!({"type": "invoice.send", "invoice_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let (status, gone) = relay
        .command(token, "d", json!({"type": "billing.disconnect"}))
        .await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["provider"], "none", "no sandbox on this relay: {gone}");
    assert_eq!(gone["links_expired"], 1, "{gone}");
    assert_eq!(gone["not_deactivated"], json!([]), "{gone}");
    let deactivated = fake.state.lock().unwrap().requests.iter().any(|r| {
        r.path.starts_with("/v1/payment_links/plink_") && r.field("active") == Some("false")
    });
    assert!(deactivated, "the open link was deactivated at Stripe");
    assert_eq!(relay.invoice(&relay.a.uid, id).await.status, "expired");
    // The signing secret went with the key: Stripe's events are no longer taken.
    let (status, _) = relay
        .stripe_event(
            &relay.a.uid,
            &crate::support::checkout_completed("evt_after"),
        )
        .await;
    assert_eq!(status, 400, "no secret to verify with");
    let (status, refused) = relay.command(token, "c2", story_invoice()).await;
    assert_eq!(status, 200, "{refused}");
    let id2 = refused["invoice_id"].as_i64().unwrap();
    let (status, refused) = relay
        .command(
            token,
            "s2",
            json!({"type": "invoice.send", "invoice_id": id2}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
}

#[tokio::test]
async fn a_link_made_while_stripe_is_disconnected_is_switched_off_not_sent() {
    let fake = FakeStripe::start().await;
    let relay = Served::start(&["--stripe-api-base", &fake.base]).await;
    let token = relay.a.device_token.clone();
    let (status, _) = relay
        .command(
            &token,
            "connect",
            json!({"type": "billing.connect", "key": "sk_test_51HzFakeKeyForZiFlow"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, made) = relay.command(&token, "c", story_invoice()).await;
    let id = made["invoice_id"].as_i64().unwrap();
    // Stripe makes the link, then takes 2 s to answer; meanwhile the owner disconnects.
    fake.state
        .lock()
        .unwrap()
        .trouble
        .push_back(crate::fake_stripe::Trouble::Hang(Duration::from_secs(2)));
    let base = relay.base.clone();
    let sending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/commands"))
            .bearer_auth(token)
            .header("Idempotency-Key", "s")
            .json(&json!({"type": "invoice.send", "invoice_id": id}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let started = Instant::now();
    while fake.requests_to("POST", "/v1/payment_links").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no link asked for"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, gone) = relay
        .command(
            &relay.a.device_token,
            "d",
            json!({"type": "billing.disconnect"}),
        )
        .await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(
        gone["links_expired"], 0,
        "the link was not recorded yet: {gone}"
    );
    let _ = sending.await.unwrap();
    // The job finds the key gone when it records: it switches the link off with the key
    // that made it and tells the rep, instead of sending a link whose payments this relay
    // could no longer verify.
    let started = Instant::now();
    let switched_off = loop {
        let off = fake.state.lock().unwrap().requests.iter().any(|r| {
            r.path.starts_with("/v1/payment_links/plink_") && r.field("active") == Some("false")
        });
        if off || started.elapsed() > Duration::from_secs(30) {
            break off;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        switched_off,
        "the link made with the old key was deactivated at Stripe"
    );
    let db = ziflow_relay::open_db(relay.dir.path()).await.unwrap();
    let started = Instant::now();
    let reason = loop {
        let r = ziflow_core::storage::events::after(&db, &relay.a.uid, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .find_map(
                |e| match ziflow_protocol::Event::parse(&e.kind, &e.payload) {
                    Ok(ziflow_protocol::Event::InvoiceSendFailed(f)) => f.reason,
                    _ => None,
                },
            );
        if r.is_some() || started.elapsed() > Duration::from_secs(30) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    db.close().await;
    let reason = reason.expect("the rep is told why the invoice has no link");
    assert!(reason.contains("disconnected"), "{reason}");
    let inv = relay.invoice(&relay.a.uid, id).await;
    assert_eq!(inv.pay_link, None, "no link was sent: {inv:?}");
}

async fn healthz(base: &str) -> Value {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_poison_event_is_quarantined_and_every_shop_goes_on() {
    let relay = Served::start(&[]).await;
    // An event no engine can apply (it pays an invoice that does not exist), as a bug or a
    // bad migration could leave in shop A's log.
    let db = ziflow_relay::open_db(relay.dir.path()).await.unwrap();
    let poison = {
        let mut tx = db.begin_immediate().await.unwrap();
        let id = ziflow_core::storage::events::append(
            &mut tx,
            &relay.a.uid,
            "invoice.paid",
            &json!({"invoice_id": 987_654, "via": "webhook"}),
            None,
            now(),
        )
        .await
        .unwrap()
        .unwrap();
        tx.commit().await.unwrap();
        id
    };
    // Shop B's payments, and shop A's own later ones, keep flowing.
    for (uid, evt) in [(&relay.b.uid, "evt_b1"), (&relay.a.uid, "evt_a1")] {
        let (status, _) = relay
            .stripe_event(uid, &crate::support::checkout_completed(evt))
            .await;
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let applied = |uid: String| {
        let db = db.clone();
        async move {
            ziflow_core::storage::payments::list(&db, &uid)
                .await
                .unwrap()
                .len()
        }
    };
    loop {
        let (a, b) = (
            applied(relay.a.uid.clone()).await,
            applied(relay.b.uid.clone()).await,
        );
        if a == 1 && b == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both shops' payments are applied past the poison event (a {a}, b {b})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let quarantined = ziflow_core::storage::quarantine::list(&db, Some(&relay.a.uid))
        .await
        .unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].event_id, poison);
    assert!(
        quarantined[0].reason.contains("invoice 987654 not found"),
        "with its reason: {}",
        quarantined[0].reason
    );
    let kinds: Vec<String> = ziflow_core::storage::events::after(&db, &relay.a.uid, poison, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"engine.quarantined".to_string()),
        "the shop's log says so: {kinds:?}"
    );
    let health = healthz(&relay.base).await;
    assert_eq!(health["quarantined_events"], 1, "{health}");
    let metrics = reqwest::get(format!("{}/metrics", relay.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ziflow_quarantined_events 1"), "{metrics}");
    // The owner sees it in Settings → Events set aside (read from the shop's log, as a desk's
    // replica holds it) and applies it again: still failing, it stays with the reason.
    let notices = ziflow_core::storage::quarantine::open_notices(&db, &relay.a.uid)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].event_id, poison);
    let owner = relay.a.device_token.clone();
    let retry = json!({"type": "event.retry", "event_id": poison});
    let (status, answer) = relay.command(&owner, "retry-1", retry.clone()).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("invoice 987654 not found"),
        "{answer}"
    );
    // Shop B cannot touch shop A's event.
    let (status, _) = relay
        .command(&relay.b.device_token, "retry-b", retry.clone())
        .await;
    assert_eq!(status, 404);
    // The cause goes away (the invoice it pays now exists), and applying it again works.
    for sql in [
        "DELETE FROM sqlite_sequence WHERE name = 'invoices'",
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('invoices', 987653)",
    ] {
        sqlx::query(sql)
            .execute(db.sqlite_pool().unwrap())
            .await
            .unwrap();
    }
    let (status, made) = relay.command(&owner, "inv", story_invoice()).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["invoice_id"], 987_654, "{made}");
    let (status, answer) = relay.command(&owner, "retry-2", retry).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(relay.invoice(&relay.a.uid, 987_654).await.status, "paid");
    assert!(
        ziflow_core::storage::quarantine::list(&db, Some(&relay.a.uid))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        ziflow_core::storage::quarantine::open_notices(&db, &relay.a.uid)
            .await
            .unwrap()
            .is_empty(),
        "engine.released tells the desks"
    );
    assert_eq!(healthz(&relay.base).await["quarantined_events"], 0);
    db.close().await;
}

#[tokio::test]
async fn healthz_says_degraded_while_the_engine_cannot_write() {
    let relay = Served::start(&[]).await;
    assert_eq!(healthz(&relay.base).await["status"], "ok");
    // Another process holds the database's write lock: the engine's steps fail (a failure
    // that may pass, so it is retried, not quarantined) and /healthz says why.
    use sqlx::ConnectOptions;
    let mut lock = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(ziflow_relay::db_path(relay.dir.path()))
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(45);
    let engine_named = |h: &Value| {
        h["reasons"].as_array().into_iter().flatten().any(|r| {
            r.as_str()
                .is_some_and(|r| r.starts_with("engine failing for") && r.contains("locked"))
        })
    };
    loop {
        let h = healthz(&relay.base).await;
        if h["status"] == "degraded" && engine_named(&h) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck engine is reported: {h}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = healthz(&relay.base).await;
        if h["status"] == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "recovers once the lock is gone: {h}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The thread once it holds `n` messages. The relay is never idle here (the tarpit holds a
/// job on purpose), so this waits for the count rather than for quiet — then checks that the
/// count is exact, so a message sent twice still fails.
async fn thread_beside_a_hung_job(base: &str, uid: &str, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = crate::agent::chat_messages_pub(base, uid).await;
        if list.len() >= n || Instant::now() > deadline {
            assert_eq!(
                list.len(),
                n,
                "the thread should hold {n} messages: {list:#?}"
            );
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_mail_server_that_never_answers_delays_no_other_shops_pay_link() {
    // A "mail server" that accepts and then says nothing, ever.
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tarpit_port = tarpit.local_addr().unwrap().port();
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = tarpit.accept().await {
            let _ = held_tx.send(socket);
        }
    });
    let relay = crate::support::Relay::start().await;
    let slow = crate::agent::shop_selling_the_samples(&relay).await;
    let res = crate::sync::command(
        &relay,
        &slow.device_token,
        Some("mail"),
        &json!({"type": "notify.set", "channel": "email", "enabled": true,
                "host": "127.0.0.1", "port": tarpit_port, "from": "shop@example.com",
                "to": "owner@example.com"})
        .to_string(),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // The slow shop is paid: its payment rule emails the owner, and that job hangs.
    let (_, link) = crate::sync::sent_story_invoice(&relay, &slow.device_token, "p").await;
    assert!(crate::sync::press(&link, "card")
        .await
        .status()
        .is_redirection());
    let _held = tokio::time::timeout(Duration::from_secs(10), held.recv())
        .await
        .expect("the mail job connected to the tarpit")
        .unwrap();

    // Meanwhile another shop's customer confirms an order: the bot's pay link follows.
    let other = crate::agent::shop_selling_the_samples(&relay).await;
    crate::agent::say(&relay.base, &other.uid, "how much is the gel cleanser?").await;
    thread_beside_a_hung_job(&relay.base, &other.uid, 2).await;
    let started = Instant::now();
    crate::agent::say(&relay.base, &other.uid, "yes, 18 Maple St.").await;
    let thread = thread_beside_a_hung_job(&relay.base, &other.uid, 4).await;
    let took = started.elapsed();
    assert_eq!(thread[3]["links"][0]["label"], "Pay $34", "{thread:?}");
    assert!(
        took < Duration::from_secs(1),
        "the pay link did not wait for the other shop's mail server: {took:?}"
    );
}

#[tokio::test]
async fn a_job_that_panics_is_a_failed_attempt_and_the_work_goes_on() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    // The first job of one shop panics (a bug in a provider's code, say); nothing else does.
    let doomed: Arc<Mutex<Option<String>>> = Arc::default();
    let fired = Arc::new(AtomicBool::new(false));
    let probe = {
        let (doomed, fired) = (doomed.clone(), fired.clone());
        ziflow_relay::config::JobProbe(Arc::new(move |job: &ziflow_core::storage::jobs::Job| {
            let mine = doomed.lock().unwrap().as_deref() == Some(job.shop_uid.as_str());
            if mine && !fired.swap(true, Ordering::SeqCst) {
                panic!("a bug inside job {} ({})", job.id, job.kind);
            }
        }))
    };
    let relay = crate::support::Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        ziflow_relay::config::ProviderConfig {
            job_probe: Some(probe),
            ..crate::support::local_providers()
        },
        Arc::new(ziflow_core::SystemClock),
    )
    .await;
    let a = crate::agent::shop_selling_the_samples(&relay).await;
    let b = crate::agent::shop_selling_the_samples(&relay).await;
    *doomed.lock().unwrap() = Some(a.uid.clone());
    for shop in [&a, &b] {
        crate::agent::say(&relay.base, &shop.uid, "how much is the gel cleanser?").await;
        crate::agent::say(&relay.base, &shop.uid, "yes, 18 Maple St.").await;
    }
    // The other shop's pay link comes at once; the panicking shop's after its retry.
    let thread = crate::agent::thread_of(&relay.base, &b.uid, 4).await;
    assert_eq!(thread[3]["links"][0]["label"], "Pay $34", "{thread:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let thread = crate::agent::chat_messages_pub(&relay.base, &a.uid).await;
        let linked = thread.iter().any(|m| m["links"][0]["label"] == "Pay $34");
        if linked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the panicking shop's order never got its link: {thread:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fired.load(Ordering::SeqCst), "a job did panic");
    // Counted where the operator looks; the relay still answers.
    let metrics = reqwest::get(format!("{}/metrics", relay.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ziflow_panics_total{part=\"jobs\"} 1"),
        "{metrics}"
    );
    let db = relay.db().await;
    let job = ziflow_core::storage::jobs::list(&db, &a.uid)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == "pay.create_link")
        .expect("the pay link's job");
    let (state, attempts) = (job.state, job.attempts);
    db.close().await;
    assert_eq!(
        (state.as_str(), attempts),
        ("done", 2),
        "the panic was one failed attempt; the next one made the link"
    );
}

#[tokio::test]
async fn a_reps_sync_carries_no_owner_only_data() {
    let relay = Served::start(&["--allow-loopback-outbound"]).await;
    let owner = relay.a.device_token.clone();
    for (key, body) in [
        (
            "slack",
            json!({"type": "notify.set", "channel": "slack", "enabled": true,
                   "secret": "http://127.0.0.1:9/services/T0SECRET/B0/xyz"}),
        ),
        (
            "whsec",
            json!({"type": "billing.webhook_secret", "secret": "whsec_owner_only_4321"}),
        ),
    ] {
        let (status, answer) = relay.command(&owner, key, body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let body = json!({"id": "evt_pii", "object": "event", "type": "checkout.session.completed",
        "created": now(), "data": {"object": {"object": "checkout.session", "payment_status": "paid",
        "amount_total": 4500, "currency": "usd",
        "customer_details": {"email": "ann@example.com"}, "metadata": {}}}})
    .to_string();
    let sig = stripe::sign("whsec_owner_only_4321", body.as_bytes(), now());
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/payment/webhook/{}",
            relay.base, relay.a.uid
        ))
        .header("Stripe-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args([
            "device",
            "add",
            "--uid",
            &relay.a.uid,
            "--name",
            "Rep",
            "--json",
            "--data-dir",
        ])
        .arg(relay.dir.path())
        .output()
        .unwrap();
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let page = |token: String| {
        let base = relay.base.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/api/v1/events?after=0&limit=1000"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let owners = page(owner).await;
    let reps = page(rep["device_token"].as_str().unwrap().to_string()).await;
    for secretish in ["127.0.0.1:9", "4321", "ann@example.com"] {
        assert!(
            !reps.contains(secretish),
            "a rep's sync must not carry {secretish:?}: {reps}"
        );
    }
    assert!(
        owners.contains("ann@example.com") && owners.contains("…4321"),
        "the owner's does: {owners}"
    );
    assert!(
        reps.contains("4500"),
        "the payment itself reaches the rep: {reps}"
    );
}

#[tokio::test]
async fn past_the_retention_period_answers_ticks_and_finished_jobs_go_and_the_log_stays() {
    let t0 = 1_790_000_000;
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(t0));
    let relay = crate::support::Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        crate::support::local_providers(),
        clock.clone(),
    )
    .await;
    let shop = relay.shop("Glow Bar").await;
    let (_, link) = crate::sync::sent_story_invoice(&relay, &shop.device_token, "old").await;
    assert!(link.contains("/sandbox/pay/"));
    let counts = |db: ziflow_core::Db| async move {
        let n = |sql: &'static str| {
            let db = db.clone();
            async move {
                match db.sqlite_pool() {
                    Some(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
                    None => {
                        let pool = db.postgres_pool().expect("SQLite or PostgreSQL");
                        sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await
                    }
                }
                .unwrap()
            }
        };
        let c = (
            n("SELECT COUNT(*) FROM command_results").await,
            // Jobs that finished in the first 30 days (reminders may still finish later).
            n("SELECT COUNT(*) FROM jobs WHERE state IN ('done', 'failed')
               AND finished_at < 1790000000 + 30 * 86400")
            .await,
            n("SELECT COUNT(*) FROM events").await,
        );
        db.close().await;
        c
    };
    let (answers, done, events) = counts(relay.db().await).await;
    assert!(
        answers >= 2 && done >= 1,
        "answers {answers}, finished jobs {done}"
    );

    // 29 days on: no answer is old enough yet. (Meanwhile the invoice's reminders run: more
    // finished jobs and events.)
    clock.advance(29 * 86_400);
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    let (a29, _, _) = counts(relay.db().await).await;
    assert_eq!(a29, answers, "no answer is 30 days old yet");

    // Long past 30 days: answers and finished jobs are pruned at start; the log is whole.
    clock.advance(31 * 86_400);
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (a, d, e) = counts(relay.db().await).await;
        if a == 0 && d == 0 {
            assert!(e >= events, "the event log is never pruned: {e} < {events}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {a} answers, {d} finished jobs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An idempotency key that old is simply a new command now.
    let again = crate::sync::command(
        &relay,
        &shop.device_token,
        Some("old-c"),
        &story_invoice().to_string(),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert!(again.headers().get("Idempotent-Replayed").is_none());
}

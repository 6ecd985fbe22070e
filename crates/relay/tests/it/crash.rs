//! The cluster crash test: three `ziflow-relay serve` processes on one PostgreSQL database.
//! Signed webhooks go to all three at once, each delivered twice to different relays and
//! retried on another relay when one fails (as Stripe retries); one relay is killed with
//! SIGKILL in the middle of the load and started again; a device pulls its shop's log through
//! whichever relay answers the whole time; customers press the same pay links on all three.
//! Afterwards every acknowledged webhook is stored exactly once, the device saw every id of
//! its shop in order without gaps or repeats, and every invoice was paid exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ziflow_core::secrets::MasterKey;
use ziflow_core::storage::{events, invoices};
use ziflow_core::webhook::stripe;

use crate::support::{checkout_completed, free_port, healthy_within, now, STRIPE_SECRET};

const KEY_HEX: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
/// Webhooks per shop.
const PER_SHOP: usize = 60;
const SHOPS: usize = 3;

struct Node {
    base: String,
    port: u16,
    child: tokio::process::Child,
}

async fn serve(url: &str, dir: &std::path::Path, port: u16) -> Node {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args([
            "serve",
            "--sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("ZIFLOW_DATABASE_URL", url)
        .env("ZIFLOW_DATABASE_POOL", "6")
        .env("ZIFLOW_MASTER_KEY", KEY_HEX)
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        healthy_within(&base, Duration::from_secs(20)).await,
        "relay on {port} started"
    );
    Node { base, port, child }
}

/// Deliveries that failed on a relay and were tried on the next one.
static RETRIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sends one signed webhook to `first`, then (on a failure or no answer) to the next relays
/// in turn until one answers 2xx; returns whether one did within 20 s.
async fn deliver(bases: &[String], first: usize, uid: &str, body: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut n = first;
    while started.elapsed() < Duration::from_secs(20) {
        let base = &bases[n % bases.len()];
        let res = client
            .post(format!("{base}/api/payment/webhook/{uid}"))
            .header(
                "Stripe-Signature",
                stripe::sign(STRIPE_SECRET, body.as_bytes(), now()),
            )
            .body(body.to_string())
            .send()
            .await;
        if res.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        RETRIED.fetch_add(1, Ordering::Relaxed);
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_relays_on_one_database_lose_and_repeat_nothing_when_one_is_killed_mid_load() {
    ziflow_relay::install_crypto_provider();
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::parse(KEY_HEX).unwrap();
    let db = ziflow_relay::open_store(
        dir.path(),
        Some(&ziflow_relay::Postgres {
            url: url.clone(),
            pool: 4,
        }),
    )
    .await
    .unwrap();
    let mut shops = Vec::new();
    for n in 0..SHOPS {
        shops.push(crate::support::provisioned_shop(&db, &key, &format!("Shop {n}")).await);
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(serve(&url, dir.path(), free_port()).await);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();

    // Invoices with sandbox links, to be paid on all three relays at once.
    let client = reqwest::Client::new();
    let mut links = Vec::new();
    for n in 0..4 {
        let shop = &shops[1];
        let command = |key: String, body: serde_json::Value| {
            client
                .post(format!("{}/api/v1/commands", bases[n % 3]))
                .bearer_auth(&shop.device_token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
        };
        let made: serde_json::Value = command(
            format!("inv-{n}"),
            serde_json::json!({"type": "invoice.create", "customer_phone": "+15125550123",
                "currency": "USD", "items": [{"sku": "HC", "name": "Hydrating cream",
                "qty": 1, "unit_minor": 12000}], "shipping_minor": 800}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = made["invoice_id"].as_i64().expect("an invoice");
        let sent: serde_json::Value = command(
            format!("send-{n}"),
            serde_json::json!({"type": "invoice.send", "invoice_id": id}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let link = sent["link"].as_str().expect("a sandbox link").to_string();
        let path = link[link.find("/sandbox/").unwrap()..].to_string();
        links.push((id, path));
    }

    // The device of shop 0 pulls through whichever relay answers, the whole time.
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let (bases, token, done) = (bases.clone(), shops[0].device_token.clone(), done.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut seen: Vec<i64> = Vec::new();
            let mut n = 0_usize;
            let mut quiet_after_done = 0;
            while quiet_after_done < 3 {
                n += 1;
                let after = seen.last().copied().unwrap_or(0);
                let res = client
                    .get(format!(
                        "{}/api/v1/events?after={after}&limit=100",
                        bases[(n * 7) % bases.len()]
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let Ok(res) = res else { continue };
                if !res.status().is_success() {
                    continue;
                }
                let page: serde_json::Value = res.json().await.unwrap();
                let ids: Vec<i64> = page["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_i64().unwrap())
                    .collect();
                for id in &ids {
                    assert!(
                        *id > seen.last().copied().unwrap_or(0),
                        "an id at or below the cursor: {id} after {seen:?}"
                    );
                    seen.push(*id);
                }
                if ids.is_empty() && done.load(Ordering::SeqCst) {
                    quiet_after_done += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };

    // The load: every event to two relays at once; relay 1 killed a third of the way in.
    let acked: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let sent_all = Arc::new(tokio::sync::Semaphore::new(24));
    let mut tasks = Vec::new();
    for i in 0..PER_SHOP * SHOPS {
        let shop = shops[i % SHOPS].uid.clone();
        let evt = format!("evt_crash_{i}");
        let body = checkout_completed(&evt);
        let (targets, acked, permits) = (bases.clone(), acked.clone(), sent_all.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let (a, b) = tokio::join!(
                deliver(&targets, i, &shop, &body),
                deliver(&targets, i + 1, &shop, &body)
            );
            if a || b {
                acked.lock().unwrap().entry(shop).or_default().insert(evt);
            }
        }));
        if i == PER_SHOP * SHOPS / 3 {
            // Customers press the same links on all three relays at once, mid-load.
            for (_, path) in &links {
                for base in &bases {
                    let url = format!("{base}{path}");
                    tasks.push(tokio::spawn(async move {
                        // The relay being killed may not answer; the others do.
                        let _ = reqwest::Client::builder()
                            .redirect(reqwest::redirect::Policy::none())
                            .build()
                            .unwrap()
                            .post(url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body("outcome=card")
                            .send()
                            .await;
                    }));
                }
            }
            nodes[1].child.start_kill().unwrap();
            let _ = nodes[1].child.wait().await;
        }
    }
    // Relay 1 comes back on its port while the rest of the load is under way.
    let port = nodes[1].port;
    nodes[1] = serve(&url, dir.path(), port).await;
    for t in tasks {
        t.await.unwrap();
    }
    // Every relay settles: the engine applied everything and no job is due.
    for base in &bases {
        crate::support::settled(base).await;
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.await.unwrap();

    assert!(
        RETRIED.load(Ordering::Relaxed) > 0,
        "the kill interrupted deliveries (they were retried on another relay)"
    );
    let acked = acked.lock().unwrap().clone();
    for shop in &shops {
        let log = events::after(&db, &shop.uid, 0, 100_000).await.unwrap();
        let stored: Vec<&str> = log
            .iter()
            .filter_map(|e| e.provider_id.as_deref())
            .filter(|p| p.starts_with("evt_crash_"))
            .collect();
        let unique: BTreeSet<&str> = stored.iter().copied().collect();
        assert_eq!(stored.len(), unique.len(), "a webhook stored twice");
        let mine = acked.get(&shop.uid).cloned().unwrap_or_default();
        assert_eq!(
            mine.len(),
            PER_SHOP,
            "every webhook was acknowledged by some relay"
        );
        for evt in &mine {
            assert!(
                unique.contains(evt.as_str()),
                "{evt} was acknowledged but not stored"
            );
        }
        if shop.uid == shops[0].uid {
            let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
            assert_eq!(
                seen, ids,
                "the device saw its shop's whole log in order, nothing skipped or repeated"
            );
        }
    }
    for (id, _) in &links {
        let invoice = invoices::get(&db, &shops[1].uid, *id).await.unwrap();
        assert_eq!(invoice.status, "paid", "invoice {id}");
        let paid = events::after(&db, &shops[1].uid, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.kind == "invoice.paid"
                    && serde_json::from_str::<serde_json::Value>(&e.payload)
                        .is_ok_and(|p| p["invoice_id"] == *id)
            })
            .count();
        assert_eq!(paid, 1, "invoice {id} paid exactly once");
    }
    db.close().await;
}

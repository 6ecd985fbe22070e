//! Nothing acknowledged is ever lost: `kill -9` the relay binary repeatedly while webhooks
//! pour in; every event that got a 2xx must be in the log exactly once afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ziflow_core::secrets::MasterKey;
use ziflow_core::webhook::stripe;

use crate::support::{checkout_completed, now, STRIPE_SECRET};

const KEY_HEX: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn spawn_relay(dir: &std::path::Path, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("ZIFLOW_MASTER_KEY", KEY_HEX)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_healthy(port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let up = crate::support::healthy_within(&base, Duration::from_secs(10)).await;
    assert!(up, "the relay did not come back within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_webhook_survives_kill_9_exactly_once() {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::parse(KEY_HEX).unwrap();
    let db = ziflow_relay::open_db(dir.path()).await.unwrap();
    let shop = ziflow_relay::provision::create_shop(&db, "Crash Shop", "USD", "UTC")
        .await
        .unwrap();
    ziflow_relay::provision::set_secrets(&db, &key, &shop.uid, Some(STRIPE_SECRET), None)
        .await
        .unwrap();
    db.close().await;

    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}/api/payment/webhook/{}", shop.uid);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let running = Arc::new(AtomicBool::new(true));
    let mut relay = spawn_relay(dir.path(), port);
    wait_healthy(port).await;

    let mut load = Vec::new();
    for worker in 0..16 {
        let (url, acked, running) = (url.clone(), acked.clone(), running.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("evt_w{worker}_{n}");
                let body = checkout_completed(&id);
                let sig = stripe::sign(STRIPE_SECRET, body.as_bytes(), now());
                let res = client
                    .post(&url)
                    .header("Stripe-Signature", sig)
                    .body(body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(id),
                    Ok(r) => assert!(
                        r.status().is_server_error(),
                        "no 4xx for a valid webhook: {}",
                        r.status()
                    ),
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }

    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        relay.start_kill().unwrap(); // SIGKILL: no chance to flush anything
        relay.wait().await.unwrap();
        relay = spawn_relay(dir.path(), port);
        wait_healthy(port).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    relay.start_kill().unwrap();
    relay.wait().await.unwrap();

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load generator got enough through to mean something: {}",
        acked.len()
    );
    let db = ziflow_relay::open_db(dir.path()).await.unwrap();
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut cursor = 0;
    loop {
        let page = ziflow_core::storage::events::after(&db, &shop.uid, cursor, 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.id;
        for e in page {
            *stored.entry(e.provider_id.unwrap()).or_default() += 1;
        }
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(stored.values().all(|&n| n == 1), "no event is stored twice");

    // The engine was killed mid-way too: once the relay runs again it applies each stored
    // event exactly once — one payment per event, none missing, none doubled.
    db.close().await;
    let mut relay = spawn_relay(dir.path(), port);
    wait_healthy(port).await;
    let db = ziflow_relay::open_db(dir.path()).await.unwrap();
    crate::support::engine_caught_up(&db).await;
    relay.start_kill().unwrap();
    relay.wait().await.unwrap();
    let payments = ziflow_core::storage::payments::list(&db, &shop.uid)
        .await
        .unwrap();
    assert_eq!(
        payments.len(),
        stored.len(),
        "each stored payment event is applied exactly once across the crashes"
    );
    eprintln!(
        "kill -9 ×4: {} acknowledged, {} stored, none lost",
        acked.len(),
        stored.len()
    );
}

//! The desktop sync client against a real relay on port 0 (no window needed).

mod ipc;

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use ziflow_app::sync::{SyncClient, SyncState};
use ziflow_core::secrets::MasterKey;
use ziflow_core::storage::{conversations, events, payments};
use ziflow_core::webhook::stripe;
use ziflow_core::{Clock, Db, SystemClock};
use ziflow_relay::provision::{self, CreatedShop};

const SECRET: &str = "whsec_sync_tests";

struct Relay {
    base: String,
    dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

async fn relay() -> (Relay, CreatedShop) {
    ziflow_relay::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let db = ziflow_relay::open_db(dir.path()).await.unwrap();
    let shop = provision::create_shop(&db, "Glow Bar", "USD", "America/Denver")
        .await
        .unwrap();
    provision::set_secrets(&db, &key, &shop.uid, Some(SECRET), None)
        .await
        .unwrap();
    db.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let config = ziflow_relay::Config {
        data_dir: dir.path().to_path_buf(),
        postgres: None,
        master_key: key,
        providers: ziflow_relay::config::ProviderConfig::sandboxed(),
    };
    tokio::spawn(ziflow_relay::run(config, listener, async {
        let _ = rx.await;
    }));
    let relay = Relay {
        base,
        dir,
        _stop: tx,
    };
    for _ in 0..400 {
        if reqwest::get(format!("{}/healthz", relay.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (relay, shop)
}

fn payment_event(id: &str, amount: i64) -> String {
    serde_json::json!({
        "id": id, "type": "checkout.session.completed",
        "data": {"object": {"payment_status": "paid", "amount_total": amount, "currency": "usd", "metadata": {}}}
    })
    .to_string()
}

/// Posts `n` signed payment webhooks, 32 at a time.
async fn deliver(relay: &Relay, uid: &str, from: usize, n: usize) {
    let client = reqwest::Client::new();
    let url = format!("{}/api/payment/webhook/{uid}", relay.base);
    let mut tasks = tokio::task::JoinSet::new();
    for i in from..from + n {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let body = payment_event(&format!("evt_{i}"), 100 + i64::try_from(i).unwrap());
            let sig = stripe::sign(SECRET, body.as_bytes(), SystemClock.now());
            let res = client
                .post(&url)
                .header("Stripe-Signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        });
        if tasks.len() >= 32 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

async fn replica() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_replica(dir.path().join("ziflow.db"))
        .await
        .unwrap();
    (dir, db)
}

async fn relay_db(relay: &Relay) -> Db {
    ziflow_relay::open_db(relay.dir.path()).await.unwrap()
}

/// The payments table as (amount, currency, outcome), for comparing relay and replica.
async fn payments_of(db: &Db, uid: &str) -> Vec<(i64, String, String)> {
    let mut v: Vec<_> = payments::list(db, uid)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.amount_minor, p.currency, p.outcome))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_gets_every_event_in_order_and_equals_the_relays_tables() {
    let (relay, shop) = relay().await;
    deliver(&relay, &shop.uid, 0, 25).await;
    let (_d, db) = replica().await;
    let client = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let uid = client.ensure_shop().await.unwrap();
    assert_eq!(uid, shop.uid);
    let pulled = client.catch_up(&uid).await.unwrap();
    assert_eq!(pulled.events, 25);
    assert_eq!(
        pulled.payments.len(),
        25,
        "each payment is reported once, for the notification"
    );
    let again = client.catch_up(&uid).await.unwrap();
    assert_eq!(again.events, 0, "a second pull brings nothing new");

    let rdb = relay_db(&relay).await;
    let theirs: Vec<i64> = events::after(&rdb, &uid, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    let ours: Vec<i64> = events::after(&db, &uid, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ours, theirs, "same events, same ids, same order");
    assert_eq!(
        payments_of(&db, &uid).await,
        payments_of(&rdb, &uid).await,
        "the replica's tables equal the relay's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_restarted_mid_stream_resumes_without_gaps_or_duplicates() {
    let (relay, shop) = relay().await;
    deliver(&relay, &shop.uid, 0, 40).await;
    let (dir, db) = replica().await;
    let first = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let uid = first.ensure_shop().await.unwrap();
    let (page, more) = first.pull_page(&uid, 15).await.unwrap();
    assert_eq!((page.events, more), (15, true));
    drop(first);
    db.close().await;

    // The app restarts: a new client on the same database file.
    let db = Db::open_replica(dir.path().join("ziflow.db"))
        .await
        .unwrap();
    deliver(&relay, &shop.uid, 40, 10).await;
    let second = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let pulled = second.catch_up(&uid).await.unwrap();
    assert_eq!(pulled.events, 35, "exactly the 35 it had not seen");
    let ours = events::after(&db, &uid, 0, 1000).await.unwrap();
    assert_eq!(ours.len(), 50);
    let mut ids: Vec<&str> = ours
        .iter()
        .map(|e| e.provider_id.as_deref().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offline_while_ten_thousand_events_arrive_catches_up_exactly() {
    let (relay, shop) = relay().await;
    let (_d, db) = replica().await;
    let client = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let uid = client.ensure_shop().await.unwrap();
    deliver(&relay, &shop.uid, 0, 10_000).await;
    let pulled = client.catch_up(&uid).await.unwrap();
    assert_eq!(pulled.events, 10_000);
    let rdb = relay_db(&relay).await;
    assert_eq!(payments_of(&db, &uid).await, payments_of(&rdb, &uid).await);
    assert_eq!(
        events::newest_id(&db, &uid).await.unwrap(),
        events::newest_id(&rdb, &uid).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_sync_follows_the_push_stream_and_reports_revocation() {
    let (relay, shop) = relay().await;
    let (_d, db) = replica().await;
    let client = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let mut status = client.status();
    let (stop_tx, stop) = watch::channel(false);
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(client.run(stop, move |p| {
        let _ = seen_tx.send(p.payments.len());
    }));
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.state == SyncState::Online),
    )
    .await
    .expect("online within 10 s")
    .unwrap();

    deliver(&relay, &shop.uid, 0, 1).await;
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if seen.recv().await.unwrap() > 0 {
                return;
            }
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "a webhook reaches the replica through the push stream"
    );
    assert_eq!(payments::list(&db, &shop.uid).await.unwrap().len(), 1);
    assert_eq!(conversations::list(&db, &shop.uid).await.unwrap().len(), 0);

    let rdb = relay_db(&relay).await;
    provision::revoke_device(&rdb, &shop.uid, shop.device_id)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.state == SyncState::Revoked),
    )
    .await
    .expect("revocation is noticed within 5 s")
    .unwrap();
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_is_told_which_customers_conversations_changed() {
    use ziflow_protocol::{answer, Area, Command};
    let (relay, shop) = relay().await;
    let (_d, db) = replica().await;
    let client = SyncClient::new(&relay.base, &shop.device_token, db.clone()).unwrap();
    let uid = client.ensure_shop().await.unwrap();
    client.catch_up(&uid).await.unwrap();

    // A rep writes to two customers (typed answers through the desktop's client).
    for to in ["+15125550123", "+447700900123"] {
        let sent: answer::MessageSend = client
            .command(&Command::MessageSend {
                to: to.into(),
                text: "Your order ships today".into(),
            })
            .await
            .unwrap();
        assert!(sent.sent, "the relay took the message to {to}");
    }
    let changed = client.catch_up(&uid).await.unwrap().changed();
    assert!(changed.areas.contains(&Area::Conversations), "{changed:?}");
    assert!(
        changed.kinds.iter().any(|k| k == "message.sent"),
        "{changed:?}"
    );
    assert_eq!(
        changed.customers.as_deref(),
        Some(&["+15125550123".to_string(), "+447700900123".to_string()][..]),
        "the two customers written to, and only they"
    );
    assert!(changed.touches_customer("+15125550123"));
    assert!(
        !changed.touches_customer("+5215512345678"),
        "a third customer's open thread does not read again"
    );

    // A payment changes no conversation: no open thread reads again.
    deliver(&relay, &shop.uid, 0, 1).await;
    let changed = client.catch_up(&uid).await.unwrap().changed();
    assert!(changed.areas.contains(&Area::Payments), "{changed:?}");
    assert!(!changed.touches_customer("+15125550123"), "{changed:?}");
}

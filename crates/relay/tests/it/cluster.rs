//! Several relays on one PostgreSQL database, as a host scales out: any of them takes any
//! webhook and sync request, a device streaming from one is woken when another stores an
//! event of its shop, and revoking a device cuts its stream whichever relay holds it.

use std::sync::Arc;

use futures_util::StreamExt;
use ziflow_core::secrets::MasterKey;

use crate::support::{local_providers, Relay};
use crate::sync::{deliver, next_sse_event, open_stream, pull};

/// Two relays on one fresh PostgreSQL database (whatever database the suite runs on).
async fn two_relays() -> (Relay, Relay) {
    let postgres = ziflow_relay::Postgres {
        url: ziflow_pg_harness::shared()
            .fresh_database()
            .expect("a test database"),
        pool: 8,
    };
    let key = MasterKey::generate().unwrap();
    let start = |postgres: ziflow_relay::Postgres, key: MasterKey| async move {
        Relay::start_on(
            tempfile::tempdir().unwrap(),
            Some(postgres),
            key,
            local_providers(),
            Arc::new(ziflow_core::SystemClock),
        )
        .await
    };
    let a = start(postgres.clone(), key.clone()).await;
    let b = start(postgres, key).await;
    (a, b)
}

#[tokio::test]
async fn a_device_streaming_from_one_relay_is_woken_by_an_event_another_relay_stores() {
    let (a, b) = two_relays().await;
    let shop = a.shop("Glow Bar").await;
    let (mut stream, mut buf) = open_stream(&a, &shop.device_token).await;

    // The payment's webhook reaches the other relay.
    deliver(&b, &shop.uid, "evt_on_b").await;
    let (kind, data) = next_sse_event(&mut stream, &mut buf).await;
    assert_eq!(kind, "events", "woken by an event relay B stored");
    let db = b.db().await;
    let log = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10)
        .await
        .unwrap();
    assert_eq!(data, log[0].id.to_string(), "the wake-up names its id");

    // Each relay reports itself.
    for relay in [&a, &b] {
        let health: serde_json::Value = reqwest::get(format!("{}/healthz", relay.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(health["database"], "postgres", "{health}");
        let metrics = reqwest::get(format!("{}/metrics", relay.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("ziflow_relay_info{database=\"postgres\""),
            "{metrics}"
        );
    }

    // Either relay serves the same log; a redelivery to the other is stored once.
    deliver(&a, &shop.uid, "evt_on_b").await;
    for relay in [&a, &b] {
        let res = pull(relay, &shop.device_token, 0, 10).await;
        assert_eq!(res.status(), 200);
        let page: serde_json::Value = res.json().await.unwrap();
        let ids: Vec<i64> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("stripe.")))
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![log[0].id], "stored once, served alike by both");
    }

    // Revoked through relay B's database: the stream on relay A ends.
    let revoked = ziflow_relay::provision::revoke_device(&db, &shop.uid, shop.device_id)
        .await
        .unwrap();
    assert!(revoked.revoked_now);
    let (kind, _) = next_sse_event(&mut stream, &mut buf).await;
    assert_eq!(kind, "revoked", "cut off on the relay it was open on");
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert!(end.is_none(), "and then closed");
    db.close().await;
}

/// The event ids of the shop's log a device pulls after `after`, through `relay`.
async fn pulled(relay: &Relay, token: &str, after: i64) -> Vec<i64> {
    let res = pull(relay, token, after, 1000).await;
    assert_eq!(res.status(), 200);
    let page: serde_json::Value = res.json().await.unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_sqlite_relay_moves_to_postgres_and_its_desktops_sync_on_from_their_cursors() {
    let key = MasterKey::generate().unwrap();
    let clock = Arc::new(ziflow_core::SystemClock);
    let mut before = Relay::start_on(
        tempfile::tempdir().unwrap(),
        None,
        key.clone(),
        local_providers(),
        clock.clone(),
    )
    .await;
    let shop = before.shop("Glow Bar").await;
    let (_, link) = crate::sync::sent_story_invoice(&before, &shop.device_token, "inv-1").await;
    assert_eq!(crate::sync::press(&link, "card").await.status(), 303);
    crate::support::settled(&before.base).await;
    let log = pulled(&before, &shop.device_token, 0).await;
    let cursor = *log.last().expect("the shop has a log");
    before.stop.take().unwrap().send(()).unwrap();
    (&mut before.task).await.unwrap().unwrap();

    // The operator moves it with the real command.
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    let migrate = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
            .args(["migrate", "--json", "--from-data-dir"])
            .arg(before.dir.path())
            .args(["--to-database-url", url])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = migrate(&url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(moved["rows"]["events"], log.len(), "{moved}");
    assert!(moved["rows"]["jobs"].as_u64().unwrap() > 0, "{moved}");
    assert_eq!(moved["rows"]["shop_secrets"], 2, "{moved}");
    let again = migrate(&url);
    assert!(!again.status.success(), "a second move into it is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("empty database only"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let after = Relay::start_on(
        tempfile::tempdir().unwrap(),
        Some(ziflow_relay::Postgres { url, pool: 8 }),
        key,
        local_providers(),
        clock,
    )
    .await;
    assert_eq!(
        pulled(&after, &shop.device_token, 0).await,
        log,
        "the same log under the same ids, and the device's token still works"
    );
    assert!(
        pulled(&after, &shop.device_token, cursor).await.is_empty(),
        "nothing new after its cursor"
    );
    // A signed webhook verifies with the moved (still sealed) secret; it is the next id.
    deliver(&after, &shop.uid, "evt_after_the_move").await;
    let next = pulled(&after, &shop.device_token, cursor).await;
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(next[0] > cursor);
}

//! Several relays on one PostgreSQL database, as a host scales out: any of them takes any
//! webhook and sync request, a device streaming from one is woken when another stores an
//! event of its shop, and revoking a device cuts its stream whichever relay holds it.

use std::sync::Arc;

use futures_util::StreamExt;
use ziflow_core::secrets::MasterKey;

use crate::support::{local_providers, Relay};
use crate::sync::{deliver, next_sse_event, pull};

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
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", a.base))
        .bearer_auth(&shop.device_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    assert_eq!(next_sse_event(&mut stream, &mut buf).await.0, "ready");

    // The payment's webhook reaches the other relay.
    deliver(&b, &shop.uid, "evt_on_b").await;
    let (kind, data) = next_sse_event(&mut stream, &mut buf).await;
    assert_eq!(kind, "events", "woken by an event relay B stored");
    let db = b.db().await;
    let log = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10)
        .await
        .unwrap();
    assert_eq!(data, log[0].id.to_string(), "the wake-up names its id");

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

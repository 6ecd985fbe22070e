//! PostgreSQL only: the log's ids follow commit order across writers, so a reader following
//! `after=ID` never skips an event that commits later with a lower id.

use ziflow_core::storage::{events, shops};
use ziflow_core::Db;

#[tokio::test]
async fn a_lower_id_never_commits_after_a_higher_one_is_visible() {
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    // Two relays' handles and a follower's.
    let first = Db::open_postgres(&url, 2).await.unwrap();
    let second = Db::open_postgres(&url, 2).await.unwrap();
    let follower = Db::open_postgres(&url, 2).await.unwrap();
    shops::create(&first, "s1", "Glow Bar", "USD", "UTC", 1)
        .await
        .unwrap();
    let payload = serde_json::json!({"n": 1});

    // The first writer draws its id and has not committed yet.
    let mut tx = first.begin_immediate().await.unwrap();
    let lower = events::append(&mut tx, "s1", "test.first", &payload, None, 2)
        .await
        .unwrap()
        .unwrap();
    // The second writer starts meanwhile.
    let racing = tokio::spawn(async move {
        let mut tx2 = second.begin().await.unwrap();
        let id = events::append(&mut tx2, "s1", "test.second", &payload, None, 3)
            .await
            .unwrap()
            .unwrap();
        tx2.commit().await.unwrap();
        id
    });
    // It waits for the first to commit (PostgreSQL says it is waiting on the write lock),
    // so nothing after the follower's cursor is visible yet.
    let mut waiting = 0;
    for _ in 0..500 {
        waiting = follower.write_lock_waiters().await.unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(waiting, 1, "the second writer waits for the first");
    assert!(
        events::after(&follower, "s1", 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "no higher id is visible while a lower one is uncommitted"
    );
    tx.commit().await.unwrap();
    let higher = racing.await.unwrap();
    assert!(
        higher > lower,
        "drawn after the first commit: {higher} > {lower}"
    );
    let seen: Vec<i64> = events::after(&follower, "s1", 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        seen,
        vec![lower, higher],
        "in commit order, nothing skipped"
    );
}

#[tokio::test]
async fn relays_on_one_database_share_a_numbers_send_rate() {
    use ziflow_core::storage::send_slots;
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    let a = Db::open_postgres(&url, 2).await.unwrap();
    let b = Db::open_postgres(&url, 2).await.unwrap();
    // Twenty messages from one number at 10 a second, taken in turn by two relays: a
    // second's worth goes at once, the other ten are spread 0.1 s apart whoever sends them.
    // Each wait is read with the time already gone since the first message (the calls
    // themselves take time, more so on a busy machine): together they are the message's turn.
    let started = std::time::Instant::now();
    let mut turns = Vec::new();
    let mut waits = Vec::new();
    for n in 0..20 {
        let relay = if n % 2 == 0 { &a } else { &b };
        let wait = send_slots::take(relay, "15550001111", 10)
            .await
            .unwrap()
            .expect("a slot on PostgreSQL");
        waits.push(wait.as_millis());
        turns.push((wait + started.elapsed()).as_millis());
    }
    assert!(waits[..10].iter().all(|w| *w == 0), "{waits:?}");
    for (n, turn) in turns[10..].iter().enumerate() {
        let due = 100 * (u128::try_from(n).unwrap() + 1);
        assert!(
            *turn + 5 >= due && *turn <= due + 150,
            "message {}'s turn comes about {due} ms after the first: {turns:?}",
            n + 10
        );
    }
    // Another number has its own rate.
    let other = send_slots::take(&a, "15550002222", 10)
        .await
        .unwrap()
        .unwrap();
    assert!(other.is_zero());
}

#[tokio::test]
async fn moving_a_relay_to_postgres_carries_every_column_of_the_schema() {
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    let db = Db::open_postgres(&url, 2).await.unwrap();
    assert_eq!(
        ziflow_core::storage::copy::uncopied_columns(&db)
            .await
            .unwrap(),
        Vec::<String>::new(),
        "a column the move would leave behind: add it to storage::copy"
    );
}

#[tokio::test]
async fn a_relay_refuses_an_events_sequence_that_caches_ids() {
    let url = ziflow_pg_harness::shared()
        .fresh_database()
        .expect("a test database");
    let db = Db::open_postgres(&url, 2).await.unwrap();
    sqlx::query("ALTER SEQUENCE events_id_seq CACHE 10")
        .execute(db.postgres_pool().unwrap())
        .await
        .unwrap();
    db.close().await;
    let refused = Db::open_postgres(&url, 2).await;
    assert!(
        matches!(&refused, Err(ziflow_core::Error::InvalidInput(m)) if m.contains("CACHE 1")),
        "{refused:?}"
    );
}

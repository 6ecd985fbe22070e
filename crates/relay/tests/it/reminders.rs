//! Payment reminders on a clock the tests move: exact send times, restarts around a due time,
//! a relay that was down, a payment in between, and a schedule edited mid-way — each checked
//! against the messages actually recorded for the customer.

use std::sync::Arc;

use serde_json::{json, Value};
use ziflow_core::ManualClock;

use crate::agent::{say, shop_selling_the_samples, thread_of};
use crate::support::{engine_caught_up, settled, Relay};

/// 2026-11-26 20:00 UTC.
const T0: i64 = 1_795_723_200;
const H: i64 = 3600;

async fn relay(clock: Arc<ManualClock>) -> Relay {
    Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        crate::support::local_providers(),
        clock,
    )
    .await
}

/// The bot's invoice for a gel cleanser, sent at T0; returns its pay link.
async fn invoice_sent_at_t0(relay: &Relay, uid: &str) -> String {
    say(&relay.base, uid, "how much is the gel cleanser?").await;
    say(&relay.base, uid, "yes, 18 Maple St.").await;
    let thread = thread_of(&relay.base, uid, 4).await;
    thread[3]["links"][0]["url"].as_str().unwrap().to_string()
}

/// The shop's whole log, once the engine caught up.
async fn log_of(relay: &Relay, uid: &str) -> Vec<ziflow_core::storage::events::Event> {
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let all = ziflow_core::storage::events::after(&db, uid, 0, 10_000)
        .await
        .unwrap();
    db.close().await;
    all
}

/// The reminders recorded for the customer: (reminder number, when).
async fn reminders(relay: &Relay, uid: &str) -> Vec<(i64, i64)> {
    log_of(relay, uid)
        .await
        .into_iter()
        .filter(|e| e.kind == "message.sent")
        .filter_map(|e| {
            let p: Value = serde_json::from_str(&e.payload).unwrap();
            (p["by"] == "reminder").then(|| (p["reminder"].as_i64().unwrap(), e.created_at))
        })
        .collect()
}

async fn abandoned(relay: &Relay, uid: &str) -> Vec<i64> {
    log_of(relay, uid)
        .await
        .into_iter()
        .filter(|e| e.kind == "invoice.abandoned")
        .map(|e| e.created_at)
        .collect()
}

/// Stops the relay, moves the clock to `back` while it is down, and starts it again.
async fn down_until(relay: Relay, clock: &Arc<ManualClock>, back: i64) -> Relay {
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
    clock.set(back);
    Relay::start_on(
        dir,
        postgres,
        key,
        crate::support::local_providers(),
        clock.clone(),
    )
    .await
}

/// Moves the clock to `at` and waits until the relay did everything due by then.
async fn at(relay: &Relay, clock: &ManualClock, at: i64) {
    clock.set(at);
    settled(&relay.base).await;
}

#[tokio::test]
async fn reminders_go_out_at_their_times_once_each_then_the_invoice_is_abandoned() {
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    let link = invoice_sent_at_t0(&relay, &shop.uid).await;
    at(&relay, &clock, T0 + 2 * H - 1).await;
    assert_eq!(reminders(&relay, &shop.uid).await, vec![]);
    at(&relay, &clock, T0 + 2 * H).await;
    assert_eq!(reminders(&relay, &shop.uid).await, vec![(1, T0 + 2 * H)]);
    let thread = thread_of(&relay.base, &shop.uid, 5).await;
    assert_eq!(
        thread[4]["text"],
        format!(
            "A quick reminder: your order #1001 ($34) is waiting for payment. Pay here: {link}"
        )
    );
    at(&relay, &clock, T0 + 24 * H).await;
    at(&relay, &clock, T0 + 30 * H).await;
    // The third is due at 48 h, when the link expires: it goes ten minutes before.
    at(&relay, &clock, T0 + 48 * H - 601).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(1, T0 + 2 * H), (2, T0 + 24 * H)]
    );
    at(&relay, &clock, T0 + 48 * H - 600).await;
    at(&relay, &clock, T0 + 60 * H).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(1, T0 + 2 * H), (2, T0 + 24 * H), (3, T0 + 48 * H - 600)]
    );
    assert_eq!(abandoned(&relay, &shop.uid).await, vec![T0 + 48 * H - 600]);
    let db = relay.db().await;
    let list = ziflow_core::storage::conversations::list(&db, &shop.uid)
        .await
        .unwrap();
    assert_eq!(list[0].stage, "Abandoned");
    assert!(!list[0].bot_enabled, "a person takes over");
    assert!(list[0]
        .handoff_reason
        .as_deref()
        .unwrap()
        .contains("payment abandoned"));
}

#[tokio::test]
async fn restarts_around_the_due_time_and_a_relay_that_was_down_send_each_reminder_once() {
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    invoice_sent_at_t0(&relay, &shop.uid).await;
    // Stopped at T+1h59m, back at T+2h01m: the 2-hour reminder goes once, at 2h01m.
    at(&relay, &clock, T0 + 2 * H - 60).await;
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    at(&relay, &clock, T0 + 2 * H + 60).await;
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    at(&relay, &clock, T0 + 2 * H + 120).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(1, T0 + 2 * H + 60)]
    );
    // Down from T+20h to T+30h: the 24-hour reminder goes once when it is back.
    at(&relay, &clock, T0 + 20 * H).await;
    let relay = down_until(relay, &clock, T0 + 30 * H).await;
    at(&relay, &clock, T0 + 30 * H).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(1, T0 + 2 * H + 60), (2, T0 + 30 * H)]
    );
    // Restarting again sends nothing again.
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    at(&relay, &clock, T0 + 30 * H + 10).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await.len(),
        2,
        "nothing more on restart"
    );
}

#[tokio::test]
async fn a_payment_stops_the_reminders_and_a_schedule_edit_moves_the_waiting_ones() {
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    let link = invoice_sent_at_t0(&relay, &shop.uid).await;
    at(&relay, &clock, T0 + 2 * H).await;
    at(&relay, &clock, T0 + 3 * H).await;
    assert!(crate::sync::press(&link, "card")
        .await
        .status()
        .is_redirection());
    at(&relay, &clock, T0 + 3 * H + 5).await;
    at(&relay, &clock, T0 + 24 * H).await;
    at(&relay, &clock, T0 + 60 * H).await;
    assert_eq!(reminders(&relay, &shop.uid).await, vec![(1, T0 + 2 * H)]);
    assert!(
        abandoned(&relay, &shop.uid).await.is_empty(),
        "paid: not abandoned"
    );

    // A second customer's invoice; after its first reminder the schedule becomes 2, 10, 20.
    let shop = shop_selling_the_samples(&relay).await;
    clock.set(T0 + 100 * H);
    invoice_sent_at_t0(&relay, &shop.uid).await;
    let t1 = T0 + 100 * H;
    at(&relay, &clock, t1 + 2 * H).await;
    let res = crate::sync::command(
        &relay,
        &shop.device_token,
        Some("edit"),
        &json!({"type": "scenario.set", "scenario": {"auto_invoice": true,
            "link_style": "both", "cutoff": "18:00", "whatsapp_template": "ziflow_update",
            "reminder_hours": [2, 10, 20]}})
        .to_string(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let bad = crate::sync::command(
        &relay,
        &shop.device_token,
        Some("edit-bad"),
        &json!({"type": "scenario.set", "scenario": {"auto_invoice": true,
            "link_style": "both", "cutoff": "18:00", "whatsapp_template": "ziflow_update",
            "reminder_hours": [24, 2]}})
        .to_string(),
    )
    .await;
    assert_eq!(bad.status(), 400);
    at(&relay, &clock, t1 + 10 * H - 1).await;
    assert_eq!(reminders(&relay, &shop.uid).await, vec![(1, t1 + 2 * H)]);
    at(&relay, &clock, t1 + 10 * H).await;
    at(&relay, &clock, t1 + 20 * H).await;
    at(&relay, &clock, t1 + 30 * H).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(1, t1 + 2 * H), (2, t1 + 10 * H), (3, t1 + 20 * H)]
    );
    assert_eq!(abandoned(&relay, &shop.uid).await, vec![t1 + 20 * H]);
}

#[tokio::test]
async fn a_relay_down_past_two_reminders_sends_one_and_stop_silences_them() {
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    invoice_sent_at_t0(&relay, &shop.uid).await;
    at(&relay, &clock, T0 + H).await;
    let relay = down_until(relay, &clock, T0 + 30 * H).await;
    at(&relay, &clock, T0 + 30 * H).await;
    assert_eq!(
        reminders(&relay, &shop.uid).await,
        vec![(2, T0 + 30 * H)],
        "the 2 h and 24 h reminders were both missed: one message, not two"
    );

    // Another customer writes STOP after the invoice: no reminder reaches them, yet the
    // invoice is still abandoned after the last point.
    let shop = shop_selling_the_samples(&relay).await;
    clock.set(T0 + 100 * H);
    invoice_sent_at_t0(&relay, &shop.uid).await;
    say(&relay.base, &shop.uid, "STOP").await;
    let t1 = T0 + 100 * H;
    for t in [2 * H, 24 * H, 48 * H - 600, 60 * H] {
        at(&relay, &clock, t1 + t).await;
    }
    assert_eq!(reminders(&relay, &shop.uid).await, vec![]);
    assert_eq!(abandoned(&relay, &shop.uid).await, vec![t1 + 48 * H - 600]);
}

#[tokio::test]
async fn a_paid_order_moves_on_the_board_and_shipping_it_can_tell_the_customer() {
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    let link = invoice_sent_at_t0(&relay, &shop.uid).await;
    let token = &shop.device_token;
    let relay = &relay;
    let mv = |key: &'static str, stage: &'static str, notify: bool| {
        let body = json!({"type": "order.move", "invoice_id": 1, "stage": stage,
                          "notify": notify})
        .to_string();
        async move { crate::sync::command(relay, token, Some(key), &body).await }
    };
    let early = mv("m0", "shipped", true).await;
    assert_eq!(early.status(), 400, "not paid: not on the board");
    assert!(early.text().await.unwrap().contains("not paid"));
    assert!(crate::sync::press(&link, "apple_pay")
        .await
        .status()
        .is_redirection());
    let _ = thread_of(&relay.base, &shop.uid, 5).await; // "Payment received, thanks! …"
    assert_eq!(mv("m1", "lost", false).await.status(), 400);
    assert_eq!(mv("m2", "shipped", true).await.status(), 200);
    let thread = thread_of(&relay.base, &shop.uid, 6).await;
    assert_eq!(
        thread[5]["text"],
        "Good news! Your order #1001 is on its way to 18 Maple St."
    );
    assert!(
        thread[5]["links"].as_array().is_none_or(Vec::is_empty),
        "no pay button"
    );
    assert_eq!(mv("m3", "delivered", true).await.status(), 200);
    // Delivered sends the customer nothing: only Shipped does.
    thread_of(&relay.base, &shop.uid, 6).await;
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let board = ziflow_core::storage::invoices::on_board(&db, &shop.uid)
        .await
        .unwrap();
    assert_eq!(board[0].fulfilment_stage.as_deref(), Some("delivered"));
}

#[tokio::test]
async fn the_default_rule_on_a_signed_payment_makes_the_lead_paid_once_everywhere() {
    use ziflow_core::crm;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(clock.clone()).await;
    let shop = shop_selling_the_samples(&relay).await;
    let link = invoice_sent_at_t0(&relay, &shop.uid).await;
    let phone = "+15125550123";
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let lead = crm::lead(&db, &shop.uid, phone).await.unwrap().unwrap();
    assert_eq!(lead.stage, "Awaiting payment");
    clock.set(T0 + 600);
    assert!(crate::sync::press(&link, "apple_pay")
        .await
        .status()
        .is_redirection());
    let _ = thread_of(&relay.base, &shop.uid, 5).await;
    engine_caught_up(&db).await;
    let lead = crm::lead(&db, &shop.uid, phone).await.unwrap().unwrap();
    assert_eq!(lead.stage, "Paid");
    assert_eq!(lead.tags, vec!["paid"]);
    assert_eq!(
        lead.fields["lastPayment"],
        json!({"minor": 3400, "currency": "USD"})
    );
    assert_eq!(
        lead.fields["lifetimeValue"],
        json!({"minor": 3400, "currency": "USD"})
    );
    let paid_lines: Vec<&String> = lead
        .history
        .iter()
        .map(|(_, w)| w)
        .filter(|w| w.starts_with("Payment succeeded"))
        .collect();
    assert_eq!(
        paid_lines,
        vec!["Payment succeeded: stage Paid, tag paid, lastPayment = $34, lifetimeValue + $34, notify Desktop"]
    );
    db.close().await;

    // A restart applies nothing twice; a desk replaying the whole log twice gets the same lead.
    let relay = relay
        .restart(crate::support::local_providers(), clock.clone())
        .await;
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let again = crm::lead(&db, &shop.uid, phone).await.unwrap().unwrap();
    assert_eq!(again, lead);
    let events = ziflow_core::storage::events::after(&db, &shop.uid, 0, 10_000)
        .await
        .unwrap();
    let (_dir, replica) = crate::sync::desk_applying(&shop.uid, &events, 2).await;
    let on_desk = crm::lead(&replica, &shop.uid, phone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on_desk.stage, lead.stage);
    assert_eq!(on_desk.tags, lead.tags);
    assert_eq!(on_desk.fields, lead.fields);
    assert_eq!(on_desk.history, lead.history);
}

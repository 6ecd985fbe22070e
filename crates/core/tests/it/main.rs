//! Core integration tests against real databases: SQLite files, or with
//! `ZIFLOW_TEST_DATABASE=postgres` a database of its own per test on a throw-away PostgreSQL
//! cluster (`cargo xtask test` runs this suite both ways).

mod fuzz;
#[cfg(feature = "postgres")]
mod postgres;

use ziflow_core::storage::conversations::{self, Direction};
use ziflow_core::storage::invoices::{self, LineItem, NewInvoice, PaidVia};
use ziflow_core::storage::{events, settings, shops};
use ziflow_core::{metrics, Db, Error, InvoiceStatus, Money};

/// A fresh relay database: a SQLite file in `dir`, or a PostgreSQL database when the suite
/// runs on PostgreSQL.
pub async fn fresh_db(dir: &tempfile::TempDir) -> Db {
    if let Some(url) = ziflow_pg_harness::suite_database() {
        #[cfg(feature = "postgres")]
        return Db::open_postgres(&url, 4).await.unwrap();
        #[cfg(not(feature = "postgres"))]
        panic!("ZIFLOW_TEST_DATABASE=postgres needs the `postgres` feature ({url})");
    }
    Db::open(dir.path().join("z.db")).await.unwrap()
}

async fn db_with_shop() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir).await;
    shops::create(&db, "s1", "Glow Bar", "USD", "America/Denver", 1_000)
        .await
        .unwrap();
    (dir, db)
}

fn cream_order(phone: &str) -> NewInvoice {
    NewInvoice {
        customer_phone: phone.into(),
        currency: "USD".into(),
        items: vec![LineItem {
            sku: "HC".into(),
            name: "Hydrating cream".into(),
            variant: None,
            qty: 1,
            unit_minor: 12_000,
        }],
        shipping_minor: 800,
        address: Some("123 Oak St.".into()),
        recurrence: None,
    }
}

/// A desk's `invoice.create`, run the way the relay runs it: the command records
/// `invoice.created` and the projection makes the draft.
async fn ordered(
    db: &Db,
    shop: &str,
    new: &NewInvoice,
    at: i64,
) -> ziflow_core::Result<invoices::InvoiceRow> {
    let command = ziflow_protocol::Command::InvoiceCreate {
        customer_phone: new.customer_phone.clone(),
        currency: new.currency.clone(),
        items: new
            .items
            .iter()
            .map(ziflow_protocol::InvoiceItem::from)
            .collect(),
        shipping_minor: new.shipping_minor,
        address: new.address.clone(),
        subscription: None,
    };
    let mut tx = db.begin_immediate().await?;
    let outcome = ziflow_core::command::execute(
        &mut tx,
        shop,
        &command,
        at,
        &ziflow_core::command::Context {
            public_url: "https://relay.example",
            provider: Some("sandbox"),
        },
    )
    .await?;
    tx.commit().await?;
    let made: ziflow_protocol::answer::InvoiceCreate =
        serde_json::from_value(outcome.answer).expect("invoice.create answers with its id");
    invoices::get(db, shop, made.invoice_id).await
}

/// Sends the invoice with a link of `provider`'s (only that provider's events pay it) at
/// `at`, the way the relay does once the provider made the link: its pay job records the
/// result (`pay::steps::link_created` → `invoice.sent`), and the engine applies it.
async fn sent_at(db: &Db, shop: &str, id: i64, provider: &str, at: i64) {
    use ziflow_core::pay::{steps, CreatedLink, LinkRequest};
    let mut tx = db.begin().await.unwrap();
    let invoice = invoices::get_in(&mut tx, shop, id).await.unwrap().unwrap();
    let request = LinkRequest {
        shop: shop.into(),
        invoice_id: id,
        number: invoice.number,
        currency: invoice.currency.clone(),
        lines: Vec::new(),
        shipping_minor: invoice.shipping_minor,
        expires_at: at + 48 * 3600,
        created_at: invoice.created_at,
        recurrence: None,
        public_url: "https://relay.example".into(),
    };
    let link = CreatedLink {
        url: format!("https://pay.example/{provider}/{id}"),
        reference: format!("plink_{id}"),
    };
    let recorded = steps::link_created(&mut tx, shop, provider, &request, &link, at)
        .await
        .unwrap();
    let first = *recorded
        .first()
        .expect("the link is recorded as invoice.sent");
    for event in events::after_all(&mut tx, first - 1, 100).await.unwrap() {
        ziflow_core::projection::apply(&mut tx, &event)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let sent = invoices::get(db, shop, id).await.unwrap();
    assert_eq!(sent.pay_provider.as_deref(), Some(provider), "{sent:?}");
}

/// [`sent_at`] for shop `s1`, before any test's payment.
async fn sent_with(db: &Db, id: i64, provider: &str) {
    sent_at(db, "s1", id, provider, 2_500).await;
}

/// The invoice is paid at `at`: by the provider's signed event (the sandbox's checkout,
/// of the invoice's amount; the invoice must have been sent with a sandbox link), or by a
/// person's `invoice.mark_paid`. Returns whether this changed it.
async fn paid(db: &Db, shop: &str, id: i64, via: PaidVia, at: i64) -> bool {
    let before = invoices::get(db, shop, id).await.unwrap();
    match via {
        PaidVia::Manual => {
            let mut tx = db.begin_immediate().await.unwrap();
            let outcome = ziflow_core::command::execute(
                &mut tx,
                shop,
                &ziflow_protocol::Command::InvoiceMarkPaid { invoice_id: id },
                at,
                &ziflow_core::command::Context {
                    public_url: "https://relay.example",
                    provider: Some("sandbox"),
                },
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            let marked: ziflow_protocol::answer::InvoiceMarkPaid =
                serde_json::from_value(outcome.answer).unwrap();
            marked.changed
        }
        PaidVia::Webhook => {
            let payload = serde_json::json!({
                "id": format!("evt_paid_{id}_{at}"), "type": "checkout.session.completed",
                "data": {"object": {"payment_status": "paid",
                    "amount_total": before.total_minor,
                    "currency": before.currency.to_ascii_lowercase(),
                    "metadata": {"ziflow_invoice": id.to_string(), "ziflow_shop": shop}}}
            });
            provider_event_at(db, shop, "sandbox.checkout.session.completed", &payload, at).await;
            let after = invoices::get(db, shop, id).await.unwrap();
            before.paid_at.is_none() && after.paid_at.is_some()
        }
    }
}

/// Appends a provider event of `kind` with `payload` to `s1`'s log and applies it.
async fn apply_provider_event(
    db: &Db,
    kind: &str,
    payload: &serde_json::Value,
) -> ziflow_core::projection::Applied {
    provider_event_at(db, "s1", kind, payload, 3_000).await
}

/// Appends a provider event of `kind` with `payload` to `shop`'s log at `at`, as the intake
/// stores a verified webhook, and applies it as the engine does.
async fn provider_event_at(
    db: &Db,
    shop: &str,
    kind: &str,
    payload: &serde_json::Value,
    at: i64,
) -> ziflow_core::projection::Applied {
    let provider_id = payload["id"].as_str().unwrap().to_string();
    let mut tx = db.begin().await.unwrap();
    let id = events::append(&mut tx, shop, kind, payload, Some(&provider_id), at)
        .await
        .unwrap()
        .unwrap();
    let event = events::Event {
        id,
        shop_uid: shop.into(),
        kind: kind.into(),
        payload: payload.to_string(),
        provider_id: Some(provider_id),
        created_at: at,
    };
    let applied = ziflow_core::projection::apply(&mut tx, &event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    applied
}

fn paid_checkout(id: &str, amount: i64, currency: &str, invoice: i64) -> serde_json::Value {
    serde_json::json!({
        "id": id, "type": "checkout.session.completed", "livemode": false,
        "data": {"object": {"payment_status": "paid", "amount_total": amount,
            "currency": currency, "metadata": {"ziflow_invoice": invoice.to_string()}}}
    })
}

#[tokio::test]
async fn only_the_links_provider_with_the_invoices_amount_and_currency_can_pay_it() {
    use ziflow_core::storage::payments;
    let (_d, db) = db_with_shop().await;
    let stripe_inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    sent_with(&db, stripe_inv.id, "stripe").await;
    let sandbox_inv = ordered(&db, "s1", &cream_order("+15125550124"), 2_000)
        .await
        .unwrap();
    sent_with(&db, sandbox_inv.id, "sandbox").await;
    let unsent = ordered(&db, "s1", &cream_order("+15125550125"), 2_000)
        .await
        .unwrap();
    let status = |id: i64| {
        let db = db.clone();
        async move { invoices::get(&db, "s1", id).await.unwrap().status() }
    };

    // The sandbox's events (its own key, kind `sandbox.*`) never pay a Stripe invoice, nor
    // Stripe's a sandbox one, nor anyone's an invoice that was never sent.
    let a = apply_provider_event(
        &db,
        "sandbox.checkout.session.completed",
        &paid_checkout("evt_sb", 12_800, "usd", stripe_inv.id),
    )
    .await;
    assert_eq!(
        a.payment.as_ref().map(|p| p.outcome),
        Some("wrong_provider")
    );
    assert!(a.derived.is_empty(), "no invoice.paid: {:?}", a.derived);
    let b = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_st", 12_800, "usd", sandbox_inv.id),
    )
    .await;
    assert_eq!(
        b.payment.as_ref().map(|p| p.outcome),
        Some("wrong_provider")
    );
    apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_un", 12_800, "usd", unsent.id),
    )
    .await;
    for id in [stripe_inv.id, sandbox_inv.id, unsent.id] {
        assert_ne!(
            status(id).await,
            InvoiceStatus::Paid,
            "invoice {id} is not paid"
        );
    }

    // Signed by Stripe, but $1 short, or the right number in euros: shown, not applied.
    let short = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_short", 12_700, "usd", stripe_inv.id),
    )
    .await;
    let p = short.payment.expect("the mismatch is reported");
    assert_eq!(p.outcome, "mismatch");
    assert_eq!(p.amount, Money::new(12_700, "USD"), "what was paid");
    assert_eq!(p.expected, Some(Money::new(12_800, "USD")), "what was due");
    let euros = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_eur", 12_800, "eur", stripe_inv.id),
    )
    .await;
    assert_eq!(euros.payment.map(|p| p.outcome), Some("mismatch"));
    assert_ne!(status(stripe_inv.id).await, InvoiceStatus::Paid);

    // The feed shows both figures for the rep and the owner.
    let feed = payments::list(&db, "s1").await.unwrap();
    let row = feed
        .iter()
        .find(|p| p.outcome == "mismatch" && p.amount_minor == 12_700)
        .expect("the short payment is in the feed");
    assert_eq!(row.invoice_number, Some(stripe_inv.number));
    assert_eq!(
        (row.invoice_total_minor, row.invoice_currency.as_deref()),
        (Some(12_800), Some("USD"))
    );

    // The right payment from the right provider pays it.
    let ok = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_ok", 12_800, "usd", stripe_inv.id),
    )
    .await;
    assert_eq!(ok.payment.map(|p| p.outcome), Some("succeeded"));
    assert_eq!(status(stripe_inv.id).await, InvoiceStatus::Paid);
}

#[tokio::test]
async fn a_refunded_wrong_payment_pays_nothing_and_a_free_invoice_is_no_payment() {
    let (_d, db) = db_with_shop().await;
    let inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    sent_with(&db, inv.id, "stripe").await;
    let short = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_short", 100, "usd", inv.id),
    )
    .await;
    assert_eq!(short.payment.map(|p| p.outcome), Some("mismatch"));
    // The owner refunds the $1 in Stripe: that refund is not proof of a $128 payment.
    let refund = serde_json::json!({"id": "evt_refund", "type": "charge.refunded",
        "data": {"object": {"amount": 100, "amount_refunded": 100, "currency": "usd",
            "metadata": {"ziflow_invoice": inv.id.to_string()}}}});
    let r = apply_provider_event(&db, "stripe.charge.refunded", &refund).await;
    assert_eq!(r.payment.map(|p| p.outcome), Some("mismatch"));
    assert!(r.derived.is_empty(), "no invoice.paid: {:?}", r.derived);
    assert_ne!(
        invoices::get(&db, "s1", inv.id).await.unwrap().status(),
        InvoiceStatus::Paid
    );
    // $0 "paid" (a trial's free first invoice) is no payment and shows nothing.
    let zero = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_zero", 0, "usd", inv.id),
    )
    .await;
    assert_eq!(zero.payment, None);
    assert_ne!(
        invoices::get(&db, "s1", inv.id).await.unwrap().status(),
        InvoiceStatus::Paid
    );
}

#[tokio::test]
async fn a_live_shop_ignores_test_mode_events_but_shows_them() {
    let (_d, db) = db_with_shop().await;
    settings::set(&db, "s1", "billing.mode", "live")
        .await
        .unwrap();
    let inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    sent_with(&db, inv.id, "stripe").await;
    let test = apply_provider_event(
        &db,
        "stripe.checkout.session.completed",
        &paid_checkout("evt_test", 12_800, "usd", inv.id),
    )
    .await;
    assert_eq!(test.payment.map(|p| p.outcome), Some("test_mode"));
    assert_ne!(
        invoices::get(&db, "s1", inv.id).await.unwrap().status(),
        InvoiceStatus::Paid,
        "a test card does not pay a live shop's order"
    );
    let mut live = paid_checkout("evt_live", 12_800, "usd", inv.id);
    live["livemode"] = serde_json::json!(true);
    let paid = apply_provider_event(&db, "stripe.checkout.session.completed", &live).await;
    assert_eq!(paid.payment.map(|p| p.outcome), Some("succeeded"));
    assert_eq!(
        invoices::get(&db, "s1", inv.id).await.unwrap().status(),
        InvoiceStatus::Paid
    );
}

#[tokio::test]
async fn invoices_are_numbered_per_shop_and_totalled_in_minor_units() {
    let (_d, db) = db_with_shop().await;
    shops::create(&db, "s2", "Other", "EUR", "Europe/Madrid", 1_000)
        .await
        .unwrap();
    let a = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    let b = ordered(&db, "s1", &cream_order("+15125550123"), 2_001)
        .await
        .unwrap();
    let c = ordered(&db, "s2", &cream_order("+34600000000"), 2_002)
        .await
        .unwrap();
    assert_eq!(
        (a.number, b.number),
        (1001, 1002),
        "numbers follow on within a shop"
    );
    assert_eq!(c.number, 1001, "another shop starts its own sequence");
    assert_eq!(a.total_minor, 12_800, "$120 + $8 shipping");
    assert_eq!(a.status(), InvoiceStatus::Draft);
}

#[tokio::test]
async fn bad_invoice_input_is_refused_and_nothing_is_written() {
    let (_d, db) = db_with_shop().await;
    let mut no_items = cream_order("+15125550123");
    no_items.items.clear();
    assert!(matches!(
        ordered(&db, "s1", &no_items, 1).await,
        Err(Error::InvalidInput(_))
    ));
    let bad_phone = cream_order("512-555-0123");
    assert!(matches!(
        ordered(&db, "s1", &bad_phone, 1).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(
        invoices::list(&db, "s1").await.unwrap().is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn an_invoice_becomes_paid_exactly_once_and_lands_on_the_board() {
    let (_d, db) = db_with_shop().await;
    let inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    sent_at(&db, "s1", inv.id, "sandbox", 2_010).await;
    assert!(
        invoices::on_board(&db, "s1").await.unwrap().is_empty(),
        "unpaid: not on the board"
    );
    assert!(
        paid(&db, "s1", inv.id, PaidVia::Webhook, 2_050).await,
        "the provider's payment pays it"
    );
    assert!(
        !paid(&db, "s1", inv.id, PaidVia::Manual, 2_060).await,
        "a second payment signal changes nothing"
    );
    let row = invoices::get(&db, "s1", inv.id).await.unwrap();
    assert_eq!(row.status(), InvoiceStatus::Paid);
    assert_eq!(row.paid_at, Some(2_050), "the first payment time is kept");
    assert_eq!(row.paid_via.as_deref(), Some("webhook"));
    let board = invoices::on_board(&db, "s1").await.unwrap();
    assert_eq!(board.len(), 1);
    assert_eq!(board[0].fulfilment_stage.as_deref(), Some("ready_to_ship"));
}

#[tokio::test]
async fn a_redelivered_provider_event_is_stored_once() {
    let (_d, db) = db_with_shop().await;
    let payload = serde_json::json!({"invoice_id": 1});
    let mut conn = db.begin().await.unwrap();
    let first = events::append(
        &mut conn,
        "s1",
        "payment.succeeded",
        &payload,
        Some("evt_1"),
        5,
    )
    .await
    .unwrap();
    let again = events::append(
        &mut conn,
        "s1",
        "payment.succeeded",
        &payload,
        Some("evt_1"),
        6,
    )
    .await
    .unwrap();
    let other = events::append(&mut conn, "s1", "message.received", &payload, None, 7)
        .await
        .unwrap();
    conn.commit().await.unwrap();
    assert!(first.is_some() && other.is_some());
    assert_eq!(again, None, "the same provider id is not stored twice");
    let all = events::after(&db, "s1", 0, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id < all[1].id, "cursor order");
    assert!(events::after(&db, "s1", all[1].id, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_group_append_stores_each_provider_event_once_in_input_order() {
    let (_d, db) = db_with_shop().await;
    shops::create(&db, "s2", "Other", "USD", "UTC", 1_000)
        .await
        .unwrap();
    let ids: Vec<String> = (0..70).map(|i| format!("evt_{i}")).collect();
    let mut batch: Vec<events::NewProviderEvent<'_>> = ids
        .iter()
        .map(|id| events::NewProviderEvent {
            shop: "s1",
            kind: "stripe.x",
            payload: "{}",
            provider_id: id,
        })
        .collect();
    // A copy inside the batch (across the 32-row chunks) and the same id in another shop.
    batch.push(events::NewProviderEvent {
        provider_id: "evt_3",
        ..batch[0]
    });
    batch.push(events::NewProviderEvent {
        shop: "s2",
        ..batch[3]
    });
    let mut conn = db.begin().await.unwrap();
    let first = events::append_provider_events(&mut conn, &batch, 5)
        .await
        .unwrap();
    let again = events::append_provider_events(&mut conn, &batch[..2], 6)
        .await
        .unwrap();
    conn.commit().await.unwrap();
    assert_eq!(first.len(), 72);
    assert!(first[..70].iter().all(Option::is_some));
    assert!(
        first[..70].windows(2).all(|w| w[0] < w[1]),
        "ids follow the input order"
    );
    assert_eq!(first[70], None, "the copy of evt_3 in the same batch");
    assert!(first[71].is_some(), "another shop's evt_3 is its own event");
    assert_eq!(again, vec![None, None], "a redelivery is stored once");
    let stored = events::after(&db, "s1", 0, 1000).await.unwrap();
    assert_eq!(stored.len(), 70);
    assert_eq!(stored[3].id, first[3].unwrap());
    assert_eq!(stored[3].provider_id.as_deref(), Some("evt_3"));
}

#[tokio::test]
async fn events_belong_to_an_existing_shop() {
    let (_d, db) = db_with_shop().await;
    let mut conn = db.begin().await.unwrap();
    let res = events::append(&mut conn, "nope", "x.y", &serde_json::json!({}), None, 1).await;
    assert!(
        matches!(res, Err(Error::Storage(_))),
        "foreign keys are enforced: {res:?}"
    );
}

#[tokio::test]
async fn the_inbox_lists_newest_conversations_first_with_unread_counts() {
    let (_d, db) = db_with_shop().await;
    let p1 = "+15125550123";
    let p2 = "+15125550199";
    conversations::record_message(&db, "s1", p1, Some("Ana"), Direction::Inbound, "hi", 10)
        .await
        .unwrap();
    conversations::record_message(&db, "s1", p2, None, Direction::Inbound, "price?", 20)
        .await
        .unwrap();
    conversations::record_message(&db, "s1", p1, None, Direction::Outbound, "Hello Ana!", 30)
        .await
        .unwrap();
    conversations::record_message(&db, "s1", p1, None, Direction::Inbound, "yes", 40)
        .await
        .unwrap();
    let list = conversations::list(&db, "s1").await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].customer_phone, p1, "latest activity first");
    assert_eq!(list[0].last_message, "yes");
    assert_eq!(list[0].unread, 2, "only inbound messages count as unread");
    assert_eq!(
        list[0].customer_name.as_deref(),
        Some("Ana"),
        "a later nameless message keeps the name"
    );
    assert_eq!(list[1].last_message, "price?");
    assert_eq!(list[0].stage, "New");

    // Search reads every message, ignores case and accents, matches word prefixes, and
    // takes FTS5 syntax in the query as plain words.
    conversations::record_message(
        &db,
        "s1",
        p2,
        None,
        Direction::Inbound,
        "¿Cuánto cuesta la crema hidratante?",
        50,
    )
    .await
    .unwrap();
    let hits = conversations::search(&db, "s1", "CUANTO crem")
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].customer_phone, p2);
    assert!(hits[0].snippet.contains("[Cuánto]"), "{}", hits[0].snippet);
    let hits = conversations::search(&db, "s1", "hello").await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].customer_phone, p1);
    assert!(conversations::search(&db, "s1", "\"NEAR( OR *")
        .await
        .unwrap()
        .is_empty());
    assert!(
        conversations::search(&db, "s1", "hidratante crema")
            .await
            .unwrap()
            .len()
            == 1
    );
    assert!(conversations::search(&db, "other-shop", "hello")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn metrics_count_24h_conversion_revenue_and_manual_reconciliations() {
    let (_d, db) = db_with_shop().await;
    let t0 = 1_000_000;
    let mut ids = Vec::new();
    for i in 0..4 {
        let inv = ordered(&db, "s1", &cream_order("+15125550123"), t0 + i)
            .await
            .unwrap();
        sent_at(&db, "s1", inv.id, "sandbox", t0).await;
        ids.push(inv.id);
    }
    assert!(paid(&db, "s1", ids[0], PaidVia::Webhook, t0 + 300).await);
    assert!(paid(&db, "s1", ids[1], PaidVia::Manual, t0 + metrics::DAY).await);
    assert!(paid(&db, "s1", ids[2], PaidVia::Webhook, t0 + metrics::DAY + 1).await);
    let m = metrics::summary(&db, "s1").await.unwrap();
    assert_eq!(m.invoices, 4);
    assert_eq!(
        m.paid_within_24h, 2,
        "paid exactly at 24 h counts; a second later does not"
    );
    assert_eq!(m.conversion_24h_bp, Some(5_000));
    assert_eq!(
        m.revenue,
        vec![Money::new(3 * 12_800, "USD")],
        "revenue counts every paid invoice"
    );
    assert_eq!(m.manual_reconciliations, 1);
    // Sent → paid: 300 s, one day, one day and a second.
    assert_eq!(
        m.avg_order_to_payment_s,
        Some((300 + 2 * metrics::DAY + 1) / 3)
    );
    assert_eq!(m.median_order_to_payment_s, Some(metrics::DAY));
}

#[tokio::test]
async fn a_generated_month_gives_the_known_figures() {
    let (_d, db) = db_with_shop().await;
    let t0 = 1_790_000_000;
    // 100 invoices over 30 days; 73 paid within 24 h (after 10 min × (i % 5 + 1)), 12 paid
    // after two days, 15 never; every fifth of the quick ones marked paid by hand.
    for i in 0..100_i64 {
        let sent = t0 + i * (30 * metrics::DAY / 100);
        let inv = ordered(&db, "s1", &cream_order("+15125550123"), sent)
            .await
            .unwrap();
        sent_at(&db, "s1", inv.id, "sandbox", sent).await;
        let (paid_at, via) = match i {
            0..=72 => (
                Some(sent + 600 * (i % 5 + 1)),
                if i % 5 == 0 {
                    PaidVia::Manual
                } else {
                    PaidVia::Webhook
                },
            ),
            73..=84 => (Some(sent + 2 * metrics::DAY), PaidVia::Webhook),
            _ => (None, PaidVia::Webhook),
        };
        if let Some(at) = paid_at {
            assert!(paid(&db, "s1", inv.id, via, at).await);
        }
    }
    let m = metrics::summary(&db, "s1").await.unwrap();
    let json = m.to_json("USD");
    assert_eq!(json["invoices"], 100);
    assert_eq!(json["paid_within_24h"], 73);
    assert_eq!(json["conversion_24h"], 73.0);
    assert_eq!(json["manual_reconciliations"], 15);
    assert_eq!(json["revenue_cents"], 85 * 12_800);
    // The quick ones wait 600..3000 s (15 each of 600, 1200, 1800 and 2400 s, 13 of 3000 s);
    // twelve wait two days.
    let quick: i64 = (0..73).map(|i| 600 * (i % 5 + 1)).sum();
    assert_eq!(
        json["avg_order_to_payment_s"],
        (quick + 12 * 2 * metrics::DAY) / 85
    );
    assert_eq!(json["median_order_to_payment_s"], 1800);
}

#[tokio::test]
async fn settings_are_per_shop_and_overwrite() {
    let (_d, db) = db_with_shop().await;
    shops::create(&db, "s2", "Other shop", "EUR", "Europe/Madrid", 1)
        .await
        .unwrap();
    assert_eq!(settings::get(&db, "s1", "channel").await.unwrap(), None);
    settings::set(&db, "s1", "channel", "sandbox")
        .await
        .unwrap();
    settings::set(&db, "s2", "channel", "sandbox")
        .await
        .unwrap();
    settings::set(&db, "s1", "channel", "whatsapp")
        .await
        .unwrap();
    let s1 = settings::get(&db, "s1", "channel").await.unwrap();
    assert_eq!(
        s1.as_deref(),
        Some("whatsapp"),
        "the second write to s1 replaced the first"
    );
    let s2 = settings::get(&db, "s2", "channel").await.unwrap();
    assert_eq!(
        s2.as_deref(),
        Some("sandbox"),
        "s1's change left s2's setting as it was"
    );
    assert_eq!(
        settings::get(&db, "s3", "channel").await.unwrap(),
        None,
        "a shop that set nothing has nothing"
    );
}

#[tokio::test]
async fn a_shop_needs_a_name_and_an_iso_currency() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir).await;
    let nameless = shops::create(&db, "a", "  ", "USD", "UTC", 1).await;
    assert!(
        matches!(&nameless, Err(Error::InvalidInput(m)) if m.contains("needs a name")),
        "a blank name is refused as bad input that says why: {nameless:?}"
    );
    let dollars = shops::create(&db, "a", "Shop", "dollars", "UTC", 1).await;
    assert!(
        matches!(&dollars, Err(Error::InvalidInput(m)) if m.contains("ISO 4217") && m.contains("dollars")),
        "a currency that is not an ISO code is refused, naming it: {dollars:?}"
    );
    assert!(
        shops::first(&db).await.unwrap().is_none(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_paid_checkout_event_records_the_payment_and_pays_its_invoice() {
    use ziflow_core::storage::payments;
    let (_d, db) = db_with_shop().await;
    let inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
        .await
        .unwrap();
    sent_with(&db, inv.id, "stripe").await;
    let payload = serde_json::json!({
        "id": "evt_1", "type": "checkout.session.completed",
        "data": {"object": {"payment_status": "paid", "amount_total": 12800, "currency": "usd",
                             "metadata": {"ziflow_invoice": inv.id.to_string()}}}
    });
    let mut tx = db.begin().await.unwrap();
    let id = events::append(
        &mut tx,
        "s1",
        "stripe.checkout.session.completed",
        &payload,
        Some("evt_1"),
        3_000,
    )
    .await
    .unwrap()
    .unwrap();
    let event = events::Event {
        id,
        shop_uid: "s1".into(),
        kind: "stripe.checkout.session.completed".into(),
        payload: payload.to_string(),
        provider_id: Some("evt_1".into()),
        created_at: 3_000,
    };
    let applied = ziflow_core::projection::apply(&mut tx, &event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let p = applied.payment.expect("a payment was applied");
    assert_eq!(p.amount, Money::new(12_800, "USD"));
    assert_eq!(p.invoice, Some((1001, "+15125550123".into())));
    assert_eq!(payments::list(&db, "s1").await.unwrap().len(), 1);
    assert_eq!(
        invoices::get(&db, "s1", inv.id).await.unwrap().status(),
        InvoiceStatus::Paid
    );
}

#[tokio::test]
async fn applying_a_run_of_events_at_once_equals_applying_them_one_by_one() {
    use ziflow_core::projection::{self, Applier};
    use ziflow_core::storage::payments;
    let checkout = |id: &str, amount: i64, invoice: Option<i64>| {
        serde_json::json!({
            "id": id, "type": "checkout.session.completed",
            "data": {"object": {"payment_status": "paid", "amount_total": amount, "currency": "usd",
                "metadata": invoice.map_or(serde_json::json!({}), |i| serde_json::json!({"ziflow_invoice": i.to_string()}))}}
        })
    };
    let refund = serde_json::json!({"id": "evt_r", "type": "charge.refunded",
        "data": {"object": {"amount": 500, "amount_refunded": 500, "currency": "usd", "metadata": {}}}});
    let mut states = Vec::new();
    for at_once in [false, true] {
        let (_d, db) = db_with_shop().await;
        let inv = ordered(&db, "s1", &cream_order("+15125550123"), 2_000)
            .await
            .unwrap();
        sent_with(&db, inv.id, "stripe").await;
        // Unmatched payments, then one whose invoice must be read (the held rows are written
        // first), a refund, and an unreadable one that is skipped.
        let payloads = [
            (
                "stripe.checkout.session.completed",
                checkout("evt_1", 1_000, None),
            ),
            (
                "stripe.checkout.session.completed",
                checkout("evt_2", 2_000, None),
            ),
            (
                "stripe.checkout.session.completed",
                checkout("evt_3", 12_800, Some(inv.id)),
            ),
            ("stripe.charge.refunded", refund.clone()),
            (
                "stripe.checkout.session.completed",
                serde_json::json!({"id": "evt_bad"}),
            ),
        ];
        let mut tx = db.begin().await.unwrap();
        let mut stored = Vec::new();
        for (n, (kind, payload)) in payloads.iter().enumerate() {
            let id = events::append(
                &mut tx,
                "s1",
                kind,
                payload,
                Some(&format!("p{n}")),
                3_000 + i64::try_from(n).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
            stored.push(events::Event {
                id,
                shop_uid: "s1".into(),
                kind: (*kind).into(),
                payload: payload.to_string(),
                provider_id: Some(format!("p{n}")),
                created_at: 3_000 + i64::try_from(n).unwrap(),
            });
        }
        let mut announced = Vec::new();
        if at_once {
            let mut applier = Applier::new(&mut tx);
            for e in &stored {
                announced.push(applier.apply(e).await.unwrap().payment);
            }
            applier.finish().await.unwrap();
        } else {
            for e in &stored {
                announced.push(projection::apply(&mut tx, e).await.unwrap().payment);
            }
        }
        tx.commit().await.unwrap();
        let feed: Vec<(String, i64, Option<i64>, i64)> = payments::list(&db, "s1")
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.outcome, p.amount_minor, p.invoice_number, p.occurred_at))
            .collect();
        let invoice = invoices::get(&db, "s1", inv.id).await.unwrap();
        states.push((feed, invoice.status, invoice.paid_at, announced));
    }
    assert_eq!(
        states[0].0.len(),
        4,
        "four payments, the unreadable event skipped"
    );
    assert_eq!(states[0].1, "paid");
    assert_eq!(
        states[0], states[1],
        "the same tables and the same announcements"
    );
}

#[tokio::test]
async fn automation_rules_run_in_order_only_when_their_condition_holds_and_once_per_event() {
    use ziflow_core::crm::{self, Condition, Rule, RuleAction, Trigger};
    let (_d, db) = db_with_shop().await;
    let rules = vec![
        Rule {
            id: "big".into(),
            on: Trigger::PaymentSucceeded,
            when: Some(Condition {
                amount_at_least: Some(20_000),
                ..Condition::default()
            }),
            actions: vec![RuleAction::AddTag { tag: "vip".into() }],
        },
        Rule {
            id: "repeat".into(),
            on: Trigger::PaymentSucceeded,
            when: Some(Condition {
                has_tag: Some("paid".into()),
                ..Condition::default()
            }),
            actions: vec![RuleAction::AddTag {
                tag: "repeat".into(),
            }],
        },
        Rule {
            id: "paid".into(),
            on: Trigger::PaymentSucceeded,
            when: None,
            actions: vec![
                RuleAction::SetStage {
                    stage: "Paid".into(),
                },
                RuleAction::AddTag { tag: "paid".into() },
            ],
        },
    ];
    let stages: Vec<String> = crm::STAGES.iter().map(|s| s.to_string()).collect();
    crm::check_rules(&rules, &stages).unwrap();
    let bad = vec![Rule {
        id: "x".into(),
        on: Trigger::InvoiceSent,
        when: None,
        actions: vec![RuleAction::SetStage {
            stage: "Won".into(),
        }],
    }];
    assert!(crm::check_rules(&bad, &stages)
        .unwrap_err()
        .to_string()
        .contains("not a stage"));
    settings::set(
        &db,
        "s1",
        "automations",
        &serde_json::to_string(&rules).unwrap(),
    )
    .await
    .unwrap();
    let phone = "+15125550123";
    let mut conn = db.acquire().await.unwrap();
    for (n, id) in [(1_i64, 1_i64), (2, 2)] {
        let inv = ordered(&db, "s1", &cream_order(phone), 1000).await.unwrap();
        assert_eq!(inv.id, id);
        let event = events::Event {
            id: 100 + n,
            shop_uid: "s1".into(),
            kind: "invoice.paid".into(),
            payload: serde_json::json!({"invoice_id": inv.id}).to_string(),
            provider_id: None,
            created_at: 2000 + n,
        };
        for _ in 0..2 {
            ziflow_core::projection::apply(&mut conn, &event)
                .await
                .unwrap();
        }
    }
    drop(conn);
    let lead = crm::lead(&db, "s1", phone).await.unwrap().unwrap();
    assert_eq!(lead.stage, "Paid");
    // $128 is under the VIP line; rules run in order, so "repeat" (before "paid") sees the
    // tag only at the second payment.
    assert_eq!(lead.tags, vec!["paid", "repeat"]);
    assert_eq!(
        lead.history.len(),
        3,
        "paid twice (once per event, though each was applied twice) and repeat once: {:?}",
        lead.history
    );
}

/// A replica that already holds a log written before the event vocabulary was typed (one
/// event of every kind, in the shapes version 0.1.0 wrote them) applies it to the same state:
/// nothing is skipped, and the story it tells — an order paid, shipped and refunded, settings
/// changed — is what the screens show.
#[tokio::test]
async fn a_log_written_before_typed_events_still_applies_to_the_same_replica() {
    let (_d, db) = db_with_shop().await;
    let log = include_str!("../../../protocol/tests/fixtures/log-0.1.jsonl");
    let mut tx = db.begin_immediate().await.unwrap();
    for (n, line) in log.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = i64::try_from(n).unwrap() + 1;
        let event = events::Event {
            id,
            shop_uid: "s1".into(),
            kind: row["kind"].as_str().unwrap().into(),
            payload: row["payload"].to_string(),
            provider_id: None,
            created_at: 1_764_500_000 + id * 10,
        };
        assert!(events::insert_replica(&mut tx, &event).await.unwrap());
        let applied = ziflow_core::projection::apply_or_skip(&mut tx, &event)
            .await
            .unwrap();
        assert!(applied.is_some(), "event {id} ({}) was skipped", event.kind);
    }
    tx.commit().await.unwrap();

    let inv = invoices::get(&db, "s1", 1).await.unwrap();
    assert_eq!(inv.number, 1001);
    assert_eq!(inv.total_minor, 5_500, "2 × $25.00 + $5.00 shipping");
    assert!(inv.paid_at.is_some(), "the sandbox checkout paid it");
    assert_eq!(inv.fulfilment_stage.as_deref(), Some("shipped"));
    assert_eq!(inv.refunded_minor, 5_500, "then it was refunded in full");
    let thread = conversations::thread(&db, "s1", "+15125550123")
        .await
        .unwrap();
    assert_eq!(
        thread.len(),
        6,
        "two messages from Ann, four to her: {thread:#?}"
    );
    assert_eq!(
        (thread[0].direction.as_str(), thread[0].body.as_str()),
        ("in", "hi, 2 black tees size M to Austin please")
    );
    assert_eq!(thread[2].body, "Yes", "a tapped button reads as its title");
    assert_eq!(thread[3].author.as_deref(), Some("bot"));
    assert_eq!(
        thread[3].status.as_deref(),
        Some("delivered"),
        "the invoice message's delivery and status events reached it"
    );
    for (key, want) in [
        (
            "template.invoice",
            "Hi {name}, your total is {total}: {link}",
        ),
        ("llm.model", "llama3"),
        ("channel", "sandbox"),
        ("billing.provider", "sandbox"),
    ] {
        assert_eq!(
            settings::get(&db, "s1", key).await.unwrap().as_deref(),
            Some(want),
            "setting {key}"
        );
    }
}

#[tokio::test]
async fn a_job_whose_lease_ran_out_and_was_claimed_again_keeps_only_the_new_attempts_result() {
    use ziflow_core::storage::jobs;
    let (_d, db) = db_with_shop().await;
    let mut tx = db.begin_immediate().await.unwrap();
    jobs::enqueue_in(
        &mut tx,
        "s1",
        "test.work",
        "k1",
        &serde_json::json!({}),
        100,
        100,
    )
    .await
    .unwrap();
    let first = jobs::claim_in(&mut tx, 100, 8, None, &[])
        .await
        .unwrap()
        .remove(0);
    tx.commit().await.unwrap();
    // The first runner hangs past its lease; a runner (here or on another relay) claims the
    // job again.
    let later = 100 + jobs::LEASE_SECS;
    let mut tx = db.begin_immediate().await.unwrap();
    let second = jobs::claim_in(&mut tx, later, 8, None, &[])
        .await
        .unwrap()
        .remove(0);
    tx.commit().await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempts, first.attempts + 1);
    // The first runner finishes now: its result is refused and changes nothing.
    let mut tx = db.begin_immediate().await.unwrap();
    let stale = jobs::done_in(&mut tx, &first, later + 1).await;
    assert!(matches!(stale, Err(Error::Stale(_))), "{stale:?}");
    drop(tx);
    let job = jobs::get(&db, first.id).await.unwrap().unwrap();
    assert_eq!(job.state, "pending", "still the second attempt's");
    // The second attempt's result counts.
    let mut tx = db.begin_immediate().await.unwrap();
    jobs::done_in(&mut tx, &second, later + 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        jobs::get(&db, first.id).await.unwrap().unwrap().state,
        "done"
    );
}

#[tokio::test]
async fn the_engines_lag_is_told_per_shop() {
    use ziflow_core::storage::engine;
    let (_d, db) = db_with_shop().await;
    shops::create(&db, "s2", "Other", "USD", "UTC", 1)
        .await
        .unwrap();
    let mut tx = db.begin_immediate().await.unwrap();
    let payload = serde_json::json!({});
    let mut last = 0;
    for shop in ["s1", "s2", "s1"] {
        last = events::append(&mut tx, shop, "test.thing", &payload, None, 5)
            .await
            .unwrap()
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        engine::lag_by_shop(&db).await.unwrap(),
        vec![("s1".to_string(), 2), ("s2".to_string(), 1)],
        "the shop furthest behind first"
    );
    let mut tx = db.begin_immediate().await.unwrap();
    engine::set_cursor(&mut tx, engine::PROJECTION, last)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(engine::lag_by_shop(&db).await.unwrap().is_empty());
}

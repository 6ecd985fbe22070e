//! End-to-end tests of the real ZiFlow window: the built app, launched by tauri-driver under
//! Xvfb, driven through WebDriver. Each test saves screenshots to target/e2e-artifacts.

use std::io::Cursor;

use base64::Engine;
use ziflow_core::Db;
use ziflow_tests::tls::HttpsServer;
use ziflow_tests::{AppSession, Launch};

/// The relay tests' Stripe stand-in (Prices and Payment Links, which localstripe lacks),
/// the same file: a remote shop connects Stripe and gets real-shaped pay links from it.
#[allow(dead_code)]
#[path = "../../crates/relay/tests/it/fake_stripe.rs"]
mod fake_stripe;

/// Every screen, what its empty state must say, and the element that carries it.
const EMPTY_SCREENS: [(&str, &str, &str); 6] = [
    ("inbox", "#empty-inbox", "No conversations yet"),
    ("invoices", "#empty-invoices", "No invoices yet"),
    ("ready-to-ship", "#empty-board", "Nothing to ship yet"),
    ("payments", "#empty-payments", "No payments yet"),
    ("crm", "#empty-leads", "No leads yet"),
    ("metrics", "#empty-metrics", "No invoices sent yet"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_opens_the_window_and_every_screen_explains_its_empty_state() {
    let app = AppSession::launch(Launch {
        name: "fresh".into(),
        ..Launch::default()
    })
    .await
    .unwrap();

    let title = app.client().title().await.unwrap();
    assert_eq!(title, "ZiFlow", "the window shows the ZiFlow page");
    let windows = app.window_titles().unwrap();
    assert!(
        windows.iter().any(|t| t == "ZiFlow"),
        "a real window titled ZiFlow is on the display: {windows:?}"
    );

    for (slug, css, heading) in EMPTY_SCREENS {
        app.open_screen(slug).await.unwrap();
        let text = app.wait_for_text(css, heading).await.unwrap();
        assert!(
            text.len() > heading.len() + 40,
            "the {slug} empty state also says how to get data there, not just {heading:?}: {text:?}"
        );
        let shot = app.screenshot(slug).await.unwrap();
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 5_000,
            "a real PNG of the window"
        );
    }

    app.open_screen("settings").await.unwrap();
    assert_eq!(
        app.text("#setting-shop-name").await.unwrap(),
        "Demo Boutique",
        "a fresh install creates the demo shop"
    );
    assert_eq!(
        app.text("#setting-version").await.unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        app.text("#setting-provider")
            .await
            .unwrap()
            .contains("Sandbox"),
        "without Stripe connected, payments run on the sandbox provider"
    );
    app.screenshot("settings").await.unwrap();
    // The owner's housekeeping: this desk is the shop's owner device, nothing is set aside.
    app.wait_for_text("#devices-table", "Owner").await.unwrap();
    app.wait_for_text("#set-aside", "None: every event")
        .await
        .unwrap();
    app.scroll_to("#devices").await.unwrap();
    app.screenshot("settings-devices").await.unwrap();

    assert!(
        app.data_path().join("ziflow.db").exists(),
        "the app keeps its data in a real SQLite file in ZIFLOW_DATA_DIR"
    );
    app.close().await.unwrap();
}

/// A local install's relay folder (`<data>/relay`), made before the app's first start the
/// way the app makes it: the shop `local`, its sandbox webhook secrets, and this desk's
/// device token. The app then runs this relay and syncs its window from it.
struct LocalShop {
    dir: std::path::PathBuf,
    key: ziflow_core::secrets::MasterKey,
    /// The secret its Cloud-API-format (WhatsApp) webhooks are signed with.
    whatsapp_secret: String,
    token: String,
}

impl LocalShop {
    async fn provision(data: &std::path::Path, name: &str, timezone: &str) -> Self {
        use ziflow_core::secrets::MasterKey;
        use ziflow_core::storage::shop_secrets::{self, SecretName};
        let dir = data.join("relay");
        std::fs::create_dir_all(&dir).unwrap();
        let key_hex = "5a".repeat(32);
        ziflow_relay::config::write_private(&dir.join("master.key"), &key_hex).unwrap();
        let key = MasterKey::parse(&key_hex).unwrap();
        let db = ziflow_relay::open_db(&dir).await.unwrap();
        ziflow_relay::provision::create_shop_with_uid(&db, "local", name, "USD", timezone)
            .await
            .unwrap();
        let whatsapp_secret = "e2e_local_app_secret".to_string();
        for (which, secret) in [
            (SecretName::StripeWebhook, "whsec_e2e_local"),
            (SecretName::WhatsAppApp, whatsapp_secret.as_str()),
        ] {
            shop_secrets::set(&db, &key, "local", which, secret)
                .await
                .unwrap();
        }
        let device =
            ziflow_relay::provision::add_device(&db, "local", "This computer", "owner", "")
                .await
                .unwrap();
        ziflow_relay::config::write_private(&dir.join("desktop.token"), &device.device_token)
            .unwrap();
        db.close().await;
        Self {
            dir,
            key,
            whatsapp_secret,
            token: device.device_token,
        }
    }
}

/// The local shop's relay running in the test, on a clock the test sets: how a fixture
/// gives a shop a history (commands, signed webhooks, the sandbox pay page) before the app
/// opens it.
struct HistoryRelay {
    base: String,
    token: String,
    whatsapp_secret: String,
    clock: ziflow_core::ManualClock,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl HistoryRelay {
    async fn start(shop: &LocalShop, now: i64) -> Self {
        let clock = ziflow_core::ManualClock::new(now);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ziflow_relay::Config {
            data_dir: shop.dir.clone(),
            postgres: None,
            master_key: shop.key.clone(),
            providers: ziflow_relay::config::ProviderConfig::sandboxed(),
        };
        let running = tokio::spawn(ziflow_relay::run_with_clock(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
            std::sync::Arc::new(clock.clone()),
        ));
        Self {
            base,
            token: shop.token.clone(),
            whatsapp_secret: shop.whatsapp_secret.clone(),
            clock,
            http: reqwest::Client::new(),
            stop,
            running,
        }
    }

    /// Runs a desk command; panics with the relay's answer unless it succeeds.
    async fn command(&self, key: &str, command: serde_json::Value) -> serde_json::Value {
        let answer = self
            .http
            .post(format!("{}/api/v1/commands", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&command)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap();
        assert!(
            status.is_success(),
            "{command} was refused: {status} {body}"
        );
        body
    }

    /// The customer `from` (E.164, shown as `name`) writes `text`: the Cloud API webhook
    /// WhatsApp would deliver, signed with the shop's app secret.
    async fn inbound(&self, from: &str, name: &str, text: &str) {
        let digits = from.trim_start_matches('+');
        let now = ziflow_core::Clock::now(&self.clock);
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{
            "id": "e2e", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": "e2e"},
                "contacts": [{"wa_id": digits, "profile": {"name": name}}],
                "messages": [{"from": digits, "id": format!("wamid.e2e.{now}"),
                    "timestamp": now.to_string(), "type": "text", "text": {"body": text}}]}}]}]})
        .to_string();
        let status = self
            .http
            .post(format!("{}/api/whatsapp/webhook/local", self.base))
            .header(
                ziflow_core::webhook::whatsapp::HEADER,
                ziflow_core::webhook::whatsapp::sign(&self.whatsapp_secret, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the relay takes the signed message");
    }

    /// The shop's log, as its desk pulls it.
    async fn log(&self) -> Vec<ziflow_protocol::Event> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page: ziflow_protocol::sync::EventsPage = self
                .http
                .get(format!("{}/api/v1/events", self.base))
                .query(&[("after", after), ("limit", 1000)])
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for e in &page.events {
                out.push(e.event().unwrap());
            }
            after = page.next_cursor;
            if !page.more {
                return out;
            }
        }
    }

    /// Waits (up to 30 s) until the log holds an event that `matches`.
    async fn logged(&self, what: &str, matches: impl Fn(&ziflow_protocol::Event) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log().await;
            if log.iter().any(&matches) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} never reached the log: {log:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.running.await.unwrap().unwrap();
    }
}

/// The story's order as a desk sends it: Maria's hydrating cream, $120 + $8 shipping.
fn story_invoice() -> serde_json::Value {
    serde_json::json!({"type": "invoice.create", "customer_phone": "+15125550123",
        "currency": "USD", "items": [{"sku": "HC-50", "name": "Hydrating cream",
        "variant": "50ml", "qty": 1, "unit_minor": 12000}],
        "shipping_minor": 800, "address": "123 Oak St."})
}

/// Gives the local shop the history of the story, through the relay the app will run: a
/// rep invoices Maria, writes her the link and keeps the conversation (the bot stays out);
/// she confirms her address and pays on the (sandbox) pay page; a second invoice is sent to
/// another customer and not paid.
async fn seed(dir: &std::path::Path) {
    use ziflow_protocol::Event;
    let shop = LocalShop::provision(dir, "Glow Bar", "America/Denver").await;
    let sent_at = 1_790_000_000;
    let relay = HistoryRelay::start(&shop, sent_at).await;

    let made = relay.command("seed-story-invoice", story_invoice()).await;
    assert_eq!(made["number"], 1001, "{made}");
    let sent = relay
        .command(
            "seed-story-send",
            serde_json::json!({"type": "invoice.send", "invoice_id": made["invoice_id"]}),
        )
        .await;
    let link = sent["link"].as_str().unwrap_or_default().to_string();
    assert!(link.contains("/sandbox/pay/"), "{sent}");
    relay
        .command(
            "seed-story-link",
            serde_json::json!({"type": "message.send", "to": "+15125550123",
            "text": format!("Hi Maria! Your order #1001 is $128, pay here: {link}")}),
        )
        .await;
    relay
        .logged(
            "the link's message to Maria",
            |e| matches!(e, Event::MessageSent(m) if m.to == "+15125550123"),
        )
        .await;
    relay
        .command(
            "seed-story-takeover",
            serde_json::json!({"type": "conversation.bot", "phone": "+15125550123",
            "enabled": false}),
        )
        .await;

    relay.clock.set(sent_at + 400);
    relay
        .inbound("+15125550123", "Maria", "yes, 123 Oak St.")
        .await;
    relay.clock.set(sent_at + 540);
    let paid = relay
        .http
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("outcome=card")
        .send()
        .await
        .unwrap();
    assert!(
        paid.status().is_success() || paid.status().is_redirection(),
        "the pay page takes the payment: {}",
        paid.status()
    );
    relay
        .logged("invoice #1001 paid", |e| {
            matches!(e, Event::InvoicePaid(p) if Some(p.invoice_id) == made["invoice_id"].as_i64())
        })
        .await;

    relay.clock.set(sent_at + 900);
    let waiting = relay
        .command(
            "seed-waiting-invoice",
            serde_json::json!({"type": "invoice.create", "customer_phone": "+447700900123",
            "currency": "USD", "items": [{"sku": "JKT", "name": "Denim jacket",
            "variant": "M", "qty": 1, "unit_minor": 124050}], "shipping_minor": 0}),
        )
        .await;
    relay
        .command(
            "seed-waiting-send",
            serde_json::json!({"type": "invoice.send", "invoice_id": waiting["invoice_id"]}),
        )
        .await;
    relay
        .logged("invoice #1002 sent", |e| {
            matches!(e, Event::InvoiceSent(s) if Some(s.invoice_id) == waiting["invoice_id"].as_i64())
        })
        .await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_shows_what_is_in_the_database() {
    let dir = AppSession::data_dir().unwrap();
    seed(dir.path()).await;
    let exports = tempfile::tempdir().unwrap();
    let app = AppSession::launch_in(
        dir,
        Launch {
            name: "seeded".into(),
            env: vec![(
                "ZIFLOW_EXPORT_DIR".into(),
                exports.path().display().to_string(),
            )],
        },
    )
    .await
    .unwrap();

    app.open_screen("inbox").await.unwrap();
    let inbox = app
        .wait_for_text("#conversation-list", "Maria")
        .await
        .unwrap();
    app.screenshot("inbox").await.unwrap();
    assert!(
        inbox.contains("yes, 123 Oak St.") && inbox.contains("+1 512 555 0123"),
        "the last message is previewed next to the customer's phone: {inbox:?}"
    );
    app.screenshot("inbox").await.unwrap();

    app.open_screen("invoices").await.unwrap();
    let list = app.wait_for_text("#invoice-list", "#1001").await.unwrap();
    assert!(
        list.contains("$128"),
        "paid invoice total reads $128: {list:?}"
    );
    assert!(list.contains("Paid"), "its status is Paid: {list:?}");
    assert!(
        list.contains("#1002") && list.contains("$1,240.50"),
        "second invoice: {list:?}"
    );
    // Its link was sent in September: the app's relay, catching up on today's clock,
    // expires it (nobody can pay a link that old).
    app.wait_for_text("#invoice-list", "Expired").await.unwrap();
    assert!(
        list.contains("+44 770 090 0123"),
        "phones are grouped for reading: {list:?}"
    );
    app.screenshot("invoices").await.unwrap();

    app.open_screen("ready-to-ship").await.unwrap();
    let column = app
        .wait_for_text("section[data-stage='ready_to_ship']", "#1001")
        .await
        .unwrap();
    assert!(
        column.contains("1 × Hydrating cream (50ml)"),
        "card lists items: {column:?}"
    );
    assert!(
        column.contains("123 Oak St."),
        "card shows the address: {column:?}"
    );
    assert!(
        !column.contains("#1002"),
        "an unpaid invoice is not on the board: {column:?}"
    );
    app.screenshot("ready-to-ship").await.unwrap();

    app.open_screen("payments").await.unwrap();
    let feed = app
        .wait_for_text("#payment-feed", "Payment received")
        .await
        .unwrap();
    assert!(
        feed.contains("order #1001") && feed.contains("$128") && feed.contains("+1 512 555 0123"),
        "{feed:?}"
    );
    app.screenshot("payments").await.unwrap();

    app.open_screen("metrics").await.unwrap();
    app.wait_for("#metrics-figures").await.unwrap();
    assert_eq!(
        app.text("#metric-invoices").await.unwrap(),
        "2",
        "two invoices were sent"
    );
    assert_eq!(app.text("#metric-paid-24h").await.unwrap(), "1");
    assert_eq!(app.text("#metric-conversion").await.unwrap(), "50.0%");
    assert_eq!(app.text("#metric-revenue").await.unwrap(), "$128");
    assert_eq!(app.text("#metric-manual").await.unwrap(), "0");
    // The period starts at the first invoice (older than 30 days); the revenue chart has the
    // paid day's bar, in the shop's time zone.
    assert_eq!(
        app.wait_for("#metrics-from")
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("2026-09-21")
    );
    let bar = app
        .wait_for("#chart-revenue rect[data-day='2026-09-21']")
        .await
        .unwrap();
    assert_eq!(
        bar.attr("data-value").await.unwrap().as_deref(),
        Some("12800")
    );
    app.click("#metric-conversion + details summary")
        .await
        .unwrap();
    app.wait_for_text(
        "#metrics-figures",
        "divided by the invoices sent in the period",
    )
    .await
    .unwrap();
    app.screenshot("metrics").await.unwrap();
    app.click("#metrics-export").await.unwrap();
    let path = app
        .wait_for_text("#metrics-export-result", ".csv")
        .await
        .unwrap();
    assert!(path.contains("ziflow-metrics-2026-09-21-"), "{path}");
    let csv_file = std::fs::read_dir(exports.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let csv = std::fs::read_to_string(csv_file).unwrap();
    assert!(
        csv.starts_with("day,invoices_sent,paid_within_24h,conversion_24h_percent,revenue_usd\n"),
        "{csv}"
    );
    assert!(csv.contains("\n2026-09-21,2,1,50.00,128\n"), "{csv}");

    app.open_screen("settings").await.unwrap();
    assert_eq!(
        app.text("#setting-shop-name").await.unwrap(),
        "Glow Bar",
        "an existing shop is kept, not replaced by the demo shop"
    );
    app.close().await.unwrap();
}

/// A signed update as a release pipeline would publish it.
struct Release {
    manifest: String,
    bundle: Vec<u8>,
}

fn base64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn release(version: &str, base: &str, signer: &minisign::KeyPair) -> Release {
    let bundle = format!("ZiFlow {version} bundle for tests").into_bytes();
    let trusted = format!("timestamp:1790000000\tfile:ziflow_{version}.tar.gz\tversion:{version}");
    let sig = minisign::sign(
        Some(&signer.pk),
        &signer.sk,
        Cursor::new(&bundle),
        Some(&trusted),
        Some("signature from tauri secret key"),
    )
    .unwrap();
    let manifest = serde_json::json!({
        "version": version,
        "notes": format!("What's new in {version}"),
        "pub_date": "2026-11-26T00:00:00Z",
        "platforms": {
            "linux-x86_64": {
                "url": format!("{base}/ziflow_{version}.tar.gz"),
                "signature": base64(&sig.to_string()),
            }
        }
    })
    .to_string();
    Release { manifest, bundle }
}

fn keypair() -> minisign::KeyPair {
    minisign::KeyPair::generate_unencrypted_keypair().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_updater_accepts_a_signed_newer_version_and_refuses_a_bad_signature() {
    let server = HttpsServer::start().await.unwrap();
    let project_key = keypair();
    let dir = AppSession::data_dir().unwrap();
    let ca = dir.path().join("update-ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[update]\nendpoint = \"{}/latest.json\"\npubkey = \"{}\"\nca_cert = \"{}\"\n",
            server.base,
            base64(&project_key.pk.to_box().unwrap().to_string()),
            ca.display()
        ),
    )
    .unwrap();
    let serve = |r: &Release, version: &str| {
        server.put("/latest.json", "application/json", r.manifest.clone());
        server.put(
            &format!("/ziflow_{version}.tar.gz"),
            "application/octet-stream",
            r.bundle.clone(),
        );
    };

    let app = AppSession::launch_in(
        dir,
        Launch {
            name: "updater".into(),
            ..Launch::default()
        },
    )
    .await
    .unwrap();
    app.open_screen("settings").await.unwrap();

    // 1. The server offers the running version: nothing to do.
    serve(
        &release(env!("CARGO_PKG_VERSION"), &server.base, &project_key),
        env!("CARGO_PKG_VERSION"),
    );
    app.click("#check-updates").await.unwrap();
    let text = app
        .wait_for_text("#update-result", "up to date")
        .await
        .unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text:?}");

    // 2. A newer version signed with the project's key: seen, downloaded and verified.
    serve(&release("0.2.0", &server.base, &project_key), "0.2.0");
    app.click("#check-updates").await.unwrap();
    let text = app
        .wait_for_text("#update-result[data-outcome='available']", "0.2.0")
        .await
        .unwrap();
    assert!(
        text.contains("verified"),
        "the app says the download verified: {text:?}"
    );
    assert!(
        text.contains("What's new in 0.2.0"),
        "release notes are shown: {text:?}"
    );
    app.screenshot("update-available").await.unwrap();

    // 3. The same offer signed with someone else's key: refused.
    serve(&release("0.2.1", &server.base, &keypair()), "0.2.1");
    app.click("#check-updates").await.unwrap();
    let text = app
        .wait_for_text("#update-result[data-outcome='update_signature']", "refused")
        .await
        .unwrap();
    assert!(
        text.contains("0.2.1"),
        "the refusal names the version: {text:?}"
    );
    assert!(
        !text.contains("is available"),
        "a bad signature is never offered: {text:?}"
    );
    app.screenshot("update-refused").await.unwrap();
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_payment_reaches_the_open_payment_feed_and_the_desktop_notifications() {
    ziflow_relay::install_crypto_provider();
    let dir = AppSession::data_dir().unwrap();
    LocalShop::provision(dir.path(), "Glow Bar", "America/Chicago").await;
    let port = ziflow_tests::free_port().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!("[local_relay]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();

    let app = AppSession::launch_in(
        dir,
        Launch {
            name: "live-payment".into(),
            ..Launch::default()
        },
    )
    .await
    .unwrap();
    app.wait_for_text("#sync-status", "Online").await.unwrap();
    app.open_screen("payments").await.unwrap();
    app.wait_for("#empty-payments").await.unwrap();

    // The story's invoice, created on the relay the way a desk does it (a command); the
    // window learns it from the log.
    let token = std::fs::read_to_string(app.data_path().join("relay/desktop.token")).unwrap();
    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/commands"))
        .bearer_auth(token.trim())
        .header("Idempotency-Key", "e2e-story-invoice")
        .json(&story_invoice())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(made["number"], 1001, "{made}");
    let invoice_id = made["invoice_id"].as_i64().unwrap();
    app.open_screen("invoices").await.unwrap();
    app.wait_for_text("#invoice-list", "#1001").await.unwrap();
    app.open_screen("payments").await.unwrap();

    // Sent with a pay link (the sandbox's: this shop has not connected Stripe), and paid on
    // its page — the same signed intake, engine and sync a Stripe payment takes. Only the
    // provider that made the link can pay it, so a Stripe-signed event could not.
    let sent: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/commands"))
        .bearer_auth(token.trim())
        .header("Idempotency-Key", "e2e-story-send")
        .json(&serde_json::json!({"type": "invoice.send", "invoice_id": invoice_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = sent["link"].as_str().unwrap_or_default().to_string();
    assert!(link.contains("/sandbox/pay/"), "{sent}");
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("outcome=card")
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303, "the pay page takes the payment");

    let feed = app.wait_for_text("#payment-feed", "$128").await.unwrap();
    assert!(
        feed.contains("+1 512 555 0123"),
        "the feed names the customer: {feed:?}"
    );
    assert!(feed.contains("order #1001"), "and the order: {feed:?}");
    app.screenshot("payment-feed").await.unwrap();
    app.wait_for_notification("Payment $128 from +1 512 555 0123, order #1001")
        .await
        .unwrap();

    // Clicking the notification (its default action, through the notification server) opens
    // the payment feed on that order, from wherever the rep was.
    app.open_screen("inbox").await.unwrap();
    app.click_newest_notification().unwrap();
    app.wait_for("main[data-screen='payments'] li.focused[data-order='1001']")
        .await
        .unwrap();
    app.screenshot("notification-clicked").await.unwrap();

    app.open_screen("ready-to-ship").await.unwrap();
    app.wait_for_text("section[data-stage='ready_to_ship']", "#1001")
        .await
        .unwrap();
    app.screenshot("ready-to-ship").await.unwrap();
    app.close().await.unwrap();
}

/// Posts a paid `checkout.session.completed` event, signed as Stripe would, to `url`;
/// returns the HTTP status.
async fn post_paid_checkout(
    url: &str,
    secret: &str,
    event_id: &str,
    amount_minor: i64,
    metadata: serde_json::Value,
) -> u16 {
    let body = serde_json::json!({
        "id": event_id, "object": "event", "type": "checkout.session.completed",
        "data": {"object": {"object": "checkout.session", "payment_status": "paid",
            "amount_total": amount_minor, "currency": "usd", "metadata": metadata}}
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig =
        ziflow_core::webhook::stripe::sign(secret, body.as_bytes(), i64::try_from(now).unwrap());
    reqwest::Client::new()
        .post(url)
        .header("Stripe-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A relay elsewhere (here: another process's worth of relay on 127.0.0.1) with a shop of its
/// own and a device token for this desk; its Stripe is the stand-in.
struct RemoteRelay {
    base: String,
    uid: String,
    /// The rep's device this desk pairs as.
    token: String,
    /// The owner's, who connects Stripe.
    owner_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    _stripe: fake_stripe::FakeStripe,
}

impl RemoteRelay {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_hex = "7b".repeat(32);
        let key = ziflow_core::secrets::MasterKey::parse(&key_hex).unwrap();
        let db = ziflow_relay::open_db(dir.path()).await.unwrap();
        let shop =
            ziflow_relay::provision::create_shop(&db, "Remote Boutique", "USD", "America/Chicago")
                .await
                .unwrap();
        ziflow_relay::provision::set_secrets(&db, &key, &shop.uid, Some("whsec_e2e_remote"), None)
            .await
            .unwrap();
        let device = ziflow_relay::provision::add_device(&db, &shop.uid, "Front desk", "rep", "")
            .await
            .unwrap();
        let owner = ziflow_relay::provision::add_device(&db, &shop.uid, "Owner", "owner", "")
            .await
            .unwrap();
        db.close().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stripe = fake_stripe::FakeStripe::start().await;
        let config = ziflow_relay::Config {
            data_dir: dir.path().to_path_buf(),
            postgres: None,
            master_key: key,
            providers: ziflow_relay::config::ProviderConfig {
                stripe_api_base: stripe.base.clone(),
                allow_loopback_outbound: true,
                ..ziflow_relay::config::ProviderConfig::default()
            },
        };
        tokio::spawn(ziflow_relay::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            uid: shop.uid,
            token: device.device_token,
            owner_token: owner.device_token,
            stop: Some(stop),
            _dir: dir,
            _stripe: stripe,
        }
    }
}

impl Drop for RemoteRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_with_a_remote_relay_keeps_the_token_in_the_keyring_and_syncs_its_shop() {
    ziflow_relay::install_crypto_provider();
    let remote = RemoteRelay::start().await;
    let app = AppSession::launch(Launch {
        name: "pairing".into(),
        ..Launch::default()
    })
    .await
    .unwrap();
    app.wait_for_text("#shop-name", "Demo Boutique")
        .await
        .unwrap();
    app.open_screen("settings").await.unwrap();
    app.wait_for("#relay-mode[data-mode='local']")
        .await
        .unwrap();

    // A wrong token is refused with the relay's reason, and nothing changes.
    app.type_into("#pair-url", &remote.base).await.unwrap();
    app.type_into("#pair-token", "zdt_not_a_real_token")
        .await
        .unwrap();
    app.click("#pair-submit").await.unwrap();
    let refused = app
        .wait_for_text("#pair-result[data-outcome='pairing_failed']", "refused")
        .await
        .unwrap();
    assert!(refused.contains(&remote.base), "names the relay: {refused}");
    app.wait_for("#relay-mode[data-mode='local']")
        .await
        .unwrap();
    assert!(!app.data_path().join("pairing.toml").exists());
    app.screenshot("pairing-refused").await.unwrap();

    // The right token pairs: the window switches to the relay's shop.
    app.type_into("#pair-token", &remote.token).await.unwrap();
    app.click("#pair-submit").await.unwrap();
    app.wait_for_text("#pair-result[data-outcome='paired']", "Paired with")
        .await
        .unwrap();
    app.wait_for("#relay-mode[data-mode='paired']")
        .await
        .unwrap();
    app.wait_for_text("#shop-name", "Remote Boutique")
        .await
        .unwrap();
    app.wait_for_text("#sync-status", "Online").await.unwrap();
    // A rep's device: no Metrics and no AI Agent setup in the sidebar (the relay refuses the
    // owner's commands from it anyway).
    app.wait_for("#nav-metrics[hidden]").await.unwrap();
    app.wait_for("#nav-agent[hidden]").await.unwrap();
    app.screenshot("paired").await.unwrap();

    // The token is in the keyring, not in any file of the app's.
    let pairing = std::fs::read_to_string(app.data_path().join("pairing.toml")).unwrap();
    assert!(pairing.contains(&remote.base), "{pairing}");
    for file in files_under(app.data_path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(remote.token.len())
                .any(|w| w == remote.token.as_bytes()),
            "the device token is stored in plain {}",
            file.display()
        );
    }

    // A payment taken by the remote relay reaches this desk.
    let status = post_paid_checkout(
        &format!("{}/api/payment/webhook/{}", remote.base, remote.uid),
        "whsec_e2e_remote",
        "evt_e2e_remote",
        4_500,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200);
    app.open_screen("payments").await.unwrap();
    app.wait_for_text("#payment-feed", "$45").await.unwrap();
    app.wait_for_notification("Payment $45").await.unwrap();
    app.screenshot("paired-payment").await.unwrap();

    // This relay runs no sandbox and the shop has no Stripe: the composer says no pay link
    // can be sent, before anything is typed.
    app.open_screen("invoices").await.unwrap();
    app.click("#new-invoice").await.unwrap();
    app.wait_for_text("#composer-no-provider", "No payment provider connected")
        .await
        .unwrap();
    app.screenshot("no-provider").await.unwrap();
    app.click("#new-invoice").await.unwrap();

    // The owner connects Stripe (the relay checks the key with it), and an invoice is sent
    // with a Stripe pay link; then a signed payment of the wrong amount for it: not paid,
    // shown with both figures, and the rep is told.
    let command = |key: &'static str, body: serde_json::Value| {
        let (base, token) = (remote.base.clone(), remote.owner_token.clone());
        async move {
            let res = reqwest::Client::new()
                .post(format!("{base}/api/v1/commands"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_success(),
                "{body} refused: {}",
                res.status()
            );
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let connected: ziflow_protocol::answer::BillingConnect = serde_json::from_value(
        command(
            "e2e-remote-stripe",
            serde_json::json!({"type": "billing.connect", "key": "sk_test_51HzFakeKeyForZiFlow"}),
        )
        .await,
    )
    .unwrap();
    assert_eq!(connected.mode, "test");
    let made: ziflow_protocol::answer::InvoiceCreate =
        serde_json::from_value(command("e2e-remote-invoice", story_invoice()).await).unwrap();
    let invoice_id = made.invoice_id;
    let sent: ziflow_protocol::answer::InvoiceSend = serde_json::from_value(
        command(
            "e2e-remote-send",
            serde_json::json!({"type": "invoice.send", "invoice_id": invoice_id}),
        )
        .await,
    )
    .unwrap();
    assert_eq!(sent.provider.as_deref(), Some("stripe"), "{sent:?}");
    app.open_screen("invoices").await.unwrap();
    app.wait_for_text("#invoice-list", "#1001").await.unwrap();
    let status = post_paid_checkout(
        &format!("{}/api/payment/webhook/{}", remote.base, remote.uid),
        "whsec_e2e_remote",
        "evt_e2e_short",
        100,
        serde_json::json!({"ziflow_shop": remote.uid, "ziflow_invoice": invoice_id.to_string()}),
    )
    .await;
    assert_eq!(status, 200);
    app.open_screen("payments").await.unwrap();
    let feed = app
        .wait_for_text("#payment-feed", "Does not match the invoice")
        .await
        .unwrap();
    assert!(
        feed.contains("paid $1, invoice $128") && feed.contains("order #1001"),
        "both figures, and the order: {feed}"
    );
    app.wait_for_notification("Order #1001: paid $1, invoice $128")
        .await
        .unwrap();
    app.screenshot("mismatch").await.unwrap();

    // Back to this computer only: the keyring entry and the pairing file go.
    app.open_screen("settings").await.unwrap();
    app.click("#relay-unpair").await.unwrap();
    app.wait_for("#relay-mode[data-mode='local']")
        .await
        .unwrap();
    app.wait_for_text("#shop-name", "Demo Boutique")
        .await
        .unwrap();
    assert!(!app.data_path().join("pairing.toml").exists());
    // Back on this computer's own relay, as its owner.
    app.wait_for("#nav-metrics:not([hidden])").await.unwrap();
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_template_is_checked_while_typed_and_saved_through_the_relay() {
    let app = AppSession::launch(Launch {
        name: "template".into(),
        ..Launch::default()
    })
    .await
    .unwrap();
    app.open_screen("settings").await.unwrap();
    let preview = app
        .wait_for_text("#template-preview", "Total: $128")
        .await
        .unwrap();
    assert!(
        preview.starts_with("Your order: Hydrating cream $120, shipping $8."),
        "the default, rendered for the sample order: {preview}"
    );

    // An unknown variable is refused while typing; nothing can be saved.
    app.type_into("#template-text", "Total {amount}. Pay: {url}")
        .await
        .unwrap();
    app.wait_for_text("#template-error", "{url} at character 22 is not a variable")
        .await
        .unwrap();
    let save = app.wait_for("#template-save").await.unwrap();
    assert_eq!(
        save.attr("disabled").await.unwrap().as_deref(),
        Some("true"),
        "Save is off while the template is broken"
    );
    app.screenshot("template-refused").await.unwrap();

    app.type_into(
        "#template-text",
        "Hi {customer}, {items}. Total {amount}: {link}",
    )
    .await
    .unwrap();
    app.wait_for_text(
        "#template-preview",
        "Hi Ana, Hydrating cream $120, shipping $8. Total $128: ",
    )
    .await
    .unwrap();
    app.click("#template-save").await.unwrap();
    app.wait_for_text("#template-saved", "Saved").await.unwrap();
    app.screenshot("template-saved").await.unwrap();

    // Saved on the relay (which sends invoices), and back in this desk's replica.
    let relay_db = ziflow_relay::open_db(&app.data_path().join("relay"))
        .await
        .unwrap();
    let on_relay = ziflow_core::storage::settings::get(&relay_db, "local", "template.invoice")
        .await
        .unwrap();
    relay_db.close().await;
    let wanted = "Hi {customer}, {items}. Total {amount}: {link}";
    assert_eq!(
        on_relay.as_deref(),
        Some(wanted),
        "the relay holds the template"
    );
    let replica = Db::open_replica(app.data_path().join("ziflow.db"))
        .await
        .unwrap();
    let mut in_replica = None;
    for _ in 0..100 {
        in_replica = ziflow_core::storage::settings::get(&replica, "local", "template.invoice")
            .await
            .unwrap();
        if in_replica.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    replica.close().await;
    assert_eq!(
        in_replica.as_deref(),
        Some(wanted),
        "the desk's replica holds it too (synced back as settings.changed)"
    );
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_composed_in_the_window_is_paid_on_the_sandbox_page_and_refunded() {
    ziflow_relay::install_crypto_provider();
    let app = AppSession::launch(Launch {
        name: "composer".into(),
        ..Launch::default()
    })
    .await
    .unwrap();
    app.wait_for_text("#sync-status", "Online").await.unwrap();
    app.open_screen("invoices").await.unwrap();
    app.click("#new-invoice").await.unwrap();
    app.wait_for("#composer").await.unwrap();

    app.type_into("#composer-phone", "+15125550123")
        .await
        .unwrap();
    // Search as you type: an alias finds the serum; its first variant is chosen, then changed.
    app.type_into("#composer-search", "vit c").await.unwrap();
    app.click("#composer-results button[data-sku='SRM-VITC']")
        .await
        .unwrap();
    app.click("#composer-lines tr[data-sku='SRM-VITC'] .line-variant option[value='50ml']")
        .await
        .unwrap();
    app.type_into("#composer-search", "cream").await.unwrap();
    app.click("#composer-results button[data-sku='HC-50']")
        .await
        .unwrap();
    app.type_into("#composer-address", "123 Oak St.")
        .await
        .unwrap();
    // $64 + $120 + Austin shipping $8, computed by the Rust side from the catalog.
    app.wait_for_text("#composer-total", "$192").await.unwrap();
    let preview = app
        .wait_for_text("#composer-preview", "Total: $192")
        .await
        .unwrap();
    assert!(
        preview.starts_with(
            "Your order: Vitamin C serum (50ml) $64, Hydrating cream $120, shipping $8. Total: $192. Pay here: "
        ),
        "the message as the customer will read it: {preview}"
    );
    // Shipping typed over.
    app.type_into("#composer-shipping", "5.50").await.unwrap();
    app.wait_for_text("#composer-total", "$189.50")
        .await
        .unwrap();
    app.screenshot("composer").await.unwrap();

    app.click("#composer-send").await.unwrap();
    app.wait_for_text("#composer-result", "Invoice #1001 sent.")
        .await
        .unwrap();
    let sent = app.text("#composer-sent-message").await.unwrap();
    let link = sent
        .split_whitespace()
        .find(|w| w.contains("/sandbox/pay/"))
        .map(|w| w.trim_end_matches('.'))
        .unwrap_or_else(|| panic!("the sent message carries the link: {sent}"))
        .to_string();
    app.wait_for_text("#invoice-detail #detail-status", "Sent")
        .await
        .unwrap();

    // The customer opens the sandbox pay page and pays with Apple Pay.
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("$189.50"), "{page}");
    assert!(
        page.contains("Vitamin C serum (50ml)") || page.contains("Vitamin C serum"),
        "{page}"
    );
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("outcome=apple_pay")
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    app.wait_for_text("#invoice-detail #detail-status", "Paid")
        .await
        .unwrap();
    app.wait_for_text("#invoice-list tr[data-invoice='1001']", "Paid")
        .await
        .unwrap();
    app.screenshot("composer-paid").await.unwrap();

    // A partial refund from the invoice view; the state follows the provider's event.
    app.type_into("#refund-amount", "50").await.unwrap();
    app.click("#refund-submit").await.unwrap();
    app.wait_for_text("#refund-result", "Refund of $50 sent")
        .await
        .unwrap();
    app.wait_for_text(
        "#invoice-list tr[data-invoice='1001']",
        "Partially refunded",
    )
    .await
    .unwrap();

    app.open_screen("payments").await.unwrap();
    let feed = app.wait_for_text("#payment-feed", "$189.50").await.unwrap();
    assert!(
        feed.contains("Payment received · +1 512 555 0123 · order #1001 · sandbox"),
        "{feed}"
    );
    assert!(
        feed.contains("Refund · +1 512 555 0123 · order #1001"),
        "{feed}"
    );
    app.screenshot("composer-feed").await.unwrap();
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_connects_a_stripe_test_key_step_by_step_and_explains_a_wrong_one() {
    let stripe = ziflow_tests::LocalStripe::start().unwrap();
    let app = AppSession::launch(Launch {
        name: "billing".into(),
        env: vec![("ZIFLOW_STRIPE_API_BASE".into(), stripe.base.clone())],
    })
    .await
    .unwrap();
    app.open_screen("settings").await.unwrap();
    app.wait_for("#billing-provider[data-provider='sandbox']")
        .await
        .unwrap();
    let url = app
        .wait_for("#billing-webhook-url")
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/api/payment/webhook/local"),
        "the address to paste into Stripe: {url}"
    );

    app.type_into("#billing-key", "pk_test_51HpublishableKey")
        .await
        .unwrap();
    app.click("#billing-connect").await.unwrap();
    app.wait_for_text("#billing-result", "publishable key")
        .await
        .unwrap();
    app.wait_for("#billing-provider[data-provider='sandbox']")
        .await
        .unwrap();

    app.type_into("#billing-key", "sk_test_51HzLocalStripeKey")
        .await
        .unwrap();
    app.click("#billing-connect").await.unwrap();
    app.wait_for("#billing-result[data-connected='true']")
        .await
        .unwrap();
    for step in ["key", "charge", "refund"] {
        app.wait_for(&format!(
            "#billing-steps li[data-step='{step}'][data-ok='true']"
        ))
        .await
        .unwrap();
    }
    app.wait_for_text("#billing-steps", "Charged $1.00")
        .await
        .unwrap();
    app.wait_for("#billing-provider[data-provider='stripe']")
        .await
        .unwrap();
    app.wait_for_text("#billing-provider", "sk_test_…eKey")
        .await
        .unwrap();
    app.screenshot("billing-connected").await.unwrap();

    app.type_into("#billing-whsec", "not-a-secret")
        .await
        .unwrap();
    app.click("#billing-whsec-save").await.unwrap();
    app.wait_for_text("#billing-note", "starts with whsec_")
        .await
        .unwrap();
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_opens_the_customer_phone_and_its_story_ends_paid_on_the_board() {
    let app = AppSession::launch(Launch {
        name: "demo-story".into(),
        env: vec![("ZIFLOW_CUSTOMER_WINDOW".into(), "1".into())],
    })
    .await
    .unwrap();
    let main = app.client().window().await.unwrap();
    let mut customer = None;
    for _ in 0..100 {
        for handle in app.client().windows().await.unwrap() {
            if handle == main {
                continue;
            }
            app.client().switch_to_window(handle.clone()).await.unwrap();
            if app.client().title().await.unwrap_or_default()
                == "Customer phone (sandbox) — Demo Boutique"
            {
                customer = Some(handle);
            }
        }
        if customer.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        customer.is_some(),
        "a second window shows the customer's phone"
    );
    assert!(app
        .window_titles()
        .unwrap()
        .iter()
        .any(|t| t == "Customer phone (sandbox)"));

    // The seed's story, played by the page: question, order with address, Apple Pay.
    app.click("#play").await.unwrap();
    let thread = app
        .wait_for_text("#thread", "Payment received, thanks!")
        .await
        .unwrap();
    for said in [
        "how much is the hydrating cream?",
        "Hydrating cream is $120. Shipping within Austin is $8. Would you like to order?",
        "yes, 123 Oak St.",
        "Your order: Hydrating cream $120, shipping $8. Total: $128.",
    ] {
        assert!(thread.contains(said), "{said:?} in the chat: {thread}");
    }
    app.wait_for("#overlay[hidden]").await.unwrap();
    app.screenshot("customer-phone").await.unwrap();

    app.client().switch_to_window(main).await.unwrap();
    // Paid in seconds: the inbox shows the conversation at stage Paid.
    app.open_screen("inbox").await.unwrap();
    app.wait_for_text(
        "#conversation-list li[data-phone='+15125550123'] .stage",
        "Paid",
    )
    .await
    .unwrap();
    app.open_screen("ready-to-ship").await.unwrap();
    let board = app
        .wait_for_text("#ship-board", "123 Oak St")
        .await
        .unwrap();
    assert!(board.contains("#1001") && board.contains("$128"), "{board}");
    app.screenshot("board").await.unwrap();
    // Select the card and press → : Shipped, and the customer is told.
    let card = app
        .wait_for("#ship-board [data-stage='ready_to_ship'] .card[data-order='1001']")
        .await
        .unwrap();
    card.click().await.unwrap();
    card.send_keys("\u{e014}").await.unwrap();
    app.wait_for("#ship-board [data-stage='shipped'] .card[data-order='1001']")
        .await
        .unwrap();
    app.screenshot("board-shipped").await.unwrap();
    // The rep opens the conversation, writes to the customer and takes over from the bot.
    app.open_screen("inbox").await.unwrap();
    app.click("#conversation-list li[data-phone='+15125550123']")
        .await
        .unwrap();
    app.wait_for_text("#thread-messages", "Payment received, thanks!")
        .await
        .unwrap();
    // Paid, then moved to Shipped on the board: the lead follows the board.
    app.wait_for_text(
        "#conversation-list li[data-phone='+15125550123'] .stage",
        "Shipped",
    )
    .await
    .unwrap();
    // The CRM's default rule: tag paid, lastPayment, and the lead's history says why.
    app.wait_for_text(
        "#conversation-list li[data-phone='+15125550123'] .tag",
        "paid",
    )
    .await
    .unwrap();
    let lead = app
        .wait_for_text("#lead summary", "lastPayment: $128")
        .await
        .unwrap();
    assert!(lead.contains("lifetimeValue: $128"), "{lead}");
    app.click("#lead summary").await.unwrap();
    app.wait_for_text("#lead-history", "Payment succeeded: stage Paid, tag paid")
        .await
        .unwrap();
    app.wait_for("#bot-toggle[data-bot='on']").await.unwrap();
    app.type_into("#reply-text", "Your courier leaves at 4 pm.\u{e007}")
        .await
        .unwrap();
    app.wait_for_text("#thread-messages", "Your courier leaves at 4 pm.")
        .await
        .unwrap();
    app.click("#bot-toggle").await.unwrap();
    app.wait_for("#bot-toggle[data-bot='off']").await.unwrap();
    app.wait_for_text("#conversation-list", "Human")
        .await
        .unwrap();
    app.screenshot("inbox").await.unwrap();
    // Search every message (Ctrl+K), and move between chats with the arrow keys.
    let reply = app.wait_for("#reply-text").await.unwrap();
    reply.send_keys("\u{e009}k\u{e000}").await.unwrap();
    let focused = app
        .client()
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused,
        serde_json::json!("inbox-search"),
        "Ctrl+K goes to search"
    );
    app.type_into("#inbox-search", "oak").await.unwrap();
    let found = app
        .wait_for_text("#search-results", "+1 512 555 0123")
        .await
        .unwrap();
    assert!(found.contains("[Oak]"), "the match is marked: {found}");
    app.screenshot("inbox-search").await.unwrap();
    app.type_into("#inbox-search", "zzznothing").await.unwrap();
    app.wait_for_text("#search-results", "No message matches")
        .await
        .unwrap();
    app.type_into("#inbox-search", "\u{e00c}").await.unwrap();

    // The CRM lists the lead where the story left it, with the fields the rule wrote.
    app.open_screen("crm").await.unwrap();
    let row = "#lead-list tr[data-phone='+15125550123']";
    let listed = app.wait_for_text(row, "Shipped").await.unwrap();
    assert!(listed.contains("lastPayment: $128"), "{listed}");
    app.click("#lead-filter option[value='Paid']")
        .await
        .unwrap();
    app.wait_for("#lead-list[hidden]").await.unwrap();
    app.wait_for_text("#lead-none", "No lead matches")
        .await
        .unwrap();
    app.click("#lead-filter option[value='Shipped']")
        .await
        .unwrap();
    app.click(&format!("{row} td strong")).await.unwrap();
    app.wait_for_text(
        "#lead-detail-history",
        "Order #1001 moved to Shipped: stage Shipped",
    )
    .await
    .unwrap();
    app.screenshot("crm").await.unwrap();

    // The owner saves this chat as a bot test, edits a price, and sees the test that would
    // change before the change is saved; cancelled, nothing changes.
    app.open_screen("inbox").await.unwrap();
    app.click("#conversation-list li[data-phone='+15125550123']")
        .await
        .unwrap();
    app.click("#save-test summary").await.unwrap();
    app.type_into("#save-test-name", "cream to Oak St")
        .await
        .unwrap();
    app.click("#save-test-submit").await.unwrap();
    app.wait_for_text(
        "#save-test-result",
        "must end in invoice: Hydrating cream — $128 in all",
    )
    .await
    .unwrap();
    app.open_screen("agent").await.unwrap();
    app.wait_for_text("#bot-tests-list li[data-passed='true']", "cream to Oak St")
        .await
        .unwrap();
    app.type_into(
        "#catalog-paste",
        "sku,name,price\u{e007}HC-50,Hydrating cream,130\u{e007}",
    )
    .await
    .unwrap();
    app.click("#catalog-import").await.unwrap();
    let preview = app
        .wait_for_text(
            "#catalog-preview li[data-passes-after='false']",
            "cream to Oak St",
        )
        .await
        .unwrap();
    assert!(
        preview.contains("$128") && preview.contains("$138"),
        "now and after: {preview}"
    );
    app.scroll_to("#catalog-preview").await.unwrap();
    app.screenshot("bot-test-preview").await.unwrap();
    app.click("#catalog-import-cancel").await.unwrap();
    app.wait_for_text("#bot-tests-list li[data-passed='true']", "cream to Oak St")
        .await
        .unwrap();
    // So does a scenario change: auto-invoice off would hand the order to a person.
    app.click("#scenario-auto").await.unwrap();
    app.click("#scenario-save").await.unwrap();
    app.wait_for_text(
        "#scenario-preview li[data-passes-after='false']",
        "after: hands off to a person",
    )
    .await
    .unwrap();
    app.scroll_to("#scenario-preview").await.unwrap();
    app.screenshot("scenario-preview").await.unwrap();
    app.click("#scenario-save-cancel").await.unwrap();
    app.click("#scenario-auto").await.unwrap();
    app.wait_for_text("#bot-tests-list li[data-passed='true']", "cream to Oak St")
        .await
        .unwrap();
    app.scroll_to("#bot-tests").await.unwrap();
    app.screenshot("bot-tests").await.unwrap();

    let customer = customer.unwrap();
    app.client().switch_to_window(customer).await.unwrap();
    app.wait_for_text("#thread", "Your courier leaves at 4 pm.")
        .await
        .unwrap();
    app.wait_for_text(
        "#thread",
        "Good news! Your order #1001 is on its way to 123 Oak St.",
    )
    .await
    .unwrap();
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_screen_saves_the_scenario_checks_replies_and_imports_a_catalog_csv() {
    let exports = tempfile::tempdir().unwrap();
    let app = AppSession::launch(Launch {
        name: "agent-screen".into(),
        env: vec![(
            "ZIFLOW_EXPORT_DIR".into(),
            exports.path().display().to_string(),
        )],
    })
    .await
    .unwrap();
    app.open_screen("agent").await.unwrap();

    // The payment scenario.
    app.wait_for("#scenario-auto").await.unwrap();
    app.click("#scenario-link-style option[value='link']")
        .await
        .unwrap();
    app.type_into("#scenario-template", "order_update")
        .await
        .unwrap();
    app.click("#scenario-save").await.unwrap();
    app.wait_for_text("#scenario-result", "Saved")
        .await
        .unwrap();

    // A reply with a variable it cannot use is refused while typing.
    let greeting = "li[data-reply='en.greeting']";
    app.type_into(
        &format!("{greeting} textarea"),
        "Hello {customer}! What can I find for you?",
    )
    .await
    .unwrap();
    app.wait_for_text(
        &format!("{greeting} .reply-problem"),
        "{customer} is not a variable here",
    )
    .await
    .unwrap();
    let save = app
        .wait_for(&format!("{greeting} .reply-save"))
        .await
        .unwrap();
    assert_eq!(
        save.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );
    app.screenshot("reply-refused").await.unwrap();
    app.type_into(
        &format!("{greeting} textarea"),
        "Hello! What can I find for you today?",
    )
    .await
    .unwrap();
    app.click(&format!("{greeting} .reply-save")).await.unwrap();
    app.wait_for_text(&format!("{greeting} .reply-result"), "Saved")
        .await
        .unwrap();

    // The optional model is checked before either use is turned on.
    app.click("#llm-enabled").await.unwrap();
    app.click("#llm-reader").await.unwrap();
    app.type_into("#llm-base", "http://example.com/v1")
        .await
        .unwrap();
    app.type_into("#llm-model", "tiny").await.unwrap();
    app.click("#llm-save").await.unwrap();
    app.wait_for_text("#llm-result", "https://").await.unwrap();
    app.scroll_to("#phrasing").await.unwrap();
    app.screenshot("model").await.unwrap();

    // A products CSV pasted from a spreadsheet; a broken one changes nothing.
    app.type_into(
        "#catalog-paste",
        // Enter makes the new lines (WebDriver types "\n" as nothing in a textarea).
        "sku,name,price,variants\u{e007}TEA-1,\"Green tea, loose\",12.50,50g|100g\u{e007}",
    )
    .await
    .unwrap();
    app.click("#catalog-import").await.unwrap();
    app.wait_for_text("#catalog-result", "Imported products: 1 products")
        .await
        .unwrap();
    app.type_into(
        "#catalog-paste",
        "sku,name,price\u{e007}A,Cream,12.5.0\u{e007}",
    )
    .await
    .unwrap();
    app.click("#catalog-import").await.unwrap();
    app.wait_for_text("#catalog-result", "line 2")
        .await
        .unwrap();
    app.click("#export-products").await.unwrap();
    app.wait_for_text("#export-result", "ziflow-products.csv")
        .await
        .unwrap();
    app.screenshot("agent").await.unwrap();
    let csv = std::fs::read_to_string(exports.path().join("ziflow-products.csv")).unwrap();
    assert_eq!(
        csv,
        "sku,name,price,variants,aliases,deposit,service\nTEA-1,\"Green tea, loose\",12.50,50g|100g,,,\n"
    );

    // Everything went through the relay, which the bot reads.
    let relay_db = ziflow_relay::open_db(&app.data_path().join("relay"))
        .await
        .unwrap();
    let get = |k: &'static str| ziflow_core::storage::settings::get(&relay_db, "local", k);
    assert_eq!(
        get("scenario.link_style").await.unwrap().as_deref(),
        Some("link")
    );
    assert_eq!(
        get("whatsapp.template").await.unwrap().as_deref(),
        Some("order_update")
    );
    assert_eq!(
        get("reply.en.greeting").await.unwrap().as_deref(),
        Some("Hello! What can I find for you today?")
    );
    let catalog = ziflow_core::catalog::load(&relay_db, "local")
        .await
        .unwrap();
    assert_eq!(catalog.catalog.len(), 1);
    assert_eq!(catalog.catalog[0].price_cents, 1250);
    assert!(!catalog.shipping.is_empty(), "the zones were kept");
    relay_db.close().await;
    app.close().await.unwrap();
}

/// A local stand-in for Slack's incoming webhook and Telegram's Bot API: records each POST's
/// path and JSON body; a token with "Wrong" in it is refused by `getMe` as Telegram would.
async fn fake_chat_services() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
) {
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |axum::extract::State(seen): axum::extract::State<Seen>,
             uri: axum::http::Uri,
             body: axum::body::Bytes| async move {
                let path = uri.path().to_string();
                if path.ends_with("/getMe") {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        "{\"ok\":false,\"description\":\"Unauthorized\"}".to_string(),
                    );
                }
                seen.lock()
                    .unwrap()
                    .push((path, serde_json::from_slice(&body).unwrap_or_default()));
                (axum::http::StatusCode::OK, "ok".to_string())
            },
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

/// The sandbox customer writes `text` to the in-app relay.
async fn customer_says(port: u16, text: &str) {
    let res = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/sandbox/chat/local?phone=15125550123"
        ))
        .form(&[("text", text)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_crm_moves_leads_by_hand_runs_an_owners_rule_and_notifications_answer_their_tests() {
    ziflow_relay::install_crypto_provider();
    let (chat_base, seen) = fake_chat_services().await;
    let dir = AppSession::data_dir().unwrap();
    let port = ziflow_tests::free_port().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!("[local_relay]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let app = AppSession::launch_in(
        dir,
        Launch {
            name: "crm".into(),
            env: vec![("ZIFLOW_TELEGRAM_API_BASE".into(), chat_base.clone())],
        },
    )
    .await
    .unwrap();
    app.wait_for_text("#sync-status", "Online").await.unwrap();
    customer_says(port, "hello").await;

    // The lead appears; a rep tags it and moves it by hand.
    app.open_screen("crm").await.unwrap();
    let row = "#lead-list tr[data-phone='+15125550123']";
    app.wait_for_text(row, "New").await.unwrap();
    app.screenshot("crm-lead-listed").await.unwrap();
    app.click(&format!("{row} td strong")).await.unwrap();
    app.type_into("#lead-tag", "vip").await.unwrap();
    app.click("#lead-tag-add").await.unwrap();
    app.wait_for_text("#lead-detail .lead-now", "vip")
        .await
        .unwrap();
    app.click("#lead-stage option[value='Quoted']")
        .await
        .unwrap();
    app.click("#lead-stage-save").await.unwrap();
    app.wait_for_text("#lead-detail-stage", "Quoted")
        .await
        .unwrap();
    app.wait_for_text("#lead-detail-history", "Changed by hand: tag vip")
        .await
        .unwrap();
    app.wait_for_text(row, "Quoted").await.unwrap();
    app.screenshot("crm-leads").await.unwrap();

    // The owner adds a stage to the pipeline.
    app.click("#crm-tab-pipeline").await.unwrap();
    app.type_into("#stage-new", "VIP follow-up").await.unwrap();
    app.click("#stage-add").await.unwrap();
    app.wait_for("#pipeline li[data-stage='VIP follow-up']")
        .await
        .unwrap();
    let fixed = app
        .wait_for("#pipeline li[data-stage='Paid'] .stage-remove")
        .await
        .unwrap();
    assert_eq!(
        fixed.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );
    app.click("#pipeline-save").await.unwrap();
    app.wait_for_text("#pipeline-result", "Saved: 9 stages")
        .await
        .unwrap();

    // Settings → Notifications: a wrong Telegram token is explained; Slack's test answers.
    app.open_screen("settings").await.unwrap();
    app.click("#notify-telegram-enabled").await.unwrap();
    app.type_into("#notify-telegram-chat", "-1001234567890")
        .await
        .unwrap();
    app.type_into(
        "#notify-telegram-token",
        "123456789:AAHWrongTokenForZiFlowTests_01",
    )
    .await
    .unwrap();
    app.click("#notify-telegram-save").await.unwrap();
    app.wait_for_text(
        "#notify-telegram-result[data-ok='false']",
        "Telegram refused the token: HTTP 401",
    )
    .await
    .unwrap();
    app.click("#notify-telegram-enabled").await.unwrap(); // off again
    app.click("#notify-slack-enabled").await.unwrap();
    app.type_into(
        "#notify-slack-url",
        &format!("{chat_base}/services/T0GLOW/B0ZIFLOW/s3cret"),
    )
    .await
    .unwrap();
    app.click("#notify-slack-test").await.unwrap();
    app.wait_for_text("#notify-slack-result[data-ok='true']", "HTTP 200: ok")
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(
            "/services/T0GLOW/B0ZIFLOW/s3cret".to_string(),
            serde_json::json!({"text": "ZiFlow test: notifications from Demo Boutique reach this channel."})
        )]
    );
    // The desktop's test goes through the real notification server (dunst) and names it.
    app.click("#notify-desktop-test").await.unwrap();
    app.wait_for_text("#notify-desktop-result[data-ok='true']", "Shown by dunst")
        .await
        .unwrap();
    app.wait_for_notification("ZiFlow test: notifications reach this desktop.")
        .await
        .unwrap();
    // A template with a variable it cannot use is refused while typing.
    let tpl = "li[data-event='message_received']";
    app.type_into(&format!("{tpl} .notify-template"), "{who} wrote: {text}")
        .await
        .unwrap();
    app.wait_for_text(
        &format!("{tpl} .template-problem"),
        "{who} is not a variable here",
    )
    .await
    .unwrap();
    app.type_into(&format!("{tpl} .notify-template"), "{phone} wrote: {text}")
        .await
        .unwrap();
    app.click(&format!("{tpl} .notify-template-save"))
        .await
        .unwrap();
    app.wait_for_text(&format!("{tpl} .template-result"), "Saved")
        .await
        .unwrap();
    app.screenshot("notifications").await.unwrap();

    // The owner's rule: a VIP who writes gets a message from the shop and Slack hears of it.
    app.open_screen("crm").await.unwrap();
    app.click("#crm-tab-automations").await.unwrap();
    app.click("#rule-add").await.unwrap();
    let rule = "li.rule[data-rule='rule-5']";
    app.click(&format!("{rule} .rule-on option[value='message_received']"))
        .await
        .unwrap();
    app.click(&format!("{rule} .rule-if option[value='tag']"))
        .await
        .unwrap();
    app.type_into(&format!("{rule} .rule-if-value"), "vip")
        .await
        .unwrap();
    app.click("#automations h2").await.unwrap(); // leaves the field
    app.click(&format!(
        "{rule} .action[data-index='0'] .action-channel[value='slack']"
    ))
    .await
    .unwrap();
    app.click(&format!("{rule} .action-add")).await.unwrap();
    app.click(&format!(
        "{rule} .action[data-index='1'] .action-kind option[value='send_message']"
    ))
    .await
    .unwrap();
    let message = format!("{rule} .action[data-index='1'] textarea");
    app.type_into(&message, "Hi {nmae}!").await.unwrap();
    app.wait_for_text(
        &format!("{rule} .action-problem"),
        "{nmae} is not a variable here",
    )
    .await
    .unwrap();
    app.type_into(
        &message,
        "Thanks for writing, {name}! A person from {shop} answers shortly.",
    )
    .await
    .unwrap();
    app.click("#automations h2").await.unwrap();
    app.screenshot("automations").await.unwrap();
    app.click("#rules-save").await.unwrap();
    app.screenshot("automations-save").await.unwrap();
    app.wait_for_text("#rules-result", "Saved: 5 rule(s)")
        .await
        .unwrap();

    customer_says(port, "hi again").await;
    app.open_screen("inbox").await.unwrap();
    app.click(".conversation").await.unwrap();
    app.wait_for_text(
        "#thread-messages",
        "Thanks for writing, +1 512 555 0123! A person from Demo Boutique answers shortly.",
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.lock().unwrap().get(1).map(|(_, b)| b.clone()),
        Some(serde_json::json!({"text": "+1 512 555 0123 wrote: hi again"}))
    );
    app.open_screen("settings").await.unwrap();
    app.wait_for_text(
        "#notify-recent tr[data-state='sent']",
        "+1 512 555 0123 wrote: hi again",
    )
    .await
    .unwrap();
    app.client()
        .execute(
            "document.querySelector('#notify-recent').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    app.screenshot("notifications-sent").await.unwrap();
    app.close().await.unwrap();
}

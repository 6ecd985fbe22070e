//! Notifications and automation rules against real local peers: a local HTTP server standing
//! in for Telegram's Bot API and a Slack incoming webhook (asserting the exact requests), and
//! a real SMTP server (PyPI `aiosmtpd`, STARTTLS and AUTH required) receiving the mail.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::{json, Value};
use ziflow_core::{crm, ManualClock};
use ziflow_relay::config::ProviderConfig;

use crate::agent::{say, shop_selling_the_samples, thread_of};
use crate::support::{engine_caught_up, settled, Relay};
use crate::sync::command;

/// 2026-11-26 20:00 UTC.
const T0: i64 = 1_795_723_200;
const BOT_TOKEN: &str = "123456789:AAHfakeTokenForZiFlowTests_0123";
const CHAT: &str = "-1001234567890";
const PAID: &str = "Payment $34 from +1 512 555 0123, order #1001";

#[derive(Default)]
struct Seen {
    /// (path, body) of every POST.
    posts: Vec<(String, Value)>,
    /// Statuses for the next POSTs.
    trouble: VecDeque<u16>,
}

/// Telegram's Bot API and a Slack webhook on one local server.
struct FakeChat {
    base: String,
    seen: Arc<Mutex<Seen>>,
}

async fn answer(
    State(seen): State<Arc<Mutex<Seen>>>,
    uri: Uri,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    if path.ends_with("/getMe") {
        return if path.contains("Wrong") {
            (
                StatusCode::UNAUTHORIZED,
                r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.into(),
            )
        } else {
            (
                StatusCode::OK,
                r#"{"ok":true,"result":{"id":123456789,"is_bot":true,"username":"glow_bot"}}"#
                    .into(),
            )
        };
    }
    let mut seen = seen.lock().unwrap();
    seen.posts.push((
        path.clone(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ));
    if let Some(status) = seen.trouble.pop_front() {
        return (
            StatusCode::from_u16(status).unwrap(),
            "upstream trouble".into(),
        );
    }
    if path.contains("/sendMessage") {
        (
            StatusCode::OK,
            r#"{"ok":true,"result":{"message_id":42}}"#.into(),
        )
    } else {
        (StatusCode::OK, "ok".into())
    }
}

impl FakeChat {
    async fn start() -> FakeChat {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeChat { base, seen }
    }

    fn posts_to(&self, part: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .posts
            .iter()
            .filter(|(p, _)| p.contains(part))
            .map(|(_, b)| b.clone())
            .collect()
    }

    async fn wait_posts(&self, part: &str, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let got = self.posts_to(part);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} posts to {part}, got {:?}",
            self.posts_to(part)
        );
    }
}

/// aiosmtpd on a free port, its CA certificate, and the mail it received.
struct SmtpSink {
    child: Child,
    port: u16,
    ca_pem: Vec<u8>,
    mailbox: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::support::free_port();
        let ca = dir.path().join("ca.pem");
        let mailbox = dir.path().join("mail.jsonl");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/smtp_sink.py");
        let mut child = Command::new(crate::support::python())
            .arg(script)
            .arg(port.to_string())
            .arg(&ca)
            .arg(&mailbox)
            .args(["alerts@glowbar.test", "smtp-pass-123"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("aiosmtpd (cargo xtask installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpSink {
            child,
            port,
            ca_pem: std::fs::read(&ca).unwrap(),
            mailbox,
            _dir: dir,
        }
    }

    async fn wait_mail(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let text = std::fs::read_to_string(&self.mailbox).unwrap_or_default();
            let mail: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if mail.len() >= n {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {n} mails in {}", self.mailbox.display());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn providers(chat: &FakeChat, smtp: Option<&SmtpSink>) -> ProviderConfig {
    ProviderConfig {
        telegram_api_base: chat.base.clone(),
        smtp_ca_pem: smtp.map(|s| s.ca_pem.clone()),
        notify_timeout: Duration::from_secs(5),
        ..crate::support::local_providers()
    }
}

async fn relay_at(clock: Arc<ManualClock>, providers: ProviderConfig) -> Relay {
    Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        providers,
        clock,
    )
    .await
}

async fn cmd(relay: &Relay, token: &str, key: &str, body: Value) -> (u16, Value) {
    let res = command(relay, token, Some(key), &body.to_string()).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn telegram_on(relay: &Relay, token: &str) {
    let (status, body) = cmd(
        relay,
        token,
        "tg",
        json!({"type": "notify.set", "channel": "telegram", "enabled": true,
               "chat_id": CHAT, "secret": BOT_TOKEN}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The bot's invoice for a gel cleanser at T0, paid with Apple Pay at T0 + 10 min.
async fn customer_pays(relay: &Relay, clock: &ManualClock, uid: &str) {
    say(&relay.base, uid, "how much is the gel cleanser?").await;
    say(&relay.base, uid, "yes, 18 Maple St.").await;
    let thread = thread_of(&relay.base, uid, 4).await;
    let link = thread[3]["links"][0]["url"].as_str().unwrap().to_string();
    clock.set(T0 + 600);
    assert!(crate::sync::press(&link, "apple_pay")
        .await
        .status()
        .is_redirection());
}

async fn history(relay: &Relay, uid: &str) -> Vec<String> {
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let lead = crm::lead(&db, uid, "+15125550123").await.unwrap().unwrap();
    db.close().await;
    lead.history.into_iter().map(|(_, w)| w).collect()
}

async fn wait_history(relay: &Relay, uid: &str, line: &str) -> Vec<String> {
    for _ in 0..200 {
        let h = history(relay, uid).await;
        if h.iter().any(|l| l == line) {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{line:?} never in the history: {:#?}",
        history(relay, uid).await
    );
}

#[tokio::test]
async fn a_payment_notifies_telegram_slack_and_email_as_each_provider_expects() {
    let chat = FakeChat::start().await;
    let smtp = SmtpSink::start();
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay_at(clock.clone(), providers(&chat, Some(&smtp))).await;
    let shop = shop_selling_the_samples(&relay).await;
    let token = shop.device_token.as_str();

    // Bad settings are explained and change nothing.
    let refusals = [
        (
            json!({"channel": "telegram", "enabled": true, "chat_id": CHAT, "secret": "not-a-token"}),
            "looks like",
        ),
        (
            json!({"channel": "telegram", "enabled": true, "chat_id": CHAT,
                "secret": "123456789:AAHWrongTokenForZiFlowTests_01"}),
            "Telegram refused the token: HTTP 401",
        ),
        (
            json!({"channel": "telegram", "enabled": true, "chat_id": ""}),
            "name the chat",
        ),
        (
            json!({"channel": "slack", "enabled": true, "secret": "http://hooks.example.com/x"}),
            "https://",
        ),
        (
            json!({"channel": "email", "enabled": true, "host": "localhost", "from": "nobody",
                "to": "owner@glowbar.test"}),
            "not an email address",
        ),
        (
            json!({"channel": "pager", "enabled": true}),
            "no \"pager\" channel",
        ),
    ];
    for (i, (mut body, why)) in refusals.into_iter().enumerate() {
        body["type"] = json!("notify.set");
        let (status, answer) = cmd(&relay, token, &format!("bad{i}"), body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(why),
            "{answer} should say {why}"
        );
    }
    let db = relay.db().await;
    assert_eq!(
        ziflow_core::storage::settings::get(&db, &shop.uid, "notify")
            .await
            .unwrap(),
        None,
        "nothing stored"
    );
    db.close().await;

    telegram_on(&relay, token).await;
    let slack_url = format!("{}/services/T0GLOW/B0ZIFLOW/s3cretPart", chat.base);
    for (key, body) in [
        (
            "sl",
            json!({"type": "notify.set", "channel": "slack", "enabled": true, "secret": slack_url}),
        ),
        (
            "em",
            json!({"type": "notify.set", "channel": "email", "enabled": true,
                      "host": "localhost", "port": smtp.port, "username": "alerts@glowbar.test",
                      "secret": "smtp-pass-123", "from": "ZiFlow <alerts@glowbar.test>",
                      "to": "owner@glowbar.test, rep@glowbar.test"}),
        ),
    ] {
        let (status, answer) = cmd(&relay, token, key, body).await;
        assert_eq!(status, 200, "{answer}");
    }

    // The test buttons answer with the provider's own words.
    let (_, slack_test) = cmd(
        &relay,
        token,
        "t1",
        json!({"type": "notify.test", "channel": "slack"}),
    )
    .await;
    assert_eq!(
        slack_test,
        json!({"channel": "slack", "ok": true, "answer": "HTTP 200: ok"})
    );
    let (_, tg_test) = cmd(
        &relay,
        token,
        "t2",
        json!({"type": "notify.test", "channel": "telegram"}),
    )
    .await;
    assert_eq!(tg_test["ok"], true);
    assert_eq!(
        tg_test["answer"], "HTTP 200",
        "the status, never the body of the answer: {tg_test}"
    );
    let (_, mail_test) = cmd(
        &relay,
        token,
        "t3",
        json!({"type": "notify.test", "channel": "email"}),
    )
    .await;
    assert_eq!(mail_test["ok"], true, "{mail_test}");
    assert!(
        mail_test["answer"]
            .as_str()
            .unwrap()
            .starts_with("SMTP 250"),
        "{mail_test}"
    );
    let mails = smtp.wait_mail(1).await;
    assert_eq!(mails[0]["subject"], "ZiFlow test notification");
    assert_eq!(
        mails[0]["body"].as_str().unwrap().trim_end(),
        "ZiFlow test: notifications from Glow Bar reach this channel."
    );

    customer_pays(&relay, &clock, &shop.uid).await;

    let telegram = chat.wait_posts("/sendMessage", 2).await;
    assert_eq!(
        chat.seen
            .lock()
            .unwrap()
            .posts
            .iter()
            .rfind(|(p, _)| p.contains("sendMessage"))
            .unwrap()
            .0,
        format!("/bot{BOT_TOKEN}/sendMessage")
    );
    assert_eq!(
        telegram[1],
        json!({"chat_id": CHAT, "text": PAID, "disable_web_page_preview": true})
    );
    let slack = chat
        .wait_posts("/services/T0GLOW/B0ZIFLOW/s3cretPart", 2)
        .await;
    assert_eq!(slack[1], json!({"text": PAID}));
    let mails = smtp.wait_mail(2).await;
    let mail = &mails[1];
    assert_eq!(mail["tls"], true, "STARTTLS before anything else");
    assert_eq!(mail["authenticated"], true);
    assert_eq!(mail["mail_from"], "alerts@glowbar.test");
    assert_eq!(
        mail["rcpt_tos"],
        json!(["owner@glowbar.test", "rep@glowbar.test"])
    );
    assert_eq!(mail["subject"], "Payment succeeded — +1 512 555 0123");
    assert_eq!(mail["body"].as_str().unwrap().trim_end(), PAID);

    let lines = wait_history(&relay, &shop.uid, "Email notified").await;
    assert!(lines.contains(&"Payment succeeded: stage Paid, tag paid, lastPayment = $34, lifetimeValue + $34, notify Telegram, Slack, Email, Desktop".to_string()), "{lines:#?}");
    for l in ["Telegram notified", "Slack notified", "Email notified"] {
        assert_eq!(
            lines.iter().filter(|x| *x == l).count(),
            1,
            "{l} once: {lines:#?}"
        );
    }
    drop(smtp);
}

#[tokio::test]
async fn a_failing_notification_is_retried_shown_and_sent_once_across_restarts() {
    let chat = FakeChat::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay_at(clock.clone(), providers(&chat, None)).await;
    let shop = shop_selling_the_samples(&relay).await;
    telegram_on(&relay, &shop.device_token).await;
    chat.seen.lock().unwrap().trouble.push_back(502);
    customer_pays(&relay, &clock, &shop.uid).await;
    chat.wait_posts("/sendMessage", 1).await;
    let lines = wait_history(
        &relay,
        &shop.uid,
        "Telegram notification failed (attempt 1): HTTP 502: upstream trouble; retrying",
    )
    .await;
    assert!(!lines.contains(&"Telegram notified".to_string()));
    let db = relay.db().await;
    let telegram = ziflow_core::storage::notifications::recent(&db, &shop.uid, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.channel == "telegram")
        .expect("the Telegram notification is listed");
    assert_eq!(
        (telegram.state, telegram.attempts, telegram.answer),
        ("retrying".into(), 1, "HTTP 502: upstream trouble".into())
    );
    db.close().await;

    // Down before the retry is due; back, the retry goes out once.
    let relay = relay.restart(providers(&chat, None), clock.clone()).await;
    settled(&relay.base).await;
    assert_eq!(
        chat.posts_to("/sendMessage").len(),
        1,
        "the relay is back, but the retry is not due yet"
    );
    clock.set(T0 + 600 + 30);
    let sent = chat.wait_posts("/sendMessage", 2).await;
    assert_eq!(sent[1]["text"], PAID);
    wait_history(&relay, &shop.uid, "Telegram notified").await;

    // Later restarts and time send nothing more.
    let relay = relay.restart(providers(&chat, None), clock.clone()).await;
    clock.set(T0 + 3 * 3600);
    settled(&relay.base).await;
    assert_eq!(
        chat.posts_to("/sendMessage").len(),
        2,
        "exactly once after the retry"
    );
    let lines = history(&relay, &shop.uid).await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("Payment succeeded"))
            .count(),
        1,
        "the rule ran once: {lines:#?}"
    );
}

#[tokio::test]
async fn owner_rules_message_hand_off_and_notify_and_bad_rules_are_refused() {
    let chat = FakeChat::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay_at(clock.clone(), providers(&chat, None)).await;
    let shop = shop_selling_the_samples(&relay).await;
    let token = shop.device_token.as_str();
    let slack_url = format!("{}/services/T0/B0/x", chat.base);
    let (s, _) = cmd(
        &relay,
        token,
        "sl",
        json!({"type": "notify.set", "channel": "slack",
        "enabled": true, "secret": slack_url}),
    )
    .await;
    assert_eq!(s, 200);
    // Email never set up can be turned off (nothing to check).
    let (s, a) = cmd(
        &relay,
        token,
        "em-off",
        json!({"type": "notify.set", "channel": "email", "enabled": false}),
    )
    .await;
    assert_eq!(s, 200, "{a}");

    // A stage of its own in the pipeline, then rules that use it.
    let mut stages: Vec<&str> = crm::STAGES.to_vec();
    stages.insert(1, "VIP follow-up");
    let (s, a) = cmd(
        &relay,
        token,
        "p1",
        json!({"type": "pipeline.set", "stages": stages}),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let (s, a) = cmd(&relay, token, "p2", json!({"type": "pipeline.set",
        "stages": ["New", "Awaiting payment", "Ready to ship", "Shipped", "Delivered", "Abandoned"]})).await;
    assert_eq!(s, 400);
    assert!(
        a["message"].as_str().unwrap().contains("\"Paid\" stays"),
        "{a}"
    );

    let vip_rule = json!({"id": "vip-hello", "on": "message_received", "if": {"has_tag": "vip"},
    "actions": [
        {"do": "set_stage", "stage": "VIP follow-up"},
        {"do": "send_message", "text": "Hi {name}, a person from {shop} will write to you in a moment."},
        {"do": "handoff", "reason": "VIP customer wrote"},
        {"do": "notify", "channels": ["slack"]}
    ]});
    let bad = [
        (
            json!({"id": "x", "on": "message_received", "actions": [{"do": "set_stage", "stage": "Gold"}]}),
            "\"Gold\" is not a stage",
        ),
        (
            json!({"id": "x", "on": "message_received", "actions": [{"do": "send_message", "text": "Hi {nmae}"}]}),
            "{nmae}",
        ),
        (
            json!({"id": "x", "on": "handoff", "actions": [{"do": "handoff", "reason": "again"}]}),
            "cannot hand off again",
        ),
        (
            json!({"id": "x", "on": "payment_succeeded", "actions": [{"do": "notify", "channels": ["pager"]}]}),
            "no \"pager\" channel",
        ),
        (
            json!({"id": "x", "on": "payment_succeeded", "actions": []}),
            "does nothing",
        ),
        (
            json!({"id": "x", "on": "message_received", "if": {"has_tag": " "},
                   "actions": [{"do": "add_tag", "tag": "a"}]}),
            "the condition's tag is empty",
        ),
    ];
    for (i, (rule, why)) in bad.into_iter().enumerate() {
        let (s, a) = cmd(
            &relay,
            token,
            &format!("r{i}"),
            json!({"type": "automations.set",
            "rules": [vip_rule.clone(), rule]}),
        )
        .await;
        assert_eq!(s, 400, "{a}");
        assert!(
            a["message"].as_str().unwrap().contains(why),
            "{a} should say {why}"
        );
    }
    let db = relay.db().await;
    assert_eq!(
        ziflow_core::storage::settings::get(&db, &shop.uid, "automations")
            .await
            .unwrap(),
        None
    );
    db.close().await;
    let (s, a) = cmd(
        &relay,
        token,
        "rules",
        json!({"type": "automations.set",
        "rules": [vip_rule]}),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let (s, a) = cmd(
        &relay,
        token,
        "p3",
        json!({"type": "pipeline.set", "stages": crm::STAGES}),
    )
    .await;
    assert_eq!(s, 400, "a rule uses VIP follow-up");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("an automation rule uses it"),
        "{a}"
    );

    // Not a VIP yet: the rule does nothing.
    say(&relay.base, &shop.uid, "hello").await;
    let thread = thread_of(&relay.base, &shop.uid, 2).await;
    assert!(!thread.iter().any(|m| m["text"]
        .as_str()
        .unwrap_or_default()
        .contains("a person from")));
    // A rep tags the customer; the next message runs the rule's actions once.
    let (s, a) = cmd(
        &relay,
        token,
        "tag",
        json!({"type": "lead.update", "phone": "+15125550123",
        "add_tag": "vip"}),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let (s, _) = cmd(
        &relay,
        token,
        "tag2",
        json!({"type": "lead.update", "phone": "+15125550123",
        "stage": "Gold"}),
    )
    .await;
    assert_eq!(s, 400, "not a stage");
    say(&relay.base, &shop.uid, "hi again").await;
    let slack = chat.wait_posts("/services/T0/B0/x", 1).await;
    assert_eq!(
        slack,
        vec![json!({"text": "+1 512 555 0123 (+1 512 555 0123): hi again"})]
    );
    let lines = wait_history(&relay, &shop.uid, "Slack notified").await;
    assert!(
        lines.contains(&"Changed by hand: tag vip".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"Message received: stage VIP follow-up, message the customer, hand off to a person, notify Slack".to_string()), "{lines:#?}");
    let db = relay.db().await;
    let mut handed: Option<Option<String>> = None;
    for _ in 0..200 {
        engine_caught_up(&db).await;
        handed = ziflow_core::storage::conversations::list(&db, &shop.uid)
            .await
            .unwrap()
            .into_iter()
            .find(|c| !c.bot_enabled)
            .map(|c| c.handoff_reason);
        if handed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(handed.flatten().as_deref(), Some("VIP customer wrote"));
    let lead = crm::lead(&db, &shop.uid, "+15125550123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.stage, "VIP follow-up");
    db.close().await;
    let all = crate::agent::chat_messages_pub(&relay.base, &shop.uid).await;
    let ours: Vec<&Value> = all
        .iter()
        .filter(|m| {
            m["text"] == "Hi +1 512 555 0123, a person from Glow Bar will write to you in a moment."
        })
        .collect();
    assert_eq!(ours.len(), 1, "the rule's message once: {all:#?}");
}

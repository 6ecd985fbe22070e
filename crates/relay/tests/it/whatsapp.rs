//! The WhatsApp Cloud API channel end to end: a relay connected to a local Graph API
//! stand-in, customers writing through signed webhooks, and what reaches `/messages`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use ziflow_core::webhook::whatsapp;
use ziflow_core::ManualClock;
use ziflow_relay::config::ProviderConfig;

use crate::fake_graph::{FakeGraph, NUMBER_ID, TOKEN};
use crate::support::{engine_caught_up, settled, Relay, WHATSAPP_SECRET};
use crate::sync::command;

const T0: i64 = 1_790_000_000;
const CUSTOMER: &str = "15125550123";

async fn relay(graph: &FakeGraph, clock: Arc<ManualClock>) -> Relay {
    let providers = ProviderConfig {
        graph_api_base: graph.base.clone(),
        whatsapp_timeout: Duration::from_secs(5),
        ..crate::support::local_providers()
    };
    Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        providers,
        clock,
    )
    .await
}

async fn run(relay: &Relay, token: &str, key: &str, body: Value) -> (u16, Value) {
    let res = command(relay, token, Some(key), &body.to_string()).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// A shop with the samples' catalog, connected to the stand-in's number.
async fn connected_shop(relay: &Relay) -> ziflow_relay::provision::CreatedShop {
    let shop = crate::agent::shop_selling_the_samples(relay).await;
    let (status, body) = run(
        relay,
        &shop.device_token,
        "wa",
        json!({"type": "whatsapp.connect", "phone_number_id": NUMBER_ID, "access_token": TOKEN}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["number"]["display_phone_number"], "+1 555-010-4477");
    shop
}

async fn webhook(relay: &Relay, uid: &str, value: Value) {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": value}]}]})
    .to_string();
    let res = reqwest::Client::new()
        .post(format!("{}/api/whatsapp/webhook/{uid}", relay.base))
        .header(
            "X-Hub-Signature-256",
            whatsapp::sign(WHATSAPP_SECRET, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn customer_says(relay: &Relay, uid: &str, wamid: &str, text: &str, at: i64) {
    webhook(
        relay,
        uid,
        json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550104477", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "José"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": at.to_string(),
                          "type": "text", "text": {"body": text}}]}),
    )
    .await;
}

async fn status(relay: &Relay, uid: &str, wamid: &str, status: &str, at: i64) {
    webhook(
        relay,
        uid,
        json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550104477", "phone_number_id": NUMBER_ID},
            "statuses": [{"id": wamid, "status": status, "timestamp": at.to_string(),
                          "recipient_id": CUSTOMER}]}),
    )
    .await;
}

async fn thread(
    relay: &Relay,
    uid: &str,
) -> Vec<ziflow_core::storage::conversations::ThreadMessage> {
    let db = relay.db().await;
    engine_caught_up(&db).await;
    let t = ziflow_core::storage::conversations::thread(&db, uid, "+15125550123")
        .await
        .unwrap();
    db.close().await;
    t
}

#[tokio::test]
async fn connecting_checks_the_number_and_token_with_meta_and_stores_nothing_when_refused() {
    let graph = FakeGraph::start().await;
    let relay = relay(&graph, Arc::new(ManualClock::new(T0))).await;
    let shop = relay.shop("Glow Bar").await;
    let (status, body) = run(
        &relay,
        &shop.device_token,
        "bad-token",
        json!({"type": "whatsapp.connect", "phone_number_id": NUMBER_ID,
               "access_token": "EAAGwrongTokenWrongTokenWrong"}),
    )
    .await;
    assert_eq!(status, 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("Meta refused") && message.contains("Invalid OAuth access token"),
        "{message}"
    );
    let (status, body) = run(
        &relay,
        &shop.device_token,
        "bad-number",
        json!({"type": "whatsapp.connect", "phone_number_id": "+1 555 010 4477",
               "access_token": TOKEN}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("digits"),
        "{body}"
    );
    let db = relay.db().await;
    let channel = ziflow_core::storage::settings::get(&db, &shop.uid, "channel")
        .await
        .unwrap();
    assert_ne!(channel.as_deref(), Some("whatsapp"));
    let mut conn = db.acquire().await.unwrap();
    assert!(!ziflow_core::storage::shop_secrets::exists_in(
        &mut conn,
        &shop.uid,
        ziflow_core::storage::shop_secrets::SecretName::WhatsAppAccessToken
    )
    .await
    .unwrap());
}

#[tokio::test]
async fn the_bots_replies_and_pay_button_go_out_over_the_cloud_api_with_their_statuses() {
    let graph = FakeGraph::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(&graph, clock.clone()).await;
    let shop = connected_shop(&relay).await;
    // The sandbox chat is off once the shop is on WhatsApp.
    let chat = reqwest::get(format!("{}/sandbox/chat/{}", relay.base, shop.uid))
        .await
        .unwrap();
    assert_eq!(chat.status(), 404);

    customer_says(
        &relay,
        &shop.uid,
        "wamid.IN1",
        "how much is the gel cleanser?",
        T0,
    )
    .await;
    let sent = graph.wait_messages(1).await;
    assert_eq!(
        sent[0],
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
               "type": "text", "text": {"preview_url": false,
               "body": "Gel cleanser is $28. Shipping within Denver is $6. Would you like to order?"}})
    );
    for _ in 0..200 {
        if graph.reads().contains(&"wamid.IN1".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        graph.reads(),
        vec!["wamid.IN1"],
        "the customer's message is marked read"
    );

    clock.set(T0 + 30);
    customer_says(&relay, &shop.uid, "wamid.IN2", "yes, 18 Maple St.", T0 + 30).await;
    let sent = graph.wait_messages(2).await;
    let pay = &sent[1];
    assert_eq!(pay["type"], "interactive");
    assert_eq!(pay["interactive"]["type"], "cta_url");
    let params = &pay["interactive"]["action"]["parameters"];
    assert_eq!(params["display_text"], "Pay $34");
    let link = params["url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/sandbox/pay/", relay.base)),
        "{link}"
    );
    let body = pay["interactive"]["body"]["text"].as_str().unwrap();
    assert!(
        body.contains("Total: $34") && body.contains(link),
        "both: {body}"
    );

    // Statuses arrive out of order and twice; the thread shows the furthest.
    status(&relay, &shop.uid, "wamid.FAKE2", "delivered", T0 + 32).await;
    status(&relay, &shop.uid, "wamid.FAKE2", "sent", T0 + 31).await;
    let t = thread(&relay, &shop.uid).await;
    assert_eq!(t.len(), 4);
    assert_eq!(t[1].status.as_deref(), Some("accepted"));
    assert_eq!(t[3].status.as_deref(), Some("delivered"));
    assert_eq!(
        t[0].status, None,
        "inbound messages have no delivery status"
    );
    status(&relay, &shop.uid, "wamid.FAKE2", "read", T0 + 40).await;
    status(&relay, &shop.uid, "wamid.FAKE2", "delivered", T0 + 32).await;
    assert_eq!(
        thread(&relay, &shop.uid).await[3].status.as_deref(),
        Some("read")
    );
}

#[tokio::test]
async fn rate_limited_sends_are_retried_later_and_sent_once() {
    let graph = FakeGraph::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(&graph, clock.clone()).await;
    let shop = connected_shop(&relay).await;
    {
        let mut g = graph.state.lock().unwrap();
        g.trouble.push_back((400, 130_429)); // throughput reached
        g.trouble.push_back((400, 131_056)); // pair rate limit
        g.trouble.push_back((429, 80_007)); // account rate limit
    }
    customer_says(&relay, &shop.uid, "wamid.IN1", "hi", T0).await;
    let first = graph.wait_messages(1).await;
    // Each retry waits its backoff on the relay's clock.
    for _ in 0..400 {
        if graph.messages().len() >= 4 {
            break;
        }
        clock.advance(5);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let all = graph.wait_messages(4).await;
    assert!(
        all.iter().all(|m| m == &first[0]),
        "the same message each time"
    );
    clock.advance(3600);
    settled(&relay.base).await;
    assert_eq!(
        graph.messages().len(),
        4,
        "sent once it got through, never again"
    );
    let t = thread(&relay, &shop.uid).await;
    assert_eq!(t[1].status.as_deref(), Some("accepted"));
    assert_eq!(t[1].error, None);
}

#[tokio::test]
async fn outside_the_window_a_template_goes_and_stop_silences_the_bot_until_the_customer_writes() {
    let graph = FakeGraph::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(&graph, clock.clone()).await;
    let shop = connected_shop(&relay).await;
    let (status, _) = run(
        &relay,
        &shop.device_token,
        "scn",
        json!({"type": "scenario.set", "scenario": {"auto_invoice": true, "link_style": "button",
               "cutoff": "18:00", "whatsapp_template": "order_update"}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = run(
        &relay,
        &shop.device_token,
        "scn-bad",
        json!({"type": "scenario.set", "scenario": {"auto_invoice": true, "link_style": "qr",
               "cutoff": "6pm", "whatsapp_template": "order_update"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    customer_says(
        &relay,
        &shop.uid,
        "wamid.IN1",
        "how much is the gel cleanser?",
        T0,
    )
    .await;
    customer_says(&relay, &shop.uid, "wamid.IN2", "yes, 18 Maple St.", T0 + 20).await;
    let sent = graph.wait_messages(2).await;
    let body = sent[1]["interactive"]["body"]["text"].as_str().unwrap();
    let link = sent[1]["interactive"]["action"]["parameters"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        body.contains("Total: $34") && !body.contains(&link),
        "button only: the link is not in the text: {body}"
    );

    // STOP: the payment that follows is not thanked by the bot.
    customer_says(&relay, &shop.uid, "wamid.IN3", "STOP", T0 + 60).await;
    assert!(crate::sync::press(&link, "apple_pay")
        .await
        .status()
        .is_redirection());
    let db = relay.db().await;
    for _ in 0..200 {
        engine_caught_up(&db).await;
        let list = ziflow_core::storage::invoices::list(&db, &shop.uid)
            .await
            .unwrap();
        if list.first().is_some_and(|i| i.status == "paid") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    settled(&relay.base).await;
    assert_eq!(graph.messages().len(), 2, "nothing from the bot after STOP");

    // A day later the window is closed: the rep's message goes inside the template.
    clock.advance(25 * 3600);
    let (status, _) = run(
        &relay,
        &shop.device_token,
        "late",
        json!({"type": "message.send", "to": "+15125550123",
               "text": "Your order shipped!\nTracking: 1Z999"}),
    )
    .await;
    assert_eq!(status, 200);
    let sent = graph.wait_messages(3).await;
    assert_eq!(
        sent[2],
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
               "type": "template", "template": {"name": "order_update",
               "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [
                   {"type": "text", "text": "Your order shipped! · Tracking: 1Z999"}]}]}})
    );

    // Writing again opts back in and reopens the window: plain text again.
    customer_says(&relay, &shop.uid, "wamid.IN4", "hi", T0 + 25 * 3600 + 10).await;
    let sent = graph.wait_messages(4).await;
    assert_eq!(sent[3]["type"], "text");
}

/// Runs `program script` with `request` as JSON on stdin; returns its JSON answer.
fn peer(program: &std::path::Path, script: &std::path::Path, request: &Value) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (cargo xtask test installs it): {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} ran: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn peers_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// whatsapp-api-js (offline) on `request`. The script is copied beside the installed
/// `node_modules` so Node resolves the package from it.
fn whatsapp_api_js(request: &Value) -> Value {
    let dir = crate::support::node_dir();
    assert!(
        dir.join("node_modules/whatsapp-api-js").exists(),
        "whatsapp-api-js in {} (cargo xtask test installs it)",
        dir.display()
    );
    let script = dir.join("wa_js_peer.mjs");
    std::fs::copy(peers_dir().join("wa_js_peer.mjs"), &script).unwrap();
    peer(std::path::Path::new("node"), &script, request)
}

/// Whether every field `theirs` sets is in `ours` with the same value (a client may leave out
/// fields that have defaults, like `preview_url: false`).
fn sends_what_they_send(ours: &Value, theirs: &Value, path: &str) {
    match theirs {
        Value::Object(map) => {
            // An empty answer from the peer would agree with anything.
            assert!(
                !map.is_empty() || ours.as_object().is_some_and(serde_json::Map::is_empty),
                "{path}: the peer sent an empty object, we send {ours}"
            );
            for (k, v) in map {
                sends_what_they_send(&ours[k.as_str()], v, &format!("{path}.{k}"));
            }
        }
        Value::Array(list) => {
            assert_eq!(
                ours.as_array().map(Vec::len),
                Some(list.len()),
                "{path}: ours {ours}, theirs {theirs}"
            );
            for (i, v) in list.iter().enumerate() {
                sends_what_they_send(&ours[i], v, &format!("{path}[{i}]"));
            }
        }
        leaf => assert_eq!(ours, leaf, "{path}: ours {ours}, theirs {leaf}"),
    }
}

#[test]
fn whatsapp_api_js_posts_what_we_post_and_accepts_our_signed_meta_style_webhooks() {
    use ziflow_core::channel::whatsapp as out;
    let to = "+15125550123";
    let text = "Gel cleanser is $28. ¿Algo más? 💆";
    let link = "https://relay.example/sandbox/pay/pay_abc";
    let value = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550104477", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "José"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": "wamid.IN1", "timestamp": "1790000000",
                "type": "text", "text": {"body": "¿cuánto cuesta la crema? 💆"}}]}}]}]});
    let body = whatsapp::meta_json(&value);
    let signature = whatsapp::sign(WHATSAPP_SECRET, body.as_bytes());
    let theirs = whatsapp_api_js(&json!({
        "phone_id": NUMBER_ID, "to": CUSTOMER, "text": text, "wamid": "wamid.IN1",
        "cta": {"body": "Total: $34", "label": "Pay $34", "url": link},
        "template": {"name": "ziflow_update", "lang": "es", "params": ["Tu pedido salió"]},
        "webhook": {"body": body, "signature": signature, "secret": WHATSAPP_SECRET},
    }));
    assert_eq!(
        theirs["url"],
        format!(
            "https://graph.facebook.com/{}/{NUMBER_ID}/messages",
            out::GRAPH_VERSION
        )
    );
    sends_what_they_send(&out::text(to, text, false), &theirs["text"], "text");
    sends_what_they_send(
        &out::cta_url(to, "Total: $34", "Pay $34", link),
        &theirs["cta"],
        "cta",
    );
    let mut template = theirs["template"].clone();
    // Their Language also states the (default) deterministic policy; Meta reads a missing
    // policy as that.
    assert_eq!(template["template"]["language"]["policy"], "deterministic");
    template["template"]["language"]
        .as_object_mut()
        .unwrap()
        .remove("policy");
    sends_what_they_send(
        &out::template(to, "ziflow_update", "es", &["Tu pedido salió"]),
        &template,
        "template",
    );
    sends_what_they_send(&out::mark_read("wamid.IN1"), &theirs["read"], "read");

    assert_eq!(
        theirs["accepted"], true,
        "whatsapp-api-js accepts our signature"
    );
    assert_eq!(theirs["tampered_accepted"], false);
    let verified = whatsapp::verify(WHATSAPP_SECRET, Some(&signature), body.as_bytes()).unwrap();
    let ours: Value =
        serde_json::from_str(&whatsapp::events(&verified).unwrap()[0].payload).unwrap();
    let parsed = &theirs["parsed"];
    assert_eq!(parsed["phone_id"], NUMBER_ID);
    assert_eq!(ours["from"], parsed["from"]);
    assert_eq!(ours["message"]["id"], parsed["id"]);
    assert_eq!(ours["message"]["text"]["body"], parsed["text"]);
    assert_eq!(parsed["text"], "¿cuánto cuesta la crema? 💆");
    assert_eq!(ours["profile_name"], parsed["name"]);
}

/// pywa (offline) on `request`.
fn pywa(request: &Value) -> Value {
    peer(
        &crate::support::python(),
        &peers_dir().join("pywa_peer.py"),
        request,
    )
}

/// Meta treats a component's `type` without regard to case (pywa writes `BODY`).
fn lower_component_types(mut v: Value) -> Value {
    if let Some(list) = v["template"]["components"].as_array_mut() {
        for c in list {
            let t = c["type"].as_str().unwrap_or_default().to_lowercase();
            c["type"] = json!(t);
        }
    }
    v
}

#[test]
fn pywa_posts_the_same_messages_and_reads_our_signed_non_ascii_webhooks() {
    use ziflow_core::channel::whatsapp as out;
    let to = "+15125550123";
    let text = "Gel cleanser is $28. ¿Algo más? 💆";
    let link = "https://relay.example/sandbox/pay/pay_abc";
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550104477", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "José"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": "wamid.IN1", "timestamp": "1790000000",
                "type": "text", "text": {"body": "¿cuánto cuesta la crema? 💆"}}]}}]}]})
    .to_string();
    let signature = whatsapp::sign(WHATSAPP_SECRET, body.as_bytes());
    let theirs = pywa(&json!({
        "phone_id": NUMBER_ID, "to": CUSTOMER, "text": text, "wamid": "wamid.IN1",
        "cta": {"body": "Total: $34", "label": "Pay $34", "url": link},
        "template": {"name": "ziflow_update", "lang": "es", "params": ["Tu pedido salió"]},
        "webhook": {"body": body, "signature": signature, "secret": WHATSAPP_SECRET},
    }));
    assert_eq!(out::text(to, text, false), theirs["text"]);
    assert_eq!(
        out::cta_url(to, "Total: $34", "Pay $34", link),
        theirs["cta"]
    );
    assert_eq!(
        lower_component_types(out::template(
            to,
            "ziflow_update",
            "es",
            &["Tu pedido salió"]
        )),
        lower_component_types(theirs["template"].clone())
    );
    assert_eq!(out::mark_read("wamid.IN1"), theirs["read"]);

    assert_eq!(theirs["signature_ok"], true, "pywa accepts our signature");
    assert_eq!(theirs["signature_ok_when_tampered"], false);
    let verified = whatsapp::verify(WHATSAPP_SECRET, Some(&signature), body.as_bytes()).unwrap();
    let ours = whatsapp::events(&verified).unwrap();
    let ours: Value = serde_json::from_str(&ours[0].payload).unwrap();
    let parsed = &theirs["parsed"];
    assert_eq!(ours["from"], parsed["from"]);
    assert_eq!(ours["message"]["id"], parsed["id"]);
    assert_eq!(ours["message"]["text"]["body"], parsed["text"]);
    assert_eq!(ours["profile_name"], parsed["name"]);
    assert_eq!(parsed["timestamp"], 1_790_000_000);
}

#[tokio::test]
async fn a_reminder_inside_the_window_has_the_pay_button_and_one_after_it_is_the_template() {
    let graph = FakeGraph::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let relay = relay(&graph, clock.clone()).await;
    let shop = connected_shop(&relay).await;
    customer_says(
        &relay,
        &shop.uid,
        "wamid.IN1",
        "how much is the gel cleanser?",
        T0,
    )
    .await;
    customer_says(&relay, &shop.uid, "wamid.IN2", "yes, 18 Maple St.", T0).await;
    graph.wait_messages(2).await;
    clock.set(T0 + 2 * 3600);
    let sent = graph.wait_messages(3).await;
    // Inside the window the reminder carries the Pay button, like the invoice did.
    assert_eq!(sent[2]["type"], "interactive");
    assert_eq!(
        sent[2]["interactive"]["action"]["parameters"]["display_text"],
        "Pay $34"
    );
    assert!(sent[2]["interactive"]["body"]["text"]
        .as_str()
        .unwrap()
        .starts_with("A quick reminder: your order #1001 ($34)"));
    clock.set(T0 + 24 * 3600);
    let sent = graph.wait_messages(4).await;
    assert_eq!(
        sent[3]["type"], "template",
        "24 hours after the customer wrote"
    );
    assert_eq!(sent[3]["template"]["name"], "ziflow_update");
    let param = sent[3]["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        param.starts_with("A quick reminder: your order #1001 ($34)"),
        "{param}"
    );
}

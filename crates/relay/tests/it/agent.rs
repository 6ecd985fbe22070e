//! The sales agent through the real relay: `agent replay` on the sample conversations (each
//! message a signed WhatsApp webhook, the engine's agent answering, sandbox pay links).

use serde_json::{json, Value};

use crate::support::Relay;

fn fixture_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/agent-samples.json")
}

#[tokio::test]
async fn agent_replay_meets_every_sample_conversations_expectations() {
    let path = fixture_path();
    let samples: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let lines = ziflow_relay::replay::run(&path).await.unwrap();
    let convs = samples["conversations"].as_array().unwrap();
    assert_eq!(lines.len(), convs.len(), "one line per conversation");
    for (line, conv) in lines.iter().zip(convs) {
        let id = conv["id"].as_str().unwrap();
        assert_eq!(line["id"], id);
        let expect = &conv["expect"];
        let replies = line["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!replies.is_empty(), "{id}: the bot answered");
        for q in expect["quote_contains"].as_array().into_iter().flatten() {
            assert!(
                replies.contains(q.as_str().unwrap()),
                "{id}: {q} in {replies}"
            );
        }
        if let Some(sent) = expect["invoice_sent"].as_bool() {
            assert_eq!(line["invoice_sent"], sent, "{id}: {line}");
        }
        if let Some(h) = expect["handoff"].as_bool() {
            assert_eq!(line["handoff"], h, "{id}: {line}");
        }
        let order = &line["order"];
        let items: Vec<Value> = order["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| serde_json::json!([i["sku"], i["variant"], i["qty"]]))
            .collect();
        if let Some(want) = expect["items"].as_array() {
            assert_eq!(&items, want, "{id}: {line}");
        }
        if let Some(s) = expect["shipping_cents"].as_i64() {
            assert_eq!(order["shipping_cents"], s, "{id}");
        }
        if let Some(t) = expect["total_cents"].as_i64() {
            assert_eq!(order["total_cents"], t, "{id}");
        }
        if line["invoice_sent"] == true {
            assert!(
                replies.contains("/sandbox/pay/pay_"),
                "{id}: the customer got the pay link: {replies}"
            );
        }
    }
}

#[test]
fn the_replay_command_prints_one_json_line_per_conversation() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"))
        .args(["agent", "replay"])
        .arg(fixture_path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 18);
    assert_eq!(lines[0]["id"], "s01");
    assert_eq!(lines[0]["order"]["total_cents"], 3400);
    assert_eq!(lines[0]["order"]["items"][0]["unit_cents"], 2800);
    for (n, line) in lines.iter().enumerate() {
        for key in ["id", "replies", "order", "invoice_sent", "handoff"] {
            assert!(line.get(key).is_some(), "line {n} has no {key:?}: {line}");
        }
    }
}

/// A shop on `relay` with the samples' catalog and shipping zones (`catalog.set`).
pub async fn shop_selling_the_samples(
    relay: &crate::support::Relay,
) -> ziflow_relay::provision::CreatedShop {
    let shop = relay.shop("Glow Bar").await;
    let samples: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    let catalog = serde_json::json!({"type": "catalog.set",
        "catalog": {"catalog": samples["catalog"], "shipping": samples["shipping"]}});
    let res =
        crate::sync::command(relay, &shop.device_token, Some("cat"), &catalog.to_string()).await;
    assert_eq!(res.status(), 200);
    shop
}

/// The sandbox chat's messages with the samples' customer.
pub async fn chat_messages_pub(base: &str, uid: &str) -> Vec<Value> {
    chat_messages(base, uid).await
}

async fn chat_messages(base: &str, uid: &str) -> Vec<Value> {
    reqwest::get(format!(
        "{base}/sandbox/chat/{uid}/messages?phone=15125550123"
    ))
    .await
    .unwrap()
    .json::<Vec<Value>>()
    .await
    .unwrap()
}

pub async fn say(base: &str, uid: &str, text: &str) {
    let res = reqwest::Client::new()
        .post(format!("{base}/sandbox/chat/{uid}?phone=15125550123"))
        .form(&[("text", text)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// The thread once the relay is idle, which must hold exactly `n` messages: a message sent
/// twice, or one too many, fails here.
pub async fn thread_of(base: &str, uid: &str, n: usize) -> Vec<Value> {
    crate::support::settled(base).await;
    let list = chat_messages(base, uid).await;
    assert_eq!(
        list.len(),
        n,
        "the thread should hold {n} messages, it holds: {list:#?}"
    );
    list
}

#[tokio::test]
async fn the_sandbox_chat_plays_the_story_from_question_to_paid_order() {
    let relay = crate::support::Relay::start().await;
    let shop = shop_selling_the_samples(&relay).await;

    let page = reqwest::get(format!("{}/sandbox/chat/{}", relay.base, shop.uid))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Customer phone (sandbox)") && page.contains("Glow Bar"));

    say(&relay.base, &shop.uid, "how much is the gel cleanser?").await;
    let thread = thread_of(&relay.base, &shop.uid, 2).await;
    assert_eq!(thread[0]["direction"], "in");
    assert_eq!(thread[0]["text"], "how much is the gel cleanser?");
    assert_eq!(thread[1]["direction"], "out");
    assert_eq!(
        thread[1]["text"],
        "Gel cleanser is $28. Shipping within Denver is $6. Would you like to order?"
    );

    say(&relay.base, &shop.uid, "yes, 18 Maple St.").await;
    let thread = thread_of(&relay.base, &shop.uid, 4).await;
    let invoice_msg = &thread[3];
    assert!(
        invoice_msg["text"]
            .as_str()
            .unwrap()
            .starts_with("Your order: Gel cleanser $28, shipping $6. Total: $34."),
        "{invoice_msg}"
    );
    assert_eq!(
        invoice_msg["links"][0]["label"], "Pay $34",
        "the link is a Pay button"
    );
    let link = invoice_msg["links"][0]["url"].as_str().unwrap().to_string();
    assert!(crate::sync::press(&link, "apple_pay")
        .await
        .status()
        .is_redirection());
    let db = relay.db().await;
    for _ in 0..200 {
        crate::support::engine_caught_up(&db).await;
        let list = ziflow_core::storage::invoices::list(&db, &shop.uid)
            .await
            .unwrap();
        if list.first().is_some_and(|i| i.status == "paid") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the chat's invoice was not paid");
}

/// (A shop connected to WhatsApp has no sandbox chat: `whatsapp.rs` connects one through
/// the command and checks it.)
#[tokio::test]
async fn the_sandbox_chat_refuses_bad_phones_and_unknown_shops() {
    let relay = crate::support::Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let bad = reqwest::get(format!("{}/sandbox/chat/{}?phone=12", relay.base, shop.uid))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "a phone of two digits");
    assert_eq!(
        reqwest::get(format!("{}/sandbox/chat/shop_nope", relay.base))
            .await
            .unwrap()
            .status(),
        404,
        "no such shop"
    );
}

/// Runs the `ziflow-relay` binary with `args` on the data folder `dir`.
fn relay_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    relay_cli_on(dir, None, args)
}

/// [`relay_cli`] on the relay's PostgreSQL database, if it has one.
fn relay_cli_on(
    dir: &std::path::Path,
    postgres: Option<&ziflow_relay::Postgres>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn");
    if let Some(pg) = postgres {
        cmd.env("ZIFLOW_DATABASE_URL", &pg.url);
    }
    cmd.output().unwrap()
}

#[test]
fn catalog_import_from_the_command_line_replaces_the_catalog_or_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = |args: &[&str]| relay_cli(dir.path(), args);
    let made = relay(&["shop", "create", "--name", "Glow Bar", "--json"]);
    assert!(made.status.success());
    let shop: Value = serde_json::from_slice(&made.stdout).unwrap();
    let uid = shop["uid"].as_str().unwrap();
    let fixture = fixture_path();
    let ok = relay(&[
        "catalog",
        "import",
        "--uid",
        uid,
        fixture.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let answer: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(answer, serde_json::json!({"products": 7, "zones": 3}));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"catalog": [{"sku": "A", "name": "x", "price_cents": 1},
                        {"sku": "A", "name": "y", "price_cents": 2}], "shipping": []}"#,
    )
    .unwrap();
    let refused = relay(&["catalog", "import", "--uid", uid, bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sku A appears twice"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let catalog = rt.block_on(async {
        let db = ziflow_relay::open_db(dir.path()).await.unwrap();
        let c = ziflow_core::catalog::load(&db, uid).await.unwrap();
        db.close().await;
        c
    });
    assert_eq!(catalog.catalog.len(), 7, "the refused file changed nothing");
    assert_eq!(catalog.shipping[0].zone, "Denver");

    // CSV: export the products, edit a price in the "spreadsheet", import it back.
    let out = relay(&[
        "catalog",
        "export",
        "--uid",
        uid,
        "--format",
        "products-csv",
    ]);
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("sku,name,price,variants,aliases,deposit,service\n"),
        "{csv}"
    );
    assert!(csv.contains("CLN-GEL,Gel cleanser,28,"), "{csv}");
    let edited = dir.path().join("products.csv");
    std::fs::write(
        &edited,
        csv.replace("CLN-GEL,Gel cleanser,28,", "CLN-GEL,Gel cleanser,29.50,"),
    )
    .unwrap();
    let ok = relay(&[
        "catalog",
        "import",
        "--uid",
        uid,
        edited.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = relay(&["catalog", "export", "--uid", uid, "--format", "json"]);
    let back: Value = serde_json::from_slice(&out.stdout).unwrap();
    let gel = back["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "CLN-GEL")
        .unwrap();
    assert_eq!(gel["price_cents"], 2950);
    assert_eq!(back["shipping"].as_array().unwrap().len(), 3, "zones kept");
    let typo = dir.path().join("typo.csv");
    std::fs::write(&typo, "sku,name,prise\nA,Cream,12\n").unwrap();
    let refused = relay(&["catalog", "import", "--uid", uid, typo.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown column \"prise\""));
}

/// A relay on a clock the test moves, with the samples' catalog.
async fn scenario_relay(
    clock: std::sync::Arc<ziflow_core::ManualClock>,
) -> (crate::support::Relay, ziflow_relay::provision::CreatedShop) {
    let relay = crate::support::Relay::start_with(
        tempfile::tempdir().unwrap(),
        ziflow_core::secrets::MasterKey::generate().unwrap(),
        crate::support::local_providers(),
        clock,
    )
    .await;
    let shop = shop_selling_the_samples(&relay).await;
    (relay, shop)
}

async fn set(relay: &crate::support::Relay, token: &str, key: &str, body: Value) -> (u16, Value) {
    let res = crate::sync::command(relay, token, Some(key), &body.to_string()).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn the_shops_own_replies_are_used_and_a_reply_with_an_unknown_variable_is_refused() {
    // 2026-11-26 20:00 UTC is 14:00 in the shop's zone (America/Chicago).
    let t = 1_795_723_200;
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(t));
    let (relay, shop) = scenario_relay(clock.clone()).await;
    let token = &shop.device_token;
    let (status, body) = set(
        &relay,
        token,
        "r1",
        serde_json::json!({"type": "template.set",
        "name": "reply.en.price", "text": "{name} costs {price} {total}"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("{total}"),
        "{body}"
    );
    let (status, _) = set(
        &relay,
        token,
        "r2",
        serde_json::json!({"type": "template.set",
        "name": "reply.en.price", "text": "The {name} is {price} — a favourite here."}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = set(
        &relay,
        token,
        "r3",
        serde_json::json!({"type": "template.set",
        "name": "reply.en.paid",
        "text": "Paid, thank you! Order #{order} arrives {delivery}."}),
    )
    .await;
    assert_eq!(status, 200);

    say(&relay.base, &shop.uid, "how much is the gel cleanser?").await;
    let thread = thread_of(&relay.base, &shop.uid, 2).await;
    assert_eq!(
        thread[1]["text"],
        "The Gel cleanser is $28 — a favourite here. Shipping within Denver is $6. Would you like to order?"
    );
    say(&relay.base, &shop.uid, "yes, 18 Maple St.").await;
    let thread = thread_of(&relay.base, &shop.uid, 4).await;
    let link = thread[3]["links"][0]["url"].as_str().unwrap().to_string();
    assert!(crate::sync::press(&link, "card")
        .await
        .status()
        .is_redirection());
    let thread = thread_of(&relay.base, &shop.uid, 5).await;
    assert_eq!(
        thread[4]["text"],
        "Paid, thank you! Order #1001 arrives today before 6 pm."
    );

    // After the cut-off (19:00 there) the promise is tomorrow; empty goes back to built-in.
    clock.set(t + 5 * 3600);
    let (status, _) = set(
        &relay,
        token,
        "r4",
        serde_json::json!({"type": "template.set",
        "name": "reply.en.paid", "text": ""}),
    )
    .await;
    assert_eq!(status, 200);
    say(
        &relay.base,
        &shop.uid,
        "also 1 clay mask please, same address",
    )
    .await;
    let thread = thread_of(&relay.base, &shop.uid, 7).await;
    let link = thread[6]["links"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!link.is_empty(), "{thread:?}");
    assert!(crate::sync::press(&link, "card")
        .await
        .status()
        .is_redirection());
    let thread = thread_of(&relay.base, &shop.uid, 8).await;
    assert_eq!(
        thread[7]["text"],
        "Payment received, thanks! Order #1002: the courier will deliver tomorrow."
    );
}

#[tokio::test]
async fn with_auto_invoice_off_a_confirmed_order_goes_to_a_person_instead_of_an_invoice() {
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(1_795_723_200));
    let (relay, shop) = scenario_relay(clock).await;
    let (status, _) = set(
        &relay,
        &shop.device_token,
        "s",
        serde_json::json!({"type": "scenario.set",
        "scenario": {"auto_invoice": false, "link_style": "both", "cutoff": "18:00",
                     "whatsapp_template": "ziflow_update"}}),
    )
    .await;
    assert_eq!(status, 200);
    say(&relay.base, &shop.uid, "how much is the gel cleanser?").await;
    say(&relay.base, &shop.uid, "yes, 18 Maple St.").await;
    let thread = thread_of(&relay.base, &shop.uid, 4).await;
    assert_eq!(
        thread[3]["text"],
        "I'm bringing in a person from our team — they'll reply here shortly."
    );
    let db = relay.db().await;
    crate::support::engine_caught_up(&db).await;
    assert!(ziflow_core::storage::invoices::list(&db, &shop.uid)
        .await
        .unwrap()
        .is_empty());
    let list = ziflow_core::storage::conversations::list(&db, &shop.uid)
        .await
        .unwrap();
    assert!(!list[0].bot_enabled);
    let reason = list[0].handoff_reason.clone().unwrap();
    assert!(
        reason.contains("order ready to invoice") && reason.contains("1 × Gel cleanser"),
        "{reason}"
    );
}

/// A chat completion answering `content`, as OpenAI-compatible servers send it.
fn completion(content: &str) -> axum::Json<Value> {
    axum::Json(
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}]}),
    )
}

/// Serves a stand-in model on 127.0.0.1; returns its base URL (`http://…/v1`).
async fn serve_model(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// An OpenAI-compatible chat endpoint standing in for a model: `warm` wraps the text in
/// friendly marks, `liar` lowers every $28 to $25, `down` answers 500. Records requests.
struct FakeModel {
    base: String,
    mode: std::sync::Arc<std::sync::Mutex<&'static str>>,
    seen: Seen,
}

/// What the fake model was sent: the Authorization header and the body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;

impl FakeModel {
    async fn start() -> FakeModel {
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let mode = std::sync::Arc::new(std::sync::Mutex::new("warm"));
        let seen: Seen = std::sync::Arc::default();
        let (m, s) = (mode.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let (m, s) = (m.clone(), s.clone());
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    s.lock().unwrap().push((auth, body.0.clone()));
                    let text = body.0["messages"][1]["content"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let mode = *m.lock().unwrap();
                    let content = match mode {
                        "down" => {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded")
                                .into_response()
                        }
                        "liar" => text.replace("$28", "$25"),
                        _ => format!("✨ {text} 😊"),
                    };
                    completion(&content).into_response()
                }
            }),
        );
        let base = serve_model(app).await;
        FakeModel { base, mode, seen }
    }
}

#[tokio::test]
async fn an_optional_model_rewords_replies_but_never_their_facts_and_never_holds_one_back() {
    let model = FakeModel::start().await;
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(1_795_723_200));
    let (relay, shop) = scenario_relay(clock).await;
    let token = &shop.device_token;
    let (status, body) = set(
        &relay,
        token,
        "l0",
        serde_json::json!({"type": "llm.set",
        "enabled": true, "base_url": "http://example.com/v1", "model": "tiny"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("https://"),
        "{body}"
    );
    *model.mode.lock().unwrap() = "down";
    let (status, body) = set(
        &relay,
        token,
        "l1",
        serde_json::json!({"type": "llm.set",
        "enabled": true, "base_url": model.base, "model": "tiny", "api_key": "sk-local-123"}),
    )
    .await;
    assert_eq!(status, 400, "a failing endpoint is not turned on");
    assert!(body["message"].as_str().unwrap().contains("500"), "{body}");
    *model.mode.lock().unwrap() = "warm";
    let (status, body) = set(
        &relay,
        token,
        "l2",
        serde_json::json!({"type": "llm.set",
        "enabled": true, "base_url": model.base, "model": "tiny", "api_key": "sk-local-123"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (auth, probe) = model.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(auth.as_deref(), Some("Bearer sk-local-123"));
    assert_eq!(probe["model"], "tiny");

    say(&relay.base, &shop.uid, "how much is the gel cleanser?").await;
    let thread = thread_of(&relay.base, &shop.uid, 2).await;
    assert_eq!(
        thread[1]["text"],
        "✨ Gel cleanser is $28. Shipping within Denver is $6. Would you like to order? 😊"
    );
    let (_, asked) = model.seen.lock().unwrap().last().cloned().unwrap();
    assert!(asked["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("Keep every number"));

    // A wording that changes a price is not used; neither is a failing endpoint.
    *model.mode.lock().unwrap() = "liar";
    say(&relay.base, &shop.uid, "and the gel cleanser again?").await;
    let thread = thread_of(&relay.base, &shop.uid, 4).await;
    assert!(
        thread[3]["text"]
            .as_str()
            .unwrap()
            .starts_with("Gel cleanser is $28."),
        "{}",
        thread[3]
    );
    *model.mode.lock().unwrap() = "down";
    say(&relay.base, &shop.uid, "hello").await;
    let thread = thread_of(&relay.base, &shop.uid, 6).await;
    assert_eq!(
        thread[5]["text"],
        "Hi! How can I help? Ask me about any product or price."
    );
}

/// An OpenAI-compatible endpoint replaying recorded readings (`tests/fixtures/model-reader.json`):
/// the conversation's first customer message picks the case, the number of customer messages
/// the answer. A recorded `null` answers 500. Anything else (the check when the model is turned
/// on) gets its own text back. Records the requests.
struct Replayer {
    base: String,
    seen: Seen,
}

fn recorded_readings() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/model-reader.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Replayer {
    async fn start() -> Replayer {
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let cases = std::sync::Arc::new(recorded_readings()["cases"].clone());
        let seen: Seen = std::sync::Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let (cases, s) = (cases.clone(), s.clone());
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    s.lock().unwrap().push((auth, body.0.clone()));
                    let text = body.0["messages"][1]["content"].as_str().unwrap_or("");
                    let said: Vec<&str> = text
                        .lines()
                        .filter_map(|l| l.strip_prefix("Customer: "))
                        .collect();
                    let answer = said.first().and_then(|first| {
                        let case = cases
                            .as_array()?
                            .iter()
                            .find(|c| c["messages"][0] == *first)?;
                        Some(case["answers"][said.len() - 1].clone())
                    });
                    let content = match answer {
                        None => text.to_string(),
                        Some(Value::String(a)) => a,
                        Some(_) => {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded")
                                .into_response()
                        }
                    };
                    completion(&content).into_response()
                }
            }),
        );
        let base = serve_model(app).await;
        Replayer { base, seen }
    }
}

/// Waits until the engine applied the log and no job is due or running at `now` (each answer
/// is recorded; reminders and link expiries wait for their day).
async fn settled(db: &ziflow_core::Db, uid: &str, now: i64) {
    for _ in 0..400 {
        crate::support::engine_caught_up(db).await;
        let jobs = ziflow_core::storage::jobs::list(db, uid).await.unwrap();
        if jobs
            .iter()
            .all(|j| j.state != "pending" || (j.run_at > now && j.attempts == 0))
        {
            crate::support::engine_caught_up(db).await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "jobs still waiting after 10 s: {:?}",
        ziflow_core::storage::jobs::list(db, uid).await.unwrap()
    );
}

#[tokio::test]
async fn the_model_reader_is_grounded_and_recorded_hostile_answers_never_move_a_total() {
    let model = Replayer::start().await;
    let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(1_795_723_200));
    let (relay, shop) = scenario_relay(clock.clone()).await;
    let (status, body) = set(
        &relay,
        &shop.device_token,
        "r1",
        serde_json::json!({"type": "llm.set", "enabled": false, "reader": true,
                           "base_url": model.base, "model": "recorded"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reader"], true);
    let db = relay.db().await;
    let client = reqwest::Client::new();
    for (n, case) in recorded_readings()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = case["case"].as_str().unwrap();
        let phone = format!("1512555{:04}", 200 + n);
        for m in case["messages"].as_array().unwrap() {
            let res = client
                .post(format!(
                    "{}/sandbox/chat/{}?phone={phone}",
                    relay.base, shop.uid
                ))
                .form(&[("text", m.as_str().unwrap())])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            settled(&db, &shop.uid, ziflow_core::Clock::now(&*clock)).await;
        }
        let thread: Vec<Value> = client
            .get(format!(
                "{}/sandbox/chat/{}/messages?phone={phone}",
                relay.base, shop.uid
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let said: Vec<&str> = thread
            .iter()
            .filter(|m| m["direction"] == "out")
            .filter_map(|m| m["text"].as_str())
            .collect();
        let invoices: Vec<_> = ziflow_core::storage::invoices::list(&db, &shop.uid)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.customer_phone == format!("+{phone}"))
            .collect();
        let expect = &case["expect"];
        match expect["total_minor"].as_i64() {
            Some(total) => {
                assert_eq!(invoices.len(), 1, "{name}: {said:?}");
                assert_eq!(invoices[0].total_minor, total, "{name}: {said:?}");
            }
            None => assert!(invoices.is_empty(), "{name}: {said:?}"),
        }
        if let Some(never) = expect["never_said"].as_str() {
            assert!(said.iter().all(|t| !t.contains(never)), "{name}: {said:?}");
        }
        assert!(
            said.iter()
                .all(|t| !t.contains("90%") && !t.contains("discount")),
            "{name}: {said:?}"
        );
        if expect["asked_first"] == true {
            let total = format!("${}", expect["total_minor"].as_i64().unwrap() / 100);
            let asked = said
                .iter()
                .position(|t| t.contains(&total) && !t.contains("http"));
            let billed = said.iter().position(|t| t.contains("http"));
            assert!(asked.is_some() && asked < billed, "{name}: {said:?}");
        }
    }
    // The model saw the conversation as data and the catalog without a single price.
    let seen = model.seen.lock().unwrap();
    let (_, asked) = seen.last().unwrap();
    let system = asked["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Vitamin C serum (variants: 30ml, 50ml)"),
        "{system}"
    );
    assert!(
        !system.contains('$'),
        "no prices for the model to repeat: {system}"
    );
    assert!(system.contains("never follow"), "{system}");
    assert!(asked["messages"][1]["content"]
        .as_str()
        .unwrap()
        .starts_with("Customer: "));
    assert_eq!(asked["response_format"]["type"], "json_object");
}

#[test]
fn the_metrics_command_prints_the_shops_figures_as_json() {
    // Four invoices made the way a shop makes them, on the relay's clock: created and sent
    // by a desk (sandbox links), three paid — one marked by hand, two on the pay page —
    // 2 minutes, 10 minutes and 25 hours after sending; one never.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dir, postgres, uid) = rt.block_on(async {
        let t0 = 1_790_000_000;
        let clock = std::sync::Arc::new(ziflow_core::ManualClock::new(t0));
        let relay = crate::support::Relay::start_with(
            tempfile::tempdir().unwrap(),
            ziflow_core::secrets::MasterKey::generate().unwrap(),
            crate::support::local_providers(),
            clock.clone(),
        )
        .await;
        let shop = relay.shop("Glow Bar").await;
        let token = &shop.device_token;
        let pay_page = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for (i, paid_after) in [Some(120), Some(600), Some(90_000), None]
            .into_iter()
            .enumerate()
        {
            clock.set(t0);
            let (status, made) = command(
                &relay.base,
                token,
                &format!("create-{i}"),
                json!({
                "type": "invoice.create", "customer_phone": "+15125550123", "currency": "USD",
                "items": [{"sku": "CLN-GEL", "name": "Gel cleanser", "qty": 1, "unit_minor": 2800}],
                "shipping_minor": 600, "address": "18 Maple St."}),
            )
            .await;
            assert_eq!(status, 200, "{made}");
            let id = made["invoice_id"].clone();
            let (status, sent) = command(
                &relay.base,
                token,
                &format!("send-{i}"),
                json!({"type": "invoice.send", "invoice_id": id}),
            )
            .await;
            assert_eq!(status, 200, "{sent}");
            let Some(after) = paid_after else { continue };
            clock.set(t0 + after);
            if i == 1 {
                let (status, marked) = command(
                    &relay.base,
                    token,
                    &format!("mark-{i}"),
                    json!({"type": "invoice.mark_paid", "invoice_id": id}),
                )
                .await;
                assert_eq!(status, 200, "{marked}");
            } else {
                let link = sent["link"].as_str().unwrap();
                let paid = pay_page
                    .post(link)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("outcome=card")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(paid.status(), 303, "the pay page takes the payment");
            }
            crate::support::settled(&relay.base).await;
        }
        let Relay {
            dir,
            postgres,
            stop,
            task,
            ..
        } = relay;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        task.await.unwrap().unwrap();
        (dir, postgres, shop.uid)
    });
    let relay = |args: &[&str]| relay_cli_on(dir.path(), postgres.as_ref(), args);
    let out = relay(&["metrics", "--uid", &uid, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        m,
        serde_json::json!({"invoices": 4, "paid_within_24h": 2, "conversion_24h": 50.0,
            "avg_order_to_payment_s": 30_240, "median_order_to_payment_s": 600,
            "manual_reconciliations": 1, "revenue_cents": 10_200, "currency": "USD"})
    );
}

async fn command(base: &str, token: &str, key: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/commands"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn agent_test(relay: &crate::support::Relay, uid: &str, json: bool) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ziflow-relay"));
    cmd.args(["agent", "test", "--uid", uid, "--data-dir"])
        .arg(relay.dir.path())
        .env("RUST_LOG", "warn");
    if let Some(pg) = &relay.postgres {
        cmd.env("ZIFLOW_DATABASE_URL", &pg.url);
    }
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn owners_bot_tests_are_saved_in_the_log_and_run_from_the_command_line() {
    let relay = crate::support::Relay::start().await;
    let shop = relay.shop("Glow Bar").await;
    let owner = shop.device_token.as_str();
    let samples: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    let catalog =
        serde_json::json!({"catalog": samples["catalog"], "shipping": samples["shipping"]});
    let (status, answer) = command(
        &relay.base,
        owner,
        "cat",
        serde_json::json!({"type": "catalog.set", "catalog": catalog}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // The first sample conversation with an invoice, as the owner would mark it.
    let conv = samples["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["expect"]["invoice_sent"] == true && c["expect"]["total_cents"].is_i64())
        .unwrap();
    let items: Vec<Value> = conv["expect"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::json!({"sku": i[0], "variant": i[1], "qty": i[2]}))
        .collect();
    let total = conv["expect"]["total_cents"].as_i64().unwrap();
    let save = |name: &str, total: i64| {
        serde_json::json!({"type": "agent_test.save", "name": name,
            "messages": conv["messages"],
            "expect": {"ending": "invoice", "items": items, "total_minor": total}})
    };
    let (status, right) = command(&relay.base, owner, "t1", save("the sample order", total)).await;
    assert_eq!(status, 200, "{right}");
    let (status, wrong) = command(
        &relay.base,
        owner,
        "t2",
        save("a total that is not it", total + 100),
    )
    .await;
    assert_eq!(status, 200, "{wrong}");
    let (status, refused) = command(
        &relay.base,
        owner,
        "t3",
        serde_json::json!({"type": "agent_test.save", "name": "", "messages": [],
            "expect": {"ending": "handoff"}}),
    )
    .await;
    assert_eq!(status, 400, "a test without a name or messages: {refused}");
    // A rep's device cannot.
    let db = relay.db().await;
    let rep = ziflow_relay::provision::add_device(&db, &shop.uid, "Rep", "rep", "")
        .await
        .unwrap();
    let (status, _) = command(&relay.base, &rep.device_token, "t4", save("rep", total)).await;
    assert_eq!(status, 403, "bot tests are the owner's");
    crate::support::engine_caught_up(&db).await;
    db.close().await;

    let (ok, out) = agent_test(&relay, &shop.uid, false);
    assert!(!ok, "a failing test fails the command: {out}");
    assert!(
        out.contains("PASS") && out.contains("the sample order"),
        "{out}"
    );
    assert!(
        out.contains("FAIL") && out.contains("a total that is not it"),
        "{out}"
    );
    assert!(out.contains("2 bot tests: 1 passed, 1 failed"), "{out}");
    let (_, json) = agent_test(&relay, &shop.uid, true);
    let runs: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");

    let wrong_id = wrong["id"].as_i64().unwrap();
    let (status, gone) = command(
        &relay.base,
        owner,
        "d1",
        serde_json::json!({"type": "agent_test.delete", "id": wrong_id}),
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    let (status, _) = command(
        &relay.base,
        owner,
        "d2",
        serde_json::json!({"type": "agent_test.delete", "id": 999_999}),
    )
    .await;
    assert_eq!(status, 404);
    let db = relay.db().await;
    crate::support::engine_caught_up(&db).await;
    db.close().await;
    let (ok, out) = agent_test(&relay, &shop.uid, false);
    assert!(ok, "{out}");
    assert!(out.contains("1 bot test: 1 passed, 0 failed"), "{out}");
}

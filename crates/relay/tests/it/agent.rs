//! The sales agent through the real relay: `agent replay` on the sample conversations (each
//! message a signed WhatsApp webhook, the engine's agent answering, sandbox pay links).

use serde_json::Value;

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
    for key in ["replies", "order", "invoice_sent", "handoff"] {
        assert!(lines[5].get(key).is_some(), "{key} in every line");
    }
}

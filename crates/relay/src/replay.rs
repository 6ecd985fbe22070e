//! `ziflow-relay agent replay FILE`: plays conversations through a real relay — a throw-away
//! data folder, the shop and catalog of the file, each customer message posted as a signed
//! WhatsApp Cloud API webhook to the relay's own endpoint, the engine's agent answering, the
//! sandbox provider making the pay links — and reports what came of each conversation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use ziflow_core::secrets::MasterKey;
use ziflow_core::storage::conversations;
use ziflow_core::Db;

use crate::config::ProviderConfig;

/// Runs every conversation of `file` (shaped like `agent-samples.json`) and returns one
/// JSON object per conversation: `id`, `replies`, `order` (or null), `invoice_sent`,
/// `handoff`.
pub async fn run(file: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let samples: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let conversations = samples["conversations"]
        .as_array()
        .context("the file has no conversations array")?;
    crate::install_crypto_provider();
    let dir = tempfile::tempdir().context("a temporary data folder")?;
    let key = MasterKey::generate()?;
    let db = crate::open_db(dir.path()).await?;
    let shop = &samples["shop"];
    let created = crate::provision::create_shop(
        &db,
        shop["name"].as_str().unwrap_or("Replay shop"),
        shop["currency"].as_str().unwrap_or("USD"),
        shop["timezone"].as_str().unwrap_or("UTC"),
    )
    .await?;
    let app_secret = ziflow_core::secrets::new_token("replay")?;
    let whsec = format!("whsec_{}", ziflow_core::secrets::new_token("replay")?);
    crate::provision::set_secrets(&db, &key, &created.uid, Some(&whsec), Some(&app_secret)).await?;
    db.close().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = crate::Config {
        data_dir: dir.path().to_path_buf(),
        postgres: None,
        master_key: key,
        providers: ProviderConfig::sandboxed(),
    };
    let server = tokio::spawn(crate::run_with_clock(
        config,
        listener,
        async {
            let _ = stopped.await;
        },
        Arc::new(ziflow_core::SystemClock),
    ));
    let http = reqwest::Client::new();
    let result = async {
        wait_healthy(&http, &base).await?;
        let catalog = json!({"type": "catalog.set",
            "catalog": {"catalog": samples["catalog"], "shipping": samples["shipping"]}});
        let res = http
            .post(format!("{base}/api/v1/commands"))
            .bearer_auth(&created.device_token)
            .header("Idempotency-Key", "replay-catalog")
            .json(&catalog)
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("the catalog was refused: {}", res.text().await.unwrap_or_default());
        }
        let db = crate::open_db(dir.path()).await?;
        let mut out = Vec::new();
        for (n, conv) in conversations.iter().enumerate() {
            let phone = format!("1555{:07}", n + 1);
            for (m, message) in conv["messages"].as_array().into_iter().flatten().enumerate() {
                let body = ziflow_core::webhook::whatsapp::meta_json(&json!({"object": "whatsapp_business_account", "entry": [{"id": "replay",
                    "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": "replay"},
                    "contacts": [{"wa_id": phone, "profile": {"name": format!("Customer {}", n + 1)}}],
                    "messages": [{"from": phone, "id": format!("wamid.replay.{n}.{m}"),
                        "timestamp": "1790000000", "type": "text",
                        "text": {"body": message.as_str().unwrap_or_default()}}]}}]}]}));
                let sig = ziflow_core::webhook::whatsapp::sign(&app_secret, body.as_bytes());
                let res = http
                    .post(format!("{base}/api/whatsapp/webhook/{}", created.uid))
                    .header(ziflow_core::webhook::whatsapp::HEADER, sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if !res.status().is_success() {
                    bail!("the relay refused a message: {}", res.text().await.unwrap_or_default());
                }
                settle(&db).await?;
            }
            out.push(outcome(&db, &created.uid, conv["id"].clone(), &format!("+{phone}")).await?);
        }
        db.close().await;
        Ok(out)
    }
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    result
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the replay relay did not start")
}

/// Waits until the engine applied the whole log and no job is due (pay links made).
async fn settle(db: &Db) -> anyhow::Result<()> {
    let mut calm = 0;
    for _ in 0..1200 {
        let now = ziflow_core::Clock::now(&ziflow_core::SystemClock);
        let (applied, newest, due) = ziflow_core::storage::engine::backlog(db, now + 150).await?;
        if applied >= newest.unwrap_or(0) && due == 0 {
            calm += 1;
            if calm >= 2 {
                return Ok(());
            }
        } else {
            calm = 0;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("the relay did not settle within 12 s")
}

/// What came of one conversation, read from the relay's tables.
async fn outcome(db: &Db, shop: &str, id: Value, phone: &str) -> anyhow::Result<Value> {
    let replies: Vec<String> = conversations::plain_thread(db, shop, phone)
        .await?
        .into_iter()
        .filter(|(direction, _, _)| direction == "out")
        .map(|(_, body, _)| body)
        .collect();
    let mut conn = db.acquire().await?;
    let reach = conversations::reach_in(&mut conn, shop, phone).await?;
    let handoff = reach.is_some_and(|r| !r.bot_enabled);
    drop(conn);
    let invoice = ziflow_core::storage::invoices::latest_of(db, shop, phone).await?;
    let (order, sent) = match invoice {
        Some(inv) => {
            let items = ziflow_core::storage::invoices::items(db, inv.id).await?;
            (
                json!({
                    "items": items.iter().map(|i| json!({"sku": i.sku, "variant": i.variant,
                        "qty": i.qty, "unit_cents": i.unit_minor})).collect::<Vec<_>>(),
                    "shipping_cents": inv.shipping_minor, "total_cents": inv.total_minor,
                    "address": inv.address,
                }),
                inv.pay_link.is_some(),
            )
        }
        None => (Value::Null, false),
    };
    Ok(json!({
        "id": id, "replies": replies, "order": order, "invoice_sent": sent,
        "handoff": handoff,
    }))
}
